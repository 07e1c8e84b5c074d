//! Check 1b: whether the seat can update tickets in each group the brand's plugin may
//! assign to (`[brands.X].allowed_groups`).
//!
//! Zendesk decides which tickets an agent may see and update from its role:
//! - a custom role (Enterprise; the user's `custom_role_id`, read from
//!   `GET /api/v2/custom_roles`): `configuration.ticket_editing` (may it edit tickets at
//!   all) and `configuration.ticket_access` (`all`, `within-groups`,
//!   `within-groups-and-public-groups`, `within-organization`, `assigned-only`);
//! - otherwise the user's own `ticket_restriction` (`groups`, `assigned`,
//!   `organization`, or null for every ticket), and its `role_type` (1, a light agent,
//!   cannot edit tickets). An admin may update every ticket.
//!
//! "Within groups" means the groups the seat is a member of
//! (`GET /api/v2/users/{id}/group_memberships`), so a missing membership is fixed by
//! adding the seat to the group, which `--fix` does; the other limits need another role,
//! which only an admin can give in the Admin Center.

use super::{Fix, Level, Rows};
use crate::commands::setup::account::Seat;
use crate::commands::setup::api::Api;
use crate::commands::setup::plan::EnvironmentPlan;
use crate::config::Config;
use anyhow::Context;
use serde_json::Value;

/// What the seat's role lets it do with tickets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct TicketAccess {
    /// Whether it may edit tickets at all.
    editing: bool,
    /// Which tickets: `all`, `within-groups`, `within-groups-and-public-groups`,
    /// `within-organization`, `assigned-only` (custom roles' vocabulary).
    scope: String,
    /// Where that came from, for the rows: "custom role \"AI\" (id 7)", "role agent".
    source: String,
}

/// Reads the seat's access from its user object and, for a custom role, the account's
/// custom roles.
fn access_of(user: &Value, roles: Option<&[Value]>) -> Result<TicketAccess, String> {
    let role = user["role"].as_str().unwrap_or("unknown");
    if role == "admin" {
        return Ok(TicketAccess {
            editing: true,
            scope: "all".into(),
            source: "role admin".into(),
        });
    }
    if let Some(id) = user["custom_role_id"].as_u64() {
        let found = roles
            .into_iter()
            .flatten()
            .find(|r| r["id"].as_u64() == Some(id));
        let Some(r) = found else {
            return Err(format!(
                "the seat has custom role {id}, which GET /api/v2/custom_roles does not list"
            ));
        };
        let c = &r["configuration"];
        return Ok(TicketAccess {
            // Absent means Zendesk's default for agents: allowed.
            editing: c["ticket_editing"].as_bool().unwrap_or(true)
                && c["light_agent"].as_bool() != Some(true),
            scope: c["ticket_access"].as_str().unwrap_or("all").to_string(),
            source: format!(
                "custom role {:?} (id {id})",
                r["name"].as_str().unwrap_or("")
            ),
        });
    }
    let scope = match user["ticket_restriction"].as_str() {
        None => "all",
        Some("groups") => "within-groups",
        Some("assigned") => "assigned-only",
        Some("organization") => "within-organization",
        Some(other) => other,
    };
    Ok(TicketAccess {
        editing: user["role_type"].as_u64() != Some(1) && role == "agent",
        scope: scope.to_string(),
        source: format!("role {role}"),
    })
}

/// Why the seat cannot update tickets of a group (`None`: it can), and whether adding it
/// to the group fixes that.
fn refusal(access: &TicketAccess, member: bool, public: bool) -> Option<(String, bool)> {
    if !access.editing {
        return Some((
            format!("{} does not allow editing tickets", access.source),
            false,
        ));
    }
    match access.scope.as_str() {
        "all" => None,
        "within-groups" if member => None,
        "within-groups-and-public-groups" if member || public => None,
        "within-groups" | "within-groups-and-public-groups" => Some((
            format!(
                "{} gives access to tickets in the seat's groups only, and the seat is not a \
                 member",
                access.source
            ),
            true,
        )),
        "assigned-only" => Some((
            format!(
                "{} gives access to tickets assigned to the seat only",
                access.source
            ),
            false,
        )),
        "within-organization" => Some((
            format!(
                "{} gives access to tickets of the seat's organization only",
                access.source
            ),
            false,
        )),
        other => Some((
            format!("{} has ticket access {other:?}", access.source),
            false,
        )),
    }
}

