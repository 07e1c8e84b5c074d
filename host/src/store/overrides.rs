//! Operators' Listening/Live switches: a mode set from the console for a brand or an
//! endpoint, kept in the gateway's database over what the config says, with the history
//! of who changed what when. The tables come from the inbox's schema steps
//! (`store::inbox::MIGRATIONS`) in the SQLite file, or from the PostgreSQL store's own
//! steps when replicas share a database (then a switch set on one replica reaches the
//! others within a heartbeat: `Gateway::reload_mode_overrides`).

use crate::config::Mode;
use anyhow::Context;
use rusqlite::{params, Connection};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

/// What a switch applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// A brand: every endpoint of it (unless the endpoint has its own switch).
    Brand,
    /// One endpoint.
    Endpoint,
}

impl Target {
    /// `brand` or `endpoint`.
    pub fn as_str(self) -> &'static str {
        match self {
            Target::Brand => "brand",
            Target::Endpoint => "endpoint",
        }
    }

    fn parse(text: &str) -> Option<Target> {
        match text {
            "brand" => Some(Target::Brand),
            "endpoint" => Some(Target::Endpoint),
            _ => None,
        }
    }
}

/// A switch in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Override {
    /// The mode set.
    pub mode: Mode,
    /// Who set it (the name given at sign-in).
    pub set_by: String,
    /// When (RFC 3339).
    pub set_at: String,
}

/// One change of a switch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// Brand or endpoint.
    pub target: Target,
    /// Its name.
    pub name: String,
    /// The mode set, or `None`: back to the config.
    pub mode: Option<Mode>,
    /// Who.
    pub set_by: String,
    /// When (RFC 3339).
    pub set_at: String,
}

/// Every switch in force, by target and name.
pub type Overrides = BTreeMap<(Target, String), Override>;

fn parse_mode(text: &str) -> Option<Mode> {
    match text {
        "listening" => Some(Mode::Listening),
        "live" => Some(Mode::Live),
        _ => None,
    }
}

/// Where the switches are kept. Blocking calls, made off the async threads.
pub trait OverrideBackend: Send + Sync {
    /// Every switch in force.
    fn load(&self) -> anyhow::Result<Overrides>;
    /// Sets (or with `None` removes) a switch and records the change, in one
    /// transaction.
    fn set(&self, change: &Change) -> anyhow::Result<()>;
    /// The newest changes, newest first, at most `limit`.
    fn history(&self, limit: usize) -> anyhow::Result<Vec<Change>>;
}

/// The switches, whichever database keeps them.
pub struct OverrideStore {
    backend: Box<dyn OverrideBackend>,
}

impl OverrideStore {
    /// The switches in the SQLite database at `path` (its schema brought up to date).
    pub fn open(path: &Path) -> anyhow::Result<OverrideStore> {
        Ok(OverrideStore::new(Box::new(SqliteOverrides::open(path)?)))
    }

    /// The switches kept by `backend`.
    pub fn new(backend: Box<dyn OverrideBackend>) -> OverrideStore {
        OverrideStore { backend }
    }

    /// Every switch in force (blocking).
    pub fn load(&self) -> anyhow::Result<Overrides> {
        self.backend.load()
    }

    /// Sets (or with `None` removes) a switch and records the change, in one
    /// transaction (blocking).
    pub fn set(&self, change: &Change) -> anyhow::Result<()> {
        self.backend.set(change)
    }

    /// The newest changes, newest first, at most `limit` (blocking).
    pub fn history(&self, limit: usize) -> anyhow::Result<Vec<Change>> {
        self.backend.history(limit)
    }
}

/// Parses the columns of a switch row as written by `set`; anything else was edited by
/// hand and is ignored rather than guessed at.
pub(crate) fn parse_row(kind: &str, mode: &str) -> Option<(Target, Mode)> {
    Some((Target::parse(kind)?, parse_mode(mode)?))
}

/// Parses the columns of a history row (`mode` NULL: back to the config).
pub(crate) fn parse_change(
    kind: &str,
    name: String,
    mode: Option<&str>,
    set_by: String,
    set_at: String,
) -> Option<Change> {
    Some(Change {
        target: Target::parse(kind)?,
        name,
        mode: mode.and_then(parse_mode),
        set_by,
        set_at,
    })
}

/// The switches' tables in a SQLite database.
pub struct SqliteOverrides {
    conn: Mutex<Connection>,
}

impl SqliteOverrides {
    /// Opens the database at `path` (bringing its schema up to date).
    pub fn open(path: &Path) -> anyhow::Result<SqliteOverrides> {
        let mut conn = Connection::open(path)
            .with_context(|| format!("cannot open the database {}", path.display()))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        super::inbox::migrate(&mut conn)?;
        Ok(SqliteOverrides {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl OverrideBackend for SqliteOverrides {
    fn load(&self) -> anyhow::Result<Overrides> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT kind, name, mode, set_by, set_at FROM mode_overrides ORDER BY kind, name",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
            ))
        })?;
        let mut out = Overrides::new();
        for row in rows {
            let (kind, name, mode, set_by, set_at) = row?;
            if let Some((target, mode)) = parse_row(&kind, &mode) {
                out.insert(
                    (target, name),
                    Override {
                        mode,
                        set_by,
                        set_at,
                    },
                );
            }
        }
        Ok(out)
    }

    fn set(&self, change: &Change) -> anyhow::Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let kind = change.target.as_str();
        match change.mode {
            Some(mode) => tx.execute(
                "INSERT INTO mode_overrides (kind, name, mode, set_by, set_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (kind, name) DO UPDATE SET mode = excluded.mode,
                     set_by = excluded.set_by, set_at = excluded.set_at",
                params![
                    kind,
                    change.name,
                    mode.to_string(),
                    change.set_by,
                    change.set_at
                ],
            )?,
            None => tx.execute(
                "DELETE FROM mode_overrides WHERE kind = ?1 AND name = ?2",
                params![kind, change.name],
            )?,
        };
        tx.execute(
            "INSERT INTO mode_override_history (kind, name, mode, set_by, set_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                kind,
                change.name,
                change.mode.map(|m| m.to_string()),
                change.set_by,
                change.set_at
            ],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn history(&self, limit: usize) -> anyhow::Result<Vec<Change>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT kind, name, mode, set_by, set_at FROM mode_override_history
             ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map(params![limit as i64], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (kind, name, mode, set_by, set_at) = row?;
            out.extend(parse_change(&kind, name, mode.as_deref(), set_by, set_at));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switches_are_kept_replaced_removed_and_remembered() {
        let dir = std::env::temp_dir().join(format!("overrides-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("gateway.db");
        let store = OverrideStore::open(&path).unwrap();
        let change = |mode, at: &str| Change {
            target: Target::Brand,
            name: "retail".into(),
            mode,
            set_by: "ana".into(),
            set_at: at.into(),
        };
        store.set(&change(Some(Mode::Listening), "t1")).unwrap();
        store.set(&change(Some(Mode::Live), "t2")).unwrap();
        let reopened = OverrideStore::open(&path).unwrap();
        let now = reopened.load().unwrap();
        assert_eq!(now[&(Target::Brand, "retail".into())].mode, Mode::Live);
        reopened.set(&change(None, "t3")).unwrap();
        assert!(reopened.load().unwrap().is_empty());
        let history = reopened.history(10).unwrap();
        assert_eq!(history.len(), 3);
        assert_eq!((history[0].mode, history[0].set_at.as_str()), (None, "t3"));
    }
}
