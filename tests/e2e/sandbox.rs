//! Hostile plugins: the gateway stays up, other brands are served meanwhile, and every
//! affected ticket goes to a human with the reason, within the limit's bound.

use crate::harness::*;
use std::time::{Duration, Instant};
use zendesk_gateway::plugin_artifacts as artifacts;

/// Deadline given to hostile brands, so the loop test is quick.
const DEADLINE_MS: u64 = 1000;

fn hostile(name: &'static str, path: &str) -> BrandSpec {
    let mut b = BrandSpec::new(
        name,
        path,
        &format!("{name}-endpoint-token-0123456789abcdef"),
    );
    b.extra = format!(
        "limits = {{ deadline_ms = {DEADLINE_MS}, memory_mib = 16, quarantine_after = 3 }}"
    );
    b
}

fn token(name: &str) -> String {
    format!("{name}-endpoint-token-0123456789abcdef")
}

fn tags(h: &Harness, id: u64) -> Vec<String> {
    h.sim.ticket(id).unwrap().ticket["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect()
}

fn notes_and_replies(h: &Harness, id: u64) -> (Vec<String>, Vec<String>) {
    let state = h.sim.ticket(id).unwrap();
    let mut notes = Vec::new();
    let mut replies = Vec::new();
    for c in state.comments.iter().skip(1) {
        let body = c["body"].as_str().unwrap_or("").to_string();
        if c["public"] == true {
            replies.push(body)
        } else {
            notes.push(body)
        }
    }
    (notes, replies)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_plugins_are_contained_and_tickets_handed_to_humans() {
    let mut h = Harness::with_brands(vec![
        BrandSpec::new("triage", artifacts::TRIAGE_PATH, TRIAGE_TOKEN),
        hostile("loop", artifacts::HOSTILE_LOOP_PATH),
        hostile("memory", artifacts::HOSTILE_MEMORY_PATH),
        hostile("recursion", artifacts::HOSTILE_RECURSION_PATH),
        hostile("panic", artifacts::HOSTILE_PANIC_PATH),
        hostile("slowhost", artifacts::HOSTILE_SLOW_HOST_PATH),
    ])
    .await;

    // (brand, what the hand-off reason must say)
    let cases = [
        ("loop", "time limit"),
        ("memory", "out of memory"),
        ("recursion", "crashed"),
        ("panic", "crashed"),
        ("slowhost", "time limit"),
    ];
    let mut tickets = Vec::new();
    for (brand, _) in &cases {
        let id = h.ticket(
            &format!("Help from {brand}"),
            "My order arrived broken, please help.",
        );
        h.notify(&token(brand), id).await;
        tickets.push(id);
    }
    // A healthy brand is served while the hostile ones run.
    let healthy = h.ticket("Password reset", "I cannot log in to my account.");
    let sent = Instant::now();
    h.notify(TRIAGE_TOKEN, healthy).await;
    let runs = h.wait_runs(healthy, 1).await;
    assert_ne!(runs[0].outcome, "failed", "{:?}", runs[0]);
    assert!(sent.elapsed() < Duration::from_secs(10));

    for ((brand, expect), id) in cases.iter().zip(&tickets) {
        let runs = h.wait_runs(*id, 1).await;
        let run = &runs[0];
        assert_eq!(run.outcome, "failed", "{brand}: {run:?}");
        assert!(
            run.reason.contains(expect),
            "{brand}: reason {:?} should say {expect:?}",
            run.reason
        );
        let (notes, replies) = notes_and_replies(&h, *id);
        assert!(
            replies.is_empty(),
            "{brand}: nothing may reach the customer: {replies:?}"
        );
        assert_eq!(notes.len(), 1, "{brand}: one hand-off note");
        assert!(
            notes[0].contains(brand) && notes[0].contains(&run.plugin_version),
            "{brand}: {}",
            notes[0]
        );
        assert!(
            tags(&h, *id).contains(&"ai_handoff_error".to_string()),
            "{brand}"
        );
        if *expect == "time limit" {
            // Stopped within the deadline plus a small margin (the Zendesk reads and the
            // hand-off PUT are in the run's duration too).
            assert!(
                run.duration_ms < DEADLINE_MS + 1500,
                "{brand}: took {} ms",
                run.duration_ms
            );
        }
    }
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_limit_actions_are_refused_and_the_sandbox_has_no_files_network_or_env() {
    let mut h = Harness::with_brands(vec![
        hostile("hugereply", artifacts::HOSTILE_HUGE_REPLY_PATH),
        hostile("tags", artifacts::HOSTILE_TAGS_PATH),
        hostile("fs", artifacts::HOSTILE_FS_PATH),
        hostile("logflood", artifacts::HOSTILE_LOG_FLOOD_PATH),
    ])
    .await;
    let big = h.ticket("Huge", "hello");
    let many = h.ticket("Tags", "hello");
    let fs = h.ticket("Files", "hello");
    let flood = h.ticket("Logs", "hello");
    h.notify(&token("hugereply"), big).await;
    h.notify(&token("tags"), many).await;
    h.notify(&token("fs"), fs).await;
    h.notify(&token("logflood"), flood).await;

    let run = &h.wait_runs(big, 1).await[0];
    let (_, replies) = notes_and_replies(&h, big);
    assert!(
        replies.iter().all(|r| r.len() <= 16 * 1024),
        "no reply over the limit was sent"
    );
    assert!(
        run.reason.contains("over the limit") || run.outcome == "failed",
        "{run:?}"
    );

    let run = &h.wait_runs(many, 1).await[0];
    assert!(tags(&h, many).len() <= 50, "tags capped: {run:?}");

    h.wait_runs(fs, 1).await;
    let (_, replies) = notes_and_replies(&h, fs);
    let report = replies.join(" ");
    assert!(report.contains("fs: Err"), "{report}");
    assert!(report.contains("net: Err"), "{report}");
    assert!(report.contains("env: 0"), "{report}");

    // A million log calls: the gateway survives and the run ends.
    let run = &h.wait_runs(flood, 1).await[0];
    assert!(!run.outcome.as_str().is_empty());
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_failing_again_and_again_is_quarantined() {
    let mut h = Harness::with_brands(vec![hostile("panic", artifacts::HOSTILE_PANIC_PATH)]).await;
    let mut ids = Vec::new();
    for i in 0..4 {
        let id = h.ticket(&format!("Ticket {i}"), "hello");
        h.notify(&token("panic"), id).await;
        h.wait_runs(id, 1).await;
        ids.push(id);
    }
    let last = &h.wait_runs(ids[3], 1).await[0];
    assert_eq!(last.outcome, "failed");
    assert!(last.reason.contains("quarantined"), "{}", last.reason);
    let body: serde_json::Value = h
        .http
        .get(format!("{}/admin/plugins", h.gw().url()))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["plugins"][0]["quarantined"], true, "{body}");
    h.stop().await;
}
