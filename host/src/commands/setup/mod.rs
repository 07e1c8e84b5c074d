//! `zendesk-gateway setup`: creates or updates, in each Zendesk environment, what the
//! setup guide otherwise has an admin click together, and checks what the guide warns
//! about. Idempotent: objects are found by name, compared, and created, updated or left
//! alone, so a second run changes nothing.
//!
//! Per endpoint: a webhook (`Zendesk Gateway <endpoint>`, JSON POST to
//! `<public_base_url>/notify/<token>`), its signing secret fetched and stored where the
//! gateway verifies with it, and a trigger (`Notify <endpoint> of Ticket Change`) that
//! posts `{"id": {{ticket.id}}}` to it. Per environment: the failsafe automation that
//! unassigns the AI seat one to three hours after assignment. Checks: the seat's role,
//! groups the seat is not a member of, "Notify requester" triggers without "Channel is
//! not Web Service (API)", and the trigger's conditions against the account's trigger
//! definitions (before anything is written). It acts as the environment's administrator
//! when one is configured (`admin_email`), else as the seat (see `api`).
//!
//! `plan` computes what the config wants (with `desired` the objects' JSON and
//! `compare` how an existing one is compared: all pure); this module runs the steps;
//! `account` reads the seat, groups and brands and checks them, `reconcile` creates or
//! updates the objects and `signing_secret` stores their secrets, all through
//! [`api::Api`], which in a dry run records the writes instead of sending them;
//! `report` is what the command prints. See `docs/setup.md`.

pub(crate) mod account;
pub(crate) mod api;
pub(crate) mod compare;
pub(crate) mod desired;
pub mod plan;
mod reconcile;
mod report;
pub(crate) mod signing_secret;

use crate::config::{Config, LoadOptions};
use crate::zendesk::{ClientOptions, ZendeskClient};
use anyhow::{anyhow, Context};
use api::Api;
use plan::EnvironmentPlan;
pub use report::{EnvironmentReport, ObjectReport, Outcome, PlannedRequest, Report};
use std::path::Path;
use std::sync::Arc;

/// How to run setup.
#[derive(Debug, Clone, Default)]
pub struct SetupOptions {
    /// Only this environment (default: every environment that has endpoints).
    pub environment: Option<String>,
    /// Read Zendesk, but send no writes and write no files: report what would be done.
    pub dry_run: bool,
    /// Timeouts and retries of the Zendesk client.
    pub client: ClientOptions,
}

/// `zendesk-gateway setup`: loads the config (signing secrets may not exist yet: setup
/// fetches them), sets up the environments, prints the report; fails if any
/// environment failed.
pub async fn run(
    config_path: &Path,
    environment: Option<&str>,
    dry_run: bool,
) -> anyhow::Result<()> {
    let config = Config::load_with(
        config_path,
        LoadOptions {
            signing_secrets_may_be_missing: true,
        },
    )?;
    let options = SetupOptions {
        environment: environment.map(str::to_string),
        dry_run,
        client: ClientOptions::default(),
    };
    let report = setup(&config, &options).await?;
    print!("{}", report.render());
    let failures = report.failures();
    if !failures.is_empty() {
        anyhow::bail!("setup failed:\n  {}", failures.join("\n  "));
    }
    Ok(())
}

