//! The PostgreSQL store: the inbox, the audit trail, dead letters, the replicas'
//! heartbeats and the shared Zendesk quota, in one database that several gateway
//! replicas share (docs/replicas.md).
//!
//! Claims across replicas follow the shape of the well-known Postgres job queues: the
//! claim picks the next due row with `FOR UPDATE SKIP LOCKED`, so replicas claiming at
//! the same moment take different tickets instead of queueing on one row lock; a claim
//! is a lease renewed while the run lives, and a row whose lease ran out is taken by the
//! next claim on any replica (River's rescuer, folded into the claim). One row per
//! (environment, ticket) is the unique key that coalesces notifications and serialises
//! runs per ticket fleet-wide, as graphile-worker's per-queue lock does per queue.

mod pool;
pub mod scratch;

pub use pool::{PgPool, PgTarget};

use super::audit::{self, AuditFilter, AuditRecord, AuditStore, Numbered};
use super::fleet::{FleetStore, ReplicaInfo};
use super::inbox::{Claimed, DeadLetter, Enqueued, Finish, InboxStore, InboxSummary, Notification};
use super::overrides::{self, Change, Override, OverrideBackend, Overrides};
use super::quota::SharedQuota;
use super::sweep::SweepStore;
use anyhow::Context;
use postgres::GenericClient;

/// The key of the advisory lock that serialises schema migrations: two replicas starting
/// together apply each step once ("zgw-schm" in ASCII).
const MIGRATION_LOCK: i64 = 0x7a67_772d_7363_686d;

/// The schema, one step per version (the `schema_version` table). Steps are only ever
/// appended, never renumbered: a database made by an older gateway gets the new ones.
const MIGRATIONS: &[&str] = &[
    "CREATE TABLE inbox (
        environment      TEXT    NOT NULL,
        ticket_id        BIGINT  NOT NULL,
        endpoint         TEXT    NOT NULL,
        owed             BOOLEAN NOT NULL,  -- a run is owed
        running          BOOLEAN NOT NULL,  -- a worker holds it (until lease_until)
        attempts         INTEGER NOT NULL DEFAULT 0,
        due_at           BIGINT  NOT NULL,  -- ms since the epoch
        received_at      BIGINT  NOT NULL,
        last_error       TEXT,
        lease_until      BIGINT  NOT NULL DEFAULT 0,
        claim_id         BIGINT  NOT NULL DEFAULT 0,
        claimed_by       TEXT,              -- the replica holding the claim
        dead             BOOLEAN NOT NULL DEFAULT false,
        first_failure_at BIGINT,
        intent           TEXT,
        PRIMARY KEY (environment, ticket_id)
    );
    CREATE INDEX inbox_due ON inbox (due_at) WHERE NOT dead;
    CREATE TABLE audit (
        id             BIGSERIAL PRIMARY KEY,
        at             TEXT   NOT NULL,
        started_at     TEXT   NOT NULL DEFAULT '',
        ticket_id      BIGINT NOT NULL,
        brand          TEXT   NOT NULL,
        environment    TEXT   NOT NULL,
        endpoint       TEXT   NOT NULL,
        mode           TEXT   NOT NULL,
        plugin_version TEXT   NOT NULL,
        outcome        TEXT   NOT NULL,
        reason         TEXT   NOT NULL,
        staged         TEXT   NOT NULL,
        committed      TEXT,
        duration_ms    BIGINT NOT NULL
    );
    CREATE INDEX audit_ticket ON audit (ticket_id);",
    "CREATE TABLE replicas (
        replica_id TEXT   PRIMARY KEY,
        started_at BIGINT NOT NULL,
        last_seen  BIGINT NOT NULL,
        versions   TEXT   NOT NULL
    );",
    "CREATE TABLE quota_buckets (
        account    TEXT             PRIMARY KEY,  -- the Zendesk account's base URL
        tokens     DOUBLE PRECISION NOT NULL,
        updated_at BIGINT           NOT NULL
    );",
    // The arrival of the notification each run answers, for the time to first response
    // (store::report), and the index the console's and the report's time filters use.
    "ALTER TABLE audit ADD COLUMN received_at TEXT;
     CREATE INDEX audit_at ON audit (at);",
    // The catch-up sweep's cursor per environment, and when the fleet's last sweep of it
    // began (one replica sweeps each interval).
    "CREATE TABLE sweep_cursor (
        environment    TEXT   PRIMARY KEY,
        searched_until BIGINT,            -- unix seconds; NULL: never searched
        turn_at        BIGINT             -- unix seconds the last sweep began
    );",
    // Operators' Listening/Live switches (the console), shared by the fleet, and who
    // changed what when.
    "CREATE TABLE mode_overrides (
        kind   TEXT NOT NULL,   -- 'brand' or 'endpoint'
        name   TEXT NOT NULL,
        mode   TEXT NOT NULL,   -- 'listening' or 'live'
        set_by TEXT NOT NULL,
        set_at TEXT NOT NULL,   -- RFC 3339
        PRIMARY KEY (kind, name)
    );
    CREATE TABLE mode_override_history (
        id     BIGSERIAL PRIMARY KEY,
        kind   TEXT NOT NULL,
        name   TEXT NOT NULL,
        mode   TEXT,            -- NULL: back to the config
        set_by TEXT NOT NULL,
        set_at TEXT NOT NULL
    );",
];

