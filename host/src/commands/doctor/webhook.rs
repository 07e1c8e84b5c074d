//! Checks 2, 3 and 7: the endpoint's webhook (found by setup's name, compared with
//! setup's wanted webhook), its signing secret against the one the gateway verifies
//! with, its invocations of the last 24 hours and the circuit breaker, and a live
//! delivery test through Zendesk's "Test Webhook" API.

use super::{Fix, Level, Rows};
use crate::commands::setup::api::Api;
use crate::commands::setup::desired;
use crate::commands::setup::plan::{EndpointPlan, SecretTarget};
use crate::commands::setup::signing_secret;
use crate::config::Config;
use crate::pipeline::ingress::PROBE_FIELD;
use serde_json::{json, Value};

/// The endpoint's webhook, as the later checks need it.
pub(super) struct Hook {
    /// Its id.
    pub(super) id: String,
    /// Its invocations in the last 24 hours (of the newest 100).
    pub(super) invocations_24h: usize,
}

/// The webhook, if it exists.
pub(super) async fn check(
    config: &Config,
    api: &Api,
    ep: &EndpointPlan,
    webhooks: &[Value],
    rows: &mut Rows<'_>,
) -> anyhow::Result<Option<Hook>> {
    let name = &ep.endpoint.name;
    let wname = desired::webhook_name(name);
    let Some(hook) = webhooks.iter().find(|w| w["name"].as_str() == Some(&wname)) else {
        rows.push(
            name,
            "webhook",
            Level::Failure,
            format!("no webhook {wname:?}: run setup"),
            None,
        );
        return Ok(None);
    };
    let id = hook["id"].as_str().unwrap_or_default().to_string();
    if hook["status"].as_str() != Some("active") {
        rows.push(
            name,
            "webhook",
            Level::Failure,
            format!("webhook {wname:?} ({id}) is {}: Zendesk sends it nothing; fix: doctor --fix activates it", hook["status"]),
            Some(Fix::ActivateWebhook { webhook: id.clone() }),
        );
    } else if hook["endpoint"].as_str() != Some(ep.url.as_str()) {
        let shown = api.mask(hook["endpoint"].as_str().unwrap_or(""));
        rows.push(
            name,
            "webhook",
            Level::Failure,
            format!(
                "webhook {wname:?} ({id}) points at {shown}, not at this endpoint's public URL {}: \
                 check public_base_url, then run setup",
                api.mask(&ep.url)
            ),
            None,
        );
    } else {
        rows.push(
            name,
            "webhook",
            Level::Ok,
            format!("{wname:?} ({id}) active, points at the public URL"),
            None,
        );
    }
    secret(config, api, ep, &id, rows).await?;
    let invocations_24h = deliveries(api, name, &id, rows).await?;
    Ok(Some(Hook {
        id,
        invocations_24h,
    }))
}

/// The signing secret Zendesk signs with against the one the gateway verifies with, by
/// where the endpoint reads it. The secret itself is never printed.
async fn secret(
    config: &Config,
    api: &Api,
    ep: &EndpointPlan,
    id: &str,
    rows: &mut Rows<'_>,
) -> anyhow::Result<()> {
    let name = &ep.endpoint.name;
    let answer = api
        .get(&format!("/api/v2/webhooks/{id}/signing_secret"))
        .await?;
    let zendesk = answer["signing_secret"]["secret"]
        .as_str()
        .unwrap_or_default();
    let ours = ep
        .endpoint
        .signing_secret
        .as_ref()
        .map(|s| s.expose().trim().to_string());
    if ours.as_deref() == Some(zendesk) {
        rows.push(name, "signing secret", Level::Ok, "matches Zendesk's", None);
        return Ok(());
    }
    let to_file = |replaces_env: Option<String>| Fix::SecretToFile {
        webhook: id.to_string(),
        endpoint: name.clone(),
        file: ep.secret.file().to_path_buf(),
        config: config.source.clone(),
        replaces_env,
    };
    let shown = signing_secret::relative_to_config(config, ep.secret.file());
    match (&ep.secret, ours) {
        (SecretTarget::ConfiguredFile(f), Some(_)) => rows.push(
            name,
            "signing secret",
            Level::Failure,
            format!(
                "the gateway verifies with another secret ({}) than webhook {id}'s (rotated?): \
                 every notification is refused 401; fix: doctor --fix writes Zendesk's secret \
                 there (the gateway watches the file)",
                f.display()
            ),
            Some(Fix::ResyncSecret {
                webhook: id.to_string(),
                file: f.clone(),
            }),
        ),
        (SecretTarget::ConfiguredFile(f), None) => rows.push(
            name,
            "signing secret",
            Level::Failure,
            format!(
                "signing_secret_file {} is missing or empty: the gateway does not start (or \
                 refuses every notification); fix: doctor --fix writes webhook {id}'s secret there",
                f.display()
            ),
            Some(Fix::ResyncSecret {
                webhook: id.to_string(),
                file: f.clone(),
            }),
        ),
        (SecretTarget::Variable { name: var, .. }, Some(_)) => rows.push(
            name,
            "signing secret",
            Level::Failure,
            format!(
                "the gateway verifies with ${var} (signing_secret_env), which holds another \
                 secret than webhook {id}'s (rotated?): every notification is refused 401. The \
                 gateway cannot change its own environment, so either let doctor --fix move the \
                 secret into signing_secret_file = {shown:?} (it writes the file from Zendesk \
                 and replaces signing_secret_env in [endpoints.{name}] of {}; the gateway \
                 watches both and reloads without a restart), or set {var} where the gateway's \
                 environment is defined and restart it, e.g. \
                 {var}=\"$(zendesk-gateway doctor --config {} --print-signing-secret {name})\"",
                config.source.display(),
                config.source.display()
            ),
            Some(to_file(Some(var.clone()))),
        ),
        (SecretTarget::Variable { name: var, .. }, None) => rows.push(
            name,
            "signing secret",
            Level::Warning,
            format!(
                "${var} (signing_secret_env) is not set where doctor runs, so its secret could \
                 not be compared with webhook {id}'s (the live test shows whether the gateway \
                 verifies); run doctor with the gateway's environment (doctor --fix does not \
                 change a secret it could not compare)"
            ),
            None,
        ),
        (SecretTarget::Default(_), _) => rows.push(
            name,
            "signing secret",
            Level::Warning,
            format!(
                "the endpoint has no signing secret: anyone who learns its URL can notify it; \
                 fix: doctor --fix writes webhook {id}'s secret to {shown:?} and adds \
                 signing_secret_file to [endpoints.{name}]"
            ),
            Some(to_file(None)),
        ),
    }
    Ok(())
}

