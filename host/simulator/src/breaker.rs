//! Zendesk's circuit breaker for one webhook (`shared/zendesk-api.md`, "Webhook
//! delivery"): when at least 70% of a webhook's requests in the last 5 minutes failed
//! (once it made at least 100), or more than 1,000 failed, Zendesk pauses the webhook,
//! tries it again after a short pause, and resumes once a request succeeds.
//! Notifications meant for a paused webhook are not queued: they are lost.

use std::collections::VecDeque;
use std::time::Instant;

use serde_json::{json, Value};

use crate::config::WebhookPolicy;

/// Whether a webhook call may be made now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admit {
    /// Closed breaker: call.
    Call,
    /// The pause is over: call, and the answer decides whether the webhook resumes.
    Probe,
    /// Paused: the call is dropped.
    Drop,
}

/// One webhook's breaker.
#[derive(Debug, Default)]
pub(crate) struct Breaker {
    /// Every request in the window: when, and whether it failed.
    window: VecDeque<(Instant, bool)>,
    /// Set while the webhook is paused (or waiting for its probe's answer): when
    /// Zendesk tries it again.
    paused_until: Option<Instant>,
    /// A probe is in flight: other calls are dropped until it answers.
    probing: bool,
    /// How many times the breaker tripped.
    trips: u64,
    /// Calls dropped while paused.
    dropped: u64,
}

impl Breaker {
    fn prune(&mut self, now: Instant, p: &WebhookPolicy) {
        while self
            .window
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) >= p.breaker_window)
        {
            self.window.pop_front();
        }
    }

    /// Whether a call may be made now; a dropped one is counted.
    pub(crate) fn admit(&mut self, now: Instant) -> Admit {
        match self.paused_until {
            None => Admit::Call,
            Some(until) if now >= until && !self.probing => {
                self.probing = true;
                Admit::Probe
            }
            Some(_) => {
                self.dropped += 1;
                Admit::Drop
            }
        }
    }

    /// Records the answer to one request (every attempt counts, retries too) and
    /// trips, resumes or pauses again as Zendesk does.
    pub(crate) fn record(&mut self, failed: bool, probe: bool, now: Instant, p: &WebhookPolicy) {
        if probe {
            self.probing = false;
            if failed {
                self.paused_until = Some(now + p.breaker_pause);
                return;
            }
            // Resumed: the failures that tripped it are forgotten.
            self.paused_until = None;
            self.window.clear();
        }
        self.window.push_back((now, failed));
        self.prune(now, p);
        if !failed || self.paused_until.is_some() {
            return;
        }
        let total = self.window.len();
        let failures = self.window.iter().filter(|(_, f)| *f).count();
        let ratio_trips = total >= p.breaker_min_requests
            && failures as f64 >= p.breaker_failure_ratio * total as f64;
        if ratio_trips || failures > p.breaker_max_failures {
            self.paused_until = Some(now + p.breaker_pause);
            self.trips += 1;
            tracing::warn!(
                requests = total,
                failures,
                "zendesk simulator: circuit broken, webhook paused"
            );
        }
    }

    /// Trips the breaker now, as if the failures had (for tests of what a paused
    /// webhook looks like).
    pub(crate) fn trip(&mut self, now: Instant, p: &WebhookPolicy) {
        self.paused_until = Some(now + p.breaker_pause);
        self.trips += 1;
    }

    /// Whether the webhook is paused now.
    #[cfg(test)]
    fn is_open(&self) -> bool {
        self.paused_until.is_some()
    }

    /// The breaker as the admin API shows it.
    pub(crate) fn report(&mut self, now: Instant, p: &WebhookPolicy) -> Value {
        self.prune(now, p);
        let failures = self.window.iter().filter(|(_, f)| *f).count();
        let state = match self.paused_until {
            None => "closed",
            Some(until) if now >= until || self.probing => "half_open",
            Some(_) => "open",
        };
        let resumes_in_ms = self
            .paused_until
            .map(|u| u.saturating_duration_since(now).as_millis() as u64);
        json!({
            "state": state,
            "requests_in_window": self.window.len(),
            "failures_in_window": failures,
            "trips": self.trips,
            "dropped": self.dropped,
            "retry_in_ms": resumes_in_ms,
            "window_secs": p.breaker_window.as_secs(),
            "pause_ms": p.breaker_pause.as_millis() as u64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A short pause for tests of the breaker; everything else as Zendesk.
    fn policy() -> WebhookPolicy {
        WebhookPolicy {
            breaker_pause: Duration::from_secs(10),
            ..WebhookPolicy::default()
        }
    }

    #[test]
    fn trips_at_seventy_percent_of_a_hundred_and_resumes_on_a_success() {
        let p = policy();
        let t0 = Instant::now();
        let mut b = Breaker::default();
        // 30 successes, then failures: 69 of 99 do not trip (too few requests), the
        // 70th failure of 100 requests does.
        for _ in 0..30 {
            assert_eq!(b.admit(t0), Admit::Call);
            b.record(false, false, t0, &p);
        }
        for _ in 0..69 {
            b.record(true, false, t0, &p);
        }
        assert!(!b.is_open(), "69 of 99 failed");
        b.record(true, false, t0, &p);
        assert!(b.is_open(), "70 of 100 failed");
        assert_eq!(b.admit(t0 + Duration::from_secs(1)), Admit::Drop);
        // After the pause one probe goes out; others are dropped while it is out.
        let t1 = t0 + Duration::from_secs(10);
        assert_eq!(b.admit(t1), Admit::Probe);
        assert_eq!(b.admit(t1), Admit::Drop);
        b.record(true, true, t1, &p);
        assert!(b.is_open(), "a failed probe pauses again");
        let t2 = t1 + Duration::from_secs(10);
        assert_eq!(b.admit(t2), Admit::Probe);
        b.record(false, true, t2, &p);
        assert!(!b.is_open(), "a successful probe resumes");
        assert_eq!(b.admit(t2), Admit::Call);
        assert_eq!(b.dropped, 2);
    }

    #[test]
    fn few_requests_never_trip_on_the_ratio_but_a_thousand_failures_do() {
        let p = policy();
        let t0 = Instant::now();
        let mut b = Breaker::default();
        for _ in 0..99 {
            b.record(true, false, t0, &p);
        }
        assert!(!b.is_open(), "fewer than 100 requests");
        let mut b = Breaker::default();
        for _ in 0..4000 {
            b.record(false, false, t0, &p);
        }
        for _ in 0..1000 {
            b.record(true, false, t0, &p);
        }
        assert!(!b.is_open(), "1,000 failures of 5,000: 20%");
        b.record(true, false, t0, &p);
        assert!(b.is_open(), "more than 1,000 failures");
        // Failures older than the window are forgotten.
        let mut b = Breaker::default();
        for _ in 0..99 {
            b.record(true, false, t0, &p);
        }
        b.record(true, false, t0 + Duration::from_secs(300), &p);
        assert!(!b.is_open(), "the first 99 left the window");
    }
}
