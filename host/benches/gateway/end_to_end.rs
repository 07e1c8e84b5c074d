//! End to end: tickets fully handled per second with the simulator on loopback, and
//! Zendesk calls per handled ticket.
//!
//! * Gateway: `server::launch` as `serve` runs it (HTTP, inbox, default concurrency of
//!   workers, both example brands), N tickets notified at once; the clock stops when
//!   the inbox is empty again, and the audit trail must then hold one finished run
//!   per ticket.
//! * Baseline: the Zendesk calls alone. A plain HTTP client replays, for N fresh
//!   tickets, exactly the calls the gateway made for a ticket of the same brand (the
//!   same paths and the same update body, with the fresh ticket's stamp), with as many
//!   tickets in flight as the gateway has workers. It is the ceiling the simulator puts
//!   on any gateway that makes these calls; the ratio is the share of it the gateway
//!   reaches with everything else it does (inbox, plugin runs, audit).

use crate::common::{self, figure, BrandDef, Scale};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use zendesk_gateway::gateway::StartOptions;
use zendesk_gateway::service::launch;
use zendesk_simulator::{ApiCall, Simulator};

/// Runs `count` jobs on `workers` tasks; `job(i)` is the i-th.
async fn run_parallel<F, Fut>(count: usize, workers: usize, job: F) -> anyhow::Result<()>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let job = Arc::new(job);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..workers {
        let (next, job) = (next.clone(), job.clone());
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    return Ok::<(), anyhow::Error>(());
                }
                job(i).await?;
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(())
}

/// The calls the simulator logged for one ticket, oldest first.
fn calls_for(calls: &[ApiCall], ticket: u64) -> Vec<ApiCall> {
    let exact = format!("/api/v2/tickets/{ticket}");
    let below = format!("{exact}/");
    calls
        .iter()
        .filter(|c| {
            let path = c.path.split('?').next().unwrap_or("");
            path == exact || path.starts_with(&below)
        })
        .cloned()
        .collect()
}

/// The Zendesk calls of a host that made one call per plugin action: the plugin's
/// three reads (ticket, comments, requester) and one write per staged change (reply,
/// each note, assignment, added tags, removed tags, status), as the audit recorded them.
fn naive_calls(staged: &serde_json::Value) -> usize {
    let reads = 3;
    let present = |key: &str| usize::from(!staged[key].is_null());
    let non_empty = |key: &str| usize::from(staged[key].as_array().is_some_and(|a| !a.is_empty()));
    let notes = staged["notes"].as_array().map_or(0, Vec::len);
    reads
        + present("reply")
        + notes
        + present("assignee")
        + non_empty("add_tags")
        + non_empty("remove_tags")
        + present("status")
}

/// Replays `template` (the calls made for ticket `from`) for ticket `to`.
async fn replay(
    http: &reqwest::Client,
    sim: &Simulator,
    template: &[ApiCall],
    from: u64,
    to: u64,
) -> anyhow::Result<()> {
    let (old, new) = (format!("/tickets/{from}"), format!("/tickets/{to}"));
    let mut stamp = None;
    for call in template {
        let url = format!("{}{}", sim.base_url(), call.path.replacen(&old, &new, 1));
        let request = match call.method.as_str() {
            "GET" => http.get(&url),
            "PUT" => {
                let mut body = call.request_body.clone().unwrap_or_default();
                if let (Some(t), Some(s)) = (body.get_mut("ticket"), &stamp) {
                    t["updated_stamp"] = serde_json::Value::String(String::clone(s));
                }
                http.put(&url).json(&body)
            }
            other => anyhow::bail!("unexpected {other} in the gateway's calls"),
        };
        let answer = request
            .header("authorization", sim.auth_header())
            .send()
            .await?;
        anyhow::ensure!(
            answer.status().is_success(),
            "{} {url}: {}",
            call.method,
            answer.status()
        );
        let body: serde_json::Value = answer.json().await?;
        if let Some(at) = body["ticket"]["updated_at"].as_str() {
            stamp = Some(at.to_string());
        }
    }
    Ok(())
}

