//! What `setup` does in one Zendesk environment, computed from the config alone: each
//! endpoint's webhook URL, trigger brand and where its signing secret goes, or the config
//! error that stops setup before it changes anything. No I/O here.

use super::desired::notify_url;
use crate::config::{Config, Endpoint, Environment, ZendeskBrand};
use std::path::PathBuf;

/// Where an endpoint's signing secret goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretTarget {
    /// `signing_secret_file`: written there; the gateway verifies with it.
    ConfiguredFile(PathBuf),
    /// `signing_secret_env`: compared with the variable; written to `fallback` if it
    /// differs, for the operator to move into the variable.
    Variable {
        /// The environment variable's name.
        name: String,
        /// Where the secret is written when the variable holds another one.
        fallback: PathBuf,
    },
    /// Nothing configured: written to `path`; the endpoint needs
    /// `signing_secret_file = "<path>"` to verify signatures.
    Default(PathBuf),
}

impl SecretTarget {
    /// The file `setup` writes, whichever the case.
    pub fn file(&self) -> &std::path::Path {
        match self {
            SecretTarget::ConfiguredFile(p) => p,
            SecretTarget::Variable { fallback, .. } => fallback,
            SecretTarget::Default(p) => p,
        }
    }
}

/// The file a secret goes to when the endpoint names none:
/// `<data_dir>/secrets/<endpoint>.signing-secret`.
pub fn default_secret_path(config: &Config, endpoint: &str) -> PathBuf {
    config
        .gateway
        .data_dir
        .join("secrets")
        .join(format!("{endpoint}.signing-secret"))
}

/// One endpoint's part of the plan.
#[derive(Debug, Clone)]
pub struct EndpointPlan {
    /// The endpoint's config.
    pub endpoint: Endpoint,
    /// The webhook's URL, token included.
    pub url: String,
    /// The brand condition of its trigger (`None`: every ticket of the environment).
    pub brand: Option<ZendeskBrand>,
    /// Where its signing secret goes.
    pub secret: SecretTarget,
}

/// What `setup` does in one environment.
#[derive(Debug, Clone)]
pub struct EnvironmentPlan {
    /// The environment's config.
    pub environment: Environment,
    /// Its endpoints, by name.
    pub endpoints: Vec<EndpointPlan>,
}

