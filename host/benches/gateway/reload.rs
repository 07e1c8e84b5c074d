//! Hot reload: with a steady stream of notifications, the brand's plugin file is
//! replaced again and again (renamed over, as deploy tools do); each time, the latency
//! from "file replaced" to "first ticket finished by the new version" (the audit
//! record's time), then, after the stream stops, how many notified tickets were lost.
//!
//! Two kinds of replacement:
//! * a known build: the triage and order-desk plugins in turn, both already in the
//!   compile cache (a rollback, or a version the gateway has seen);
//! * a new build: the triage plugin with a new custom section each time, a content
//!   hash never seen, so every reload compiles (a deploy).
//!
//! There is no baseline process to measure: the alternative is restarting the whole
//! process (as Spin does), so the figure is compared with its target.

use crate::common::{self, figure, ms, percentile, BrandDef, Scale};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use zendesk_gateway::gateway::StartOptions;
use zendesk_gateway::runtime::plugin::content_version;
use zendesk_gateway::service::{launch, RunningGateway};

/// The brand whose plugin is replaced.
const BRAND: &str = "acme";

/// How long one replacement took.
struct Reload {
    /// File replaced -> the brand's current plugin is the new version.
    swapped: Duration,
    /// File replaced -> the first ticket finished by the new version.
    serving: Duration,
}

