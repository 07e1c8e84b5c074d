//! `zendesk-gateway setup`: creates or updates, in each Zendesk environment, what the
//! setup guide otherwise has an admin click together, and checks what the guide warns
//! about. Idempotent: objects are found by name, compared, and created, updated or left
//! alone, so a second run changes nothing.
//!
//! Per endpoint: a webhook (`Zendesk Gateway <endpoint>`, JSON POST to
//! `<public_base_url>/notify/<token>`), its signing secret fetched and stored where the
//! gateway verifies with it, and a trigger (`Notify <endpoint> of Ticket Change`) that
//! posts `{"id": {{ticket.id}}}` to it. Per environment: the failsafe automation that
//! unassigns the AI seat after an hour. Checks: the seat's role, groups the seat is not a
//! member of, and "Notify requester" triggers without "Channel is not Web Service (API)".
//!
//! `plan` computes the wanted objects (pure); this module reads Zendesk, compares and
//! writes through [`api::Api`], which in a dry run records the writes instead of sending
//! them. See `docs/setup.md`.

mod api;
pub mod plan;

use crate::config::{Config, LoadOptions, ZendeskBrand};
use crate::zendesk::{ClientOptions, ZendeskClient, ZendeskErrorKind};
use anyhow::{anyhow, Context};
use api::Api;
use plan::{EndpointPlan, EnvironmentPlan, SecretTarget};
use serde_json::{json, Value};
use std::fmt::Write as _;
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

/// What happened to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It did not exist and was created.
    Created,
    /// It existed and differed; it was updated.
    Updated,
    /// It existed as wanted.
    Unchanged,
    /// Dry run: it would be created.
    WouldCreate,
    /// Dry run: it would be updated.
    WouldUpdate,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Outcome::Created => "created",
            Outcome::Updated => "updated",
            Outcome::Unchanged => "unchanged",
            Outcome::WouldCreate => "would create",
            Outcome::WouldUpdate => "would update",
        })
    }
}

/// One object setup manages, and what happened to it.
#[derive(Debug, Clone)]
pub struct ObjectReport {
    /// `webhook`, `signing secret`, `trigger` or `automation`.
    pub kind: &'static str,
    /// Its name or title (for a secret, the file).
    pub name: String,
    /// What happened.
    pub outcome: Outcome,
    /// Its Zendesk id, when it has one.
    pub id: Option<String>,
}

/// A write a dry run did not send, as it would have been sent (endpoint tokens masked).
#[derive(Debug, Clone)]
pub struct PlannedRequest {
    /// `POST` or `PUT`.
    pub method: String,
    /// The API path.
    pub path: String,
    /// The JSON body.
    pub body: Value,
}

/// What setup did in one environment.
#[derive(Debug, Clone, Default)]
pub struct EnvironmentReport {
    /// The environment's name in the config.
    pub environment: String,
    /// Who the credentials belong to, as a line of text.
    pub seat: Option<String>,
    /// The managed objects, in the order they were handled.
    pub objects: Vec<ObjectReport>,
    /// What the setup guide warns about and this account has.
    pub warnings: Vec<String>,
    /// Things the operator has to do or know (config lines to add).
    pub notes: Vec<String>,
    /// Dry run: the writes not sent.
    pub planned: Vec<PlannedRequest>,
    /// Why setup stopped in this environment, naming the object.
    pub failure: Option<String>,
}

/// What setup did, per environment.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// One entry per environment set up.
    pub environments: Vec<EnvironmentReport>,
    /// True for a dry run.
    pub dry_run: bool,
}

impl Report {
    /// The environment's report, if it was set up.
    pub fn environment(&self, name: &str) -> Option<&EnvironmentReport> {
        self.environments.iter().find(|e| e.environment == name)
    }

    /// Every object of every environment.
    pub fn objects(&self) -> impl Iterator<Item = &ObjectReport> {
        self.environments.iter().flat_map(|e| e.objects.iter())
    }

