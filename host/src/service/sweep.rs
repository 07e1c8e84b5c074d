//! The catch-up sweep: Zendesk's webhooks are best effort (a notification can be lost,
//! and a webhook paused by Zendesk's circuit breaker drops every notification until it
//! resumes), so every `sweep_every_secs` (per environment; 0 turns it off) the gateway
//! asks Zendesk which tickets changed since its last sweep and enqueues, as if notified,
//! those whose newest public comment is a customer's with no run of the gateway after it.
//!
//! Why the search API and not the incremental ticket export: the export needs an admin
//! (the AI seat is an agent) and has its own limit of 10 requests a minute; the search
//! (`GET /api/v2/search.json?query=type:ticket updated>... brand:...`) is allowed for
//! agents and costs one request per brand per sweep when nothing was lost. Search results
//! lag behind writes by a short while, so each sweep searches from [`OVERLAP`] before the
//! previous one's start: a ticket seen twice is filtered out again.
//!
//! Cost: one search per brand (a page of up to 100 tickets), plus one comments read
//! (`GET /api/v2/tickets/{id}/comments`) per ticket that changed after the gateway's
//! last run on it, at most [`MAX_CHECKS`] a sweep. A ticket whose last change is the AI's
//! own update (the common case) costs nothing more: its `updated_at` is not later than
//! the end of the run that made it. Every call goes through the environment's client,
//! so it counts against the quota and waits for it like any other.
//!
//! With replicas on one PostgreSQL database, the cursor is shared and each interval one
//! replica sweeps (`SweepStore::take_turn`); the others skip it.
//!
//! It can never cause a second reply: a ticket it finds goes through the inbox and the
//! normal guards (the newest public comment is the seat's, or the seat answered the
//! newest customer message: skipped).

use crate::config::ZendeskBrand;
use crate::gateway::{EnvironmentRuntime, Gateway};
use crate::store::inbox::Notification;
use crate::telemetry::metrics::EnvironmentLabels;
use crate::zendesk::{Ticket, ZendeskError};
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Each search starts this long before the previous sweep started: search results lag
/// behind writes, and the gateway's clock and Zendesk's may differ a little.
pub const OVERLAP: Duration = Duration::from_secs(120);
/// Pages of 100 results one brand's search may read per sweep; the rest waits for the
/// next sweep (the cursor stops at the newest change examined).
pub const MAX_PAGES: u32 = 3;
/// Comment reads one sweep may make; past it, the rest waits for the next sweep.
pub const MAX_CHECKS: usize = 50;

/// What one sweep of an environment did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SweepReport {
    /// Zendesk calls made (searches, brand look-ups and comment reads).
    pub calls: usize,
    /// Tickets returned by the searches.
    pub seen: usize,
    /// Tickets enqueued because their customer's comment had no run after it.
    pub found: Vec<u64>,
    /// Whether the sweep stopped at a bound before the end (the rest comes next time).
    pub truncated: bool,
}

