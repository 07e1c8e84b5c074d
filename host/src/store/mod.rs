//! The gateway's durable state: the inbox of notifications ([`inbox`], written with group
//! commit by [`group_commit`]), the audit trail ([`audit`]) and the catch-up sweep's
//! cursors ([`sweep`]), in one SQLite database.
//! [`Inbox`] is what the pipeline uses: the store, its writer and the count of tickets
//! waiting, kept together so that nothing else keeps the count by hand.

pub mod audit;
pub mod group_commit;
pub mod inbox;
pub mod sweep;

use group_commit::InboxWriter;
use inbox::{Claimed, Enqueued, InboxStore, Notification};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// The inbox as the pipeline sees it. Every database call runs off the async threads.
pub struct Inbox {
    store: Arc<dyn InboxStore>,
    writer: InboxWriter,
    /// Tickets waiting or running, kept in memory so that the backpressure check costs
    /// no database query per notification.
    waiting: AtomicI64,
}

impl Inbox {
    /// Wraps `store`: starts its group-commit writer and reads how many tickets wait.
    pub fn open(store: Arc<dyn InboxStore>) -> anyhow::Result<Inbox> {
        let waiting = store.depth()? as i64;
        let writer = InboxWriter::spawn(store.clone())
            .map_err(|e| anyhow::anyhow!("cannot start the inbox writer thread: {e}"))?;
        Ok(Inbox {
            store,
            writer,
            waiting: AtomicI64::new(waiting),
        })
    }

    /// The store itself.
    pub fn store(&self) -> &Arc<dyn InboxStore> {
        &self.store
    }

    /// Tickets waiting or running, as counted in memory.
    pub fn waiting(&self) -> i64 {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Tickets waiting or running, asked of the database.
    pub fn depth(&self) -> anyhow::Result<usize> {
        self.store.depth()
    }

    /// Stores `n` durably (group commit); returns once committed.
    pub async fn enqueue(&self, n: Notification) -> Result<Enqueued, String> {
        let enqueued = self.writer.enqueue(n).await?;
        if enqueued == Enqueued::New {
            self.waiting.fetch_add(1, Ordering::Relaxed);
        }
        Ok(enqueued)
    }

    /// Takes the next due ticket that is not running, if any.
    pub async fn claim(&self, now_ms: i64) -> anyhow::Result<Option<Claimed>> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || store.claim(now_ms)).await?
    }

    /// The earliest time a waiting ticket becomes due, if any is waiting.
    pub async fn next_due(&self) -> anyhow::Result<Option<i64>> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || store.next_due()).await?
    }

    /// Whether `ticket_id` of `environment` is waiting or running in the inbox.
    pub async fn holds(&self, environment: &str, ticket_id: u64) -> anyhow::Result<bool> {
        let store = self.store.clone();
        let environment = environment.to_string();
        tokio::task::spawn_blocking(move || store.holds(&environment, ticket_id)).await?
    }

    /// The run of `c` finished (blocking: call off the async threads).
    pub fn complete_blocking(&self, c: &Claimed) -> anyhow::Result<()> {
        if self.store.complete(c)? {
            self.waiting.fetch_sub(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// The run of `c` meets a passing failure: again at `at_ms` (blocking).
    pub fn retry_blocking(&self, c: &Claimed, at_ms: i64, reason: &str) -> anyhow::Result<()> {
        self.store.retry_at(c, at_ms, reason)
    }
}
