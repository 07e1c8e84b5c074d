//! What `setup` reads of the account besides its own objects, and the checks the setup
//! guide asks for: the seat (`users/me`: real, an agent, able to reply), the groups it
//! is not a member of, "Notify requester" triggers without the API condition, and the
//! brands the endpoints' triggers filter on.

use super::api::Api;
use super::compare;
use super::plan::EnvironmentPlan;
use super::report::EnvironmentReport;
use crate::config::{Config, Environment, ZendeskBrand};
use anyhow::{anyhow, Context};
use serde_json::Value;

/// The seat as `users/me` describes it.
pub(crate) struct Seat {
    pub(crate) id: u64,
    pub(crate) email: String,
}

/// `users/me` of the seat: the credentials must belong to a real user (Zendesk answers
/// wrong ones with 401, and no usable ones with the anonymous user), and the guide wants
/// the seat to be an agent or admin that can write public replies. When setup acts as
/// an administrator, that user is checked to be one.
pub(crate) async fn check_seat(
    api: &Api,
    env: &Environment,
    report: &mut EnvironmentReport,
) -> anyhow::Result<Seat> {
    let me = api
        .get_as_seat("/api/v2/users/me")
        .await
        .context("reading the seat (users/me)")?;
    let user = &me["user"];
    let Some(id) = user["id"].as_u64() else {
        anyhow::bail!(
            "Zendesk does not accept the credentials of environments.{} ({}): users/me answered \
             the anonymous user; check the email and API token",
            env.name,
            env.email
        );
    };
    let role = user["role"].as_str().unwrap_or("unknown");
    let name = user["name"].as_str().unwrap_or("");
    let email = user["email"].as_str().unwrap_or(&env.email).to_string();
    report.seat = Some(format!("{name} <{email}>, id {id}, role {role}"));
    if role != "agent" && role != "admin" {
        report.warnings.push(format!(
            "the seat's role is {role:?}: the setup guide wants an agent (or admin) seat; an \
             end-user cannot be assigned tickets or write replies"
        ));
    }
    // Zendesk's role types: 1 light agent, 2 chat-only agent, 3 contributor.
    if let Some(rt @ 1..=3) = user["role_type"].as_u64() {
        let what = ["", "a light agent", "a chat-only agent", "a contributor"][rt as usize];
        report.warnings.push(format!(
            "the seat is {what} (role_type {rt}): it cannot write public replies; the setup \
             guide wants a full agent seat"
        ));
    }
    if api.acting().admin {
        let admin = api
            .get("/api/v2/users/me")
            .await
            .context("reading the administrator setup acts as (users/me)")?;
        let role = admin["user"]["role"].as_str().unwrap_or("unknown");
        report.seat = Some(format!(
            "{}; setup acts as {} (role {role})",
            report.seat.take().unwrap_or_default(),
            api.acting().email
        ));
        if role != "admin" {
            report.warnings.push(format!(
                "admin_email {} is a Zendesk {role:?}, not an admin: creating webhooks, triggers \
                 and automations is refused unless its custom role allows it",
                api.acting().email
            ));
        }
    }
    Ok(Seat { id, email })
}

/// Checks every condition of the triggers setup is about to write against what the
/// account accepts (`GET /api/v2/triggers/definitions`): a field or operator the account
/// does not offer would be refused, or worse, saved and never hold. Fails naming them.
pub(super) async fn check_definitions(api: &Api, triggers: &[Value]) -> anyhow::Result<()> {
    let defs = api
        .get("/api/v2/triggers/definitions")
        .await
        .context("reading the trigger definitions")?;
    let mut missing = Vec::new();
    for t in triggers {
        for (list, offered) in [("all", "conditions_all"), ("any", "conditions_any")] {
            for c in t["conditions"][list].as_array().into_iter().flatten() {
                let field = c["field"].as_str().unwrap_or_default();
                let op = c["operator"].as_str().unwrap_or_default();
                let def = defs["definitions"][offered]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|d| d["subject"].as_str() == Some(field));
                let ok = def.is_some_and(|d| {
                    d["operators"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|o| o["value"].as_str() == Some(op))
                });
                if !ok {
                    let what = format!("{field} {op} (in {list})");
                    if !missing.contains(&what) {
                        missing.push(what);
                    }
                }
            }
        }
    }
    if !missing.is_empty() {
        anyhow::bail!(
            "this account's trigger definitions (GET /api/v2/triggers/definitions) do not offer \
             the condition(s) {}: the trigger would be refused or never fire; nothing was written \
             (see docs/setup.md to set the trigger up by hand)",
            missing.join(", ")
        );
    }
    Ok(())
}

/// Groups the seat is not a member of: Zendesk does not let it be assigned their tickets
/// (and, if its access is limited to its groups, it cannot read them). Returns them
/// (id, name), for `doctor --fix` to add the seat to.
pub(crate) async fn check_groups(
    api: &Api,
    seat: &Seat,
    report: &mut EnvironmentReport,
) -> anyhow::Result<Vec<(u64, String)>> {
    let mut missing = Vec::new();
    let groups = api
        .list("/api/v2/groups", "groups")
        .await
        .context("reading the groups")?;
    let memberships = api
        .list(
            &format!("/api/v2/users/{}/group_memberships", seat.id),
            "group_memberships",
        )
        .await
        .context("reading the seat's group memberships")?;
    let member_of: Vec<u64> = memberships
        .iter()
        .filter_map(|m| m["group_id"].as_u64())
        .collect();
    for g in &groups {
        if g["deleted"].as_bool() == Some(true) {
            continue;
        }
        let Some(id) = g["id"].as_u64() else { continue };
        if !member_of.contains(&id) {
            missing.push((id, g["name"].as_str().unwrap_or("").to_string()));
            report.warnings.push(format!(
                "the seat is not a member of group {:?} (id {id}): Zendesk will not let it be \
                 assigned that group's tickets, and a seat restricted to its groups cannot read them",
                g["name"].as_str().unwrap_or("")
            ));
        }
    }
    Ok(missing)
}

