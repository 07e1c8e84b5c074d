//! The `zendesk-gateway` command line.

use crate::config::Config;
use anyhow::Context;
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Self-hosted gateway that gives a Zendesk AI seat per-brand behavior through sandboxed
/// WebAssembly plugins.
///
/// Zendesk triggers POST {"id": <ticket id>} to the gateway's secret notification URLs;
/// the gateway stores each notification durably, answers 202 at once, runs the brand's
/// plugin on the ticket, and commits what it decided in one safe update.
#[derive(Debug, Parser)]
#[command(name = "zendesk-gateway", version, propagate_version = true)]
pub struct Cli {
    /// Log as JSON lines (for log shippers) instead of human-readable text.
    #[arg(long, global = true)]
    pub json_logs: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve notifications with a config file until Ctrl-C or SIGTERM.
    Serve {
        /// The gateway's TOML config (see README, "Configuration").
        #[arg(short, long, env = "ZENDESK_GATEWAY_CONFIG")]
        config: PathBuf,
        /// Seconds to let running tickets finish when stopping; the rest stay in the inbox.
        #[arg(long, default_value_t = 30)]
        grace_secs: u64,
    },
    /// Run the whole thing on the embedded default: the Zendesk simulator, two brands
    /// with different example plugins, realistic tickets; prints what each plugin did.
    Demo {
        /// Keep the simulator and gateway running afterwards, to explore them by hand.
        #[arg(long)]
        keep_running: bool,
    },
    /// Validate a config file and load its plugins, without serving or calling Zendesk.
    Check {
        /// The config file to check.
        #[arg(short, long)]
        config: PathBuf,
    },
    /// Run the Zendesk simulator alone (for trying plugins against a fake Zendesk).
    Simulator {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8900")]
        listen: SocketAddr,
    },
    /// Print a new random endpoint token for the config's `endpoints.*.token`.
    NewToken,
    /// Show the audit trail: what the AI did, per run.
    Audit {
        /// The gateway's config (to find its database).
        #[arg(short, long, env = "ZENDESK_GATEWAY_CONFIG")]
        config: PathBuf,
        /// Only this ticket.
        #[arg(long)]
        ticket: Option<u64>,
        /// At most this many records (newest).
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Create or update in Zendesk what the setup guide does by hand, idempotently.
    ///
    /// For each endpoint: a webhook (JSON POST to <public_base_url>/notify/<token>), its
    /// signing secret fetched and stored where the endpoint reads it (signing_secret_file,
    /// else <data_dir>/secrets/<endpoint>.signing-secret), and the trigger "Notify
    /// <endpoint> of Ticket Change". For each environment: the failsafe automation that
    /// unassigns the AI seat after an hour. Checks and reports the seat's role, groups the
    /// seat is not a member of, and "Notify requester" triggers without "Channel is not
    /// Web Service (API)". Objects are found by name: a second run changes nothing.
    /// Needs `public_base_url` on each environment; see docs/setup.md.
    Setup {
        /// The gateway's config.
        #[arg(short, long, env = "ZENDESK_GATEWAY_CONFIG")]
        config: PathBuf,
        /// Only this environment (default: every environment that has endpoints).
        #[arg(long)]
        environment: Option<String>,
        /// Read Zendesk but change nothing: print every request setup would send.
        #[arg(long)]
        dry_run: bool,
    },
    /// Run a brand's plugin on one ticket and print the actions it would take. Nothing is
    /// sent to Zendesk. The ticket is a JSON fixture (offline; a folder runs them all and
    /// checks their `expect` blocks) or a live ticket id read from an environment.
    Replay {
        /// The gateway's config (the brand's plugin, model, knowledge base, settings).
        #[arg(short, long, env = "ZENDESK_GATEWAY_CONFIG")]
        config: PathBuf,
        /// The brand whose plugin runs.
        #[arg(long)]
        brand: String,
        /// A fixture file, or a folder of them (see examples/fixtures/README.md).
        #[arg(long, conflicts_with = "ticket", required_unless_present = "ticket")]
        fixture: Option<PathBuf>,
        /// A live ticket id, read (never changed) from `--environment`.
        #[arg(long, requires = "environment")]
        ticket: Option<u64>,
        /// The environment to read the live ticket from.
        #[arg(long)]
        environment: Option<String>,
        /// Print JSON reports instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Create a new plugin crate that builds for wasm32-wasip2 and passes its own test.
    NewPlugin {
        /// The plugin's name: lower-case letters, digits and dashes (`kids-tone`).
        name: String,
        /// The folder to create the crate in (it gets a subfolder named NAME).
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// The plugin SDK to depend on; defaults to this gateway's `plugins/sdk`.
        #[arg(long)]
        sdk: Option<PathBuf>,
    },
}

/// Runs the command line; returns the process exit code.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    // The demo prints a report; its logs would only bury it, so it logs warnings only.
    let level = match cli.command {
        Command::Demo { .. } | Command::Replay { .. } => "warn",
        _ => "info,notify=warn",
    };
    crate::logging::init(cli.json_logs, level);
    match cli.command {
        Command::Serve { config, grace_secs } => {
            let config = Config::load(&config)?;
            crate::server::serve_until_signal(config, Duration::from_secs(grace_secs)).await
        }
        Command::Demo { keep_running } => crate::demo::run(keep_running).await,
        Command::Check { config } => check(&config),
        Command::Simulator { listen } => {
            zendesk_simulator::run(zendesk_simulator::SimulatorConfig::default(), listen).await
        }
        Command::NewToken => {
            println!("{}", crate::config::generate_endpoint_token());
            Ok(())
        }
        Command::Audit {
            config,
            ticket,
            limit,
        } => audit(&config, ticket, limit),
        Command::Setup {
            config,
            environment,
            dry_run,
        } => crate::setup::run(&config, environment.as_deref(), dry_run).await,
        Command::Replay {
            config,
            brand,
            fixture,
            ticket,
            environment,
            json,
        } => replay(&config, &brand, fixture, ticket, environment, json).await,
        Command::NewPlugin { name, dir, sdk } => {
            let created = crate::scaffold::new_plugin(&name, &dir, sdk.as_deref())?;
            println!("created plugin {name} in {}", created.display());
            println!("next:");
            println!("  cd {}", created.display());
            println!("  cargo test                                   # its unit test, natively");
            println!(
                "  rustup target add wasm32-wasip2 && cargo build --release --target wasm32-wasip2"
            );
            println!(
                "  # then point a brand's `plugin` at target/wasm32-wasip2/release/{}.wasm",
                name.replace('-', "_")
            );
            Ok(())
        }
    }
}

async fn replay(
    config: &std::path::Path,
    brand: &str,
    fixture: Option<PathBuf>,
    ticket: Option<u64>,
    environment: Option<String>,
    json: bool,
) -> anyhow::Result<()> {
    use crate::replay::{fixture_files, load_fixture, Replayer};
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

fn check(path: &std::path::Path) -> anyhow::Result<()> {
    let config = Config::load(path)?;
    let engine = crate::runtime::PluginEngine::new(&crate::runtime::EnginePolicy::default())?;
    let loader = crate::runtime::plugin::PluginLoader::new(engine.engine().clone());
    let mut failures = 0;
    for (name, brand) in &config.brands {
        let probed = loader.load_file(name, &brand.plugin).and_then(|p| {
            crate::runtime::run::probe(&p, &std::sync::Arc::new(brand.clone()))?;
            Ok(p)
        });
        match probed {
            Ok(p) => println!(
                "brand {name}: plugin {} version {} loads ({} mode)",
                brand.plugin.display(),
                p.version,
                brand.mode
            ),
            Err(e) => {
                failures += 1;
                println!("brand {name}: {e}");
            }
        }
    }
    for (name, ep) in &config.endpoints {
        println!(
            "endpoint {name}: brand {}, environment {}, {}",
            ep.brand,
            ep.environment,
            if ep.signing_secret.is_some() {
                "signed"
            } else {
                "unsigned (token only)"
            }
        );
    }
    if failures > 0 {
        anyhow::bail!("{}: {failures} plugin(s) failed to load", path.display());
    }
    println!("{}: OK", path.display());
    Ok(())
}

fn audit(path: &std::path::Path, ticket: Option<u64>, limit: usize) -> anyhow::Result<()> {
    let config = Config::load(path)?;
    let db = config.gateway.data_dir.join("gateway.db");
    anyhow::ensure!(
        db.exists(),
        "no gateway database at {} yet: has the gateway run with this config?",
        db.display()
    );
    let log =
        crate::audit::AuditLog::open(&db).with_context(|| format!("reading {}", db.display()))?;
    let records = log.query(ticket, limit)?;
    if records.is_empty() {
        println!("no runs recorded");
    }
    for r in records {
        println!(
            "{}  ticket {:<6} {:<12} {:<10} {:<9} v{}  {}  {}",
            r.at,
            r.ticket_id,
            r.brand,
            r.environment,
            r.mode,
            r.plugin_version,
            r.outcome,
            r.reason
        );
    }
    Ok(())
}
