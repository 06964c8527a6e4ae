//! Urgency rules: how soon a person should look at a conversation, with the reasons in
//! words a supervisor can check.
//!
//! Rules, not a trained model, on purpose: the only labelled priority data we have may not
//! be shipped, and rules can be read and argued with. This module must never lower urgency
//! that an earlier rule raised.

use super::frustration::phrase_in;
use super::{Frustration, IntentPrediction, Sentiment, TriageContext, Urgency, UrgencyLevel};

/// Intents that set a floor on urgency when the model is reasonably sure of them.
const INTENT_RULES: [(&str, UrgencyLevel, &str); 12] = [
    (
        "compromised_card",
        UrgencyLevel::Critical,
        "card may be compromised",
    ),
    (
        "lost_or_stolen_card",
        UrgencyLevel::High,
        "lost or stolen card",
    ),
    (
        "lost_or_stolen_phone",
        UrgencyLevel::High,
        "lost or stolen phone with banking access",
    ),
    (
        "card_payment_not_recognised",
        UrgencyLevel::High,
        "card payment not recognised",
    ),
    (
        "cash_withdrawal_not_recognised",
        UrgencyLevel::High,
        "cash withdrawal not recognised",
    ),
    (
        "direct_debit_payment_not_recognised",
        UrgencyLevel::High,
        "direct debit not recognised",
    ),
    (
        "card_swallowed",
        UrgencyLevel::High,
        "card kept by a cash machine",
    ),
    (
        "transfer_not_received_by_recipient",
        UrgencyLevel::High,
        "transfer did not arrive",
    ),
    ("complaint", UrgencyLevel::High, "complaint"),
    ("talk_to_human", UrgencyLevel::High, "asked for a person"),
    (
        "passcode_forgotten",
        UrgencyLevel::Normal,
        "locked out of the app",
    ),
    ("pin_blocked", UrgencyLevel::Normal, "PIN blocked"),
];

/// Intents that, on their own, need nobody soon.
const SMALL_TALK: [&str; 3] = ["greeting", "thanks", "goodbye"];

/// Below this confidence an intent is not trusted to raise urgency.
const INTENT_TRUST: f32 = 0.35;

/// Words and phrases (several languages) that raise urgency whatever the intent.
const KEYWORD_RULES: [(&[&str], UrgencyLevel, &str); 6] = [
    (
        &[
            "fraud",
            "fraudulent",
            "scam",
            "scammed",
            "betrug",
            "fraude",
            "truffa",
            "oplichting",
        ],
        UrgencyLevel::Critical,
        "fraud",
    ),
    (
        &["suicide", "kill myself", "end my life", "self harm"],
        UrgencyLevel::Critical,
        "risk of harm to the customer",
    ),
    (
        &[
            "stolen",
            "hacked",
            "unauthorised",
            "unauthorized",
            "i did not make",
            "i didn't make",
            "gestohlen",
            "volé",
            "robada",
            "rubata",
        ],
        UrgencyLevel::High,
        "unauthorised activity or theft",
    ),
    (
        &[
            "urgent",
            "urgently",
            "asap",
            "as soon as possible",
            "immediately",
            "right now",
            "emergency",
            "dringend",
            "urgente",
            "subito",
        ],
        UrgencyLevel::High,
        "customer says it is urgent",
    ),
    (
        &[
            "today",
            "tonight",
            "tomorrow",
            "deadline",
            "by monday",
            "by tuesday",
            "by wednesday",
            "by thursday",
            "by friday",
            "by the end of",
            "before the weekend",
            "due date",
            "heute",
            "morgen",
            "aujourd'hui",
            "demain",
            "hoy",
            "mañana",
            "oggi",
            "domani",
        ],
        UrgencyLevel::High,
        "deadline mentioned",
    ),
    (
        &[
            "lawyer",
            "solicitor",
            "ombudsman",
            "court",
            "legal action",
            "sue you",
            "regulator",
        ],
        UrgencyLevel::High,
        "legal or regulatory action mentioned",
    ),
];

/// Customer tiers that move a non-trivial case up one level.
const PRIORITY_TIERS: [&str; 6] = ["premium", "vip", "gold", "platinum", "business", "private"];

/// Urgency from the message, its intent, sentiment, frustration and the customer's tier.
pub(crate) fn assess(
    text: &str,
    intent: &IntentPrediction,
    sentiment: &Sentiment,
    frustration: &Frustration,
    ctx: &TriageContext,
) -> Urgency {
    let lower = text.to_lowercase();
    let mut urgency = Urgency {
        level: UrgencyLevel::Normal,
        reasons: Vec::new(),
    };
    let trusted = !intent.out_of_scope && intent.confidence >= INTENT_TRUST;
    if trusted {
        apply_intent_rules(&intent.label, &mut urgency);
    }
    apply_keyword_rules(&lower, &mut urgency);
    apply_mood(sentiment, frustration, &mut urgency);
    let small_talk = trusted && SMALL_TALK.contains(&intent.label.as_str());
    if small_talk && urgency.reasons.is_empty() {
        urgency.level = UrgencyLevel::Low;
        urgency.reasons.push("small talk".to_owned());
    }
    apply_tier(ctx.customer_tier.as_deref(), &mut urgency);
    urgency
}

