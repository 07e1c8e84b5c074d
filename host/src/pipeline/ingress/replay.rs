//! Replays: a notification Zendesk (or anyone holding its bytes) sends again is answered
//! 200 without work. Remembered, for as long as a signature stays valid, is Zendesk's
//! `X-Zendesk-Webhook-Invocation-Id` (one per invocation, the same on its retries); on
//! a signed endpoint, a notification without one (Zendesk always sends it) is known by
//! its signature instead.
//!
//! Why not the signature always: it covers only the timestamp (to the second) and the
//! body (`{"id": N}`), so two real notifications for one ticket in the same second (a
//! ticket created and at once updated, a customer's quick follow-up) have the same
//! signature, and keying on it would drop the second: a customer message unanswered.
//! The cost: the invocation id is not signed, so someone holding captured signed bytes
//! can still have them run once per invented id within the window; each such run meets
//! the host's guards (an answered message is not answered again). docs/operations.md.
//!
//! Only stored notifications are remembered: a retry of one that got a 503 is new work.
//! Memory is bounded: at most [`MAX_ENTRIES`] digests of 32 bytes, oldest forgotten first.

use crate::pipeline::ingress::signature::{REPLAY_WINDOW_SECS, SIGNATURE_HEADER};
use axum::http::HeaderMap;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Header carrying Zendesk's id of one webhook invocation.
pub const INVOCATION_HEADER: &str = "x-zendesk-webhook-invocation-id";

/// Most notifications remembered.
pub const MAX_ENTRIES: usize = 100_000;

/// How long a notification is remembered: a signature's timestamp may be up to the
/// window ahead of the clock, so it stays valid up to twice the window from now.
const REMEMBER: Duration = Duration::from_secs(2 * REPLAY_WINDOW_SECS as u64);

type Key = [u8; 32];

/// Notifications seen recently, by digest.
#[derive(Default)]
pub struct Replays {
    inner: Mutex<Seen>,
}

#[derive(Default)]
struct Seen {
    at: HashMap<Key, Instant>,
    order: VecDeque<(Instant, Key)>,
}

/// What identifies a notification to `endpoint`: its invocation id; without one, on an
/// endpoint that checks signatures, its signature.
pub fn keys(endpoint: &str, headers: &HeaderMap, signed: bool) -> Vec<Key> {
    let digest = |kind: &str, value: &[u8]| -> Key {
        let mut h = Sha256::new();
        h.update(endpoint.as_bytes());
        h.update([0]);
        h.update(kind.as_bytes());
        h.update([0]);
        h.update(value);
        h.finalize().into()
    };
    match headers.get(INVOCATION_HEADER).filter(|v| !v.is_empty()) {
        Some(id) => vec![digest("invocation", id.as_bytes())],
        None if signed => headers
            .get(SIGNATURE_HEADER)
            .map(|sig| vec![digest("signature", sig.as_bytes())])
            .unwrap_or_default(),
        None => Vec::new(),
    }
}

impl Replays {
    /// Claims `keys` for a notification about to be stored: `false` if any was seen
    /// within the window (a replay). Call [`Replays::forget`] if storing then fails.
    pub fn claim(&self, keys: &[Key]) -> bool {
        self.claim_at(keys, Instant::now())
    }

    fn claim_at(&self, keys: &[Key], now: Instant) -> bool {
        if keys.is_empty() {
            return true;
        }
        let mut seen = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        seen.expire(now);
        if keys.iter().any(|k| seen.at.contains_key(k)) {
            return false;
        }
        for k in keys {
            seen.at.insert(*k, now);
            seen.order.push_back((now, *k));
        }
        while seen.at.len() > MAX_ENTRIES {
            match seen.order.pop_front() {
                Some((at, k)) => {
                    if seen.at.get(&k) == Some(&at) {
                        seen.at.remove(&k);
                    }
                }
                None => break,
            }
        }
        true
    }

    /// Gives back keys claimed for a notification that was not stored, so that
    /// Zendesk's retry of it is accepted.
    pub fn forget(&self, keys: &[Key]) {
        let mut seen = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        for k in keys {
            seen.at.remove(k);
        }
    }
}

impl Seen {
    fn expire(&mut self, now: Instant) {
        while let Some(&(at, k)) = self.order.front() {
            if now.duration_since(at) < REMEMBER {
                break;
            }
            self.order.pop_front();
            if self.at.get(&k) == Some(&at) {
                self.at.remove(&k);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(id: &str, sig: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(INVOCATION_HEADER, id.parse().unwrap());
        h.insert(SIGNATURE_HEADER, sig.parse().unwrap());
        h
    }

    #[test]
    fn repeats_are_caught_within_the_window_and_forgotten_after() {
        let r = Replays::default();
        let t0 = Instant::now();
        let a = keys("ep", &headers("inv-1", "sig-1"), true);
        assert!(r.claim_at(&a, t0));
        assert!(!r.claim_at(&a, t0), "the same invocation");
        let same_second = keys("ep", &headers("inv-2", "sig-1"), true);
        assert!(
            r.claim_at(&same_second, t0),
            "a new invocation with the same signature"
        );
        let mut stripped = headers("x", "sig-9");
        stripped.remove(INVOCATION_HEADER);
        assert!(r.claim_at(&keys("ep", &stripped, true), t0));
        assert!(
            !r.claim_at(&keys("ep", &stripped, true), t0),
            "signed, no id: by signature"
        );
        assert!(
            keys("ep", &stripped, false).is_empty(),
            "unsigned, no id: nothing to go by"
        );
        assert!(r.claim_at(&keys("other", &headers("inv-1", "sig-1"), true), t0));
        assert!(r.claim_at(&a, t0 + REMEMBER), "past the window");
        let b = keys("ep", &headers("inv-3", "sig-3"), true);
        assert!(r.claim_at(&b, t0));
        r.forget(&b);
        assert!(
            r.claim_at(&b, t0),
            "a notification that was not stored is new"
        );
        assert!(
            r.claim_at(&[], t0) && r.claim_at(&[], t0),
            "nothing to go by"
        );
    }

    #[test]
    fn memory_is_bounded() {
        let r = Replays::default();
        let now = Instant::now();
        for i in 0..(MAX_ENTRIES + 10) {
            let k = keys("ep", &headers(&format!("inv-{i}"), "s"), false);
            r.claim_at(&k, now);
        }
        assert_eq!(r.inner.lock().unwrap().at.len(), MAX_ENTRIES);
    }
}
