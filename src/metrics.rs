//! Prometheus metrics, one registry per running application.
//!
//! Labels hold routes, methods, statuses and stage names: never identifiers of people or
//! conversations, which would make the series unbounded.

use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StageLabels {
    stage: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReplyLabels {
    outcome: String,
    mode: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OfferLabels {
    outcome: String,
}

/// The application's counters and histograms.
pub struct Metrics {
    registry: Mutex<Registry>,
    requests: Family<RequestLabels, Counter>,
    request_seconds: Family<RouteLabels, Histogram>,
    messages_accepted: Counter,
    stage_seconds: Family<StageLabels, Histogram>,
    offers: Family<OfferLabels, Counter>,
    bot_replies: Family<ReplyLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("frontdesk");
        let requests = Family::<RequestLabels, Counter>::default();
        let request_seconds = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 16))
        });
        let messages_accepted = Counter::default();
        let stage_seconds = Family::<StageLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0001, 2.0, 18))
        });

        registry.register("http_requests", "HTTP requests served", requests.clone());
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency",
            request_seconds.clone(),
        );
        registry.register(
            "messages_accepted",
            "Customer messages accepted and stored",
            messages_accepted.clone(),
        );
        registry.register(
            "pipeline_stage_duration_seconds",
            "Time spent in each pipeline stage",
            stage_seconds.clone(),
        );

        let offers = Family::<OfferLabels, Counter>::default();
        registry.register(
            "offers",
            "Offers of conversations to agents, by outcome",
            offers.clone(),
        );

        let bot_replies = Family::<ReplyLabels, Counter>::default();
        registry.register(
            "bot_replies",
            "Bot replies by outcome (answered, declined, small_talk) and mode (llm, extractive, canned)",
            bot_replies.clone(),
        );

        Self {
            bot_replies,
            offers,
            registry: Mutex::new(registry),
            requests,
            request_seconds,
            messages_accepted,
            stage_seconds,
        }
    }

    /// Records one served request under its matched route.
    pub fn observe_request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let labels = RequestLabels {
            method: method.to_owned(),
            route: route.to_owned(),
            status,
        };
        self.requests.get_or_create(&labels).inc();
        let labels = RouteLabels {
            method: method.to_owned(),
            route: route.to_owned(),
        };
        self.request_seconds
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
    }

    pub fn message_accepted(&self) {
        self.messages_accepted.inc();
    }

    pub fn observe_stage(&self, stage: &str, elapsed: Duration) {
        let labels = StageLabels {
            stage: stage.to_owned(),
        };
        self.stage_seconds
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
    }

    /// Counts an offer made (`made`) or closed (`accepted`, `rejected`, `expired`,
    /// `withdrawn`).
    pub fn offer(&self, outcome: &str) {
        let labels = OfferLabels {
            outcome: outcome.to_owned(),
        };
        self.offers.get_or_create(&labels).inc();
    }

    pub fn count_bot_reply(&self, outcome: &str, mode: &str) {
        let labels = ReplyLabels {
            outcome: outcome.to_owned(),
            mode: mode.to_owned(),
        };
        self.bot_replies.get_or_create(&labels).inc();
    }

    /// The text exposition format served at `/metrics`.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let registry = self
            .registry
            .lock()
            .expect("metrics registry lock poisoned");
        encode(&mut out, &registry).expect("writing to a String cannot fail");
        out
    }
}
