//! Injected faults: the [`Fault`] a test asks for and the list of pending ones that API
//! requests use up.

use serde::{Deserialize, Serialize};

/// An injected failure: the next `times` matching API requests get `status` with
/// Zendesk's body for it instead of being processed (state unchanged).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    /// Match only this HTTP method (case-insensitive); `None` matches any.
    #[serde(default)]
    pub method: Option<String>,
    /// Match only paths (with query) containing this text; `None` matches any.
    #[serde(default)]
    pub path_contains: Option<String>,
    /// The status to answer (429, 503, 500, 403, 422, 409, 401, 404, ...).
    pub status: u16,
    /// Seconds for a `Retry-After` header (429 gets 1 when this is `None`).
    #[serde(default)]
    pub retry_after: Option<u32>,
    /// How many matching requests fail.
    #[serde(default = "one")]
    pub times: u32,
}

fn one() -> u32 {
    1
}

impl Fault {
    /// A fault answering `status` once to any request.
    pub fn once(status: u16) -> Fault {
        Fault {
            method: None,
            path_contains: None,
            status,
            retry_after: None,
            times: 1,
        }
    }
}

/// The faults injected and not used up yet, in the order they were injected.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    pending: Vec<Fault>,
}

impl Faults {
    /// Adds a fault after the pending ones.
    pub(crate) fn push(&mut self, f: Fault) {
        self.pending.push(f);
    }

    /// Removes every pending fault.
    pub(crate) fn clear(&mut self) {
        self.pending.clear();
    }

    /// The pending faults, oldest first.
    pub(crate) fn list(&self) -> &[Fault] {
        &self.pending
    }

    /// Takes one use of the first pending fault matching the request, if any.
    pub(crate) fn take(&mut self, method: &str, path: &str) -> Option<Fault> {
        let i = self.pending.iter().position(|f| {
            f.times > 0
                && f.method
                    .as_deref()
                    .is_none_or(|m| m.eq_ignore_ascii_case(method))
                && f.path_contains.as_deref().is_none_or(|p| path.contains(p))
        })?;
        let fault = self.pending[i].clone();
        self.pending[i].times -= 1;
        if self.pending[i].times == 0 {
            self.pending.remove(i);
        }
        Some(fault)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_are_used_up() {
        let mut faults = Faults::default();
        faults.push(Fault {
            method: Some("put".into()),
            path_contains: Some("/tickets/".into()),
            status: 503,
            retry_after: None,
            times: 2,
        });
        assert!(faults.take("GET", "/api/v2/tickets/1").is_none());
        assert!(faults.take("PUT", "/api/v2/tickets/1").is_some());
        assert!(faults.take("PUT", "/api/v2/tickets/1").is_some());
        assert!(faults.take("PUT", "/api/v2/tickets/1").is_none());
    }
}