/// Sets up the chosen environments (each independently: one failing does not stop the
/// others). Errs only when the options or the config make setup impossible as a whole.
pub async fn setup(config: &Config, options: &SetupOptions) -> anyhow::Result<Report> {
    let names: Vec<String> = match &options.environment {
        Some(name) => {
            anyhow::ensure!(
                config.environments.contains_key(name),
                "{}: no environment named {name:?} (known: {})",
                config.source.display(),
                config
                    .environments
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            vec![name.clone()]
        }
        None => config
            .environments
            .keys()
            .filter(|env| config.endpoints.values().any(|e| &e.environment == *env))
            .cloned()
            .collect(),
    };
    // Plan everything first: a config mistake stops setup before it changes anything.
    let plans: Vec<EnvironmentPlan> = names
        .iter()
        .map(|n| plan::plan_environment(config, n))
        .collect::<Result<_, _>>()
        .map_err(|e| anyhow!(e))?;
    let mut report = Report {
        environments: Vec::new(),
        dry_run: options.dry_run,
    };
    for plan in plans {
        let mut env_report = EnvironmentReport {
            environment: plan.environment.name.clone(),
            ..Default::default()
        };
        if let Err(e) = setup_environment(config, &plan, options, &mut env_report).await {
            env_report.failure = Some(format!("{e:#}"));
        }
        report.environments.push(env_report);
    }
    Ok(report)
}

async fn setup_environment(
    config: &Config,
    plan: &EnvironmentPlan,
    options: &SetupOptions,
    report: &mut EnvironmentReport,
) -> anyhow::Result<()> {
    let mut api = build_api(plan, &options.client, options.dry_run)?;
    let result = setup_with(config, plan, &mut api, report).await;
    report.planned = api.into_planned();
    result
}

/// The [`Api`] of one environment: acting as its administrator when one is configured,
/// else as the seat; endpoint tokens masked in what it prints. Also used by `doctor`.
pub(crate) fn build_api(
    plan: &EnvironmentPlan,
    client_options: &ClientOptions,
    dry_run: bool,
) -> anyhow::Result<Api> {
    let env = &plan.environment;
    let metrics = Arc::new(crate::telemetry::metrics::Metrics::default());
    let seat = ZendeskClient::new(env, client_options.clone(), metrics.clone())
        .with_context(|| format!("building the Zendesk client for {}", env.base_url))?;
    let (client, acting) = match &env.admin {
        Some(admin) => {
            let as_admin = crate::config::Environment {
                email: admin.email.clone(),
                api_token: admin.api_token.clone(),
                ..env.clone()
            };
            let client = ZendeskClient::new(&as_admin, client_options.clone(), metrics)
                .with_context(|| format!("building the Zendesk client for {}", env.base_url))?;
            let acting = api::Acting {
                environment: env.name.clone(),
                email: admin.email.clone(),
                admin: true,
            };
            (client, acting)
        }
        None => {
            let acting = api::Acting {
                environment: env.name.clone(),
                email: env.email.clone(),
                admin: false,
            };
            (seat.clone(), acting)
        }
    };
    // Endpoint tokens are secrets: printed requests show which endpoint, not the token.
    let masks = plan
        .endpoints
        .iter()
        .map(|e| {
            (
                e.endpoint.token.expose().to_string(),
                format!("[token of endpoint {}]", e.endpoint.name),
            )
        })
        .collect();
    Ok(Api::new(client, seat, acting, dry_run, masks))
}

async fn setup_with(
    config: &Config,
    plan: &EnvironmentPlan,
    api: &mut Api,
    report: &mut EnvironmentReport,
) -> anyhow::Result<()> {
    let env = &plan.environment;
    let dry_run = api.dry_run();
    let seat = account::check_seat(api, env, report).await?;
    account::check_groups(api, &seat, report).await?;
    let triggers = api
        .list("/api/v2/triggers", "triggers")
        .await
        .context("reading the triggers")?;
    account::check_notify_requester(&triggers, report);
    let webhooks = api
        .list("/api/v2/webhooks?page[size]=100", "webhooks")
        .await
        .context("reading the webhooks")?;
    let brands = account::resolve_brands(api, config, plan).await?;
    // The triggers' conditions, checked against the account's definitions before any
    // write (the webhook id does not matter for that).
    let planned: Vec<serde_json::Value> = plan
        .endpoints
        .iter()
        .zip(&brands)
        .map(|(ep, b)| desired::desired_trigger(&ep.endpoint.name, "-", *b, &seat.email, seat.id))
        .collect();
    account::check_definitions(api, &planned).await?;
    account::check_required_fields(api, config, plan, &brands, report).await;

    for (ep, brand_id) in plan.endpoints.iter().zip(brands) {
        let name = desired::webhook_name(&ep.endpoint.name);
        let webhook_id = reconcile::ensure_webhook(api, ep, &webhooks, report)
            .await
            .with_context(|| format!("webhook {name:?}"))?;
        signing_secret::store_secret(config, api, ep, webhook_id.as_deref(), dry_run, report)
            .await
            .with_context(|| format!("signing secret of webhook {name:?}"))?;
        let title = desired::trigger_title(&ep.endpoint.name);
        // In a dry run a webhook still to be created has no id yet.
        let hook = webhook_id.unwrap_or_else(|| format!("<id of the new webhook {name:?}>"));
        let desired =
            desired::desired_trigger(&ep.endpoint.name, &hook, brand_id, &seat.email, seat.id);
        reconcile::ensure_rule(api, "trigger", &triggers, desired, report)
            .await
            .with_context(|| format!("trigger {title:?}"))?;
    }

    let automations = api
        .list("/api/v2/automations", "automations")
        .await
        .context("reading the automations")?;
    reconcile::ensure_rule_renamed(
        api,
        "automation",
        &automations,
        desired::desired_automation(seat.id),
        desired::FORMER_AUTOMATION_TITLES,
        report,
    )
    .await
    .with_context(|| format!("automation {:?}", desired::AUTOMATION_TITLE))?;
    Ok(())
}
