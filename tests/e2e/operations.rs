//! Running it for real: signatures, backpressure, readiness, graceful stop, Zendesk
//! refusing an update, Listening Mode drafts, two environments, metrics and the CLI.

use crate::harness::*;
use std::process::Command;
use std::time::{Duration, Instant};
use zendesk_gateway::pipeline::ingress::signature::{sign, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use zendesk_gateway::plugin_artifacts as artifacts;
use zendesk_simulator::{Fault, NewComment, Simulator};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_endpoints_accept_only_valid_fresh_signatures() {
    let mut brand = BrandSpec::new("triage", artifacts::TRIAGE_PATH, TRIAGE_TOKEN);
    brand.endpoint_extra = "signing_secret_file = \"webhook-secret\"".into();
    let mut h = Harness::custom(sim_config(), vec![brand], |t| {
        // The secret file sits beside the config, in the data folder the config names.
        let data = t
            .lines()
            .find(|l| l.starts_with("data_dir"))
            .unwrap()
            .split('"')
            .nth(1)
            .unwrap()
            .to_string();
        std::fs::write(
            std::path::Path::new(&data).join("webhook-secret"),
            "s3cr3t-signing-key",
        )
        .unwrap();
        t
    })
    .await;
    let id = h.ticket("Login", "I cannot log in.");
    let body = format!("{{\"id\": {id}}}");
    let url = h.gw().notify_url("triage").unwrap();
    let now = chrono::Utc::now();
    let fresh = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let stale =
        (now - chrono::Duration::minutes(30)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let send = |sig: Option<String>, ts: Option<String>| {
        let mut req = h.http.post(&url).body(body.clone());
        if let Some(s) = sig {
            req = req.header(SIGNATURE_HEADER, s);
        }
        if let Some(t) = ts {
            req = req.header(TIMESTAMP_HEADER, t);
        }
        req.send()
    };
    let missing = send(None, None).await.unwrap();
    assert_eq!(missing.status(), 401);
    let forged = send(
        Some(sign("wrong-key", &fresh, body.as_bytes())),
        Some(fresh.clone()),
    )
    .await
    .unwrap();
    assert_eq!(forged.status(), 401);
    let replayed = send(
        Some(sign("s3cr3t-signing-key", &stale, body.as_bytes())),
        Some(stale.clone()),
    )
    .await
    .unwrap();
    assert_eq!(replayed.status(), 401);
    let json: serde_json::Value = replayed.json().await.unwrap();
    assert!(json["detail"].as_str().unwrap().contains("replay window"));
    assert_eq!(
        h.gw().gateway.inbox.depth().unwrap(),
        0,
        "refused notifications are not stored"
    );
    let valid = send(
        Some(sign("s3cr3t-signing-key", &fresh, body.as_bytes())),
        Some(fresh),
    )
    .await
    .unwrap();
    assert_eq!(valid.status(), 202);
    h.wait_runs(id, 1).await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_inbox_answers_503_with_retry_after() {
    let mut slow = BrandSpec::new("slow", artifacts::HOSTILE_LOOP_PATH, TRIAGE_TOKEN);
    slow.extra = "limits = { deadline_ms = 3000, quarantine_after = 0 }".into();
    let mut h = Harness::custom(sim_config(), vec![slow], |t| {
        t.replace("concurrency = 4", "concurrency = 1\nmax_inbox_depth = 3")
    })
    .await;
    for i in 0..3 {
        let id = h.ticket(&format!("t{i}"), "hello");
        h.notify(TRIAGE_TOKEN, id).await;
    }
    let id = h.ticket("one too many", "hello");
    let r = h.post(TRIAGE_TOKEN, format!("{{\"id\": {id}}}")).await;
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "30");
    let json: serde_json::Value = r.json().await.unwrap();
    assert_eq!(json["error"], "inbox_full");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_reports_refused_credentials_until_they_work_again() {
    let mut h = Harness::start().await;
    let ready = format!("{}/readyz", h.gw().url());
    assert_eq!(h.http.get(&ready).send().await.unwrap().status(), 200);
    h.sim.inject_fault(Fault {
        method: Some("GET".into()),
        path_contains: Some("/comments".into()),
        status: 401,
        retry_after: None,
        times: 1,
        ..Default::default()
    });
    let id = h.ticket("Billing", "Charged twice");
    h.notify(TRIAGE_TOKEN, id).await;
    h.wait_runs(id, 1).await;
    let r = h.http.get(&ready).send().await.unwrap();
    assert_eq!(r.status(), 503);
    let json: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        json["environments"][0]["environment"], "production",
        "{json}"
    );
    // The next successful call clears it.
    let id = h.ticket("Billing again", "Charged twice");
    h.notify(TRIAGE_TOKEN, id).await;
    h.wait_runs(id, 1).await;
    assert_eq!(h.http.get(&ready).send().await.unwrap().status(), 200);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zendesk_refusing_the_update_hands_the_ticket_to_humans_with_its_reason() {
    let mut sim = sim_config();
    sim.required_on_solve = vec![777];
    let mut h = Harness::custom(
        sim,
        vec![BrandSpec::new(
            "triage",
            artifacts::TRIAGE_PATH,
            TRIAGE_TOKEN,
        )],
        |t| t,
    )
    .await;
    let id = h.ticket("Locked out", "My login fails since I enabled 2FA.");
    h.notify(TRIAGE_TOKEN, id).await;
    h.wait_runs(id, 1).await;
    h.sim
        .add_comment(
            id,
            NewComment {
                author_id: CUSTOMER,
                body: "Thanks, that fixed it!".into(),
                public: true,
            },
        )
        .unwrap();
    h.notify(TRIAGE_TOKEN, id).await;
    let runs = h.wait_runs(id, 2).await;
    assert_eq!(runs[1].outcome, "failed", "{:?}", runs[1]);
    assert!(
        runs[1].reason.contains("Zendesk refused"),
        "{}",
        runs[1].reason
    );
    let state = h.sim.ticket(id).unwrap();
    assert_ne!(state.ticket["status"], "solved");
    let note = state
        .comments
        .iter()
        .rev()
        .find(|c| c["public"] == false)
        .expect("a hand-off note");
    assert!(
        note["body"].as_str().unwrap().contains("RecordInvalid"),
        "{note}"
    );
    assert!(state.ticket["tags"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t == "ai_handoff_error"));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listening_mode_drafts_go_where_the_config_says() {
    let mut note = BrandSpec::new("triage", artifacts::TRIAGE_PATH, TRIAGE_TOKEN);
    note.mode = "listening";
    let mut audit_only = BrandSpec::new("orders", artifacts::ORDER_DESK_PATH, ORDERS_TOKEN);
    audit_only.mode = "listening";
    audit_only.extra = "listening_drafts = \"audit\"".into();
    let mut h = Harness::with_brands(vec![note, audit_only]).await;

    let a = h.ticket("Charged twice", "I was charged twice, please refund.");
    h.notify(TRIAGE_TOKEN, a).await;
    let run = &h.wait_runs(a, 1).await[0];
    assert_eq!(run.mode, "listening");
    let state = h.sim.ticket(a).unwrap();
    assert_eq!(
        state
            .comments
            .iter()
            .filter(|c| c["public"] == true)
            .count(),
        1,
        "no public reply"
    );
    let draft = state
        .comments
        .iter()
        .find(|c| c["public"] == false)
        .expect("a draft note");
    assert!(draft["body"].as_str().unwrap().contains("Listening Mode"));
    assert!(
        run.staged["reply"].is_string(),
        "the audit keeps what would have been sent"
    );

    let b = h.ticket(
        "Where is my order?",
        "Where is my order? No tracking number yet.",
    );
    h.notify(ORDERS_TOKEN, b).await;
    let run = &h.wait_runs(b, 1).await[0];
    let state = h.sim.ticket(b).unwrap();
    assert_eq!(
        state.comments.len(),
        1,
        "nothing written to the conversation"
    );
    assert_ne!(
        state.ticket["status"], "pending",
        "no status change in listening mode"
    );
    assert!(run.staged["reply"].is_string());
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_environments_each_get_their_own_tickets() {
    let uat_cfg = sim_config();
    let prod_cfg = sim_config();
    let token = uat_cfg.api_token.clone();
    let uat = Simulator::start(uat_cfg, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let prod = Simulator::start(prod_cfg, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let dir = scratch_dir("envs");
    let text = format!(
        r#"
[gateway]
listen = "127.0.0.1:0"
data_dir = "{data}"

[environments.uat]
base_url = "{uat}"
email = "gladly-ai@example.com"
api_token_file = "zendesk-token"

[environments.production]
base_url = "{prod}"
email = "gladly-ai@example.com"
api_token_file = "zendesk-token"

[brands.triage]
plugin = "{plugin}"
mode = "live"

[endpoints.triage-uat]
brand = "triage"
environment = "uat"
token = "uat-endpoint-token-0123456789abcdef"
mode = "listening"

[endpoints.triage-production]
brand = "triage"
environment = "production"
token = "prod-endpoint-token-0123456789abcdef"
"#,
        data = dir.display(),
        uat = uat.base_url(),
        prod = prod.base_url(),
        plugin = artifacts::TRIAGE_PATH
    );
    let gw =
        zendesk_gateway::service::launch(write_config(&dir, &text, &token), Default::default())
            .await
            .unwrap();
    let new = |sim: &Simulator| {
        sim.create_ticket(zendesk_simulator::NewTicket {
            subject: "Refund".into(),
            body: "Please refund the duplicate charge.".into(),
            requester_id: CUSTOMER,
            ..Default::default()
        })
        .id
    };
    let (u, p) = (new(&uat), new(&prod));
    assert_eq!(
        u, p,
        "both simulators number tickets from 1: the environment must tell them apart"
    );
    let http = reqwest::Client::new();
    for (ep, id) in [("triage-uat", u), ("triage-production", p)] {
        let r = http
            .post(gw.notify_url(ep).unwrap())
            .body(format!("{{\"id\": {id}}}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
    }
    // A finished run of each environment: on a loaded machine a passing failure (a
    // timed-out call) may be recorded first, as a retry, and is not what this checks.
    let finished = |records: &[zendesk_gateway::store::audit::AuditRecord], env: &str| {
        records
            .iter()
            .find(|r| r.environment == env && r.outcome != zendesk_gateway::outcome::Outcome::Retry)
            .cloned()
    };
    let started = Instant::now();
    let (uat_run, prod_run) = loop {
        let records = gw.gateway.audit.query(None, 100).unwrap();
        if let (Some(u), Some(p)) = (finished(&records, "uat"), finished(&records, "production")) {
            break (u, p);
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no finished run of each environment: {records:#?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(
        uat_run.mode, "listening",
        "the UAT endpoint overrides the brand's mode"
    );
    assert_eq!(prod_run.mode, "live");
    // UAT got a draft note, production a public reply, each in its own Zendesk.
    let uat_state = uat.ticket(u).unwrap();
    let prod_state = prod.ticket(p).unwrap();
    assert_eq!(
        uat_state
            .comments
            .iter()
            .filter(|c| c["public"] == true)
            .count(),
        1
    );
    assert_eq!(
        prod_state
            .comments
            .iter()
            .filter(|c| c["public"] == true)
            .count(),
        2
    );
    assert!(uat.calls().iter().any(|c| c.method == "PUT"));
    assert!(prod.calls().iter().any(|c| c.method == "PUT"));
    gw.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_reflect_a_known_sequence_of_runs() {
    let mut h = Harness::start().await;
    let id = h.ticket("Charged twice", "I was charged twice.");
    h.notify(TRIAGE_TOKEN, id).await;
    h.wait_runs(id, 1).await;
    h.notify(TRIAGE_TOKEN, id).await; // skipped by the loop guard
    h.wait_runs(id, 2).await;
    let _ = h.post(TRIAGE_TOKEN, "garbage").await;
    let text = h.metrics_text().await;
    let has = |needle: &str| assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    has("zendesk_gateway_notifications_total{endpoint=\"triage\",result=\"accepted\"} 2");
    has("zendesk_gateway_notifications_total{endpoint=\"triage\",result=\"malformed\"} 1");
    has("zendesk_gateway_runs_total{brand=\"triage\",outcome=\"handed_off\"} 1");
    has("zendesk_gateway_runs_total{brand=\"triage\",outcome=\"skipped\"} 1");
    has("zendesk_gateway_zendesk_calls_total{environment=\"production\",call=\"PUT /api/v2/tickets/{id}\",status=\"200\"} 1");
    has("zendesk_gateway_zendesk_calls_total{environment=\"production\",call=\"GET /api/v2/tickets/{id}/comments\",status=\"200\"} 2");
    has("zendesk_gateway_inbox_depth 0");
    has("zendesk_gateway_run_duration_seconds_count{brand=\"triage\"} 2");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_check_audit_and_sigterm() {
    let bin = env!("CARGO_BIN_EXE_zendesk-gateway");
    let mut h = Harness::start().await;
    let id = h.ticket("Charged twice", "I was charged twice.");
    h.notify(TRIAGE_TOKEN, id).await;
    h.wait_runs(id, 1).await;
    h.stop().await;
    let config = h.dir.join("gateway.toml");

    let out = Command::new(bin)
        .args(["check", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("brand triage") && stdout.contains("OK"),
        "{stdout}"
    );

    let out = Command::new(bin)
        .args(["audit", "--config"])
        .arg(&config)
        .args(["--ticket", &id.to_string()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("handed_off"),
        "{stdout}"
    );

    let broken = h.dir.join("broken.toml");
    std::fs::write(
        &broken,
        h.config_text
            .replace("brand = \"orders\"", "brand = \"nope\""),
    )
    .unwrap();
    let out = Command::new(bin)
        .args(["check", "--config"])
        .arg(&broken)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("endpoints.orders.brand") && stderr.contains("nope"),
        "{stderr}"
    );

    // serve, then SIGTERM: a clean exit.
    let mut child = Command::new(bin)
        .args(["serve", "--config"])
        .arg(&config)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "no exit after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status}");
}