/// Runs the sweeps of every environment until the gateway stops: each environment
/// every `sweep_every_secs` of its config in force at the time (so a reload changes
/// the interval), the first one right at start, to catch up on what was lost while the
/// gateway was down.
pub async fn run(gw: Arc<Gateway>) {
    let mut last: HashMap<String, Instant> = HashMap::new();
    let mut brand_ids: HashMap<String, BTreeMap<String, u64>> = HashMap::new();
    loop {
        if gw.is_shutting_down() {
            return;
        }
        let config = gw.config();
        for (name, env_config) in &config.environments {
            let every = Duration::from_secs(env_config.sweep_every_secs);
            if every.is_zero() || last.get(name).is_some_and(|t| t.elapsed() < every) {
                continue;
            }
            let Some(env) = gw.environment(name) else {
                continue;
            };
            last.insert(name.clone(), Instant::now());
            // With replicas on one database, one of them sweeps each interval.
            let (cursors, n) = (gw.sweep.clone(), name.clone());
            let now = Utc::now().timestamp();
            let secs = every.as_secs() as i64;
            match tokio::task::spawn_blocking(move || cursors.take_turn(&n, now, secs)).await {
                Ok(Ok(true)) => {}
                Ok(Ok(false)) => {
                    tracing::debug!(environment = %name,
                        "another replica swept this interval; skipping");
                    continue;
                }
                Ok(Err(e)) => {
                    tracing::warn!(environment = %name, error = %format!("{e:#}"),
                        "cannot take the sweep's turn; it tries again at the next interval");
                    continue;
                }
                Err(e) => {
                    tracing::warn!(environment = %name, error = %e, "the sweep's turn failed");
                    continue;
                }
            }
            let names = brand_ids.entry(name.clone()).or_default();
            match sweep_environment(&gw, &env, every, names).await {
                Ok(report) => tracing::debug!(environment = %name, calls = report.calls,
                    seen = report.seen, found = report.found.len(), truncated = report.truncated,
                    "catch-up sweep done"),
                Err(e) => tracing::warn!(environment = %name, error = %format!("{e:#}"),
                    "catch-up sweep failed; it tries again at the next interval"),
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Where the tickets of one brand (or of every brand, `None`) go.
struct Target {
    brand_id: Option<u64>,
    endpoint: String,
}

/// The endpoints of `env`, by the Zendesk brand whose tickets they serve. Brand names
/// are looked up once (`GET /api/v2/brands`) and remembered in `names`.
async fn targets(
    gw: &Gateway,
    env: &EnvironmentRuntime,
    names: &mut BTreeMap<String, u64>,
    calls: &mut usize,
) -> Result<(Vec<Target>, Option<String>), ZendeskError> {
    let config = gw.config();
    let mut targets = Vec::new();
    let mut catch_all = None;
    for ep in config
        .endpoints
        .values()
        .filter(|e| e.environment == env.config.name)
    {
        let brand_id = match &ep.zendesk_brand {
            None => {
                catch_all.get_or_insert_with(|| ep.name.clone());
                continue;
            }
            Some(ZendeskBrand::Id(id)) => *id,
            Some(ZendeskBrand::Name(n)) => match names.get(n) {
                Some(id) => *id,
                None => {
                    *calls += 1;
                    let brands = env
                        .client
                        .call_json(reqwest::Method::GET, "/api/v2/brands", None)
                        .await?;
                    for b in brands["brands"].as_array().into_iter().flatten() {
                        if let (Some(name), Some(id)) = (b["name"].as_str(), b["id"].as_u64()) {
                            names.insert(name.to_string(), id);
                        }
                    }
                    match names.get(n) {
                        Some(id) => *id,
                        None => {
                            tracing::warn!(environment = %env.config.name, endpoint = %ep.name, brand = %n,
                                "catch-up sweep: Zendesk has no brand of that name; the endpoint is not swept");
                            continue;
                        }
                    }
                }
            },
        };
        targets.push(Target {
            brand_id: Some(brand_id),
            endpoint: ep.name.clone(),
        });
    }
    Ok((targets, catch_all))
}

/// `2026-12-01T10:00:00Z`, as the search query writes a time.
fn search_time(unix: i64) -> String {
    DateTime::<Utc>::from_timestamp(unix, 0)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// One sweep of one environment (see the module documentation).
pub async fn sweep_environment(
    gw: &Gateway,
    env: &EnvironmentRuntime,
    every: Duration,
    names: &mut BTreeMap<String, u64>,
) -> anyhow::Result<SweepReport> {
    let name = env.config.name.clone();
    let started = Utc::now().timestamp();
    let cursors = gw.sweep.clone();
    let n = name.clone();
    let cursor = tokio::task::spawn_blocking(move || cursors.get(&n)).await??;
    // The first sweep ever looks back one interval: older tickets were not the
    // gateway's to answer.
    let since = cursor.unwrap_or(started - every.as_secs() as i64) - OVERLAP.as_secs() as i64;
    let mut report = SweepReport::default();
    let (mut targets, catch_all) = targets(gw, env, names, &mut report.calls).await?;
    // An endpoint for every brand: one search for all, each ticket to its brand's
    // endpoint or else the catch-all one.
    let by_brand: BTreeMap<u64, String> = targets
        .iter()
        .filter_map(|t| Some((t.brand_id?, t.endpoint.clone())))
        .collect();
    if let Some(all) = &catch_all {
        targets = vec![Target {
            brand_id: None,
            endpoint: all.clone(),
        }];
    }
    let mut until = started;
    let mut checks = 0;
    'targets: for target in &targets {
        let mut query = format!("type:ticket updated>{} status<solved", search_time(since));
        if let Some(b) = target.brand_id {
            query.push_str(&format!(" brand:{b}"));
        }
        for page in 1..=MAX_PAGES {
            report.calls += 1;
            let found = env.client.search_tickets(&query, page).await?;
            report.seen += found.results.len();
            for ticket in &found.results {
                let endpoint = match ticket.brand_id.and_then(|b| by_brand.get(&b)) {
                    Some(ep) => ep,
                    None if target.brand_id.is_none() => &target.endpoint,
                    None => continue,
                };
                match examine(gw, env, ticket, &mut checks, &mut report).await? {
                    Examined::Owed => {
                        enqueue(gw, &name, ticket.id, endpoint).await?;
                        report.found.push(ticket.id);
                    }
                    Examined::Fine => {}
                    Examined::OutOfChecks => {
                        // Go on from here next time.
                        let at = ticket.updated_at.as_deref().and_then(parse_time);
                        until = until.min(at.map_or(since, |t| t.timestamp() - 1));
                        report.truncated = true;
                        break 'targets;
                    }
                }
            }
            if found.next_page.is_none() {
                break;
            }
            if page == MAX_PAGES {
                let newest = found.results.last().and_then(|t| t.updated_at.as_deref());
                let at = newest.and_then(parse_time);
                until = until.min(at.map_or(since, |t| t.timestamp()));
                report.truncated = true;
            }
        }
    }
    // Never move the cursor back before the search's start, or the same bound would
    // be met again forever.
    let until = until.max(since + 1);
    let cursors = gw.sweep.clone();
    tokio::task::spawn_blocking(move || cursors.set(&name, until)).await??;
    Ok(report)
}

enum Examined {
    /// The newest public comment is a customer's and no run came after it.
    Owed,
    /// Nothing to do (being handled, already handled, or not a customer's turn).
    Fine,
    /// The sweep's bound on comment reads is reached.
    OutOfChecks,
}

/// Whether `ticket` owes a run the gateway was never told about.
async fn examine(
    gw: &Gateway,
    env: &EnvironmentRuntime,
    ticket: &Ticket,
    checks: &mut usize,
    report: &mut SweepReport,
) -> anyhow::Result<Examined> {
    let environment = &env.config.name;
    if gw.inbox.holds(environment, ticket.id).await? {
        return Ok(Examined::Fine);
    }
    let audit = gw.audit.clone();
    let (e, id) = (environment.clone(), ticket.id);
    let last_run = tokio::task::spawn_blocking(move || audit.last_run_at(&e, id))
        .await??
        .as_deref()
        .and_then(parse_time);
    let updated = ticket.updated_at.as_deref().and_then(parse_time);
    // Nothing changed since the last run ended (the AI's own update included): free.
    if let (Some(run), Some(updated)) = (last_run, updated) {
        if updated <= run {
            return Ok(Examined::Fine);
        }
    }
    if *checks >= MAX_CHECKS {
        return Ok(Examined::OutOfChecks);
    }
    *checks += 1;
    report.calls += 1;
    let (comments, users) = env.client.comments_with_users(ticket.id).await?;
    let Some(newest) = comments.iter().rev().find(|c| c.public) else {
        return Ok(Examined::Fine);
    };
    let role = users
        .iter()
        .find(|u| u.id == Some(newest.author_id))
        .map(|u| u.role.as_str());
    let by_customer = newest.author_id != env.seat.id && !matches!(role, Some("agent" | "admin"));
    let written = newest.created_at.as_deref().and_then(parse_time);
    let seen = match (last_run, written) {
        (Some(run), Some(written)) => written <= run,
        _ => false,
    };
    Ok(if by_customer && !seen {
        Examined::Owed
    } else {
        Examined::Fine
    })
}

/// Stores the ticket as a notification would, wakes a worker and counts it.
async fn enqueue(
    gw: &Gateway,
    environment: &str,
    ticket_id: u64,
    endpoint: &str,
) -> anyhow::Result<()> {
    gw.inbox
        .enqueue(Notification {
            environment: environment.to_string(),
            ticket_id,
            endpoint: endpoint.to_string(),
        })
        .await
        .map_err(|e| anyhow::anyhow!("cannot store ticket {ticket_id} in the inbox: {e}"))?;
    gw.work_available.notify_one();
    gw.metrics
        .sweep_found
        .get_or_create(&EnvironmentLabels {
            environment: environment.to_string(),
        })
        .inc();
    tracing::info!(environment, ticket = ticket_id, endpoint,
        "catch-up sweep: the customer's newest comment had no notification (Zendesk lost or dropped it); handling it now");
    Ok(())
}
