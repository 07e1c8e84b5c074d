//! Zendesk environments at run time: each one's client and the AI seat it acts as,
//! verified with `users/me` when the gateway starts or the environment's settings change.

use crate::config::{Config, Environment};
use crate::store::quota::SharedQuota;
use crate::telemetry::Metrics;
use crate::zendesk::quota::FleetQuota;
use crate::zendesk::{ClientOptions, Seat, ZendeskClient};
use anyhow::{bail, Context};
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

/// The Zendesk quota a fleet shares, when the database is shared.
#[derive(Clone)]
pub(super) struct FleetShare {
    /// The account buckets.
    pub(super) quota: Arc<dyn SharedQuota>,
    /// Replicas alive at start (this one included): the fallback's divisor.
    pub(super) replicas: usize,
}

/// A client and verified seat for every environment an endpoint uses, reusing the
/// previous ones when an environment's settings are unchanged. With `fleet`, each
/// client takes its requests from the account's bucket in the shared database.
pub(super) async fn connect_environments(
    config: &Config,
    previous: &BTreeMap<String, Arc<EnvironmentRuntime>>,
    options: &ClientOptions,
    metrics: &Arc<Metrics>,
    fleet: Option<&FleetShare>,
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
                && prev.config.requests_per_minute == env.requests_per_minute;
            if same {
                environments.insert(name.clone(), prev.clone());
                continue;
            }
        }
        let client = match fleet {
            Some(f) => {
                let quota = FleetQuota::new(
                    f.quota.clone(),
                    &env.base_url,
                    env.requests_per_minute,
                    f.replicas,
                );
                ZendeskClient::with_quota(env, options.clone(), metrics.clone(), Arc::new(quota))?
            }
            None => ZendeskClient::new(env, options.clone(), metrics.clone())?,
        };
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

/// Asks Zendesk who the credentials belong to. `users/me` answers wrong credentials
/// with an anonymous user rather than 401, so the id and role must be checked: bad
/// credentials or a seat that is not an agent stop with a message that says what to fix.
pub async fn identify_seat(env: &Environment, client: &ZendeskClient) -> anyhow::Result<Seat> {
    let me = client.me().await.with_context(|| {
        format!(
            "environment {}: cannot reach Zendesk at {} to verify the AI seat",
            env.name, env.base_url
        )
    })?;
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
