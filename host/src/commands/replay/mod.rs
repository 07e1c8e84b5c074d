//! `zendesk-gateway replay`: run a brand's plugin on one ticket and show what it would do,
//! with nothing committed. The ticket comes from Zendesk (read-only) or from a JSON
//! fixture, offline.
//!
//! The run is a real one (same runtime, limits, model, knowledge base and settings as
//! the gateway gives the brand); only the commit step is left out. Fixtures also carry
//! an optional `expect` block, which makes a folder of them a regression suite for a
//! plugin (`replay --fixture folder/`).

mod fixture;
mod report;

use crate::capabilities::actions::staging::Staged;
use crate::capabilities::BrandCapabilities;
use crate::capabilities::RunContext;
use crate::config::{Brand, Config, Environment, Mode};
use crate::outcome::Outcome;
use crate::runtime::plugin::{LoadedPlugin, PluginLoader};
use crate::runtime::run::{run_plugin, RunRequest};
use crate::runtime::{EnginePolicy, PluginEngine};
use crate::zendesk::{ClientOptions, ZendeskClient};
use crate::zendesk::{ReadCache, Seat};
use anyhow::Context;
use fixture::default_seat_name;
pub use fixture::{fixture_files, load_fixture, Expectation, Fixture, FixtureSeat};
pub use report::ReplayReport;
use std::path::{Path, PathBuf};
use std::sync::Arc;

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
        let recorded = Some(Arc::new(fixture.http.clone()));
        let account = self.account(fixture.ticket_fields.clone(), &fixture.schedules)?;
        Ok(self
            .run(
                fixture.ticket.id,
                ReplayInputs {
                    client,
                    seat,
                    reads,
                    environment: "fixture".into(),
                    recorded,
                    account,
                },
            )
            .await)
    }

    /// What the brand's plugin may use of an account with these fields and schedules,
    /// resolved as the gateway does at start (an unknown field or schedule is an error
    /// naming the key).
    fn account(
        &self,
        fields: Vec<crate::zendesk::account::TicketField>,
        schedules: &[crate::zendesk::account::Schedule],
    ) -> anyhow::Result<Arc<crate::capabilities::BrandAccount>> {
        let catalog = Arc::new(crate::capabilities::fields::FieldCatalog::new(
            fields,
            Vec::new(),
        ));
        crate::gateway::accounts::brand_account(&self.brand, catalog, schedules)
            .map(Arc::new)
            .map_err(|e| anyhow::anyhow!("brand {}: {e}", self.brand.name))
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
        // The account's fields and schedules, read only when the brand uses them.
        let fields = if self.brand.fields.is_empty() {
            Vec::new()
        } else {
            client.ticket_fields().await?
        };
        let schedules = if self.brand.schedule.is_some() {
            client.schedules().await?
        } else {
            Vec::new()
        };
        let account = self.account(fields, &schedules)?;
        Ok(self
            .run(
                ticket_id,
                ReplayInputs {
                    client,
                    seat,
                    reads: ReadCache::default(),
                    environment: environment.name.clone(),
                    recorded: None,
                    account,
                },
            )
            .await)
    }

    async fn run(&self, ticket_id: u64, inputs: ReplayInputs) -> ReplayReport {
        let ReplayInputs {
            client,
            seat,
            mut reads,
            environment,
            recorded,
            account,
        } = inputs;
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
                http_calls: Vec::new(),
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
        context.account = account;
        // A fixture's requests are answered from its recordings (nothing is sent), under
        // the brand's mode as in a real run; a live ticket's replay reaches the brand's
        // systems with GET and HEAD only, whatever the brand's mode.
        context.http.listening = recorded.is_none() || self.mode != Mode::Live;
        context.http.recorded = recorded;
        let request = RunRequest {
            environment,
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
            http_calls: result.context.http.calls(),
            elapsed_ms: result.elapsed.as_millis() as u64,
        }
    }
}

/// What one replay runs on: where reads come from, the seat, the environment's name,
/// recorded answers of the brand's systems (a fixture's) and the account's fields and
/// hours.
struct ReplayInputs {
    client: ZendeskClient,
    seat: Seat,
    reads: ReadCache,
    environment: String,
    recorded: Option<Arc<Vec<crate::capabilities::http::Recorded>>>,
    account: Arc<crate::capabilities::BrandAccount>,
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
        return replay_live(&config, &replayer, brand, environment, id, json).await;
    }
    let path = fixture.context("give --fixture or --ticket")?;
    replay_fixtures(&replayer, &path, json).await
}

/// `replay --ticket`: one live ticket of the named environment.
async fn replay_live(
    config: &Config,
    replayer: &Replayer,
    brand: &str,
    environment: Option<String>,
    id: u64,
    json: bool,
) -> anyhow::Result<()> {
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
    Ok(())
}

/// `replay --fixture`: a fixture file or a folder of them, each checked against its
/// expectations; fails naming the fixtures that did not meet theirs.
async fn replay_fixtures(replayer: &Replayer, path: &Path, json: bool) -> anyhow::Result<()> {
    let mut failed = Vec::new();
    let files = fixture_files(path)?;
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
            print_fixture_result(file, &fx, &report, &problems);
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

fn print_fixture_result(file: &Path, fx: &Fixture, report: &ReplayReport, problems: &[String]) {
    println!("== {} {}", file.display(), fx.description);
    print!("{}", report.render());
    match (&fx.expect, problems.is_empty()) {
        (None, _) => {}
        (Some(_), true) => println!("expectations: met"),
        (Some(_), false) => {
            for p in problems {
                println!("expectation not met: {p}");
            }
        }
    }
    println!();
}