    /// The failures, each naming its environment.
    pub fn failures(&self) -> Vec<String> {
        self.environments
            .iter()
            .filter_map(|e| {
                e.failure
                    .as_ref()
                    .map(|f| format!("environment {}: {f}", e.environment))
            })
            .collect()
    }

    /// The report as the command prints it.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for e in &self.environments {
            let _ = writeln!(
                out,
                "environment {}{}",
                e.environment,
                e.seat
                    .as_ref()
                    .map(|s| format!(" (seat {s})"))
                    .unwrap_or_default()
            );
            for o in &e.objects {
                let id =
                    o.id.as_ref()
                        .map(|i| format!(" (id {i})"))
                        .unwrap_or_default();
                let _ = writeln!(
                    out,
                    "  {:<13} {:<15} {}{id}",
                    o.outcome.to_string(),
                    o.kind,
                    o.name
                );
            }
            for w in &e.warnings {
                let _ = writeln!(out, "  warning: {w}");
            }
            for n in &e.notes {
                let _ = writeln!(out, "  note: {n}");
            }
            if let Some(f) = &e.failure {
                let _ = writeln!(out, "  FAILED: {f}");
            }
            if self.dry_run {
                if e.planned.is_empty() {
                    let _ = writeln!(out, "  dry run: nothing would be sent");
                } else {
                    let _ = writeln!(out, "  dry run: these requests were NOT sent:");
                }
                for r in &e.planned {
                    let body = serde_json::to_string_pretty(&r.body).unwrap_or_default();
                    let _ = writeln!(out, "    {} {}", r.method, r.path);
                    for line in body.lines() {
                        let _ = writeln!(out, "      {line}");
                    }
                }
            }
        }
        let count = |o: Outcome| self.objects().filter(|x| x.outcome == o).count();
        let warnings: usize = self.environments.iter().map(|e| e.warnings.len()).sum();
        let _ = if self.dry_run {
            writeln!(
                out,
                "dry run: {} to create, {} to update, {} unchanged, {warnings} warning(s)",
                count(Outcome::WouldCreate),
                count(Outcome::WouldUpdate),
                count(Outcome::Unchanged)
            )
        } else {
            writeln!(
                out,
                "{} created, {} updated, {} unchanged, {warnings} warning(s)",
                count(Outcome::Created),
                count(Outcome::Updated),
                count(Outcome::Unchanged)
            )
        };
        out
    }
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

/// The seat as `users/me` describes it.
struct Seat {
    id: u64,
    email: String,
}

async fn setup_environment(
    config: &Config,
    plan: &EnvironmentPlan,
    options: &SetupOptions,
    report: &mut EnvironmentReport,
) -> anyhow::Result<()> {
    let env = &plan.environment;
    let client = ZendeskClient::new(
        env,
        options.client.clone(),
        Arc::new(crate::telemetry::metrics::Metrics::default()),
    )
    .with_context(|| format!("building the Zendesk client for {}", env.base_url))?;
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
    let mut api = Api::new(client, options.dry_run, masks);
    let result = setup_with(config, plan, &mut api, report).await;
    report.planned = api.into_planned();
    result
}

