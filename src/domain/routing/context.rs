//! The facts a routing rule may read about one conversation.
//!
//! The lead's storage layer fills a [`RoutingContext`]; this module keeps the one list
//! of variable names that validation checks against and gives borrowed access to each
//! value for evaluation. It must never fetch anything: every value arrives filled in.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Every variable a condition may read, as `group.field`.
///
/// `customer.attributes` is a map, so paths below it (`customer.attributes.segment`)
/// are accepted too; any other deeper path is an unknown variable.
pub const VARIABLES: &[&str] = &[
    "triage.intent",
    "triage.confidence",
    "triage.out_of_scope",
    "triage.sentiment",
    "triage.sentiment_score",
    "triage.urgency",
    "triage.urgency_rank",
    "triage.language",
    "triage.frustration",
    "customer.tier",
    "customer.attributes",
    "customer.past_conversations",
    "conversation.turns",
    "conversation.failed_bot_answers",
    "conversation.low_confidence_streak",
    "conversation.waiting_seconds",
    "conversation.asked_for_human",
];

/// The three top-level names a condition starts from.
pub const GROUPS: [&str; 3] = ["triage", "customer", "conversation"];

/// Everything routing knows about one conversation at decision time.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RoutingContext {
    /// What the triage model concluded about the latest customer message.
    pub triage: TriageFacts,
    /// Who the customer is.
    pub customer: CustomerFacts,
    /// How the conversation has gone so far.
    pub conversation: ConversationFacts,
}

/// Triage output for the latest customer message.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TriageFacts {
    /// Intent label, e.g. a banking77 label such as `lost_or_stolen_card`.
    pub intent: String,
    /// Confidence of the intent label, 0.0 to 1.0.
    pub confidence: f64,
    /// True when the message is outside what the desk handles.
    pub out_of_scope: bool,
    /// Sentiment label, e.g. `negative`, `neutral`, `positive`.
    pub sentiment: String,
    /// Sentiment score, -1.0 (very negative) to 1.0 (very positive).
    pub sentiment_score: f64,
    /// How urgent the message is.
    pub urgency: Urgency,
    /// Language of the message as a lowercase code such as `en` or `de`.
    pub language: String,
    /// Frustration estimate, 0.0 (calm) to 1.0 (furious).
    pub frustration: f64,
}

/// Urgency levels in rising order; conditions see both the label and its rank.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Urgency {
    /// Can wait for a reply.
    Low,
    /// The usual case.
    #[default]
    Normal,
    /// Should be answered soon.
    High,
    /// Money or safety at stake right now.
    Critical,
}

impl Urgency {
    /// The label conditions see as `triage.urgency`.
    pub fn label(self) -> &'static str {
        match self {
            Urgency::Low => "low",
            Urgency::Normal => "normal",
            Urgency::High => "high",
            Urgency::Critical => "critical",
        }
    }

    /// The rank conditions see as `triage.urgency_rank`: low 0 up to critical 3.
    pub fn rank(self) -> i64 {
        self as i64
    }
}

/// Facts about the customer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CustomerFacts {
    /// Service tier, e.g. `standard` or `vip`.
    pub tier: String,
    /// Free-form attributes the desk keeps about the customer.
    pub attributes: BTreeMap<String, String>,
    /// Number of earlier conversations with this customer.
    pub past_conversations: u32,
}

/// Facts about the conversation so far.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConversationFacts {
    /// Customer turns so far.
    pub turns: u32,
    /// Bot answers the customer rejected or that failed.
    pub failed_bot_answers: u32,
    /// Consecutive messages whose triage confidence was low.
    pub low_confidence_streak: u32,
    /// Seconds the customer has been waiting for a reply.
    pub waiting_seconds: u64,
    /// True once the customer asked for a person in so many words.
    pub asked_for_human: bool,
}

/// One value read from a [`RoutingContext`], as shown to supervisors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FieldValue {
    /// A yes/no fact.
    Bool(bool),
    /// A count or rank.
    Int(i64),
    /// A score or confidence.
    Float(f64),
    /// A label.
    Text(String),
    /// The customer's attributes.
    Map(BTreeMap<String, String>),
}

