//! The durable inbox: a notification is stored here before Zendesk gets its 2xx, so a
//! crash loses nothing that was accepted. One row per (environment, ticket): a second
//! notification for a ticket that is waiting or running only marks it as owing one more
//! run, which gives per-ticket order and coalescing for free.
//!
//! A claim is a lease: the worker renews it while the run lives, and a claim whose lease
//! ran out (a worker that hung, or a bookkeeping write that kept failing) is rescued by
//! the next claim, as River's rescuer does. The end of a run and its audit record are
//! one transaction. A ticket that kept failing for passing reasons and whose hand-off
//! could not be written either becomes a dead letter: kept, visible, retryable.
//!
//! SQLite by default (embedded, real, inspectable with the `sqlite3` shell). The
//! [`InboxStore`] trait is the seam where a server database lets several gateway
//! replicas share one inbox.

use super::audit::{self, AuditRecord};
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

/// A ticket taken from the inbox by a worker. Until it is finished, rescheduled or its
/// lease runs out, no other worker can take the same ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    /// What to run.
    pub notification: Notification,
    /// Earlier attempts that ended in "try again later".
    pub attempts: u32,
    /// This claim's identity: renewing and finishing check it, so a worker whose lease
    /// was rescued cannot finish someone else's claim.
    pub claim_id: i64,
    /// When the ticket's first passing failure happened (ms since the epoch), if any.
    pub first_failure_at_ms: Option<i64>,
    /// The update an earlier run was about to send when it stopped (JSON), if any: it
    /// may have reached Zendesk, and is settled before anything else is done.
    pub intent: Option<String>,
    /// When the notification this run answers arrived (ms since the epoch): the oldest
    /// one still owed, so the time to first response counts retries and queueing.
    pub received_at_ms: i64,
}

/// What storing a notification did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    /// A new entry.
    New,
    /// The ticket was already waiting or running; it now owes (at most) one more run.
    Coalesced,
}

/// How a claimed run ended, for the inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finish {
    /// Done: forget the ticket, unless another notification came in meanwhile.
    Done,
    /// A passing failure: run it again at this time (ms since the epoch). A recorded
    /// intent is kept: the update may have landed though its answer was lost.
    RetryAt {
        /// When.
        at_ms: i64,
        /// Why, for the operator.
        reason: String,
    },
    /// Given up and not even handed off: keep it as a dead letter.
    Dead {
        /// Why.
        reason: String,
    },
}

