//! What each brand's plugin can use of its Zendesk account, per environment: the custom
//! fields its config names (resolved to the environment's field ids) and its business
//! hours schedule. Read at start and on every config reload (`GET
//! /api/v2/ticket_fields`, `/ticket_forms`, `/business_hours/schedules`), only for the
//! environments whose brands need them; an unknown field or schedule stops start-up, or
//! refuses the reload, with a message naming the brand and the key.

use super::environments::EnvironmentRuntime;
use crate::capabilities::fields::{BrandFields, FieldCatalog};
use crate::capabilities::hours::BusinessHours;
use crate::capabilities::BrandAccount;
use crate::config::{Config, ScheduleRef};
use crate::zendesk::account::Schedule;
use anyhow::{anyhow, Context};
use std::collections::BTreeMap;
use std::sync::Arc;

/// (brand, environment) -> what the brand's runs in that environment may use.
pub type Accounts = BTreeMap<(String, String), Arc<BrandAccount>>;

/// Reads the account facts the config's brands need and resolves each brand's.
pub(super) async fn load_accounts(
    config: &Config,
    environments: &BTreeMap<String, Arc<EnvironmentRuntime>>,
) -> anyhow::Result<Accounts> {
    let mut out = Accounts::new();
    for (env_name, env) in environments {
        let brands: Vec<&crate::config::Brand> = config
            .brands
            .values()
            .filter(|b| {
                config
                    .endpoints
                    .values()
                    .any(|e| &e.environment == env_name && e.brand == b.name)
            })
            .collect();
        let needs_fields = brands.iter().any(|b| !b.fields.is_empty());
        let needs_schedules = brands.iter().any(|b| b.schedule.is_some());
        if !needs_fields && !needs_schedules {
            continue;
        }
        let catalog = if needs_fields {
            let fields = env.client.ticket_fields().await.with_context(|| {
                format!("environment {env_name}: cannot read the ticket fields the brands' [fields] name")
            })?;
            Arc::new(FieldCatalog::new(fields, Vec::new()))
        } else {
            Arc::default()
        };
        let schedules = if needs_schedules {
            env.client.schedules().await.with_context(|| {
                format!("environment {env_name}: cannot read the business hours schedules the brands name")
            })?
        } else {
            Vec::new()
        };
        for b in brands {
            let account = brand_account(b, catalog.clone(), &schedules)
                .map_err(|e| anyhow!("{}: environment {env_name}: {e}", config.source.display()))?;
            out.insert((b.name.clone(), env_name.clone()), Arc::new(account));
        }
    }
    Ok(out)
}

/// What `brand`'s runs may use of an account with these fields and schedules: its
/// `[fields]` resolved by name, its `schedule` found. The error names the key.
pub fn brand_account(
    brand: &crate::config::Brand,
    catalog: Arc<FieldCatalog>,
    schedules: &[Schedule],
) -> Result<BrandAccount, String> {
    let fields = BrandFields::resolve(brand, &catalog)?;
    let hours = match &brand.schedule {
        None => None,
        Some(r) => Some(
            resolve_schedule(r, schedules)
                .and_then(BusinessHours::new)
                .map_err(|e| format!("brands.{}.schedule: {e}", brand.name))?,
        ),
    };
    Ok(BrandAccount {
        catalog,
        fields,
        hours,
    })
}

/// The schedule a brand names, among the environment's.
pub fn resolve_schedule<'a>(
    r: &ScheduleRef,
    schedules: &'a [Schedule],
) -> Result<&'a Schedule, String> {
    let found = match r {
        ScheduleRef::Id(id) => schedules.iter().find(|s| s.id == *id),
        ScheduleRef::Name(n) => schedules
            .iter()
            .find(|s| s.name.trim().eq_ignore_ascii_case(n.trim())),
    };
    found.ok_or_else(|| {
        let known: Vec<String> = schedules
            .iter()
            .map(|s| format!("{:?} (id {})", s.name, s.id))
            .collect();
        format!(
            "no business hours schedule {r} in Zendesk (known: {})",
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        )
    })
}