/// How many schema steps this gateway knows.
pub const MIGRATIONS_LEN: usize = MIGRATIONS.len();

/// Brings the schema up to date, one transaction per step, each under the advisory
/// lock: a replica that starts while another migrates waits, then finds the step done.
/// Returns the steps this call applied.
pub fn migrate(client: &mut postgres::Client) -> anyhow::Result<usize> {
    let mut applied = 0;
    loop {
        let mut tx = client.transaction()?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
        tx.batch_execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")?;
        let version: i32 = tx
            .query_one("SELECT COALESCE(MAX(version), 0) FROM schema_version", &[])?
            .get(0);
        let version = version as usize;
        anyhow::ensure!(
            version <= MIGRATIONS.len(),
            "the database's schema is version {version}, newer than this gateway's {}: \
             run the newer gateway on every replica",
            MIGRATIONS.len()
        );
        if version == MIGRATIONS.len() {
            tx.commit()?;
            return Ok(applied);
        }
        tx.batch_execute(MIGRATIONS[version])
            .with_context(|| format!("PostgreSQL schema step {}", version + 1))?;
        tx.execute(
            "INSERT INTO schema_version (version) VALUES ($1)",
            &[&(version as i32 + 1)],
        )?;
        tx.commit()?;
        applied += 1;
        tracing::info!(step = version + 1, "PostgreSQL schema step applied");
    }
}

/// The store over one database, for one replica.
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    replica: String,
}

impl PgStore {
    /// Connects (blocking), brings the schema up to date and returns the store of
    /// replica `replica`, with a pool of up to `connections` connections.
    pub fn open(target: PgTarget, replica: &str, connections: usize) -> anyhow::Result<PgStore> {
        let pool = PgPool::new(target, connections);
        let mut client = pool.get()?;
        migrate(&mut client)
            .with_context(|| format!("cannot create or update the schema at {}", pool.shown()))?;
        drop(client);
        Ok(PgStore {
            pool,
            replica: replica.to_string(),
        })
    }