/// Replaces the plugin file with `bytes` and waits for the new version to serve.
async fn replace(gw: &RunningGateway, path: &Path, bytes: &[u8]) -> anyhow::Result<Reload> {
    let version = content_version(bytes);
    let replaced_at = chrono::Utc::now();
    let started = Instant::now();
    common::rename_over(path, bytes);
    let timeout = Duration::from_secs(20);
    let swapped = loop {
        let serving = gw
            .gateway
            .brand(BRAND)
            .expect("brand")
            .plugin
            .version
            .clone();
        if serving == version {
            break started.elapsed();
        }
        anyhow::ensure!(
            started.elapsed() < timeout,
            "version {version} not loaded after {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    };
    let serving = loop {
        let first = gw
            .gateway
            .audit
            .query(None, 100)?
            .into_iter()
            .filter(|r| r.plugin_version == version && r.outcome != "retry")
            .filter_map(|r| chrono::DateTime::parse_from_rfc3339(&r.at).ok())
            .map(|at| at.with_timezone(&chrono::Utc))
            .filter(|at| *at >= replaced_at)
            .min();
        if let Some(at) = first {
            break (at - replaced_at).to_std().unwrap_or_default();
        }
        anyhow::ensure!(
            started.elapsed() < timeout,
            "no ticket handled by version {version} after {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    Ok(Reload { swapped, serving })
}

/// What became of the stream's tickets.
struct Tickets {
    sent: usize,
    lost: usize,
    failed: usize,
}

/// Prints the figure of one kind of replacement.
fn report(kind: &str, mut reloads: Vec<Reload>, tickets: &Tickets) {
    let mut serving: Vec<Duration> = reloads.iter().map(|r| r.serving).collect();
    let mut swapped: Vec<Duration> = reloads.drain(..).map(|r| r.swapped).collect();
    let (p50, p95) = (
        percentile(&mut serving, 50.0),
        percentile(&mut serving, 95.0),
    );
    let ratio = p50.as_secs_f64() / 0.250;
    figure(
        &format!("hot reload {kind}"),
        &format!(
            "gateway p50 {} p95 {} (swap p50 {}), {} reloads; stream: {} of {} tickets lost, {} failed",
            ms(p50),
            ms(p95),
            ms(percentile(&mut swapped, 50.0)),
            serving.len(),
            tickets.lost,
            tickets.sent,
            tickets.failed,
        ),
        "target p50 250 ms (a restart is the alternative)",
        &format!(
            "ratio {ratio:.2} (target < 1, none lost) {}",
            if ratio < 1.0 && tickets.lost == 0 && tickets.failed == 0 {
                "MET"
            } else {
                "MISSED"
            }
        ),
    );
}

/// Runs the section and prints its figures.
pub async fn run(scale: Scale) -> anyhow::Result<()> {
    let reloads = scale.pick(2, 20);
    // Time between replacements: longer than the watcher's debounce, so each
    // replacement is its own reload, with tickets flowing in between.
    let gap = scale.pick(Duration::from_millis(150), Duration::from_millis(300));
    let interval = Duration::from_millis(10);

    let sim = common::start_simulator().await?;
    let dir = common::scratch_dir("reload");
    let plugin = dir.join("brand.wasm");
    let triage = std::fs::read(zendesk_gateway::plugin_artifacts::TRIAGE_PATH)?;
    let orders = std::fs::read(zendesk_gateway::plugin_artifacts::ORDER_DESK_PATH)?;
    std::fs::write(&plugin, &triage)?;
    let brand = BrandDef::new(BRAND, &plugin);
    let text = common::config_text(
        &sim.base_url(),
        &dir.join("data"),
        "127.0.0.1:0",
        std::slice::from_ref(&brand),
        "",
    );
    let config = common::load_config(&common::write_config(&dir, &text, &common::sim_token()))?;
    let gw = launch(config, StartOptions::default()).await?;
    {
        // Put the order-desk build in the compile cache: the "known build" series
        // measures a reload of a version the gateway has compiled before.
        let (gateway, plugin, orders) = (gw.gateway.clone(), plugin.clone(), orders.clone());
        tokio::task::spawn_blocking(move || {
            gateway
                .loader()
                .load_bytes(BRAND, &plugin, &orders)
                .map(drop)
        })
        .await??;
    }

    // The stream: a new ticket notified every `interval` until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let sent: Arc<Mutex<Vec<(u64, bool)>>> = Arc::default();
    let stream = {
        let (stop, sent, sim) = (stop.clone(), sent.clone(), sim.clone());
        let url = format!("{}/notify/{}", gw.url(), brand.token());
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut tick = tokio::time::interval(interval);
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                let id = sim.create_ticket(common::new_ticket(false)).id;
                let accepted = http
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(common::notification(id))
                    .send()
                    .await
                    .is_ok_and(|r| r.status() == 202);
                sent.lock().expect("sent list").push((id, accepted));
            }
        })
    };

    let (mut known, mut new) = (Vec::new(), Vec::new());
    for i in 0..reloads {
        tokio::time::sleep(gap).await;
        let bytes = if i % 2 == 0 { &orders } else { &triage };
        known.push(replace(&gw, &plugin, bytes).await?);
    }
    for i in 0..reloads as u32 {
        tokio::time::sleep(gap).await;
        let build = common::with_custom_section(&triage, "bench-build", &i.to_le_bytes());
        new.push(replace(&gw, &plugin, &build).await?);
    }
    tokio::time::sleep(gap).await;
    stop.store(true, Ordering::Relaxed);
    stream.await?;

    // Every notified ticket must have finished: wait for the inbox to drain, then
    // look for each ticket's audit record.
    let started = Instant::now();
    while gw.gateway.inbox.waiting() > 0 && started.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let sent = sent.lock().expect("sent list").clone();
    let (mut lost, mut failed) = (0, 0);
    for (id, accepted) in &sent {
        let records = gw.gateway.audit.query(Some(*id), 10)?;
        let finished: Vec<_> = records.iter().filter(|r| r.outcome != "retry").collect();
        if !accepted || finished.is_empty() {
            lost += 1;
        } else if finished.iter().any(|r| r.outcome == "failed") {
            failed += 1;
        }
    }
    let tickets = Tickets {
        sent: sent.len(),
        lost,
        failed,
    };
    report("known build", known, &tickets);
    report("new build", new, &tickets);
    gw.shutdown(Duration::from_secs(5)).await;
    sim.shutdown().await;
    Ok(())
}
