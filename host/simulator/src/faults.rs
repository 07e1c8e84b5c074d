//! Injected faults: the [`Fault`] a test asks for and the list of pending ones that API
//! requests use up.
//!
//! A fault does one or more of: answer an error instead of processing the request
//! (`status`), hold the request before it touches any state (`hold_before_ms`), hold
//! the answer after the request committed (`hold_after_ms`), or lose the answer
//! after the commit (`drop_after_commit`). It applies to the next `times` matching
//! requests, or to every matching request for `for_ms`, whichever ends first.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// An injected fault for matching API requests (admin calls never match).
///
/// With a `status` (non-zero), a matching request gets that status with Zendesk's
/// body for it instead of being processed (state unchanged; it still counts against
/// the quota, as a request that reached Zendesk). With `status` 0 the request is
/// served normally; such a fault only makes sense with a hold or a drop, and the
/// admin API refuses one that has neither (see [`Fault::check`]).
///
/// The timing fields reproduce timing bugs:
/// - `hold_before_ms`: the request waits this long BEFORE the simulator reads or
///   changes any state (so the world can change meanwhile, e.g. a customer comment
///   added through the admin API), then is served normally or answered `status`.
/// - `hold_after_ms`: the request is processed and committed, then its answer waits
///   this long (the state is visible to everyone else during the wait).
/// - `drop_after_commit`: the request is processed and committed, then the
///   connection is closed without any HTTP answer (the client sees a connection
///   error). With a `status` too, nothing was committed: the error answer is lost.
///
/// Holds never hold the state lock: other requests are served while one is held.
/// Every faulted request is in the call log (`/_sim/calls`) with the status finally
/// answered; a dropped answer is logged with status `0`.
///
/// How long a fault lasts: `times` matching requests, or every matching request for
/// `for_ms` milliseconds from the moment it was injected, whichever ends first when
/// both are given. In JSON, an omitted `times` means 1 without a window and no limit
/// ([`Fault::UNLIMITED`]) with one. In Rust, `..Default::default()` gives `times: 1`,
/// so a window alone needs `times: Fault::UNLIMITED` (or [`Fault::window`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "FaultSpec")]
pub struct Fault {
    /// Match only this HTTP method (case-insensitive); `None` matches any.
    pub method: Option<String>,
    /// Match only paths (with query) containing this text; `None` matches any.
    pub path_contains: Option<String>,
    /// Match only this exact path, query and `.json` suffix left out
    /// (`/api/v2/tickets/5` matches `GET /api/v2/tickets/5.json?include=x`, not
    /// `/api/v2/tickets/5/comments`); `None` matches any.
    pub path_is: Option<String>,
    /// The status to answer (429, 503, 500, 403, 422, 409, 401, 404, ...); 0 serves
    /// the request normally (with a hold or a drop).
    pub status: u16,
    /// Seconds for a `Retry-After` header (429 gets 1 when this is `None`).
    pub retry_after: Option<u32>,
    /// How many matching requests it applies to ([`Fault::UNLIMITED`]: no limit).
    pub times: u32,
    /// Milliseconds a matching request waits before it reads or changes any state.
    pub hold_before_ms: u64,
    /// Milliseconds the answer waits after the request was processed and committed.
    pub hold_after_ms: u64,
    /// Process and commit the request, then close the connection without an answer.
    pub drop_after_commit: bool,
    /// Apply to every matching request for this many milliseconds after injection
    /// (capped by `times`).
    pub for_ms: Option<u64>,
    /// A `Retry-After` header sent exactly as given (`"1e20"`, `"inf"`, `"-5"`,
    /// `"soon"`), instead of `retry_after`; only with a `status`.
    pub retry_after_raw: Option<String>,
}

/// A fault as JSON gives it: every field optional, so `{"status": 503}` still means
/// "once", and `times` can default by whether a window is given.
#[derive(Deserialize)]
struct FaultSpec {
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    path_contains: Option<String>,
    #[serde(default)]
    path_is: Option<String>,
    #[serde(default)]
    status: u16,
    #[serde(default)]
    retry_after: Option<u32>,
    #[serde(default)]
    times: Option<u32>,
    #[serde(default)]
    hold_before_ms: u64,
    #[serde(default)]
    hold_after_ms: u64,
    #[serde(default)]
    drop_after_commit: bool,
    #[serde(default)]
    for_ms: Option<u64>,
    #[serde(default)]
    retry_after_raw: Option<String>,
}

