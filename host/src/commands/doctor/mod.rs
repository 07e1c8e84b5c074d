//! `zendesk-gateway doctor`: checks, per environment and endpoint, that the integration
//! works end to end, and prints a table of ok / warning / failure rows, each with what
//! to do. Exit status 0 only when every row is ok. `--fix` repairs what the API can
//! (showing each change first, asking unless `--yes`), then checks again.
//!
//! The checks reuse `setup`'s plan, wanted objects and comparisons, so doctor and
//! setup agree on what is right: `seat` (credentials, role, groups), `access` (whether
//! the seat's role lets it update tickets in each group the plugin may assign to),
//! `webhook` (the
//! webhook, its secret, recent deliveries and the breaker, a live delivery test),
//! `rules` (the trigger and how often it fired, the failsafe automation, "Notify
//! requester" triggers),
//! `quota` (rate-limit headers against the config's budgets). See `docs/setup.md`.

mod access;
mod quota;
mod rules;
mod seat;
mod webhook;

use super::setup::{api::Api, build_api, plan};
use crate::config::{Config, LoadOptions};
use crate::zendesk::ClientOptions;
use anyhow::anyhow;
use std::io::BufRead;
use std::path::Path;

/// How a check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// As it should be.
    Ok,
    /// Works, but the setup guide warns about it.
    Warning,
    /// Broken: notifications are lost or refused.
    Failure,
}

/// A repair `--fix` can make through the API.
#[derive(Debug, Clone)]
pub enum Fix {
    /// `POST /api/v2/group_memberships` for the seat.
    AddSeatToGroup {
        /// The seat's user id.
        seat: u64,
        /// The group.
        group: u64,
    },
    /// `PUT /api/v2/triggers/{id}` with the API-channel condition added.
    AddApiCondition {
        /// The trigger's id.
        trigger: u64,
        /// The trigger as it is, with the condition added.
        body: serde_json::Value,
    },
    /// `PATCH /api/v2/webhooks/{id}` with status active.
    ActivateWebhook {
        /// The webhook's id.
        webhook: String,
    },
    /// Write the gateway's signing secret file from Zendesk's secret.
    ResyncSecret {
        /// The webhook's id.
        webhook: String,
        /// The file the endpoint verifies with.
        file: std::path::PathBuf,
    },
    /// Write Zendesk's secret to a file and point the endpoint's config at it: for an
    /// endpoint that reads its secret from an environment variable (which the gateway
    /// cannot change in its own environment) or has none. The gateway watches the
    /// config and the file, so it verifies with the new secret without a restart.
    SecretToFile {
        /// The webhook's id.
        webhook: String,
        /// The endpoint's name.
        endpoint: String,
        /// The file to write.
        file: std::path::PathBuf,
        /// The config file to change.
        config: std::path::PathBuf,
        /// The `signing_secret_env` variable the file replaces, if any.
        replaces_env: Option<String>,
    },
}

impl Fix {
    fn describe(&self) -> String {
        match self {
            Fix::AddSeatToGroup { seat, group } => format!(
                "POST /api/v2/group_memberships {{\"group_membership\": {{\"user_id\": {seat}, \"group_id\": {group}}}}}"
            ),
            Fix::AddApiCondition { trigger, .. } => format!(
                "PUT /api/v2/triggers/{trigger}: add {{\"field\": \"current_via_id\", \"operator\": \"is_not\", \"value\": \"5\"}} to its \"all\" conditions"
            ),
            Fix::ActivateWebhook { webhook } => {
                format!("PATCH /api/v2/webhooks/{webhook} {{\"webhook\": {{\"status\": \"active\"}}}}")
            }
            Fix::ResyncSecret { webhook, file } => format!(
                "write {} from GET /api/v2/webhooks/{webhook}/signing_secret",
                file.display()
            ),
            Fix::SecretToFile {
                webhook,
                endpoint,
                file,
                config,
                replaces_env,
            } => format!(
                "write {} from GET /api/v2/webhooks/{webhook}/signing_secret, then in {} \
                 [endpoints.{endpoint}] {} signing_secret_file pointing at it (the gateway \
                 reloads; the secret is not printed)",
                file.display(),
                config.display(),
                match replaces_env {
                    Some(v) => format!("replace signing_secret_env = {v:?} by"),
                    None => "add".to_string(),
                }
            ),
        }
    }
}

/// One row of the table.
#[derive(Debug, Clone)]
pub struct Check {
    /// The environment.
    pub environment: String,
    /// The endpoint, or `-` for the environment as a whole.
    pub endpoint: String,
    /// What was checked (`seat`, `webhook`, `signing secret`, ...).
    pub subject: String,
    /// How it ended.
    pub level: Level,
    /// What was found, and for a warning or failure what to do.
    pub detail: String,
    /// The repair `--fix` makes, if any.
    pub fix: Option<Fix>,
}

