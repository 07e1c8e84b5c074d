//! Timing faults over real HTTP: a request held before it reads the state, an answer
//! held after the commit, a lost answer, a fault for a time window, a raw
//! `Retry-After`, and the admin API refusing a fault that would change nothing.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use zendesk_simulator::{Fault, NewTicket, Simulator, SimulatorConfig};

async fn start() -> Simulator {
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    Simulator::start(SimulatorConfig::default(), addr)
        .await
        .unwrap()
}

fn new_ticket(sim: &Simulator, subject: &str) -> u64 {
    sim.create_ticket(NewTicket {
        subject: subject.to_string(),
        body: format!("{subject}: please help"),
        requester_id: 1001,
        ..Default::default()
    })
    .id
}

/// The seat's view: GET and PUT with its credentials.
#[derive(Clone)]
struct Api {
    base: String,
    auth: String,
    http: Client,
}

impl Api {
    fn new(sim: &Simulator) -> Api {
        Api {
            base: sim.base_url(),
            auth: sim.auth_header(),
            http: Client::new(),
        }
    }

    async fn get(&self, path: &str) -> reqwest::Result<reqwest::Response> {
        self.http
            .get(format!("{}{path}", self.base))
            .header("Authorization", &self.auth)
            .send()
            .await
    }

    async fn put(&self, path: &str, body: Value) -> reqwest::Result<reqwest::Response> {
        self.http
            .put(format!("{}{path}", self.base))
            .header("Authorization", &self.auth)
            .json(&body)
            .send()
            .await
    }
}

