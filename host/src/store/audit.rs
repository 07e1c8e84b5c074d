//! The audit trail: one record per run of a plugin, kept in the gateway's database.
//! It answers "what did the AI do on ticket N, with which plugin version, and why".

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

/// Creates the audit table at `conn` if needed.
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

/// Appends `r` at `conn` (inside the caller's transaction, if any): the inbox writes a
/// run's record in the same transaction that ends the run.
pub(crate) fn insert(conn: &Connection, r: &AuditRecord) -> anyhow::Result<()> {
    conn.prepare_cached(
        "INSERT INTO audit (at, ticket_id, brand, environment, endpoint, mode, plugin_version,
                            outcome, reason, staged, committed, duration_ms, received_at)
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
        r.received_at
    ])?;
    Ok(())
}

/// The audit store.
pub struct AuditLog {
    conn: Mutex<Connection>,
}

impl AuditLog {
    /// Opens (creating if needed) the audit table in the database at `path`.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        let mut conn = Connection::open(path)
            .with_context(|| format!("cannot open the audit database {}", path.display()))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        // A database written by an older gateway gets the newer columns first.
        super::inbox::migrate(&mut conn)?;
        Ok(AuditLog {
            conn: Mutex::new(conn),
        })
    }

    /// The connection, for this store's other modules (retention).
    pub(super) fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends a record.
    pub fn record(&self, r: &AuditRecord) -> anyhow::Result<()> {
        insert(&self.conn.lock().unwrap_or_else(|p| p.into_inner()), r)
    }

    /// When the latest finished run of a ticket of `environment` ended (RFC 3339), not
    /// counting runs that met a passing failure and will run again.
    pub fn last_run_at(&self, environment: &str, ticket_id: u64) -> anyhow::Result<Option<String>> {
        use rusqlite::OptionalExtension;
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        Ok(conn
            .query_row(
                "SELECT at FROM audit WHERE ticket_id = ?1 AND environment = ?2 AND outcome != ?3
                 ORDER BY id DESC LIMIT 1",
                params![ticket_id as i64, environment, Outcome::Retry.to_string()],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Records for one ticket (all tickets if `None`), oldest first, at most `limit`.
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

    /// The newest records matching `filter`, newest first, at most `limit`.
    pub fn list(&self, filter: &AuditFilter, limit: usize) -> anyhow::Result<Vec<Numbered>> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
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

    /// Every record that ended at or after `since` (RFC 3339, UTC), oldest first: what
    /// the report is computed over.
    pub fn since(&self, since: &str) -> anyhow::Result<Vec<AuditRecord>> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM audit WHERE at >= ?1 ORDER BY id"
        ))?;
        let rows = stmt.query_map(params![since], numbered)?;
        rows.map(|r| r.map(|n| n.record).map_err(Into::into))
            .collect()
    }

    /// One record by its row id.
    pub fn get(&self, id: i64) -> anyhow::Result<Option<Numbered>> {
        use rusqlite::OptionalExtension;
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        Ok(conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM audit WHERE id = ?1"),
                params![id],
                numbered,
            )
            .optional()?)
    }
}

/// The columns [`numbered`] reads, in its order.
const COLUMNS: &str = "id, at, ticket_id, brand, environment, endpoint, mode, plugin_version, \
                       outcome, reason, staged, committed, duration_ms, received_at";

fn numbered(r: &rusqlite::Row<'_>) -> rusqlite::Result<Numbered> {
    let outcome: String = r.get(8)?;
    let staged: String = r.get(10)?;
    let committed: Option<String> = r.get(11)?;
    Ok(Numbered {
        id: r.get(0)?,
        record: AuditRecord {
            at: r.get(1)?,
            ticket_id: r.get::<_, i64>(2)? as u64,
            brand: r.get(3)?,
            environment: r.get(4)?,
            endpoint: r.get(5)?,
            mode: r.get(6)?,
            plugin_version: r.get(7)?,
            // Written by `record` from an `Outcome`; an unknown text would be a
            // database edited by hand, shown as the gateway's failure.
            outcome: Outcome::parse(&outcome).unwrap_or(Outcome::Failed),
            reason: r.get(9)?,
            staged: serde_json::from_str(&staged).unwrap_or(serde_json::Value::Null),
            committed: committed.and_then(|c| serde_json::from_str(&c).ok()),
            duration_ms: r.get::<_, i64>(12)? as u64,
            received_at: r.get(13)?,
        },
    })
}
