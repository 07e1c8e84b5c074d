//! Scale-out (issue "Several gateway replicas share one inbox on PostgreSQL"): two
//! replicas against one, each with its concurrency fixed (`concurrency = 4`), on runs
//! that wait on I/O. Target: at least 1.8 times the throughput.
//!
//! * Project: two gateways (`service::launch`, as `serve` runs them, each with its own
//!   data folder and replica id) on one PostgreSQL database (the throwaway test cluster,
//!   or `DATABASE_URL`'s server), serving the llm-agent brand, whose every run waits on
//!   a slow fake model; the tickets are notified to both, half each, at once; the clock
//!   stops when the shared inbox is empty.
//! * Baseline: one such gateway, on a fresh database, with the same tickets.
//!
//! The fake model is an OpenAI-compatible Chat Completions server on loopback that
//! answers every request after a fixed latency (`BENCH_MODEL_MS`, default 1000 ms, a
//! hosted model's usual answer time; 200 ms in short mode) with the grounded answer of the llm-agent's first fixture, so each run
//! also retrieves articles and checks the draft as in production. Both gateways run in
//! this process on the same two cores: what the figure measures is that a second
//! replica adds workers to the fleet without the shared database, the claims or the
//! shared quota serialising them. The Zendesk quota and update budget are lifted
//! (`common::load_config`), so neither paces the figure.

use crate::common::{self, figure, BrandDef, Scale};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use zendesk_gateway::gateway::StartOptions;
use zendesk_gateway::service::{launch, RunningGateway};
use zendesk_gateway::store::Database;
use zendesk_simulator::{NewTicket, Simulator};

/// Workers per replica, fixed on both sides.
const CONCURRENCY: usize = 4;