impl From<FaultSpec> for Fault {
    fn from(s: FaultSpec) -> Fault {
        let times = match (s.times, s.for_ms) {
            (Some(n), _) => n,
            (None, None) => 1,
            (None, Some(_)) => Fault::UNLIMITED,
        };
        Fault {
            method: s.method,
            path_contains: s.path_contains,
            path_is: s.path_is,
            status: s.status,
            retry_after: s.retry_after,
            times,
            hold_before_ms: s.hold_before_ms,
            hold_after_ms: s.hold_after_ms,
            drop_after_commit: s.drop_after_commit,
            for_ms: s.for_ms,
            retry_after_raw: s.retry_after_raw,
        }
    }
}

/// Any request, once, served normally, no holds: add a status, a hold or a drop.
impl Default for Fault {
    fn default() -> Fault {
        Fault {
            method: None,
            path_contains: None,
            path_is: None,
            status: 0,
            retry_after: None,
            times: 1,
            hold_before_ms: 0,
            hold_after_ms: 0,
            drop_after_commit: false,
            for_ms: None,
            retry_after_raw: None,
        }
    }
}

impl Fault {
    /// `times` for a fault limited only by its window (or by being cleared).
    pub const UNLIMITED: u32 = u32::MAX;

    /// A fault answering `status` once to any request.
    pub fn once(status: u16) -> Fault {
        Fault {
            status,
            ..Fault::default()
        }
    }

    /// A fault answering `status` to every request for `for_ms` milliseconds.
    pub fn window(status: u16, for_ms: u64) -> Fault {
        Fault {
            status,
            times: Fault::UNLIMITED,
            for_ms: Some(for_ms),
            ..Fault::default()
        }
    }

    /// Holds the next request `ms` before it reads any state, then serves it.
    pub fn held_before(ms: u64) -> Fault {
        Fault {
            hold_before_ms: ms,
            ..Fault::default()
        }
    }

    /// Serves the next request, then holds its answer `ms`.
    pub fn held_after(ms: u64) -> Fault {
        Fault {
            hold_after_ms: ms,
            ..Fault::default()
        }
    }

    /// Serves the next request, then closes the connection without an answer.
    pub fn dropped_after_commit() -> Fault {
        Fault {
            drop_after_commit: true,
            ..Fault::default()
        }
    }

    /// The same fault for requests with this method (`""`: any) whose path (with
    /// query) contains `path_contains` (`""`: any).
    pub fn on(self, method: &str, path_contains: &str) -> Fault {
        let given = |s: &str| (!s.is_empty()).then(|| s.to_string());
        Fault {
            method: given(method),
            path_contains: given(path_contains),
            ..self
        }
    }

    /// Whether the fault does anything; the admin API answers 400 with the message
    /// when it does not, and [`crate::Simulator::inject_fault`] panics with it.
    pub fn check(&self) -> Result<(), String> {
        let timed = self.hold_before_ms > 0 || self.hold_after_ms > 0 || self.drop_after_commit;
        if self.status == 0 && !timed {
            return Err("a fault needs a status to answer (e.g. 503), a hold \
                        (hold_before_ms, hold_after_ms) or drop_after_commit; \
                        this one would change nothing"
                .to_string());
        }
        if self.status == 0 && (self.retry_after.is_some() || self.retry_after_raw.is_some()) {
            return Err("retry_after and retry_after_raw go with a status: \
                        a request served normally sends no Retry-After"
                .to_string());
        }
        if let Some(raw) = &self.retry_after_raw {
            if axum::http::HeaderValue::from_str(raw).is_err() {
                return Err(format!(
                    "retry_after_raw {raw:?} cannot be sent as a header value"
                ));
            }
        }
        Ok(())
    }

    /// Whether a matching request must wait or lose its answer (and so is served off
    /// the lock, in its own task).
    pub(crate) fn is_timed(&self) -> bool {
        self.hold_before_ms > 0 || self.hold_after_ms > 0 || self.drop_after_commit
    }
}

/// A pending fault and when its window closes.
#[derive(Debug)]
struct Pending {
    fault: Fault,
    until: Option<Instant>,
}

/// The faults injected and not used up (or expired) yet, in the order they were
/// injected.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    pending: Vec<Pending>,
}

impl Faults {
    /// Adds a fault after the pending ones; its window starts `now`.
    pub(crate) fn push(&mut self, fault: Fault, now: Instant) {
        let until = fault
            .for_ms
            .map(|ms| now.checked_add(Duration::from_millis(ms)).unwrap_or(now));
        self.pending.push(Pending { fault, until });
    }

    /// Removes every pending fault.
    pub(crate) fn clear(&mut self) {
        self.pending.clear();
    }

