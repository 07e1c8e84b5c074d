//! `zendesk-gateway new-token`: print a new random endpoint token.

/// Prints a token for an endpoint's `token` (or the variable its `token_env` names).
pub fn run() -> anyhow::Result<()> {
    println!("{}", crate::config::generate_endpoint_token());
    Ok(())
}
