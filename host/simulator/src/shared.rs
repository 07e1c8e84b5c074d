//! What the HTTP handlers and the delivery task share: the state behind its mutex, and
//! the guard that hands triggered webhook calls to the delivery task on unlock.

use std::sync::{Mutex, MutexGuard};

use tokio::sync::mpsc;

use crate::config::WebhookPolicy;
use crate::rules::Delivery;
use crate::state::State;

/// What the HTTP handlers share: the mutable state behind a std mutex (never held
/// across an await) and the fixed facts of this instance.
pub(crate) struct Shared {
    pub(crate) state: Mutex<State>,
    pub(crate) base_url: String,
    /// How webhooks are called (timeout, retries, breaker).
    pub(crate) webhooks: WebhookPolicy,
    /// Webhook calls go to the delivery task, off the request path.
    pub(crate) deliveries: mpsc::UnboundedSender<Delivery>,
}

/// The locked state. When it is released, the webhook calls that triggers decided
/// meanwhile are handed to the delivery task, so every path that changes a ticket
/// (API, admin API, the `Simulator` methods) calls webhooks without further code.
pub(crate) struct StateGuard<'a> {
    guard: MutexGuard<'a, State>,
    deliveries: &'a mpsc::UnboundedSender<Delivery>,
}

impl std::ops::Deref for StateGuard<'_> {
    type Target = State;
    fn deref(&self) -> &State {
        &self.guard
    }
}

impl std::ops::DerefMut for StateGuard<'_> {
    fn deref_mut(&mut self) -> &mut State {
        &mut self.guard
    }
}

impl Drop for StateGuard<'_> {
    fn drop(&mut self) {
        for d in self.guard.outbox.drain(..) {
            // The delivery task is gone only when the simulator is shutting down.
            let _ = self.deliveries.send(d);
        }
    }
}

impl Shared {
    /// Locks the state (never hold it across an await).
    pub(crate) fn lock(&self) -> StateGuard<'_> {
        // A panic while holding the lock (a bug in a handler) must not wedge every
        // later test request; the state is still consistent enough to read.
        StateGuard {
            guard: self.state.lock().unwrap_or_else(|e| e.into_inner()),
            deliveries: &self.deliveries,
        }
    }
}