/// A fake model that answers `answer` after `latency`: its `/v1` base URL.
async fn fake_model(latency: Duration, answer: String) -> anyhow::Result<String> {
    let app = Router::new().route(
        "/v1/chat/completions",
        post(move |Json(body): Json<Value>| {
            let answer = answer.clone();
            async move {
                tokio::time::sleep(latency).await;
                Json(json!({
                    "id": "chatcmpl-bench",
                    "object": "chat.completion",
                    "created": 1_764_000_000,
                    "model": body["model"],
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": answer}}],
                    "usage": {"prompt_tokens": 500, "completion_tokens": 120, "total_tokens": 620}
                }))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(format!("http://{addr}/v1"))
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The llm-agent's first fixture: the customer's question and the model's grounded answer.
fn fixture() -> anyhow::Result<(String, String, String)> {
    let path = repo().join("examples/fixtures/llm-agent/01-return-fleece-grounded.json");
    let f: Value = serde_json::from_slice(&std::fs::read(&path)?)?;
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    Ok((
        text(&f["ticket"]["subject"]),
        text(&f["ticket"]["description"]),
        text(&f["model_answer"]),
    ))
}

/// One replica on the database at `db_url`, against the simulator and the fake model.
async fn replica(
    sim: &Simulator,
    model_url: &str,
    db_url: &str,
    tag: &str,
) -> anyhow::Result<RunningGateway> {
    let dir = common::scratch_dir(tag);
    std::fs::write(dir.join("database-url"), db_url)?;
    let brands = [BrandDef::new(
        "northwind",
        zendesk_gateway::plugin_artifacts::LLM_AGENT_PATH,
    )];
    let text = common::config_text(
        &sim.base_url(),
        &dir,
        "127.0.0.1:0",
        &brands,
        &format!("concurrency = {CONCURRENCY}\ndatabase_file = \"database-url\""),
    )
    .replace(
        "[brands.northwind]\n",
        &format!(
            "[brands.northwind]\nknowledge = \"{kb}\"\n\
             llm = {{ base_url = \"{model_url}\", model = \"bench-model\", concurrency = 64, timeout_ms = 30000 }}\n\
             settings = {{ brand_name = \"Northwind Outfitters\" }}\n",
            kb = repo().join("examples/knowledge/northwind").display()
        ),
    );
    let path = common::write_config(&dir, &text, &common::sim_token());
    launch(common::load_config(&path)?, StartOptions::default()).await
}

/// Notifies `tickets` spread over `fleet`, at once, and waits until the shared inbox is
/// empty: the wall time.
async fn drain(
    fleet: &[RunningGateway],
    observer: &std::sync::Arc<Database>,
    tickets: &[u64],
) -> anyhow::Result<Duration> {
    let http = reqwest::Client::new();
    let token = common::endpoint_token("northwind");
    let started = Instant::now();
    let sends = tickets.iter().enumerate().map(|(n, id)| {
        let url = format!("{}/notify/{token}", fleet[n % fleet.len()].url());
        let http = http.clone();
        async move {
            let resp = http
                .post(url)
                .body(common::notification(*id))
                .send()
                .await?;
            anyhow::ensure!(
                resp.status() == 202,
                "notification refused: {}",
                resp.status()
            );
            anyhow::Ok(())
        }
    });
    for sent in futures::future::join_all(sends).await {
        sent?;
    }
    let deadline = started + Duration::from_secs(600);
    loop {
        let db = observer.clone();
        let depth = tokio::task::spawn_blocking(move || db.inbox.depth()).await??;
        if depth == 0 {
            return Ok(started.elapsed());
        }
        anyhow::ensure!(Instant::now() < deadline, "{depth} tickets still waiting");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// One round: `replicas` gateways on a fresh database, `tickets` tickets; tickets a
/// second and the runs that waited on the model (outcome `handled`).
async fn round(
    sim: &Simulator,
    model_url: &str,
    replicas: usize,
    tickets: usize,
    question: &(String, String),
) -> anyhow::Result<(f64, usize)> {
    let Some(db_url) =
        tokio::task::spawn_blocking(zendesk_gateway::store::postgres::scratch::database).await?
    else {
        anyhow::bail!("no PostgreSQL server for the replicas figure");
    };
    let u = db_url.clone();
    let observer = std::sync::Arc::new(
        tokio::task::spawn_blocking(move || Database::postgres(&u, false, "bench-observer", 2))
            .await??,
    );
    let mut fleet = Vec::new();
    for i in 0..replicas {
        fleet.push(replica(sim, model_url, &db_url, &format!("replica-{replicas}-{i}")).await?);
    }
    let ids: Vec<u64> = (0..tickets)
        .map(|_| {
            sim.create_ticket(NewTicket {
                subject: question.0.clone(),
                body: question.1.clone(),
                ..common::new_ticket(false)
            })
            .id
        })
        .collect();
    let elapsed = drain(&fleet, &observer, &ids).await?;
    let db = observer.clone();
    let records = tokio::task::spawn_blocking(move || db.audit.query(None, 100_000)).await??;
    let handled = records.iter().filter(|r| r.outcome == "handled").count();
    for gw in fleet {
        gw.shutdown(Duration::from_secs(5)).await;
    }
    Ok((tickets as f64 / elapsed.as_secs_f64(), handled))
}

/// The figure.
pub async fn run(scale: Scale) -> anyhow::Result<()> {
    if let Some(why) = zendesk_gateway::store::postgres::scratch::unavailable() {
        anyhow::ensure!(
            std::env::var("CI").map(|v| v != "true").unwrap_or(true),
            "CI=true but {why}"
        );
        println!("{:<22} skipped: {why}", "replicas");
        return Ok(());
    }
    let latency = Duration::from_millis(
        std::env::var("BENCH_MODEL_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(scale.pick(200, 1000)),
    );
    let tickets = scale.pick(16, 120);
    let (subject, body, answer) = fixture()?;
    let question = (subject, body);
    let sim = common::start_simulator().await?;
    let model_url = fake_model(latency, answer).await?;
    let (one, one_handled) = round(&sim, &model_url, 1, tickets, &question).await?;
    let (two, two_handled) = round(&sim, &model_url, 2, tickets, &question).await?;
    let ratio = two / one;
    figure(
        "replicas",
        &format!(
            "2 replicas {two:.1} tickets/s ({two_handled}/{tickets} answered from the model)"
        ),
        &format!(
            "1 replica {one:.1} tickets/s ({one_handled}/{tickets}), concurrency {CONCURRENCY} each, model {} ms",
            latency.as_millis()
        ),
        &format!(
            "ratio {ratio:.2} (target >= 1.8) {}",
            if ratio >= 1.8 { "MET" } else { "MISSED" }
        ),
    );
    Ok(())
}
