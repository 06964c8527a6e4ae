//! Logging set-up.
//!
//! Logs carry identifiers, counts and timings only: never message text, names, e-mail
//! addresses, tokens or keys. Handlers record fields on their spans; the request span
//! names the matched route, not the raw URI, so query strings never reach a log line.

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global subscriber; `RUST_LOG` overrides `default_filter`.
///
/// Calling it twice is harmless: the second call keeps the first subscriber.
pub fn init(format: LogFormat, default_filter: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _already_set = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
