//! `zendesk-gateway`: see `zendesk-gateway --help`.

use clap::Parser;

#[tokio::main]
async fn main() {
    let cli = zendesk_gateway::cli::Cli::parse();
    if let Err(e) = zendesk_gateway::cli::run(cli).await {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
