//! Black-box tests of the HTTP API: each test starts the real application on port 0
//! with a fresh database and drives it over HTTP and WebSocket.
//!
//! The database is SQLite unless `FRONTDESK_TEST_DATABASE_URL` names a PostgreSQL server,
//! in which case every test gets a database of its own on that server.

mod agents;
mod answers;
mod articles;
mod assignment;
mod bad_input;
mod conversations;
mod events;
mod fake_llm;
mod helpers;
mod intents;
mod knowledge;
mod operations;
mod pages;
mod routing;
mod rules;
mod triage_eval;
