//! The simulator behaves as the real Zendesk does where the gateway used to be able to
//! get away with less (`shared/zendesk-api.md`: "Webhook delivery", "Endpoint limits",
//! "Permissions"): best-effort webhooks with Zendesk's retries, timeout and circuit
//! breaker; the Update Ticket limits; admin-only setup endpoints; group membership on
//! assignment; 401 for wrong credentials; the trigger definitions.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use reqwest::{Client, Method};
use serde_json::{json, Value};
use zendesk_simulator::{
    AgentEdit, NewTicket, Simulator, SimulatorConfig, WebhookDelivery, WebhookPolicy,
};

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

async fn start(config: SimulatorConfig) -> Simulator {
    Simulator::start(config, loopback()).await.unwrap()
}

async fn call(
    sim: &Simulator,
    auth: Option<&str>,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, HeaderMap, Value) {
    let mut req = Client::new().request(method, format!("{}{path}", sim.base_url()));
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap();
    (
        status,
        headers,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn customer_ticket(subject: &str) -> NewTicket {
    NewTicket {
        subject: subject.into(),
        body: "help".into(),
        requester_id: 1001,
        ..Default::default()
    }
}

#[tokio::test]
async fn wrong_credentials_get_401_even_on_users_me() {
    let sim = start(SimulatorConfig::default()).await;
    let wrong = format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            "gladly-ai@example.com/token:wrong"
        )
    );
    let (status, headers, body) = call(
        &sim,
        Some(&wrong),
        Method::GET,
        "/api/v2/users/me.json",
        None,
    )
    .await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body, json!({"error": "Couldn't authenticate you"}));
    assert_eq!(headers["www-authenticate"], "Basic realm=\"Web Password\"");
    // Only without any credentials is the anonymous user answered.
    let (status, _, body) = call(&sim, None, Method::GET, "/api/v2/users/me", None).await;
    assert_eq!(status, 200);
    assert!(body["user"]["id"].is_null());
    // The administrator has a token of its own.
    let admin = sim.admin_auth_header();
    let (status, _, body) = call(&sim, Some(&admin), Method::GET, "/api/v2/users/me", None).await;
    assert_eq!(
        (status, body["user"]["role"].clone()),
        (200, json!("admin"))
    );
}

