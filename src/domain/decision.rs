//! What to do with a customer message once it is stored and triaged.
//!
//! Two pure steps. [`routing_context`] turns the message's triage, the conversation's
//! earlier triage and the customer's profile into the facts routing rules read. [`decide`]
//! turns the rule set's verdict into an action: a verdict for the bot becomes an answer
//! from the help centre, which the answer stage may still decline (it never guesses);
//! each declined answer counts towards `conversation.failed_bot_answers`, which the
//! rules read to hand off.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::conversation::ConversationState;
use super::routing::{
    Action, ConversationFacts, CustomerFacts, LanguagePolicy, RoutingContext, RoutingDecision,
    Target, TriageFacts, Urgency,
};
use super::triage::{Triage, UrgencyLevel};

/// The queue used when nothing more specific applies.
pub const GENERAL_QUEUE: &str = "general";

/// Intent confidence below which a message counts towards the low-confidence streak.
pub const LOW_CONFIDENCE: f32 = 0.5;

/// The intent a customer uses to ask for a person.
pub const TALK_TO_HUMAN: &str = "talk_to_human";

/// What the decision stage knows about the message and its conversation.
#[derive(Debug, Clone)]
pub struct DecisionInput<'a> {
    /// State of the conversation when the message was handled.
    pub state: ConversationState,
    /// What the routing rules concluded.
    pub routing: &'a RoutingDecision,
}

/// What the act stage must carry out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Decision {
    /// A human already has the conversation: the bot keeps quiet.
    LeaveWithHumans,
    /// The bot answers from the help centre, or says it cannot.
    Answer,
    /// Put the conversation in a queue for a human agent.
    Handoff {
        queue: String,
        priority: i64,
        reason: String,
        /// The whole plan: the first target is `queue`, later ones apply as earlier
        /// ones time out.
        targets: Vec<Target>,
    },
}

/// Decides for one message.
pub fn decide(input: &DecisionInput<'_>) -> Decision {
    if input.state.is_with_humans() {
        return Decision::LeaveWithHumans;
    }
    let boost = input.routing.priority_boost();
    match &input.routing.action {
        Action::Handoff(handoff) => {
            let target = handoff.first_target();
            Decision::Handoff {
                queue: target.queue.clone(),
                priority: target.priority + boost,
                reason: handoff.reason().to_owned(),
                targets: handoff.targets().to_vec(),
            }
        }
        Action::Bot => Decision::Answer,
    }
}

/// The catch-all target: the general queue, no skills needed.
pub fn general_target(priority: i64) -> Target {
    Target {
        queue: GENERAL_QUEUE.to_owned(),
        required_skills: Vec::new(),
        language: LanguagePolicy::Prefer,
        priority,
        timeout_seconds: None,
        relax_skills_after_seconds: None,
    }
}

/// The customer's profile and the conversation's counts, as stored.
#[derive(Debug, Clone, Default)]
pub struct ProfileFacts {
    pub tier: Option<String>,
    pub attributes: BTreeMap<String, Value>,
    pub past_conversations: u32,
    /// Bot replies in this conversation that declined to answer.
    pub failed_bot_answers: u32,
    /// Customer messages so far, this one included.
    pub turns: u32,
    /// Seconds since the conversation started.
    pub waiting_seconds: u64,
}

/// Builds the facts routing rules read from this message's triage, the triage of the
/// conversation's earlier customer messages (oldest first) and the customer's profile.
pub fn routing_context(
    triage: &Triage,
    earlier: &[Triage],
    profile: &ProfileFacts,
) -> RoutingContext {
    let all = || earlier.iter().chain(std::iter::once(triage));
    let low_confidence_streak = all()
        .rev()
        .take_while(|t| t.intent.confidence < LOW_CONFIDENCE || t.intent.out_of_scope)
        .count();
    RoutingContext {
        triage: triage_facts(triage),
        customer: CustomerFacts {
            tier: profile.tier.clone().unwrap_or_default(),
            attributes: profile
                .attributes
                .iter()
                .map(|(k, v)| (k.clone(), attribute_text(v)))
                .collect(),
            past_conversations: profile.past_conversations,
        },
        conversation: ConversationFacts {
            turns: profile.turns,
            failed_bot_answers: profile.failed_bot_answers,
            low_confidence_streak: u32::try_from(low_confidence_streak).unwrap_or(u32::MAX),
            waiting_seconds: profile.waiting_seconds,
            asked_for_human: all()
                .any(|t| t.intent.label == TALK_TO_HUMAN && !t.intent.out_of_scope),
        },
    }
}

