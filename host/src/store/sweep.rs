//! The catch-up sweep's cursor per environment: the time up to which Zendesk was
//! already searched for changed tickets, so a restart goes on from there instead of
//! searching everything again or missing what changed while the gateway was down.
//! One small table in the gateway's database.

use anyhow::Context;
use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;
use std::sync::Mutex;

/// The sweep cursors.
pub struct SweepCursors {
    conn: Mutex<Connection>,
}

impl SweepCursors {
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
        Ok(SweepCursors {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Up to when (unix seconds) `environment` was searched, if it ever was.
    pub fn get(&self, environment: &str) -> anyhow::Result<Option<i64>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT searched_until FROM sweep_cursor WHERE environment = ?1",
                params![environment],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Records that `environment` was searched up to `unix_secs`.
    pub fn set(&self, environment: &str, unix_secs: i64) -> anyhow::Result<()> {
        self.conn().execute(
            "INSERT INTO sweep_cursor (environment, searched_until) VALUES (?1, ?2)
             ON CONFLICT (environment) DO UPDATE SET searched_until = excluded.searched_until",
            params![environment, unix_secs],
        )?;
        Ok(())
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
