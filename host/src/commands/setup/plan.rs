//! What `setup` wants to exist in one Zendesk environment, computed from the config alone:
//! the names it finds its objects by, their JSON exactly as `shared/zendesk-api.md`
//! ("Setting Zendesk up through its API") gives it, and how an existing object is
//! compared with the wanted one. No I/O here, so all of it is unit-tested.

use crate::config::{Config, Endpoint, Environment, ZendeskBrand};
use serde_json::{json, Value};
use std::path::PathBuf;

/// The body Zendesk's trigger posts: the ticket id, as the gateway's ingress expects.
pub const WEBHOOK_BODY: &str = "{\"id\": {{ticket.id}}}";

/// Title of the failsafe automation (one per environment: it is about the seat).
pub const AUTOMATION_TITLE: &str = "AI seat failsafe: unassign after 1 hour";

/// Via id of "Web Service (API)" (Zendesk's via types reference): the channel of every
/// update the gateway makes.
pub const VIA_API: &str = "5";

/// The name `setup` gives, and finds, the webhook of an endpoint.
pub fn webhook_name(endpoint: &str) -> String {
    format!("Zendesk Gateway {endpoint}")
}

/// The title `setup` gives, and finds, the trigger of an endpoint (the setup guide's
/// "Notify ... of Ticket Change").
pub fn trigger_title(endpoint: &str) -> String {
    format!("Notify {endpoint} of Ticket Change")
}

/// `<public_base_url>/notify/<token>`: where Zendesk posts an endpoint's notifications.
pub fn notify_url(public_base_url: &str, token: &str) -> String {
    format!("{}/notify/{token}", public_base_url.trim_end_matches('/'))
}

/// The webhook of an endpoint (the object inside `{"webhook": ...}`).
pub fn desired_webhook(endpoint: &str, url: &str) -> Value {
    json!({
        "name": webhook_name(endpoint),
        "status": "active",
        "endpoint": url,
        "http_method": "POST",
        "request_format": "json",
        "subscriptions": ["conditional_ticket_events"],
    })
}

/// The trigger of an endpoint (inside `{"trigger": ...}`): when a ticket of the brand
/// is created or updated with a public comment, not received at the seat's address and
/// not made through the API, post `{"id": <ticket id>}` to the webhook.
///
/// `current_via_id is_not 5` keeps the gateway's own updates (made through the API)
/// from notifying it again: each would cost a run and Zendesk quota only for the loop
/// guard to skip it. Condition values are strings, as Zendesk stores and answers them,
/// so the comparison on the next run finds them equal.
pub fn desired_trigger(
    endpoint: &str,
    webhook_id: &str,
    brand_id: Option<u64>,
    seat_email: &str,
) -> Value {
    let mut all = Vec::new();
    if let Some(b) = brand_id {
        all.push(json!({"field": "brand_id", "operator": "is", "value": b.to_string()}));
    }
    all.push(json!({"field": "comment_is_public", "operator": "is", "value": "true"}));
    all.push(json!({"field": "recipient", "operator": "is_not", "value": seat_email}));
    all.push(json!({"field": "current_via_id", "operator": "is_not", "value": VIA_API}));
    json!({
        "title": trigger_title(endpoint),
        "active": true,
        "conditions": {
            "all": all,
            "any": [
                {"field": "update_type", "operator": "is", "value": "Create"},
                {"field": "update_type", "operator": "is", "value": "Change"},
            ],
        },
        "actions": [
            {"field": "notification_webhook", "value": [webhook_id, WEBHOOK_BODY]},
        ],
    })
}

/// The failsafe automation (inside `{"automation": ...}`): a ticket still assigned to
/// the seat, unsolved, an hour after it was assigned, is unassigned, so it reaches
/// humans even if the gateway is down. The action undoes the first condition, so it
/// fires once per ticket, not every hour.
pub fn desired_automation(seat_id: u64) -> Value {
    json!({
        "title": AUTOMATION_TITLE,
        "active": true,
        "conditions": {
            "all": [
                {"field": "assignee_id", "operator": "is", "value": seat_id.to_string()},
                {"field": "status", "operator": "less_than", "value": "solved"},
                {"field": "assigned_at", "operator": "greater_than", "value": "1"},
            ],
            "any": [],
        },
        "actions": [{"field": "assignee_id", "value": ""}],
    })
}

/// A value as Zendesk answers it: numbers and booleans as strings, lists item by item.
fn canonical_value(v: &Value) -> Value {
    match v {
        Value::Number(n) => Value::String(n.to_string()),
        Value::Bool(b) => Value::String(b.to_string()),
        Value::Array(items) => Value::Array(items.iter().map(canonical_value).collect()),
        Value::Null => Value::String(String::new()),
        other => other.clone(),
    }
}

/// A list of conditions or actions as a sorted list of canonical strings: Zendesk may
/// reorder them and answers values as strings, neither of which is a difference.
fn canonical_list(list: Option<&Value>, keys: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = list
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|item| {
            let parts: Vec<Value> = keys
                .iter()
                .map(|k| canonical_value(item.get(*k).unwrap_or(&Value::Null)))
                .collect();
            Value::Array(parts).to_string()
        })
        .collect();
    out.sort();
    out
}

/// Conditions of a rule, from `conditions.all|any` or the legacy top-level `all|any`.
fn conditions<'a>(rule: &'a Value, which: &str) -> Option<&'a Value> {
    rule.get("conditions")
        .and_then(|c| c.get(which))
        .or_else(|| rule.get(which))
}