async fn setup_with(
    config: &Config,
    plan: &EnvironmentPlan,
    api: &mut Api,
    report: &mut EnvironmentReport,
) -> anyhow::Result<()> {
    let env = &plan.environment;
    let dry_run = api.dry_run();
    let seat = check_seat(api, env, report).await?;
    check_groups(api, &seat, report).await?;
    let triggers = api
        .list("/api/v2/triggers", "triggers")
        .await
        .context("reading the triggers")?;
    check_notify_requester(&triggers, report);
    let webhooks = api
        .list("/api/v2/webhooks?page[size]=100", "webhooks")
        .await
        .context("reading the webhooks")?;
    let brands = resolve_brands(api, config, plan).await?;

    for (ep, brand_id) in plan.endpoints.iter().zip(brands) {
        let name = plan::webhook_name(&ep.endpoint.name);
        let webhook_id = ensure_webhook(api, ep, &webhooks, report)
            .await
            .with_context(|| format!("webhook {name:?}"))?;
        store_secret(config, api, ep, webhook_id.as_deref(), dry_run, report)
            .await
            .with_context(|| format!("signing secret of webhook {name:?}"))?;
        let title = plan::trigger_title(&ep.endpoint.name);
        // In a dry run a webhook still to be created has no id yet.
        let hook = webhook_id.unwrap_or_else(|| format!("<id of the new webhook {name:?}>"));
        let desired = plan::desired_trigger(&ep.endpoint.name, &hook, brand_id, &seat.email);
        ensure_rule(api, "trigger", &triggers, desired, report)
            .await
            .with_context(|| format!("trigger {title:?}"))?;
    }

    let automations = api
        .list("/api/v2/automations", "automations")
        .await
        .context("reading the automations")?;
    ensure_rule(
        api,
        "automation",
        &automations,
        plan::desired_automation(seat.id),
        report,
    )
    .await
    .with_context(|| format!("automation {:?}", plan::AUTOMATION_TITLE))?;
    Ok(())
}

/// `users/me`: the credentials must belong to a real user (Zendesk answers bad ones with
/// an anonymous user, not 401), and the guide wants the seat to be an agent or admin
/// that can write public replies.
async fn check_seat(
    api: &Api,
    env: &crate::config::Environment,
    report: &mut EnvironmentReport,
) -> anyhow::Result<Seat> {
    let me = api
        .get("/api/v2/users/me")
        .await
        .context("reading the seat (users/me)")?;
    let user = &me["user"];
    let Some(id) = user["id"].as_u64() else {
        anyhow::bail!(
            "Zendesk does not accept the credentials of environments.{} ({}): users/me answered \
             the anonymous user; check the email and API token",
            env.name,
            env.email
        );
    };
    let role = user["role"].as_str().unwrap_or("unknown");
    let name = user["name"].as_str().unwrap_or("");
    let email = user["email"].as_str().unwrap_or(&env.email).to_string();
    report.seat = Some(format!("{name} <{email}>, id {id}, role {role}"));
    if role != "agent" && role != "admin" {
        report.warnings.push(format!(
            "the seat's role is {role:?}: the setup guide wants an agent (or admin) seat; an \
             end-user cannot be assigned tickets or write replies"
        ));
    }
    // Zendesk's role types: 1 light agent, 2 chat-only agent, 3 contributor.
    if let Some(rt @ 1..=3) = user["role_type"].as_u64() {
        let what = ["", "a light agent", "a chat-only agent", "a contributor"][rt as usize];
        report.warnings.push(format!(
            "the seat is {what} (role_type {rt}): it cannot write public replies; the setup \
             guide wants a full agent seat"
        ));
    }
    Ok(Seat { id, email })
}

/// Groups the seat is not a member of: Zendesk does not let it be assigned their tickets
/// (and, if its access is limited to its groups, it cannot read them).
async fn check_groups(
    api: &Api,
    seat: &Seat,
    report: &mut EnvironmentReport,
) -> anyhow::Result<()> {
    let groups = api
        .list("/api/v2/groups", "groups")
        .await
        .context("reading the groups")?;
    let memberships = api
        .list(
            &format!("/api/v2/users/{}/group_memberships", seat.id),
            "group_memberships",
        )
        .await
        .context("reading the seat's group memberships")?;
    let member_of: Vec<u64> = memberships
        .iter()
        .filter_map(|m| m["group_id"].as_u64())
        .collect();
    for g in &groups {
        if g["deleted"].as_bool() == Some(true) {
            continue;
        }
        let Some(id) = g["id"].as_u64() else { continue };
        if !member_of.contains(&id) {
            report.warnings.push(format!(
                "the seat is not a member of group {:?} (id {id}): Zendesk will not let it be \
                 assigned that group's tickets, and a seat restricted to its groups cannot read them",
                g["name"].as_str().unwrap_or("")
            ));
        }
    }
    Ok(())
}

