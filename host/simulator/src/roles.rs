//! Custom agent roles (`GET /api/v2/custom_roles`, Zendesk Enterprise) and what they let
//! an agent do with tickets: `configuration.ticket_access` says which tickets the agent
//! may see and update, `configuration.ticket_editing` whether it may edit them at all.
//! A user with a role shows it the way Zendesk shows such agents (`custom_role_id`,
//! `role_type` 0, `restricted_agent`, and `ticket_restriction` derived from the access).
//!
//! Refusals are 403, as Zendesk answers an agent who may not touch a ticket
//! (`shared/zendesk-api.md`, "Errors"). Assumed where the docs are silent: a ticket
//! without a group is open to a group-restricted agent; an agent may move a ticket into
//! a group only if it may work in that group, unless the role has
//! `assign_tickets_to_any_group`.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::common::{ApiError, TicketFacts};
use crate::config::SimCustomRole;

/// The account's custom roles and which user has which.
pub(crate) struct Roles {
    roles: Vec<SimCustomRole>,
    /// user id -> custom role id.
    assigned: BTreeMap<u64, u64>,
}

impl Roles {
    /// The roles of a new account; `seat` has `seat_role` if set.
    pub(crate) fn new(roles: Vec<SimCustomRole>, seat: u64, seat_role: Option<u64>) -> Roles {
        let mut assigned = BTreeMap::new();
        if let Some(r) = seat_role {
            assigned.insert(seat, r);
        }
        Roles { roles, assigned }
    }

    /// Gives `user` the role `role` (added to the account if new), or none.
    pub(crate) fn set(&mut self, user: u64, role: Option<SimCustomRole>) {
        match role {
            Some(r) => {
                self.assigned.insert(user, r.id);
                self.roles.retain(|x| x.id != r.id);
                self.roles.push(r);
            }
            None => {
                self.assigned.remove(&user);
            }
        }
    }

    fn role_of(&self, user: u64) -> Option<&SimCustomRole> {
        let id = self.assigned.get(&user)?;
        self.roles.iter().find(|r| r.id == *id)
    }

    /// `GET /api/v2/custom_roles` (no paging in Zendesk: every role at once).
    pub(crate) fn list_json(&self) -> Value {
        let list: Vec<Value> = self
            .roles
            .iter()
            .map(|r| {
                json!({
                    "id": r.id,
                    "name": r.name,
                    "description": "",
                    "role_type": 0,
                    "team_member_count": self.assigned.values().filter(|x| **x == r.id).count(),
                    "created_at": "2024-01-01T00:00:00Z",
                    "updated_at": "2024-01-01T00:00:00Z",
                    "configuration": {
                        "ticket_access": r.ticket_access,
                        "ticket_editing": r.ticket_editing,
                        "assign_tickets_to_any_group": r.assign_tickets_to_any_group,
                        "ticket_comment_access": "public",
                        "ticket_tag_editing": r.ticket_editing,
                        "light_agent": false,
                        "chat_access": false,
                        "manage_business_rules": false,
                    },
                })
            })
            .collect();
        let count = list.len();
        json!({"custom_roles": list, "count": count, "next_page": null, "previous_page": null})
    }

    /// Shows `user`'s role on its user object, as Zendesk does for a custom-role agent.
    pub(crate) fn describe(&self, user: u64, v: &mut Value) {
        let Some(r) = self.role_of(user) else { return };
        v["custom_role_id"] = json!(r.id);
        v["role_type"] = json!(0);
        v["restricted_agent"] = json!(r.ticket_access != "all" || !r.ticket_editing);
        v["ticket_restriction"] = match r.ticket_access.as_str() {
            "within-groups" | "within-groups-and-public-groups" => json!("groups"),
            "assigned-only" => json!("assigned"),
            "within-organization" => json!("organization"),
            _ => Value::Null,
        };
    }

    /// Whether `user`'s role lets it work on tickets of `group` (`None`: no group).
    fn may_work_in(
        r: &SimCustomRole,
        user: u64,
        group: Option<u64>,
        assignee: Option<u64>,
        is_member: &dyn Fn(u64, u64) -> Option<bool>,
    ) -> bool {
        match r.ticket_access.as_str() {
            "all" => true,
            // Every simulated group is public (`is_public` true).
            "within-groups-and-public-groups" => true,
            "within-groups" => group.is_none_or(|g| is_member(user, g) != Some(false)),
            "assigned-only" => assignee == Some(user),
            _ => false,
        }
    }

    /// 403 unless `user` may make this update of ticket `t`: its role must allow ticket
    /// editing and cover the ticket's group, and the group the update moves it to
    /// (`new_group`), unless the role may assign to any group.
    pub(crate) fn check_update(
        &self,
        user: u64,
        t: &TicketFacts,
        new_group: Option<u64>,
        is_member: &dyn Fn(u64, u64) -> Option<bool>,
    ) -> Result<(), ApiError> {
        let Some(r) = self.role_of(user) else {
            return Ok(());
        };
        if !r.ticket_editing || !Self::may_work_in(r, user, t.group_id, t.assignee_id, is_member) {
            return Err(ApiError::Forbidden);
        }
        if let Some(g) = new_group.filter(|g| Some(*g) != t.group_id) {
            if !r.assign_tickets_to_any_group
                && !Self::may_work_in(r, user, Some(g), t.assignee_id, is_member)
            {
                return Err(ApiError::Forbidden);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket(group: Option<u64>) -> TicketFacts {
        TicketFacts {
            id: 1,
            subject: String::new(),
            status: "open".into(),
            brand_id: 1,
            assignee_id: None,
            group_id: group,
            requester_id: 1001,
            tags: Vec::new(),
            is_public: true,
            via_id: 0,
        }
    }

    #[test]
    fn a_group_restricted_role_refuses_updates_outside_its_groups() {
        let roles = Roles::new(
            vec![SimCustomRole::new(7, "AI", "within-groups")],
            9000,
            Some(7),
        );
        let member = |_u: u64, g: u64| Some(g == 10);
        assert!(roles
            .check_update(9000, &ticket(Some(10)), None, &member)
            .is_ok());
        assert!(matches!(
            roles.check_update(9000, &ticket(Some(12)), None, &member),
            Err(ApiError::Forbidden)
        ));
        // Moving a ticket into a group it is not in is refused too.
        assert!(roles
            .check_update(9000, &ticket(Some(10)), Some(12), &member)
            .is_err());
        // Users without a custom role are not restricted here.
        assert!(roles
            .check_update(2001, &ticket(Some(12)), None, &member)
            .is_ok());
        let mut me = json!({"id": 9000});
        roles.describe(9000, &mut me);
        assert_eq!(me["custom_role_id"], 7);
        assert_eq!(me["ticket_restriction"], "groups");
        assert_eq!(
            roles.list_json()["custom_roles"][0]["configuration"]["ticket_access"],
            "within-groups"
        );
    }

    #[test]
    fn a_role_without_ticket_editing_refuses_every_update() {
        let mut role = SimCustomRole::new(8, "Viewer", "all");
        role.ticket_editing = false;
        let roles = Roles::new(vec![role], 9000, Some(8));
        let member = |_u: u64, _g: u64| Some(true);
        assert!(roles
            .check_update(9000, &ticket(None), None, &member)
            .is_err());
    }
}
