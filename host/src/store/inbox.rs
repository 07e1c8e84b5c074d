//! The durable inbox: a notification is stored here before Zendesk gets its 2xx, so a
//! crash loses nothing that was accepted. One row per (environment, ticket): a second
//! notification for a ticket that is waiting or running only marks it as owing one more
//! run, which gives per-ticket order and coalescing for free.
//!
//! SQLite by default (embedded, real, inspectable with the `sqlite3` shell). The
//! [`InboxStore`] trait is the seam where a server database could later let several
//! gateway replicas share one inbox.

use anyhow::Context;
use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;
use std::sync::Mutex;

/// A notification to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// The Zendesk environment the ticket lives in.
    pub environment: String,
    /// The ticket.
    pub ticket_id: u64,
    /// The endpoint that received it (decides the brand).
    pub endpoint: String,
}

/// A ticket taken from the inbox by a worker. Until it is completed or rescheduled,
/// no other worker can take the same ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    /// What to run.
    pub notification: Notification,
    /// Earlier attempts that ended in "try again later".
    pub attempts: u32,
}

/// What storing a notification did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    /// A new entry.
    New,
    /// The ticket was already waiting or running; it now owes (at most) one more run.
    Coalesced,
}

/// The inbox's operations. Every method is a short blocking database call; async callers
/// wrap them in `spawn_blocking`.
pub trait InboxStore: Send + Sync {
    /// Stores a notification durably.
    fn enqueue(&self, n: &Notification, now_ms: i64) -> anyhow::Result<Enqueued>;
    /// Stores several notifications durably, all or none (one transaction where the
    /// store has them); the results are in the order of `batch`.
    fn enqueue_batch(&self, batch: &[Notification], now_ms: i64) -> anyhow::Result<Vec<Enqueued>> {
        batch.iter().map(|n| self.enqueue(n, now_ms)).collect()
    }
    /// Takes the next due ticket that is not running, if any.
    fn claim(&self, now_ms: i64) -> anyhow::Result<Option<Claimed>>;
    /// The run of a claimed ticket finished: forget it, unless another notification
    /// came in meanwhile. Returns `true` when the entry is gone.
    fn complete(&self, c: &Claimed) -> anyhow::Result<bool>;
    /// The run could not finish for a passing reason: run it again at `at_ms`.
    fn retry_at(&self, c: &Claimed, at_ms: i64, reason: &str) -> anyhow::Result<()>;
    /// Tickets waiting or running.
    fn depth(&self) -> anyhow::Result<usize>;
    /// Whether a ticket of an environment is waiting or running.
    fn holds(&self, environment: &str, ticket_id: u64) -> anyhow::Result<bool>;
    /// The earliest time a waiting ticket becomes due, if any is waiting.
    fn next_due(&self) -> anyhow::Result<Option<i64>>;
    /// At start-up: runs that were in progress when the process died are owed again.
    fn recover(&self) -> anyhow::Result<usize>;
}

/// The SQLite inbox.
pub struct SqliteInbox {
    conn: Mutex<Connection>,
}

