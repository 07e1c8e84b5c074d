//! `zendesk-gateway check`: validate a config file and load (and probe) every brand's
//! plugin with the engine policy `serve` would use, without serving or calling Zendesk.
//! With `--online` it also reads each environment's ticket fields, forms and business
//! hours schedules and reports, per brand, what would bite at run time: field names
//! and schedules Zendesk does not know, and fields required to solve that the AI cannot
//! fill (with how to fix each).

use crate::capabilities::fields::{required_field_problems, BrandFields, FieldCatalog};
use crate::config::{Config, ZendeskBrand};
use std::sync::Arc;

/// Checks the config at `path`; fails when it is invalid, a plugin does not load, or
/// (with `online`) Zendesk's account would refuse what a brand needs.
pub async fn run(path: &std::path::Path, online: bool) -> anyhow::Result<()> {
    let config = Config::load(path)?;
    let mut failures = offline(&config)?;
    let mut problems = 0;
    if online {
        problems = check_online(&config).await;
    }
    if failures > 0 {
        anyhow::bail!("{}: {failures} plugin(s) failed to load", path.display());
    }
    if problems > 0 {
        failures += problems;
        anyhow::bail!(
            "{}: {failures} problem(s) found in Zendesk (see above)",
            path.display()
        );
    }
    println!("{}: OK", path.display());
    Ok(())
}

/// The offline part: plugins load and probe; endpoints listed. Returns the failures.
fn offline(config: &Config) -> anyhow::Result<usize> {
    let engine =
        crate::runtime::PluginEngine::new(&crate::runtime::EnginePolicy::for_config(config))?;
    let loader = crate::runtime::plugin::PluginLoader::new(engine.engine().clone());
    let mut failures = 0;
    for (name, brand) in &config.brands {
        let probed = loader.load_file(name, &brand.plugin).and_then(|p| {
            crate::runtime::run::probe(&p, &std::sync::Arc::new(brand.clone()))?;
            Ok(p)
        });
        match probed {
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
    for warning in brand_warnings(config) {
        println!("warning: {warning}");
    }
    Ok(failures)
}

/// Reads every environment's fields, forms and schedules; prints and counts the problems.
async fn check_online(config: &Config) -> usize {
    let mut problems = 0;
    for (env_name, env) in &config.environments {
        let endpoints: Vec<_> = config
            .endpoints
            .values()
            .filter(|e| &e.environment == env_name)
            .collect();
        if endpoints.is_empty() {
            continue;
        }
        let mut problem = |text: String| {
            problems += 1;
            println!("environment {env_name}: {text}");
        };
        let client = match crate::zendesk::ZendeskClient::new(
            env,
            crate::zendesk::ClientOptions::default(),
            Arc::new(crate::telemetry::metrics::Metrics::default()),
        ) {
            Ok(c) => c,
            Err(e) => {
                problem(format!("cannot build the Zendesk client: {e:#}"));
                continue;
            }
        };
        let fields = client.ticket_fields().await;
        let forms = client.ticket_forms().await;
        let (fields, forms) = match (fields, forms) {
            (Ok(f), Ok(o)) => (f, o),
            (Err(e), _) | (_, Err(e)) => {
                problem(format!("cannot read the ticket fields and forms: {e}"));
                continue;
            }
        };
        let catalog = FieldCatalog::new(fields, forms);
        let needs_schedules = endpoints
            .iter()
            .any(|e| config.brands[&e.brand].schedule.is_some());
        let schedules = if needs_schedules {
            match client.schedules().await {
                Ok(s) => s,
                Err(e) => {
                    problem(format!("cannot read the business hours schedules: {e}"));
                    Vec::new()
                }
            }
        } else {
            Vec::new()
        };
        let mut seen = std::collections::BTreeSet::new();
        for ep in &endpoints {
            if !seen.insert(ep.brand.clone()) {
                continue;
            }
            let brand = &config.brands[&ep.brand];
            let brand_id = match &ep.zendesk_brand {
                Some(ZendeskBrand::Id(id)) => Some(*id),
                _ => None,
            };
            if let Err(e) = BrandFields::resolve(brand, &catalog) {
                problem(e);
            }
            if let Some(r) = &brand.schedule {
                match crate::gateway::resolve_schedule(r, &schedules)
                    .and_then(crate::capabilities::hours::BusinessHours::new)
                {
                    Ok(h) => println!(
                        "environment {env_name}: brand {}: business hours {:?} ({})",
                        brand.name, h.name, h.time_zone
                    ),
                    Err(e) => problem(format!("brands.{}.schedule: {e}", brand.name)),
                }
            }
            let found = required_field_problems(&catalog, brand, brand_id);
            if found.is_empty() {
                println!(
                    "environment {env_name}: brand {}: every field required to solve has a value the AI can give",
                    brand.name
                );
            }
            for p in found {
                problem(p);
            }
        }
    }
    problems
}

/// Endpoints that do not name their Zendesk brand in an environment with several
/// endpoints: their runs cannot check that a ticket is of the brand they serve, so a
/// misrouted trigger or a leaked URL would run the wrong brand's plugin in its mode.
pub fn brand_warnings(config: &Config) -> Vec<String> {
    config
        .endpoints
        .values()
        .filter(|e| e.zendesk_brand.is_none())
        .filter(|e| {
            config
                .endpoints
                .values()
                .filter(|o| o.environment == e.environment)
                .count()
                > 1
        })
        .map(|e| {
            format!(
                "endpoints.{}: environment {} has several endpoints, but this one names no Zendesk brand: \
                 set zendesk_brand or zendesk_brand_id, so that tickets of other brands are skipped",
                e.name, e.environment
            )
        })
        .collect()
}
