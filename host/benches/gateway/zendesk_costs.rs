//! What the gateway costs in Zendesk's quota, with the simulator behaving as Zendesk
//! (its trigger calls the gateway's webhook; the real Update Ticket limits).
//!
//! * Calls per customer message: customers open tickets; the account's trigger (the one
//!   `setup` writes, with the updater condition "current user is not the AI seat")
//!   notifies the gateway, which answers. Every Zendesk API call and every webhook
//!   notification is counted per customer message, so the echo of the AI's own update
//!   would count if Zendesk sent one. Baseline: the same with the condition `setup`
//!   wrote before (`current_via_id is_not 5`) and with no loop condition at all (the
//!   echo reaches the gateway, whose loop guard must read the ticket to skip it).
//!   Target: at most 4.
//! * The sweep's share of the quota at a steady 100 tickets an hour: the calls of one
//!   sweep measured against the simulator after a sweep interval's worth of tickets
//!   (100 an hour for 5 minutes: 9 tickets, answered, one of them touched by a human
//!   afterwards), times 12 sweeps an hour, against the smallest plan's quota (Team,
//!   200 a minute) and against the gateway's own calls for those tickets.
//!   Target: at most 5% of the quota.

use crate::common::{self, figure, BrandDef, Scale};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use zendesk_gateway::gateway::StartOptions;
use zendesk_gateway::service::launch;
use zendesk_gateway::service::sweep::sweep_environment;
use zendesk_simulator::{AgentComment, AgentEdit, Simulator, SimulatorConfig};

/// The trigger's loop condition under test.
#[derive(Clone, Copy)]
enum LoopCondition {
    Updater,
    ViaApi,
    None,
}

async fn wire(sim: &Simulator, url: &str, condition: LoopCondition) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let admin = sim.admin_auth_header();
    let w: serde_json::Value = http
        .post(format!("{}/api/v2/webhooks", sim.base_url()))
        .header("authorization", &admin)
        .json(
            &json!({"webhook": {"name": "gateway", "status": "active", "endpoint": url,
            "http_method": "POST", "request_format": "json",
            "subscriptions": ["conditional_ticket_events"]}}),
        )
        .send()
        .await?
        .json()
        .await?;
    let wid = w["webhook"]["id"].as_str().unwrap_or_default().to_string();
    let mut all = vec![json!({"field": "comment_is_public", "operator": "is", "value": "true"})];
    match condition {
        LoopCondition::Updater => all.push(
            json!({"field": "current_user", "operator": "is_not", "value": sim.seat().id.to_string()}),
        ),
        LoopCondition::ViaApi => {
            all.push(json!({"field": "current_via_id", "operator": "is_not", "value": "5"}))
        }
        LoopCondition::None => {}
    }
    let r = http
        .post(format!("{}/api/v2/triggers", sim.base_url()))
        .header("authorization", &admin)
        .json(
            &json!({"trigger": {"title": "Notify the gateway", "conditions": {"all": all,
            "any": [{"field": "update_type", "operator": "is", "value": "Create"},
                    {"field": "update_type", "operator": "is", "value": "Change"}]},
            "actions": [{"field": "notification_webhook",
                         "value": [wid, "{\"id\": {{ticket.id}}}"]}]}}),
        )
        .send()
        .await?;
    anyhow::ensure!(r.status() == 201, "trigger refused: {}", r.text().await?);
    Ok(())
}

/// A gateway for the order desk against a fresh simulator with Zendesk's real limits.
async fn gateway(
    tag: &str,
    sweep_every_secs: u64,
) -> anyhow::Result<(Simulator, zendesk_gateway::service::RunningGateway)> {
    let sim = Simulator::start(SimulatorConfig::default(), "127.0.0.1:0".parse()?).await?;
    let dir = common::scratch_dir(tag);
    let brands = [BrandDef::new(
        "orders",
        zendesk_gateway::plugin_artifacts::ORDER_DESK_PATH,
    )];
    let text = common::config_text(
        &sim.base_url(),
        &dir.join("data"),
        "127.0.0.1:0",
        &brands,
        "",
    )
    .replace(
        "requests_per_minute = 100000000",
        "requests_per_minute = 200",
    )
    .replace(
        "sweep_every_secs = 0",
        &format!("sweep_every_secs = {sweep_every_secs}"),
    );
    let path = common::write_config(&dir, &text, &common::sim_token());
    let config = zendesk_gateway::config::Config::load(&path)?;
    let gw = launch(config, StartOptions::default()).await?;
    Ok((sim, gw))
}