/// Check 3: the invocations of the last 24 hours, and the breaker (an invocation that
/// Zendesk dropped as `circuit_broken` newest means the webhook is paused).
async fn deliveries(api: &Api, name: &str, id: &str, rows: &mut Rows<'_>) -> anyhow::Result<usize> {
    let page = api
        .get(&format!("/api/v2/webhooks/{id}/invocations?page[size]=100"))
        .await?;
    let since = chrono::Utc::now() - chrono::Duration::hours(24);
    let recent: Vec<&Value> = page["invocations"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| {
            i["created_at"]
                .as_str()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .is_none_or(|t| t >= since)
        })
        .collect();
    let count = |s: &str| recent.iter().filter(|i| i["status"] == s).count();
    let (ok, failed, broken) = (count("success"), count("failed"), count("circuit_broken"));
    let summary = format!(
        "last 24 h (up to 100): {} invocations, {ok} success, {failed} failed, {broken} circuit_broken",
        recent.len()
    );
    if recent
        .first()
        .is_some_and(|i| i["status"] == "circuit_broken")
    {
        rows.push(
            name,
            "breaker",
            Level::Failure,
            format!(
                "{summary}; the circuit breaker is open: Zendesk paused the webhook after too \
                 many failures and drops notifications (the sweep catches up); fix what failed, \
                 Zendesk resumes after its next successful try"
            ),
            None,
        );
    } else {
        rows.push(name, "breaker", Level::Ok, "closed", None);
    }
    let failures: Vec<String> = recent
        .iter()
        .filter(|i| i["status"] == "failed")
        .take(3)
        .map(|i| {
            format!(
                "{} at {}",
                i["latest_status"],
                i["latest_completed_at"].as_str().unwrap_or("?")
            )
        })
        .collect();
    if failures.is_empty() {
        rows.push(name, "deliveries", Level::Ok, summary, None);
    } else {
        rows.push(
            name,
            "deliveries",
            Level::Warning,
            format!("{summary}; last failures: {}", failures.join(", ")),
            None,
        );
    }
    Ok(recent.len())
}

/// Check 7: Zendesk's "Test Webhook" sends a probe (see `PROBE_FIELD`), signed with the
/// webhook's secret, to the endpoint; this gateway must answer it 200 as a probe.
pub(super) async fn probe(
    api: &Api,
    ep: &EndpointPlan,
    id: &str,
    rows: &mut Rows<'_>,
) -> anyhow::Result<()> {
    let name = &ep.endpoint.name;
    let nonce = format!("doctor-{}", chrono::Utc::now().timestamp_millis());
    let body = json!({PROBE_FIELD: nonce}).to_string();
    let answer = api
        .post_check(
            &format!("/api/v2/webhooks/test?webhook_id={id}"),
            json!({"webhook_id": id, "request": {"body": body}}),
        )
        .await?;
    let r = &answer["response"];
    let url = api.mask(&ep.url);
    let status = r["status"].as_u64();
    let text = r["body"].as_str().unwrap_or_default();
    let ours = serde_json::from_str::<Value>(text)
        .ok()
        .is_some_and(|v| v["probe"] == "ok" && v[PROBE_FIELD] == nonce.as_str());
    match status {
        None => rows.push(
            name,
            "live test",
            Level::Failure,
            format!(
                "Zendesk could not reach {url}: {}; check that the gateway is reachable from the \
                 internet at public_base_url",
                r["error"].as_str().unwrap_or("no answer")
            ),
            None,
        ),
        Some(200..=299) if ours => rows.push(
            name,
            "live test",
            Level::Ok,
            format!("Zendesk reached {url}, signature verified, answered {}", status.unwrap_or(0)),
            None,
        ),
        Some(401) => rows.push(
            name,
            "live test",
            Level::Failure,
            format!("{url} answered 401: the signature did not verify ({text}); re-sync the signing secret"),
            None,
        ),
        Some(s) => rows.push(
            name,
            "live test",
            Level::Failure,
            format!(
                "{url} answered {s}{}: {}",
                if ours { "" } else { " and not as this gateway answers a probe" },
                text.chars().take(200).collect::<String>()
            ),
            None,
        ),
    }
    Ok(())
}
