//! Nothing lost, nothing doubled: SIGKILL mid-batch, duplicate storms, Zendesk fault
//! storms under a quota, signed webhooks, and random bodies at the ingress.

use crate::harness::*;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use zendesk_gateway::plugin_artifacts as artifacts;
use zendesk_simulator::{Fault, NewTicket, Simulator};

fn ai_replies(sim: &Simulator, id: u64) -> usize {
    let seat = sim_config().seat.id;
    sim.ticket(id)
        .unwrap()
        .comments
        .iter()
        .filter(|c| c["public"] == true && c["author_id"].as_u64() == Some(seat))
        .count()
}

fn spawn_gateway(config: &std::path::Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_zendesk-gateway"))
        .args(["serve", "--config"])
        .arg(config)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the gateway binary")
}

async fn wait_healthy(url: &str) {
    let started = Instant::now();
    let http = reqwest::Client::new();
    loop {
        if let Ok(r) = http.get(format!("{url}/healthz")).send().await {
            if r.status() == 200 {
                return;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "gateway did not come up"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_batch_loses_nothing_and_doubles_nothing() {
    let config = sim_config();
    let token = config.api_token.clone();
    let sim = Simulator::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let dir = scratch_dir("kill");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let brands = [BrandSpec::new(
        "triage",
        artifacts::TRIAGE_PATH,
        TRIAGE_TOKEN,
    )];
    // A slow quota keeps tickets in flight long enough to kill the process among them.
    let text = config_text(&sim.base_url(), &dir, &brands, "zendesk-token")
        .replace(
            "listen = \"127.0.0.1:0\"",
            &format!("listen = \"127.0.0.1:{port}\""),
        )
        .replace("requests_per_minute = 6000", "requests_per_minute = 900")
        .replace("concurrency = 4", "concurrency = 2");
    write_config(&dir, &text, &token);
    let url = format!("http://127.0.0.1:{port}");
    let mut child = spawn_gateway(&dir.join("gateway.toml"));
    wait_healthy(&url).await;

    let http = reqwest::Client::new();
    let mut ids = Vec::new();
    for i in 0..40 {
        let id = sim
            .create_ticket(NewTicket {
                subject: format!("Login problem {i}"),
                body: "I cannot log in since this morning.".into(),
                requester_id: CUSTOMER,
                ..Default::default()
            })
            .id;
        let r = http
            .post(format!("{url}/notify/{TRIAGE_TOKEN}"))
            .body(format!("{{\"id\": {id}}}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        ids.push(id);
    }
    // Let some be handled, then kill -9 in the middle of the batch.
    let started = Instant::now();
    while ids.iter().filter(|id| ai_replies(&sim, **id) > 0).count() < 5 {
        assert!(started.elapsed() < Duration::from_secs(30));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let done_before = ids.iter().filter(|id| ai_replies(&sim, **id) > 0).count();
    assert!(
        done_before < ids.len(),
        "the kill must land mid-batch ({done_before} done)"
    );

    // Restart on the same data folder: the rest resumes.
    let mut child = spawn_gateway(&dir.join("gateway.toml"));
    wait_healthy(&url).await;
    let started = Instant::now();
    while ids.iter().any(|id| ai_replies(&sim, *id) == 0) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "accepted tickets were lost"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    for id in &ids {
        assert_eq!(ai_replies(&sim, *id), 1, "ticket {id}: exactly one reply");
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_notification_many_times_at_once_gives_one_reply() {
    let mut h = Harness::start().await;
    let id = h.ticket(
        "Export crashes",
        "The CSV export crashes with an error every time.",
    );
    let url = h.gw().notify_url("triage").unwrap();
    let mut tasks = Vec::new();
    for _ in 0..30 {
        let (http, url) = (h.http.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            http.post(url)
                .body(format!("{{\"id\": {id}}}"))
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 202);
    }
    h.wait_runs(id, 1).await;
    while h.gw().gateway.inbox.depth().unwrap() > 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(ai_replies(&h.sim, id), 1);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_and_outage_storms_delay_but_lose_nothing() {
    let mut h = Harness::start().await;
    let mut ids = Vec::new();
    for i in 0..8 {
        ids.push(h.ticket(
            &format!("Billing {i}"),
            "I was charged twice, please refund.",
        ));
    }
    h.sim.inject_fault(Fault {
        method: None,
        path_contains: Some("/api/v2/tickets".into()),
        status: 429,
        retry_after: Some(1),
        times: 4,
        ..Default::default()
    });
    h.sim.inject_fault(Fault {
        method: None,
        path_contains: Some("/api/v2/tickets".into()),
        status: 503,
        retry_after: None,
        times: 6,
        ..Default::default()
    });
    for id in &ids {
        h.notify(TRIAGE_TOKEN, *id).await;
    }
    for id in &ids {
        h.wait_runs(*id, 1).await;
    }
    for id in &ids {
        assert_eq!(ai_replies(&h.sim, *id), 1, "ticket {id}");
    }
    // Only the injected 429s: the gateway's own limiter kept it under the quota.
    let too_many = h.sim.calls().iter().filter(|c| c.status == 429).count();
    assert_eq!(too_many, 4);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_bodies_never_get_a_5xx() {
    use rand::{Rng, SeedableRng};
    let mut h = Harness::start().await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let seeds: [&[u8]; 6] = [
        br#"{"id": 1}"#,
        br#"{"id": "12"}"#,
        b"{}",
        b"[]",
        b"null",
        br#"{"id": 18446744073709551616}"#,
    ];
    for i in 0..400 {
        let mut body = seeds[i % seeds.len()].to_vec();
        for _ in 0..rng.gen_range(0..6) {
            let pos = rng.gen_range(0..=body.len());
            match rng.gen_range(0..3) {
                0 => body.insert(pos, rng.gen()),
                1 if !body.is_empty() => {
                    body.remove(pos.min(body.len() - 1));
                }
                _ => body.insert(pos, b"{}[]\":,0123456789-e.\\ "[rng.gen_range(0..22)]),
            }
        }
        let r = h.post(TRIAGE_TOKEN, body.clone()).await;
        let s = r.status().as_u16();
        assert!(
            s == 202 || s == 400,
            "body {:?} got {s}",
            String::from_utf8_lossy(&body)
        );
    }
    let r = h
        .http
        .get(format!("{}/healthz", h.gw().url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    h.stop().await;
}
