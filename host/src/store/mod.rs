//! The gateway's durable state: the inbox of notifications ([`inbox`], written with group
//! commit by [`group_commit`]), the audit trail ([`audit`]), the catch-up sweep's
//! cursors ([`sweep`]), the operators' Listening/Live switches ([`overrides`]), the
//! replicas' heartbeats ([`fleet`]) and, for a fleet, the shared Zendesk quota
//! ([`quota`]): in one SQLite database on one machine, or in one PostgreSQL database
//! that several replicas share ([`postgres`]). [`Database`] opens either behind the same
//! traits. [`Inbox`] is what the pipeline uses: the store, its writer and the count of
//! tickets waiting, kept together so that nothing else keeps the count by hand.
//! [`report`] computes the resolution report over the audit trail (the console and
//! `zendesk-gateway report` both use it).

pub mod audit;
pub mod files;
pub mod fleet;
pub mod group_commit;
pub mod help_center;
pub mod inbox;
pub mod overrides;
pub mod postgres;
pub mod quota;
pub mod report;
pub mod retention;
#[cfg(test)]
mod suite;
pub mod sweep;

use audit::AuditRecord;
use group_commit::InboxWriter;
use inbox::{Claimed, DeadLetter, Enqueued, Finish, InboxStore, InboxSummary, Notification};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Every store of one database, behind its traits.
pub struct Database {
    /// The inbox.
    pub inbox: Arc<dyn inbox::InboxStore>,
    /// The audit trail.
    pub audit: Arc<audit::AuditLog>,
    /// The replicas' heartbeats.
    pub fleet: Arc<dyn fleet::FleetStore>,
    /// The catch-up sweep's cursors.
    pub sweep: Arc<sweep::SweepCursors>,
    /// The operators' Listening/Live switches.
    pub overrides: Arc<overrides::OverrideStore>,
    /// The Zendesk quota shared by the fleet; `None` on one machine, whose clients'
    /// own limiters are exact.
    pub quota: Option<Arc<dyn quota::SharedQuota>>,
    /// Where it is, for messages (a file path, or the URL without its password).
    pub shown: String,
}

impl Database {
    /// The SQLite database at `path` (blocking).
    pub fn sqlite(path: &std::path::Path, fsync: bool) -> anyhow::Result<Database> {
        let store = Arc::new(inbox::SqliteInbox::open(path, fsync)?);
        Ok(Database {
            inbox: store.clone(),
            audit: Arc::new(audit::AuditLog::open(path)?),
            fleet: store,
            sweep: Arc::new(sweep::SweepCursors::open(path)?),
            overrides: Arc::new(overrides::OverrideStore::open(path)?),
            quota: None,
            shown: path.display().to_string(),
        })
    }

    /// The PostgreSQL database at `url` (blocking: connects and migrates), for replica
    /// `replica`, with up to `connections` connections.
    pub fn postgres(
        url: &str,
        tls: bool,
        replica: &str,
        connections: usize,
    ) -> anyhow::Result<Database> {
        let target = postgres::PgTarget::parse(url, tls)?;
        let shown = target.shown().to_string();
        let store = postgres::PgStore::open(target, replica, connections)?;
        Ok(Database {
            inbox: Arc::new(store.clone()),
            audit: Arc::new(audit::AuditLog::new(Box::new(store.clone()))),
            fleet: Arc::new(store.clone()),
            sweep: Arc::new(sweep::SweepCursors::new(Box::new(store.clone()))),
            overrides: Arc::new(overrides::OverrideStore::new(Box::new(store.clone()))),
            quota: Some(Arc::new(store)),
            shown,
        })
    }
}

/// The inbox as the pipeline sees it. Every database call runs off the async threads.
pub struct Inbox {
    store: Arc<dyn InboxStore>,
    writer: InboxWriter,
    /// Tickets waiting or running, kept in memory so that the backpressure check costs
    /// no database query per notification. With replicas sharing the inbox, each one
    /// counts only what it did, so [`Inbox::resync`] sets it from the database now and
    /// then.
    waiting: AtomicI64,
    /// Why the last write failed, until a write succeeds again: `/readyz` reports it,
    /// since with a full disk or a locked database nothing can be accepted.
    last_failure: std::sync::Mutex<Option<String>>,
    lease: Duration,
}