/// A borrowed view of one value, so evaluation can read the context without copying.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum FieldRef<'a> {
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(&'a str),
    Map(&'a BTreeMap<String, String>),
}

impl FieldRef<'_> {
    fn to_owned_value(self) -> FieldValue {
        match self {
            FieldRef::Bool(b) => FieldValue::Bool(b),
            FieldRef::Int(i) => FieldValue::Int(i),
            FieldRef::Float(f) => FieldValue::Float(f),
            FieldRef::Text(s) => FieldValue::Text(s.to_owned()),
            FieldRef::Map(m) => FieldValue::Map(m.clone()),
        }
    }
}

impl RoutingContext {
    /// The value of one path from [`VARIABLES`], or `None` for an unknown path.
    pub fn lookup(&self, path: &str) -> Option<FieldValue> {
        let (group, field) = path.split_once('.')?;
        self.field(group, field).map(FieldRef::to_owned_value)
    }

    /// One field of one group, borrowed.
    pub(crate) fn field(&self, group: &str, field: &str) -> Option<FieldRef<'_>> {
        match group {
            "triage" => self.triage.field(field),
            "customer" => self.customer.field(field),
            "conversation" => self.conversation.field(field),
            _ => None,
        }
    }
}

impl TriageFacts {
    fn field(&self, field: &str) -> Option<FieldRef<'_>> {
        Some(match field {
            "intent" => FieldRef::Text(&self.intent),
            "confidence" => FieldRef::Float(self.confidence),
            "out_of_scope" => FieldRef::Bool(self.out_of_scope),
            "sentiment" => FieldRef::Text(&self.sentiment),
            "sentiment_score" => FieldRef::Float(self.sentiment_score),
            "urgency" => FieldRef::Text(self.urgency.label()),
            "urgency_rank" => FieldRef::Int(self.urgency.rank()),
            "language" => FieldRef::Text(&self.language),
            "frustration" => FieldRef::Float(self.frustration),
            _ => return None,
        })
    }
}

impl CustomerFacts {
    fn field(&self, field: &str) -> Option<FieldRef<'_>> {
        Some(match field {
            "tier" => FieldRef::Text(&self.tier),
            "attributes" => FieldRef::Map(&self.attributes),
            "past_conversations" => FieldRef::Int(self.past_conversations.into()),
            _ => return None,
        })
    }
}

impl ConversationFacts {
    fn field(&self, field: &str) -> Option<FieldRef<'_>> {
        // Saturate rather than wrap: no real wait comes near i64::MAX seconds.
        let waited = i64::try_from(self.waiting_seconds).unwrap_or(i64::MAX);
        Some(match field {
            "turns" => FieldRef::Int(self.turns.into()),
            "failed_bot_answers" => FieldRef::Int(self.failed_bot_answers.into()),
            "low_confidence_streak" => FieldRef::Int(self.low_confidence_streak.into()),
            "waiting_seconds" => FieldRef::Int(waited),
            "asked_for_human" => FieldRef::Bool(self.asked_for_human),
            _ => return None,
        })
    }
}

/// Whether `segments` (a dotted path split on dots) names a known variable.
///
/// A bare group (`triage`) is known; below `customer.attributes` any key is accepted.
pub(crate) fn is_known_path(segments: &[&str]) -> bool {
    match segments {
        [] => false,
        [group] => GROUPS.contains(group),
        [group, field, rest @ ..] => {
            let path = format!("{group}.{field}");
            VARIABLES.contains(&path.as_str()) && (rest.is_empty() || path == "customer.attributes")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_variable_can_be_looked_up() {
        let context = RoutingContext::default();
        for path in VARIABLES {
            assert!(context.lookup(path).is_some(), "{path} has no value");
        }
    }

    #[test]
    fn urgency_rank_rises_from_low_to_critical() {
        let ranks: Vec<i64> = [
            Urgency::Low,
            Urgency::Normal,
            Urgency::High,
            Urgency::Critical,
        ]
        .iter()
        .map(|u| u.rank())
        .collect();
        assert_eq!(ranks, vec![0, 1, 2, 3]);
    }

    #[test]
    fn known_paths_accept_attribute_keys_but_not_fields_below_scalars() {
        let cases: &[(&[&str], bool)] = &[
            (&["triage"], true),
            (&["triage", "intent"], true),
            (&["triage", "intnet"], false),
            (&["triage", "intent", "x"], false),
            (&["customer", "attributes", "segment"], true),
            (&["ticket", "id"], false),
        ];
        for (segments, expected) in cases {
            assert_eq!(is_known_path(segments), *expected, "case {segments:?}");
        }
    }
}
