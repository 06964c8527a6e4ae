//! frontdesk: a customer-service chat gateway.
//!
//! Data walks one way: [`http`] hands each customer message to the [`pipeline`], which
//! persists it, triages it, decides what to do and acts. The decisions live in [`domain`]
//! as plain code without I/O; [`storage`] and [`clients`] are the edges.

pub mod cli;
pub mod clients;
pub mod config;
pub mod domain;
pub mod http;
pub mod knowledge;
pub mod metrics;
pub mod pipeline;
pub mod rules_admin;
pub mod startup;
pub mod storage;
pub mod telemetry;