    /// The pending faults, oldest first, as JSON; a windowed one also says how long
    /// it has left (`expires_in_ms`).
    pub(crate) fn list(&self, now: Instant) -> Vec<Value> {
        self.pending
            .iter()
            .filter(|p| p.until.is_none_or(|u| u > now))
            .map(|p| {
                let mut v = serde_json::to_value(&p.fault).unwrap_or_default();
                if let Some(until) = p.until {
                    let left = until.saturating_duration_since(now).as_millis() as u64;
                    v["expires_in_ms"] = Value::from(left);
                }
                v
            })
            .collect()
    }

    /// Takes one use of the first pending fault matching the request, if any (faults
    /// whose window has closed are forgotten first).
    pub(crate) fn take(&mut self, method: &str, path: &str, now: Instant) -> Option<Fault> {
        self.pending.retain(|p| p.until.is_none_or(|u| u > now));
        let i = self.pending.iter().position(|p| {
            let f = &p.fault;
            f.times > 0
                && f.method
                    .as_deref()
                    .is_none_or(|m| m.eq_ignore_ascii_case(method))
                && f.path_contains.as_deref().is_none_or(|p| path.contains(p))
                && f.path_is.as_deref().is_none_or(|p| bare_path(path) == p)
        })?;
        let fault = self.pending[i].fault.clone();
        let times = &mut self.pending[i].fault.times;
        if *times != Fault::UNLIMITED {
            *times -= 1;
            if *times == 0 {
                self.pending.remove(i);
            }
        }
        Some(fault)
    }
}

/// A request path without its query and `.json` suffix.
fn bare_path(path: &str) -> &str {
    let path = path.split('?').next().unwrap_or("");
    path.strip_suffix(".json").unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_are_used_up() {
        let mut faults = Faults::default();
        let now = Instant::now();
        faults.push(
            Fault {
                method: Some("put".into()),
                path_contains: Some("/tickets/".into()),
                status: 503,
                retry_after: None,
                times: 2,
                ..Default::default()
            },
            now,
        );
        assert!(faults.take("GET", "/api/v2/tickets/1", now).is_none());
        assert!(faults.take("PUT", "/api/v2/tickets/1", now).is_some());
        assert!(faults.take("PUT", "/api/v2/tickets/1", now).is_some());
        assert!(faults.take("PUT", "/api/v2/tickets/1", now).is_none());
    }

    #[test]
    fn a_window_ends_the_fault_and_caps_with_times() {
        let mut faults = Faults::default();
        let t0 = Instant::now();
        faults.push(Fault::window(503, 1_000), t0);
        for ms in [0, 10, 999] {
            let at = t0 + Duration::from_millis(ms);
            assert!(faults.take("GET", "/x", at).is_some(), "at {ms} ms");
        }
        assert!(faults
            .take("GET", "/x", t0 + Duration::from_millis(1_000))
            .is_none());
        assert!(faults.list(t0).is_empty(), "expired faults are forgotten");

        faults.push(
            Fault {
                times: 2,
                ..Fault::window(503, 1_000)
            },
            t0,
        );
        assert!(faults.take("GET", "/x", t0).is_some());
        assert!(faults.take("GET", "/x", t0).is_some());
        assert!(
            faults.take("GET", "/x", t0).is_none(),
            "times ends it first"
        );
    }

    #[test]
    fn json_defaults_keep_their_meaning() {
        let f: Fault = serde_json::from_str(r#"{"status": 503}"#).unwrap();
        assert_eq!(f, Fault::once(503));
        let f: Fault = serde_json::from_str(r#"{"status": 503, "times": 3}"#).unwrap();
        assert_eq!(f.times, 3);
        let f: Fault = serde_json::from_str(r#"{"status": 503, "for_ms": 500}"#).unwrap();
        assert_eq!((f.times, f.for_ms), (Fault::UNLIMITED, Some(500)));
        let f: Fault =
            serde_json::from_str(r#"{"status": 503, "for_ms": 500, "times": 2}"#).unwrap();
        assert_eq!(f.times, 2);
        let f: Fault = serde_json::from_str(r#"{"hold_before_ms": 200}"#).unwrap();
        assert_eq!(f, Fault::held_before(200));
        assert!(f.check().is_ok());
    }

    #[test]
    fn a_fault_that_changes_nothing_is_refused() {
        assert!(Fault::default().check().is_err());
        assert!(Fault {
            retry_after: Some(1),
            ..Fault::held_after(10)
        }
        .check()
        .is_err());
        assert!(Fault {
            retry_after_raw: Some("1\r\nX-Evil: 1".into()),
            ..Fault::once(429)
        }
        .check()
        .is_err());
        assert!(Fault::once(503).check().is_ok());
        assert!(Fault::dropped_after_commit().check().is_ok());
    }
}