/// A ticket kept as a dead letter.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeadLetter {
    /// The environment.
    pub environment: String,
    /// The ticket.
    pub ticket_id: u64,
    /// The endpoint it came in on.
    pub endpoint: String,
    /// Attempts made.
    pub attempts: u32,
    /// Why it was given up.
    pub reason: String,
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
    /// Takes the next due ticket that is not running (or whose lease ran out), leased
    /// until `lease_until_ms`.
    fn claim_leased(&self, now_ms: i64, lease_until_ms: i64) -> anyhow::Result<Option<Claimed>>;
    /// Takes the next due ticket with a lease of a minute (for callers that finish fast).
    fn claim(&self, now_ms: i64) -> anyhow::Result<Option<Claimed>> {
        self.claim_leased(now_ms, now_ms + 60_000)
    }
    /// Extends the lease of a claim still held; `false` when it was lost (rescued).
    fn renew(&self, c: &Claimed, lease_until_ms: i64) -> anyhow::Result<bool>;
    /// Records the update a run is about to send, before it is sent.
    fn record_intent(&self, c: &Claimed, intent: &str) -> anyhow::Result<()>;
    /// Ends a claim and appends its audit record, in one transaction. Returns `true`
    /// when the ticket no longer waits (done and nothing owed, or dead).
    fn finish(
        &self,
        c: &Claimed,
        how: &Finish,
        record: Option<&AuditRecord>,
        now_ms: i64,
    ) -> anyhow::Result<bool>;
    /// The run of a claimed ticket finished: forget it, unless another notification
    /// came in meanwhile. Returns `true` when the entry is gone.
    fn complete(&self, c: &Claimed) -> anyhow::Result<bool> {
        self.finish(c, &Finish::Done, None, 0)
    }
    /// The run could not finish for a passing reason: run it again at `at_ms`.
    fn retry_at(&self, c: &Claimed, at_ms: i64, reason: &str) -> anyhow::Result<()> {
        let how = Finish::RetryAt {
            at_ms,
            reason: reason.to_string(),
        };
        self.finish(c, &how, None, at_ms).map(drop)
    }
    /// Tickets waiting or running (dead letters not included).
    fn depth(&self) -> anyhow::Result<usize>;
    /// Whether a ticket of an environment is in the inbox: waiting, running, or a dead
    /// letter (left for a human).
    fn holds(&self, environment: &str, ticket_id: u64) -> anyhow::Result<bool>;
    /// The earliest time a waiting ticket becomes due or a lease runs out, if any.
    fn next_due(&self) -> anyhow::Result<Option<i64>>;
    /// At start-up: runs that were in progress when the process died are owed again.
    fn recover(&self) -> anyhow::Result<usize>;
    /// The dead letters, oldest first.
    fn dead_letters(&self) -> anyhow::Result<Vec<DeadLetter>>;
    /// Makes a dead letter due again; `false` when there is no such dead letter.
    fn revive(&self, environment: &str, ticket_id: u64, now_ms: i64) -> anyhow::Result<bool>;
    /// Forgets a dead letter (an operator handed it to humans); `false` when there is
    /// no such dead letter.
    fn discard_dead(&self, environment: &str, ticket_id: u64) -> anyhow::Result<bool>;
    /// How many tickets are in each state, for the console.
    fn summary(&self, now_ms: i64) -> anyhow::Result<InboxSummary>;
}

/// How many tickets are in each state of the inbox.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct InboxSummary {
    /// Waiting or running (dead letters not included): the inbox's depth.
    pub depth: usize,
    /// Held by a worker now.
    pub running: usize,
    /// Waiting for a retry after a passing failure (due later).
    pub waiting_for_retry: usize,
    /// Due now, waiting for a free worker.
    pub due: usize,
    /// Dead letters.
    pub dead: usize,
}

/// The SQLite inbox.
pub struct SqliteInbox {
    conn: Mutex<Connection>,
}

/// The inbox's schema, one step per version (`PRAGMA user_version`): a database is
/// brought up to date at open, step by step, inside one transaction per step.
const MIGRATIONS: &[&str] = &[
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
    "ALTER TABLE inbox ADD COLUMN lease_until INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE inbox ADD COLUMN claim_id INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE inbox ADD COLUMN dead INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE inbox ADD COLUMN first_failure_at INTEGER;
     ALTER TABLE inbox ADD COLUMN intent TEXT;",
    // The arrival of the notification each run answers, for the time to first response
    // (`store::report`); the audit table itself is created before the steps run.
    "ALTER TABLE audit ADD COLUMN received_at TEXT;
     CREATE INDEX IF NOT EXISTS audit_at ON audit (at);",
    // Operators' Listening/Live switches (the console), kept over the config's modes,
    // and who changed what when.
    "CREATE TABLE IF NOT EXISTS mode_overrides (
        kind TEXT NOT NULL,     -- 'brand' or 'endpoint'
        name TEXT NOT NULL,
        mode TEXT NOT NULL,     -- 'listening' or 'live'
        set_by TEXT NOT NULL,
        set_at TEXT NOT NULL,   -- RFC 3339
        PRIMARY KEY (kind, name)
    );
    CREATE TABLE IF NOT EXISTS mode_override_history (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL, name TEXT NOT NULL,
        mode TEXT,              -- NULL: back to the config
        set_by TEXT NOT NULL, set_at TEXT NOT NULL
    );",
    // The Help Center sync (`store::help_center`): per brand the incremental export's
    // cursor and the articles indexed, so a restart indexes at once and resumes.
    // IF NOT EXISTS: a database written by a build that created these tables at open
    // keeps its rows.
    "CREATE TABLE IF NOT EXISTS help_center_sync (
        brand      TEXT PRIMARY KEY,
        config_key TEXT NOT NULL,
        cursor     INTEGER NOT NULL,
        synced_at  INTEGER NOT NULL
    );
    CREATE TABLE IF NOT EXISTS help_center_articles (
        brand TEXT NOT NULL,
        id    INTEGER NOT NULL,
        title TEXT NOT NULL,
        url   TEXT NOT NULL,
        body  TEXT NOT NULL,
        PRIMARY KEY (brand, id)
    );",
    // When each run began, so that the audit shows no two runs of a ticket overlapped
    // (with `at`, when it ended), across replicas too.
    "ALTER TABLE audit ADD COLUMN started_at TEXT NOT NULL DEFAULT '';",
    // One machine is a fleet of one, but it heartbeats all the same: /admin/plugins
    // reads the versions served from here whichever database keeps them.
    "CREATE TABLE IF NOT EXISTS replicas (
        replica_id TEXT PRIMARY KEY,
        started_at INTEGER NOT NULL,
        last_seen  INTEGER NOT NULL,
        versions   TEXT NOT NULL
    );",
];

