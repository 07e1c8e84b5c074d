//! `zendesk-gateway`: see `zendesk-gateway --help`.

use clap::Parser;

#[tokio::main]
async fn main() {
    let cli = zendesk_gateway::commands::Cli::parse();
    if let Err(e) = zendesk_gateway::commands::run(cli).await {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
