//! The store tests, run against both backends: every behaviour the pipeline relies on
//! holds for the SQLite file and for PostgreSQL alike.

use super::audit::AuditRecord;
use super::fleet::ReplicaInfo;
use super::inbox::{Enqueued, Finish, Notification};
use super::Database;
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