fn triage_facts(triage: &Triage) -> TriageFacts {
    TriageFacts {
        intent: triage.intent.label.clone(),
        confidence: f64::from(triage.intent.confidence),
        out_of_scope: triage.intent.out_of_scope,
        sentiment: serde_json::to_value(triage.sentiment.label)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
        sentiment_score: f64::from(triage.sentiment.score),
        urgency: match triage.urgency.level {
            UrgencyLevel::Low => Urgency::Low,
            UrgencyLevel::Normal => Urgency::Normal,
            UrgencyLevel::High => Urgency::High,
            UrgencyLevel::Critical => Urgency::Critical,
        },
        language: triage.language.code.clone(),
        frustration: f64::from(triage.frustration.score),
    }
}

/// Attribute values as rules see them: strings as they are, anything else as JSON.
fn attribute_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::routing::{DEFAULT_RULES, RuleSet};
    use crate::domain::triage::{TriageContext, Triager};
    use std::sync::OnceLock;

    fn triager() -> &'static Triager {
        static MODEL: OnceLock<Triager> = OnceLock::new();
        MODEL.get_or_init(|| Triager::default_model().expect("the shipped model trains"))
    }

    fn route(text: &str, earlier: &[&str], profile: &ProfileFacts) -> (RoutingContext, Decision) {
        let model = triager();
        let earlier: Vec<Triage> = earlier
            .iter()
            .map(|t| model.triage(t, &TriageContext::default()))
            .collect();
        let triage = model.triage(text, &TriageContext::default());
        let context = routing_context(&triage, &earlier, profile);
        let rules = RuleSet::from_toml(DEFAULT_RULES).expect("default rules load");
        let routing = rules.decide(&context);
        let input = DecisionInput {
            state: ConversationState::Bot,
            routing: &routing,
        };
        (context, decide(&input))
    }

    fn queue_of(decision: &Decision) -> &str {
        match decision {
            Decision::Handoff { queue, .. } => queue,
            Decision::LeaveWithHumans => "with humans",
            Decision::Answer => "bot",
        }
    }

    #[test]
    fn messages_route_to_the_queue_their_meaning_calls_for() {
        let cases = [
            ("My card was stolen, block it now!", "cards"),
            ("I want to talk to a human", GENERAL_QUEUE),
            ("How long does a card take to arrive?", "bot"),
        ];
        for (text, queue) in cases {
            let (context, decision) = route(text, &[], &ProfileFacts::default());
            assert_eq!(queue_of(&decision), queue, "{text}: {context:?}");
        }
    }

    #[test]
    fn a_vip_gets_a_higher_priority_for_the_same_message() {
        let text = "My card was stolen, block it now!";
        let (_, standard) = route(text, &[], &ProfileFacts::default());
        let vip = ProfileFacts {
            tier: Some("vip".into()),
            ..ProfileFacts::default()
        };
        let (_, boosted) = route(text, &[], &vip);
        let priority = |d: &Decision| match d {
            Decision::Handoff { priority, .. } => *priority,
            Decision::LeaveWithHumans | Decision::Answer => i64::MIN,
        };
        assert!(priority(&boosted) > priority(&standard));
    }

    #[test]
    fn the_second_declined_answer_hands_off() {
        let text = "How long does a card take to arrive?";
        let once = ProfileFacts {
            failed_bot_answers: 1,
            ..ProfileFacts::default()
        };
        assert_eq!(route(text, &[], &once).1, Decision::Answer);
        let twice = ProfileFacts {
            failed_bot_answers: 2,
            ..ProfileFacts::default()
        };
        assert_eq!(queue_of(&route(text, &[], &twice).1), GENERAL_QUEUE);
    }

    #[test]
    fn an_earlier_request_for_a_human_is_remembered() {
        let (context, _) = route(
            "ok thanks",
            &["let me speak to a real person"],
            &ProfileFacts::default(),
        );
        assert!(context.conversation.asked_for_human);
    }

    #[test]
    fn conversations_with_humans_stay_with_them() {
        let rules = RuleSet::from_toml(DEFAULT_RULES).expect("default rules load");
        let routing = rules.decide(&RoutingContext::default());
        for state in [ConversationState::Queued, ConversationState::Assigned] {
            let input = DecisionInput {
                state,
                routing: &routing,
            };
            assert_eq!(decide(&input), Decision::LeaveWithHumans);
        }
    }
}
