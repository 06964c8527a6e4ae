//! Behaviour of the routing module as a whole, one section per requirement.

use std::collections::BTreeMap;
use std::num::NonZeroU64;

use super::decide::MissOutcome;
use super::expr::ConditionError;
use super::matching::{Standing, Verdict};
use super::rules::{LanguagePolicy, Problem, SkillRequirement};
use super::simulate::erlang_c;
use super::*;

fn context(intent: &str) -> RoutingContext {
    let mut context = RoutingContext::default();
    context.triage.intent = intent.to_owned();
    context.triage.confidence = 0.9;
    context.triage.language = "en".to_owned();
    context.customer.tier = "standard".to_owned();
    context
}

fn load(text: &str) -> RuleSet {
    RuleSet::from_toml(text).unwrap_or_else(|e| panic!("rules should load: {e}"))
}

fn problems(text: &str) -> Vec<rules::RuleError> {
    match RuleSet::from_toml(text) {
        Err(LoadRulesError::Invalid(errors)) => errors.0,
        other => panic!("expected validation errors, got {other:?}"),
    }
}

fn queue_of(decision: &RoutingDecision) -> Option<&str> {
    match &decision.action {
        Action::Bot => None,
        Action::Handoff(h) => Some(h.first_target().queue.as_str()),
    }
}

const TWO_RULES: &str = r#"
[default]
action = "bot"

[[rules]]
name = "broken-attribute"
when = 'customer.attributes.segment == "smb"'
action = "handoff"
reason = "business customer"
targets = [{ queue = "business" }]

[[rules]]
name = "complaints"
when = 'triage.intent == "complaint"'
action = "handoff"
reason = "complaint"
targets = [{ queue = "care" }]

[[rules]]
name = "anything-negative"
when = 'triage.sentiment == "negative" || triage.intent == "complaint"'
action = "handoff"
reason = "negative"
targets = [{ queue = "general" }]
"#;

// ---- deciding ----

#[test]
fn the_first_matching_rule_wins() {
    let rules = load(TWO_RULES);
    let cases = [
        ("complaint", "neutral", Some("complaints"), Some("care")),
        (
            "card_arrival",
            "negative",
            Some("anything-negative"),
            Some("general"),
        ),
        ("card_arrival", "neutral", None, None),
    ];
    for (intent, sentiment, rule, queue) in cases {
        let mut ctx = context(intent);
        ctx.triage.sentiment = sentiment.to_owned();
        let decision = rules.decide(&ctx);
        let matched = decision.matched.as_ref().map(|m| m.name.as_str());
        assert_eq!(matched, rule, "case {intent}/{sentiment}");
        assert_eq!(queue_of(&decision), queue, "case {intent}/{sentiment}");
    }
}

#[test]
fn the_decision_says_why_each_earlier_rule_did_not_match() {
    let rules = load(TWO_RULES);
    let mut ctx = context("card_arrival");
    ctx.triage.sentiment = "negative".to_owned();
    let decision = rules.decide(&ctx);

    let names: Vec<&str> = decision.misses.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["broken-attribute", "complaints"]);
    assert!(matches!(decision.misses[0].outcome, MissOutcome::Error(_)));
    assert_eq!(decision.misses[1].outcome, MissOutcome::False);
}

#[test]
fn a_rule_that_cannot_be_evaluated_does_not_match_but_one_that_can_still_does() {
    let rules = load(TWO_RULES);
    let mut ctx = context("card_arrival");
    ctx.customer
        .attributes
        .insert("segment".to_owned(), "smb".to_owned());
    let decision = rules.decide(&ctx);
    assert_eq!(decision.rule_name(), "broken-attribute");
    assert!(decision.misses.is_empty());
}

// ---- validation ----

#[test]
fn validation_reports_every_bad_rule_by_name_and_position() {
    let text = r#"
[default]
action = "bot"

[[rules]]
name = "typo"
when = 'triage.intnet == "complaint"'
action = "bot"

[[rules]]
name = "fine"
when = 'triage.confidence < 0.5'
action = "bot"

[[rules]]
name = "half-written"
when = """
triage.confidence <
  && true"""
action = "bot"

[[rules]]
name = "counts-not-checks"
when = 'conversation.turns * 2'
action = "bot"
"#;
    let errors = problems(text);
    let named: Vec<&str> = errors.iter().map(|e| e.rule.as_str()).collect();
    assert_eq!(
        named,
        ["typo", "half-written", "counts-not-checks"],
        "{errors:?}"
    );

    let Problem::Condition(ConditionError::UnknownVariable { path, position }) = &errors[0].problem
    else {
        panic!("expected an unknown variable, got {:?}", errors[0]);
    };
    assert_eq!(path, "triage.intnet");
    assert_eq!(position.line, 1);
    let Problem::Condition(ConditionError::Syntax { position, .. }) = &errors[1].problem else {
        panic!("expected a syntax error, got {:?}", errors[1]);
    };
    assert_eq!((position.line, position.column), (2, 3));
    assert!(matches!(
        errors[2].problem,
        Problem::Condition(ConditionError::NotBoolean { .. })
    ));
    let message = errors[0].to_string();
    assert!(
        message.contains("typo") && message.contains("line 1"),
        "{message}"
    );
}

