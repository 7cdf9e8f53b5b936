//! Fair use of delivery slots: each endpoint (webhook) may have at most `cap` calls in
//! flight in this process. A receiver that hangs until the timeout then holds `cap` slots,
//! never all of them, and healthy webhooks keep theirs.
//!
//! Calls over the cap wait here ("parked", in claim order) while few; beyond `park_limit`
//! per endpoint they go back to the queue for a while, so a dead endpoint's backlog cannot
//! fill this process's room either (claims would then bring in nothing else).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use crate::store::HandedCall;

/// What to do with a call that is next in line for a slot.
pub enum Admission {
    /// Start it now (a slot permitting).
    Start(HandedCall),
    /// Its endpoint is at its cap and has too many waiting: put it back in the queue.
    Defer(HandedCall),
    /// Its endpoint is at its cap: it waits here for one of its endpoint's calls to end.
    Parked,
}

pub struct Endpoints {
    cap: usize,
    park_limit: usize,
    in_flight: HashMap<Arc<str>, usize>,
    parked: HashMap<Arc<str>, VecDeque<HandedCall>>,
    parked_total: usize,
}

/// The endpoint a call counts against (`None`: its webhook is gone; it is not sent).
pub fn endpoint_of(call: &HandedCall) -> Option<Arc<str>> {
    call.call.webhook.as_ref().map(|w| Arc::from(w.id.as_str()))
}

impl Endpoints {
    pub fn new(cap: usize, park_limit: usize) -> Self {
        Endpoints {
            cap: cap.max(1),
            park_limit,
            in_flight: HashMap::new(),
            parked: HashMap::new(),
            parked_total: 0,
        }
    }

    /// Decides about `call`; a call it starts is counted in flight until [`finished`].
    pub fn admit(&mut self, call: HandedCall) -> Admission {
        let Some(endpoint) = endpoint_of(&call) else {
            return Admission::Start(call);
        };
        let busy = self.in_flight.entry(endpoint.clone()).or_default();
        if *busy < self.cap {
            *busy += 1;
            return Admission::Start(call);
        }
        let waiting = self.parked.entry(endpoint).or_default();
        if waiting.len() >= self.park_limit {
            return Admission::Defer(call);
        }
        waiting.push_back(call);
        self.parked_total += 1;
        Admission::Parked
    }

    /// One of `endpoint`'s calls ended; returns the next of its parked calls, counted in
    /// flight in its place.
    pub fn finished(&mut self, endpoint: Option<Arc<str>>) -> Option<HandedCall> {
        let endpoint = endpoint?;
        if let Some(next) = self.parked.get_mut(&endpoint).and_then(VecDeque::pop_front) {
            self.parked_total -= 1;
            return Some(next);
        }
        self.parked.remove(&endpoint);
        match self.in_flight.get_mut(&endpoint) {
            Some(busy) if *busy > 1 => *busy -= 1,
            _ => {
                self.in_flight.remove(&endpoint);
            }
        }
        None
    }

    pub fn has_parked(&self) -> bool {
        self.parked_total > 0
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tokio::sync::Semaphore;

    use super::*;
    use crate::store::{ClaimedCall, WebhookRecord};

    fn call(webhook: &Arc<WebhookRecord>, room: &Arc<Semaphore>, id: &str) -> HandedCall {
        HandedCall {
            call: ClaimedCall::fresh(
                id.into(),
                webhook.clone(),
                "main".into(),
                bytes::Bytes::new(),
            ),
            hold: room.clone().try_acquire_owned().expect("room"),
        }
    }

    fn webhook(id: &str) -> Arc<WebhookRecord> {
        Arc::new(WebhookRecord::new(
            id.into(),
            "site".into(),
            crate::domain::webhook::WebhookSettings::new("w", "https://example.com"),
            String::new(),
            0,
        ))
    }

    fn id_of(admission: Admission) -> (&'static str, String) {
        match admission {
            Admission::Start(c) => ("start", c.call.call_id),
            Admission::Defer(c) => ("defer", c.call.call_id),
            Admission::Parked => ("parked", String::new()),
        }
    }

    #[test]
    fn an_endpoint_at_its_cap_waits_without_holding_back_the_others() {
        let room = Arc::new(Semaphore::new(100));
        let (slow, fast) = (webhook("slow"), webhook("fast"));
        let mut endpoints = Endpoints::new(2, 1);
        assert_eq!(id_of(endpoints.admit(call(&slow, &room, "s1"))).0, "start");
        assert_eq!(id_of(endpoints.admit(call(&slow, &room, "s2"))).0, "start");
        assert_eq!(id_of(endpoints.admit(call(&slow, &room, "s3"))).0, "parked");
        assert_eq!(
            id_of(endpoints.admit(call(&slow, &room, "s4"))),
            ("defer", "s4".into())
        );
        assert_eq!(id_of(endpoints.admit(call(&fast, &room, "f1"))).0, "start");
        assert!(endpoints.has_parked());

        // A slow call ends: its parked successor takes its place.
        let next = endpoints.finished(Some("slow".into())).expect("unparked");
        assert_eq!(next.call.call_id, "s3");
        assert!(!endpoints.has_parked());
        assert!(endpoints.finished(Some("slow".into())).is_none());
        assert!(endpoints.finished(Some("slow".into())).is_none());
        // Both ended: room for two again.
        assert_eq!(id_of(endpoints.admit(call(&slow, &room, "s5"))).0, "start");
        assert_eq!(id_of(endpoints.admit(call(&slow, &room, "s6"))).0, "start");
    }
}
