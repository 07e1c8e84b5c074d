//! The gateway's share of Zendesk's Update Ticket limits (`shared/zendesk-api.md`,
//! "Endpoint limits"): `PUT /api/v2/tickets/{id}` may be called 100 times a minute per
//! account, and human agents' saves in the Zendesk UI count against the same 100; and
//! one user may update one ticket at most 30 times in 10 minutes.
//!
//! - [`UpdateBudget::wait_turn`]: a second rate limiter, only for ticket updates, at the
//!   environment's `ticket_updates_per_minute` (default 50: half the account's limit, so
//!   the humans keep the other half). It waits, as the general limiter does: a full
//!   budget is the gateway's own pace, not a failure. The limit is the account's, so
//!   replicas sharing a PostgreSQL database take their turns from one bucket in it
//!   (`zendesk::quota::FleetQuota`, docs/replicas.md); one machine uses its own limiter.
//! - [`UpdateBudget::reserve`]: the per-ticket window. A ticket that would pass 30 updates
//!   in 10 minutes is not sent at all: the caller gets how long until a slot frees, and
//!   the ticket goes back to the inbox for that long (a worker does not sleep minutes).

use super::quota::{LocalQuota, QuotaBackend};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Zendesk's per-user, per-ticket limit: updates in [`PER_TICKET_WINDOW`].
pub const PER_TICKET_LIMIT: usize = 30;
/// The window of the per-ticket limit.
pub const PER_TICKET_WINDOW: Duration = Duration::from_secs(600);

/// The ticket-update budget of one environment.
pub struct UpdateBudget {
    per_minute: u32,
    /// The per-minute pace: this process's limiter, or the fleet's bucket.
    rate: Arc<dyn QuotaBackend>,
    /// Ticket id -> when the gateway updated it in the last 10 minutes. Only tickets
    /// updated in the window are kept, so it is bounded by the updates of 10 minutes.
    recent: Mutex<HashMap<u64, VecDeque<Instant>>>,
}

impl UpdateBudget {
    /// A budget of `per_minute` ticket updates a minute (at least 1), paced by this
    /// process's own limiter. Its small burst (a tenth of the minute) spreads a burst of
    /// tickets over the minute instead of taking the humans' share at once.
    pub fn new(per_minute: u32) -> UpdateBudget {
        UpdateBudget::with_rate(per_minute, Arc::new(LocalQuota::per_minute(per_minute)))
    }

    /// A budget of `per_minute` ticket updates a minute whose pace is kept by `rate`
    /// (the fleet's shared bucket, with the same burst).
    pub fn with_rate(per_minute: u32, rate: Arc<dyn QuotaBackend>) -> UpdateBudget {
        UpdateBudget {
            per_minute: per_minute.max(1),
            rate,
            recent: Mutex::new(HashMap::new()),
        }
    }

    /// Updates a minute this budget allows.
    pub fn per_minute(&self) -> u32 {
        self.per_minute
    }

    /// Waits until the per-minute budget allows one more ticket update.
    pub async fn wait_turn(&self) {
        self.rate.until_ready().await;
    }

    /// Counts one update of `ticket` now, or says how long until the ticket may be
    /// updated again without passing 30 updates in 10 minutes.
    pub fn reserve(&self, ticket: u64, now: Instant) -> Result<(), Duration> {
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        recent.retain(|_, w| {
            while w
                .front()
                .is_some_and(|t| now.duration_since(*t) >= PER_TICKET_WINDOW)
            {
                w.pop_front();
            }
            !w.is_empty()
        });
        let window = recent.entry(ticket).or_default();
        if window.len() >= PER_TICKET_LIMIT {
            let oldest = *window.front().expect("full");
            return Err(PER_TICKET_WINDOW.saturating_sub(now.duration_since(oldest)));
        }
        window.push_back(now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ticket_waits_once_it_had_thirty_updates_in_ten_minutes() {
        let b = UpdateBudget::new(50);
        let t0 = Instant::now();
        for i in 0..30 {
            assert!(b.reserve(7, t0 + Duration::from_secs(i)).is_ok());
        }
        let wait = b.reserve(7, t0 + Duration::from_secs(60)).unwrap_err();
        assert_eq!(
            wait,
            Duration::from_secs(540),
            "until the first leaves the window"
        );
        assert!(
            b.reserve(8, t0 + Duration::from_secs(60)).is_ok(),
            "other tickets go on"
        );
        assert!(b.reserve(7, t0 + Duration::from_secs(600)).is_ok());
        // Windows that emptied are forgotten.
        assert!(b.reserve(9, t0 + Duration::from_secs(2000)).is_ok());
        assert_eq!(b.recent.lock().unwrap().len(), 1);
    }
}