/// One row per endpoint: ok, or a failure per group the seat cannot update tickets in,
/// naming the group and the fix.
pub(super) async fn check(
    config: &Config,
    api: &Api,
    plan: &EnvironmentPlan,
    seat: &Seat,
    rows: &mut Rows<'_>,
) -> anyhow::Result<()> {
    let me = api
        .get_as_seat("/api/v2/users/me")
        .await
        .context("reading the seat (users/me)")?;
    let user = &me["user"];
    let roles = match user["custom_role_id"].as_u64() {
        Some(_) => Some(
            api.get("/api/v2/custom_roles")
                .await
                .context("reading the custom roles (GET /api/v2/custom_roles)")?["custom_roles"]
                .as_array()
                .cloned()
                .unwrap_or_default(),
        ),
        None => None,
    };
    let access = match access_of(user, roles.as_deref()) {
        Ok(a) => a,
        Err(e) => {
            rows.push("-", "ticket access", Level::Failure, e, None);
            return Ok(());
        }
    };
    let groups = api
        .list("/api/v2/groups", "groups")
        .await
        .context("reading the groups")?;
    let member_of: Vec<u64> = api
        .list(
            &format!("/api/v2/users/{}/group_memberships", seat.id),
            "group_memberships",
        )
        .await
        .context("reading the seat's group memberships")?
        .iter()
        .filter_map(|m| m["group_id"].as_u64())
        .collect();
    for ep in &plan.endpoints {
        let name = &ep.endpoint.name;
        let brand = &ep.endpoint.brand;
        let allowed = config
            .brands
            .get(brand)
            .map(|b| b.allowed_groups.clone())
            .unwrap_or_default();
        let mut bad = 0;
        for gid in &allowed {
            let Some(g) = groups.iter().find(|g| g["id"].as_u64() == Some(*gid)) else {
                bad += 1;
                rows.push(
                    name,
                    "ticket access",
                    Level::Failure,
                    format!(
                        "brands.{brand}.allowed_groups names group {gid}, which environment {} \
                         does not have: the plugin's assignments to it are refused; fix the \
                         group id in the config",
                        plan.environment.name
                    ),
                    None,
                );
                continue;
            };
            let gname = g["name"].as_str().unwrap_or("");
            let member = member_of.contains(gid);
            let public = g["is_public"].as_bool().unwrap_or(true);
            if let Some((why, membership_fixes)) = refusal(&access, member, public) {
                bad += 1;
                let fix = if membership_fixes {
                    "fix: add the seat to the group (doctor --fix or setup --fix)".to_string()
                } else {
                    "fix: give the seat a role with ticket access \"All tickets\" that may edit \
                     tickets (Admin Center > People > Team > Roles)"
                        .to_string()
                };
                rows.push(
                    name,
                    "ticket access",
                    Level::Failure,
                    format!(
                        "the seat cannot update tickets in group {gname:?} (id {gid}), which \
                         brands.{brand}.allowed_groups lets the plugin assign to: {why}; \
                         Zendesk refuses those updates (403); {fix}"
                    ),
                    membership_fixes.then_some(Fix::AddSeatToGroup {
                        seat: seat.id,
                        group: *gid,
                    }),
                );
            }
        }
        if bad == 0 {
            let detail = if allowed.is_empty() {
                format!(
                    "{}: ticket access {}; brands.{brand}.allowed_groups is empty (the plugin \
                     assigns to no group)",
                    access.source, access.scope
                )
            } else {
                format!(
                    "{}: can update tickets in every group the plugin may assign to ({})",
                    access.source,
                    allowed
                        .iter()
                        .map(u64::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            rows.push(name, "ticket access", Level::Ok, detail, None);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn roles_and_restrictions_decide_which_groups_the_seat_can_update() {
        let roles = vec![json!({"id": 7, "name": "AI", "configuration":
            {"ticket_access": "within-groups", "ticket_editing": true}})];
        let custom = json!({"role": "agent", "custom_role_id": 7});
        let a = access_of(&custom, Some(&roles)).unwrap();
        assert_eq!(a.scope, "within-groups");
        assert!(refusal(&a, true, true).is_none());
        assert_eq!(refusal(&a, false, true).map(|r| r.1), Some(true));
        let missing = json!({"role": "agent", "custom_role_id": 8});
        assert!(access_of(&missing, Some(&roles)).is_err());
        let plain = json!({"role": "agent", "ticket_restriction": null});
        assert!(refusal(&access_of(&plain, None).unwrap(), false, true).is_none());
        let assigned = json!({"role": "agent", "ticket_restriction": "assigned"});
        let a = access_of(&assigned, None).unwrap();
        assert_eq!(refusal(&a, true, true).map(|r| r.1), Some(false));
        let light = json!({"role": "agent", "role_type": 1});
        assert!(refusal(&access_of(&light, None).unwrap(), true, true).is_some());
        let admin = json!({"role": "admin", "ticket_restriction": "assigned"});
        assert!(refusal(&access_of(&admin, None).unwrap(), false, true).is_none());
        let viewer = vec![json!({"id": 9, "name": "Viewer", "configuration":
            {"ticket_access": "all", "ticket_editing": false}})];
        let v = access_of(
            &json!({"role": "agent", "custom_role_id": 9}),
            Some(&viewer),
        )
        .unwrap();
        assert_eq!(refusal(&v, true, true).map(|r| r.1), Some(false));
    }
}