fn raise(urgency: &mut Urgency, level: UrgencyLevel, reason: &str) {
    urgency.level = urgency.level.max(level);
    if !urgency.reasons.iter().any(|r| r == reason) {
        urgency.reasons.push(reason.to_owned());
    }
}

fn apply_intent_rules(label: &str, urgency: &mut Urgency) {
    for (intent, level, reason) in INTENT_RULES {
        if intent == label {
            raise(urgency, level, reason);
        }
    }
}

fn apply_keyword_rules(lower: &str, urgency: &mut Urgency) {
    for (phrases, level, reason) in KEYWORD_RULES {
        if phrases.iter().any(|p| phrase_in(lower, p)) {
            raise(urgency, level, reason);
        }
    }
}

fn apply_mood(sentiment: &Sentiment, frustration: &Frustration, urgency: &mut Urgency) {
    if frustration.score >= 0.5 {
        raise(urgency, UrgencyLevel::High, "customer is frustrated");
    } else if sentiment.score <= -0.6 {
        raise(urgency, UrgencyLevel::Normal, "strongly negative message");
    }
}

/// A priority tier moves anything above low up one level, never past critical.
fn apply_tier(tier: Option<&str>, urgency: &mut Urgency) {
    let Some(tier) = tier else {
        return;
    };
    let tier = tier.trim().to_lowercase();
    if !PRIORITY_TIERS.contains(&tier.as_str()) || urgency.level == UrgencyLevel::Low {
        return;
    }
    let up = match urgency.level {
        UrgencyLevel::Low | UrgencyLevel::Normal => UrgencyLevel::High,
        UrgencyLevel::High | UrgencyLevel::Critical => UrgencyLevel::Critical,
    };
    urgency.level = up;
    urgency.reasons.push(format!("{tier} tier customer"));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::triage::SentimentLabel;

    fn intent(label: &str, confidence: f32) -> IntentPrediction {
        IntentPrediction {
            label: label.into(),
            confidence,
            alternatives: Vec::new(),
            out_of_scope: false,
        }
    }

    fn calm() -> (Sentiment, Frustration) {
        let s = Sentiment {
            label: SentimentLabel::Neutral,
            score: 0.0,
        };
        (
            s,
            Frustration {
                score: 0.0,
                signals: Vec::new(),
            },
        )
    }

    #[test]
    fn rules_set_level_and_reason() {
        let cases = [
            (
                "my card was stolen",
                "lost_or_stolen_card",
                None,
                UrgencyLevel::High,
                "lost or stolen card",
            ),
            (
                "i think this is fraud",
                "card_payment_not_recognised",
                None,
                UrgencyLevel::Critical,
                "fraud",
            ),
            (
                "I need the money by friday",
                "transfer_timing",
                None,
                UrgencyLevel::High,
                "deadline mentioned",
            ),
            ("hello", "greeting", None, UrgencyLevel::Low, "small talk"),
            (
                "hello",
                "greeting",
                Some("premium"),
                UrgencyLevel::Low,
                "small talk",
            ),
            (
                "what is the rate",
                "exchange_rate",
                Some("Premium"),
                UrgencyLevel::High,
                "premium tier customer",
            ),
            (
                "card stolen",
                "lost_or_stolen_card",
                Some("vip"),
                UrgencyLevel::Critical,
                "vip tier customer",
            ),
            (
                "what is the rate",
                "exchange_rate",
                None,
                UrgencyLevel::Normal,
                "",
            ),
        ];
        let (sentiment, frustration) = calm();
        for (text, label, tier, level, reason) in cases {
            let ctx = TriageContext {
                customer_tier: tier.map(str::to_owned),
                ..TriageContext::default()
            };
            let u = assess(text, &intent(label, 0.9), &sentiment, &frustration, &ctx);
            assert_eq!(u.level, level, "case {text:?} {tier:?}: {:?}", u.reasons);
            if reason.is_empty() {
                assert!(u.reasons.is_empty(), "case {text:?}: {:?}", u.reasons);
            } else {
                assert!(
                    u.reasons.iter().any(|r| r == reason),
                    "case {text:?}: {:?}",
                    u.reasons
                );
            }
        }
    }

    #[test]
    fn an_unsure_intent_does_not_raise_urgency() {
        let (sentiment, frustration) = calm();
        let ctx = TriageContext::default();
        let u = assess(
            "hmm",
            &intent("compromised_card", 0.1),
            &sentiment,
            &frustration,
            &ctx,
        );
        assert_eq!(u.level, UrgencyLevel::Normal);
    }

    #[test]
    fn a_frustrated_customer_is_seen_sooner() {
        let (sentiment, _) = calm();
        let angry = Frustration {
            score: 0.8,
            signals: Vec::new(),
        };
        let ctx = TriageContext::default();
        let u = assess(
            "where is it",
            &intent("card_arrival", 0.9),
            &sentiment,
            &angry,
            &ctx,
        );
        assert_eq!(u.level, UrgencyLevel::High);
    }
}
