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
}

/// Appends `r` at `conn` (inside the caller's transaction, if any): the inbox writes a
/// run's record in the same transaction that ends the run.
pub(crate) fn insert(conn: &Connection, r: &AuditRecord) -> anyhow::Result<()> {
    conn.prepare_cached(
        "INSERT INTO audit (at, ticket_id, brand, environment, endpoint, mode, plugin_version,
                            outcome, reason, staged, committed, duration_ms, started_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
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
        r.started_at
    ])?;
    Ok(())
}

/// Where audit records are kept: blocking calls, made off the async threads.
pub trait AuditStore: Send + Sync {
    /// Appends a record.
    fn record(&self, r: &AuditRecord) -> anyhow::Result<()>;
    /// Records for one ticket (all tickets if `None`), oldest first, the latest `limit`.
    fn query(&self, ticket_id: Option<u64>, limit: usize) -> anyhow::Result<Vec<AuditRecord>>;
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

    /// Appends a record (blocking).
    pub fn record(&self, r: &AuditRecord) -> anyhow::Result<()> {
        self.store.record(r)
    }

    /// Records for one ticket (all tickets if `None`), oldest first, the latest `limit`
    /// (blocking).
    pub fn query(&self, ticket_id: Option<u64>, limit: usize) -> anyhow::Result<Vec<AuditRecord>> {
        self.store.query(ticket_id, limit)
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
        super::inbox::migrate(&mut conn).context("cannot create or update the audit table")?;
        Ok(SqliteAudit {
            conn: Mutex::new(conn),
        })
    }
}

impl AuditStore for SqliteAudit {
    fn record(&self, r: &AuditRecord) -> anyhow::Result<()> {
        insert(&self.conn.lock().unwrap_or_else(|p| p.into_inner()), r)
    }

    fn query(&self, ticket_id: Option<u64>, limit: usize) -> anyhow::Result<Vec<AuditRecord>> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let mut stmt = conn.prepare(
            "SELECT at, ticket_id, brand, environment, endpoint, mode, plugin_version, outcome,
                    reason, staged, committed, duration_ms, started_at
             FROM audit WHERE (?1 IS NULL OR ticket_id = ?1) ORDER BY id DESC LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![ticket_id.map(|t| t as i64), limit as i64], |r| {
            let outcome: String = r.get(7)?;
            let staged: String = r.get(9)?;
            let committed: Option<String> = r.get(10)?;
            Ok(decode(
                AuditRecord {
                    at: r.get(0)?,
                    started_at: r.get(12)?,
                    ticket_id: r.get::<_, i64>(1)? as u64,
                    brand: r.get(2)?,
                    environment: r.get(3)?,
                    endpoint: r.get(4)?,
                    mode: r.get(5)?,
                    plugin_version: r.get(6)?,
                    outcome: Outcome::Failed,
                    reason: r.get(8)?,
                    staged: serde_json::Value::Null,
                    committed: None,
                    duration_ms: r.get::<_, i64>(11)? as u64,
                },
                &outcome,
                &staged,
                committed.as_deref(),
            ))
        })?;
        let mut out: Vec<AuditRecord> = rows.collect::<Result<_, _>>()?;
        out.reverse();
        Ok(out)
    }
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
