//! Isolation (issue "The sandbox holds under hostile plugins"): `/notify` p99 and a
//! healthy brand's run latency while N = 2 x cores plugins compute, against the same with
//! none computing, in one run. Target: both ratios at most 1.5.
//!
//! The gateway runs as its own process (the `zendesk-gateway` binary, its own runtime
//! sized by the machine's cores, as in production) in front of the simulator in this
//! process, so computing plugins cannot starve the simulator or the load generator and
//! hide the effect being measured.

use crate::common::{self, figure, BrandDef, Scale};
use std::time::{Duration, Instant};
use zendesk_simulator::Simulator;

struct Gateway {
    child: std::process::Child,
    url: String,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start(sim: &Simulator) -> anyhow::Result<Gateway> {
    let dir = common::scratch_dir("isolation");
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let brands = [
        BrandDef::new("triage", zendesk_gateway::plugin_artifacts::TRIAGE_PATH),
        BrandDef::new(
            "compute",
            zendesk_gateway::plugin_artifacts::HOSTILE_COMPUTE_PATH,
        ),
    ];
    let text = common::config_text(
        &sim.base_url(),
        &dir,
        &format!("127.0.0.1:{port}"),
        &brands,
        "concurrency = 8",
    )
    // Zendesk's own limit on updates (100 a minute) as the budget: the healthy runs are
    // spaced so that the budget never paces them, and the figure measures CPU isolation.
    .replace(
        "requests_per_minute = 100000000",
        "requests_per_minute = 100000000\nticket_updates_per_minute = 100",
    )
    .replace(
        "[brands.compute]\n",
        "[brands.compute]\nlimits = { deadline_ms = 20000 }\nsettings = { compute_ms = \"4000\" }\n",
    );
    let path = common::write_config(&dir, &text, &common::sim_token());
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_zendesk-gateway"))
        .args(["serve", "--config"])
        .arg(&path)
        .env("RUST_LOG", "error")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let gw = Gateway {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let http = reqwest::Client::new();
    let started = Instant::now();
    while http
        .get(format!("{}/healthz", gw.url))
        .send()
        .await
        .is_err()
    {
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(120),
            "gateway did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(gw)
}

async fn notify(
    http: &reqwest::Client,
    gw: &Gateway,
    brand: &str,
    id: u64,
) -> anyhow::Result<Duration> {
    let sent = Instant::now();
    let resp = http
        .post(format!(
            "{}/notify/{}",
            gw.url,
            common::endpoint_token(brand)
        ))
        .body(common::notification(id))
        .send()
        .await?;
    anyhow::ensure!(
        resp.status() == 202,
        "notification refused: {}",
        resp.status()
    );
    Ok(sent.elapsed())
}

/// `/notify` latencies (a coalesced notification of one waiting ticket, spaced out) and
/// healthy runs' latencies (notification to the PUT arriving at the simulator).
async fn measure(
    sim: &Simulator,
    gw: &Gateway,
    posts: usize,
    runs: usize,
) -> anyhow::Result<(Vec<Duration>, Vec<Duration>)> {
    let http = reqwest::Client::new();
    let mut notify_latency = Vec::new();
    let mut run_latency = Vec::new();
    for i in 0..posts.max(runs) {
        if i < runs {
            let id = sim.create_ticket(common::new_ticket(false)).id;
            let sent = Instant::now();
            notify(&http, gw, "triage", id).await?;
            loop {
                let put = sim.calls().iter().any(|c| {
                    c.method == "PUT"
                        && c.path.split('?').next() == Some(&format!("/api/v2/tickets/{id}"))
                });
                if put {
                    break;
                }
                anyhow::ensure!(
                    sent.elapsed() < Duration::from_secs(60),
                    "healthy ticket {id} not handled"
                );
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            run_latency.push(sent.elapsed());
            // Spaced beyond the update budget's pace (100 a minute).
            tokio::time::sleep(Duration::from_millis(700)).await;
        }
        if i < posts {
            // An unknown ticket id: accepted and stored like any notification.
            notify_latency.push(notify(&http, gw, "triage", 9_000_000 + i as u64).await?);
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    Ok((notify_latency, run_latency))
}

/// The isolation figure.
pub async fn run(scale: Scale) -> anyhow::Result<()> {
    let sim = common::start_simulator().await?;
    let gw = start(&sim).await?;
    let (posts, runs) = scale.pick((20, 2), (150, 10));
    // Warm up: the first runs compile nothing (the cache is warm) but fill the pools.
    measure(&sim, &gw, 5, 2).await?;
    let (mut idle_notify, mut idle_runs) = measure(&sim, &gw, posts, runs).await?;
    let computing = 2 * std::thread::available_parallelism().map_or(2, |n| n.get());
    let http = reqwest::Client::new();
    for _ in 0..computing {
        let id = sim.create_ticket(common::new_ticket(true)).id;
        notify(&http, &gw, "compute", id).await?;
    }
    // Let the computing runs start before measuring next to them.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (mut busy_notify, mut busy_runs) = measure(&sim, &gw, posts, runs).await?;
    let p99 = |v: &mut Vec<Duration>| common::percentile(v, 99.0);
    let p50 = |v: &mut Vec<Duration>| common::percentile(v, 50.0);
    let (idle_n, busy_n) = (p99(&mut idle_notify), p99(&mut busy_notify));
    let (idle_r, busy_r) = (p50(&mut idle_runs), p50(&mut busy_runs));
    figure(
        "isolation /notify",
        &format!(
            "p99 {} with {computing} plugins computing",
            common::ms(busy_n)
        ),
        &format!("p99 {} with none", common::ms(idle_n)),
        &format!(
            "ratio {:.2} (target <= 1.5)",
            busy_n.as_secs_f64() / idle_n.as_secs_f64().max(1e-6)
        ),
    );
    figure(
        "isolation healthy run",
        &format!(
            "p50 {} with {computing} plugins computing",
            common::ms(busy_r)
        ),
        &format!("p50 {} with none", common::ms(idle_r)),
        &format!(
            "ratio {:.2} (target <= 1.5)",
            busy_r.as_secs_f64() / idle_r.as_secs_f64().max(1e-6)
        ),
    );
    Ok(())
}
