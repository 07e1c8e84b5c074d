//! The catch-up sweep's cursor per environment: the time up to which Zendesk was
//! already searched for changed tickets, so a restart goes on from there instead of
//! searching everything again or missing what changed while the gateway was down.
//! One small table in the gateway's database: the SQLite file of one machine, or the
//! PostgreSQL database of a fleet, where every replica reads and moves the same cursor.

use anyhow::Context;
use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;
use std::sync::Mutex;

/// Where the cursors are kept. Blocking calls, made off the async threads.
pub trait SweepStore: Send + Sync {
    /// Up to when (unix seconds) `environment` was searched, if it ever was.
    fn get(&self, environment: &str) -> anyhow::Result<Option<i64>>;
    /// Records that `environment` was searched up to `unix_secs` (it may move back a
    /// little: a sweep cut short goes on from where it stopped).
    fn set(&self, environment: &str, unix_secs: i64) -> anyhow::Result<()>;
    /// Takes `environment`'s turn to sweep at `now_secs`: `true` when no sweep of it
    /// began in the last `every_secs` (less a second of clock slop), which then counts
    /// as begun now. With replicas sharing the database, one of them sweeps each
    /// interval and the others skip it, so the fleet searches Zendesk once, not once
    /// per replica, and no two sweeps move one cursor at once.
    fn take_turn(&self, environment: &str, now_secs: i64, every_secs: i64) -> anyhow::Result<bool>;
}

/// The sweep cursors, whichever database keeps them.
pub struct SweepCursors {
    store: Box<dyn SweepStore>,
}

impl SweepCursors {
    /// The cursors in the SQLite database at `path` (the table created if needed).
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        Ok(SweepCursors::new(Box::new(SqliteSweep::open(path)?)))
    }

    /// The cursors kept by `store`.
    pub fn new(store: Box<dyn SweepStore>) -> Self {
        SweepCursors { store }
    }

    /// Up to when (unix seconds) `environment` was searched, if it ever was (blocking).
    pub fn get(&self, environment: &str) -> anyhow::Result<Option<i64>> {
        self.store.get(environment)
    }

    /// Records that `environment` was searched up to `unix_secs` (blocking).
    pub fn set(&self, environment: &str, unix_secs: i64) -> anyhow::Result<()> {
        self.store.set(environment, unix_secs)
    }

    /// Takes `environment`'s turn to sweep (blocking; see [`SweepStore::take_turn`]).
    pub fn take_turn(
        &self,
        environment: &str,
        now_secs: i64,
        every_secs: i64,
    ) -> anyhow::Result<bool> {
        self.store.take_turn(environment, now_secs, every_secs)
    }
}

/// The cursor table of a SQLite database.
pub struct SqliteSweep {
    conn: Mutex<Connection>,
}

impl SqliteSweep {
    /// Opens (creating if needed) the cursor table in the database at `path`.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        let conn = Connection::open(path)
            .with_context(|| format!("cannot open the sweep database {}", path.display()))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS sweep_cursor (
                environment TEXT PRIMARY KEY,
                searched_until INTEGER NOT NULL
            );",
        )
        .context("cannot create the sweep_cursor table")?;
        Ok(SqliteSweep {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl SweepStore for SqliteSweep {
    fn get(&self, environment: &str) -> anyhow::Result<Option<i64>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT searched_until FROM sweep_cursor WHERE environment = ?1",
                params![environment],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn set(&self, environment: &str, unix_secs: i64) -> anyhow::Result<()> {
        self.conn().execute(
            "INSERT INTO sweep_cursor (environment, searched_until) VALUES (?1, ?2)
             ON CONFLICT (environment) DO UPDATE SET searched_until = excluded.searched_until",
            params![environment, unix_secs],
        )?;
        Ok(())
    }

    fn take_turn(&self, _environment: &str, _now: i64, _every: i64) -> anyhow::Result<bool> {
        // One gateway per SQLite file (the data folder's lock, service/lock.rs): its own
        // schedule is the only one.
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cursor_survives_reopening() {
        let dir = std::env::temp_dir().join(format!("gw-sweep-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let db = dir.join("gateway.db");
        let _ = std::fs::remove_file(&db);
        let c = SweepCursors::open(&db).unwrap();
        assert_eq!(c.get("prod").unwrap(), None);
        c.set("prod", 100).unwrap();
        c.set("prod", 200).unwrap();
        c.set("uat", 5).unwrap();
        drop(c);
        let c = SweepCursors::open(&db).unwrap();
        assert_eq!(c.get("prod").unwrap(), Some(200));
        assert_eq!(c.get("uat").unwrap(), Some(5));
    }
}