fn check_notify_requester(triggers: &[Value], report: &mut EnvironmentReport) {
    for t in triggers {
        if plan::is_active_notify_requester(t) && !plan::has_not_api_condition(t) {
            report.warnings.push(format!(
                "trigger {:?} (id {}) lacks the condition \"Channel is not Web Service (API)\" \
                 ({{\"field\": \"current_via_id\", \"operator\": \"is_not\", \"value\": \"5\"}}) \
                 that the setup guide adds to Notify requester triggers; add it in Admin Center > \
                 Objects and rules > Triggers (setup does not change triggers it did not create)",
                t["title"].as_str().unwrap_or(""),
                t["id"]
            ));
        }
    }
}

/// The brand id of each endpoint's trigger condition, in plan order: a configured id is
/// checked against the account's brands, a name is looked up (`GET /api/v2/brands`).
async fn resolve_brands(
    api: &Api,
    config: &Config,
    plan: &EnvironmentPlan,
) -> anyhow::Result<Vec<Option<u64>>> {
    if plan.endpoints.iter().all(|e| e.brand.is_none()) {
        return Ok(vec![None; plan.endpoints.len()]);
    }
    let brands = api
        .list("/api/v2/brands", "brands")
        .await
        .context("reading the brands")?;
    let known = || {
        brands
            .iter()
            .map(|b| format!("{:?} (id {})", b["name"].as_str().unwrap_or(""), b["id"]))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let file = config.source.display();
    plan.endpoints
        .iter()
        .map(|e| match &e.brand {
            None => Ok(None),
            Some(ZendeskBrand::Id(id)) => {
                if brands.iter().any(|b| b["id"].as_u64() == Some(*id)) {
                    Ok(Some(*id))
                } else {
                    Err(anyhow!(
                        "{file}: endpoints.{}.zendesk_brand_id: environment {} has no brand with id {id} (known: {})",
                        e.endpoint.name,
                        plan.environment.name,
                        known()
                    ))
                }
            }
            Some(ZendeskBrand::Name(name)) => {
                let found: Vec<u64> = brands
                    .iter()
                    .filter(|b| {
                        b["name"]
                            .as_str()
                            .is_some_and(|n| n.trim().eq_ignore_ascii_case(name.trim()))
                    })
                    .filter_map(|b| b["id"].as_u64())
                    .collect();
                match found.as_slice() {
                    [id] => Ok(Some(*id)),
                    [] => Err(anyhow!(
                        "{file}: endpoints.{}.zendesk_brand: environment {} has no brand named {name:?} (known: {})",
                        e.endpoint.name,
                        plan.environment.name,
                        known()
                    )),
                    ids => Err(anyhow!(
                        "{file}: endpoints.{}.zendesk_brand: environment {} has {} brands named {name:?} (ids {ids:?}); give zendesk_brand_id instead",
                        e.endpoint.name,
                        plan.environment.name,
                        ids.len()
                    )),
                }
            }
        })
        .collect()
}

/// The one object of `kind` named `name` in `list`, if any; two are an error (setup
/// could not tell which one it manages).
fn find_one<'a>(
    list: &'a [Value],
    key: &str,
    name: &str,
    kind: &str,
) -> anyhow::Result<Option<&'a Value>> {
    let found: Vec<&Value> = list
        .iter()
        .filter(|o| o[key].as_str() == Some(name))
        .collect();
    match found.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one)),
        many => Err(anyhow!(
            "{} {kind}s are named {name:?} (ids {}); delete all but one, then run setup again",
            many.len(),
            many.iter()
                .map(|o| o["id"].to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// Creates or updates the endpoint's webhook; returns its id (`None` in a dry run that
/// would create it).
async fn ensure_webhook(
    api: &mut Api,
    ep: &EndpointPlan,
    existing: &[Value],
    report: &mut EnvironmentReport,
) -> anyhow::Result<Option<String>> {
    let name = plan::webhook_name(&ep.endpoint.name);
    let desired = plan::desired_webhook(&ep.endpoint.name, &ep.url);
    let (outcome, id) = match find_one(existing, "name", &name, "webhook")? {
        None => {
            let answer = api
                .write("POST", "/api/v2/webhooks", json!({ "webhook": desired }))
                .await?;
            match answer {
                Some(v) => {
                    let id = v["webhook"]["id"]
                        .as_str()
                        .ok_or_else(|| {
                            anyhow!("Zendesk created the webhook but answered no id: {v}")
                        })?
                        .to_string();
                    (Outcome::Created, Some(id))
                }
                None => (Outcome::WouldCreate, None),
            }
        }
        Some(w) => {
            let id = w["id"]
                .as_str()
                .ok_or_else(|| anyhow!("the webhook has no id: {w}"))?
                .to_string();
            if plan::webhook_differs(w, &desired) {
                // Zendesk answers a webhook update with 204 and no body.
                api.write(
                    "PUT",
                    &format!("/api/v2/webhooks/{id}"),
                    json!({ "webhook": desired }),
                )
                .await?;
                let outcome = if api.dry_run() {
                    Outcome::WouldUpdate
                } else {
                    Outcome::Updated
                };
                (outcome, Some(id))
            } else {
                (Outcome::Unchanged, Some(id))
            }
        }
    };
    report.objects.push(ObjectReport {
        kind: "webhook",
        name: format!("{name:?} -> {}", api.mask(&ep.url)),
        outcome,
        id: id.clone(),
    });
    Ok(id)
}

/// Fetches the webhook's signing secret and stores it where the endpoint's config reads
/// it (see [`SecretTarget`]). The secret itself is never printed.
async fn store_secret(
    config: &Config,
    api: &Api,
    ep: &EndpointPlan,
    webhook_id: Option<&str>,
    dry_run: bool,
    report: &mut EnvironmentReport,
) -> anyhow::Result<()> {
    let file = ep.secret.file().to_path_buf();
    let Some(id) = webhook_id else {
        report.objects.push(ObjectReport {
            kind: "signing secret",
            name: format!("{} (fetched from the new webhook)", file.display()),
            outcome: Outcome::WouldCreate,
            id: None,
        });
        return Ok(());
    };
    let answer = api
        .get(&format!("/api/v2/webhooks/{id}/signing_secret"))
        .await?;
    let secret = answer["signing_secret"]["secret"]
        .as_str()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| anyhow!("Zendesk answered no signing secret"))?;
    if let SecretTarget::Variable { name, .. } = &ep.secret {
        if ep
            .endpoint
            .signing_secret
            .as_ref()
            .is_some_and(|s| s.expose() == secret)
        {
            report.objects.push(ObjectReport {
                kind: "signing secret",
                name: format!("${name}"),
                outcome: Outcome::Unchanged,
                id: None,
            });
            return Ok(());
        }
    }
    let current = std::fs::read_to_string(&file).ok();
    let outcome = match (current.as_deref().map(str::trim), dry_run) {
        (Some(c), _) if c == secret => Outcome::Unchanged,
        (Some(_), false) => Outcome::Updated,
        (None, false) => Outcome::Created,
        (Some(_), true) => Outcome::WouldUpdate,
        (None, true) => Outcome::WouldCreate,
    };
    if matches!(outcome, Outcome::Created | Outcome::Updated) {
        write_secret_file(&file, secret).with_context(|| format!("writing {}", file.display()))?;
    }
    report.objects.push(ObjectReport {
        kind: "signing secret",
        name: file.display().to_string(),
        outcome,
        id: None,
    });
    let ep_key = format!("[endpoints.{}]", ep.endpoint.name);
    match &ep.secret {
        SecretTarget::ConfiguredFile(_) => {}
        SecretTarget::Variable { name, .. } => report.notes.push(format!(
            "{ep_key} reads its signing secret from ${name}, which does not hold the webhook's \
             secret: set it to the content of {} (or use signing_secret_file = {:?} instead)",
            file.display(),
            relative_to_config(config, &file)
        )),
        SecretTarget::Default(_) => report.notes.push(format!(
            "add signing_secret_file = {:?} to {ep_key} in {} so the gateway verifies \
             Zendesk's signatures",
            relative_to_config(config, &file),
            config.source.display()
        )),
    }
    Ok(())
}

/// A path as the config would name it: relative to the config's folder when inside it.
fn relative_to_config(config: &Config, file: &Path) -> String {
    let dir = config.source.parent().unwrap_or(Path::new(""));
    file.strip_prefix(dir)
        .ok()
        .filter(|_| !dir.as_os_str().is_empty())
        .unwrap_or(file)
        .display()
        .to_string()
}

/// Writes a secret readable by its owner only, atomically: a temporary file in the same
/// folder renamed over the old one, so the gateway (which watches the file) never reads
/// half a secret.
fn write_secret_file(path: &Path, secret: &str) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        std::process::id()
    ));
    {
        use std::io::Write;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp)?;
        f.write_all(secret.as_bytes())?;
        f.write_all(b"\n")?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