    /// The connection pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

fn claimed_from(row: &postgres::Row, claim_id: i64) -> Claimed {
    Claimed {
        notification: Notification {
            environment: row.get(0),
            ticket_id: row.get::<_, i64>(1) as u64,
            endpoint: row.get(2),
        },
        attempts: row.get::<_, i32>(3) as u32,
        claim_id,
        first_failure_at_ms: row.get(4),
        intent: row.get(5),
        received_at_ms: row.get(6),
    }
}

/// Stores a batch in ONE statement (one round trip, whatever its size). Duplicates in the
/// batch are folded first (a statement cannot upsert one row twice): the first of a
/// ticket reports what the database did, the others coalesced into it. Rows are written
/// in key order, so two replicas' batches lock shared rows in the same order and cannot
/// deadlock.
fn store_batch(
    client: &mut impl GenericClient,
    batch: &[Notification],
    now_ms: i64,
) -> anyhow::Result<Vec<Enqueued>> {
    let mut keys: Vec<(&str, i64, &str)> = Vec::with_capacity(batch.len());
    let mut latest: std::collections::HashMap<(&str, i64), usize> = Default::default();
    for n in batch {
        let key = (n.environment.as_str(), n.ticket_id as i64);
        match latest.get(&key) {
            // A later notification's endpoint wins, as it would one statement later.
            Some(&i) => keys[i].2 = n.endpoint.as_str(),
            None => {
                latest.insert(key, keys.len());
                keys.push((key.0, key.1, n.endpoint.as_str()));
            }
        }
    }
    keys.sort();
    let envs: Vec<&str> = keys.iter().map(|k| k.0).collect();
    let tickets: Vec<i64> = keys.iter().map(|k| k.1).collect();
    let endpoints: Vec<&str> = keys.iter().map(|k| k.2).collect();
    let rows = client.query(
        "WITH input AS (
             SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[])
                 AS t(environment, ticket_id, endpoint)),
         prev AS (
             SELECT i.environment, i.ticket_id, i.dead
             FROM inbox i JOIN input USING (environment, ticket_id)),
         up AS (
             INSERT INTO inbox (environment, ticket_id, endpoint, owed, running, due_at, received_at)
             SELECT environment, ticket_id, endpoint, true, false, $4, $4 FROM input
             ORDER BY environment, ticket_id
             ON CONFLICT (environment, ticket_id) DO UPDATE SET
                 owed = true, endpoint = excluded.endpoint,
                 due_at = CASE WHEN inbox.dead THEN excluded.due_at ELSE inbox.due_at END,
                 attempts = CASE WHEN inbox.dead THEN 0 ELSE inbox.attempts END,
                 first_failure_at = CASE WHEN inbox.dead THEN NULL ELSE inbox.first_failure_at END,
                 -- A ticket already waiting keeps its oldest arrival (the customer has
                 -- been waiting since then); one that is running (its claim has read its
                 -- own arrival) or dead starts a new wait with this notification.
                 received_at = CASE WHEN inbox.running OR inbox.dead OR NOT inbox.owed
                                    THEN excluded.received_at ELSE inbox.received_at END,
                 dead = false
             RETURNING environment, ticket_id, (xmax = 0) AS inserted)
         SELECT up.environment, up.ticket_id, up.inserted OR COALESCE(prev.dead, false)
         FROM up LEFT JOIN prev USING (environment, ticket_id)",
        &[&envs, &tickets, &endpoints, &now_ms],
    )?;
    let mut new: std::collections::HashSet<(String, i64)> = Default::default();
    for row in rows {
        if row.get::<_, bool>(2) {
            new.insert((row.get(0), row.get(1)));
        }
    }
    // The first notification of a ticket that was new is New; every other is Coalesced.
    Ok(batch
        .iter()
        .map(|n| {
            if new.remove(&(n.environment.clone(), n.ticket_id as i64)) {
                Enqueued::New
            } else {
                Enqueued::Coalesced
            }
        })
        .collect())
}

fn insert_audit(client: &mut impl GenericClient, r: &AuditRecord) -> anyhow::Result<()> {
    client.execute(
        "INSERT INTO audit (at, started_at, ticket_id, brand, environment, endpoint, mode,
                            plugin_version, outcome, reason, staged, committed, duration_ms,
                            received_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        &[
            &r.at,
            &r.started_at,
            &(r.ticket_id as i64),
            &r.brand,
            &r.environment,
            &r.endpoint,
            &r.mode,
            &r.plugin_version,
            &r.outcome.as_str(),
            &r.reason,
            &r.staged.to_string(),
            &r.committed.as_ref().map(|c| c.to_string()),
            &(r.duration_ms as i64),
            &r.received_at,
        ],
    )?;
    Ok(())
}

/// A row of [`audit::COLUMNS`] as a numbered record.
fn numbered(r: &postgres::Row) -> Numbered {
    let outcome: String = r.get(8);
    let staged: String = r.get(10);
    let committed: Option<String> = r.get(11);
    Numbered {
        id: r.get(0),
        record: audit::decode(
            AuditRecord {
                at: r.get(1),
                started_at: r.get(14),
                ticket_id: r.get::<_, i64>(2) as u64,
                brand: r.get(3),
                environment: r.get(4),
                endpoint: r.get(5),
                mode: r.get(6),
                plugin_version: r.get(7),
                outcome: crate::outcome::Outcome::Failed,
                reason: r.get(9),
                staged: serde_json::Value::Null,
                committed: None,
                duration_ms: r.get::<_, i64>(12) as u64,
                received_at: r.get(13),
            },
            &outcome,
            &staged,
            committed.as_deref(),
        ),
    }
}

