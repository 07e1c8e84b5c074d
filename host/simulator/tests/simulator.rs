//! The simulator over real HTTP on loopback, as the gateway sees it, plus a check
//! of its JSON against Zendesk's own OpenAPI description.

use std::collections::HashSet;
use std::net::SocketAddr;

use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};
use zendesk_simulator::{
    AgentEdit, CustomField, Fault, NewComment, NewTicket, SimUser, Simulator, SimulatorConfig,
};

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

async fn start(config: SimulatorConfig) -> Simulator {
    Simulator::start(config, loopback()).await.unwrap()
}

fn ticket(subject: &str) -> NewTicket {
    NewTicket {
        subject: subject.to_string(),
        body: format!("{subject}: please help"),
        requester_id: 1001,
        brand_id: Some(7),
        ..Default::default()
    }
}

/// A client acting as the gateway: authenticated as the seat.
struct Api {
    sim: Simulator,
    http: Client,
    auth: String,
}

impl Api {
    fn new(sim: &Simulator) -> Api {
        Api {
            sim: sim.clone(),
            http: Client::new(),
            auth: sim.auth_header(),
        }
    }

    /// Authenticated as the account's administrator, who may manage webhooks,
    /// triggers and automations (an agent may not).
    fn admin(sim: &Simulator) -> Api {
        Api {
            auth: sim.admin_auth_header(),
            ..Api::new(sim)
        }
    }

    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> reqwest::Response {
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", self.sim.base_url())
        };
        let mut req = self
            .http
            .request(method, url)
            .header("Authorization", &self.auth);
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.unwrap()
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let r = self.send(Method::GET, path, None).await;
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let r = self.send(Method::PUT, path, Some(body)).await;
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }
}

