//! The account's per-minute API quota (`X-Rate-Limit`), counted over a sliding minute.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// The quota is per minute; a sliding window is stricter than a fixed one, so a
/// gateway that stays under it here stays under it on Zendesk too.
const RATE_WINDOW: Duration = Duration::from_secs(60);

/// The requests counted against the quota in the last minute.
pub(crate) struct Quota {
    /// Requests per minute the account may make.
    pub(crate) limit: u32,
    window: VecDeque<Instant>,
}

impl Quota {
    /// An unused quota of `limit` requests per minute.
    pub(crate) fn new(limit: u32) -> Quota {
        Quota {
            limit,
            window: VecDeque::new(),
        }
    }

    fn prune(&mut self, now: Instant) {
        while let Some(front) = self.window.front() {
            if now.duration_since(*front) >= RATE_WINDOW {
                self.window.pop_front();
            } else {
                break;
            }
        }
    }

    /// Counts a request against the quota; `false` if the quota is used up.
    pub(crate) fn take(&mut self, now: Instant) -> bool {
        self.prune(now);
        if self.window.len() >= self.limit as usize {
            return false;
        }
        self.window.push_back(now);
        true
    }

    /// Requests left in the current window.
    pub(crate) fn remaining(&self) -> u32 {
        self.limit.saturating_sub(self.window.len() as u32)
    }

    /// Seconds until the oldest counted request leaves the window (a slot frees).
    pub(crate) fn reset_secs(&self, now: Instant) -> u64 {
        match self.window.front() {
            Some(front) => {
                let left = RATE_WINDOW.saturating_sub(now.duration_since(*front));
                left.as_secs() + u64::from(left.subsec_nanos() > 0)
            }
            None => RATE_WINDOW.as_secs(),
        }
        .max(1)
    }

    /// Forgets every counted request.
    pub(crate) fn reset(&mut self) {
        self.window.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_counts_a_sliding_minute() {
        let mut q = Quota::new(2);
        let t0 = Instant::now();
        assert!(q.take(t0));
        assert!(q.take(t0));
        assert!(!q.take(t0 + Duration::from_secs(30)));
        assert_eq!(q.reset_secs(t0 + Duration::from_secs(30)), 30);
        assert!(q.take(t0 + Duration::from_secs(60)));
    }
}
