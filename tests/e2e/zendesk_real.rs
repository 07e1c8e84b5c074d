//! The gateway against a Zendesk that behaves as the real one does: lost webhooks and
//! the circuit breaker (caught up by the sweep), the Update Ticket limits, group
//! membership on assignment.

use crate::harness::*;
use std::time::{Duration, Instant};
use zendesk_gateway::config::Environment;
use zendesk_gateway::gateway::StartOptions;
use zendesk_gateway::service::launch;
use zendesk_gateway::zendesk::{TicketUpdate, ZendeskClient, ZendeskErrorKind};
use zendesk_simulator::{AgentEdit, NewTicket, SimulatorConfig, WebhookPolicy};

fn order_desk() -> BrandSpec {
    BrandSpec::new(
        "orders",
        zendesk_gateway::plugin_artifacts::ORDER_DESK_PATH,
        ORDERS_TOKEN,
    )
}

fn question(h: &Harness, n: usize) -> u64 {
    h.ticket(
        &format!("Where is my order? #{n}"),
        "Hello, where is my order? I have no tracking number yet.",
    )
}

/// The seat's public comments on a ticket.
fn seat_replies(h: &Harness, id: u64) -> usize {
    let seat = h.sim.seat().id;
    h.sim
        .ticket(id)
        .unwrap()
        .comments
        .iter()
        .filter(|c| c["public"] == true && c["author_id"] == seat)
        .count()
}