/// Brings the schema at `conn` up to date (see [`MIGRATIONS`]). The audit table is
/// created first: later steps change it. Every opener of the database calls this, so a
/// database written by an older gateway is read correctly by any command. The IMMEDIATE
/// transaction takes the file's write lock first, so two processes opening one file
/// together apply each step once.
pub(crate) fn migrate(conn: &mut Connection) -> anyhow::Result<()> {
    audit::create_table(conn)?;
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    for (i, step) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        tx.execute_batch(step)
            .with_context(|| format!("inbox schema step {}", i + 1))?;
    }
    anyhow::ensure!(
        version as usize <= MIGRATIONS.len(),
        "the database's schema is version {version}, newer than this gateway's {}: \
         run the newer gateway, or restore a backup",
        MIGRATIONS.len()
    );
    tx.pragma_update(None, "user_version", MIGRATIONS.len() as i64)?;
    tx.commit()?;
    Ok(())
}

impl SqliteInbox {
    /// Opens (creating if needed) the inbox database at `path`. With `fsync` every
    /// commit reaches the disk (survives power loss); without it a commit survives a
    /// process crash (WAL with `synchronous=NORMAL`), at a fraction of the cost.
    pub fn open(path: &Path, fsync: bool) -> anyhow::Result<Self> {
        let mut conn = Connection::open(path)
            .with_context(|| format!("cannot open the inbox database {}", path.display()))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", if fsync { "FULL" } else { "NORMAL" })?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        migrate(&mut conn).context("cannot create or update the inbox table")?;
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

/// Stores one notification on `conn` (inside the caller's transaction, if any). A
/// notification for a dead letter revives it: the customer wrote again.
fn store_one(conn: &Connection, n: &Notification, now_ms: i64) -> anyhow::Result<Enqueued> {
    let existed: bool = conn
        .prepare_cached(
            "SELECT 1 FROM inbox WHERE environment = ?1 AND ticket_id = ?2 AND dead = 0",
        )?
        .query_row(params![n.environment, n.ticket_id as i64], |_| Ok(()))
        .optional()?
        .is_some();
    conn.prepare_cached(
        "INSERT INTO inbox (environment, ticket_id, endpoint, owed, running, due_at, received_at)
         VALUES (?1, ?2, ?3, 1, 0, ?4, ?4)
         ON CONFLICT (environment, ticket_id) DO UPDATE SET owed = 1, endpoint = excluded.endpoint,
             due_at = CASE WHEN dead = 1 THEN excluded.due_at ELSE due_at END,
             attempts = CASE WHEN dead = 1 THEN 0 ELSE attempts END,
             first_failure_at = CASE WHEN dead = 1 THEN NULL ELSE first_failure_at END,
             -- A ticket already waiting keeps its oldest arrival (the customer has been
             -- waiting since then); one that is running (its claim has read its own
             -- arrival) or dead starts a new wait with this notification.
             received_at = CASE WHEN running = 1 OR dead = 1 OR owed = 0
                                THEN excluded.received_at ELSE received_at END,
             dead = 0",
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

    fn claim_leased(&self, now_ms: i64, lease_until_ms: i64) -> anyhow::Result<Option<Claimed>> {
        let conn = self.conn();
        let claim_id: i64 = rand::random::<i64>().wrapping_abs().max(1);
        // Due and free, or held by a lease that ran out (rescued: that run is owed again).
        let row = conn
            .query_row(
                "UPDATE inbox SET running = 1, owed = 0, lease_until = ?2, claim_id = ?3
                 WHERE rowid = (SELECT rowid FROM inbox
                                WHERE dead = 0 AND ((owed = 1 AND running = 0 AND due_at <= ?1)
                                                    OR (running = 1 AND lease_until < ?1))
                                ORDER BY due_at LIMIT 1)
                 RETURNING environment, ticket_id, endpoint, attempts, first_failure_at, intent,
                           received_at",
                params![now_ms, lease_until_ms, claim_id],
                |r| {
                    Ok(Claimed {
                        notification: Notification {
                            environment: r.get(0)?,
                            ticket_id: r.get::<_, i64>(1)? as u64,
                            endpoint: r.get(2)?,
                        },
                        attempts: r.get::<_, i64>(3)? as u32,
                        claim_id,
                        first_failure_at_ms: r.get(4)?,
                        intent: r.get(5)?,
                        received_at_ms: r.get(6)?,
                    })
                },
            )
            .optional()?;
        Ok(row)
    }

    fn renew(&self, c: &Claimed, lease_until_ms: i64) -> anyhow::Result<bool> {
        let n = &c.notification;
        let changed = self.conn().execute(
            "UPDATE inbox SET lease_until = ?4
             WHERE environment = ?1 AND ticket_id = ?2 AND claim_id = ?3 AND running = 1",
            params![
                n.environment,
                n.ticket_id as i64,
                c.claim_id,
                lease_until_ms
            ],
        )?;
        Ok(changed > 0)
    }

    fn record_intent(&self, c: &Claimed, intent: &str) -> anyhow::Result<()> {
        let n = &c.notification;
        self.conn().execute(
            "UPDATE inbox SET intent = ?4
             WHERE environment = ?1 AND ticket_id = ?2 AND claim_id = ?3",
            params![n.environment, n.ticket_id as i64, c.claim_id, intent],
        )?;
        Ok(())
    }

    fn finish(
        &self,
        c: &Claimed,
        how: &Finish,
        record: Option<&AuditRecord>,
        now_ms: i64,
    ) -> anyhow::Result<bool> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let n = &c.notification;
        let key = params![n.environment, n.ticket_id as i64, c.claim_id];
        let gone =
            match how {
                Finish::Done => {
                    let deleted = tx.execute(
                    "DELETE FROM inbox WHERE environment = ?1 AND ticket_id = ?2 AND claim_id = ?3
                       AND owed = 0",
                    key,
                )?;
                    // Still there: a notification arrived during the run; one more run is owed.
                    tx.execute(
                        "UPDATE inbox SET running = 0, attempts = 0, first_failure_at = NULL,
                         intent = NULL, lease_until = 0
                     WHERE environment = ?1 AND ticket_id = ?2 AND claim_id = ?3",
                        key,
                    )?;
                    deleted > 0
                }
                Finish::RetryAt { at_ms, reason } => {
                    tx.execute(
                    "UPDATE inbox SET running = 0, owed = 1, attempts = attempts + 1, due_at = ?4,
                         last_error = ?5, first_failure_at = COALESCE(first_failure_at, ?6),
                         lease_until = 0
                     WHERE environment = ?1 AND ticket_id = ?2 AND claim_id = ?3",
                    params![n.environment, n.ticket_id as i64, c.claim_id, at_ms, reason, now_ms],
                )?;
                    false
                }
                Finish::Dead { reason } => {
                    let changed = tx.execute(
                        "UPDATE inbox SET running = 0, owed = 0, dead = 1, last_error = ?4,
                         intent = NULL, lease_until = 0
                     WHERE environment = ?1 AND ticket_id = ?2 AND claim_id = ?3",
                        params![n.environment, n.ticket_id as i64, c.claim_id, reason],
                    )?;
                    changed > 0
                }
            };
        if let Some(r) = record {
            audit::insert(&tx, r)?;
        }
        tx.commit()?;
        Ok(gone)
    }

    fn depth(&self) -> anyhow::Result<usize> {
        let n: i64 =
            self.conn()
                .query_row("SELECT COUNT(*) FROM inbox WHERE dead = 0", [], |r| {
                    r.get(0)
                })?;
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
            "SELECT MIN(t) FROM (
                 SELECT MIN(due_at) AS t FROM inbox WHERE owed = 1 AND running = 0 AND dead = 0
                 UNION ALL
                 SELECT MIN(lease_until) + 1 FROM inbox WHERE running = 1 AND dead = 0)",
            [],
            |r| r.get::<_, Option<i64>>(0),
        )?)
    }

    fn recover(&self) -> anyhow::Result<usize> {
        let n = self.conn().execute(
            "UPDATE inbox SET running = 0, owed = 1, lease_until = 0 WHERE running = 1",
            [],
        )?;
        Ok(n)
    }

    fn dead_letters(&self) -> anyhow::Result<Vec<DeadLetter>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT environment, ticket_id, endpoint, attempts, COALESCE(last_error, '')
             FROM inbox WHERE dead = 1 ORDER BY due_at",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(DeadLetter {
                environment: r.get(0)?,
                ticket_id: r.get::<_, i64>(1)? as u64,
                endpoint: r.get(2)?,
                attempts: r.get::<_, i64>(3)? as u32,
                reason: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn revive(&self, environment: &str, ticket_id: u64, now_ms: i64) -> anyhow::Result<bool> {
        let changed = self.conn().execute(
            "UPDATE inbox SET dead = 0, owed = 1, running = 0, attempts = 0,
                 first_failure_at = NULL, due_at = ?3
             WHERE environment = ?1 AND ticket_id = ?2 AND dead = 1",
            params![environment, ticket_id as i64, now_ms],
        )?;
        Ok(changed > 0)
    }

    fn discard_dead(&self, environment: &str, ticket_id: u64) -> anyhow::Result<bool> {
        let changed = self.conn().execute(
            "DELETE FROM inbox WHERE environment = ?1 AND ticket_id = ?2 AND dead = 1",
            params![environment, ticket_id as i64],
        )?;
        Ok(changed > 0)
    }

    fn summary(&self, now_ms: i64) -> anyhow::Result<InboxSummary> {
        let conn = self.conn();
        let row = conn.query_row(
            "SELECT COALESCE(SUM(dead = 0), 0),
                    COALESCE(SUM(dead = 0 AND running = 1), 0),
                    COALESCE(SUM(dead = 0 AND running = 0 AND owed = 1 AND due_at > ?1), 0),
                    COALESCE(SUM(dead = 0 AND running = 0 AND owed = 1 AND due_at <= ?1), 0),
                    COALESCE(SUM(dead = 1), 0)
             FROM inbox",
            params![now_ms],
            |r| {
                Ok(InboxSummary {
                    depth: r.get::<_, i64>(0)? as usize,
                    running: r.get::<_, i64>(1)? as usize,
                    waiting_for_retry: r.get::<_, i64>(2)? as usize,
                    due: r.get::<_, i64>(3)? as usize,
                    dead: r.get::<_, i64>(4)? as usize,
                })
            },
        )?;
        Ok(row)
    }
}