/// What doctor found.
#[derive(Debug, Clone, Default)]
pub struct DoctorReport {
    /// Every row, in the order checked.
    pub checks: Vec<Check>,
}

impl DoctorReport {
    /// Whether every row is ok.
    pub fn healthy(&self) -> bool {
        self.checks.iter().all(|c| c.level == Level::Ok)
    }

    /// The rows that are not ok.
    pub fn problems(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| c.level != Level::Ok)
    }

    /// The table as printed.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for c in &self.checks {
            let level = match c.level {
                Level::Ok => "ok",
                Level::Warning => "WARNING",
                Level::Failure => "FAILURE",
            };
            out.push_str(&format!(
                "{level:<8} {:<12} {:<16} {:<18} {}\n",
                c.environment, c.endpoint, c.subject, c.detail
            ));
        }
        let bad = self.problems().count();
        out.push_str(&if bad == 0 {
            "doctor: everything is ok\n".to_string()
        } else {
            format!("doctor: {bad} problem(s)\n")
        });
        out
    }
}

/// How to run doctor.
#[derive(Debug, Clone, Default)]
pub struct DoctorOptions {
    /// Only this environment (default: every environment with endpoints).
    pub environment: Option<String>,
    /// Timeouts and retries of the Zendesk client.
    pub client: ClientOptions,
    /// Leave out the live delivery test (`setup --fix`: the gateway may not run yet,
    /// and only the fixes are wanted).
    pub skip_live_test: bool,
}

/// The rows of one environment are collected here.
pub(crate) struct Rows<'a> {
    environment: &'a str,
    pub(crate) checks: Vec<Check>,
}

impl Rows<'_> {
    pub(crate) fn push(
        &mut self,
        endpoint: &str,
        subject: &str,
        level: Level,
        detail: impl Into<String>,
        fix: Option<Fix>,
    ) {
        self.checks.push(Check {
            environment: self.environment.to_string(),
            endpoint: endpoint.to_string(),
            subject: subject.to_string(),
            level,
            detail: detail.into(),
            fix,
        });
    }
}

/// Runs every check of the chosen environments (each independently).
pub async fn doctor(config: &Config, options: &DoctorOptions) -> anyhow::Result<DoctorReport> {
    let names: Vec<String> = match &options.environment {
        Some(n) => {
            anyhow::ensure!(
                config.environments.contains_key(n),
                "{}: no environment named {n:?}",
                config.source.display()
            );
            vec![n.clone()]
        }
        None => config
            .environments
            .keys()
            .filter(|env| config.endpoints.values().any(|e| &e.environment == *env))
            .cloned()
            .collect(),
    };
    let mut report = DoctorReport::default();
    for name in names {
        let mut rows = Rows {
            environment: &name,
            checks: Vec::new(),
        };
        let result = match plan::plan_environment(config, &name) {
            Ok(plan) => match build_api(&plan, &options.client, false) {
                Ok(api) => {
                    check_environment(config, &plan, &api, options.skip_live_test, &mut rows).await
                }
                Err(e) => Err(e),
            },
            Err(e) => Err(anyhow!(e)),
        };
        if let Err(e) = result {
            rows.push("-", "environment", Level::Failure, format!("{e:#}"), None);
        }
        report.checks.extend(rows.checks);
    }
    Ok(report)
}