/// The gateway's `PUT /api/v2/tickets/{id}` calls, as the simulator logged them.
fn ticket_puts(h: &Harness) -> Vec<zendesk_simulator::ApiCall> {
    h.sim
        .calls()
        .into_iter()
        .filter(|c| {
            c.method == "PUT" && c.path.starts_with("/api/v2/tickets/") && !c.path.contains("/tags")
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_update_budget_holds_under_a_burst_while_a_human_updates_tickets_too() {
    let mut h = Harness::custom(sim_config(), vec![order_desk()], |t| {
        t.replace(
            "ticket_updates_per_minute = 100",
            "ticket_updates_per_minute = 60",
        )
    })
    .await;
    let ids: Vec<u64> = (0..20).map(|n| question(&h, n)).collect();
    let theirs: Vec<u64> = (0..30)
        .map(|n| h.ticket(&format!("Human's ticket {n}"), "Please call me"))
        .collect();
    // A human agent saves tickets in the Zendesk UI meanwhile: every save counts
    // against the same Update Ticket limit of 100 a minute.
    let human = {
        let sim = h.sim.clone();
        tokio::spawn(async move {
            for id in theirs {
                sim.update_ticket_as_agent(
                    id,
                    AgentEdit {
                        priority: Some(Some("high".into())),
                        ..Default::default()
                    },
                )
                .expect("the human's save is not refused");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    for id in &ids {
        h.notify(ORDERS_TOKEN, *id).await;
    }
    for id in &ids {
        let runs = h.wait_runs(*id, 1).await;
        assert_eq!(runs[0].outcome, "handled", "{:?}", runs[0]);
    }
    human.await.unwrap();
    let puts = ticket_puts(&h);
    assert!(
        puts.iter().all(|c| c.status != 429),
        "Zendesk never had to refuse an update"
    );
    assert_eq!(puts.len(), ids.len());
    // 60 a minute with a burst of a tenth: in any 3 seconds at most 6 + 3, and one
    // for the edges of the window.
    let window = chrono::Duration::seconds(3);
    let most = puts
        .iter()
        .map(|first| {
            puts.iter()
                .filter(|c| c.at >= first.at && c.at < first.at + window)
                .count()
        })
        .max()
        .unwrap();
    assert!(
        most <= 10,
        "{most} ticket updates within 3 s: over the budget"
    );
    h.stop().await;
}

/// Zendesk lets one user update one ticket 30 times in 10 minutes: the 31st update is
/// not sent, and the ticket is told when to try again (a passing failure).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_updated_thirty_times_in_ten_minutes_waits_instead_of_being_refused() {
    let h = Harness::custom(sim_config(), vec![order_desk()], |t| t).await;
    let id = question(&h, 1);
    let env: Environment = h.gw().gateway.config().environments["production"].clone();
    let client = ZendeskClient::new(&env, fast_client(), h.gw().gateway.metrics.clone()).unwrap();
    h.sim.clear_calls();
    for i in 0..30 {
        let update = TicketUpdate {
            tags: Some(vec![format!("round_{i}")]),
            ..Default::default()
        };
        client.update_ticket(id, &update).await.unwrap();
    }
    let err = client
        .update_ticket(id, &TicketUpdate::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind, ZendeskErrorKind::RateLimited, "{err}");
    assert!(err.is_transient());
    let wait = err.retry_after.unwrap();
    assert!(
        wait > Duration::from_secs(500) && wait <= Duration::from_secs(600),
        "{wait:?}"
    );
    assert!(err.to_string().contains("per-ticket limit"), "{err}");
    assert_eq!(ticket_puts(&h).len(), 30, "the 31st update was never sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_membership_refusal_hands_the_ticket_off_with_zendesks_reason() {
    let mut h = Harness::with_brands(vec![BrandSpec::new(
        "assign",
        zendesk_gateway::plugin_artifacts::HOSTILE_ASSIGN_PATH,
        TRIAGE_TOKEN,
    )])
    .await;
    // Group 12 (Escalations) does not have the seat as a member.
    let id = h
        .sim
        .create_ticket(NewTicket {
            subject: "Escalated".into(),
            body: "Still broken".into(),
            requester_id: CUSTOMER,
            group_id: Some(12),
            ..Default::default()
        })
        .id;
    h.notify(TRIAGE_TOKEN, id).await;
    let runs = h.wait_runs(id, 1).await;
    // The plugin's decision failed (Zendesk refused it); the hand-off went out instead.
    assert_eq!(runs[0].outcome, "failed", "{:?}", runs[0]);
    let committed = runs[0]
        .committed
        .as_ref()
        .expect("the hand-off was committed");
    assert_eq!(committed["tags"], serde_json::json!(["ai_handoff_error"]));
    assert!(
        runs[0]
            .reason
            .contains("Assignee: is not a member of the group"),
        "{}",
        runs[0].reason
    );
    let state = h.sim.ticket(id).unwrap();
    assert!(state.assignee_id().is_none());
    assert!(state.tags().contains(&"ai_handoff_error".to_string()));
    let note = state
        .comments
        .iter()
        .find(|c| c["public"] == false)
        .expect("a hand-off note");
    assert!(
        note["body"]
            .as_str()
            .unwrap()
            .contains("Assignee: is not a member of the group"),
        "{note}"
    );
    h.stop().await;
}

/// A free loopback port, so a restarted gateway is reachable at the same URL that
/// Zendesk's webhook points at.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A webhook to the gateway's endpoint and the trigger that calls it for every public
/// comment not written by the seat (the updater condition); the webhook's id.
async fn wire_zendesk(h: &Harness, notify_url: &str) -> String {
    let http = reqwest::Client::new();
    let admin = h.sim.admin_auth_header();
    let w: serde_json::Value = http
        .post(format!("{}/api/v2/webhooks", h.sim.base_url()))
        .header("authorization", &admin)
        .json(
            &serde_json::json!({"webhook": {"name": "gateway", "status": "active",
            "endpoint": notify_url, "http_method": "POST", "request_format": "json",
            "subscriptions": ["conditional_ticket_events"]}}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let wid = w["webhook"]["id"].as_str().unwrap().to_string();
    let seat = h.sim.seat().id.to_string();
    let r = http
        .post(format!("{}/api/v2/triggers", h.sim.base_url()))
        .header("authorization", &admin)
        .json(
            &serde_json::json!({"trigger": {"title": "Notify the gateway", "conditions": {
            "all": [
                {"field": "comment_is_public", "operator": "is", "value": "true"},
                {"field": "current_user", "operator": "is_not", "value": seat}
            ]},
            "actions": [{"field": "notification_webhook",
                         "value": [wid, "{\"id\": {{ticket.id}}}"]}]}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    wid
}

fn sweep_found(metrics: &str) -> u64 {
    metrics
        .lines()
        .find(|l| l.starts_with("zendesk_gateway_sweep_found_total{environment=\"production\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_answers_every_ticket_whose_notification_the_breaker_dropped_once() {
    let sim_config = SimulatorConfig {
        webhooks: WebhookPolicy {
            timeout: Duration::from_secs(2),
            retry_delay: Duration::from_millis(50),
            breaker_min_requests: 10,
            breaker_pause: Duration::from_secs(2),
            ..WebhookPolicy::default()
        },
        ..sim_config()
    };
    let port = free_port();
    let mut h = Harness::custom(sim_config, vec![order_desk()], |t| {
        t.replace(
            "listen = \"127.0.0.1:0\"",
            &format!("listen = \"127.0.0.1:{port}\""),
        )
        .replace("sweep_every_secs = 0", "sweep_every_secs = 1")
    })
    .await;
    let wid = wire_zendesk(&h, &h.gw().notify_url("orders").unwrap()).await;

    // While all is well, the webhook brings each ticket.
    let first = question(&h, 0);
    h.wait_runs(first, 1).await;
    assert_eq!(seat_replies(&h, first), 1);

    // The gateway goes down (a deploy): every call fails, the breaker trips, and what
    // Zendesk sends while it is paused is dropped.
    h.stop().await;
    let mut lost: Vec<u64> = Vec::new();
    for n in 1..=14 {
        lost.push(question(&h, n));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let started = Instant::now();
    while h.sim.webhook_breaker(&wid)["trips"] == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the breaker never tripped"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let deliveries = h.sim.webhook_deliveries();
    assert!(
        deliveries.iter().any(|d| d.outcome == "circuit_broken"),
        "notifications were dropped while paused: {deliveries:?}"
    );

    // Back up, on the same address and database: the sweep finds every ticket Zendesk
    // could not deliver, and each is answered once.
    let config = zendesk_gateway::config::Config::load(&h.dir.join("gateway.toml")).unwrap();
    h.gw = Some(
        launch(
            config,
            StartOptions {
                client: fast_client(),
            },
        )
        .await
        .unwrap(),
    );
    for id in &lost {
        let runs = h.wait_runs(*id, 1).await;
        assert_eq!(runs[0].outcome, "handled", "ticket {id}: {:?}", runs[0]);
    }
    // After the pause a new notification goes through again and the webhook resumes.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = question(&h, 99);
    h.wait_runs(after, 1).await;
    let started = Instant::now();
    while h.sim.webhook_breaker(&wid)["state"] != "closed" {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the webhook never resumed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Let a few more sweeps run: nothing is answered twice.
    tokio::time::sleep(Duration::from_secs(3)).await;
    for id in lost.iter().chain([&first, &after]) {
        assert_eq!(seat_replies(&h, *id), 1, "ticket {id} answered once");
    }
    let found = sweep_found(&h.metrics_text().await);
    assert!(
        found >= lost.len() as u64,
        "the sweep counted the lost notifications: {found}"
    );
    h.stop().await;
}