impl super::fleet::FleetStore for SqliteInbox {
    fn heartbeat(&self, r: &super::fleet::ReplicaInfo) -> anyhow::Result<()> {
        self.conn().execute(
            "INSERT INTO replicas (replica_id, started_at, last_seen, versions)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (replica_id) DO UPDATE SET started_at = excluded.started_at,
                 last_seen = excluded.last_seen, versions = excluded.versions",
            params![
                r.replica_id,
                r.started_at_ms,
                r.last_seen_ms,
                serde_json::to_string(&r.versions)?
            ],
        )?;
        Ok(())
    }

    fn replicas(&self, since_ms: i64) -> anyhow::Result<Vec<super::fleet::ReplicaInfo>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT replica_id, started_at, last_seen, versions FROM replicas
             WHERE last_seen >= ?1 ORDER BY replica_id",
        )?;
        let rows = stmt.query_map(params![since_ms], |r| {
            let versions: String = r.get(3)?;
            Ok(super::fleet::ReplicaInfo {
                replica_id: r.get(0)?,
                started_at_ms: r.get(1)?,
                last_seen_ms: r.get(2)?,
                versions: serde_json::from_str(&versions).unwrap_or_default(),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
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
    fn survives_reopen_and_recovers_running() {
        let dir = std::env::temp_dir().join(format!(
            "inbox-test-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("inbox.db");
        let note = Notification {
            environment: "prod".into(),
            ticket_id: 5,
            endpoint: "ep".into(),
        };
        {
            let inbox = SqliteInbox::open(&path, true).unwrap();
            inbox.enqueue(&note, 0).unwrap();
            inbox.claim(0).unwrap().unwrap();
        }
        let inbox = SqliteInbox::open(&path, false).unwrap();
        assert!(inbox.claim(0).unwrap().is_none());
        assert_eq!(inbox.recover().unwrap(), 1);
        assert_eq!(inbox.claim(0).unwrap().unwrap().notification.ticket_id, 5);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_database_of_the_previous_schema_is_brought_up_to_date() {
        let dir = tempdir();
        let path = dir.join("gateway.db");
        {
            // As the gateway before the console left it: two steps, the old audit table.
            let conn = Connection::open(&path).unwrap();
            audit::create_table(&conn).unwrap();
            conn.execute_batch(MIGRATIONS[0]).unwrap();
            conn.execute_batch(MIGRATIONS[1]).unwrap();
            conn.pragma_update(None, "user_version", 2).unwrap();
            conn.execute(
                "INSERT INTO audit (at, ticket_id, brand, environment, endpoint, mode,
                    plugin_version, outcome, reason, staged, committed, duration_ms)
                 VALUES ('2024-05-01T00:00:00.000Z', 9, 'b', 'prod', 'ep', 'live', 'v1',
                    'handled', 'ok', '{}', NULL, 5)",
                [],
            )
            .unwrap();
        }
        // `audit` alone (the CLI) opens it first.
        let log = super::super::audit::AuditLog::open(&path).unwrap();
        let old = log.query(Some(9), 10).unwrap();
        assert_eq!((old.len(), old[0].received_at.clone()), (1, None));
        let inbox = SqliteInbox::open(&path, false).unwrap();
        inbox.enqueue(&note(9), 7).unwrap();
        assert_eq!(inbox.claim(7).unwrap().unwrap().received_at_ms, 7);
        let store = super::super::overrides::OverrideStore::open(&path).unwrap();
        assert!(store.load().unwrap().is_empty());
        let _ = std::fs::remove_dir_all(dir);
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