impl InboxStore for PgStore {
    fn enqueue(&self, n: &Notification, now_ms: i64) -> anyhow::Result<Enqueued> {
        Ok(self.enqueue_batch(std::slice::from_ref(n), now_ms)?[0])
    }

    fn enqueue_batch(&self, batch: &[Notification], now_ms: i64) -> anyhow::Result<Vec<Enqueued>> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        // One statement is one transaction: all of the batch is stored, or none.
        store_batch(&mut *self.pool.get()?, batch, now_ms)
    }

    fn claim_leased(&self, now_ms: i64, lease_until_ms: i64) -> anyhow::Result<Option<Claimed>> {
        let claim_id: i64 = rand::random::<i64>().wrapping_abs().max(1);
        // SKIP LOCKED: a row another replica is claiming right now is passed over, not
        // waited for. A running row whose lease ran out is rescued: that run is owed again.
        let row = self.pool.get()?.query_opt(
            "UPDATE inbox SET running = true, owed = false, lease_until = $2, claim_id = $3,
                 claimed_by = $4
             WHERE (environment, ticket_id) = (
                 SELECT environment, ticket_id FROM inbox
                 WHERE NOT dead AND ((owed AND NOT running AND due_at <= $1)
                                     OR (running AND lease_until < $1))
                 ORDER BY due_at LIMIT 1
                 FOR UPDATE SKIP LOCKED)
             RETURNING environment, ticket_id, endpoint, attempts, first_failure_at, intent,
                 received_at",
            &[&now_ms, &lease_until_ms, &claim_id, &self.replica],
        )?;
        Ok(row.map(|r| claimed_from(&r, claim_id)))
    }

    fn renew(&self, c: &Claimed, lease_until_ms: i64) -> anyhow::Result<bool> {
        let n = &c.notification;
        let changed = self.pool.get()?.execute(
            "UPDATE inbox SET lease_until = $4
             WHERE environment = $1 AND ticket_id = $2 AND claim_id = $3 AND running",
            &[
                &n.environment,
                &(n.ticket_id as i64),
                &c.claim_id,
                &lease_until_ms,
            ],
        )?;
        Ok(changed > 0)
    }

    fn record_intent(&self, c: &Claimed, intent: &str) -> anyhow::Result<()> {
        let n = &c.notification;
        self.pool.get()?.execute(
            "UPDATE inbox SET intent = $4
             WHERE environment = $1 AND ticket_id = $2 AND claim_id = $3",
            &[&n.environment, &(n.ticket_id as i64), &c.claim_id, &intent],
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
        let mut client = self.pool.get()?;
        let mut tx = client.transaction()?;
        let n = &c.notification;
        let ticket = n.ticket_id as i64;
        let gone = match how {
            Finish::Done => {
                let deleted = tx.execute(
                    "DELETE FROM inbox WHERE environment = $1 AND ticket_id = $2 AND claim_id = $3
                       AND NOT owed",
                    &[&n.environment, &ticket, &c.claim_id],
                )?;
                // Still there: a notification arrived during the run; one more run is owed.
                tx.execute(
                    "UPDATE inbox SET running = false, attempts = 0, first_failure_at = NULL,
                         intent = NULL, lease_until = 0, claimed_by = NULL
                     WHERE environment = $1 AND ticket_id = $2 AND claim_id = $3",
                    &[&n.environment, &ticket, &c.claim_id],
                )?;
                deleted > 0
            }
            Finish::RetryAt { at_ms, reason } => {
                tx.execute(
                    "UPDATE inbox SET running = false, owed = true, attempts = attempts + 1,
                         due_at = $4, last_error = $5,
                         first_failure_at = COALESCE(first_failure_at, $6),
                         lease_until = 0, claimed_by = NULL
                     WHERE environment = $1 AND ticket_id = $2 AND claim_id = $3",
                    &[&n.environment, &ticket, &c.claim_id, at_ms, reason, &now_ms],
                )?;
                false
            }
            Finish::Dead { reason } => {
                let changed = tx.execute(
                    "UPDATE inbox SET running = false, owed = false, dead = true, last_error = $4,
                         intent = NULL, lease_until = 0, claimed_by = NULL
                     WHERE environment = $1 AND ticket_id = $2 AND claim_id = $3",
                    &[&n.environment, &ticket, &c.claim_id, reason],
                )?;
                changed > 0
            }
        };
        if let Some(r) = record {
            insert_audit(&mut tx, r)?;
        }
        tx.commit()?;
        Ok(gone)
    }

    fn depth(&self) -> anyhow::Result<usize> {
        let n: i64 = self
            .pool
            .get()?
            .query_one("SELECT COUNT(*) FROM inbox WHERE NOT dead", &[])?
            .get(0);
        Ok(n as usize)
    }

    fn next_due(&self) -> anyhow::Result<Option<i64>> {
        Ok(self
            .pool
            .get()?
            .query_one(
                "SELECT LEAST(
                     (SELECT MIN(due_at) FROM inbox WHERE owed AND NOT running AND NOT dead),
                     (SELECT MIN(lease_until) + 1 FROM inbox WHERE running AND NOT dead))",
                &[],
            )?
            .get(0))
    }

    /// Only this replica's own claims are owed again at once: the other replicas' runs
    /// are alive (or will be rescued when their leases run out). A replica that restarts
    /// with the same id (host name and port by default) takes its interrupted runs back
    /// without waiting for the leases.
    fn recover(&self) -> anyhow::Result<usize> {
        let n = self.pool.get()?.execute(
            "UPDATE inbox SET running = false, owed = true, lease_until = 0, claimed_by = NULL
             WHERE running AND claimed_by = $1",
            &[&self.replica],
        )?;
        Ok(n as usize)
    }

    fn dead_letters(&self) -> anyhow::Result<Vec<DeadLetter>> {
        let rows = self.pool.get()?.query(
            "SELECT environment, ticket_id, endpoint, attempts, COALESCE(last_error, '')
             FROM inbox WHERE dead ORDER BY due_at",
            &[],
        )?;
        Ok(rows
            .iter()
            .map(|r| DeadLetter {
                environment: r.get(0),
                ticket_id: r.get::<_, i64>(1) as u64,
                endpoint: r.get(2),
                attempts: r.get::<_, i32>(3) as u32,
                reason: r.get(4),
            })
            .collect())
    }

    fn revive(&self, environment: &str, ticket_id: u64, now_ms: i64) -> anyhow::Result<bool> {
        let changed = self.pool.get()?.execute(
            "UPDATE inbox SET dead = false, owed = true, running = false, attempts = 0,
                 first_failure_at = NULL, due_at = $3
             WHERE environment = $1 AND ticket_id = $2 AND dead",
            &[&environment, &(ticket_id as i64), &now_ms],
        )?;
        Ok(changed > 0)
    }

    fn holds(&self, environment: &str, ticket_id: u64) -> anyhow::Result<bool> {
        Ok(self
            .pool
            .get()?
            .query_opt(
                "SELECT 1 FROM inbox WHERE environment = $1 AND ticket_id = $2",
                &[&environment, &(ticket_id as i64)],
            )?
            .is_some())
    }

    fn discard_dead(&self, environment: &str, ticket_id: u64) -> anyhow::Result<bool> {
        let changed = self.pool.get()?.execute(
            "DELETE FROM inbox WHERE environment = $1 AND ticket_id = $2 AND dead",
            &[&environment, &(ticket_id as i64)],
        )?;
        Ok(changed > 0)
    }

    /// The whole fleet's inbox: every replica's claims count as running.
    fn summary(&self, now_ms: i64) -> anyhow::Result<InboxSummary> {
        let r = self.pool.get()?.query_one(
            "SELECT COUNT(*) FILTER (WHERE NOT dead),
                    COUNT(*) FILTER (WHERE NOT dead AND running),
                    COUNT(*) FILTER (WHERE NOT dead AND NOT running AND owed AND due_at > $1),
                    COUNT(*) FILTER (WHERE NOT dead AND NOT running AND owed AND due_at <= $1),
                    COUNT(*) FILTER (WHERE dead)
             FROM inbox",
            &[&now_ms],
        )?;
        Ok(InboxSummary {
            depth: r.get::<_, i64>(0) as usize,
            running: r.get::<_, i64>(1) as usize,
            waiting_for_retry: r.get::<_, i64>(2) as usize,
            due: r.get::<_, i64>(3) as usize,
            dead: r.get::<_, i64>(4) as usize,
        })
    }
}

