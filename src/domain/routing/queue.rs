//! The in-memory line of conversations waiting for an agent, one per queue.
//!
//! Serving order is highest effective priority first, then longest waiting. Aging adds
//! one priority point per `seconds_per_point` waited. Because every waiting
//! conversation ages at the same rate, the order between two of them never changes
//! with time, so the order is a fixed key in a B-tree: push, pop and removal by id are
//! all O(log n). This module must never read a clock; callers pass times in.

use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap};
use std::num::NonZeroU64;

use serde::{Deserialize, Serialize};

/// How fast waiting raises priority.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Aging {
    /// One priority point is gained per this many seconds of waiting; `None` turns
    /// aging off.
    pub seconds_per_point: Option<NonZeroU64>,
}

/// A conversation waiting for an agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitingConversation {
    /// Conversation id; unique within a queue.
    pub id: String,
    /// Priority at enqueue time, boosts included.
    pub priority: i64,
    /// When it started waiting, in seconds on the caller's clock.
    pub enqueued_at: u64,
}

/// Why a conversation could not be queued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    /// The id is already waiting in this queue.
    #[error("conversation {0} is already waiting")]
    AlreadyWaiting(String),
}

/// Sort key: smaller is served first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct ServeKey {
    rank: Reverse<i128>,
    enqueued_at: u64,
    /// Insertion order, so equal keys stay first-come first-served.
    sequence: u64,
}

/// Conversations waiting for one queue, in serving order.
#[derive(Debug, Clone, Default)]
pub struct WaitQueue {
    aging: Aging,
    order: BTreeMap<ServeKey, WaitingConversation>,
    /// Invariant: holds exactly the ids in `order`, each with its key there.
    keys: HashMap<String, ServeKey>,
    next_sequence: u64,
}

impl WaitQueue {
    /// An empty queue with the given aging rate.
    pub fn new(aging: Aging) -> WaitQueue {
        WaitQueue {
            aging,
            ..WaitQueue::default()
        }
    }

    /// Adds a conversation; an id already waiting is refused.
    pub fn push(&mut self, conversation: WaitingConversation) -> Result<(), QueueError> {
        if self.keys.contains_key(&conversation.id) {
            return Err(QueueError::AlreadyWaiting(conversation.id));
        }
        let key = ServeKey {
            rank: Reverse(self.rank(&conversation)),
            enqueued_at: conversation.enqueued_at,
            sequence: self.next_sequence,
        };
        self.next_sequence += 1;
        self.keys.insert(conversation.id.clone(), key);
        self.order.insert(key, conversation);
        Ok(())
    }

    /// Removes a conversation by id, e.g. when the customer leaves.
    pub fn remove(&mut self, id: &str) -> Option<WaitingConversation> {
        let key = self.keys.remove(id)?;
        self.order.remove(&key)
    }

    /// Takes the conversation to serve next.
    pub fn pop_next(&mut self) -> Option<WaitingConversation> {
        let (_, conversation) = self.order.pop_first()?;
        self.keys.remove(&conversation.id);
        Some(conversation)
    }

    /// The conversation that would be served next.
    pub fn peek_next(&self) -> Option<&WaitingConversation> {
        self.order.values().next()
    }

    /// All waiting conversations in serving order.
    pub fn iter(&self) -> impl Iterator<Item = &WaitingConversation> {
        self.order.values()
    }

    /// How many conversations wait.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// True when nobody waits.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// True when `id` is waiting here.
    pub fn contains(&self, id: &str) -> bool {
        self.keys.contains_key(id)
    }

    /// Priority plus aging at time `now`, for display.
    pub fn effective_priority(&self, conversation: &WaitingConversation, now: u64) -> f64 {
        let waited = now.saturating_sub(conversation.enqueued_at) as f64;
        let aged = self
            .aging
            .seconds_per_point
            .map_or(0.0, |per| waited / per.get() as f64);
        conversation.priority as f64 + aged
    }

    /// A key whose order matches effective priority at any time `now`:
    /// `priority + (now - enqueued_at) / per` scaled by `per`, minus the shared `now`.
    fn rank(&self, conversation: &WaitingConversation) -> i128 {
        let priority = i128::from(conversation.priority);
        match self.aging.seconds_per_point {
            Some(per) => priority * i128::from(per.get()) - i128::from(conversation.enqueued_at),
            None => priority,
        }
    }
}
