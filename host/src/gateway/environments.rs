//! Zendesk environments at run time: each one's client and the AI seat it acts as,
//! verified with `users/me` when the gateway starts or the environment's settings change.

use crate::config::{Config, Environment};
use crate::telemetry::Metrics;
use crate::zendesk::{ClientOptions, Seat, ZendeskClient, ZendeskErrorKind};
use anyhow::bail;
use std::collections::BTreeMap;
use std::sync::Arc;

/// A Zendesk environment at run time: its client and the AI seat it acts as.
pub struct EnvironmentRuntime {
    /// The environment's config.
    pub config: Environment,
    /// Its API client.
    pub client: ZendeskClient,
    /// The AI seat, as `users/me` reported it.
    pub seat: Seat,
}

/// A client and verified seat for every environment an endpoint uses, reusing the
/// previous ones when an environment's settings are unchanged.
pub(super) async fn connect_environments(
    config: &Config,
    previous: &BTreeMap<String, Arc<EnvironmentRuntime>>,
    options: &ClientOptions,
    metrics: &Arc<Metrics>,
) -> anyhow::Result<BTreeMap<String, Arc<EnvironmentRuntime>>> {
    let mut environments = BTreeMap::new();
    for (name, env) in &config.environments {
        // Only environments that an endpoint uses need to be reachable.
        if !config.endpoints.values().any(|e| &e.environment == name) {
            continue;
        }
        if let Some(prev) = previous.get(name) {
            let same = prev.config.base_url == env.base_url
                && prev.config.email == env.email
                && prev.config.api_token == env.api_token
                && prev.config.requests_per_minute == env.requests_per_minute
                && prev.config.ticket_updates_per_minute == env.ticket_updates_per_minute;
            if same {
                environments.insert(name.clone(), prev.clone());
                continue;
            }
        }
        let client = ZendeskClient::new(env, options.clone(), metrics.clone())?;
        let seat = identify_seat(env, &client).await?;
        tracing::info!(environment = %name, seat_id = seat.id, seat = %seat.email, role = %seat.role,
            "Zendesk credentials verified");
        environments.insert(
            name.clone(),
            Arc::new(EnvironmentRuntime {
                config: env.clone(),
                client,
                seat,
            }),
        );
    }
    Ok(environments)
}

/// Asks Zendesk who the credentials belong to. Wrong credentials get 401 `Couldn't
/// authenticate you`; `users/me` answers an anonymous user (id null) when no usable
/// credentials reach Zendesk, so the id and role are checked too. Bad credentials or a
/// seat that is not an agent stop with a message that says what to fix.
pub async fn identify_seat(env: &Environment, client: &ZendeskClient) -> anyhow::Result<Seat> {
    let me = match client.me().await {
        Ok(me) => me,
        Err(e) if e.kind == ZendeskErrorKind::Unauthorized => bail!(
            "environment {}: Zendesk at {} refuses the credentials of {} (401 {}): check the email \
             and the API token (api_token_env / api_token_file) of [environments.{}]",
            env.name,
            env.base_url,
            env.email,
            e.message,
            env.name
        ),
        Err(e) => {
            return Err(anyhow::Error::new(e).context(format!(
                "environment {}: cannot reach Zendesk at {} to verify the AI seat",
                env.name, env.base_url
            )))
        }
    };
    let Some(id) = me.id else {
        bail!(
            "environment {}: Zendesk at {} does not accept the credentials of {} (users/me answered with an \
             anonymous user): check the email and the API token",
            env.name,
            env.base_url,
            env.email
        );
    };
    if me.role != "agent" && me.role != "admin" {
        bail!(
            "environment {}: {} is a Zendesk {:?}, not an agent: the AI seat needs an agent role to answer tickets",
            env.name,
            env.email,
            me.role
        );
    }
    Ok(Seat {
        id,
        name: me.name,
        email: me.email.unwrap_or_else(|| env.email.clone()),
        role: me.role,
    })
}
