//! Notification -> plugin -> Zendesk: the state changes, the call budget, the loop guard,
//! conflicts and missing tickets.

use crate::harness::*;
use zendesk_simulator::{Fault, NewComment};

fn public_comments(state: &zendesk_simulator::TicketState) -> Vec<&serde_json::Value> {
    state
        .comments
        .iter()
        .filter(|c| c["public"] == true)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn triage_acknowledges_tags_and_commits_in_one_put() {
    let mut h = Harness::start().await;
    let seat = sim_config().seat.id;
    let id = h.ticket(
        "Charged twice for my subscription",
        "Hi, I was charged twice on my credit card for the March invoice. Please refund the duplicate charge.",
    );
    h.sim.clear_calls();
    h.notify(TRIAGE_TOKEN, id).await;
    let runs = h.wait_runs(id, 1).await;
    assert_eq!(runs[0].brand, "triage");
    assert!(!runs[0].plugin_version.is_empty());

    let state = h.sim.ticket(id).unwrap();
    let public = public_comments(&state);
    assert_eq!(public.len(), 2, "the customer's message and one AI reply");
    let reply = &public[1];
    assert_eq!(reply["author_id"].as_u64(), Some(seat));
    assert!(reply["body"]
        .as_str()
        .unwrap()
        .contains("Charged twice for my subscription"));
    let tags: Vec<&str> = state.ticket["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert!(tags.contains(&"billing"), "{tags:?}");
    assert!(tags.contains(&"ai_triaged"), "{tags:?}");

    // The budget: at most two GETs and exactly one PUT for the handled ticket.
    let calls = h.calls_for(id);
    let gets = calls.iter().filter(|(m, _)| m == "GET").count();
    let puts = calls.iter().filter(|(m, _)| m == "PUT").count();
    assert!(gets <= 2, "{calls:?}");
    assert_eq!(puts, 1, "{calls:?}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thanks_solves_and_loop_guard_skips_our_own_last_word() {
    let mut h = Harness::start().await;
    let id = h.ticket(
        "Locked out after enabling 2FA",
        "My login fails since I enabled 2FA.",
    );
    h.notify(TRIAGE_TOKEN, id).await;
    h.wait_runs(id, 1).await;

    // A second notification with the AI's reply as the newest public comment: skipped,
    // nothing written.
    h.sim.clear_calls();
    h.notify(TRIAGE_TOKEN, id).await;
    let runs = h.wait_runs(id, 2).await;
    assert_eq!(runs[1].outcome, "skipped");
    assert!(runs[1].reason.contains("AI seat"), "{}", runs[1].reason);
    assert!(h.calls_for(id).iter().all(|(m, _)| m == "GET"));
    assert_eq!(public_comments(&h.sim.ticket(id).unwrap()).len(), 2);

    // The customer says thanks: solved.
    h.sim
        .add_comment(
            id,
            NewComment {
                author_id: CUSTOMER,
                body: "Thank you, that fixed it!".into(),
                public: true,
            },
        )
        .unwrap();
    h.notify(TRIAGE_TOKEN, id).await;
    let runs = h.wait_runs(id, 3).await;
    assert_eq!(runs[2].outcome, "handled", "{:?}", runs[2]);
    assert_eq!(h.sim.ticket(id).unwrap().ticket["status"], "solved");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_desk_answers_a_clear_question() {
    let mut h = Harness::start().await;
    let id = h.ticket(
        "Where is my order?",
        "Hello, where is my order? I have no tracking number yet.",
    );
    h.notify(ORDERS_TOKEN, id).await;
    let runs = h.wait_runs(id, 1).await;
    assert_eq!(runs[0].brand, "orders");
    assert_eq!(runs[0].outcome, "handled", "{:?}", runs[0]);
    let state = h.sim.ticket(id).unwrap();
    assert_eq!(public_comments(&state).len(), 2);
    assert_eq!(state.ticket["status"], "pending");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_notifications_give_one_reply() {
    let mut h = Harness::start().await;
    let id = h.ticket(
        "Export crashes",
        "The CSV export crashes with an error every time.",
    );
    let sends = (0..20).map(|_| h.notify(TRIAGE_TOKEN, id));
    futures_join_all(sends).await;
    // Coalescing leaves at most a few runs; every one after the first is skipped.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let runs = h.wait_runs(id, 1).await;
    while h.gw().gateway.inbox.depth().unwrap() > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let runs_after = h.gw().gateway.audit.query(Some(id), 100).unwrap();
    assert!(runs_after.len() >= runs.len());
    let state = h.sim.ticket(id).unwrap();
    assert_eq!(public_comments(&state).len(), 2, "exactly one AI reply");
    h.stop().await;
}

async fn futures_join_all<F: std::future::Future<Output = ()>>(futs: impl Iterator<Item = F>) {
    let mut set = Vec::new();
    for f in futs {
        set.push(f);
    }
    for f in set {
        f.await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_safe_update_conflict_runs_the_plugin_again_on_fresh_data() {
    let mut h = Harness::start().await;
    let id = h.ticket("Invoice question", "Can you resend my invoice?");
    // A human agent's edit lands between the gateway's read and its PUT: Zendesk
    // answers the PUT with 409.
    h.sim.inject_fault(Fault {
        method: Some("PUT".into()),
        path_contains: Some(format!("/tickets/{id}")),
        status: 409,
        retry_after: None,
        times: 1,
        ..Default::default()
    });
    h.notify(TRIAGE_TOKEN, id).await;
    let runs = h.wait_runs(id, 1).await;
    assert_ne!(runs[0].outcome, "failed", "{:?}", runs[0]);
    let calls = h.calls_for(id);
    assert_eq!(
        calls.iter().filter(|(m, _)| m == "PUT").count(),
        2,
        "{calls:?}"
    );
    let state = h.sim.ticket(id).unwrap();
    assert_eq!(
        public_comments(&state).len(),
        2,
        "one reply, despite the retry"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_that_does_not_exist_is_logged_and_nothing_breaks() {
    let mut h = Harness::start().await;
    h.notify(TRIAGE_TOKEN, 999_999).await;
    let runs = h.wait_runs(999_999, 1).await;
    assert_eq!(runs[0].outcome, "failed");
    assert!(
        runs[0].reason.contains("does not exist"),
        "{}",
        runs[0].reason
    );
    // The gateway still serves.
    let id = h.ticket("Password reset", "I forgot my password and cannot log in.");
    h.notify(TRIAGE_TOKEN, id).await;
    let runs = h.wait_runs(id, 1).await;
    assert_ne!(runs[0].outcome, "failed");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_built_against_wit_0_1_0_still_works() {
    let mut h = Harness::with_brands(vec![BrandSpec::new(
        "legacy",
        zendesk_gateway::plugin_artifacts::LEGACY_V0_1_PATH,
        TRIAGE_TOKEN,
    )])
    .await;
    assert_eq!(
        h.gw()
            .gateway
            .brand("legacy")
            .unwrap()
            .plugin
            .pre
            .wit_version(),
        "0.1.0"
    );
    let id = h.ticket("Old plugin", "Does the old plugin still answer?");
    h.notify(TRIAGE_TOKEN, id).await;
    let runs = h.wait_runs(id, 1).await;
    assert_eq!(runs[0].outcome, "handled", "{:?}", runs[0]);
    let state = h.sim.ticket(id).unwrap();
    let reply = public_comments(&state)[1]["body"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        reply.contains("0.1.0 plugin") && reply.contains("Old plugin"),
        "{reply}"
    );
    assert!(state.ticket["tags"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t == "legacy_v0_1"));
    h.stop().await;
}

/// A human agent who answered publicly owns the conversation: the gateway does not let the
/// plugin talk over them, whatever the plugin would do; a ticket an agent opened publicly
/// for a customer is still handled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_human_agents_public_reply_is_not_answered_by_the_ai() {
    /// Hank Human, an agent in the default simulator account.
    const AGENT: u64 = 2001;
    let mut h = Harness::start().await;
    let id = h.ticket("Where is my order?", "Where is my order? Still not here.");
    h.sim
        .add_comment(
            id,
            NewComment::public(AGENT, "Hi Maria, I'm looking into it myself now."),
        )
        .unwrap();
    h.sim.clear_calls();
    h.notify(ORDERS_TOKEN, id).await;
    let runs = h.wait_runs(id, 1).await;
    assert_eq!(runs[0].outcome, "skipped", "{:?}", runs[0]);
    assert!(
        runs[0].reason.contains("human agent (user 2001)"),
        "{}",
        runs[0].reason
    );
    assert!(
        h.calls_for(id).iter().all(|(m, _)| m == "GET"),
        "nothing written"
    );

    // The customer answers the agent: the newest word is the customer's again, but the
    // conversation has a human in it; the plugin decides (the order desk hands a repeated
    // topic to humans).
    h.sim
        .add_comment(id, NewComment::public(CUSTOMER, "Thanks Hank, any news?"))
        .unwrap();
    h.notify(ORDERS_TOKEN, id).await;
    let runs = h.wait_runs(id, 2).await;
    assert_ne!(runs[1].outcome, "skipped", "{:?}", runs[1]);
    h.stop().await;
}
