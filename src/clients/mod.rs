//! Edges to the outside: each external service sits behind a trait of ours, with an
//! embedded default so that a server needs no other process to run.

pub mod embedding;
pub mod event_bus;
pub mod llm;
pub mod vector_store;