async fn check_environment(
    config: &Config,
    plan: &plan::EnvironmentPlan,
    api: &Api,
    skip_live_test: bool,
    rows: &mut Rows<'_>,
) -> anyhow::Result<()> {
    // 1. credentials and the seat: without them nothing else can be read.
    let Some(seat) = seat::check(api, plan, rows).await? else {
        return Ok(());
    };
    access::check(config, api, plan, &seat, rows).await?;
    // With Zendesk's usage counts (how often each trigger fired).
    let triggers = api
        .list(
            "/api/v2/triggers?include=usage_1h,usage_24h,usage_7d",
            "triggers",
        )
        .await?;
    let webhooks = api
        .list("/api/v2/webhooks?page[size]=100", "webhooks")
        .await?;
    let brands = super::setup::account::resolve_brands(api, config, plan).await?;
    // Fields Zendesk requires to solve that the AI cannot fill: its solves would be
    // refused and handed to humans (a warning: tickets still reach a person).
    match super::setup::account::required_field_warnings(api, config, plan, &brands).await {
        Ok(problems) if problems.is_empty() => rows.push(
            "-",
            "required fields",
            Level::Ok,
            "no field required to solve stands in the AI's way",
            None,
        ),
        Ok(problems) => {
            for p in problems {
                rows.push("-", "required fields", Level::Warning, p, None);
            }
        }
        Err(why) => rows.push("-", "required fields", Level::Warning, why, None),
    }
    for (ep, brand) in plan.endpoints.iter().zip(brands) {
        // 2. and 3. the webhook, its secret and its recent deliveries.
        let hook = webhook::check(config, api, ep, &webhooks, rows).await?;
        // 4. the trigger, and how often it fired against the webhook's deliveries.
        let id = hook.as_ref().map(|h| h.id.as_str());
        rules::check_trigger(ep, id, brand, &seat, &triggers, rows);
        rules::check_usage(ep, hook.as_ref(), &triggers, rows);
        // 7. the live delivery test (last: it sends a request).
        if let (Some(id), false) = (id, skip_live_test) {
            webhook::probe(api, ep, id, rows).await?;
        }
    }
    // 5. the failsafe automation and "Notify requester" triggers.
    let automations = api.list("/api/v2/automations", "automations").await?;
    rules::check_environment_rules(&seat, &automations, &triggers, rows);
    // 6. the quota.
    quota::check(api, &plan.environment, rows);
    Ok(())
}

/// Applies the fixes of `report`, each shown first and, unless `yes`, confirmed on
/// `input`; a fix two rows share (the seat missing from a group the plugin assigns to)
/// is shown and made once. A fix that fails is reported and the others still made.
/// Returns how many were applied.
pub async fn apply_fixes(
    config: &Config,
    options: &DoctorOptions,
    report: &DoctorReport,
    yes: bool,
    input: &mut dyn BufRead,
) -> anyhow::Result<usize> {
    let mut applied = 0;
    let mut seen = std::collections::BTreeSet::new();
    for c in report.problems() {
        let Some(fix) = &c.fix else { continue };
        let what = fix.describe();
        if !seen.insert((c.environment.clone(), what.clone())) {
            continue;
        }
        println!("fix ({} {}): {what}", c.environment, c.endpoint);
        if !yes {
            print!("apply? [y/N] ");
            use std::io::Write;
            std::io::stdout().flush().ok();
            let mut line = String::new();
            input.read_line(&mut line)?;
            if !line.trim().eq_ignore_ascii_case("y") {
                println!("skipped");
                continue;
            }
        }
        let plan = plan::plan_environment(config, &c.environment).map_err(|e| anyhow!(e))?;
        let mut api = build_api(&plan, &options.client, false)?;
        match apply(&mut api, fix).await {
            Ok(()) => applied += 1,
            Err(e) => println!(
                "fix failed ({} {}): {what}: {e:#}",
                c.environment, c.endpoint
            ),
        }
    }
    Ok(applied)
}

async fn apply(api: &mut Api, fix: &Fix) -> anyhow::Result<()> {
    use serde_json::json;
    match fix {
        Fix::AddSeatToGroup { seat, group } => {
            api.write(
                "POST",
                "/api/v2/group_memberships",
                json!({"group_membership": {"user_id": seat, "group_id": group}}),
            )
            .await?;
        }
        Fix::AddApiCondition { trigger, body } => {
            api.write(
                "PUT",
                &format!("/api/v2/triggers/{trigger}"),
                json!({ "trigger": body }),
            )
            .await?;
        }
        Fix::ActivateWebhook { webhook } => {
            api.write(
                "PATCH",
                &format!("/api/v2/webhooks/{webhook}"),
                json!({"webhook": {"status": "active"}}),
            )
            .await?;
        }
        Fix::ResyncSecret { webhook, file } => {
            let secret = zendesk_secret(api, webhook).await?;
            super::setup::signing_secret::write_secret_file(file, &secret)?;
        }
        Fix::SecretToFile {
            webhook,
            endpoint,
            file,
            config,
            replaces_env,
        } => {
            let secret = zendesk_secret(api, webhook).await?;
            super::setup::signing_secret::write_secret_file(file, &secret)?;
            super::setup::signing_secret::point_config_at_file(
                config,
                endpoint,
                file,
                replaces_env.as_deref(),
                &secret,
            )?;
            println!(
                "wrote {} and changed [endpoints.{endpoint}] in {}{}",
                file.display(),
                config.display(),
                replaces_env
                    .as_ref()
                    .map(|v| format!(" (${v} is no longer read; unset it)"))
                    .unwrap_or_default()
            );
        }
    }
    Ok(())
}