/// Warns about each active "Notify requester" trigger that would also notify customers
/// of the gateway's own updates.
pub(super) fn check_notify_requester(triggers: &[Value], report: &mut EnvironmentReport) {
    for t in triggers {
        if compare::is_active_notify_requester(t) && !compare::has_not_api_condition(t) {
            report.warnings.push(format!(
                "trigger {:?} (id {}) lacks the condition \"Channel is not Web Service (API)\" \
                 ({{\"field\": \"current_via_id\", \"operator\": \"is_not\", \"value\": \"5\"}}) \
                 that the setup guide adds to Notify requester triggers; add it in Admin Center > \
                 Objects and rules > Triggers (setup does not change triggers it did not create)",
                t["title"].as_str().unwrap_or(""),
                t["id"]
            ));
        }
    }
}

/// The brand id of each endpoint's trigger condition, in plan order: a configured id is
/// checked against the account's brands, a name is looked up (`GET /api/v2/brands`).
pub(crate) async fn resolve_brands(
    api: &Api,
    config: &Config,
    plan: &EnvironmentPlan,
) -> anyhow::Result<Vec<Option<u64>>> {
    if plan.endpoints.iter().all(|e| e.brand.is_none()) {
        return Ok(vec![None; plan.endpoints.len()]);
    }
    let brands = api
        .list("/api/v2/brands", "brands")
        .await
        .context("reading the brands")?;
    let known = || {
        brands
            .iter()
            .map(|b| format!("{:?} (id {})", b["name"].as_str().unwrap_or(""), b["id"]))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let file = config.source.display();
    plan.endpoints
        .iter()
        .map(|e| match &e.brand {
            None => Ok(None),
            Some(ZendeskBrand::Id(id)) => {
                if brands.iter().any(|b| b["id"].as_u64() == Some(*id)) {
                    Ok(Some(*id))
                } else {
                    Err(anyhow!(
                        "{file}: endpoints.{}.zendesk_brand_id: environment {} has no brand with id {id} (known: {})",
                        e.endpoint.name,
                        plan.environment.name,
                        known()
                    ))
                }
            }
            Some(ZendeskBrand::Name(name)) => {
                let found: Vec<u64> = brands
                    .iter()
                    .filter(|b| {
                        b["name"]
                            .as_str()
                            .is_some_and(|n| n.trim().eq_ignore_ascii_case(name.trim()))
                    })
                    .filter_map(|b| b["id"].as_u64())
                    .collect();
                match found.as_slice() {
                    [id] => Ok(Some(*id)),
                    [] => Err(anyhow!(
                        "{file}: endpoints.{}.zendesk_brand: environment {} has no brand named {name:?} (known: {})",
                        e.endpoint.name,
                        plan.environment.name,
                        known()
                    )),
                    ids => Err(anyhow!(
                        "{file}: endpoints.{}.zendesk_brand: environment {} has {} brands named {name:?} (ids {ids:?}); give zendesk_brand_id instead",
                        e.endpoint.name,
                        plan.environment.name,
                        ids.len()
                    )),
                }
            }
        })
        .collect()
}

/// The fields Zendesk requires to solve a brand's tickets that the AI cannot fill, per
/// brand of this environment, as warnings with how to fix each (the setup guide's
/// "required fields may prevent the AI from solving tickets", checked instead of
/// warned about). A failure to read the fields is a warning too: setup's own objects
/// do not depend on them.
pub(super) async fn check_required_fields(
    api: &Api,
    config: &Config,
    plan: &EnvironmentPlan,
    brand_ids: &[Option<u64>],
    report: &mut EnvironmentReport,
) {
    match required_field_warnings(api, config, plan, brand_ids).await {
        Ok(problems) => report.warnings.extend(problems),
        Err(why) => report.warnings.push(why),
    }
}

/// The fields required to solve that the AI cannot fill, one sentence with its fix per
/// field and brand of this environment (`brand_ids` in plan order, as
/// [`resolve_brands`] gives them); `Err` says why the fields could not be read. Used by
/// setup and by doctor.
pub(crate) async fn required_field_warnings(
    api: &Api,
    config: &Config,
    plan: &EnvironmentPlan,
    brand_ids: &[Option<u64>],
) -> Result<Vec<String>, String> {
    use crate::capabilities::fields::{required_field_problems, FieldCatalog};
    fn parse<T: serde::de::DeserializeOwned>(items: Vec<Value>) -> Vec<T> {
        items
            .into_iter()
            .filter_map(|v| serde_json::from_value(v).ok())
            .collect()
    }
    let fields = api.list("/api/v2/ticket_fields", "ticket_fields").await;
    let forms = api.list("/api/v2/ticket_forms", "ticket_forms").await;
    let (fields, forms) = match (fields, forms) {
        (Ok(f), Ok(o)) => (parse(f), parse(o)),
        (Err(e), _) | (_, Err(e)) => {
            return Err(format!(
                "cannot read the ticket fields and forms to check the fields required to solve: {e:#}"
            ));
        }
    };
    let catalog = FieldCatalog::new(fields, forms);
    let mut problems = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for (ep, brand_id) in plan.endpoints.iter().zip(brand_ids) {
        if !seen.insert(ep.endpoint.brand.clone()) {
            continue;
        }
        let Some(brand) = config.brands.get(&ep.endpoint.brand) else {
            continue;
        };
        problems.extend(required_field_problems(&catalog, brand, *brand_id));
    }
    Ok(problems)
}
