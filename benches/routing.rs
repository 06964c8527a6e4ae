//! Routing latency: rule evaluation, agent choice and a queue operation per decision.
//!
//! Run with `cargo bench --bench routing`. It builds 1,000 agents and prefills each
//! handoff queue with 10,000 waiting conversations, then times many decisions over a
//! mix of contexts and prints p50/p99 per stage. The target is p99 under 1 ms for the
//! decision itself (rule evaluation). Inputs come from a fixed-seed generator, so runs
//! differ only by machine noise.

use std::collections::{BTreeMap, HashMap};
use std::hint::black_box;
use std::num::NonZeroU64;
use std::time::{Duration, Instant};

use frontdesk::domain::routing::{
    Action, AgentSnapshot, Aging, DEFAULT_RULES, Explanation, Presence, RoutingContext, RuleSet,
    Urgency, WaitQueue, WaitingConversation, choose_agent,
};

const AGENTS: usize = 1_000;
const WAITING_PER_QUEUE: u64 = 10_000;
const WARMUP: usize = 2_000;
const ROUNDS: usize = 20_000;
const QUEUES: [&str; 3] = ["cards", "care", "general"];

/// A fixed-seed linear congruential generator: repeatable inputs without a crate.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, modulo: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % modulo
    }
}

/// Per-stage timings of every measured round.
#[derive(Default)]
struct Samples {
    decide: Vec<Duration>,
    choose: Vec<Duration>,
    queue: Vec<Duration>,
    total: Vec<Duration>,
    explain: Vec<Duration>,
}

fn main() {
    let rules = RuleSet::from_toml(DEFAULT_RULES).expect("the default rules load");
    let mut rng = Lcg(42);
    let agents: Vec<AgentSnapshot> = (0..AGENTS).map(|i| make_agent(i, &mut rng)).collect();
    let contexts: Vec<RoutingContext> = (0..256).map(|_| make_context(&mut rng)).collect();
    let mut queues = prefilled_queues();

    let mut samples = Samples::default();
    for round in 0..WARMUP + ROUNDS {
        let context = &contexts[round % contexts.len()];
        let timings = route_once(&rules, context, &agents, &mut queues, round as u64);
        if round >= WARMUP {
            samples.record(timings);
        }
    }
    samples.print();
}

fn route_once(
    rules: &RuleSet,
    context: &RoutingContext,
    agents: &[AgentSnapshot],
    queues: &mut HashMap<&'static str, WaitQueue>,
    round: u64,
) -> [Duration; 4] {
    let start = Instant::now();
    let decision = black_box(rules.decide(black_box(context)));
    let decided = Instant::now();

    let Action::Handoff(handoff) = &decision.action else {
        return [
            decided - start,
            Duration::ZERO,
            Duration::ZERO,
            Duration::ZERO,
        ];
    };
    let active = handoff.target_at(context.conversation.waiting_seconds);
    let language = &context.triage.language;
    let assignment = black_box(choose_agent(
        active.target,
        language,
        agents,
        active.seconds_on_target,
    ));
    let chosen = Instant::now();

    // The conversation joins its queue and whoever is next is served, so the queue
    // stays at its prefilled size.
    let queue = queues
        .get_mut(active.target.queue.as_str())
        .expect("known queue");
    let waiting = WaitingConversation {
        id: format!("live-{round}"),
        priority: active.target.priority + decision.priority_boost(),
        enqueued_at: WAITING_PER_QUEUE + round,
    };
    queue.push(waiting).expect("fresh id");
    black_box(queue.pop_next());
    let queued = Instant::now();

    let queue_name = active.target.queue.as_str();
    let explanation = Explanation::new(rules, context, &decision, Some((queue_name, &assignment)));
    black_box(explanation);
    let explained = Instant::now();
    [
        decided - start,
        chosen - decided,
        queued - chosen,
        explained - queued,
    ]
}

impl Samples {
    fn record(&mut self, [decide, choose, queue, explain]: [Duration; 4]) {
        self.decide.push(decide);
        self.total.push(decide + choose + queue);
        // Bot decisions skip the later stages; only handoffs count for them.
        if choose > Duration::ZERO {
            self.choose.push(choose);
            self.queue.push(queue);
            self.explain.push(explain);
        }
    }