/// Runs the section and prints its figures.
pub async fn run(scale: Scale) -> anyhow::Result<()> {
    let tickets = scale.pick(20, 3000);
    let senders = 32;

    let sim = common::start_simulator().await?;
    let dir = common::scratch_dir("end-to-end");
    let brands = [
        BrandDef::new("triage", zendesk_gateway::plugin_artifacts::TRIAGE_PATH),
        BrandDef::new("orders", zendesk_gateway::plugin_artifacts::ORDER_DESK_PATH),
    ];
    let text = common::config_text(
        &sim.base_url(),
        &dir.join("data"),
        "127.0.0.1:0",
        &brands,
        "",
    );
    let config = common::load_config(&common::write_config(&dir, &text, &common::sim_token()))?;
    let workers = config.gateway.concurrency;
    let gw = launch(config, StartOptions::default()).await?;

    // Even tickets for the triage brand, odd ones for the order desk.
    let ids: Vec<(u64, bool)> = (0..tickets)
        .map(|i| {
            let order_desk = i % 2 == 1;
            (
                sim.create_ticket(common::new_ticket(order_desk)).id,
                order_desk,
            )
        })
        .collect();
    let urls = [
        format!("{}/notify/{}", gw.url(), brands[0].token()),
        format!("{}/notify/{}", gw.url(), brands[1].token()),
    ];
    sim.clear_calls();
    let http = reqwest::Client::new();

    let started = Instant::now();
    {
        let (http, ids, urls) = (http.clone(), Arc::new(ids.clone()), Arc::new(urls));
        run_parallel(tickets, senders, move |i| {
            let (http, ids, urls) = (http.clone(), ids.clone(), urls.clone());
            async move {
                let (id, order_desk) = ids[i];
                let answer = http
                    .post(&urls[order_desk as usize])
                    .header("content-type", "application/json")
                    .body(common::notification(id))
                    .send()
                    .await?;
                anyhow::ensure!(answer.status() == 202, "notification refused");
                Ok(())
            }
        })
        .await?;
    }
    // Every notification was accepted, so an empty inbox means every ticket finished
    // (a ticket waiting to be retried would keep its row).
    let deadline = started + Duration::from_secs(300);
    while gw.gateway.inbox.waiting() > 0 {
        anyhow::ensure!(
            Instant::now() < deadline,
            "tickets still waiting after 300 s"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let gateway_elapsed = started.elapsed();

    let records = gw.gateway.audit.query(None, tickets * 2)?;
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    for r in &records {
        *outcomes.entry(r.outcome.to_string()).or_default() += 1;
    }
    let naive: usize = records.iter().map(|r| naive_calls(&r.staged)).sum();
    let naive_per_ticket = naive as f64 / tickets as f64;
    let finished = outcomes.get("handled").copied().unwrap_or(0)
        + outcomes.get("handed_off").copied().unwrap_or(0);
    anyhow::ensure!(
        records.len() == tickets && finished == tickets,
        "expected {tickets} handled runs, the audit trail has {outcomes:?}"
    );
    let calls = sim.calls();
    let (gets, puts) = (
        calls.iter().filter(|c| c.method == "GET").count(),
        calls.iter().filter(|c| c.method == "PUT").count(),
    );
    let per_ticket = calls.len() as f64 / tickets as f64;
    let gateway_rate = tickets as f64 / gateway_elapsed.as_secs_f64();
    let templates = [
        (ids[0].0, calls_for(&calls, ids[0].0)),
        (ids[1].0, calls_for(&calls, ids[1].0)),
    ];
    gw.shutdown(Duration::from_secs(5)).await;

    // Baseline: the same calls for fresh tickets, without the gateway.
    let fresh: Vec<(u64, bool)> = (0..tickets)
        .map(|i| {
            let order_desk = i % 2 == 1;
            (
                sim.create_ticket(common::new_ticket(order_desk)).id,
                order_desk,
            )
        })
        .collect();
    let started = Instant::now();
    {
        let (http, sim, fresh, templates) = (
            http.clone(),
            sim.clone(),
            Arc::new(fresh),
            Arc::new(templates),
        );
        run_parallel(tickets, workers, move |i| {
            let (http, sim, fresh, templates) =
                (http.clone(), sim.clone(), fresh.clone(), templates.clone());
            async move {
                let (to, order_desk) = fresh[i];
                let (from, template) = &templates[order_desk as usize];
                replay(&http, &sim, template, *from, to).await
            }
        })
        .await?;
    }
    let raw_rate = tickets as f64 / started.elapsed().as_secs_f64();

    let ratio = gateway_rate / raw_rate;
    figure(
        "end to end",
        &format!("gateway {gateway_rate:.0} tickets/s ({tickets} tickets, {workers} workers)"),
        &format!("same Zendesk calls replayed without the gateway {raw_rate:.0} tickets/s"),
        &format!("ratio {ratio:.2} (informational)"),
    );
    figure(
        "zendesk calls",
        &format!("gateway {per_ticket:.2} calls/ticket ({gets} GET, {puts} PUT)"),
        &format!("one call per plugin action {naive_per_ticket:.2} calls/ticket"),
        &format!(
            "ratio {:.2}; {per_ticket:.2} calls (target <= 3) {}",
            per_ticket / naive_per_ticket,
            if per_ticket <= 3.0 { "MET" } else { "MISSED" }
        ),
    );
    sim.shutdown().await;
    Ok(())
}