/// A document with one rule named `r1`, whose condition always holds, ending in `body`.
fn one_rule(body: &str) -> String {
    format!("[default]\naction = 'bot'\n[[rules]]\nname = 'r1'\nwhen = 'true'\n{body}")
}

#[test]
fn malformed_actions_are_each_reported() {
    let cases = [
        ("action = 'handoff'\nreason = 'r'", Problem::NoTargets),
        (
            "action = 'handoff'\ntargets = [{ queue = 'care' }]",
            Problem::MissingReason,
        ),
        (
            "action = 'bot'\ntargets = [{ queue = 'care' }]",
            Problem::BotWithTargets,
        ),
        (
            "action = 'handoff'\nreason = 'r'\ntargets = [{ queue = 'a' }, { queue = 'b' }]",
            Problem::UnreachableTargets { index: 0 },
        ),
        (
            "action = 'handoff'\nreason = 'r'\ntargets = [{ queue = ' ' }]",
            Problem::EmptyQueue { index: 0 },
        ),
    ];
    for (body, expected) in cases {
        let errors = problems(&one_rule(body));
        assert_eq!(errors.len(), 1, "case {body:?}: {errors:?}");
        assert_eq!(errors[0].problem, expected, "case {body:?}");
        assert_eq!(errors[0].rule, "r1", "case {body:?}");
    }
}

#[test]
fn duplicate_rule_names_and_unknown_fields_are_refused() {
    let duplicate =
        one_rule("action = 'bot'\n[[rules]]\nname = 'r1'\nwhen = 'false'\naction = 'bot'");
    assert_eq!(problems(&duplicate)[0].problem, Problem::DuplicateName);

    let typo = one_rule("action = 'bot'\nprioirty = 3");
    assert!(matches!(
        RuleSet::from_toml(&typo),
        Err(LoadRulesError::Toml(_))
    ));
}

#[test]
fn preferred_language_is_accepted_as_the_language_key() {
    let target = "[[rules.targets]]\nqueue = 'q'\npreferred_language = 'require'";
    let text = one_rule(&format!("action = 'handoff'\nreason = 'r'\n{target}"));
    let decision = load(&text).decide(&RoutingContext::default());
    let Action::Handoff(handoff) = decision.action else {
        panic!("the only rule always hands off");
    };
    assert_eq!(handoff.first_target().language, LanguagePolicy::Require);
}

// ---- handoff targets ----

#[test]
fn the_next_target_applies_once_the_earlier_one_times_out() {
    let rules = load(DEFAULT_RULES);
    let Action::Handoff(handoff) = rules.decide(&context("lost_or_stolen_card")).action else {
        panic!("card loss must be handed off");
    };
    let cases = [(0, 0, 0), (299, 0, 299), (300, 1, 0), (4000, 1, 3700)];
    for (waited, index, on_target) in cases {
        let active = handoff.target_at(waited);
        assert_eq!(
            (active.index, active.seconds_on_target),
            (index, on_target),
            "{waited}s"
        );
    }
}

// ---- agent matching ----

fn agent(id: &str, active: u32, capacity: u32) -> AgentSnapshot {
    AgentSnapshot {
        id: id.to_owned(),
        name: format!("Agent {id}"),
        skills: BTreeMap::from([("cards".to_owned(), 3)]),
        languages: vec!["en".to_owned()],
        teams: vec!["cards".to_owned()],
        capacity,
        active_conversations: active,
        presence: Presence::Online,
        idle_seconds: 0,
    }
}

fn target(skills: Vec<SkillRequirement>) -> Target {
    Target {
        queue: "cards".to_owned(),
        required_skills: skills,
        language: LanguagePolicy::Prefer,
        priority: 0,
        timeout_seconds: None,
        relax_skills_after_seconds: Some(60),
    }
}