#[tokio::test]
async fn webhooks_triggers_and_automations_need_an_admin() {
    let sim = start(SimulatorConfig::default()).await;
    let agent = sim.auth_header();
    let admin = sim.admin_auth_header();
    let webhook = json!({"webhook": {"name": "gw", "status": "active",
        "endpoint": "https://gw.example.com/notify/x", "http_method": "POST",
        "request_format": "json", "subscriptions": ["conditional_ticket_events"]}});
    let trigger = json!({"trigger": {"title": "t", "conditions": {"all": [
        {"field": "update_type", "operator": "is", "value": "Create"}]},
        "actions": [{"field": "status", "value": "open"}]}});
    let automation = json!({"automation": {"title": "a", "conditions": {"all": [
        {"field": "assignee_id", "operator": "is", "value": "9000"},
        {"field": "assigned_at", "operator": "greater_than", "value": "1"}]},
        "actions": [{"field": "assignee_id", "value": ""}]}});
    for (path, body) in [
        ("/api/v2/webhooks", &webhook),
        ("/api/v2/triggers", &trigger),
        ("/api/v2/automations", &automation),
    ] {
        let (status, _, answer) =
            call(&sim, Some(&agent), Method::POST, path, Some(body.clone())).await;
        assert_eq!(status, 403, "{path}: {answer}");
        assert_eq!(answer["error"], "Forbidden", "{path}");
        let (status, _, answer) =
            call(&sim, Some(&admin), Method::POST, path, Some(body.clone())).await;
        assert_eq!(status, 201, "{path}: {answer}");
    }
    // Every webhooks call needs an admin; listing triggers does not.
    let (status, _, _) = call(&sim, Some(&agent), Method::GET, "/api/v2/webhooks", None).await;
    assert_eq!(status, 403);
    let (status, _, _) = call(&sim, Some(&agent), Method::GET, "/api/v2/triggers", None).await;
    assert_eq!(status, 200);
    // The trigger definitions (agents allowed) list what the account accepts.
    let (status, _, defs) = call(
        &sim,
        Some(&agent),
        Method::GET,
        "/api/v2/triggers/definitions",
        None,
    )
    .await;
    assert_eq!(status, 200);
    let all = defs["definitions"]["conditions_all"].as_array().unwrap();
    let current_user = all
        .iter()
        .find(|c| c["subject"] == "current_user")
        .expect("the updater condition is defined");
    let ops: Vec<&str> = current_user["operators"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["value"].as_str().unwrap())
        .collect();
    assert!(ops.contains(&"is_not"), "{ops:?}");
    assert!(defs["definitions"]["actions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["subject"] == "notification_webhook"));
}

#[tokio::test]
async fn assigning_an_agent_outside_the_group_is_refused_422() {
    let sim = start(SimulatorConfig::default()).await;
    let seat = sim.auth_header();
    // Group 12 (Escalations) has Hank (2001) and Ada (2002), not the seat (9000).
    let t = sim.create_ticket(NewTicket {
        group_id: Some(12),
        ..customer_ticket("escalated")
    });
    let path = format!("/api/v2/tickets/{}", t.id);
    let (status, _, body) = call(
        &sim,
        Some(&seat),
        Method::PUT,
        &path,
        Some(json!({"ticket": {"assignee_id": 9000}})),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"], "RecordInvalid");
    assert_eq!(
        body["details"]["assignee"][0]["description"],
        "Assignee: is not a member of the group"
    );
    assert!(sim.ticket(t.id).unwrap().assignee_id().is_none());
    // A member may be assigned; moving the ticket to a group with the assignee works.
    let (status, _, _) = call(
        &sim,
        Some(&seat),
        Method::PUT,
        &path,
        Some(json!({"ticket": {"assignee_id": 2001}})),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _, _) = call(
        &sim,
        Some(&seat),
        Method::PUT,
        &path,
        Some(json!({"ticket": {"assignee_id": 9000, "group_id": 10}})),
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn the_update_ticket_limit_is_shared_with_human_agents_and_counted_per_ticket() {
    let sim = start(SimulatorConfig {
        ticket_updates_per_minute: 5,
        ticket_updates_per_user_per_ticket: 3,
        ..SimulatorConfig::default()
    })
    .await;
    let seat = sim.auth_header();
    let a = sim.create_ticket(customer_ticket("a")).id;
    let b = sim.create_ticket(customer_ticket("b")).id;
    let put = |id: u64| {
        let seat = seat.clone();
        let sim = sim.clone();
        async move {
            call(
                &sim,
                Some(&seat),
                Method::PUT,
                &format!("/api/v2/tickets/{id}"),
                Some(json!({"ticket": {"tags": ["x"]}})),
            )
            .await
        }
    };
    for _ in 0..3 {
        assert_eq!(put(a).await.0, 200);
    }
    // The seat's 4th update of ticket a in 10 minutes is refused; ticket b is fine.
    let (status, headers, _) = put(a).await;
    assert_eq!(status, 429);
    let wait: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((501..=600).contains(&wait), "the 10-minute window: {wait}");
    assert_eq!(put(b).await.0, 200);
    // A human agent's save counts against the account's 5 a minute too...
    sim.update_ticket_as_agent(b, AgentEdit::default()).unwrap();
    // ...which are now used up, for the API and for the humans alike.
    let (status, headers, _) = put(b).await;
    assert_eq!(status, 429);
    let wait: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    let err = sim
        .update_ticket_as_agent(b, AgentEdit::default())
        .unwrap_err();
    assert!(err.to_string().contains("429"), "{err}");
    let r = Client::new()
        .put(format!("{}/_sim/tickets/{b}", sim.base_url()))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    // Reads are not limited by it.
    let (status, _, _) = call(
        &sim,
        Some(&seat),
        Method::GET,
        &format!("/api/v2/tickets/{b}"),
        None,
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn search_finds_tickets_updated_since_by_brand() {
    let sim = start(SimulatorConfig::default()).await;
    let seat = sim.auth_header();
    let before = chrono::Utc::now() - chrono::Duration::seconds(2);
    let one = sim.create_ticket(NewTicket {
        brand_id: Some(1),
        ..customer_ticket("one")
    });
    sim.create_ticket(NewTicket {
        brand_id: Some(2),
        ..customer_ticket("other brand")
    });
    let q = format!(
        "type:ticket updated>{} brand:1 status<solved",
        before.format("%Y-%m-%dT%H:%M:%SZ")
    );
    let path = format!(
        "/api/v2/search.json?query={}&sort_by=updated_at&sort_order=asc",
        urlencode(&q)
    );
    let (status, _, body) = call(&sim, Some(&seat), Method::GET, &path, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["count"], 1, "{body}");
    assert_eq!(body["results"][0]["id"], one.id);
    assert_eq!(body["results"][0]["result_type"], "ticket");
    let later = (chrono::Utc::now() + chrono::Duration::seconds(5)).format("%Y-%m-%dT%H:%M:%SZ");
    let q = format!("type:ticket updated>{later}");
    let path = format!("/api/v2/search.json?query={}", urlencode(&q));
    let (_, _, body) = call(&sim, Some(&seat), Method::GET, &path, None).await;
    assert_eq!(body["count"], 0, "{body}");
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A webhook endpoint that answers with `status` (changeable) after `delay`, and
/// records the headers of every call.
struct Endpoint {
    url: String,
    status: Arc<AtomicU16>,
    retry_after: Arc<Mutex<Option<String>>>,
    delay: Arc<Mutex<Duration>>,
    calls: Arc<Mutex<Vec<HeaderMap>>>,
}

async fn endpoint(status: u16) -> Endpoint {
    let st = Arc::new(AtomicU16::new(status));
    let retry_after = Arc::new(Mutex::new(None::<String>));
    let delay = Arc::new(Mutex::new(Duration::ZERO));
    let calls = Arc::new(Mutex::new(Vec::new()));
    let (s2, r2, d2, c2) = (
        st.clone(),
        retry_after.clone(),
        delay.clone(),
        calls.clone(),
    );
    let app = axum::Router::new().fallback(move |headers: HeaderMap| {
        let (s2, r2, d2, c2) = (s2.clone(), r2.clone(), d2.clone(), c2.clone());
        async move {
            c2.lock().unwrap().push(headers);
            let wait = *d2.lock().unwrap();
            tokio::time::sleep(wait).await;
            let status = StatusCode::from_u16(s2.load(Ordering::SeqCst)).unwrap();
            let mut resp = status.into_response();
            if let Some(ra) = r2.lock().unwrap().clone() {
                resp.headers_mut()
                    .insert("retry-after", ra.parse().unwrap());
            }
            resp
        }
    });
    let listener = tokio::net::TcpListener::bind(loopback()).await.unwrap();
    let url = format!("http://{}/notify/tok", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Endpoint {
        url,
        status: st,
        retry_after,
        delay,
        calls,
    }
}

/// A webhook to `url` and a trigger calling it on every ticket created; the webhook id.
async fn wire(sim: &Simulator, url: &str) -> String {
    let admin = sim.admin_auth_header();
    let (status, _, w) = call(
        sim,
        Some(&admin),
        Method::POST,
        "/api/v2/webhooks",
        Some(
            json!({"webhook": {"name": "gw", "status": "active", "endpoint": url,
            "http_method": "POST", "request_format": "json",
            "subscriptions": ["conditional_ticket_events"]}}),
        ),
    )
    .await;
    assert_eq!(status, 201, "{w}");
    let id = w["webhook"]["id"].as_str().unwrap().to_string();
    let (status, _, t) = call(
        sim,
        Some(&admin),
        Method::POST,
        "/api/v2/triggers",
        Some(
            json!({"trigger": {"title": "notify", "conditions": {"all": [
            {"field": "update_type", "operator": "is", "value": "Create"}]},
            "actions": [{"field": "notification_webhook",
                         "value": [id, "{\"id\": {{ticket.id}}}"]}]}}),
        ),
    )
    .await;
    assert_eq!(status, 201, "{t}");
    id
}

/// Waits until every invocation has ended (not `pending`, all attempts made).
async fn settled(sim: &Simulator, n: usize) -> Vec<WebhookDelivery> {
    let started = Instant::now();
    loop {
        let d = sim.webhook_deliveries();
        if d.len() >= n && d.iter().all(|d| d.outcome != "pending") {
            return d;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "webhook calls still pending: {d:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn fast_policy() -> WebhookPolicy {
    WebhookPolicy {
        timeout: Duration::from_millis(300),
        retry_delay: Duration::from_millis(10),
        ..WebhookPolicy::default()
    }
}

#[tokio::test]
async fn webhooks_are_retried_only_as_zendesk_retries_them() {
    let sim = start(SimulatorConfig {
        webhooks: fast_policy(),
        ..SimulatorConfig::default()
    })
    .await;
    let ep = endpoint(409).await;
    let wid = wire(&sim, &ep.url).await;
    let attempts_for = |status: u16, retry_after: Option<&str>, delay_ms: u64| {
        ep.status.store(status, Ordering::SeqCst);
        *ep.retry_after.lock().unwrap() = retry_after.map(str::to_string);
        *ep.delay.lock().unwrap() = Duration::from_millis(delay_ms);
        ep.calls.lock().unwrap().clear();
        let sim = sim.clone();
        async move {
            let before = sim.webhook_deliveries().len();
            sim.create_ticket(customer_ticket("t"));
            let all = settled(&sim, before + 1).await;
            all[before].clone()
        }
    };
    // 409: the first try and 3 retries, all with the same invocation id.
    let d = attempts_for(409, None, 0).await;
    assert_eq!((d.attempts.len(), d.outcome.as_str()), (4, "failed"));
    let calls = ep.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 4);
    for h in &calls {
        assert_eq!(h["x-zendesk-webhook-id"], wid.as_str());
        assert_eq!(
            h["x-zendesk-webhook-invocation-id"],
            d.invocation_id.as_str()
        );
    }
    // 503 without Retry-After, 500, 401, 404: once, and the notification is gone.
    for status in [503, 500, 401, 404] {
        let d = attempts_for(status, None, 0).await;
        assert_eq!(d.attempts.len(), 1, "{status}");
        assert_eq!(d.outcome, "failed");
    }
    // 503 or 429 with Retry-After under 60 s: retried (up to 3 times).
    let d = attempts_for(503, Some("0"), 0).await;
    assert_eq!(d.attempts.len(), 4);
    let d = attempts_for(429, Some("60"), 0).await;
    assert_eq!(d.attempts.len(), 1, "Retry-After of 60 s or more is final");
    // A timeout: retried up to 5 times.
    let d = attempts_for(200, None, 600).await;
    assert_eq!(d.attempts.len(), 6, "{d:?}");
    assert_eq!(d.attempts[0].error.as_deref(), Some("timed out"));
    // A success: once.
    let d = attempts_for(200, None, 0).await;
    assert_eq!((d.attempts.len(), d.outcome.as_str()), (1, "success"));

    // The invocations API shows them, newest first, with their attempts.
    let admin = sim.admin_auth_header();
    let (status, _, inv) = call(
        &sim,
        Some(&admin),
        Method::GET,
        &format!("/api/v2/webhooks/{wid}/invocations"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{inv}");
    let first = &inv["invocations"][0];
    assert_eq!(first["id"], d.invocation_id.as_str());
    assert_eq!(first["status"], "success");
    assert_eq!(first["latest_status"], 200);
    assert!(first["latest_completed_at"].is_string());
    let conflict = sim.webhook_deliveries()[0].invocation_id.clone();
    let (_, _, attempts) = call(
        &sim,
        Some(&admin),
        Method::GET,
        &format!("/api/v2/webhooks/{wid}/invocations/{conflict}/attempts"),
        None,
    )
    .await;
    let list = attempts["attempts"].as_array().unwrap();
    assert_eq!(list.len(), 4);
    assert_eq!(list[0]["status_code"], 409);
    assert_eq!(list[0]["invocation_id"], conflict.as_str());
    assert_eq!(list[0]["status"], "failed");
    // Agents may not look.
    let (status, _, _) = call(
        &sim,
        Some(&sim.auth_header()),
        Method::GET,
        &format!("/api/v2/webhooks/{wid}/invocations"),
        None,
    )
    .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn the_circuit_breaker_pauses_a_failing_webhook_and_drops_its_notifications() {
    let sim = start(SimulatorConfig {
        webhooks: WebhookPolicy {
            breaker_min_requests: 10,
            breaker_pause: Duration::from_millis(500),
            ..fast_policy()
        },
        ..SimulatorConfig::default()
    })
    .await;
    let ep = endpoint(500).await;
    let wid = wire(&sim, &ep.url).await;
    let breaker = || async {
        let r: Value = Client::new()
            .get(format!("{}/_sim/webhooks/{wid}/breaker", sim.base_url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        r["breaker"].clone()
    };
    assert_eq!(breaker().await["state"], "closed");
    // 10 failures of 10 requests: paused.
    for i in 0..10 {
        sim.create_ticket(customer_ticket("down"));
        settled(&sim, i + 1).await;
    }
    let b = breaker().await;
    assert_eq!(b["state"], "open", "{b}");
    assert_eq!(b["trips"], 1);
    // While paused, notifications are dropped, not queued: the endpoint never sees
    // them, even once it is healthy again.
    ep.status.store(200, Ordering::SeqCst);
    let calls_before = ep.calls.lock().unwrap().len();
    sim.create_ticket(customer_ticket("lost"));
    let d = settled(&sim, 11).await;
    assert_eq!(d[10].outcome, "circuit_broken");
    assert!(d[10].attempts.is_empty());
    assert_eq!(ep.calls.lock().unwrap().len(), calls_before);
    // After the pause the next notification is tried, and its success resumes it.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(breaker().await["state"], "half_open");
    sim.create_ticket(customer_ticket("back"));
    let d = settled(&sim, 12).await;
    assert_eq!(d[11].outcome, "success");
    let b = breaker().await;
    assert_eq!(b["state"], "closed", "{b}");
    assert_eq!(b["dropped"], 1);
    sim.create_ticket(customer_ticket("normal"));
    assert_eq!(settled(&sim, 13).await[12].outcome, "success");
}
