//! `zendesk-gateway serve`: serve notifications with a config file until Ctrl-C or SIGTERM.

use crate::config::Config;
use std::path::Path;
use std::time::Duration;

/// Loads the config and serves until a signal; running tickets get `grace` to finish.
pub async fn run(config: &Path, grace: Duration) -> anyhow::Result<()> {
    let config = Config::load(config)?;
    crate::service::serve_until_signal(config, grace).await
}