/// Creates or updates a trigger or automation found by title.
async fn ensure_rule(
    api: &mut Api,
    kind: &'static str,
    existing: &[Value],
    desired: Value,
    report: &mut EnvironmentReport,
) -> anyhow::Result<()> {
    let title = desired["title"].as_str().unwrap_or_default().to_string();
    let collection = format!("/api/v2/{kind}s");
    let (outcome, id) = match find_one(existing, "title", &title, kind)? {
        None => match api
            .write("POST", &collection, json!({ kind: desired }))
            .await?
        {
            Some(v) => (
                Outcome::Created,
                v[kind]["id"].as_u64().map(|i| i.to_string()),
            ),
            None => (Outcome::WouldCreate, None),
        },
        Some(found) => {
            let id = found["id"]
                .as_u64()
                .ok_or_else(|| anyhow!("the {kind} has no id: {found}"))?;
            if plan::rule_differs(found, &desired) {
                // Conditions and actions are replaced together (Zendesk's update
                // clears both when either is sent), so both always go.
                api.write(
                    "PUT",
                    &format!("{collection}/{id}"),
                    json!({ kind: desired }),
                )
                .await?;
                let outcome = if api.dry_run() {
                    Outcome::WouldUpdate
                } else {
                    Outcome::Updated
                };
                (outcome, Some(id.to_string()))
            } else {
                (Outcome::Unchanged, Some(id.to_string()))
            }
        }
    };
    report.objects.push(ObjectReport {
        kind,
        name: format!("{title:?}"),
        outcome,
        id,
    });
    Ok(())
}

/// Adds what a Zendesk refusal of a setup write usually means.
pub(crate) fn explain(err: crate::zendesk::ZendeskError) -> anyhow::Error {
    let hint = match err.kind {
        ZendeskErrorKind::Forbidden => {
            " (Zendesk lets only admins, or agents whose role may manage triggers, \
             automations and webhooks, change them: give the seat that permission for setup, \
             or create the objects by hand as docs/setup.md shows)"
        }
        ZendeskErrorKind::Unauthorized => " (check the environment's email and API token)",
        _ => "",
    };
    let details: String = err
        .details
        .iter()
        .map(|(f, d)| format!("; {f}: {d}"))
        .collect();
    anyhow!("{err}{details}{hint}")
}