#[tokio::test]
async fn auth_failures_answer_401_but_users_me_answers_anonymously() {
    let sim = start(SimulatorConfig::default()).await;
    let t = sim.create_ticket(ticket("auth"));
    let http = Client::new();
    let url = format!("{}/api/v2/tickets/{}.json", sim.base_url(), t.id);

    let r = http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.headers()["www-authenticate"],
        "Basic realm=\"Web Password\""
    );
    let body: Value = r.json().await.unwrap();
    assert_eq!(body, json!({"error": "Couldn't authenticate you"}));

    let r = http
        .get(&url)
        .basic_auth("gladly-ai@example.com/token", Some("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // The right token through reqwest's own basic auth works too.
    let r = http
        .get(&url)
        .basic_auth("gladly-ai@example.com/token", Some("sim-token"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let me = format!("{}/api/v2/users/me.json", sim.base_url());
    let r = http.get(&me).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert!(body["user"]["id"].is_null());
    assert_eq!(body["user"]["role"], "end-user");
    assert_eq!(body["user"]["name"], "Anonymous user");

    let api = Api::new(&sim);
    let (status, body) = api.get("/api/v2/users/me").await;
    assert_eq!(status, 200);
    assert_eq!(body["user"]["id"], 9000);
    assert_eq!(body["user"]["role"], "agent");
    assert_eq!(body["user"]["email"], "gladly-ai@example.com");

    let (status, body) = api.get("/api/v2/users/1001").await;
    assert_eq!(status, 200);
    assert_eq!(body["user"]["role"], "end-user");
    let (status, body) = api.get("/api/v2/users/424242").await;
    assert_eq!(status, 404);
    assert_eq!(
        body,
        json!({"error": "RecordNotFound", "description": "Not found"})
    );

    let (status, body) = api.get("/api/v2/no/such/thing").await;
    assert_eq!(status, 404);
    assert!(body["error"].is_string());
    sim.shutdown().await;
}

#[tokio::test]
async fn ticket_has_zendesk_shape_and_no_comments() {
    let sim = start(SimulatorConfig::default()).await;
    let first = sim.create_ticket(ticket("first"));
    let t = sim.create_ticket(NewTicket {
        group_id: Some(55),
        tags: vec!["vip".into(), "billing".into()],
        priority: Some("high".into()),
        custom_fields: vec![CustomField {
            id: 77,
            value: json!("refund"),
        }],
        ..ticket("Where is my order?")
    });
    assert_eq!((first.id, t.id), (1, 2));
    let api = Api::new(&sim);
    for path in [
        format!("/api/v2/tickets/{}", t.id),
        format!("/api/v2/tickets/{}.json", t.id),
    ] {
        let (status, body) = api.get(&path).await;
        assert_eq!(status, 200, "{path}");
        let tk = &body["ticket"];
        assert_eq!(tk["id"], 2);
        assert_eq!(
            tk["url"],
            format!("{}/api/v2/tickets/2.json", sim.base_url())
        );
        assert_eq!(tk["subject"], "Where is my order?");
        assert_eq!(tk["raw_subject"], "Where is my order?");
        assert_eq!(tk["description"], "Where is my order?: please help");
        assert_eq!(tk["status"], "new");
        assert_eq!(tk["priority"], "high");
        assert!(tk["type"].is_null());
        assert_eq!(tk["requester_id"], 1001);
        assert_eq!(tk["submitter_id"], 1001);
        assert!(tk["assignee_id"].is_null());
        assert_eq!(tk["group_id"], 55);
        assert!(tk["organization_id"].is_null());
        assert_eq!(tk["brand_id"], 7);
        assert_eq!(tk["tags"], json!(["vip", "billing"]));
        assert_eq!(tk["custom_fields"], json!([{"id": 77, "value": "refund"}]));
        assert_eq!(tk["via"]["channel"], "web");
        assert!(tk["via"]["source"].is_object());
        assert_eq!(tk["created_at"], t.created_at);
        assert_eq!(tk["updated_at"], t.updated_at);
        assert!(tk.get("comments").is_none() && tk.get("comment").is_none());
        // Second precision, UTC, like "2026-11-24T19:00:00Z".
        let stamp = tk["updated_at"].as_str().unwrap();
        assert_eq!(stamp.len(), 20);
        assert!(stamp.ends_with('Z'));
    }
    let (status, body) = api.get("/api/v2/tickets/999").await;
    assert_eq!(status, 404);
    assert_eq!(
        body,
        json!({"error": "RecordNotFound", "description": "Not found"})
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn comments_page_by_cursor_and_sort() {
    let sim = start(SimulatorConfig::default()).await;
    let t = sim.create_ticket(ticket("long thread"));
    for i in 1..250 {
        let author = if i % 2 == 0 { 1001 } else { 2001 };
        sim.add_comment(
            t.id,
            NewComment {
                author_id: author,
                body: format!("comment {i}"),
                public: i % 7 != 0,
            },
        )
        .unwrap();
    }
    let api = Api::new(&sim);

    // Cursor paging, oldest first: follow links.next while has_more.
    let mut url = format!("/api/v2/tickets/{}/comments.json?page[size]=100", t.id);
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let (status, body) = api.get(&url).await;
        assert_eq!(status, 200);
        pages += 1;
        let comments = body["comments"].as_array().unwrap();
        assert!(comments.len() <= 100);
        seen.extend(comments.iter().map(|c| c["id"].as_u64().unwrap()));
        let c0 = &comments[0];
        assert_eq!(c0["type"], "Comment");
        for k in [
            "author_id",
            "body",
            "html_body",
            "plain_body",
            "public",
            "attachments",
            "via",
            "created_at",
            "metadata",
        ] {
            assert!(c0.get(k).is_some(), "comment lacks {k}");
        }
        assert!(body["meta"]["after_cursor"].is_string());
        assert!(body["meta"]["before_cursor"].is_string());
        assert!(body["links"]["prev"].is_string());
        if !body["meta"]["has_more"].as_bool().unwrap() {
            break;
        }
        url = body["links"]["next"].as_str().unwrap().to_string();
        assert!(url.starts_with(&sim.base_url()));
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 250);
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "oldest first");
    let first_body = sim.ticket(t.id).unwrap().comments[0]["body"].clone();
    assert_eq!(first_body, "long thread: please help");

    // Newest first.
    let (_, body) = api
        .get(&format!(
            "/api/v2/tickets/{}/comments?sort=-created_at&page[size]=10",
            t.id
        ))
        .await;
    let ids: Vec<u64> = body["comments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids.len(), 10);
    assert_eq!(ids[0], *seen.last().unwrap());
    assert!(ids.windows(2).all(|w| w[0] > w[1]));
    assert!(body["meta"]["has_more"].as_bool().unwrap());
    let next = body["links"]["next"].as_str().unwrap().to_string();
    let (_, body2) = api.get(&next).await;
    assert_eq!(body2["comments"][0]["id"].as_u64().unwrap(), ids[9] - 1);
    // And back again with page[before].
    let prev = body2["links"]["prev"].as_str().unwrap().to_string();
    let (_, back) = api.get(&prev).await;
    assert_eq!(back["comments"], body["comments"]);

    // Without page params: offset paging, first 100.
    let (_, body) = api.get(&format!("/api/v2/tickets/{}/comments", t.id)).await;
    assert_eq!(body["comments"].as_array().unwrap().len(), 100);
    assert_eq!(body["count"], 250);
    assert!(body["next_page"].as_str().unwrap().contains("page=2"));
    assert!(body["previous_page"].is_null());

    let (status, _) = api
        .get(&format!("/api/v2/tickets/{}/comments?page[size]=101", t.id))
        .await;
    assert_eq!(status, 400);
    sim.shutdown().await;
}

#[tokio::test]
async fn one_update_carries_comment_assignment_status_and_tags() {
    let sim = start(SimulatorConfig::default()).await;
    let t = sim.create_ticket(NewTicket {
        tags: vec!["old".into()],
        ..ticket("update me")
    });
    let api = Api::new(&sim);
    let path = format!("/api/v2/tickets/{}", t.id);

    // Public reply + assign to the seat + tags replace + pending, in one PUT.
    let (status, body) = api
        .put(
            &path,
            json!({"ticket": {
                "comment": {"body": "Hello, we are on it.", "public": true},
                "assignee_id": 9000,
                "status": "pending",
                "tags": ["ai_replied", "billing"],
            }}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let tk = &body["ticket"];
    assert_eq!(tk["status"], "pending");
    assert_eq!(tk["assignee_id"], 9000);
    assert_eq!(tk["tags"], json!(["ai_replied", "billing"]));
    assert!(tk["updated_at"].as_str().unwrap() > t.updated_at.as_str());
    let audit = &body["audit"];
    assert_eq!(audit["ticket_id"], t.id);
    assert_eq!(audit["author_id"], 9000);
    let events = audit["events"].as_array().unwrap();
    assert_eq!(events[0]["type"], "Comment");
    assert_eq!(events[0]["public"], true);
    let changed: HashSet<&str> = events
        .iter()
        .filter(|e| e["type"] == "Change")
        .map(|e| e["field_name"].as_str().unwrap())
        .collect();
    assert_eq!(
        changed,
        HashSet::from(["status", "assignee_id", "tags"]),
        "{events:?}"
    );
    let status_ev = events.iter().find(|e| e["field_name"] == "status").unwrap();
    assert_eq!(status_ev["value"], "pending");
    assert_eq!(status_ev["previous_value"], "new");

    // Private note; `public` absent means public, so send it explicitly false.
    let before = sim.ticket(t.id).unwrap().updated_at().to_string();
    let (status, body) = api
        .put(
            &format!("{path}.json"),
            json!({"ticket": {"comment": {"body": "internal: handing over", "public": false}, "assignee_id": null}}),
        )
        .await;
    assert_eq!(status, 200);
    assert!(body["ticket"]["assignee_id"].is_null());
    assert!(body["ticket"]["updated_at"].as_str().unwrap() > before.as_str());
    let (_, body) = api
        .put(
            &path,
            json!({"ticket": {"comment": {"body": "default visibility"}}}),
        )
        .await;
    assert_eq!(body["audit"]["events"][0]["public"], true);

    let state = sim.ticket(t.id).unwrap();
    let mine = state.comments_by(9000);
    assert_eq!(mine.len(), 3);
    assert_eq!(mine[0]["public"], true);
    assert_eq!(mine[1]["public"], false);
    assert_eq!(mine[1]["body"], "internal: handing over");
    assert_eq!(mine[2]["public"], true);
    assert_eq!(state.assignee_id(), None);
    // Comment ids increase globally.
    let ids: Vec<u64> = state
        .comments
        .iter()
        .map(|c| c["id"].as_u64().unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]));

    // Solving.
    let (status, body) = api
        .put(
            &path,
            json!({"ticket": {"status": "solved", "assignee_id": 9000}}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["ticket"]["status"], "solved");

    // Validation failures change nothing.
    let snapshot = sim.ticket(t.id).unwrap();
    for bad in [
        json!({"ticket": {"status": "done"}}),
        json!({"ticket": {"assignee_id": 31337}}),
        json!({"ticket": {"assignee_id": 1001}}),
        json!({"ticket": {"priority": "whenever"}}),
    ] {
        let (status, body) = api.put(&path, bad.clone()).await;
        assert_eq!(status, 422, "{bad}");
        assert_eq!(body["error"], "RecordInvalid");
        assert_eq!(body["description"], "Record validation errors");
        assert!(body["details"].is_object());
    }
    assert_eq!(sim.ticket(t.id).unwrap(), snapshot);

    // Malformed JSON and a body without `ticket` are 400.
    let r = api
        .http
        .put(format!("{}{path}", sim.base_url()))
        .header("Authorization", &api.auth)
        .header("Content-Type", "application/json")
        .body("{\"ticket\": {")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let (status, _) = api.put(&path, json!({"status": "open"})).await;
    assert_eq!(status, 400);

    // A closed ticket cannot be updated.
    let (status, _) = api
        .put(&path, json!({"ticket": {"status": "closed"}}))
        .await;
    assert_eq!(status, 200);
    let (status, body) = api
        .put(
            &path,
            json!({"ticket": {"comment": {"body": "too late", "public": true}}}),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(body["error"], "RecordInvalid");

    let (status, _) = api
        .put("/api/v2/tickets/999", json!({"ticket": {"status": "open"}}))
        .await;
    assert_eq!(status, 404);
    sim.shutdown().await;
}

#[tokio::test]
async fn customer_reply_and_agent_edit_advance_updated_at() {
    let sim = start(SimulatorConfig::default()).await;
    let t = sim.create_ticket(ticket("clock"));
    let mut last = t.updated_at.clone();
    for i in 0..3 {
        sim.add_comment(t.id, NewComment::public(1001, &format!("more {i}")))
            .unwrap();
        let now = sim.ticket(t.id).unwrap().updated_at().to_string();
        assert!(now > last, "{now} > {last}");
        last = now;
    }
    let edited = sim
        .update_ticket_as_agent(t.id, AgentEdit::default())
        .unwrap();
    assert!(edited.updated_at > last);
    assert!(sim.add_comment(999, NewComment::public(1001, "x")).is_err());

    // A requester's reply reopens a pending ticket.
    sim.update_ticket_as_agent(
        t.id,
        AgentEdit {
            status: Some("pending".into()),
            ..Default::default()
        },
    )
    .unwrap();
    sim.add_comment(t.id, NewComment::public(1001, "still broken"))
        .unwrap();
    assert_eq!(sim.ticket(t.id).unwrap().status(), "open");
    sim.shutdown().await;
}

#[tokio::test]
async fn safe_update_conflicts_after_a_concurrent_agent_edit() {
    let sim = start(SimulatorConfig::default()).await;
    let t = sim.create_ticket(ticket("race"));
    let api = Api::new(&sim);
    let path = format!("/api/v2/tickets/{}", t.id);
    let (_, read) = api.get(&path).await;
    let stamp = read["ticket"]["updated_at"].as_str().unwrap().to_string();

    sim.update_ticket_as_agent(
        t.id,
        AgentEdit {
            assignee_id: Some(Some(2001)),
            ..Default::default()
        },
    )
    .unwrap();
    let before = sim.ticket(t.id).unwrap();
    let (status, body) = api
        .put(
            &path,
            json!({"ticket": {
                "comment": {"body": "AI answer", "public": true},
                "safe_update": true,
                "updated_stamp": stamp,
            }}),
        )
        .await;
    assert_eq!(status, 409);
    assert_eq!(body["error"], "UpdateConflict");
    assert_eq!(
        body["description"],
        "Safe Update prevented the update due to outdated ticket data. Please fetch the latest ticket data and try again."
    );
    assert_eq!(
        sim.ticket(t.id).unwrap(),
        before,
        "409 leaves the ticket alone"
    );

    // Re-read and retry with the fresh stamp: accepted.
    let (_, read) = api.get(&path).await;
    let fresh = read["ticket"]["updated_at"].as_str().unwrap().to_string();
    let (status, body) = api
        .put(
            &path,
            json!({"ticket": {
                "comment": {"body": "AI answer", "public": true},
                "safe_update": true,
                "updated_stamp": fresh,
            }}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ticket"]["assignee_id"], 2001);
    sim.shutdown().await;
}

#[tokio::test]
async fn solving_requires_the_configured_fields() {
    let sim = start(SimulatorConfig {
        required_on_solve: vec![360_001],
        ..Default::default()
    })
    .await;
    let t = sim.create_ticket(ticket("needs reason"));
    let api = Api::new(&sim);
    let path = format!("/api/v2/tickets/{}", t.id);
    let (_, read) = api.get(&path).await;
    assert_eq!(
        read["ticket"]["custom_fields"],
        json!([{"id": 360_001, "value": null}])
    );

    let (status, body) = api
        .put(
            &path,
            json!({"ticket": {"status": "solved", "comment": {"body": "done", "public": true}}}),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(body["error"], "RecordInvalid");
    assert_eq!(body["description"], "Record validation errors");
    assert_eq!(body["details"]["base"][0]["error"], "InvalidValue");
    assert!(body["details"]["base"][0]["description"].is_string());
    assert_eq!(
        sim.ticket(t.id).unwrap().comments.len(),
        1,
        "nothing applied"
    );

    let (status, body) = api
        .put(
            &path,
            json!({"ticket": {"status": "solved", "custom_fields": [{"id": 360_001, "value": "resolved_by_ai"}]}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ticket"]["status"], "solved");
    let state = sim.ticket(t.id).unwrap();
    assert_eq!(state.custom_field(360_001), json!("resolved_by_ai"));
    sim.shutdown().await;
}

#[tokio::test]
async fn tickets_outside_the_seats_groups_are_forbidden() {
    let sim = start(SimulatorConfig {
        seat_group_ids: Some(vec![10]),
        ..Default::default()
    })
    .await;
    let mine = sim.create_ticket(NewTicket {
        group_id: Some(10),
        ..ticket("mine")
    });
    let theirs = sim.create_ticket(NewTicket {
        group_id: Some(20),
        ..ticket("theirs")
    });
    let api = Api::new(&sim);
    let (status, _) = api.get(&format!("/api/v2/tickets/{}", mine.id)).await;
    assert_eq!(status, 200);
    for path in [
        format!("/api/v2/tickets/{}", theirs.id),
        format!("/api/v2/tickets/{}/comments", theirs.id),
    ] {
        let (status, body) = api.get(&path).await;
        assert_eq!(status, 403, "{path}");
        assert_eq!(body["error"], "Forbidden");
    }
    let (status, _) = api
        .put(
            &format!("/api/v2/tickets/{}", theirs.id),
            json!({"ticket": {"status": "open"}}),
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(sim.ticket(theirs.id).unwrap().status(), "new");
    sim.shutdown().await;
}

#[tokio::test]
async fn injected_faults_fail_then_recover() {
    let sim = start(SimulatorConfig::default()).await;
    let t = sim.create_ticket(ticket("flaky"));
    let api = Api::new(&sim);
    let path = format!("/api/v2/tickets/{}", t.id);
    sim.inject_fault(Fault {
        method: Some("PUT".into()),
        path_contains: Some(format!("/tickets/{}", t.id)),
        status: 429,
        retry_after: Some(7),
        times: 2,
        ..Default::default()
    });
    // A GET does not match the PUT fault.
    let (status, _) = api.get(&path).await;
    assert_eq!(status, 200);
    for _ in 0..2 {
        let r = api
            .send(
                Method::PUT,
                &path,
                Some(json!({"ticket": {"status": "open"}})),
            )
            .await;
        assert_eq!(r.status(), 429);
        assert_eq!(r.headers()["retry-after"], "7");
    }
    assert_eq!(sim.ticket(t.id).unwrap().status(), "new", "state unchanged");
    let (status, _) = api.put(&path, json!({"ticket": {"status": "open"}})).await;
    assert_eq!(status, 200);

    sim.inject_fault(Fault {
        retry_after: Some(3),
        ..Fault::once(503)
    });
    let r = api.send(Method::GET, &path, None).await;
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "3");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body, json!({"error": "ServiceUnavailable"}));

    for (status, error) in [
        (500, "InternalServerError"),
        (403, "Forbidden"),
        (422, "RecordInvalid"),
        (409, "UpdateConflict"),
    ] {
        sim.inject_fault(Fault::once(status));
        let (got, body) = api.get(&path).await;
        assert_eq!(got.as_u16(), status);
        assert_eq!(body["error"], error);
    }
    let (status, _) = api.get(&path).await;
    assert_eq!(status, 200);

    let statuses: Vec<u16> = sim.calls().iter().map(|c| c.status).collect();
    assert_eq!(
        statuses,
        vec![200, 429, 429, 200, 503, 500, 403, 422, 409, 200]
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn quota_is_counted_per_minute_and_enforced() {
    let sim = start(SimulatorConfig {
        rate_limit_per_minute: 5,
        ..Default::default()
    })
    .await;
    let t = sim.create_ticket(ticket("busy"));
    let api = Api::new(&sim);
    let path = format!("/api/v2/tickets/{}", t.id);
    for i in 0..5u32 {
        let r = api.send(Method::GET, &path, None).await;
        assert_eq!(r.status(), 200);
        let h = r.headers();
        assert_eq!(h["x-rate-limit"], "5");
        assert_eq!(h["x-rate-limit-remaining"], (4 - i).to_string().as_str());
        assert_eq!(h["ratelimit-limit"], "5");
        assert_eq!(h["ratelimit-remaining"], (4 - i).to_string().as_str());
        let reset: u64 = h["ratelimit-reset"].to_str().unwrap().parse().unwrap();
        assert!((1..=60).contains(&reset));
    }
    let r = api.send(Method::GET, &path, None).await;
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry));
    assert_eq!(r.headers()["x-rate-limit-remaining"], "0");
    // Non-ticket endpoints carry only the account headers.
    let r = api.send(Method::GET, "/api/v2/users/me", None).await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().get("x-rate-limit").is_some());
    assert!(r.headers().get("ratelimit-limit").is_none());

    sim.reset_rate_limit();
    let (status, _) = api.get(&path).await;
    assert_eq!(status, 200);
    sim.shutdown().await;
}

#[tokio::test]
async fn tags_endpoints_add_remove_and_list() {
    let sim = start(SimulatorConfig::default()).await;
    let t = sim.create_ticket(NewTicket {
        tags: vec!["a".into()],
        ..ticket("tags")
    });
    let api = Api::new(&sim);
    let path = format!("/api/v2/tickets/{}/tags", t.id);
    let (status, body) = api.put(&path, json!({"tags": ["b", "c"]})).await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"tags": ["a", "b", "c"]}));
    let r = api
        .send(Method::DELETE, &path, Some(json!({"tags": ["b"]})))
        .await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body, json!({"tags": ["a", "c"]}));
    let r = api
        .send(Method::DELETE, &format!("{path}.json?tags=a"), None)
        .await;
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"tags": ["c"]}));
    let (status, body) = api.get(&path).await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"tags": ["c"]}));
    assert_eq!(sim.ticket(t.id).unwrap().tags(), vec!["c".to_string()]);
    assert!(sim.ticket(t.id).unwrap().updated_at() > t.updated_at.as_str());
    sim.shutdown().await;
}