/// Whether an existing trigger or automation differs from the wanted one in what
/// `setup` manages: title, active, conditions and actions (position, category and
/// description are left to the admin).
pub fn rule_differs(existing: &Value, desired: &Value) -> bool {
    let cond = ["field", "operator", "value"];
    let act = ["field", "value"];
    existing.get("title") != desired.get("title")
        || existing
            .get("active")
            .and_then(Value::as_bool)
            .unwrap_or(true)
            != desired
                .get("active")
                .and_then(Value::as_bool)
                .unwrap_or(true)
        || canonical_list(conditions(existing, "all"), &cond)
            != canonical_list(conditions(desired, "all"), &cond)
        || canonical_list(conditions(existing, "any"), &cond)
            != canonical_list(conditions(desired, "any"), &cond)
        || canonical_list(existing.get("actions"), &act)
            != canonical_list(desired.get("actions"), &act)
}

/// Whether an existing webhook differs from the wanted one in a field `setup` sets.
pub fn webhook_differs(existing: &Value, desired: &Value) -> bool {
    let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    let subscriptions = |v: &Value| {
        let mut s: Vec<String> = v
            .get("subscriptions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect();
        s.sort();
        s
    };
    [
        "name",
        "status",
        "endpoint",
        "http_method",
        "request_format",
    ]
    .iter()
    .any(|k| text(existing, k) != text(desired, k))
        || subscriptions(existing) != subscriptions(desired)
}

/// Whether a trigger is one of the account's "Notify requester ..." triggers the setup
/// guide asks to restrict, and active.
pub fn is_active_notify_requester(trigger: &Value) -> bool {
    trigger
        .get("title")
        .and_then(Value::as_str)
        .is_some_and(|t| t.to_ascii_lowercase().starts_with("notify requester"))
        && trigger
            .get("active")
            .and_then(Value::as_bool)
            .unwrap_or(true)
}

/// Whether a trigger has the guide's "Channel is not Web Service (API)" condition:
/// `{"field": "current_via_id", "operator": "is_not", "value": "5"}` in `all`.
pub fn has_not_api_condition(trigger: &Value) -> bool {
    conditions(trigger, "all")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|c| {
            c.get("field").and_then(Value::as_str) == Some("current_via_id")
                && c.get("operator").and_then(Value::as_str) == Some("is_not")
                && canonical_value(c.get("value").unwrap_or(&Value::Null)) == json!(VIA_API)
        })
}

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

    #[test]
    fn trigger_and_automation_are_the_documented_json() {
        let t = desired_trigger("retail-prod", "01HWEBHOOK", Some(360_001), "ai@acme.com");
        assert_eq!(
            t,
            json!({
                "title": "Notify retail-prod of Ticket Change",
                "active": true,
                "conditions": {
                    "all": [
                        {"field": "brand_id", "operator": "is", "value": "360001"},
                        {"field": "comment_is_public", "operator": "is", "value": "true"},
                        {"field": "recipient", "operator": "is_not", "value": "ai@acme.com"},
                        {"field": "current_via_id", "operator": "is_not", "value": "5"}
                    ],
                    "any": [
                        {"field": "update_type", "operator": "is", "value": "Create"},
                        {"field": "update_type", "operator": "is", "value": "Change"}
                    ]
                },
                "actions": [{"field": "notification_webhook",
                             "value": ["01HWEBHOOK", "{\"id\": {{ticket.id}}}"]}]
            })
        );
        let shared = desired_trigger("all", "W", None, "ai@acme.com");
        assert!(!shared.to_string().contains("brand_id"));
        let a = desired_automation(9000);
        assert_eq!(a["conditions"]["all"][0]["value"], "9000");
        assert_eq!(a["conditions"]["all"][2]["field"], "assigned_at");
        assert_eq!(a["actions"], json!([{"field": "assignee_id", "value": ""}]));
    }

    #[test]
    fn comparison_ignores_order_value_types_and_unmanaged_fields() {
        let desired = desired_trigger("x", "W", Some(7), "ai@x");
        let mut existing = desired.clone();
        existing["id"] = json!(12);
        existing["position"] = json!(40);
        existing["conditions"]["all"][0]["value"] = json!(7);
        existing["conditions"]["any"]
            .as_array_mut()
            .unwrap()
            .reverse();
        assert!(!rule_differs(&existing, &desired));
        existing["conditions"]["all"].as_array_mut().unwrap().pop();
        assert!(rule_differs(&existing, &desired));
        let mut inactive = desired.clone();
        inactive["active"] = json!(false);
        assert!(rule_differs(&inactive, &desired));
        let other_hook = desired_trigger("x", "W2", Some(7), "ai@x");
        assert!(rule_differs(&other_hook, &desired));

        let w = desired_webhook("x", "https://gw/notify/t");
        let mut seen = w.clone();
        seen["id"] = json!("01H");
        seen["created_at"] = json!("2024-01-01T00:00:00Z");
        assert!(!webhook_differs(&seen, &w));
        seen["endpoint"] = json!("https://old/notify/t");
        assert!(webhook_differs(&seen, &w));
    }

    #[test]
    fn notify_requester_check_finds_the_api_condition() {
        let with = json!({"title": "Notify requester and CCs of comment update", "active": true,
            "conditions": {"all": [{"field": "current_via_id", "operator": "is_not", "value": 5}]}});
        let without = json!({"title": "Notify requester and CCs of received request",
            "conditions": {"all": [{"field": "update_type", "operator": "is", "value": "Create"}]}});
        assert!(is_active_notify_requester(&with) && has_not_api_condition(&with));
        assert!(is_active_notify_requester(&without) && !has_not_api_condition(&without));
        assert!(!is_active_notify_requester(
            &json!({"title": "Notify requester", "active": false})
        ));
        assert!(!is_active_notify_requester(
            &json!({"title": "Notify retail of Ticket Change"})
        ));
    }

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
