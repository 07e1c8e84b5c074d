//! `zendesk-gateway replay`: run a brand's plugin on one ticket and show what it would do,
//! with nothing committed. The ticket comes from Zendesk (read-only) or from a JSON
//! fixture, offline.
//!
//! The run is a real one (same runtime, limits, model, knowledge base and settings as
//! the gateway gives the brand); only the commit step is left out. Fixtures also carry
//! an optional `expect` block, which makes a folder of them a regression suite for a
//! plugin (`replay --fixture folder/`).

use crate::capabilities::actions::staging::{AssigneeChange, Staged, StagedStatus};
use crate::capabilities::BrandCapabilities;
use crate::capabilities::RunContext;
use crate::config::{Brand, Config, Environment, Mode};
use crate::outcome::Outcome;
use crate::runtime::plugin::{LoadedPlugin, PluginLoader};
use crate::runtime::run::{run_plugin, RunRequest};
use crate::runtime::{EnginePolicy, PluginEngine};
use crate::zendesk::{ClientOptions, Comment, Ticket, User, ZendeskClient};
use crate::zendesk::{ReadCache, Seat};
use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A saved ticket: what Zendesk's API returns for it, plus optional expectations.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixture {
    /// What the fixture is about, for reports.
    #[serde(default)]
    pub description: String,
    /// `GET /api/v2/tickets/{id}`'s `ticket`.
    pub ticket: Ticket,
    /// The conversation, oldest first (`GET /api/v2/tickets/{id}/comments`).
    pub comments: Vec<Comment>,
    /// Everyone on the ticket (requester, authors).
    #[serde(default)]
    pub users: Vec<User>,
    /// The AI seat; a default "AI Agent" (id 1) when absent.
    #[serde(default)]
    pub seat: Option<FixtureSeat>,
    /// What the run must do, for regression tests.
    #[serde(default)]
    pub expect: Option<Expectation>,
    /// For tests with a fake model (tests/e2e/fake_llm.rs): what the model answers on
    /// this ticket. A real model ignores it.
    #[serde(default)]
    pub model_answer: Option<String>,
}

/// The seat of a fixture.
#[derive(Debug, Clone, Deserialize)]
pub struct FixtureSeat {
    /// User id.
    pub id: u64,
    /// Name.
    #[serde(default = "default_seat_name")]
    pub name: String,
}

fn default_seat_name() -> String {
    "AI Agent".into()
}

/// What a fixture's run must have done. Every field is optional; the ones given must hold.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expectation {
    /// `handled`, `handed_off`, `skipped` or `failed`.
    pub outcome: Option<String>,
    /// Words the outcome's reason contains (case-insensitive).
    #[serde(default)]
    pub reason_contains: Vec<String>,
    /// `true`: a public reply was staged; `false`: none was.
    pub reply: Option<bool>,
    /// Texts the reply contains (case-insensitive).
    #[serde(default)]
    pub reply_contains: Vec<String>,
    /// Texts the reply must not contain (case-insensitive).
    #[serde(default)]
    pub reply_excludes: Vec<String>,
    /// `true`: an internal note was staged; `false`: none was.
    pub note: Option<bool>,
    /// Texts the notes contain (case-insensitive).
    #[serde(default)]
    pub note_contains: Vec<String>,
    /// Tags that were added.
    #[serde(default)]
    pub tags_added: Vec<String>,
    /// Tags that must not be added.
    #[serde(default)]
    pub tags_not_added: Vec<String>,
    /// `open`, `pending`, `solved`, or `unchanged`.
    pub status: Option<String>,
    /// `seat`, `unassign`, `agent:ID`, `group:ID`, or `unchanged`.
    pub assignee: Option<String>,
}

/// What a replayed run did.
#[derive(Debug, Clone, Serialize)]
pub struct ReplayReport {
    /// The plugin's version (content hash).
    pub plugin_version: String,
    /// What the gateway would record (`handled`, `handed_off`, `skipped` or `failed`).
    pub outcome: Outcome,
    /// The plugin's reason, or why the run failed.
    pub reason: String,
    /// What the plugin staged (nothing of it was sent).
    pub staged: Staged,
    /// Actions the host refused.
    pub refusals: Vec<String>,
    /// Model tokens spent.
    pub llm_tokens: u32,
    /// Wall time of the run, in milliseconds.
    pub elapsed_ms: u64,
}

