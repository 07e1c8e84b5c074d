//! Zendesk environments at run time: each one's client and the AI seat it acts as,
//! verified with `users/me` when the gateway starts or the environment's settings change.

use crate::config::{Config, Environment};
use crate::store::quota::SharedQuota;
use crate::telemetry::Metrics;
use crate::zendesk::quota::FleetQuota;
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
    /// The Zendesk brand names its endpoints give (`zendesk_brand`), resolved to ids
    /// with `GET /api/v2/brands` at start and reload; keys are lower case. A name that
    /// could not be resolved is missing (with a warning), and its check is skipped.
    pub brand_ids: BTreeMap<String, u64>,
}

impl EnvironmentRuntime {
    /// The id of the Zendesk brand an endpoint names, if known: its `zendesk_brand_id`,
    /// or its `zendesk_brand` name as resolved.
    pub fn zendesk_brand_id(&self, brand: &crate::config::ZendeskBrand) -> Option<u64> {
        match brand {
            crate::config::ZendeskBrand::Id(id) => Some(*id),
            crate::config::ZendeskBrand::Name(name) => {
                self.brand_ids.get(&name.trim().to_lowercase()).copied()
            }
        }
    }
}

/// The brand names (lower case) the endpoints of environment `env` give.
fn brand_names(config: &Config, env: &str) -> Vec<String> {
    config
        .endpoints
        .values()
        .filter(|e| e.environment == env)
        .filter_map(|e| match &e.zendesk_brand {
            Some(crate::config::ZendeskBrand::Name(n)) => Some(n.trim().to_lowercase()),
            _ => None,
        })
        .collect()
}

/// Resolves brand `names` of an environment to ids (`GET /api/v2/brands`, every page).
/// What cannot be resolved (Zendesk unreachable, no such brand, two of that name) is
/// left out with a warning: the brand check of those endpoints is skipped, the gateway
/// still serves.
async fn resolve_brand_names(
    env: &str,
    client: &ZendeskClient,
    names: &[String],
) -> BTreeMap<String, u64> {
    let mut resolved = BTreeMap::new();
    if names.is_empty() {
        return resolved;
    }
    let mut brands: Vec<(String, u64)> = Vec::new();
    let mut next = Some("/api/v2/brands".to_string());
    // Accounts have a handful of brands; the bound only stops a misbehaving server.
    for _ in 0..20 {
        let Some(url) = next.take() else { break };
        match client.call_json(reqwest::Method::GET, &url, None).await {
            Ok(page) => {
                for b in page["brands"].as_array().into_iter().flatten() {
                    if let (Some(n), Some(id)) = (b["name"].as_str(), b["id"].as_u64()) {
                        brands.push((n.trim().to_lowercase(), id));
                    }
                }
                next = page["links"]["next"]
                    .as_str()
                    .or(page["next_page"].as_str())
                    .filter(|_| page["meta"]["has_more"].as_bool().unwrap_or(true))
                    .map(str::to_string);
            }
            Err(e) => {
                tracing::warn!(environment = env, call = "GET /api/v2/brands", error = %e,
                    "cannot resolve the Zendesk brand names of endpoints; their brand check is skipped until a reload");
                return resolved;
            }
        }
    }
    for name in names {
        let ids: Vec<u64> = brands
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, id)| *id)
            .collect();
        match ids.as_slice() {
            [id] => {
                resolved.insert(name.clone(), *id);
            }
            [] => tracing::warn!(environment = env, zendesk_brand = %name,
                "no Zendesk brand of that name; the brand check of its endpoints is skipped (give zendesk_brand_id)"),
            _ => tracing::warn!(environment = env, zendesk_brand = %name, ids = ?ids,
                "several Zendesk brands of that name; the brand check of its endpoints is skipped (give zendesk_brand_id)"),
        }
    }
    resolved
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
                && prev.config.requests_per_minute == env.requests_per_minute
                && prev.config.ticket_updates_per_minute == env.ticket_updates_per_minute;
            if same {
                let names = brand_names(config, name);
                if names.iter().all(|n| prev.brand_ids.contains_key(n)) {
                    environments.insert(name.clone(), prev.clone());
                } else {
                    // New or unresolved brand names: the same client and seat, asked again.
                    let brand_ids = resolve_brand_names(name, &prev.client, &names).await;
                    environments.insert(
                        name.clone(),
                        Arc::new(EnvironmentRuntime {
                            config: env.clone(),
                            client: prev.client.clone(),
                            seat: prev.seat.clone(),
                            brand_ids,
                        }),
                    );
                }
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
                // Zendesk's Update Ticket limit is the account's too: a bucket of its own.
                let updates = FleetQuota::new(
                    f.quota.clone(),
                    &crate::zendesk::quota::ticket_updates_account(&env.base_url),
                    env.ticket_updates_per_minute,
                    f.replicas,
                );
                ZendeskClient::with_quota(
                    env,
                    options.clone(),
                    metrics.clone(),
                    Arc::new(quota),
                    Arc::new(updates),
                )?
            }
            None => ZendeskClient::new(env, options.clone(), metrics.clone())?,
        };
        let seat = identify_seat(env, &client).await?;
        tracing::info!(environment = %name, seat_id = seat.id, seat = %seat.email, role = %seat.role,
            "Zendesk credentials verified");
        let brand_ids = resolve_brand_names(name, &client, &brand_names(config, name)).await;
        environments.insert(
            name.clone(),
            Arc::new(EnvironmentRuntime {
                config: env.clone(),
                client,
                seat,
                brand_ids,
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