/// Waits until every one of `ids` has a finished run.
async fn answered(
    gw: &zendesk_gateway::service::RunningGateway,
    ids: &[u64],
) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    for id in ids {
        loop {
            let runs = gw.gateway.audit.query(Some(*id), 10)?;
            if runs
                .iter()
                .any(|r| r.outcome != zendesk_gateway::outcome::Outcome::Retry)
            {
                break;
            }
            anyhow::ensure!(Instant::now() < deadline, "ticket {id} not answered");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    // Let echo notifications, if any, arrive and be handled.
    tokio::time::sleep(Duration::from_millis(500)).await;
    while gw.gateway.inbox.waiting() > 0 {
        anyhow::ensure!(Instant::now() < deadline, "echoes still waiting");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

/// Zendesk calls and notifications per customer message with `condition`.
async fn per_message(tickets: usize, condition: LoopCondition) -> anyhow::Result<(f64, f64)> {
    let (sim, gw) = gateway("costs", 0).await?;
    wire(
        &sim,
        &gw.notify_url("orders").unwrap_or_default(),
        condition,
    )
    .await?;
    sim.clear_calls();
    let ids: Vec<u64> = (0..tickets)
        .map(|_| sim.create_ticket(common::new_ticket(true)).id)
        .collect();
    answered(&gw, &ids).await?;
    let calls = sim.calls().len() as f64 / tickets as f64;
    let notifications = sim.webhook_deliveries().len() as f64 / tickets as f64;
    gw.shutdown(Duration::from_secs(5)).await;
    Ok((calls, notifications))
}

/// Calls of one sweep after five minutes of 100 tickets an hour.
async fn sweep_calls() -> anyhow::Result<usize> {
    let (sim, gw) = gateway("sweep", 0).await?;
    wire(
        &sim,
        &gw.notify_url("orders").unwrap_or_default(),
        LoopCondition::Updater,
    )
    .await?;
    let ids: Vec<u64> = (0..9)
        .map(|_| sim.create_ticket(common::new_ticket(true)).id)
        .collect();
    answered(&gw, &ids).await?;
    // A human adds an internal note to one of them afterwards: it changed after the
    // gateway's run, so the sweep has to read its comments to know it owes nothing.
    sim.update_ticket_as_agent(
        ids[0],
        AgentEdit {
            comment: Some(AgentComment {
                body: "Called the customer.".into(),
                public: false,
            }),
            ..Default::default()
        },
    )?;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let env = gw
        .gateway
        .environment("production")
        .ok_or_else(|| anyhow::anyhow!("no environment"))?;
    let mut names = BTreeMap::new();
    let report = sweep_environment(&gw.gateway, &env, Duration::from_secs(300), &mut names).await?;
    anyhow::ensure!(report.found.is_empty(), "nothing was lost: {report:?}");
    gw.shutdown(Duration::from_secs(5)).await;
    Ok(report.calls)
}

/// Runs the section and prints its figures.
pub async fn run(scale: Scale) -> anyhow::Result<()> {
    let tickets = scale.pick(5, 40);
    let (updater, updater_notes) = per_message(tickets, LoopCondition::Updater).await?;
    let (via_api, _) = per_message(tickets, LoopCondition::ViaApi).await?;
    let (none, none_notes) = per_message(tickets, LoopCondition::None).await?;
    // A customer message brings one notification; anything more is the echo of the
    // AI's own update.
    let (echo, none_echo) = (updater_notes - 1.0, none_notes - 1.0);
    figure(
        "calls per message",
        &format!(
            "updater condition {updater:.2} Zendesk calls, {echo:.2} echoes per customer message"
        ),
        &format!(
            "current_via_id condition {via_api:.2} calls; no loop condition {none:.2} calls, {none_echo:.2} echoes"
        ),
        &format!("{updater:.2} calls counting the echo's (target at most 4)"),
    );
    // The simulator stamps an update made in the same second as the previous change one
    // second later (safe update needs strictly increasing stamps), so the AI's own
    // updates in this run look newer than the run's end and cost a comments read each;
    // Zendesk's stamps do not. The figure is an upper bound.
    let per_sweep = sweep_calls().await?;
    let sweeps_per_hour = 3600 / 300;
    let sweep_per_hour = per_sweep * sweeps_per_hour;
    let quota_per_hour = 200 * 60;
    let own_per_hour = 100.0 * updater;
    figure(
        "sweep share",
        &format!(
            "{per_sweep} calls per sweep x {sweeps_per_hour} sweeps/h = {sweep_per_hour} calls/h at 100 tickets/h"
        ),
        &format!(
            "Team plan quota {quota_per_hour} calls/h; the gateway's own {own_per_hour:.0} calls/h"
        ),
        &format!(
            "{:.2}% of the quota (target 5%), {:.1}% of all the gateway's calls",
            100.0 * sweep_per_hour as f64 / quota_per_hour as f64,
            100.0 * sweep_per_hour as f64 / (own_per_hour + sweep_per_hour as f64)
        ),
    );
    Ok(())
}
