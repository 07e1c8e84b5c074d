//! The store tests, run against both backends: every behaviour the pipeline relies on
//! holds for the SQLite file and for PostgreSQL alike.

use super::audit::{AuditFilter, AuditRecord};
use super::fleet::ReplicaInfo;
use super::inbox::{Enqueued, Finish, InboxSummary, Notification};
use super::overrides::{Change, Target};
use super::Database;
use crate::config::Mode;
use crate::outcome::Outcome;

fn note(t: u64) -> Notification {
    Notification {
        environment: "prod".into(),
        ticket_id: t,
        endpoint: "ep".into(),
    }
}

fn record(ticket: u64, reason: &str) -> AuditRecord {
    AuditRecord {
        at: "2030-01-01T00:00:01.000Z".into(),
        started_at: "2030-01-01T00:00:00.000Z".into(),
        ticket_id: ticket,
        brand: "retail".into(),
        environment: "prod".into(),
        endpoint: "ep".into(),
        mode: "live".into(),
        plugin_version: "abc".into(),
        outcome: Outcome::Handled,
        reason: reason.into(),
        staged: serde_json::json!({"reply": "hi"}),
        committed: Some(serde_json::json!({"status": "pending"})),
        duration_ms: 1000,
        received_at: Some("2029-12-31T23:59:59.000Z".into()),
    }
}

/// Every check, on one backend's fresh database.
fn all(open: &dyn Fn() -> Database) {
    coalesces_and_serialises_per_ticket(&open());
    leases_are_rescued_and_a_lost_claim_cannot_finish(&open());
    dead_letters_are_kept_listed_and_revived(&open());
    retry_waits_until_due(&open());
    batches_coalesce_and_report_in_order(&open());
    finish_and_audit_are_one(&open());
    heartbeats_list_the_fleet(&open());
    summary_counts_each_state_and_arrival_is_the_oldest_owed(&open());
    dead_letters_are_discarded_and_held(&open());
    audit_lists_filters_and_prunes(&open());
    sweep_cursors_are_kept_and_turns_taken(&open());
    mode_switches_are_kept_replaced_removed_and_remembered(&open());
}