/// Plans one environment, or says (naming the file and key) what the config lacks.
pub fn plan_environment(config: &Config, env_name: &str) -> Result<EnvironmentPlan, String> {
    let file = config.source.display();
    let environment = config
        .environments
        .get(env_name)
        .ok_or_else(|| format!("{file}: no environment named {env_name:?}"))?
        .clone();
    let endpoints: Vec<&Endpoint> = config
        .endpoints
        .values()
        .filter(|e| e.environment == env_name)
        .collect();
    if endpoints.is_empty() {
        return Err(format!(
            "{file}: environments.{env_name}: no endpoint uses this environment, so there is nothing to set up"
        ));
    }
    let base = environment.public_base_url.clone().ok_or_else(|| {
        format!(
            "{file}: environments.{env_name}.public_base_url: setup needs the gateway's URL as Zendesk \
             reaches it (e.g. public_base_url = \"https://gateway.example.com\") to point the webhooks at it"
        )
    })?;
    // Without a brand condition a trigger fires for every ticket of the account; two
    // such endpoints would each get every ticket, so that is only right for one.
    let unbranded: Vec<&str> = endpoints
        .iter()
        .filter(|e| e.zendesk_brand.is_none())
        .map(|e| e.name.as_str())
        .collect();
    if endpoints.len() > 1 && !unbranded.is_empty() {
        return Err(format!(
            "{file}: endpoints.{}: {} endpoints notify environment {env_name:?}, so each needs \
             zendesk_brand = \"<brand name>\" or zendesk_brand_id = <id> for its trigger's \
             \"brand is\" condition (missing on: {})",
            unbranded[0],
            endpoints.len(),
            unbranded.join(", ")
        ));
    }
    let plans = endpoints
        .into_iter()
        .map(|e| {
            let secret = match (&e.signing_secret_file, &e.signing_secret_env) {
                (Some(f), _) => SecretTarget::ConfiguredFile(f.clone()),
                (None, Some(v)) => SecretTarget::Variable {
                    name: v.clone(),
                    fallback: default_secret_path(config, &e.name),
                },
                (None, None) => SecretTarget::Default(default_secret_path(config, &e.name)),
            };
            EndpointPlan {
                url: notify_url(&base, e.token.expose()),
                brand: e.zendesk_brand.clone(),
                secret,
                endpoint: e.clone(),
            }
        })
        .collect();
    Ok(EnvironmentPlan {
        environment,
        endpoints: plans,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const CONFIG: &str = r#"
[gateway]
data_dir = "/var/lib/gw"
[environments.prod]
base_url = "https://acme.zendesk.com"
email = "ai@acme.com"
api_token_env = "T"
public_base_url = "https://gw.acme.com/"
[brands.retail]
plugin = "r.wasm"
mode = "live"
[brands.kids]
plugin = "k.wasm"
mode = "live"
[endpoints.retail-prod]
brand = "retail"
environment = "prod"
token = "retail-token-0123456789abcdefgh"
signing_secret_file = "secrets/retail"
zendesk_brand = "Acme Retail"
[endpoints.kids-prod]
brand = "kids"
environment = "prod"
token = "kids-token-0123456789abcdefghij"
signing_secret_env = "KIDS_SECRET"
zendesk_brand_id = 42
"#;

    fn load(text: &str) -> Config {
        Config::parse_with(
            text,
            Path::new("/etc/gw/gateway.toml"),
            &|n| (n == "T").then(|| "tok".to_string()),
            crate::config::LoadOptions {
                signing_secrets_may_be_missing: true,
            },
        )
        .unwrap()
    }

    #[test]
    fn plans_urls_brands_and_secret_places() {
        let config = load(CONFIG);
        let plan = plan_environment(&config, "prod").unwrap();
        let kids = &plan.endpoints[0];
        assert_eq!(kids.endpoint.name, "kids-prod");
        assert_eq!(
            kids.url,
            "https://gw.acme.com/notify/kids-token-0123456789abcdefghij"
        );
        assert_eq!(kids.brand, Some(ZendeskBrand::Id(42)));
        assert_eq!(
            kids.secret,
            SecretTarget::Variable {
                name: "KIDS_SECRET".into(),
                fallback: PathBuf::from("/var/lib/gw/secrets/kids-prod.signing-secret"),
            }
        );
        let retail = &plan.endpoints[1];
        assert_eq!(retail.brand, Some(ZendeskBrand::Name("Acme Retail".into())));
        assert_eq!(
            retail.secret,
            SecretTarget::ConfiguredFile(PathBuf::from("/etc/gw/secrets/retail"))
        );
    }

    #[test]
    fn missing_keys_are_config_errors() {
        let no_url = CONFIG.replace("public_base_url = \"https://gw.acme.com/\"\n", "");
        let e = plan_environment(&load(&no_url), "prod").unwrap_err();
        assert!(
            e.starts_with("/etc/gw/gateway.toml: environments.prod.public_base_url:"),
            "{e}"
        );
        let no_brand = CONFIG.replace("zendesk_brand = \"Acme Retail\"\n", "");
        let e = plan_environment(&load(&no_brand), "prod").unwrap_err();
        assert!(
            e.contains("endpoints.retail-prod") && e.contains("zendesk_brand"),
            "{e}"
        );
        // One endpoint without a brand is the shared case: no brand condition.
        let single = no_brand
            .split("[endpoints.kids-prod]")
            .next()
            .unwrap()
            .to_string();
        let plan = plan_environment(&load(&single), "prod").unwrap();
        assert_eq!(plan.endpoints[0].brand, None);
    }
}
