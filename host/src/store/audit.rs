//! The audit trail: one record per run of a plugin, kept in the gateway's database.
//! It answers "what did the AI do on ticket N, with which plugin version, and why".
//! [`AuditLog`] reads and appends through an [`AuditStore`]: the SQLite file of one
//! machine, or the PostgreSQL database a fleet of replicas shares.

use crate::outcome::Outcome;
use anyhow::Context;
use rusqlite::{params, Connection};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Mutex;

/// One run, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// When the run ended (RFC 3339).
    pub at: String,
    /// When the handling began (RFC 3339, milliseconds); empty in records written
    /// before it was kept. With `at` it shows that no two runs of a ticket overlapped.
    #[serde(default)]
    pub started_at: String,
    /// The ticket.
    pub ticket_id: u64,
    /// The brand.
    pub brand: String,
    /// The environment.
    pub environment: String,
    /// The endpoint that was notified.
    pub endpoint: String,
    /// `listening` or `live`.
    pub mode: String,
    /// The plugin's content hash, or empty if no plugin ran.
    pub plugin_version: String,
    /// What became of the run.
    pub outcome: Outcome,
    /// Why, in words.
    pub reason: String,
    /// What the plugin staged (JSON), before mode and limits were applied.
    pub staged: serde_json::Value,
    /// The update sent to Zendesk (JSON), if any.
    pub committed: Option<serde_json::Value>,
    /// Wall time of the whole handling, in milliseconds.
    pub duration_ms: u64,
    /// When the notification this run answered arrived at the gateway (RFC 3339), if
    /// known (records written before it was kept have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received_at: Option<String>,
}

/// Which records a listing wants.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only this brand.
    pub brand: Option<String>,
    /// Only this outcome.
    pub outcome: Option<Outcome>,
    /// Only this ticket.
    pub ticket_id: Option<u64>,
    /// Only records that ended at or after this time (RFC 3339, UTC).
    pub since: Option<String>,
}

/// A record with its row id (the console's run page is addressed by it).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Numbered {
    /// The row id, increasing with time.
    pub id: i64,
    /// The record.
    #[serde(flatten)]
    pub record: AuditRecord,
}

/// Appends `r` at `conn` (inside the caller's transaction, if any): the inbox writes a
/// run's record in the same transaction that ends the run.
pub(crate) fn insert(conn: &Connection, r: &AuditRecord) -> anyhow::Result<()> {
    conn.prepare_cached(
        "INSERT INTO audit (at, ticket_id, brand, environment, endpoint, mode, plugin_version,
                            outcome, reason, staged, committed, duration_ms, received_at,
                            started_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )?
    .execute(params![
        r.at,
        r.ticket_id as i64,
        r.brand,
        r.environment,
        r.endpoint,
        r.mode,
        r.plugin_version,
        r.outcome.as_str(),
        r.reason,
        r.staged.to_string(),
        r.committed.as_ref().map(|c| c.to_string()),
        r.duration_ms as i64,
        r.received_at,
        r.started_at
    ])?;
    Ok(())
}

/// Creates the audit table at `conn` if needed: the first shape of it, which the inbox's
/// schema steps (`store::inbox::MIGRATIONS`) then change.
pub(crate) fn create_table(conn: &Connection) -> anyhow::Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS audit (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            at TEXT NOT NULL, ticket_id INTEGER NOT NULL, brand TEXT NOT NULL,
            environment TEXT NOT NULL, endpoint TEXT NOT NULL, mode TEXT NOT NULL,
            plugin_version TEXT NOT NULL, outcome TEXT NOT NULL, reason TEXT NOT NULL,
            staged TEXT NOT NULL, committed TEXT, duration_ms INTEGER NOT NULL
        );
        CREATE INDEX IF NOT EXISTS audit_ticket ON audit (ticket_id);",
    )
    .context("cannot create the audit table")
}

