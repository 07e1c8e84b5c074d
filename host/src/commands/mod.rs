//! The `zendesk-gateway` command line.

pub mod audit;
pub mod check;
pub mod demo;
pub mod doctor;
pub mod new_plugin;
pub mod new_token;
pub mod replay;
pub mod report;
pub mod serve;
pub mod setup;

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
        /// Also read each environment's ticket fields, forms and business hours
        /// schedules, and report fields required to solve that the AI cannot fill,
        /// unknown field names and unknown schedules.
        #[arg(long)]
        online: bool,
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
    /// The resolution report: per brand and day, tickets resolved by the AI (solved by
    /// the seat and not reopened), handed off (by reason), skipped, failed, and the time
    /// to first response (p50, p95). The console's report page shows the same figures.
    Report {
        /// The gateway's config (to find its database).
        #[arg(short, long, env = "ZENDESK_GATEWAY_CONFIG")]
        config: PathBuf,
        /// The period: runs that ended in the last 7d, 24h, 90m, 2w...
        #[arg(long, default_value = "7d")]
        since: String,
        /// Only this brand.
        #[arg(long)]
        brand: Option<String>,
        /// A solved ticket reopened by its customer within this many days is not
        /// resolved (default: the config's `gateway.report_reopen_days`, 7).
        #[arg(long)]
        reopen_days: Option<u32>,
        /// Print the report as JSON.
        #[arg(long, conflicts_with = "csv")]
        json: bool,
        /// Print one CSV line per brand and day.
        #[arg(long)]
        csv: bool,
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
    /// With --fix, also repairs what doctor --fix repairs (the same code). Needs
    /// `public_base_url` on each environment; see docs/setup.md.
    Setup {
        /// The gateway's config.
        #[arg(short, long, env = "ZENDESK_GATEWAY_CONFIG")]
        config: PathBuf,
        /// Only this environment (default: every environment that has endpoints).
        #[arg(long)]
        environment: Option<String>,
        /// Read Zendesk but change nothing: print every request setup would send.
        #[arg(long, conflicts_with = "fix")]
        dry_run: bool,
        /// Then repair what the API can, as doctor --fix does (the seat added to groups,
        /// the API condition on "Notify requester" triggers, a paused webhook, a signing
        /// secret), each change shown and confirmed.
        #[arg(long)]
        fix: bool,
        /// With --fix: do not ask.
        #[arg(long, requires = "fix")]
        yes: bool,
    },
    /// Check that the integration works end to end: credentials and seat, webhook,
    /// signing secret, recent deliveries and breaker, trigger, failsafe automation,
    /// "Notify requester" triggers, quota, and a live delivery test through Zendesk.
    /// Prints a table; exits 0 only when everything is ok. See docs/setup.md.
    Doctor {
        /// The gateway's config.
        #[arg(short, long, env = "ZENDESK_GATEWAY_CONFIG")]
        config: PathBuf,
        /// Only this environment (default: every environment that has endpoints).
        #[arg(long)]
        environment: Option<String>,
        /// Repair what the API can (each change shown and confirmed), then check again.
        #[arg(long)]
        fix: bool,
        /// With --fix: do not ask.
        #[arg(long)]
        yes: bool,
        /// Print only the signing secret Zendesk signs this endpoint's webhook with (to
        /// set a signing_secret_env variable), and check nothing. Doctor prints a secret
        /// only when asked this way.
        #[arg(long, value_name = "ENDPOINT", conflicts_with = "fix")]
        print_signing_secret: Option<String>,
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
        Command::Demo { .. } | Command::Replay { .. } | Command::Report { .. } => "warn",
        _ => "info,notify=warn",
    };
    crate::telemetry::logging::init(cli.json_logs, level);
    match cli.command {
        Command::Serve { config, grace_secs } => {
            serve::run(&config, Duration::from_secs(grace_secs)).await
        }
        Command::Demo { keep_running } => crate::commands::demo::run(keep_running).await,
        Command::Check { config, online } => check::run(&config, online).await,
        Command::Simulator { listen } => {
            zendesk_simulator::run(zendesk_simulator::SimulatorConfig::default(), listen).await
        }
        Command::NewToken => new_token::run(),
        Command::Audit {
            config,
            ticket,
            limit,
        } => audit::run(&config, ticket, limit),
        Command::Report {
            config,
            since,
            brand,
            reopen_days,
            json,
            csv,
        } => {
            let format = match (json, csv) {
                (true, _) => report::Format::Json,
                (_, true) => report::Format::Csv,
                _ => report::Format::Text,
            };
            report::run(&config, &since, brand, reopen_days, format)
        }
        Command::Setup {
            config,
            environment,
            dry_run,
            fix,
            yes,
        } => {
            crate::commands::setup::run(&config, environment.as_deref(), dry_run).await?;
            if fix {
                doctor::repair(&config, environment.as_deref(), yes).await?;
            }
            Ok(())
        }
        Command::Doctor {
            config,
            print_signing_secret: Some(endpoint),
            ..
        } => doctor::print_signing_secret(&config, &endpoint).await,
        Command::Doctor {
            config,
            environment,
            fix,
            yes,
            print_signing_secret: None,
        } => doctor::run(&config, environment.as_deref(), fix, yes).await,
        Command::Replay {
            config,
            brand,
            fixture,
            ticket,
            environment,
            json,
        } => replay::run(&config, &brand, fixture, ticket, environment, json).await,
        Command::NewPlugin { name, dir, sdk } => new_plugin::run(&name, &dir, sdk.as_deref()),
    }
}
