//! Finding `setup`'s objects by name, comparing them with the wanted ones, and creating
//! or updating them (through [`Api`], which in a dry run records the writes instead).

use super::api::Api;
use super::plan::EndpointPlan;
use super::report::{EnvironmentReport, ObjectReport, Outcome};
use super::{compare, desired};
use anyhow::anyhow;
use serde_json::{json, Value};

/// The one object of `kind` named `name` in `list`, if any; two are an error (setup
/// could not tell which one it manages).
fn find_one<'a>(
    list: &'a [Value],
    key: &str,
    name: &str,
    kind: &str,
) -> anyhow::Result<Option<&'a Value>> {
    let found: Vec<&Value> = list
        .iter()
        .filter(|o| o[key].as_str() == Some(name))
        .collect();
    match found.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one)),
        many => Err(anyhow!(
            "{} {kind}s are named {name:?} (ids {}); delete all but one, then run setup again",
            many.len(),
            many.iter()
                .map(|o| o["id"].to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// Creates or updates the endpoint's webhook; returns its id (`None` in a dry run that
/// would create it).
pub(super) async fn ensure_webhook(
    api: &mut Api,
    ep: &EndpointPlan,
    existing: &[Value],
    report: &mut EnvironmentReport,
) -> anyhow::Result<Option<String>> {
    let name = desired::webhook_name(&ep.endpoint.name);
    let desired = desired::desired_webhook(&ep.endpoint.name, &ep.url);
    let (outcome, id) = match find_one(existing, "name", &name, "webhook")? {
        None => {
            let answer = api
                .write("POST", "/api/v2/webhooks", json!({ "webhook": desired }))
                .await?;
            match answer {
                Some(v) => {
                    let id = v["webhook"]["id"]
                        .as_str()
                        .ok_or_else(|| {
                            anyhow!("Zendesk created the webhook but answered no id: {v}")
                        })?
                        .to_string();
                    (Outcome::Created, Some(id))
                }
                None => (Outcome::WouldCreate, None),
            }
        }
        Some(w) => {
            let id = w["id"]
                .as_str()
                .ok_or_else(|| anyhow!("the webhook has no id: {w}"))?
                .to_string();
            if compare::webhook_differs(w, &desired) {
                // Zendesk answers a webhook update with 204 and no body.
                api.write(
                    "PUT",
                    &format!("/api/v2/webhooks/{id}"),
                    json!({ "webhook": desired }),
                )
                .await?;
                let outcome = if api.dry_run() {
                    Outcome::WouldUpdate
                } else {
                    Outcome::Updated
                };
                (outcome, Some(id))
            } else {
                (Outcome::Unchanged, Some(id))
            }
        }
    };
    report.objects.push(ObjectReport {
        kind: "webhook",
        name: format!("{name:?} -> {}", api.mask(&ep.url)),
        outcome,
        id: id.clone(),
    });
    Ok(id)
}

/// Creates or updates a trigger or automation found by title.
pub(super) async fn ensure_rule(
    api: &mut Api,
    kind: &'static str,
    existing: &[Value],
    desired: Value,
    report: &mut EnvironmentReport,
) -> anyhow::Result<()> {
    ensure_rule_renamed(api, kind, existing, desired, &[], report).await
}

/// [`ensure_rule`], also finding the rule under the titles earlier versions gave it
/// (`formerly`): such a rule is updated, which renames it, instead of a second one
/// being created beside it.
pub(super) async fn ensure_rule_renamed(
    api: &mut Api,
    kind: &'static str,
    existing: &[Value],
    desired: Value,
    formerly: &[&str],
    report: &mut EnvironmentReport,
) -> anyhow::Result<()> {
    let title = desired["title"].as_str().unwrap_or_default().to_string();
    let collection = format!("/api/v2/{kind}s");
    let mut found = find_one(existing, "title", &title, kind)?;
    let mut renamed = false;
    for old in formerly {
        if found.is_none() {
            found = find_one(existing, "title", old, kind)?;
            renamed = found.is_some();
        }
    }
    let (outcome, id) = match found {
        None => match api
            .write("POST", &collection, json!({ kind: desired }))
            .await?
        {
            Some(v) => (
                Outcome::Created,
                v[kind]["id"].as_u64().map(|i| i.to_string()),
            ),
            None => (Outcome::WouldCreate, None),
        },
        Some(found) => {
            let id = found["id"]
                .as_u64()
                .ok_or_else(|| anyhow!("the {kind} has no id: {found}"))?;
            if renamed || compare::rule_differs(found, &desired) {
                // Conditions and actions are replaced together (Zendesk's update
                // clears both when either is sent), so both always go.
                api.write(
                    "PUT",
                    &format!("{collection}/{id}"),
                    json!({ kind: desired }),
                )
                .await?;
                let outcome = if api.dry_run() {
                    Outcome::WouldUpdate
                } else {
                    Outcome::Updated
                };
                (outcome, Some(id.to_string()))
            } else {
                (Outcome::Unchanged, Some(id.to_string()))
            }
        }
    };
    report.objects.push(ObjectReport {
        kind,
        name: format!("{title:?}"),
        outcome,
        id,
    });
    Ok(())
}
