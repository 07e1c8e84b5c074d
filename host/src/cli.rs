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
}

/// Runs the command line; returns the process exit code.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    // The demo prints a report; its logs would only bury it, so it logs warnings only.
    let level = match cli.command {
        Command::Demo { .. } => "warn",
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
    }
}

fn check(path: &std::path::Path) -> anyhow::Result<()> {
    let config = Config::load(path)?;
    let engine = crate::runtime::PluginEngine::new(&crate::runtime::EnginePolicy::default())?;
    let loader = crate::runtime::plugin::PluginLoader::new(engine.engine().clone());
    let mut failures = 0;
    for (name, brand) in &config.brands {
        match loader.load_file(name, &brand.plugin) {
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