impl AuditStore for PgStore {
    fn record(&self, r: &AuditRecord) -> anyhow::Result<()> {
        insert_audit(&mut *self.pool.get()?, r)
    }

    fn list(&self, filter: &AuditFilter, limit: usize) -> anyhow::Result<Vec<Numbered>> {
        let rows = self.pool.get()?.query(
            &format!(
                "SELECT {} FROM audit
                 WHERE ($1::bigint IS NULL OR ticket_id = $1) AND ($2::text IS NULL OR brand = $2)
                   AND ($3::text IS NULL OR outcome = $3) AND ($4::text IS NULL OR at >= $4)
                 ORDER BY id DESC LIMIT $5",
                audit::COLUMNS
            ),
            &[
                &filter.ticket_id.map(|t| t as i64),
                &filter.brand,
                &filter.outcome.map(|o| o.as_str()),
                &filter.since,
                &(limit as i64),
            ],
        )?;
        Ok(rows.iter().map(numbered).collect())
    }

    fn since(&self, since: &str) -> anyhow::Result<Vec<AuditRecord>> {
        let rows = self.pool.get()?.query(
            &format!(
                "SELECT {} FROM audit WHERE at >= $1 ORDER BY id",
                audit::COLUMNS
            ),
            &[&since],
        )?;
        Ok(rows.iter().map(|r| numbered(r).record).collect())
    }