fn skill(name: &str, min_level: u8, optional: bool) -> SkillRequirement {
    SkillRequirement {
        name: name.to_owned(),
        min_level,
        relaxed_min_level: None,
        optional,
    }
}

fn reason_for<'a>(assignment: &'a Assignment<'a>, id: &str) -> Option<&'a RejectReason<'a>> {
    let verdict = assignment.candidates.iter().find(|c| c.agent_id == id)?;
    match &verdict.verdict {
        Verdict::Rejected(reason) => Some(reason),
        Verdict::Kept(_) => None,
    }
}

#[test]
fn unavailable_agents_are_rejected_with_the_reason() {
    let mut away = agent("away", 0, 3);
    away.presence = Presence::Away;
    let mut offline = agent("offline", 0, 3);
    offline.presence = Presence::Offline;
    let agents = [away, offline, agent("full", 3, 3), agent("free", 2, 3)];
    let open = target(vec![]);
    let assignment = choose_agent(&open, "en", &agents, 0);

    assert_eq!(assignment.chosen, Some("free"));
    assert_eq!(reason_for(&assignment, "away"), Some(&RejectReason::Away));
    assert_eq!(
        reason_for(&assignment, "offline"),
        Some(&RejectReason::Offline)
    );
    let full = RejectReason::AtCapacity {
        active: 3,
        capacity: 3,
    };
    assert_eq!(reason_for(&assignment, "full"), Some(&full));
    assert_eq!(assignment.candidates.len(), agents.len());
}

#[test]
fn the_chosen_agent_is_never_at_capacity_or_unavailable() {
    // A small linear congruential generator keeps the cases varied but repeatable.
    let mut seed: u64 = 7;
    let mut next = move |modulo: u64| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) % modulo
    };
    let open = target(vec![]);
    for trial in 0..500 {
        let agents: Vec<AgentSnapshot> = (0..20)
            .map(|i| {
                let mut a = agent(&format!("a{i}"), next(4) as u32, next(4) as u32);
                a.presence =
                    [Presence::Online, Presence::Away, Presence::Offline][next(3) as usize];
                a
            })
            .collect();
        let assignment = choose_agent(&open, "en", &agents, 0);
        if let Some(id) = assignment.chosen {
            let chosen = agents
                .iter()
                .find(|a| a.id == id)
                .expect("chosen from the list");
            assert!(
                chosen.active_conversations < chosen.capacity,
                "trial {trial}"
            );
            assert_eq!(chosen.presence, Presence::Online, "trial {trial}");
        } else {
            let free = agents
                .iter()
                .any(|a| a.presence == Presence::Online && a.active_conversations < a.capacity);
            assert!(
                !free,
                "trial {trial}: someone was free but nobody was chosen"
            );
        }
    }
}

#[test]
fn language_is_a_preference_unless_the_target_requires_it() {
    let mut german = agent("de-busy", 2, 3);
    german.languages = vec!["de".to_owned()];
    let english = agent("en-idle", 0, 3);
    let agents = [english, german];

    let cases = [
        (LanguagePolicy::Prefer, Some("de-busy"), None),
        (LanguagePolicy::Ignore, Some("en-idle"), None),
        (
            LanguagePolicy::Require,
            Some("de-busy"),
            Some(RejectReason::LanguageMismatch { wanted: "de" }),
        ),
    ];
    for (policy, chosen, english_rejection) in cases {
        let mut t = target(vec![]);
        t.language = policy;
        let assignment = choose_agent(&t, "de", &agents, 0);
        assert_eq!(assignment.chosen, chosen, "{policy:?}");
        assert_eq!(
            reason_for(&assignment, "en-idle"),
            english_rejection.as_ref(),
            "{policy:?}"
        );
    }
}

#[test]
fn ties_go_to_the_lowest_load_then_the_longest_idle_then_the_lowest_id() {
    let mut idle = agent("b-idle", 1, 4);
    idle.idle_seconds = 600;
    let cases = [
        (vec![agent("a", 2, 4), agent("b", 1, 4)], "b"),
        (vec![agent("a-recent", 1, 4), idle.clone()], "b-idle"),
        (vec![agent("z", 1, 4), agent("y", 1, 4)], "y"),
    ];
    let open = target(vec![]);
    for (agents, expected) in cases {
        let assignment = choose_agent(&open, "en", &agents, 0);
        assert_eq!(assignment.chosen, Some(expected));
        let Verdict::Kept(Standing { .. }) = assignment.candidates[0].verdict else {
            panic!("kept candidates are listed first");
        };
    }
}