    fn print(mut self) {
        println!(
            "routing bench: {AGENTS} agents, {WAITING_PER_QUEUE} waiting per queue \
             ({} queues), {ROUNDS} measured rounds",
            QUEUES.len()
        );
        let rows = [
            ("decide (rule evaluation)", &mut self.decide),
            ("choose_agent (1,000 agents)", &mut self.choose),
            ("queue push + pop", &mut self.queue),
            ("decide + choose + queue", &mut self.total),
            ("explanation (not in total)", &mut self.explain),
        ];
        for (name, samples) in rows {
            let (p50, p99, max) = percentiles(samples);
            println!(
                "{name:<30} n={:>6}  p50 {:>8.1} us  p99 {:>8.1} us  max {:>8.1} us",
                samples.len(),
                micros(p50),
                micros(p99),
                micros(max)
            );
        }
    }
}

fn percentiles(samples: &mut [Duration]) -> (Duration, Duration, Duration) {
    if samples.is_empty() {
        return (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    }
    samples.sort_unstable();
    let at = |p: usize| samples[(samples.len() * p / 100).min(samples.len() - 1)];
    (at(50), at(99), samples[samples.len() - 1])
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn prefilled_queues() -> HashMap<&'static str, WaitQueue> {
    let aging = Aging {
        seconds_per_point: NonZeroU64::new(60),
    };
    let mut rng = Lcg(7);
    let fill = |name: &'static str| {
        let mut queue = WaitQueue::new(aging);
        for i in 0..WAITING_PER_QUEUE {
            let waiting = WaitingConversation {
                id: format!("{name}-{i}"),
                priority: 40 + rng.next(60) as i64,
                enqueued_at: i,
            };
            queue.push(waiting).expect("fresh id");
        }
        (name, queue)
    };
    QUEUES.into_iter().map(fill).collect()
}

fn make_agent(i: usize, rng: &mut Lcg) -> AgentSnapshot {
    let languages = ["en", "de", "fr", "es"];
    let capacity = 2 + rng.next(4) as u32;
    let presence = match rng.next(10) {
        0 => Presence::Offline,
        1 => Presence::Away,
        _ => Presence::Online,
    };
    AgentSnapshot {
        id: format!("agent-{i:04}"),
        name: format!("Agent {i}"),
        skills: BTreeMap::from([
            ("cards".to_owned(), rng.next(4) as u8),
            ("care".to_owned(), rng.next(4) as u8),
        ]),
        languages: vec![languages[i % 4].to_owned(), "en".to_owned()],
        teams: vec![QUEUES[i % 3].to_owned()],
        capacity,
        active_conversations: rng.next(u64::from(capacity) + 1) as u32,
        presence,
        idle_seconds: rng.next(3_600),
    }
}

fn make_context(rng: &mut Lcg) -> RoutingContext {
    let intents = [
        "lost_or_stolen_card",
        "card_payment_not_recognised",
        "complaint",
        "talk_to_human",
        "card_arrival",
        "exchange_rate",
    ];
    let mut context = RoutingContext::default();
    context.triage.intent = intents[rng.next(intents.len() as u64) as usize].to_owned();
    context.triage.confidence = rng.next(100) as f64 / 100.0;
    context.triage.sentiment_score = rng.next(200) as f64 / 100.0 - 1.0;
    context.triage.frustration = rng.next(100) as f64 / 100.0;
    context.triage.urgency = [
        Urgency::Low,
        Urgency::Normal,
        Urgency::High,
        Urgency::Critical,
    ][rng.next(4) as usize];
    context.triage.language = ["en", "de", "fr", "it"][rng.next(4) as usize].to_owned();
    context.customer.tier = ["standard", "vip"][rng.next(2) as usize].to_owned();
    context.conversation.turns = rng.next(10) as u32;
    context.conversation.low_confidence_streak = rng.next(3) as u32;
    context.conversation.waiting_seconds = rng.next(900);
    context
}
