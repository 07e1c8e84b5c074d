//! `zendesk-gateway check`: validate a config file and load (and probe) every brand's
//! plugin with the engine policy `serve` would use, without serving or calling Zendesk.

use crate::config::Config;

/// Checks the config at `path`; fails when it is invalid or a plugin does not load.
pub fn run(path: &std::path::Path) -> anyhow::Result<()> {
    let config = Config::load(path)?;
    let engine =
        crate::runtime::PluginEngine::new(&crate::runtime::EnginePolicy::for_config(&config))?;
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
    for warning in brand_warnings(&config) {
        println!("warning: {warning}");
    }
    if failures > 0 {
        anyhow::bail!("{}: {failures} plugin(s) failed to load", path.display());
    }
    println!("{}: OK", path.display());
    Ok(())
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