/// Where audit records are kept: blocking calls, made off the async threads. The SQLite
/// file of one machine ([`SqliteAudit`]) or the PostgreSQL database of a fleet.
pub trait AuditStore: Send + Sync {
    /// Appends a record.
    fn record(&self, r: &AuditRecord) -> anyhow::Result<()>;
    /// The newest records matching `filter`, newest first, at most `limit`.
    fn list(&self, filter: &AuditFilter, limit: usize) -> anyhow::Result<Vec<Numbered>>;
    /// Every record that ended at or after `since` (RFC 3339, UTC), oldest first.
    fn since(&self, since: &str) -> anyhow::Result<Vec<AuditRecord>>;
    /// One record by its row id.
    fn get(&self, id: i64) -> anyhow::Result<Option<Numbered>>;
    /// When the latest run of a ticket of `environment` that did not end in a retry
    /// ended (RFC 3339).
    fn last_run_at(&self, environment: &str, ticket_id: u64) -> anyhow::Result<Option<String>>;
    /// Deletes at most `limit` of the oldest records that ended before `cutoff` (RFC 3339,
    /// UTC, milliseconds), in one short transaction; returns how many.
    fn prune_batch(&self, cutoff: &str, limit: usize) -> anyhow::Result<usize>;
}

/// The audit trail, whichever database keeps it.
pub struct AuditLog {
    store: Box<dyn AuditStore>,
}

impl AuditLog {
    /// The audit trail in the SQLite database at `path` (created or brought up to date).
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        Ok(AuditLog::new(Box::new(SqliteAudit::open(path)?)))
    }

    /// The audit trail kept by `store`.
    pub fn new(store: Box<dyn AuditStore>) -> Self {
        AuditLog { store }
    }

    /// The store behind it (for this module's neighbours: retention).
    pub(super) fn store(&self) -> &dyn AuditStore {
        &*self.store
    }

    /// Appends a record (blocking).
    pub fn record(&self, r: &AuditRecord) -> anyhow::Result<()> {
        self.store.record(r)
    }

    /// When the latest finished run of a ticket of `environment` ended (RFC 3339), not
    /// counting runs that met a passing failure and will run again (blocking).
    pub fn last_run_at(&self, environment: &str, ticket_id: u64) -> anyhow::Result<Option<String>> {
        self.store.last_run_at(environment, ticket_id)
    }

    /// Records for one ticket (all tickets if `None`), oldest first, the latest `limit`
    /// (blocking).
    pub fn query(&self, ticket_id: Option<u64>, limit: usize) -> anyhow::Result<Vec<AuditRecord>> {
        let filter = AuditFilter {
            ticket_id,
            ..Default::default()
        };
        let mut out: Vec<AuditRecord> = self
            .list(&filter, limit)?
            .into_iter()
            .map(|n| n.record)
            .collect();
        out.reverse();
        Ok(out)
    }

    /// The newest records matching `filter`, newest first, at most `limit` (blocking).
    pub fn list(&self, filter: &AuditFilter, limit: usize) -> anyhow::Result<Vec<Numbered>> {
        self.store.list(filter, limit)
    }

    /// Every record that ended at or after `since` (RFC 3339, UTC), oldest first: what
    /// the report is computed over (blocking).
    pub fn since(&self, since: &str) -> anyhow::Result<Vec<AuditRecord>> {
        self.store.since(since)
    }

    /// One record by its row id (blocking).
    pub fn get(&self, id: i64) -> anyhow::Result<Option<Numbered>> {
        self.store.get(id)
    }
}

/// The audit table of a SQLite database.
pub struct SqliteAudit {
    conn: Mutex<Connection>,
}