/// The signing secret Zendesk signs webhook `webhook`'s requests with.
async fn zendesk_secret(api: &Api, webhook: &str) -> anyhow::Result<String> {
    let answer = api
        .get(&format!("/api/v2/webhooks/{webhook}/signing_secret"))
        .await?;
    answer["signing_secret"]["secret"]
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .ok_or_else(|| anyhow!("Zendesk answered no signing secret for webhook {webhook}"))
}

fn load(config_path: &Path) -> anyhow::Result<Config> {
    Ok(Config::load_with(
        config_path,
        LoadOptions {
            signing_secrets_may_be_missing: true,
        },
    )?)
}

/// `zendesk-gateway doctor`: prints the table; with `fix`, repairs and checks again.
/// Fails (exit status 1) unless everything is ok.
pub async fn run(
    config_path: &Path,
    environment: Option<&str>,
    fix: bool,
    yes: bool,
) -> anyhow::Result<()> {
    let config = load(config_path)?;
    let options = DoctorOptions {
        environment: environment.map(str::to_string),
        client: ClientOptions::default(),
        skip_live_test: false,
    };
    let mut report = doctor(&config, &options).await?;
    print!("{}", report.render());
    if fix && !report.healthy() {
        let stdin = std::io::stdin();
        let applied = apply_fixes(&config, &options, &report, yes, &mut stdin.lock()).await?;
        if applied > 0 {
            println!("applied {applied} fix(es); checking again");
            // The secret file, or the config itself, may have changed: load it again,
            // and give the running gateway a moment to reload them.
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            report = doctor(&load(config_path)?, &options).await?;
            print!("{}", report.render());
        }
    }
    if !report.healthy() {
        anyhow::bail!("doctor found {} problem(s)", report.problems().count());
    }
    Ok(())
}

/// `setup --fix`: after setup, the repairs doctor makes through the API (the seat added
/// to groups, the API-channel condition on "Notify requester" triggers, a paused webhook
/// re-enabled, a signing secret re-synced), found by doctor's checks without the live
/// delivery test, each shown and confirmed unless `yes`. Prints what it did; fails
/// when a problem with a repair is still there afterwards.
pub async fn repair(
    config_path: &Path,
    environment: Option<&str>,
    yes: bool,
) -> anyhow::Result<()> {
    let options = DoctorOptions {
        environment: environment.map(str::to_string),
        client: ClientOptions::default(),
        skip_live_test: true,
    };
    let config = load(config_path)?;
    let report = doctor(&config, &options).await?;
    let fixable = report.problems().filter(|c| c.fix.is_some()).count();
    if fixable == 0 {
        println!("--fix: nothing the API can repair");
        return Ok(());
    }
    let stdin = std::io::stdin();
    let applied = apply_fixes(&config, &options, &report, yes, &mut stdin.lock()).await?;
    println!("--fix: applied {applied} fix(es)");
    let after = doctor(&load(config_path)?, &options).await?;
    let left: Vec<&Check> = after.problems().filter(|c| c.fix.is_some()).collect();
    if !left.is_empty() {
        for c in &left {
            println!(
                "still to fix: {} {} {}: {}",
                c.environment, c.endpoint, c.subject, c.detail
            );
        }
        anyhow::bail!("--fix: {} repair(s) not made", left.len());
    }
    Ok(())
}

/// `doctor --print-signing-secret ENDPOINT`: prints the signing secret Zendesk signs the
/// endpoint's webhook with, and nothing else, for setting a `signing_secret_env`
/// variable (`VAR="$(zendesk-gateway doctor ... --print-signing-secret EP)"`). The only
/// way doctor shows a secret: asked for by name.
pub async fn print_signing_secret(config_path: &Path, endpoint: &str) -> anyhow::Result<()> {
    let config = load(config_path)?;
    let ep = config.endpoints.get(endpoint).ok_or_else(|| {
        anyhow!(
            "{}: no endpoint named {endpoint:?} (known: {})",
            config.source.display(),
            config
                .endpoints
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        )
    })?;
    let plan = plan::plan_environment(&config, &ep.environment).map_err(|e| anyhow!(e))?;
    let api = build_api(&plan, &ClientOptions::default(), false)?;
    let wname = super::setup::desired::webhook_name(endpoint);
    let hooks = api
        .list("/api/v2/webhooks?page[size]=100", "webhooks")
        .await?;
    let id = hooks
        .iter()
        .find(|w| w["name"].as_str() == Some(&wname))
        .and_then(|w| w["id"].as_str())
        .ok_or_else(|| {
            anyhow!(
                "environment {}: no webhook {wname:?}: run setup",
                ep.environment
            )
        })?;
    println!("{}", zendesk_secret(&api, id).await?);
    Ok(())
}