#[tokio::test]
async fn call_log_records_api_calls_but_not_admin_calls() {
    let sim = start(SimulatorConfig::default()).await;
    let api = Api::new(&sim);
    let http = Client::new();
    let base = sim.base_url();

    // Admin: create a ticket, comment as the customer, edit as an agent.
    let r = http
        .post(format!("{base}/_sim/tickets"))
        .json(&json!({"subject": "via admin", "body": "hi", "requester_id": 1002, "brand_id": 3}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    let id = created["ticket"]["id"].as_u64().unwrap();
    assert_eq!(created["ticket"]["brand_id"], 3);
    let r = http
        .post(format!("{base}/_sim/tickets/{id}/comments"))
        .json(&json!({"author_id": 1002, "body": "hello?", "public": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = http
        .put(format!("{base}/_sim/tickets/{id}"))
        .json(&json!({"assignee_id": null, "status": "open"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let state: Value = http
        .get(format!("{base}/_sim/tickets/{id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["comments"].as_array().unwrap().len(), 2);
    assert_eq!(state["ticket"]["status"], "open");
    let list: Value = http
        .get(format!("{base}/_sim/tickets"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["tickets"].as_array().unwrap().len(), 1);
    let r = http
        .post(format!("{base}/_sim/users"))
        .json(&json!({"name": "Dan", "email": "dan@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let user: Value = r.json().await.unwrap();
    let dan = user["user"]["id"].as_u64().unwrap();
    let r = http
        .post(format!("{base}/_sim/faults"))
        .json(&json!({"status": 500, "path_contains": "/users/"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert!(sim.calls().is_empty(), "admin calls are not logged");

    // API calls are logged with method, path + query, status and body.
    api.get(&format!("/api/v2/users/{dan}")).await;
    api.get(&format!("/api/v2/users/{dan}")).await;
    api.get(&format!("/api/v2/tickets/{id}/comments?sort=-created_at"))
        .await;
    api.put(
        &format!("/api/v2/tickets/{id}"),
        json!({"ticket": {"status": "pending"}}),
    )
    .await;
    let calls = sim.calls();
    let seen: Vec<(&str, &str, u16)> = calls
        .iter()
        .map(|c| (c.method.as_str(), c.path.as_str(), c.status))
        .collect();
    let users_path = format!("/api/v2/users/{dan}");
    let comments_path = format!("/api/v2/tickets/{id}/comments?sort=-created_at");
    let ticket_path = format!("/api/v2/tickets/{id}");
    assert_eq!(
        seen,
        vec![
            ("GET", users_path.as_str(), 500),
            ("GET", users_path.as_str(), 200),
            ("GET", comments_path.as_str(), 200),
            ("PUT", ticket_path.as_str(), 200),
        ]
    );
    assert_eq!(
        calls[3].request_body,
        Some(json!({"ticket": {"status": "pending"}}))
    );
    let logged: Value = http
        .get(format!("{base}/_sim/calls"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(logged["calls"].as_array().unwrap().len(), 4);
    let r = http
        .delete(format!("{base}/_sim/calls"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert!(sim.calls().is_empty());
    sim.clear_calls();
    sim.shutdown().await;
}

// ---- conformance with Zendesk's OpenAPI description ------------------------------

/// Follows `$ref: '#/components/schemas/X'` to the schema it names.
fn resolve<'a>(root: &'a Value, schema: &'a Value) -> &'a Value {
    let mut s = schema;
    while let Some(r) = s.get("$ref").and_then(Value::as_str) {
        let mut target = root;
        for part in r.trim_start_matches("#/").split('/') {
            target = &target[part];
        }
        assert!(!target.is_null(), "dangling $ref {r}");
        s = target;
    }
    s
}

/// Checks `value` against `schema`: every object key must be a declared property
/// (and not write-only), every value must have a compatible JSON type and enum
/// value, and null is allowed only where the schema says `nullable`.
fn conform(root: &Value, schema: &Value, value: &Value, path: &str, errors: &mut Vec<String>) {
    let schema = resolve(root, schema);
    if value.is_null() {
        // Zendesk's schema for a custom field value omits `nullable`, yet real
        // tickets list unset fields with `"value": null`; accept exactly that.
        let unset_custom_field =
            path.ends_with("custom_fields[].value") || path.ends_with("fields[].value");
        if schema["nullable"] != json!(true) && !unset_custom_field {
            errors.push(format!("{path}: null but the schema is not nullable"));
        }
        return;
    }
    if let Some(all) = schema["allOf"].as_array() {
        // Merge the parts' properties, then check once.
        let mut props = serde_json::Map::new();
        for part in all {
            if let Some(p) = resolve(root, part)["properties"].as_object() {
                props.extend(p.clone());
            }
        }
        let merged = json!({"type": "object", "properties": props});
        return conform(root, &merged, value, path, errors);
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(alternatives) = schema[key].as_array() {
            let mut best: Option<Vec<String>> = None;
            for alt in alternatives {
                let mut errs = Vec::new();
                conform(root, alt, value, path, &mut errs);
                if errs.is_empty() {
                    return;
                }
                if best.as_ref().is_none_or(|b| errs.len() < b.len()) {
                    best = Some(errs);
                }
            }
            errors.extend(best.unwrap_or_default());
            return;
        }
    }
    let ty = schema["type"].as_str();
    let ok = match ty {
        Some("string") => value.is_string(),
        Some("integer") => value.is_i64() || value.is_u64(),
        Some("number") => value.is_number(),
        Some("boolean") => value.is_boolean(),
        Some("array") => value.is_array(),
        Some("object") => value.is_object(),
        // An untyped schema with properties describes an object.
        None => schema.get("properties").is_none() || value.is_object(),
        Some(other) => panic!("{path}: unexpected schema type {other}"),
    };
    if !ok {
        errors.push(format!("{path}: {value} is not of type {ty:?}"));
        return;
    }
    if let (Some(allowed), Some(s)) = (schema["enum"].as_array(), value.as_str()) {
        if !allowed.iter().any(|a| a == s) {
            errors.push(format!("{path}: {s:?} is not one of {allowed:?}"));
        }
    }
    if let Some(items) = value.as_array() {
        if let Some(item_schema) = schema.get("items") {
            for item in items {
                conform(root, item_schema, item, &format!("{path}[]"), errors);
            }
        }
    }
    if let (Some(obj), Some(props)) = (value.as_object(), schema["properties"].as_object()) {
        for (k, v) in obj {
            let p = format!("{path}.{k}");
            match props.get(k) {
                None => errors.push(format!("{p}: not a declared property")),
                Some(prop) => {
                    if resolve(root, prop)["writeOnly"] == json!(true) {
                        errors.push(format!("{p}: write-only, must not be in a response"));
                    }
                    conform(root, prop, v, &p, errors);
                }
            }
        }
    }
}

fn assert_conforms(root: &Value, schema_name: &str, value: &Value) {
    let schema = &root["components"]["schemas"][schema_name];
    assert!(schema.is_object(), "no schema {schema_name} in the OAS");
    let mut errors = Vec::new();
    conform(root, schema, value, schema_name, &mut errors);
    assert!(
        errors.is_empty(),
        "{schema_name} does not match the OAS:\n{}",
        errors.join("\n")
    );
}

#[tokio::test]
async fn json_matches_zendesks_openapi_description() {
    let oas_path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/zendesk-oas/support-subset.yaml");
    let text = std::fs::read_to_string(&oas_path)
        .unwrap_or_else(|e| panic!("read {}: {e}", oas_path.display()));
    let root: Value = serde_yaml::from_str(&text).unwrap();

    // The checker itself must catch a typo and a wrong type.
    let mut errs = Vec::new();
    let schema = &root["components"]["schemas"]["TicketObject"];
    conform(
        &root,
        schema,
        &json!({"statuss": "open", "id": "7"}),
        "T",
        &mut errs,
    );
    assert_eq!(errs.len(), 2, "{errs:?}");

    let sim = start(SimulatorConfig {
        required_on_solve: vec![360_001],
        seat_group_ids: Some(vec![10, 11]),
        ..Default::default()
    })
    .await;
    let t = sim.create_ticket(NewTicket {
        group_id: Some(10),
        assignee_id: Some(2001),
        tags: vec!["vip".into()],
        priority: Some("urgent".into()),
        custom_fields: vec![
            CustomField {
                id: 77,
                value: json!("text"),
            },
            CustomField {
                id: 78,
                value: json!(true),
            },
            CustomField {
                id: 79,
                value: json!(["multi", "select"]),
            },
        ],
        ..ticket("conformance")
    });
    sim.add_user(SimUser::new(3001, "Eve", "eve@example.com", "admin"));
    let api = Api::new(&sim);
    let (_, body) = api
        .put(
            &format!("/api/v2/tickets/{}", t.id),
            json!({"ticket": {"comment": {"body": "<b>hi</b> & bye", "public": false}, "status": "hold", "type": "question"}}),
        )
        .await;
    assert_conforms(&root, "TicketObject", &body["ticket"]);

    let (status, body) = api.get(&format!("/api/v2/tickets/{}", t.id)).await;
    assert_eq!(status, 200);
    assert_conforms(&root, "TicketObject", &body["ticket"]);

    let (_, body) = api.get(&format!("/api/v2/tickets/{}/comments", t.id)).await;
    let comments = body["comments"].as_array().unwrap();
    assert_eq!(comments.len(), 2);
    for c in comments {
        assert_conforms(&root, "TicketCommentObject", c);
    }
    let (_, body) = api
        .get(&format!("/api/v2/tickets/{}/comments?page[size]=1", t.id))
        .await;
    assert_conforms(&root, "TicketCommentObject", &body["comments"][0]);

    for path in [
        "/api/v2/users/me",
        "/api/v2/users/1001",
        "/api/v2/users/2001",
        "/api/v2/users/3001",
    ] {
        let (status, body) = api.get(path).await;
        assert_eq!(status, 200, "{path}");
        assert_conforms(&root, "UserObject", &body["user"]);
    }
    let (_, tags) = api.get(&format!("/api/v2/tickets/{}/tags", t.id)).await;
    assert_conforms(&root, "TagsByObjectIdResponse", &tags);
    sim.shutdown().await;
}

#[tokio::test]
async fn comments_sideload_their_authors_with_include_users() {
    let sim = start(SimulatorConfig::default()).await;
    let api = Api::new(&sim);
    let t = sim.create_ticket(ticket("Sideload"));
    sim.add_comment(t.id, NewComment::public(1001, "more details"))
        .unwrap();
    let page: Value = api
        .send(
            Method::GET,
            &format!(
                "/api/v2/tickets/{}/comments?include=users&page[size]=100",
                t.id
            ),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    let authors: HashSet<u64> = page["comments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["author_id"].as_u64().unwrap())
        .collect();
    let users: HashSet<u64> = page["users"]
        .as_array()
        .expect("users are sideloaded")
        .iter()
        .map(|u| u["id"].as_u64().unwrap())
        .collect();
    assert_eq!(authors, users, "exactly the page's authors, once each");
    // Without the include, no users key: the plain shape stays as documented.
    let plain: Value = api
        .send(
            Method::GET,
            &format!("/api/v2/tickets/{}/comments", t.id),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(plain.get("users").is_none());
}

// ---- account configuration: webhooks, triggers, automations, brands, groups -------

/// A webhook body as `zendesk-gateway setup` sends it.
fn webhook_body(name: &str, endpoint: &str) -> Value {
    json!({"webhook": {
        "name": name,
        "status": "active",
        "endpoint": endpoint,
        "http_method": "POST",
        "request_format": "json",
        "subscriptions": ["conditional_ticket_events"],
    }})
}

async fn post(api: &Api, path: &str, body: Value) -> (StatusCode, Value) {
    let r = api.send(Method::POST, path, Some(body)).await;
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn webhooks_are_created_listed_updated_and_have_a_signing_secret() {
    let sim = start(SimulatorConfig::default()).await;
    let api = Api::admin(&sim);
    let (status, created) = post(
        &api,
        "/api/v2/webhooks",
        webhook_body("Zendesk Gateway retail", "https://gw.example.com/notify/x"),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let w = &created["webhook"];
    let id = w["id"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 26, "a ULID: {id}");
    assert_eq!(w["status"], "active");
    assert_eq!(w["http_method"], "POST");
    assert_eq!(w["request_format"], "json");
    assert_eq!(w["subscriptions"], json!(["conditional_ticket_events"]));
    assert_eq!(w["created_by"], "2002", "the administrator made it");

    let (status, list) = api.get("/api/v2/webhooks").await;
    assert_eq!(status, 200);
    assert_eq!(list["webhooks"].as_array().unwrap().len(), 1);
    assert_eq!(list["meta"]["has_more"], false);
    let (_, filtered) = api
        .get("/api/v2/webhooks?filter[name_contains]=nothing")
        .await;
    assert!(filtered["webhooks"].as_array().unwrap().is_empty());

    let (status, secret) = api
        .get(&format!("/api/v2/webhooks/{id}/signing_secret"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(secret["signing_secret"]["algorithm"], "sha256");
    let s = secret["signing_secret"]["secret"].as_str().unwrap();
    assert_eq!(Some(s.to_string()), sim.webhook_signing_secret(&id));

    // An update answers 204 without a body and keeps the secret.
    let r = api
        .send(
            Method::PUT,
            &format!("/api/v2/webhooks/{id}"),
            Some(webhook_body(
                "Zendesk Gateway retail",
                "https://gw2.example.com/notify/x",
            )),
        )
        .await;
    assert_eq!(r.status(), 204);
    assert!(r.text().await.unwrap().is_empty());
    let (_, shown) = api.get(&format!("/api/v2/webhooks/{id}")).await;
    assert_eq!(
        shown["webhook"]["endpoint"],
        "https://gw2.example.com/notify/x"
    );
    assert_eq!(Some(s.to_string()), sim.webhook_signing_secret(&id));

    // Paging by cursor.
    for i in 0..3 {
        post(
            &api,
            "/api/v2/webhooks",
            webhook_body(&format!("extra {i}"), "https://x.example.com/"),
        )
        .await;
    }
    let (_, page) = api.get("/api/v2/webhooks?page[size]=3").await;
    assert_eq!(page["webhooks"].as_array().unwrap().len(), 3);
    assert_eq!(page["meta"]["has_more"], true);
    let (_, rest) = api.get(page["links"]["next"].as_str().unwrap()).await;
    assert_eq!(rest["webhooks"].as_array().unwrap().len(), 1);
    assert_eq!(rest["meta"]["has_more"], false);

    // Errors: unknown id, invalid body.
    let (status, _) = api.get("/api/v2/webhooks/01NOPE/signing_secret").await;
    assert_eq!(status, 404);
    let (status, err) = post(
        &api,
        "/api/v2/webhooks",
        json!({"webhook": {"name": "x", "status": "active", "http_method": "POST",
            "request_format": "json", "subscriptions": []}}),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        err["errors"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("endpoint"),
        "{err}"
    );
    sim.shutdown().await;
}

/// The trigger `zendesk-gateway setup` creates for one brand.
fn gateway_trigger(webhook_id: &str, brand_id: u64) -> Value {
    json!({"trigger": {
        "title": "Notify retail-production of Ticket Change",
        "active": true,
        "conditions": {
            "all": [
                {"field": "brand_id", "operator": "is", "value": brand_id.to_string()},
                {"field": "comment_is_public", "operator": "is", "value": "true"},
                {"field": "recipient", "operator": "is_not", "value": "gladly-ai@example.com"},
                {"field": "current_via_id", "operator": "is_not", "value": "5"}
            ],
            "any": [
                {"field": "update_type", "operator": "is", "value": "Create"},
                {"field": "update_type", "operator": "is", "value": "Change"}
            ]
        },
        "actions": [{"field": "notification_webhook", "value": [webhook_id, "{\"id\": {{ticket.id}}}"]}]
    }})
}

#[tokio::test]
async fn triggers_are_listed_created_updated_and_validated() {
    let sim = start(SimulatorConfig::default()).await;
    let api = Api::admin(&sim);
    let (status, list) = api.get("/api/v2/triggers").await;
    assert_eq!(status, 200);
    let titles: Vec<&str> = list["triggers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["title"].as_str().unwrap())
        .collect();
    assert_eq!(
        titles,
        [
            "Notify requester and CCs of received request",
            "Notify requester and CCs of comment update"
        ]
    );
    assert_eq!(list["count"], 2);
    assert!(list["next_page"].is_null());

    let (_, w) = post(
        &api,
        "/api/v2/webhooks",
        webhook_body("gw", "http://127.0.0.1:9/notify/x"),
    )
    .await;
    let wid = w["webhook"]["id"].as_str().unwrap();
    let mut body = gateway_trigger(wid, 1);
    // Numbers are stored as strings, as Zendesk shows condition values.
    body["trigger"]["conditions"]["all"][0]["value"] = json!(1);
    let (status, created) = post(&api, "/api/v2/triggers", body).await;
    assert_eq!(status, 201, "{created}");
    let t = &created["trigger"];
    assert_eq!(t["conditions"]["all"][0]["value"], "1");
    assert_eq!(t["actions"][0]["value"][0], wid);
    assert_eq!(t["position"], 3, "a new trigger goes last");
    let id = t["id"].as_u64().unwrap();
    let (_, shown) = api.get(&format!("/api/v2/triggers/{id}")).await;
    assert_eq!(shown["trigger"]["title"], t["title"]);

    // Update: conditions and actions are replaced together.
    let mut next = gateway_trigger(wid, 2);
    next["trigger"]["title"] = json!("Renamed");
    let (status, updated) = api
        .put(&format!("/api/v2/triggers/{id}"), next.clone())
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["trigger"]["title"], "Renamed");
    assert_eq!(updated["trigger"]["conditions"]["all"][0]["value"], "2");
    let (status, err) = api
        .put(
            &format!("/api/v2/triggers/{id}"),
            json!({"trigger": {"conditions": next["trigger"]["conditions"].clone()}}),
        )
        .await;
    assert_eq!(status, 422, "conditions without actions clear the actions");
    assert!(err["details"]["actions"].is_array(), "{err}");

    // Validation: an unknown condition, a webhook that does not exist, no title.
    let mut bad = gateway_trigger(wid, 1);
    bad["trigger"]["conditions"]["all"][0]["field"] = json!("no_such_field");
    let (status, err) = post(&api, "/api/v2/triggers", bad).await;
    assert_eq!(status, 422);
    assert_eq!(err["error"], "RecordInvalid");
    let (status, err) = post(&api, "/api/v2/triggers", gateway_trigger("01NOPE", 1)).await;
    assert_eq!(status, 422);
    assert!(err.to_string().contains("01NOPE"), "{err}");
    let mut untitled = gateway_trigger(wid, 1);
    untitled["trigger"].as_object_mut().unwrap().remove("title");
    let (status, _) = post(&api, "/api/v2/triggers", untitled).await;
    assert_eq!(status, 422);
    let (_, list) = api.get("/api/v2/triggers?active=true&per_page=2").await;
    assert_eq!(list["triggers"].as_array().unwrap().len(), 2);
    assert!(list["next_page"].as_str().unwrap().contains("page=2"));
    sim.shutdown().await;
}

#[tokio::test]
async fn automations_need_a_time_condition_and_an_action_undoing_a_condition() {
    let sim = start(SimulatorConfig::default()).await;
    let api = Api::admin(&sim);
    let failsafe = json!({"automation": {
        "title": "AI seat failsafe: unassign after 1 hour",
        "conditions": {"all": [
            {"field": "assignee_id", "operator": "is", "value": "9000"},
            {"field": "status", "operator": "less_than", "value": "solved"},
            {"field": "assigned_at", "operator": "greater_than", "value": "1"}
        ]},
        "actions": [{"field": "assignee_id", "value": ""}]
    }});
    let (status, created) = post(&api, "/api/v2/automations", failsafe.clone()).await;
    assert_eq!(status, 201, "{created}");
    let a = &created["automation"];
    assert_eq!(a["active"], true);
    assert_eq!(a["conditions"]["any"], json!([]));
    let id = a["id"].as_u64().unwrap();
    let (_, list) = api.get("/api/v2/automations").await;
    assert_eq!(list["automations"][0]["id"], id);
    assert_eq!(list["count"], 1);

    let mut renamed = failsafe.clone();
    renamed["automation"]["title"] = json!("Failsafe");
    let (status, updated) = api.put(&format!("/api/v2/automations/{id}"), renamed).await;
    assert_eq!(status, 200);
    assert_eq!(updated["automation"]["title"], "Failsafe");

    let mut timeless = failsafe.clone();
    timeless["automation"]["conditions"]["all"]
        .as_array_mut()
        .unwrap()
        .pop();
    let (status, err) = post(&api, "/api/v2/automations", timeless).await;
    assert_eq!(status, 422);
    assert!(err.to_string().contains("time-based"), "{err}");
    let mut forever = failsafe.clone();
    forever["automation"]["actions"] = json!([{"field": "priority", "value": "high"}]);
    let (status, err) = post(&api, "/api/v2/automations", forever).await;
    assert_eq!(status, 422);
    assert!(err.to_string().contains("nullifies"), "{err}");
    let (status, _) = api.put("/api/v2/automations/1", failsafe).await;
    assert_eq!(status, 404);
    sim.shutdown().await;
}

#[tokio::test]
async fn brands_groups_and_the_seats_memberships() {
    let sim = start(SimulatorConfig::default()).await;
    let api = Api::new(&sim);
    let (status, brands) = api.get("/api/v2/brands").await;
    assert_eq!(status, 200);
    let names: Vec<&str> = brands["brands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Example Shop", "Example Support"], "sorted by name");
    let (_, groups) = api.get("/api/v2/groups").await;
    assert_eq!(groups["groups"].as_array().unwrap().len(), 3);
    let (_, mine) = api.get("/api/v2/users/9000/group_memberships").await;
    let mut ids: Vec<u64> = mine["group_memberships"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["group_id"].as_u64().unwrap())
        .collect();
    ids.sort();
    assert_eq!(ids, [10, 11], "the seat is not in Escalations (12)");
    let (_, all) = api.get("/api/v2/group_memberships").await;
    assert_eq!(all["group_memberships"].as_array().unwrap().len(), 5);
    let (_, of_group) = api.get("/api/v2/groups/12/memberships").await;
    assert_eq!(of_group["group_memberships"].as_array().unwrap().len(), 2);
    sim.shutdown().await;
}

/// Requests received by a throwaway webhook endpoint: (headers, body).
type Received = std::sync::Arc<std::sync::Mutex<Vec<(reqwest::header::HeaderMap, String)>>>;

async fn webhook_receiver() -> (String, Received) {
    let received: Received = Default::default();
    let store = received.clone();
    let app = axum::Router::new().route(
        "/notify/{token}",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: String| async move {
                let mut h = reqwest::header::HeaderMap::new();
                for (k, v) in headers.iter() {
                    h.insert(k.clone(), v.clone());
                }
                store.lock().unwrap().push((h, body));
                (axum::http::StatusCode::ACCEPTED, "{}")
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind(loopback()).await.unwrap();
    let url = format!("http://{}/notify/tok", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, received)
}

async fn wait_for(received: &Received, n: usize) {
    let started = std::time::Instant::now();
    while received.lock().unwrap().len() < n {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "{} of {n} webhook calls after 10 s",
            received.lock().unwrap().len()
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn triggers_call_signed_webhooks_when_tickets_change() {
    use base64::Engine;
    use hmac::{Hmac, Mac};
    let sim = start(SimulatorConfig::default()).await;
    let api = Api::admin(&sim);
    let (url, received) = webhook_receiver().await;
    let (_, w) = post(&api, "/api/v2/webhooks", webhook_body("gw", &url)).await;
    let wid = w["webhook"]["id"].as_str().unwrap().to_string();
    let (status, _) = post(&api, "/api/v2/triggers", gateway_trigger(&wid, 1)).await;
    assert_eq!(status, 201);

    // A customer opens a ticket of brand 1: one call, signed TIMESTAMP + BODY.
    let t = sim.create_ticket(NewTicket {
        brand_id: Some(1),
        ..ticket("Refund")
    });
    wait_for(&received, 1).await;
    let (headers, body) = received.lock().unwrap()[0].clone();
    assert_eq!(body, format!("{{\"id\": {}}}", t.id));
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(headers["x-zendesk-webhook-id"], wid.as_str());
    let ts = headers["x-zendesk-webhook-signature-timestamp"]
        .to_str()
        .unwrap();
    assert!(chrono::DateTime::parse_from_rfc3339(ts).is_ok(), "{ts}");
    let secret = sim.webhook_signing_secret(&wid).unwrap();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(ts.as_bytes());
    mac.update(body.as_bytes());
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    assert_eq!(headers["x-zendesk-webhook-signature"], expected.as_str());

    // The customer answers by email: a second call.
    sim.add_comment(t.id, NewComment::public(1001, "any news?"))
        .unwrap();
    wait_for(&received, 2).await;

    // The seat's own API update (channel Web Service), an agent's edit without a
    // comment, an internal note and a ticket of another brand: no calls.
    let (status, _) = api
        .put(
            &format!("/api/v2/tickets/{}", t.id),
            json!({"ticket": {"comment": {"body": "On it!", "public": true}}}),
        )
        .await;
    assert_eq!(status, 200);
    sim.update_ticket_as_agent(
        t.id,
        AgentEdit {
            priority: Some(Some("high".into())),
            ..Default::default()
        },
    )
    .unwrap();
    sim.add_comment(
        t.id,
        NewComment {
            author_id: 2001,
            body: "note".into(),
            public: false,
        },
    )
    .unwrap();
    sim.create_ticket(NewTicket {
        brand_id: Some(2),
        ..ticket("Other brand")
    });
    // A human agent's public reply does fire it (web channel, public comment).
    sim.add_comment(t.id, NewComment::public(2001, "Hi from Hank"))
        .unwrap();
    wait_for(&received, 3).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(received.lock().unwrap().len(), 3);
    let deliveries = sim.webhook_deliveries();
    assert_eq!(deliveries.len(), 3);
    assert!(
        deliveries.iter().all(|d| d.status == Some(202)),
        "{deliveries:?}"
    );
    assert!(deliveries.iter().all(|d| d.ticket_id == t.id));

    // An inactive webhook is not called.
    let mut inactive = webhook_body("gw", &url);
    inactive["webhook"]["status"] = json!("inactive");
    let r = api
        .send(
            Method::PUT,
            &format!("/api/v2/webhooks/{wid}"),
            Some(inactive),
        )
        .await;
    assert_eq!(r.status(), 204);
    sim.add_comment(t.id, NewComment::public(1001, "hello?"))
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(received.lock().unwrap().len(), 3);
    sim.shutdown().await;
}

#[tokio::test]
async fn account_objects_match_zendesks_openapi_description() {
    let oas_path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/zendesk-oas/support-subset.yaml");
    let text = std::fs::read_to_string(&oas_path)
        .unwrap_or_else(|e| panic!("read {}: {e}", oas_path.display()));
    let root: Value = serde_yaml::from_str(&text).unwrap();
    let sim = start(SimulatorConfig::default()).await;
    let api = Api::admin(&sim);
    let (_, w) = post(&api, "/api/v2/webhooks", webhook_body("gw", "https://x/")).await;
    let wid = w["webhook"]["id"].as_str().unwrap();
    post(&api, "/api/v2/triggers", gateway_trigger(wid, 1)).await;
    post(
        &api,
        "/api/v2/automations",
        json!({"automation": {
            "title": "Failsafe",
            "conditions": {"all": [
                {"field": "assignee_id", "operator": "is", "value": "9000"},
                {"field": "assigned_at", "operator": "greater_than", "value": "1"}
            ]},
            "actions": [{"field": "assignee_id", "value": ""}]
        }}),
    )
    .await;
    let (_, triggers) = api.get("/api/v2/triggers").await;
    for t in triggers["triggers"].as_array().unwrap() {
        assert_conforms(&root, "TriggerObject", t);
    }
    assert_conforms(&root, "TriggersResponse", &triggers);
    let (_, automations) = api.get("/api/v2/automations").await;
    assert_conforms(&root, "AutomationsResponse", &automations);
    let (_, brands) = api.get("/api/v2/brands").await;
    assert_conforms(&root, "BrandsResponse", &brands);
    let (_, groups) = api.get("/api/v2/groups").await;
    for g in groups["groups"].as_array().unwrap() {
        assert_conforms(&root, "GroupObject", g);
    }
    // The response schemas of groups and memberships omit the offset-paging keys
    // Zendesk sends with them, so only the objects are checked.
    let (_, memberships) = api.get("/api/v2/group_memberships").await;
    for m in memberships["group_memberships"].as_array().unwrap() {
        assert_conforms(&root, "GroupMembershipObject", m);
    }
    sim.shutdown().await;
}
