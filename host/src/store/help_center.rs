//! What the Help Center sync keeps between restarts, in the gateway's database: per brand
//! the export cursor (the `end_time` to start the next incremental export from) and the
//! articles indexed, as plain text. At start the index is rebuilt from here without a
//! Zendesk call; the sync then asks only for what changed since the cursor.
//!
//! Its tables are a step of the database's schema (`store::inbox`'s migrations, by
//! `PRAGMA user_version`), applied at open like every other store's.

use anyhow::Context;
use rusqlite::{params, Connection};
use std::path::Path;
use std::sync::Mutex;

/// One article as the index needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredArticle {
    /// Zendesk's article id.
    pub id: u64,
    /// Its title.
    pub title: String,
    /// Its public URL (`html_url`).
    pub url: String,
    /// Its text (HTML turned into text).
    pub body: String,
}

/// A brand's sync state as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncState {
    /// What the sync was configured with (host, locales, labels): a change starts over.
    pub config_key: String,
    /// The `start_time` of the next incremental export.
    pub cursor: i64,
    /// The articles indexed.
    pub articles: Vec<StoredArticle>,
}

/// The Help Center sync's tables.
pub struct HelpCenterStore {
    conn: Mutex<Connection>,
}

impl HelpCenterStore {
    /// Opens the database at `path` (bringing its schema, these tables included, up to
    /// date).
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        let mut conn = Connection::open(path)
            .with_context(|| format!("cannot open the database {}", path.display()))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        super::inbox::migrate(&mut conn)
            .context("cannot create or update the Help Center sync tables")?;
        Ok(HelpCenterStore {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The brand's stored state, if it was ever synced. Blocking: call it off the async
    /// threads.
    pub fn load(&self, brand: &str) -> anyhow::Result<Option<SyncState>> {
        let conn = self.conn();
        let head: Option<(String, i64)> = conn
            .query_row(
                "SELECT config_key, cursor FROM help_center_sync WHERE brand = ?1",
                params![brand],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .ok();
        let Some((config_key, cursor)) = head else {
            return Ok(None);
        };
        let mut stmt = conn.prepare(
            "SELECT id, title, url, body FROM help_center_articles WHERE brand = ?1 ORDER BY id",
        )?;
        let articles = stmt
            .query_map(params![brand], |r| {
                Ok(StoredArticle {
                    id: r.get::<_, i64>(0)? as u64,
                    title: r.get(1)?,
                    url: r.get(2)?,
                    body: r.get(3)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(SyncState {
            config_key,
            cursor,
            articles,
        }))
    }

    /// Records one sync in one transaction: the new cursor, the articles added or
    /// changed, the ones removed; with `reset` every stored article goes first (the
    /// brand's Help Center config changed). Blocking.
    pub fn save(
        &self,
        brand: &str,
        config_key: &str,
        cursor: i64,
        upserts: &[StoredArticle],
        removals: &[u64],
        reset: bool,
    ) -> anyhow::Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        if reset {
            tx.execute(
                "DELETE FROM help_center_articles WHERE brand = ?1",
                params![brand],
            )?;
        }
        for a in upserts {
            tx.execute(
                "INSERT INTO help_center_articles (brand, id, title, url, body) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (brand, id) DO UPDATE SET title = ?3, url = ?4, body = ?5",
                params![brand, a.id as i64, a.title, a.url, a.body],
            )?;
        }
        for id in removals {
            tx.execute(
                "DELETE FROM help_center_articles WHERE brand = ?1 AND id = ?2",
                params![brand, *id as i64],
            )?;
        }
        tx.execute(
            "INSERT INTO help_center_sync (brand, config_key, cursor, synced_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (brand) DO UPDATE SET config_key = ?2, cursor = ?3, synced_at = ?4",
            params![brand, config_key, cursor, chrono::Utc::now().timestamp()],
        )?;
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_survives_reopening_and_removals_apply() {
        let dir = std::env::temp_dir().join(format!("hc-store-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let db = dir.join("gateway.db");
        let _ = std::fs::remove_file(&db);
        let a = |id: u64| StoredArticle {
            id,
            title: format!("Article {id}"),
            url: format!("https://help.example.com/hc/en-us/articles/{id}"),
            body: "text".into(),
        };
        let store = HelpCenterStore::open(&db).unwrap();
        assert_eq!(store.load("retail").unwrap(), None);
        store
            .save("retail", "k", 100, &[a(1), a(2)], &[], false)
            .unwrap();
        store
            .save("retail", "k", 200, &[a(3)], &[1], false)
            .unwrap();
        drop(store);
        let state = HelpCenterStore::open(&db)
            .unwrap()
            .load("retail")
            .unwrap()
            .unwrap();
        assert_eq!(state.cursor, 200);
        assert_eq!(
            state.articles.iter().map(|a| a.id).collect::<Vec<_>>(),
            [2, 3]
        );
        let store = HelpCenterStore::open(&db).unwrap();
        store.save("retail", "k2", 0, &[a(9)], &[], true).unwrap();
        assert_eq!(store.load("retail").unwrap().unwrap().articles, [a(9)]);
        let _ = std::fs::remove_dir_all(dir);
    }

    /// The tables are a schema step: a database of the schema before it gains them with
    /// its other records intact, and one whose tables were created at open by the
    /// branch's build of the sync (schema version 2, no step for them) keeps its rows.
    #[test]
    fn the_tables_are_a_schema_step_that_keeps_existing_rows() {
        let dir = std::env::temp_dir().join(format!("hc-migrate-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let db = dir.join("gateway.db");
        let _ = std::fs::remove_file(&db);
        {
            let conn = Connection::open(&db).unwrap();
            conn.execute_batch(
                "CREATE TABLE help_center_sync (brand TEXT PRIMARY KEY, config_key TEXT NOT NULL,
                     cursor INTEGER NOT NULL, synced_at INTEGER NOT NULL);
                 CREATE TABLE help_center_articles (brand TEXT NOT NULL, id INTEGER NOT NULL,
                     title TEXT NOT NULL, url TEXT NOT NULL, body TEXT NOT NULL,
                     PRIMARY KEY (brand, id));
                 INSERT INTO help_center_sync VALUES ('retail', 'k', 77, 0);
                 INSERT INTO help_center_articles VALUES ('retail', 5, 'T', 'https://h/5', 'b');
                 PRAGMA user_version = 2;",
            )
            .unwrap();
        }
        let state = HelpCenterStore::open(&db)
            .unwrap()
            .load("retail")
            .unwrap()
            .unwrap();
        assert_eq!((state.cursor, state.articles.len()), (77, 1));
        // The inbox opens the same database (its steps already applied) as it is.
        let inbox = super::super::inbox::SqliteInbox::open(&db, false).unwrap();
        drop(inbox);
        let conn = Connection::open(&db).unwrap();
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        let overrides: i64 = conn
            .query_row("SELECT count(*) FROM mode_overrides", [], |r| r.get(0))
            .unwrap();
        assert!(version >= 5 && overrides == 0);
        let _ = std::fs::remove_dir_all(dir);
    }
}
