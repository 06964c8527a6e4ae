//! Fan-out of conversation events to live clients.
//!
//! The database holds every durable event; the bus only tells listeners that something
//! was committed. A listener that misses a notice (it lagged, or another process wrote
//! the event) catches up from the database, so the bus may drop but never invents.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use serde_json::Value;
use tokio::sync::broadcast;

/// A notice on the bus: a stored event (with `seq`) or an ephemeral one such as typing.
#[derive(Debug, Clone, Serialize)]
pub struct BusEvent {
    pub conversation_id: String,
    /// `None` for events that are not stored and cannot be replayed.
    pub seq: Option<i64>,
    pub kind: String,
    pub data: Value,
}

/// A notice for staff consoles: an event of any conversation, or one addressed to a
/// single agent (an offer, say). Consoles filter what concerns them and reload their
/// state from the API when they lag.
#[derive(Debug, Clone, Serialize)]
pub struct StaffNotice {
    /// `Some` for a notice meant for one agent only.
    pub agent_id: Option<String>,
    pub event: BusEvent,
}

/// Publishes and subscribes by conversation, plus one channel for staff consoles.
pub trait EventBus: Send + Sync + 'static {
    fn publish(&self, event: BusEvent);
    fn subscribe(&self, conversation_id: &str) -> broadcast::Receiver<Arc<BusEvent>>;
    fn publish_staff(&self, notice: StaffNotice);
    fn subscribe_staff(&self) -> broadcast::Receiver<Arc<StaffNotice>>;
}

/// Events buffered per subscriber before it counts as lagging and reloads from storage.
const CHANNEL_CAPACITY: usize = 256;

/// Staff notices buffered per console before it counts as lagging.
const STAFF_CAPACITY: usize = 4096;

/// The in-process bus: one broadcast channel per conversation that has listeners, and
/// one for staff consoles.
pub struct InProcessBus {
    channels: Mutex<HashMap<String, broadcast::Sender<Arc<BusEvent>>>>,
    staff: broadcast::Sender<Arc<StaffNotice>>,
}

impl Default for InProcessBus {
    fn default() -> Self {
        Self {
            channels: Mutex::default(),
            staff: broadcast::channel(STAFF_CAPACITY).0,
        }
    }
}

impl EventBus for InProcessBus {
    fn publish(&self, event: BusEvent) {
        let mut channels = self.channels.lock().expect("event bus lock poisoned");
        let Some(sender) = channels.get(&event.conversation_id) else {
            return;
        };
        if sender.receiver_count() == 0 {
            // Nobody listens any more: drop the channel so the map does not grow.
            channels.remove(&event.conversation_id);
            return;
        }
        let _delivered = sender.send(Arc::new(event));
    }

    fn subscribe(&self, conversation_id: &str) -> broadcast::Receiver<Arc<BusEvent>> {
        let mut channels = self.channels.lock().expect("event bus lock poisoned");
        channels
            .entry(conversation_id.to_owned())
            .or_insert_with(|| broadcast::channel(CHANNEL_CAPACITY).0)
            .subscribe()
    }

    fn publish_staff(&self, notice: StaffNotice) {
        // Nobody listening is fine: consoles load their state when they connect.
        let _delivered = self.staff.send(Arc::new(notice));
    }

    fn subscribe_staff(&self) -> broadcast::Receiver<Arc<StaffNotice>> {
        self.staff.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(conversation: &str, seq: i64) -> BusEvent {
        BusEvent {
            conversation_id: conversation.into(),
            seq: Some(seq),
            kind: "test".into(),
            data: Value::Null,
        }
    }

    #[tokio::test]
    async fn subscribers_receive_only_their_conversation() {
        let bus = InProcessBus::default();
        let mut a = bus.subscribe("a");
        bus.publish(event("b", 1));
        bus.publish(event("a", 2));
        assert_eq!(a.recv().await.expect("event").seq, Some(2));
    }

    #[test]
    fn channels_without_listeners_are_dropped() {
        let bus = InProcessBus::default();
        drop(bus.subscribe("a"));
        bus.publish(event("a", 1));
        assert!(bus.channels.lock().expect("lock").is_empty());
    }
}