impl ReplayReport {
    /// Human-readable lines: the outcome, then each action.
    pub fn render(&self) -> String {
        let mut out = format!(
            "outcome: {} ({})\nplugin version: {}\n",
            self.outcome, self.reason, self.plugin_version
        );
        let s = &self.staged;
        if let Some(r) = &s.reply {
            out += &format!("reply (public):\n{}\n", indent(r));
        }
        for n in &s.notes {
            out += &format!("internal note:\n{}\n", indent(n));
        }
        if !s.add_tags.is_empty() {
            out += &format!(
                "add tags: {}\n",
                s.add_tags.iter().cloned().collect::<Vec<_>>().join(", ")
            );
        }
        if !s.remove_tags.is_empty() {
            out += &format!(
                "remove tags: {}\n",
                s.remove_tags.iter().cloned().collect::<Vec<_>>().join(", ")
            );
        }
        if let Some(a) = &s.assignee {
            out += &format!("assign: {}\n", assignee_word(a));
        }
        if let Some(st) = s.status {
            out += &format!("status: {}\n", st.as_zendesk());
        }
        for r in &self.refusals {
            out += &format!("refused: {r}\n");
        }
        if self.llm_tokens > 0 {
            out += &format!("model tokens: {}\n", self.llm_tokens);
        }
        out += "(nothing was sent to Zendesk)\n";
        out
    }

    /// Checks an expectation; returns every way the run differs from it.
    pub fn check(&self, expect: &Expectation) -> Vec<String> {
        let mut problems = Vec::new();
        let s = &self.staged;
        let lower = |t: &str| t.to_lowercase();
        if let Some(o) = &expect.outcome {
            if *o != self.outcome.as_str() {
                problems.push(format!(
                    "outcome is {} ({}), expected {o}",
                    self.outcome, self.reason
                ));
            }
        }
        for w in &expect.reason_contains {
            if !lower(&self.reason).contains(&lower(w)) {
                problems.push(format!("reason {:?} lacks {w:?}", self.reason));
            }
        }
        if let Some(want) = expect.reply {
            if s.reply.is_some() != want {
                problems.push(format!(
                    "reply staged: {}, expected {want}",
                    s.reply.is_some()
                ));
            }
        }
        let reply = s.reply.as_deref().map(lower).unwrap_or_default();
        for w in &expect.reply_contains {
            if !reply.contains(&lower(w)) {
                problems.push(format!("reply lacks {w:?}: {:?}", s.reply));
            }
        }
        for w in &expect.reply_excludes {
            if reply.contains(&lower(w)) {
                problems.push(format!("reply contains {w:?}: {:?}", s.reply));
            }
        }
        if let Some(want) = expect.note {
            if s.notes.is_empty() == want {
                problems.push(format!(
                    "note staged: {}, expected {want}",
                    !s.notes.is_empty()
                ));
            }
        }
        let notes = lower(&s.notes.join("\n"));
        for w in &expect.note_contains {
            if !notes.contains(&lower(w)) {
                problems.push(format!("notes lack {w:?}: {:?}", s.notes));
            }
        }
        for t in &expect.tags_added {
            if !s.add_tags.contains(t) {
                problems.push(format!("tag {t} not added (added: {:?})", s.add_tags));
            }
        }
        for t in &expect.tags_not_added {
            if s.add_tags.contains(t) {
                problems.push(format!("tag {t} added but must not be"));
            }
        }
        if let Some(want) = &expect.status {
            let got = s
                .status
                .map(StagedStatus::as_zendesk)
                .unwrap_or("unchanged");
            if got != want {
                problems.push(format!("status {got}, expected {want}"));
            }
        }
        if let Some(want) = &expect.assignee {
            let got = s
                .assignee
                .as_ref()
                .map(assignee_word)
                .unwrap_or_else(|| "unchanged".into());
            if &got != want {
                problems.push(format!("assignee {got}, expected {want}"));
            }
        }
        problems
    }
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn assignee_word(a: &AssigneeChange) -> String {
    match a {
        AssigneeChange::Seat => "seat".into(),
        AssigneeChange::Agent(id) => format!("agent:{id}"),
        AssigneeChange::Group(id) => format!("group:{id}"),
        AssigneeChange::Unassign => "unassign".into(),
    }
}

/// Reads a fixture file, with the file named in errors.
pub fn load_fixture(path: &Path) -> anyhow::Result<Fixture> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read fixture {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("fixture {} is not valid", path.display()))
}