    fn get(&self, id: i64) -> anyhow::Result<Option<Numbered>> {
        let row = self.pool.get()?.query_opt(
            &format!("SELECT {} FROM audit WHERE id = $1", audit::COLUMNS),
            &[&id],
        )?;
        Ok(row.as_ref().map(numbered))
    }

    fn last_run_at(&self, environment: &str, ticket_id: u64) -> anyhow::Result<Option<String>> {
        let row = self.pool.get()?.query_opt(
            "SELECT at FROM audit WHERE ticket_id = $1 AND environment = $2 AND outcome != $3
             ORDER BY id DESC LIMIT 1",
            &[
                &(ticket_id as i64),
                &environment,
                &crate::outcome::Outcome::Retry.as_str(),
            ],
        )?;
        Ok(row.map(|r| r.get(0)))
    }

    fn prune_batch(&self, cutoff: &str, limit: usize) -> anyhow::Result<usize> {
        // SKIP LOCKED: two replicas pruning at once take different rows, not turns.
        let n = self.pool.get()?.execute(
            "DELETE FROM audit WHERE id IN
               (SELECT id FROM audit WHERE at < $1 ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED)",
            &[&cutoff, &(limit as i64)],
        )?;
        Ok(n as usize)
    }
}

impl SweepStore for PgStore {
    fn get(&self, environment: &str) -> anyhow::Result<Option<i64>> {
        let row = self.pool.get()?.query_opt(
            "SELECT searched_until FROM sweep_cursor WHERE environment = $1",
            &[&environment],
        )?;
        Ok(row.and_then(|r| r.get(0)))
    }

    fn set(&self, environment: &str, unix_secs: i64) -> anyhow::Result<()> {
        self.pool.get()?.execute(
            "INSERT INTO sweep_cursor (environment, searched_until) VALUES ($1, $2)
             ON CONFLICT (environment) DO UPDATE SET searched_until = excluded.searched_until",
            &[&environment, &unix_secs],
        )?;
        Ok(())
    }

    fn take_turn(&self, environment: &str, now_secs: i64, every_secs: i64) -> anyhow::Result<bool> {
        // One statement: of replicas asking at once, the row lock lets one through and
        // the others then see its turn_at.
        let row = self.pool.get()?.query_opt(
            "INSERT INTO sweep_cursor (environment, turn_at) VALUES ($1, $2)
             ON CONFLICT (environment) DO UPDATE SET turn_at = excluded.turn_at
             WHERE sweep_cursor.turn_at IS NULL OR sweep_cursor.turn_at <= $2 - $3 + 1
             RETURNING 1",
            &[&environment, &now_secs, &every_secs],
        )?;
        Ok(row.is_some())
    }
}

impl OverrideBackend for PgStore {
    fn load(&self) -> anyhow::Result<Overrides> {
        let rows = self.pool.get()?.query(
            "SELECT kind, name, mode, set_by, set_at FROM mode_overrides ORDER BY kind, name",
            &[],
        )?;
        let mut out = Overrides::new();
        for r in &rows {
            if let Some((target, mode)) = overrides::parse_row(r.get(0), r.get(2)) {
                out.insert(
                    (target, r.get(1)),
                    Override {
                        mode,
                        set_by: r.get(3),
                        set_at: r.get(4),
                    },
                );
            }
        }
        Ok(out)
    }

