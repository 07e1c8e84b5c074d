//! The account's per-minute API quota (`X-Rate-Limit`), counted over a sliding minute,
//! and the Update Ticket endpoint's own limits ([`UpdateLimits`]).

use std::collections::{BTreeMap, VecDeque};
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

/// Zendesk's per-user, per-ticket limit counts updates over 10 minutes.
const PER_TICKET_WINDOW: Duration = Duration::from_secs(600);

/// The limits of the Update Ticket endpoint (`PUT /api/v2/tickets/{id}`), on top of
/// the plan's quota (`shared/zendesk-api.md`, "Endpoint limits"): so many updates a
/// minute for the whole account, human agents' saves in the Zendesk UI included
/// (they do not count against the plan's quota), and so many updates per user per
/// ticket in 10 minutes.
pub(crate) struct UpdateLimits {
    /// The account's updates in the last minute.
    pub(crate) account: Quota,
    per_ticket_limit: u32,
    /// (user, ticket) -> when each of its updates in the last 10 minutes was made.
    per_ticket: BTreeMap<(u64, u64), VecDeque<Instant>>,
}

impl UpdateLimits {
    /// Unused limits: `per_minute` for the account, `per_ticket` per user and ticket.
    pub(crate) fn new(per_minute: u32, per_ticket: u32) -> UpdateLimits {
        UpdateLimits {
            account: Quota::new(per_minute),
            per_ticket_limit: per_ticket,
            per_ticket: BTreeMap::new(),
        }
    }

    /// Counts an update of `ticket` by `user`, or answers the seconds to wait
    /// (`Retry-After`) when either limit is used up. A refused update is not counted.
    pub(crate) fn take(&mut self, user: u64, ticket: u64, now: Instant) -> Result<(), u64> {
        // Forget windows that emptied, so the map stays as small as the last 10 minutes.
        self.per_ticket.retain(|_, w| {
            while w
                .front()
                .is_some_and(|t| now.duration_since(*t) >= PER_TICKET_WINDOW)
            {
                w.pop_front();
            }
            !w.is_empty()
        });
        let window = self.per_ticket.get(&(user, ticket));
        if let Some(w) = window.filter(|w| w.len() >= self.per_ticket_limit as usize) {
            let oldest = *w.front().expect("not empty");
            let left = PER_TICKET_WINDOW.saturating_sub(now.duration_since(oldest));
            return Err((left.as_secs() + u64::from(left.subsec_nanos() > 0)).max(1));
        }
        if !self.account.take(now) {
            return Err(self.account.reset_secs(now));
        }
        self.per_ticket
            .entry((user, ticket))
            .or_default()
            .push_back(now);
        Ok(())
    }

    /// Forgets every counted update.
    pub(crate) fn reset(&mut self) {
        self.account.reset();
        self.per_ticket.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_limits_count_the_account_and_each_user_on_each_ticket() {
        let t0 = Instant::now();
        let mut l = UpdateLimits::new(3, 2);
        assert!(l.take(1, 10, t0).is_ok());
        assert!(l.take(1, 10, t0).is_ok());
        // The same user on the same ticket is out for 10 minutes...
        assert_eq!(l.take(1, 10, t0 + Duration::from_secs(1)), Err(599));
        // ...another user on it, or the user on another ticket, is not.
        assert!(l.take(2, 10, t0).is_ok());
        // But the account's minute is used up by now.
        assert_eq!(l.take(2, 11, t0 + Duration::from_secs(20)), Err(40));
        assert!(l.take(2, 11, t0 + Duration::from_secs(60)).is_ok());
        assert!(l.take(1, 10, t0 + Duration::from_secs(600)).is_ok());
    }

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