/// The fixture files of a folder (sorted), or the one file given.
pub fn fixture_files(path: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .with_context(|| format!("cannot read {}", path.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        if files.is_empty() {
            bail!("no .json fixtures in {}", path.display());
        }
        Ok(files)
    } else {
        Ok(vec![path.to_path_buf()])
    }
}

/// A brand's plugin, loaded with its capabilities, ready to replay tickets.
pub struct Replayer {
    brand: Arc<Brand>,
    plugin: LoadedPlugin,
    capabilities: Arc<BrandCapabilities>,
    mode: Mode,
    _engine: PluginEngine,
}

impl Replayer {
    /// Loads `brand` of `config` (its plugin, model, knowledge base and settings).
    pub fn new(config: &Config, brand: &str) -> anyhow::Result<Replayer> {
        let b = config.brands.get(brand).with_context(|| {
            format!(
                "no brand named {brand:?} in {} (known: {})",
                config.source.display(),
                config.brands.keys().cloned().collect::<Vec<_>>().join(", ")
            )
        })?;
        // The gateway's compile cache: a plugin the gateway (or an earlier replay) compiled
        // is not compiled again, which matters for big components such as Python ones.
        let cache = config.gateway.data_dir.join("compiled");
        Self::load(b.clone(), Some(&cache), &EnginePolicy::for_config(config))
    }

    /// Loads a brand given directly, with compiled plugins cached in `cache` if given.
    pub fn for_brand(brand: Brand, cache: Option<&Path>) -> anyhow::Result<Replayer> {
        let policy = EnginePolicy::for_brand(&brand);
        Self::load(brand, cache, &policy)
    }

    fn load(brand: Brand, cache: Option<&Path>, policy: &EnginePolicy) -> anyhow::Result<Replayer> {
        let engine = PluginEngine::new(policy)?;
        let loader = match cache {
            Some(dir) => PluginLoader::with_cache(engine.engine().clone(), dir),
            None => PluginLoader::new(engine.engine().clone()),
        };
        let plugin = loader.load_file(&brand.name, &brand.plugin)?;
        crate::runtime::run::probe(&plugin, &Arc::new(brand.clone()))?;
        let capabilities = Arc::new(BrandCapabilities::build(&brand, None, None)?);
        Ok(Replayer {
            mode: brand.mode,
            brand: Arc::new(brand),
            plugin,
            capabilities,
            _engine: engine,
        })
    }

    /// Runs the plugin on a fixture, offline: every read is answered from the fixture.
    pub async fn fixture(&self, fixture: &Fixture) -> anyhow::Result<ReplayReport> {
        // Nothing is fetched (the cache holds the whole ticket) and nothing committed, so
        // the client points nowhere: a read the fixture lacks fails as "unavailable".
        let client = RunContext::offline(self.brand.clone(), self.plugin.version.clone())?.client;
        let seat = fixture.seat.clone().unwrap_or(FixtureSeat {
            id: 1,
            name: default_seat_name(),
        });
        let seat = Seat {
            id: seat.id,
            name: seat.name,
            email: "ai@localhost".into(),
            role: "agent".into(),
        };
        let reads = ReadCache::prefilled(
            fixture.ticket.clone(),
            fixture.comments.clone(),
            fixture.users.clone(),
        );
        Ok(self
            .run(fixture.ticket.id, client, seat, reads, "fixture")
            .await)
    }

    /// Runs the plugin on a live ticket of an environment: reads from Zendesk, commits
    /// nothing.
    pub async fn live(
        &self,
        environment: &Environment,
        ticket_id: u64,
    ) -> anyhow::Result<ReplayReport> {
        let metrics = Arc::new(crate::telemetry::metrics::Metrics::default());
        let client = ZendeskClient::new(environment, ClientOptions::default(), metrics)?;
        let seat = crate::gateway::identify_seat(environment, &client).await?;
        Ok(self
            .run(
                ticket_id,
                client,
                seat,
                ReadCache::default(),
                &environment.name,
            )
            .await)
    }

    async fn run(
        &self,
        ticket_id: u64,
        client: ZendeskClient,
        seat: Seat,
        mut reads: ReadCache,
        environment: &str,
    ) -> ReplayReport {
        // The gateway's own guards come first, as in a real run: a ticket the gateway
        // would skip is reported skipped, whatever the plugin would have done.
        let guard = match reads.comments(&client, ticket_id).await {
            Ok(_) => crate::pipeline::handling::host_guard(&reads, seat.id),
            Err(_) => None, // the run reports the failed read itself
        };
        if let Some(reason) = guard {
            return ReplayReport {
                plugin_version: self.plugin.version.clone(),
                outcome: Outcome::Skipped,
                reason: format!("by the gateway: {reason}"),
                staged: Staged::default(),
                refusals: Vec::new(),
                llm_tokens: 0,
                elapsed_ms: 0,
            };
        }
        let mut context = RunContext::new(
            ticket_id,
            self.brand.clone(),
            self.plugin.version.clone(),
            client,
            seat,
            self.capabilities.clone(),
        );
        context.reads = reads;
        let request = RunRequest {
            environment: environment.to_string(),
            endpoint: "replay".into(),
            mode: self.mode,
        };
        let result = run_plugin(&self.plugin, context, &request).await;
        let (outcome, reason) = match result.outcome {
            Ok(decision) => decision.into_parts(),
            Err(f) => (Outcome::Failed, f.describe()),
        };
        ReplayReport {
            plugin_version: self.plugin.version.clone(),
            outcome,
            reason,
            staged: result.context.staged,
            refusals: result.context.refusals,
            llm_tokens: result.context.llm_tokens_used,
            elapsed_ms: result.elapsed.as_millis() as u64,
        }
    }
}

/// `zendesk-gateway replay`: runs the brand's plugin on fixtures or a live ticket and
/// prints what it would do; fails when a fixture's expectations are not met.
pub async fn run(
    config: &std::path::Path,
    brand: &str,
    fixture: Option<PathBuf>,
    ticket: Option<u64>,
    environment: Option<String>,
    json: bool,
) -> anyhow::Result<()> {
    let config = Config::load(config)?;
    let replayer = Replayer::new(&config, brand)?;
    if let Some(id) = ticket {
        let name = environment.unwrap_or_default();
        let env = config.environments.get(&name).with_context(|| {
            format!(
                "no environment named {name:?} in {}",
                config.source.display()
            )
        })?;
        let report = replayer.live(env, id).await?;
        if json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            print!("ticket {id} ({name}), brand {brand}\n{}", report.render());
        }
        return Ok(());
    }
    let path = fixture.context("give --fixture or --ticket")?;
    let mut failed = Vec::new();
    let files = fixture_files(&path)?;
    for file in &files {
        let fx = load_fixture(file)?;
        let report = replayer.fixture(&fx).await?;
        let problems = fx
            .expect
            .as_ref()
            .map(|e| report.check(e))
            .unwrap_or_default();
        if json {
            println!(
                "{}",
                serde_json::json!({"fixture": file, "report": report, "problems": problems})
            );
        } else {
            println!("== {} {}", file.display(), fx.description);
            print!("{}", report.render());
            match (&fx.expect, problems.is_empty()) {
                (None, _) => {}
                (Some(_), true) => println!("expectations: met"),
                (Some(_), false) => {
                    for p in &problems {
                        println!("expectation not met: {p}");
                    }
                }
            }
            println!();
        }
        if !problems.is_empty() {
            failed.push(file.display().to_string());
        }
    }
    if !failed.is_empty() {
        anyhow::bail!(
            "{} of {} fixtures did not meet their expectations: {}",
            failed.len(),
            files.len(),
            failed.join(", ")
        );
    }
    Ok(())
}
