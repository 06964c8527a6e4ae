//! Decisions as plain code: no I/O, no clocks, no randomness.
//!
//! Everything here takes values and returns values, so it can be tested and simulated
//! without a database or network. The pipeline feeds it and carries out what it decides.

pub mod answer;
pub mod conversation;
pub mod decision;
pub mod handoff;
pub mod knowledge;
pub mod routing;
pub mod stats;
pub mod triage;