#[test]
fn skills_are_relaxed_only_after_the_configured_wait() {
    let mut junior = agent("junior", 0, 3);
    junior.skills = BTreeMap::from([("cards".to_owned(), 1)]);
    let agents = [junior];
    let t = target(vec![skill("cards", 3, false), skill("fraud", 2, true)]);

    let early = choose_agent(&t, "en", &agents, 59);
    assert_eq!(early.chosen, None);
    assert!(!early.skills_relaxed);
    let missing = RejectReason::MissingSkill {
        skill: "cards",
        needs: 3,
        has: 1,
    };
    assert_eq!(reason_for(&early, "junior"), Some(&missing));

    let late = choose_agent(&t, "en", &agents, 60);
    assert_eq!(late.chosen, Some("junior"));
    assert!(late.skills_relaxed);
}

#[test]
fn relaxation_never_accepts_an_agent_without_the_skill_at_all() {
    let mut newcomer = agent("newcomer", 0, 3);
    newcomer.skills.clear();
    let t = target(vec![skill("cards", 3, false)]);
    let agents = [newcomer];
    let assignment = choose_agent(&t, "en", &agents, 600);
    assert_eq!(assignment.chosen, None);
}

// ---- waiting queue ----

fn waiting(id: &str, priority: i64, enqueued_at: u64) -> WaitingConversation {
    WaitingConversation {
        id: id.to_owned(),
        priority,
        enqueued_at,
    }
}

fn drain(mut queue: WaitQueue) -> Vec<String> {
    std::iter::from_fn(|| queue.pop_next())
        .map(|c| c.id)
        .collect()
}

#[test]
fn higher_priority_is_served_first_then_the_longest_waiting() {
    let mut queue = WaitQueue::new(Aging::default());
    for c in [
        waiting("low-old", 1, 10),
        waiting("high-new", 5, 50),
        waiting("high-old", 5, 20),
    ] {
        queue.push(c).expect("distinct ids");
    }
    assert_eq!(drain(queue), ["high-old", "high-new", "low-old"]);
}

#[test]
fn aging_lets_a_long_wait_overtake_a_higher_priority() {
    let aging = Aging {
        seconds_per_point: NonZeroU64::new(60),
    };
    let mut queue = WaitQueue::new(aging);
    // Waiting 10 minutes earns 10 points: 1 + 10 beats 5 + 0.
    queue.push(waiting("patient", 1, 0)).expect("new id");
    queue.push(waiting("urgent-new", 5, 600)).expect("new id");
    let patient = queue.peek_next().expect("not empty").clone();
    assert_eq!(patient.id, "patient");
    assert_eq!(queue.effective_priority(&patient, 600), 11.0);
    assert_eq!(drain(queue), ["patient", "urgent-new"]);
}

#[test]
fn a_conversation_can_be_removed_by_id_and_only_queued_once() {
    let mut queue = WaitQueue::new(Aging::default());
    for i in 0..10_000 {
        queue
            .push(waiting(&format!("c{i}"), i % 7, i as u64))
            .expect("new id");
    }
    assert!(queue.push(waiting("c5", 0, 0)).is_err());
    assert_eq!(queue.remove("c5").map(|c| c.id).as_deref(), Some("c5"));
    assert!(queue.remove("c5").is_none());
    assert!(!queue.contains("c5"));
    assert_eq!(queue.len(), 9_999);

    let order = drain(queue);
    assert_eq!(order.len(), 9_999);
    assert_eq!(order[0], "c6", "priority 6 and earliest");
}

// ---- explanation ----

#[test]
fn the_explanation_shows_values_read_rules_missed_and_agent_verdicts() {
    let rules = load(DEFAULT_RULES);
    let mut ctx = context("complaint");
    ctx.customer.tier = "vip".to_owned();
    let decision = rules.decide(&ctx);
    let agents = [agent("a1", 0, 2), agent("a2", 2, 2)];
    let Action::Handoff(handoff) = &decision.action else {
        panic!("a complaint is handed off");
    };
    let active = handoff.target_at(0);
    let assignment = choose_agent(active.target, "en", &agents, active.seconds_on_target);
    let explanation = Explanation::new(&rules, &ctx, &decision, Some(("care", &assignment)));

    let json = serde_json::to_value(&explanation).expect("serialisable");
    assert_eq!(json["matched_rule"], "unhappy-customer");
    assert_eq!(json["context"]["triage.intent"], "complaint");
    assert_eq!(json["context"]["customer.tier"], "vip");
    assert_eq!(json["earlier_rules"][0]["name"], "card-security");
    assert_eq!(json["earlier_rules"][1]["outcome"], "false");
    let pretty = serde_json::to_string_pretty(&explanation).expect("serialisable");
    assert!(pretty.lines().count() > 20, "readable, one fact a line");
    assert_eq!(json["boosts"][0]["name"], "vip-customer");
    let search = &json["agent_search"];
    assert_eq!(search["candidates"][0]["verdict"], "rejected");
    assert_eq!(search["candidates"][0]["reason"], "missing_skill");
    assert_eq!(search["candidates"][0]["skill"], "care");
    assert_eq!(search["candidates"][1]["reason"], "at_capacity");
}