/// `POST /_sim/faults` with a JSON fault.
async fn post_fault(sim: &Simulator, fault: Value) -> (StatusCode, Value) {
    let r = Client::new()
        .post(format!("{}/_sim/faults", sim.base_url()))
        .json(&fault)
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_held_get_sees_a_comment_added_during_the_hold() {
    let sim = start().await;
    let id = new_ticket(&sim, "held read");
    let api = Api::new(&sim);
    // What the gateway read first: the comments, then (held) the ticket.
    let comments: Value = api
        .get(&format!("/api/v2/tickets/{id}/comments.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let newest_read = comments["comments"][0]["created_at"]
        .as_str()
        .unwrap()
        .to_string();
    sim.inject_fault(Fault::held_before(800).on("GET", &format!("/tickets/{id}.json")));

    let started = Instant::now();
    let held = tokio::spawn({
        let api = api.clone();
        async move { api.get(&format!("/api/v2/tickets/{id}.json")).await }
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    // The world changes during the hold, and the hold blocks neither the admin API
    // nor other API requests.
    let r = Client::new()
        .post(format!("{}/_sim/tickets/{id}/comments", sim.base_url()))
        .json(&json!({"body": "one more thing", "public": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let other = api.get("/api/v2/users/me").await.unwrap();
    assert_eq!(other.status(), 200);
    assert!(
        started.elapsed() < Duration::from_millis(700),
        "not blocked"
    );
    assert!(!held.is_finished(), "the GET is still held");

    let r = held.await.unwrap().unwrap();
    assert!(started.elapsed() >= Duration::from_millis(800));
    assert_eq!(r.status(), 200);
    let ticket: Value = r.json().await.unwrap();
    let updated_at = ticket["ticket"]["updated_at"].as_str().unwrap();
    assert_eq!(updated_at, sim.ticket(id).unwrap().updated_at());
    assert!(
        updated_at > newest_read.as_str(),
        "the held GET shows a newer ticket ({updated_at}) than the comments read ({newest_read})"
    );
    let calls = sim.calls();
    let logged = calls
        .iter()
        .find(|c| c.path == format!("/api/v2/tickets/{id}.json"))
        .unwrap();
    assert_eq!(logged.status, 200);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_held_answer_comes_after_the_put_committed() {
    let sim = start().await;
    let id = new_ticket(&sim, "held answer");
    let api = Api::new(&sim);
    sim.inject_fault(Fault::held_after(1_000).on("PUT", &format!("/tickets/{id}")));

    let started = Instant::now();
    let put = tokio::spawn({
        let api = api.clone();
        async move {
            api.put(
                &format!("/api/v2/tickets/{id}"),
                json!({"ticket": {"status": "pending", "comment": {"body": "On it", "public": true}}}),
            )
            .await
        }
    });
    // While the answer is held, the admin API already shows the update and the call.
    let admin = Client::new();
    let mut committed = false;
    while started.elapsed() < Duration::from_millis(800) {
        let state: Value = admin
            .get(format!("{}/_sim/tickets/{id}", sim.base_url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if state["ticket"]["status"] == "pending" {
            assert_eq!(state["comments"].as_array().unwrap().len(), 2);
            committed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(committed, "the PUT committed before its answer");
    assert!(!put.is_finished(), "the answer is still held");
    let calls: Value = admin
        .get(format!("{}/_sim/calls", sim.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let logged = calls["calls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["method"] == "PUT")
        .cloned()
        .unwrap();
    assert_eq!(logged["status"], 200);

    let r = put.await.unwrap().unwrap();
    assert!(started.elapsed() >= Duration::from_millis(1_000));
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["ticket"]["status"], "pending");
    sim.shutdown().await;
}

#[tokio::test]
async fn a_dropped_answer_commits_and_the_client_gets_an_error() {
    let sim = start().await;
    let id = new_ticket(&sim, "lost answer");
    let api = Api::new(&sim);
    sim.inject_fault(Fault::dropped_after_commit().on("PUT", &format!("/tickets/{id}")));

    let result = api
        .put(
            &format!("/api/v2/tickets/{id}"),
            json!({"ticket": {"status": "solved", "comment": {"body": "Fixed", "public": true}}}),
        )
        .await;
    let err = result.expect_err("no HTTP answer");
    assert!(
        err.status().is_none(),
        "a connection error, not a status: {err}"
    );

    let state = sim.ticket(id).unwrap();
    assert_eq!(state.status(), "solved", "committed anyway");
    assert_eq!(state.comments_by(sim.seat().id).len(), 1, "applied once");
    let calls = sim.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].method, "PUT");
    assert_eq!(calls[0].status, 0, "a lost answer is logged as status 0");

    // The fault is used up: the next request is answered.
    let r = api.get(&format!("/api/v2/tickets/{id}")).await.unwrap();
    assert_eq!(r.status(), 200);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_windowed_fault_fails_every_request_in_the_window_and_none_after() {
    let sim = start().await;
    let id = new_ticket(&sim, "window");
    let api = Api::new(&sim);
    let path = format!("/api/v2/tickets/{id}");
    // No `times`: a window alone has no count limit.
    let (status, body) = post_fault(
        &sim,
        json!({"status": 503, "for_ms": 700, "path_contains": format!("/tickets/{id}")}),
    )
    .await;
    let injected = Instant::now();
    assert_eq!(status, 201, "{body}");
    let (_, listed) = {
        let r = Client::new()
            .get(format!("{}/_sim/faults", sim.base_url()))
            .send()
            .await
            .unwrap();
        (r.status(), r.json::<Value>().await.unwrap())
    };
    assert!(listed["faults"][0]["expires_in_ms"].as_u64().unwrap() <= 700);

    let mut failed = 0;
    while injected.elapsed() < Duration::from_millis(450) {
        let r = api.get(&path).await.unwrap();
        assert_eq!(r.status(), 503, "inside the window");
        failed += 1;
        // Faulted requests count against the quota: stay well under it.
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(failed > 2, "{failed} requests in the window");
    let left = Duration::from_millis(850).saturating_sub(injected.elapsed());
    tokio::time::sleep(left).await;
    for _ in 0..5 {
        let r = api.get(&path).await.unwrap();
        assert_eq!(r.status(), 200, "after the window: {:?}", r.text().await);
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn a_hold_with_a_status_waits_then_fails_without_a_change() {
    let sim = start().await;
    let id = new_ticket(&sim, "held failure");
    let api = Api::new(&sim);
    sim.inject_fault(Fault {
        status: 503,
        ..Fault::held_before(300).on("PUT", "")
    });
    let started = Instant::now();
    let r = api
        .put(
            &format!("/api/v2/tickets/{id}"),
            json!({"ticket": {"status": "open"}}),
        )
        .await
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(r.status(), 503);
    assert_eq!(sim.ticket(id).unwrap().status(), "new", "state unchanged");
    assert_eq!(sim.calls()[0].status, 503);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_raw_retry_after_is_sent_verbatim() {
    let sim = start().await;
    let id = new_ticket(&sim, "raw retry-after");
    let api = Api::new(&sim);
    for raw in ["1e20", "inf", "-5", "soon", "Wed, 21 Oct 2015 07:28:00 GMT"] {
        for status in [429, 503] {
            let (code, _) =
                post_fault(&sim, json!({"status": status, "retry_after_raw": raw})).await;
            assert_eq!(code, 201);
            let r = api.get(&format!("/api/v2/tickets/{id}")).await.unwrap();
            assert_eq!(r.status().as_u16(), status);
            let values: Vec<_> = r.headers().get_all("retry-after").iter().collect();
            assert_eq!(values, vec![raw], "{status} carries {raw:?} as sent");
        }
    }
    // The raw value wins over `retry_after`.
    sim.inject_fault(Fault {
        retry_after: Some(7),
        retry_after_raw: Some("soon".into()),
        ..Fault::once(429)
    });
    let r = api.get(&format!("/api/v2/tickets/{id}")).await.unwrap();
    assert_eq!(r.headers()["retry-after"], "soon");
    sim.shutdown().await;
}

#[tokio::test]
async fn the_admin_api_refuses_a_fault_that_changes_nothing() {
    let sim = start().await;
    for fault in [
        json!({}),
        json!({"path_contains": "/tickets/", "times": 3}),
        json!({"status": 0, "for_ms": 1000}),
        json!({"hold_after_ms": 100, "retry_after": 5}),
        json!({"status": 429, "retry_after_raw": "1\r\nX-Injected: yes"}),
    ] {
        let (status, body) = post_fault(&sim, fault.clone()).await;
        assert_eq!(status, 400, "{fault} is refused");
        assert!(body["error"].as_str().unwrap().len() > 20, "{body}");
    }
    // Today's JSON keeps its meaning: a status alone fails one request.
    let (status, body) = post_fault(&sim, json!({"status": 503})).await;
    assert_eq!(status, 201);
    assert_eq!(body["fault"]["times"], 1);
    assert_eq!(body["fault"]["hold_before_ms"], 0);
    let (status, body) = post_fault(&sim, json!({"hold_before_ms": 50})).await;
    assert_eq!(status, 201, "a hold alone serves normally: {body}");
    assert!(
        sim.try_inject_fault(Fault::default()).is_err(),
        "the Rust API refuses it too"
    );
    sim.shutdown().await;
}
