//! The run model's two figures (issue "Every customer message gets exactly one
//! considered answer"):
//!
//! * Quota-bound throughput: the gateway with `requests_per_minute = R` (120) and a
//!   backlog of tickets, Zendesk's update limits and the default update budget in force; handled tickets per minute against the ideal R / (Zendesk calls per
//!   ticket). Target at least 0.9, with zero false hand-offs (no run "failed").
//! * Time to first response: the simulator answers every ticket call after a fixed
//!   latency L; from the notification to the reply committed (the PUT's arrival plus L),
//!   one ticket at a time; p50 and p95 against the minimal sequential round trips, 3 L
//!   (comments, ticket, PUT). Target at most 1.2.

use crate::common::{self, figure, BrandDef, Scale};
use std::time::{Duration, Instant};
use zendesk_gateway::config::Config;
use zendesk_gateway::gateway::StartOptions;
use zendesk_gateway::service::launch;
use zendesk_simulator::{Fault, Simulator, SimulatorConfig};

/// Both figures.
pub async fn run(scale: Scale) -> anyhow::Result<()> {
    quota_bound(scale).await?;
    first_response(scale).await
}

/// A gateway with `requests_per_minute = rpm`; with `lift_update_budget` the ticket-update
/// budget is out of the way (the figure measures latency, not Zendesk's update limit).
async fn gateway(
    sim: &Simulator,
    tag: &str,
    rpm: u32,
    lift_update_budget: bool,
) -> anyhow::Result<zendesk_gateway::service::RunningGateway> {
    let dir = common::scratch_dir(tag);
    let brands = [BrandDef::new(
        "triage",
        zendesk_gateway::plugin_artifacts::TRIAGE_PATH,
    )];
    let text = common::config_text(&sim.base_url(), &dir, "127.0.0.1:0", &brands, "").replace(
        "requests_per_minute = 100000000",
        &format!("requests_per_minute = {rpm}"),
    );
    let path = common::write_config(&dir, &text, &common::sim_token());
    let config = if lift_update_budget {
        common::load_config(&path)?
    } else {
        Config::load(&path)?
    };
    launch(config, StartOptions::default()).await
}

async fn notify(http: &reqwest::Client, url: &str, id: u64) -> anyhow::Result<()> {
    let token = common::endpoint_token("triage");
    let resp = http
        .post(format!("{url}/notify/{token}"))
        .body(common::notification(id))
        .send()
        .await?;
    anyhow::ensure!(
        resp.status() == 202,
        "notification refused: {}",
        resp.status()
    );
    Ok(())
}

async fn quota_bound(scale: Scale) -> anyhow::Result<()> {
    // 120 requests a minute: the ideal (40 tickets a minute at 3 calls each) stays under
    // the default ticket-update budget (50 a minute), so the figure measures the general
    // quota, with Zendesk's update limits as they are.
    let rpm: u32 = 120;
    let tickets: usize = scale.pick(6, 40);
    let sim = Simulator::start(
        SimulatorConfig {
            rate_limit_per_minute: rpm * 2,
            ..SimulatorConfig::default()
        },
        "127.0.0.1:0".parse()?,
    )
    .await?;
    let gw = gateway(&sim, "quota-bound", rpm, false).await?;
    let ids: Vec<u64> = (0..tickets)
        .map(|_| sim.create_ticket(common::new_ticket(false)).id)
        .collect();
    sim.clear_calls();
    let http = reqwest::Client::new();
    let started = Instant::now();
    for id in &ids {
        notify(&http, &gw.url(), *id).await?;
    }
    let deadline = started + Duration::from_secs(600);
    while gw.gateway.inbox.waiting() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = started.elapsed();
    let records = gw.gateway.audit.query(None, 100_000)?;
    let failed = records.iter().filter(|r| r.outcome == "failed").count();
    let finished = records.iter().filter(|r| r.outcome != "retry").count();
    let calls = sim.calls().len() as f64 / tickets as f64;
    let per_minute = finished as f64 / elapsed.as_secs_f64() * 60.0;
    let ideal = f64::from(rpm) / calls;
    figure(
        "quota-bound",
        &format!(
            "{per_minute:.0} tickets/min at {rpm} requests/min ({calls:.2} calls a ticket, {failed} false hand-offs)"
        ),
        &format!("ideal {ideal:.0}/min"),
        &format!("ratio {:.2} (target >= 0.9, 0 false hand-offs)", per_minute / ideal),
    );
    gw.shutdown(Duration::from_secs(5)).await;
    Ok(())
}

async fn first_response(scale: Scale) -> anyhow::Result<()> {
    let latency = Duration::from_millis(100);
    let tickets = scale.pick(3, 20);
    let sim = common::start_simulator().await?;
    let gw = gateway(&sim, "first-response", 100_000_000, true).await?;
    sim.inject_fault(Fault {
        path_contains: Some("/api/v2/tickets/".into()),
        hold_before_ms: latency.as_millis() as u64,
        times: Fault::UNLIMITED,
        ..Default::default()
    });
    let http = reqwest::Client::new();
    let mut samples = Vec::new();
    for _ in 0..tickets {
        let id = sim.create_ticket(common::new_ticket(false)).id;
        let sent = chrono::Utc::now();
        notify(&http, &gw.url(), id).await?;
        let waited = Instant::now();
        let put = loop {
            let put = sim.calls().into_iter().find(|c| {
                c.method == "PUT"
                    && c.path.split('?').next() == Some(&format!("/api/v2/tickets/{id}"))
            });
            if let Some(put) = put {
                break put;
            }
            anyhow::ensure!(
                waited.elapsed() < Duration::from_secs(30),
                "no reply for ticket {id}"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        };
        let committed = put.at + chrono::Duration::from_std(latency)?;
        samples.push((committed - sent).to_std().unwrap_or_default());
    }
    sim.clear_faults();
    let baseline = latency * 3;
    let p50 = common::percentile(&mut samples, 50.0);
    let p95 = common::percentile(&mut samples, 95.0);
    figure(
        "first response",
        &format!(
            "p50 {}, p95 {} with {} per Zendesk call",
            common::ms(p50),
            common::ms(p95),
            common::ms(latency)
        ),
        &format!("3 round trips {}", common::ms(baseline)),
        &format!(
            "ratio p50 {:.2}, p95 {:.2} (target <= 1.2)",
            p50.as_secs_f64() / baseline.as_secs_f64(),
            p95.as_secs_f64() / baseline.as_secs_f64()
        ),
    );
    gw.shutdown(Duration::from_secs(5)).await;
    Ok(())
}