// ---- simulation ----

#[test]
fn simulation_counts_hits_moves_and_load() {
    let draft = load(TWO_RULES);
    let case = |id: &str, intent: &str, old_queue: Option<&str>| PastCase {
        conversation_id: id.to_owned(),
        context: context(intent),
        old_rule: "old".to_owned(),
        old_queue: old_queue.map(str::to_owned),
    };
    let cases = [
        case("stays", "complaint", Some("care")),
        case("to-care", "complaint", Some("general")),
        case("to-bot", "card_arrival", Some("general")),
        case("also-to-care", "complaint", None),
    ];
    let staffing = Staffing {
        window_seconds: 3600,
        average_handle_seconds: 600.0,
        capacity_per_queue: BTreeMap::from([("care".to_owned(), 2)]),
    };
    let report = simulate(&draft, &cases, &staffing);

    assert_eq!(report.hits_per_rule["complaints"], 3);
    assert_eq!(report.hits_per_rule["default"], 1);
    assert_eq!(report.hits_per_rule["anything-negative"], 0);
    let moved: Vec<&str> = report
        .moves
        .iter()
        .map(|m| m.conversation_id.as_str())
        .collect();
    assert_eq!(moved, ["to-care", "to-bot", "also-to-care"]);
    assert_eq!(report.move_counts.len(), 3);
    assert_eq!(report.queues["care"].conversations, 3);
    assert!(report.queues["care"].expected_wait_seconds.is_some());
}

#[test]
fn erlang_c_matches_the_textbook_and_flags_overload() {
    // Two erlangs on three servers: the chance of waiting is 4/9.
    let (waits, wait_seconds) = erlang_c(2.0 / 300.0, 300.0, 3).expect("stable");
    assert!((waits - 4.0 / 9.0).abs() < 1e-9, "{waits}");
    assert!(
        (wait_seconds - 4.0 / 9.0 * 300.0).abs() < 1e-6,
        "{wait_seconds}"
    );
    assert_eq!(erlang_c(3.0 / 300.0, 300.0, 3), None);
    assert_eq!(erlang_c(1.0, 1.0, 0), None);
}

// ---- default rules ----

#[test]
fn the_default_rules_route_each_case_to_the_expected_queue() {
    let rules = load(DEFAULT_RULES);
    let critical_card = {
        let mut c = context("lost_or_stolen_card");
        c.triage.urgency = Urgency::Critical;
        c
    };
    let angry = {
        let mut c = context("card_arrival");
        c.triage.sentiment_score = -0.8;
        c
    };
    let unsure = {
        let mut c = context("card_arrival");
        c.conversation.low_confidence_streak = 2;
        c
    };
    let asked = {
        let mut c = context("card_arrival");
        c.conversation.asked_for_human = true;
        c
    };
    let cases = [
        ("critical lost card", critical_card, Some("cards")),
        ("swallowed card", context("card_swallowed"), Some("cards")),
        ("angry", angry, Some("care")),
        ("complaint", context("complaint"), Some("care")),
        ("talk to human", context("talk_to_human"), Some("general")),
        ("asked for human", asked, Some("general")),
        ("unsure twice", unsure, Some("general")),
        ("routine", context("card_arrival"), None),
    ];
    for (name, ctx, queue) in cases {
        assert_eq!(queue_of(&rules.decide(&ctx)), queue, "case {name}");
    }
}

#[test]
fn vip_customers_get_a_priority_boost_on_handoff_only() {
    let rules = load(DEFAULT_RULES);
    let mut vip = context("complaint");
    vip.customer.tier = "vip".to_owned();
    assert_eq!(rules.decide(&vip).priority_boost(), 20);

    vip.triage.intent = "card_arrival".to_owned();
    assert_eq!(
        rules.decide(&vip).priority_boost(),
        0,
        "the bot has no priority"
    );
}

#[test]
fn a_rule_set_can_be_shared_across_threads() {
    fn assert_shareable<T: Send + Sync>() {}
    assert_shareable::<RuleSet>();
}