impl SqliteAudit {
    /// Opens (creating or updating the schema if needed) the database at `path`.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        let mut conn = Connection::open(path)
            .with_context(|| format!("cannot open the audit database {}", path.display()))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        // A database written by an older gateway gets the newer columns first.
        super::inbox::migrate(&mut conn).context("cannot create or update the audit table")?;
        Ok(SqliteAudit {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl AuditStore for SqliteAudit {
    fn record(&self, r: &AuditRecord) -> anyhow::Result<()> {
        insert(&self.conn(), r)
    }

    fn last_run_at(&self, environment: &str, ticket_id: u64) -> anyhow::Result<Option<String>> {
        use rusqlite::OptionalExtension;
        Ok(self
            .conn()
            .query_row(
                "SELECT at FROM audit WHERE ticket_id = ?1 AND environment = ?2 AND outcome != ?3
                 ORDER BY id DESC LIMIT 1",
                params![ticket_id as i64, environment, Outcome::Retry.to_string()],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn list(&self, filter: &AuditFilter, limit: usize) -> anyhow::Result<Vec<Numbered>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM audit
             WHERE (?1 IS NULL OR ticket_id = ?1) AND (?2 IS NULL OR brand = ?2)
               AND (?3 IS NULL OR outcome = ?3) AND (?4 IS NULL OR at >= ?4)
             ORDER BY id DESC LIMIT ?5"
        ))?;
        let rows = stmt.query_map(
            params![
                filter.ticket_id.map(|t| t as i64),
                filter.brand,
                filter.outcome.map(|o| o.as_str()),
                filter.since,
                limit as i64
            ],
            numbered,
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn since(&self, since: &str) -> anyhow::Result<Vec<AuditRecord>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM audit WHERE at >= ?1 ORDER BY id"
        ))?;
        let rows = stmt.query_map(params![since], numbered)?;
        rows.map(|r| r.map(|n| n.record).map_err(Into::into))
            .collect()
    }

    fn get(&self, id: i64) -> anyhow::Result<Option<Numbered>> {
        use rusqlite::OptionalExtension;
        Ok(self
            .conn()
            .query_row(
                &format!("SELECT {COLUMNS} FROM audit WHERE id = ?1"),
                params![id],
                numbered,
            )
            .optional()?)
    }

    fn prune_batch(&self, cutoff: &str, limit: usize) -> anyhow::Result<usize> {
        Ok(self.conn().execute(
            "DELETE FROM audit WHERE id IN
               (SELECT id FROM audit WHERE at < ?1 ORDER BY id LIMIT ?2)",
            params![cutoff, limit as i64],
        )?)
    }
}

/// The columns [`numbered`] reads, in its order (the PostgreSQL store reads the same).
pub(crate) const COLUMNS: &str = "id, at, ticket_id, brand, environment, endpoint, mode, \
                       plugin_version, outcome, reason, staged, committed, duration_ms, \
                       received_at, started_at";

fn numbered(r: &rusqlite::Row<'_>) -> rusqlite::Result<Numbered> {
    let outcome: String = r.get(8)?;
    let staged: String = r.get(10)?;
    let committed: Option<String> = r.get(11)?;
    Ok(Numbered {
        id: r.get(0)?,
        record: decode(
            AuditRecord {
                at: r.get(1)?,
                started_at: r.get(14)?,
                ticket_id: r.get::<_, i64>(2)? as u64,
                brand: r.get(3)?,
                environment: r.get(4)?,
                endpoint: r.get(5)?,
                mode: r.get(6)?,
                plugin_version: r.get(7)?,
                outcome: Outcome::Failed,
                reason: r.get(9)?,
                staged: serde_json::Value::Null,
                committed: None,
                duration_ms: r.get::<_, i64>(12)? as u64,
                received_at: r.get(13)?,
            },
            &outcome,
            &staged,
            committed.as_deref(),
        ),
    })
}

/// Fills in the columns kept as text: the outcome and the JSON of what was staged and
/// committed. Written by `record` from an `Outcome`; an unknown text would be a
/// database edited by hand, shown as the gateway's failure.
pub(crate) fn decode(
    mut r: AuditRecord,
    outcome: &str,
    staged: &str,
    committed: Option<&str>,
) -> AuditRecord {
    r.outcome = Outcome::parse(outcome).unwrap_or(Outcome::Failed);
    r.staged = serde_json::from_str(staged).unwrap_or(serde_json::Value::Null);
    r.committed = committed.and_then(|c| serde_json::from_str(c).ok());
    r
}