impl SqliteInbox {
    /// Opens (creating if needed) the inbox database at `path`. With `fsync` every
    /// commit reaches the disk (survives power loss); without it a commit survives a
    /// process crash (WAL with `synchronous=NORMAL`), at a fraction of the cost.
    pub fn open(path: &Path, fsync: bool) -> anyhow::Result<Self> {
        let conn = Connection::open(path)
            .with_context(|| format!("cannot open the inbox database {}", path.display()))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", if fsync { "FULL" } else { "NORMAL" })?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS inbox (
                environment TEXT NOT NULL,
                ticket_id   INTEGER NOT NULL,
                endpoint    TEXT NOT NULL,
                owed        INTEGER NOT NULL,   -- 1: a run is owed
                running     INTEGER NOT NULL,   -- 1: a worker holds it
                attempts    INTEGER NOT NULL DEFAULT 0,
                due_at      INTEGER NOT NULL,   -- ms since the epoch
                received_at INTEGER NOT NULL,
                last_error  TEXT,
                PRIMARY KEY (environment, ticket_id)
            );
            CREATE INDEX IF NOT EXISTS inbox_due ON inbox (owed, running, due_at);",
        )
        .context("cannot create the inbox table")?;
        Ok(SqliteInbox {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite half-written (each call is
        // one statement or transaction), so a poisoned lock is still usable.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Stores one notification on `conn` (inside the caller's transaction, if any).
fn store_one(conn: &Connection, n: &Notification, now_ms: i64) -> anyhow::Result<Enqueued> {
    let existed: bool = conn
        .prepare_cached("SELECT 1 FROM inbox WHERE environment = ?1 AND ticket_id = ?2")?
        .query_row(params![n.environment, n.ticket_id as i64], |_| Ok(()))
        .optional()?
        .is_some();
    conn.prepare_cached(
        "INSERT INTO inbox (environment, ticket_id, endpoint, owed, running, due_at, received_at)
         VALUES (?1, ?2, ?3, 1, 0, ?4, ?4)
         ON CONFLICT (environment, ticket_id) DO UPDATE SET owed = 1, endpoint = excluded.endpoint",
    )?
    .execute(params![
        n.environment,
        n.ticket_id as i64,
        n.endpoint,
        now_ms
    ])?;
    Ok(if existed {
        Enqueued::Coalesced
    } else {
        Enqueued::New
    })
}

impl InboxStore for SqliteInbox {
    fn enqueue(&self, n: &Notification, now_ms: i64) -> anyhow::Result<Enqueued> {
        store_one(&self.conn(), n, now_ms)
    }

    fn enqueue_batch(&self, batch: &[Notification], now_ms: i64) -> anyhow::Result<Vec<Enqueued>> {
        let mut conn = self.conn();
        // IMMEDIATE: take the write lock up front. A deferred transaction that reads first
        // would fail at once with SQLITE_BUSY (not wait) if the audit trail, another
        // connection to the same file, committed between its read and its write.
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let results = batch
            .iter()
            .map(|n| store_one(&tx, n, now_ms))
            .collect::<anyhow::Result<Vec<_>>>()?;
        tx.commit()?;
        Ok(results)
    }

    fn claim(&self, now_ms: i64) -> anyhow::Result<Option<Claimed>> {
        let conn = self.conn();
        let row = conn
            .query_row(
                "UPDATE inbox SET running = 1, owed = 0
                 WHERE rowid = (SELECT rowid FROM inbox
                                WHERE owed = 1 AND running = 0 AND due_at <= ?1
                                ORDER BY due_at LIMIT 1)
                 RETURNING environment, ticket_id, endpoint, attempts",
                params![now_ms],
                |r| {
                    Ok(Claimed {
                        notification: Notification {
                            environment: r.get(0)?,
                            ticket_id: r.get::<_, i64>(1)? as u64,
                            endpoint: r.get(2)?,
                        },
                        attempts: r.get::<_, i64>(3)? as u32,
                    })
                },
            )
            .optional()?;
        Ok(row)
    }

    fn complete(&self, c: &Claimed) -> anyhow::Result<bool> {
        let conn = self.conn();
        let n = &c.notification;
        let deleted = conn.execute(
            "DELETE FROM inbox WHERE environment = ?1 AND ticket_id = ?2 AND owed = 0",
            params![n.environment, n.ticket_id as i64],
        )?;
        // Still there: a notification arrived during the run, so one more run is owed.
        conn.execute(
            "UPDATE inbox SET running = 0, attempts = 0 WHERE environment = ?1 AND ticket_id = ?2",
            params![n.environment, n.ticket_id as i64],
        )?;
        Ok(deleted > 0)
    }

    fn retry_at(&self, c: &Claimed, at_ms: i64, reason: &str) -> anyhow::Result<()> {
        let n = &c.notification;
        self.conn().execute(
            "UPDATE inbox SET running = 0, owed = 1, attempts = attempts + 1, due_at = ?3, last_error = ?4
             WHERE environment = ?1 AND ticket_id = ?2",
            params![n.environment, n.ticket_id as i64, at_ms, reason],
        )?;
        Ok(())
    }

    fn depth(&self) -> anyhow::Result<usize> {
        let n: i64 = self
            .conn()
            .query_row("SELECT COUNT(*) FROM inbox", [], |r| r.get(0))?;
        Ok(n as usize)
    }

    fn holds(&self, environment: &str, ticket_id: u64) -> anyhow::Result<bool> {
        let n: i64 = self.conn().query_row(
            "SELECT COUNT(*) FROM inbox WHERE environment = ?1 AND ticket_id = ?2",
            params![environment, ticket_id as i64],
            |r| r.get(0),
        )?;
        Ok(n > 0)
    }

    fn next_due(&self) -> anyhow::Result<Option<i64>> {
        Ok(self.conn().query_row(
            "SELECT MIN(due_at) FROM inbox WHERE owed = 1 AND running = 0",
            [],
            |r| r.get::<_, Option<i64>>(0),
        )?)
    }

    fn recover(&self) -> anyhow::Result<usize> {
        let n = self.conn().execute(
            "UPDATE inbox SET running = 0, owed = 1 WHERE running = 1",
            [],
        )?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(t: u64) -> Notification {
        Notification {
            environment: "prod".into(),
            ticket_id: t,
            endpoint: "ep".into(),
        }
    }

    #[test]
    fn coalesces_and_serialises_per_ticket() {
        let dir = tempdir();
        let inbox = SqliteInbox::open(&dir.join("inbox.db"), false).unwrap();
        assert_eq!(inbox.enqueue(&note(1), 0).unwrap(), Enqueued::New);
        assert_eq!(inbox.enqueue(&note(1), 0).unwrap(), Enqueued::Coalesced);
        let c = inbox.claim(0).unwrap().unwrap();
        // While running, the ticket cannot be claimed again, even with a new notification.
        inbox.enqueue(&note(1), 0).unwrap();
        assert!(inbox.claim(0).unwrap().is_none());
        inbox.complete(&c).unwrap();
        // ...but exactly one more run is owed.
        let c2 = inbox.claim(0).unwrap().unwrap();
        inbox.complete(&c2).unwrap();
        assert!(inbox.claim(0).unwrap().is_none());
        assert_eq!(inbox.depth().unwrap(), 0);
    }

    #[test]
    fn survives_reopen_and_recovers_running() {
        let dir = tempdir();
        let path = dir.join("inbox.db");
        {
            let inbox = SqliteInbox::open(&path, true).unwrap();
            inbox.enqueue(&note(5), 0).unwrap();
            inbox.claim(0).unwrap().unwrap();
        }
        let inbox = SqliteInbox::open(&path, false).unwrap();
        assert!(inbox.claim(0).unwrap().is_none());
        assert_eq!(inbox.recover().unwrap(), 1);
        assert_eq!(inbox.claim(0).unwrap().unwrap().notification.ticket_id, 5);
    }

    #[test]
    fn retry_waits_until_due() {
        let dir = tempdir();
        let inbox = SqliteInbox::open(&dir.join("inbox.db"), false).unwrap();
        inbox.enqueue(&note(2), 0).unwrap();
        let c = inbox.claim(0).unwrap().unwrap();
        inbox.retry_at(&c, 1000, "503").unwrap();
        assert!(inbox.claim(999).unwrap().is_none());
        assert_eq!(inbox.next_due().unwrap(), Some(1000));
        assert_eq!(inbox.claim(1000).unwrap().unwrap().attempts, 1);
    }

    fn tempdir() -> std::path::PathBuf {
        let p = std::env::temp_dir().join(format!(
            "inbox-test-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&p).unwrap();
        p
    }
}