impl Inbox {
    /// Wraps `store` (blocking: reads how many tickets wait) and starts its group-commit
    /// writer. Claims are leased for `lease`.
    pub fn open(store: Arc<dyn InboxStore>, lease: Duration) -> anyhow::Result<Inbox> {
        let waiting = store.depth()? as i64;
        let writer = InboxWriter::spawn(store.clone())
            .map_err(|e| anyhow::anyhow!("cannot start the inbox writer thread: {e}"))?;
        Ok(Inbox {
            store,
            writer,
            waiting: AtomicI64::new(waiting),
            lease: lease.max(Duration::from_millis(300)),
            last_failure: std::sync::Mutex::new(None),
        })
    }

    /// Why the inbox cannot be written, if its last write (an enqueue, or the end of a
    /// run) failed and none has succeeded since.
    pub fn health_problem(&self) -> Option<String> {
        self.last_failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Notes how a write went, for [`Inbox::health_problem`].
    fn note_write<T, E: std::fmt::Display>(&self, result: &Result<T, E>) {
        let mut last = self.last_failure.lock().unwrap_or_else(|p| p.into_inner());
        match result {
            Ok(_) if last.is_some() => *last = None,
            Ok(_) => {}
            Err(e) => *last = Some(format!("the inbox cannot be written: {e:#}")),
        }
    }

    /// Sets the count of tickets waiting from the database (blocking).
    pub fn resync(&self) -> anyhow::Result<()> {
        self.waiting
            .store(self.store.depth()? as i64, Ordering::Relaxed);
        Ok(())
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
        let result = self.writer.enqueue(n).await;
        self.note_write(&result);
        let enqueued = result?;
        if enqueued == Enqueued::New {
            self.waiting.fetch_add(1, Ordering::Relaxed);
        }
        Ok(enqueued)
    }

    /// How long a claim holds a ticket without renewal (`gateway.lease_secs`). A worker
    /// renews it every third of that while its run lives, and stops the run before the
    /// lease runs out if it cannot; a claim whose worker stopped renewing is rescued by
    /// the next claim, on any replica, after it runs out.
    pub fn lease(&self) -> Duration {
        self.lease
    }

    /// Takes the next due ticket (or one whose lease ran out), leased for [`Self::lease`].
    pub async fn claim(&self, now_ms: i64) -> anyhow::Result<Option<Claimed>> {
        let store = self.store.clone();
        let until = now_ms + self.lease.as_millis() as i64;
        tokio::task::spawn_blocking(move || store.claim_leased(now_ms, until)).await?
    }

    /// Extends a claim's lease; `false` when the claim was lost.
    pub async fn renew(&self, c: &Claimed, now_ms: i64) -> anyhow::Result<bool> {
        let store = self.store.clone();
        let c = c.clone();
        let until = now_ms + self.lease.as_millis() as i64;
        tokio::task::spawn_blocking(move || store.renew(&c, until)).await?
    }

    /// Records the update a run is about to send, before it is sent.
    pub async fn record_intent(&self, c: &Claimed, intent: String) -> anyhow::Result<()> {
        let store = self.store.clone();
        let c = c.clone();
        tokio::task::spawn_blocking(move || store.record_intent(&c, &intent)).await?
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

    /// Ends a claim and appends its audit record in one transaction (blocking: call off
    /// the async threads).
    pub fn finish_blocking(
        &self,
        c: &Claimed,
        how: &Finish,
        record: &AuditRecord,
        now_ms: i64,
    ) -> anyhow::Result<()> {
        let result = self.store.finish(c, how, Some(record), now_ms);
        self.note_write(&result.as_ref().map_err(|e| format!("{e:#}")));
        if result? {
            self.waiting.fetch_sub(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// The dead letters, oldest first.
    pub async fn dead_letters(&self) -> anyhow::Result<Vec<DeadLetter>> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || store.dead_letters()).await?
    }

    /// Makes a dead letter due again; `false` when there is none for the ticket.
    pub async fn revive(
        &self,
        environment: &str,
        ticket_id: u64,
        now_ms: i64,
    ) -> anyhow::Result<bool> {
        let store = self.store.clone();
        let env = environment.to_string();
        let revived =
            tokio::task::spawn_blocking(move || store.revive(&env, ticket_id, now_ms)).await??;
        if revived {
            self.waiting.fetch_add(1, Ordering::Relaxed);
        }
        Ok(revived)
    }

    /// Forgets a dead letter that an operator handed to humans; `false` when there is none.
    pub async fn discard_dead(&self, environment: &str, ticket_id: u64) -> anyhow::Result<bool> {
        let store = self.store.clone();
        let env = environment.to_string();
        tokio::task::spawn_blocking(move || store.discard_dead(&env, ticket_id)).await?
    }

    /// How many tickets are in each state.
    pub async fn summary(&self, now_ms: i64) -> anyhow::Result<InboxSummary> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || store.summary(now_ms)).await?
    }
}