fn coalesces_and_serialises_per_ticket(db: &Database) {
    let inbox = &db.inbox;
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

fn leases_are_rescued_and_a_lost_claim_cannot_finish(db: &Database) {
    let inbox = &db.inbox;
    inbox.enqueue(&note(3), 0).unwrap();
    let first = inbox.claim_leased(0, 100).unwrap().unwrap();
    assert!(inbox.claim_leased(50, 150).unwrap().is_none(), "leased");
    assert!(inbox.renew(&first, 200).unwrap());
    assert!(inbox.claim_leased(150, 300).unwrap().is_none(), "renewed");
    assert_eq!(inbox.next_due().unwrap(), Some(201));
    let rescued = inbox.claim_leased(201, 400).unwrap().unwrap();
    assert_eq!(rescued.notification.ticket_id, 3);
    assert!(!inbox.renew(&first, 500).unwrap(), "the old claim is gone");
    assert!(!inbox.complete(&first).unwrap());
    assert_eq!(inbox.depth().unwrap(), 1);
    assert!(inbox.complete(&rescued).unwrap());
    assert_eq!(inbox.depth().unwrap(), 0);
}

fn dead_letters_are_kept_listed_and_revived(db: &Database) {
    let inbox = &db.inbox;
    inbox.enqueue(&note(4), 0).unwrap();
    let c = inbox.claim(0).unwrap().unwrap();
    let dead = Finish::Dead {
        reason: "Zendesk kept failing".into(),
    };
    assert!(inbox.finish(&c, &dead, None, 0).unwrap());
    assert_eq!(inbox.depth().unwrap(), 0);
    assert!(inbox.claim(10).unwrap().is_none());
    assert_eq!(
        inbox.dead_letters().unwrap()[0].reason,
        "Zendesk kept failing"
    );
    assert!(inbox.revive("prod", 4, 20).unwrap());
    assert!(!inbox.revive("prod", 4, 20).unwrap(), "no longer dead");
    assert_eq!(inbox.claim(20).unwrap().unwrap().attempts, 0);
    // A notification for a dead letter revives it too, as a new entry.
    let c = inbox.claim_leased(10_000_000, 10_000_100).unwrap().unwrap();
    inbox.finish(&c, &dead, None, 0).unwrap();
    assert_eq!(inbox.enqueue(&note(4), 30).unwrap(), Enqueued::New);
    assert!(inbox.dead_letters().unwrap().is_empty());
}

fn retry_waits_until_due(db: &Database) {
    let inbox = &db.inbox;
    inbox.enqueue(&note(2), 0).unwrap();
    let c = inbox.claim(0).unwrap().unwrap();
    inbox.record_intent(&c, "{\"status\":\"solved\"}").unwrap();
    inbox.retry_at(&c, 1000, "503").unwrap();
    assert!(inbox.claim(999).unwrap().is_none());
    assert_eq!(inbox.next_due().unwrap(), Some(1000));
    let again = inbox.claim(1000).unwrap().unwrap();
    assert_eq!(again.attempts, 1);
    assert_eq!(again.first_failure_at_ms, Some(1000));
    assert_eq!(again.intent.as_deref(), Some("{\"status\":\"solved\"}"));
}

fn batches_coalesce_and_report_in_order(db: &Database) {
    let inbox = &db.inbox;
    inbox.enqueue(&note(7), 0).unwrap();
    let batch = [note(9), note(7), note(8), note(9)];
    assert_eq!(
        inbox.enqueue_batch(&batch, 0).unwrap(),
        vec![
            Enqueued::New,
            Enqueued::Coalesced,
            Enqueued::New,
            Enqueued::Coalesced
        ]
    );
    assert_eq!(inbox.depth().unwrap(), 3);
    assert!(inbox.enqueue_batch(&[], 0).unwrap().is_empty());
}

fn finish_and_audit_are_one(db: &Database) {
    let inbox = &db.inbox;
    inbox.enqueue(&note(11), 0).unwrap();
    let c = inbox.claim(0).unwrap().unwrap();
    inbox
        .finish(&c, &Finish::Done, Some(&record(11, "first")), 0)
        .unwrap();
    db.audit.record(&record(12, "second")).unwrap();
    let all = db.audit.query(None, 10).unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(
        all[0],
        record(11, "first"),
        "oldest first, every field kept"
    );
    assert_eq!(db.audit.query(Some(12), 10).unwrap()[0].reason, "second");
    assert_eq!(
        db.audit.query(None, 1).unwrap()[0].reason,
        "second",
        "latest"
    );
}

fn heartbeats_list_the_fleet(db: &Database) {
    let mut r = ReplicaInfo {
        replica_id: "a:1".into(),
        started_at_ms: 1,
        last_seen_ms: 100,
        versions: [("retail".to_string(), "v1".to_string())].into(),
    };
    db.fleet.heartbeat(&r).unwrap();
    r.last_seen_ms = 200;
    r.versions.insert("retail".into(), "v2".into());
    db.fleet.heartbeat(&r).unwrap();
    let b = ReplicaInfo {
        replica_id: "b:1".into(),
        last_seen_ms: 50,
        ..r.clone()
    };
    db.fleet.heartbeat(&b).unwrap();
    assert_eq!(db.fleet.replicas(100).unwrap(), vec![r.clone()]);
    assert_eq!(db.fleet.replicas(0).unwrap().len(), 2);
}

fn summary_counts_each_state_and_arrival_is_the_oldest_owed(db: &Database) {
    let inbox = &db.inbox;
    inbox.enqueue(&note(1), 100).unwrap();
    // Coalesced while waiting: the customer has waited since the first.
    inbox.enqueue(&note(1), 200).unwrap();
    inbox.enqueue(&note(2), 100).unwrap();
    inbox.enqueue(&note(3), 100).unwrap();
    let c1 = inbox.claim(300).unwrap().unwrap();
    assert_eq!(c1.received_at_ms, 100);
    // A notification during the run starts the next run's wait.
    inbox.enqueue(&note(1), 400).unwrap();
    let c2 = inbox.claim(300).unwrap().unwrap();
    inbox.retry_at(&c2, 10_000, "503").unwrap();
    let c3 = inbox.claim(300).unwrap().unwrap();
    let dead = Finish::Dead { reason: "x".into() };
    inbox.finish(&c3, &dead, None, 300).unwrap();
    assert_eq!(
        inbox.summary(500).unwrap(),
        InboxSummary {
            depth: 2,
            running: 1,
            waiting_for_retry: 1,
            due: 0,
            dead: 1
        }
    );
    inbox.complete(&c1).unwrap();
    assert_eq!(inbox.claim(500).unwrap().unwrap().received_at_ms, 400);
    assert!(inbox
        .discard_dead("prod", c3.notification.ticket_id)
        .unwrap());
    assert_eq!(inbox.summary(500).unwrap().dead, 0);
}

fn dead_letters_are_discarded_and_held(db: &Database) {
    let inbox = &db.inbox;
    assert!(!inbox.holds("prod", 5).unwrap());
    inbox.enqueue(&note(5), 0).unwrap();
    assert!(inbox.holds("prod", 5).unwrap(), "waiting");
    assert!(!inbox.holds("uat", 5).unwrap(), "per environment");
    let c = inbox.claim(0).unwrap().unwrap();
    assert!(!inbox.discard_dead("prod", 5).unwrap(), "running, not dead");
    let dead = Finish::Dead { reason: "x".into() };
    inbox.finish(&c, &dead, None, 0).unwrap();
    assert!(
        inbox.holds("prod", 5).unwrap(),
        "a dead letter is left for a human"
    );
    assert!(inbox.discard_dead("prod", 5).unwrap());
    assert!(!inbox.discard_dead("prod", 5).unwrap(), "once");
    assert!(!inbox.holds("prod", 5).unwrap());
    assert!(inbox.dead_letters().unwrap().is_empty());
}

fn audit_lists_filters_and_prunes(db: &Database) {
    let at = |day: u32, ticket: u64, brand: &str, outcome: Outcome| AuditRecord {
        at: format!("2030-01-{day:02}T00:00:00.000Z"),
        brand: brand.into(),
        outcome,
        ..record(ticket, "r")
    };
    db.audit
        .record(&at(1, 1, "retail", Outcome::Handled))
        .unwrap();
    db.audit.record(&at(2, 2, "b2b", Outcome::Skipped)).unwrap();
    db.audit
        .record(&at(3, 1, "retail", Outcome::Retry))
        .unwrap();
    db.audit
        .record(&at(4, 3, "retail", Outcome::Handled))
        .unwrap();
    let all = db.audit.list(&AuditFilter::default(), 10).unwrap();
    assert_eq!(
        all.iter().map(|n| n.record.ticket_id).collect::<Vec<_>>(),
        vec![3, 1, 2, 1],
        "newest first"
    );
    assert!(all.windows(2).all(|w| w[0].id > w[1].id));
    let got = db.audit.get(all[1].id).unwrap().unwrap();
    assert_eq!(got, all[1]);
    assert!(db.audit.get(all[0].id + 1000).unwrap().is_none());
    let filter = AuditFilter {
        brand: Some("retail".into()),
        outcome: Some(Outcome::Handled),
        since: Some("2030-01-02T00:00:00.000Z".into()),
        ..Default::default()
    };
    let only = db.audit.list(&filter, 10).unwrap();
    assert_eq!(only.len(), 1);
    assert_eq!(only[0].record.ticket_id, 3);
    let since = db.audit.since("2030-01-02T00:00:00.000Z").unwrap();
    assert_eq!(
        since.iter().map(|r| r.ticket_id).collect::<Vec<_>>(),
        vec![2, 1, 3],
        "oldest first"
    );
    // The latest run that will not run again: the retry of day 3 does not count.
    assert_eq!(
        db.audit.last_run_at("prod", 1).unwrap().as_deref(),
        Some("2030-01-01T00:00:00.000Z")
    );
    assert_eq!(db.audit.last_run_at("uat", 1).unwrap(), None);
    let cutoff = chrono::DateTime::parse_from_rfc3339("2030-01-03T00:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    assert_eq!(db.audit.prune_before(cutoff).unwrap(), 2);
    assert_eq!(db.audit.prune_before(cutoff).unwrap(), 0);
    let left = db.audit.query(None, 10).unwrap();
    assert_eq!(left.iter().map(|r| r.ticket_id).collect::<Vec<_>>(), [1, 3]);
}

fn sweep_cursors_are_kept_and_turns_taken(db: &Database) {
    let c = &db.sweep;
    assert_eq!(c.get("prod").unwrap(), None);
    assert!(c.take_turn("prod", 1_000, 60).unwrap());
    assert_eq!(c.get("prod").unwrap(), None, "a turn is not a search");
    c.set("prod", 100).unwrap();
    c.set("prod", 90).unwrap();
    c.set("uat", 5).unwrap();
    assert_eq!(
        c.get("prod").unwrap(),
        Some(90),
        "a cut-short sweep moves it back"
    );
    assert_eq!(c.get("uat").unwrap(), Some(5));
    assert!(c.take_turn("prod", 1_060, 60).unwrap(), "the next interval");
}

fn mode_switches_are_kept_replaced_removed_and_remembered(db: &Database) {
    let store = &db.overrides;
    let change = |target, mode, at: &str| Change {
        target,
        name: "retail".into(),
        mode,
        set_by: "ana".into(),
        set_at: at.into(),
    };
    assert!(store.load().unwrap().is_empty());
    store
        .set(&change(Target::Brand, Some(Mode::Listening), "t1"))
        .unwrap();
    store
        .set(&change(Target::Brand, Some(Mode::Live), "t2"))
        .unwrap();
    store
        .set(&change(Target::Endpoint, Some(Mode::Listening), "t3"))
        .unwrap();
    let now = store.load().unwrap();
    assert_eq!(now.len(), 2);
    assert_eq!(now[&(Target::Brand, "retail".into())].mode, Mode::Live);
    assert_eq!(now[&(Target::Brand, "retail".into())].set_at, "t2");
    store.set(&change(Target::Brand, None, "t4")).unwrap();
    assert_eq!(store.load().unwrap().len(), 1);
    let history = store.history(10).unwrap();
    assert_eq!(history.len(), 4);
    assert_eq!((history[0].mode, history[0].set_at.as_str()), (None, "t4"));
    assert_eq!(history[3].mode, Some(Mode::Listening));
    assert_eq!(store.history(2).unwrap().len(), 2);
}

#[test]
fn sqlite_store() {
    let dir = std::env::temp_dir().join(format!(
        "store-suite-{}-{}",
        std::process::id(),
        rand::random::<u64>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let n = std::sync::atomic::AtomicU32::new(0);
    all(&|| {
        let i = n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Database::sqlite(&dir.join(format!("db{i}.db")), false).unwrap()
    });
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn postgres_store() {
    let Some(_) = super::postgres::scratch::database() else {
        return;
    };
    all(&|| {
        let url = super::postgres::scratch::database().unwrap();
        Database::postgres(&url, false, "test-replica", 4).unwrap()
    });
}

#[test]
fn postgres_recover_takes_back_only_this_replicas_claims() {
    let Some(url) = super::postgres::scratch::database() else {
        return;
    };
    let a = Database::postgres(&url, false, "a", 2).unwrap();
    let b = Database::postgres(&url, false, "b", 2).unwrap();
    a.inbox.enqueue(&note(1), 0).unwrap();
    a.inbox.enqueue(&note(2), 0).unwrap();
    a.inbox.claim(0).unwrap().unwrap();
    b.inbox.claim(0).unwrap().unwrap();
    // "a" restarted: its run is owed again at once; "b"'s run is alive and stays held.
    assert_eq!(a.inbox.recover().unwrap(), 1);
    assert!(b.inbox.claim(1).unwrap().is_some());
    assert!(a.inbox.claim(1).unwrap().is_none());
}

#[test]
fn postgres_migrations_apply_once_under_a_concurrent_start() {
    let Some(url) = super::postgres::scratch::database() else {
        return;
    };
    let target = super::postgres::PgTarget::parse(&url, false).unwrap();
    let applied: Vec<usize> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let pool = super::postgres::PgPool::new(target.clone(), 1);
                s.spawn(move || super::postgres::migrate(&mut pool.get().unwrap()).unwrap())
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let steps = super::postgres::MIGRATIONS_LEN;
    assert_eq!(applied.iter().sum::<usize>(), steps, "{applied:?}");
    let pool = super::postgres::PgPool::new(target, 1);
    let versions: Vec<i32> = pool
        .get()
        .unwrap()
        .query("SELECT version FROM schema_version ORDER BY version", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(versions, (1..=steps as i32).collect::<Vec<_>>());
}

#[test]
fn postgres_claims_across_replicas_never_overlap() {
    let Some(url) = super::postgres::scratch::database() else {
        return;
    };
    let replicas: Vec<Database> = (0..4)
        .map(|i| Database::postgres(&url, false, &format!("r{i}"), 2).unwrap())
        .collect();
    let tickets: Vec<Notification> = (0..50).map(note).collect();
    replicas[0].inbox.enqueue_batch(&tickets, 0).unwrap();
    // Every replica claims as fast as it can; each ticket is taken exactly once.
    let taken: Vec<Vec<u64>> = std::thread::scope(|s| {
        let handles: Vec<_> = replicas
            .iter()
            .map(|db| {
                s.spawn(move || {
                    let mut mine = Vec::new();
                    while let Some(c) = db.inbox.claim(0).unwrap() {
                        mine.push(c.notification.ticket_id);
                    }
                    mine
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut all: Vec<u64> = taken.concat();
    all.sort();
    assert_eq!(all, (0..50).collect::<Vec<_>>());
}

#[test]
fn postgres_shared_quota_never_exceeds_the_bucket() {
    let Some(url) = super::postgres::scratch::database() else {
        return;
    };
    let db = Database::postgres(&url, false, "q", 4).unwrap();
    let quota = db.quota.unwrap();
    // 600 a minute = 10 a second, burst 60: from a full bucket, at a frozen clock,
    // exactly 60 go, then the 61st waits about 100 ms.
    let taken = (0..100)
        .filter(|_| {
            quota
                .take("https://acme.zendesk.com", 600, 60, 1_000)
                .unwrap()
                .is_none()
        })
        .count();
    assert_eq!(taken, 60);
    assert_eq!(
        quota
            .take("https://acme.zendesk.com", 600, 60, 1_000)
            .unwrap(),
        Some(100)
    );
    // A second later, 10 more; another account has its own bucket.
    let later = (0..20)
        .filter(|_| {
            quota
                .take("https://acme.zendesk.com", 600, 60, 2_000)
                .unwrap()
                .is_none()
        })
        .count();
    assert_eq!(later, 10);
    assert!(quota
        .take("https://other.zendesk.com", 600, 60, 2_000)
        .unwrap()
        .is_none());
}

#[test]
fn postgres_one_replica_sweeps_each_interval_and_switches_are_shared() {
    let Some(url) = super::postgres::scratch::database() else {
        return;
    };
    let a = Database::postgres(&url, false, "a", 2).unwrap();
    let b = Database::postgres(&url, false, "b", 2).unwrap();
    // Replicas asking at once: one of them gets the turn.
    let turns: Vec<bool> = std::thread::scope(|s| {
        let handles: Vec<_> = [&a, &b, &a, &b]
            .into_iter()
            .map(|db| s.spawn(move || db.sweep.take_turn("prod", 1_000, 60).unwrap()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(turns.iter().filter(|t| **t).count(), 1, "{turns:?}");
    assert!(
        !b.sweep.take_turn("prod", 1_030, 60).unwrap(),
        "same interval"
    );
    assert!(
        b.sweep.take_turn("prod", 1_060, 60).unwrap(),
        "next interval"
    );
    assert!(
        a.sweep.take_turn("uat", 1_030, 60).unwrap(),
        "per environment"
    );
    a.sweep.set("prod", 1_000).unwrap();
    assert_eq!(b.sweep.get("prod").unwrap(), Some(1_000), "one cursor");
    a.overrides
        .set(&Change {
            target: Target::Brand,
            name: "retail".into(),
            mode: Some(Mode::Listening),
            set_by: "ana".into(),
            set_at: "t1".into(),
        })
        .unwrap();
    assert_eq!(b.overrides.load().unwrap().len(), 1, "one set of switches");
}