    fn set(&self, change: &Change) -> anyhow::Result<()> {
        let mut client = self.pool.get()?;
        let mut tx = client.transaction()?;
        let kind = change.target.as_str();
        match change.mode {
            Some(mode) => tx.execute(
                "INSERT INTO mode_overrides (kind, name, mode, set_by, set_at)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (kind, name) DO UPDATE SET mode = excluded.mode,
                     set_by = excluded.set_by, set_at = excluded.set_at",
                &[
                    &kind,
                    &change.name,
                    &mode.to_string(),
                    &change.set_by,
                    &change.set_at,
                ],
            )?,
            None => tx.execute(
                "DELETE FROM mode_overrides WHERE kind = $1 AND name = $2",
                &[&kind, &change.name],
            )?,
        };
        tx.execute(
            "INSERT INTO mode_override_history (kind, name, mode, set_by, set_at)
             VALUES ($1, $2, $3, $4, $5)",
            &[
                &kind,
                &change.name,
                &change.mode.map(|m| m.to_string()),
                &change.set_by,
                &change.set_at,
            ],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn history(&self, limit: usize) -> anyhow::Result<Vec<Change>> {
        let rows = self.pool.get()?.query(
            "SELECT kind, name, mode, set_by, set_at FROM mode_override_history
             ORDER BY id DESC LIMIT $1",
            &[&(limit as i64)],
        )?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                overrides::parse_change(
                    r.get(0),
                    r.get(1),
                    r.get::<_, Option<&str>>(2),
                    r.get(3),
                    r.get(4),
                )
            })
            .collect())
    }
}

impl FleetStore for PgStore {
    fn heartbeat(&self, r: &ReplicaInfo) -> anyhow::Result<()> {
        let versions = serde_json::to_string(&r.versions)?;
        self.pool.get()?.execute(
            "INSERT INTO replicas (replica_id, started_at, last_seen, versions)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (replica_id) DO UPDATE SET started_at = excluded.started_at,
                 last_seen = excluded.last_seen, versions = excluded.versions",
            &[&r.replica_id, &r.started_at_ms, &r.last_seen_ms, &versions],
        )?;
        Ok(())
    }

    fn replicas(&self, since_ms: i64) -> anyhow::Result<Vec<ReplicaInfo>> {
        let rows = self.pool.get()?.query(
            "SELECT replica_id, started_at, last_seen, versions FROM replicas
             WHERE last_seen >= $1 ORDER BY replica_id",
            &[&since_ms],
        )?;
        Ok(rows
            .iter()
            .map(|r| ReplicaInfo {
                replica_id: r.get(0),
                started_at_ms: r.get(1),
                last_seen_ms: r.get(2),
                versions: serde_json::from_str(r.get::<_, &str>(3)).unwrap_or_default(),
            })
            .collect())
    }
}

impl SharedQuota for PgStore {
    fn take(
        &self,
        account: &str,
        per_minute: u32,
        burst: u32,
        now_ms: i64,
    ) -> anyhow::Result<Option<u64>> {
        let per_ms = per_minute.max(1) as f64 / 60_000.0;
        let burst = burst.max(1) as f64;
        let mut client = self.pool.get()?;
        let mut tx = client.transaction()?;
        tx.execute(
            "INSERT INTO quota_buckets (account, tokens, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (account) DO NOTHING",
            &[&account, &burst, &now_ms],
        )?;
        // The row lock serialises the fleet's takers of one account for a few
        // microseconds; a clock that lags another replica's never refills twice.
        let row = tx.query_one(
            "SELECT tokens, updated_at FROM quota_buckets WHERE account = $1 FOR UPDATE",
            &[&account],
        )?;
        let (tokens, updated_at): (f64, i64) = (row.get(0), row.get(1));
        let now = now_ms.max(updated_at);
        let tokens = (tokens + (now - updated_at) as f64 * per_ms).min(burst);
        let (left, wait) = if tokens >= 1.0 {
            (tokens - 1.0, None)
        } else {
            (
                tokens,
                Some((((1.0 - tokens) / per_ms).ceil() as u64).max(1)),
            )
        };
        tx.execute(
            "UPDATE quota_buckets SET tokens = $2, updated_at = $3 WHERE account = $1",
            &[&account, &left, &now],
        )?;
        tx.commit()?;
        Ok(wait)
    }
}
