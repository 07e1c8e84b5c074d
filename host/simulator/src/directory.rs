//! The account's brands, groups and group memberships (`GET /api/v2/brands`,
//! `/groups`, `/group_memberships`), which `zendesk-gateway setup` looks up and checks.
//!
//! Shapes follow Zendesk's OpenAPI description (`BrandObject`, `GroupObject`,
//! `GroupMembershipObject`).

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::common::{fmt_time, offset_page, ApiError};
use crate::config::{SimBrand, SimGroup};

/// The account's brands, groups and who is in which group.
pub(crate) struct Directory {
    brands: Vec<SimBrand>,
    groups: Vec<SimGroup>,
    /// (membership id, user id, group id), in creation order.
    memberships: Vec<(u64, u64, u64)>,
    created_at: DateTime<Utc>,
}

impl Directory {
    /// The directory of a new account; a seat restricted to some groups is a member of
    /// each of them.
    pub(crate) fn new(
        brands: Vec<SimBrand>,
        groups: Vec<SimGroup>,
        seat_id: u64,
        seat_group_ids: Option<&[u64]>,
        now: DateTime<Utc>,
    ) -> Directory {
        let mut memberships = Vec::new();
        let mut next_membership = 70_001;
        for g in &groups {
            for user in &g.member_ids {
                memberships.push((next_membership, *user, g.id));
                next_membership += 1;
            }
        }
        for gid in seat_group_ids.unwrap_or_default() {
            if !memberships
                .iter()
                .any(|(_, u, g)| *u == seat_id && g == gid)
            {
                memberships.push((next_membership, seat_id, *gid));
                next_membership += 1;
            }
        }
        Directory {
            brands,
            groups,
            memberships,
            created_at: now,
        }
    }

    /// `POST /api/v2/group_memberships` with `{"group_membership": {"user_id", "group_id"}}`
    /// -> 201 with the membership (an existing one is answered again, not duplicated).
    pub(crate) fn create_membership(
        &mut self,
        body: Option<&Value>,
        base: &str,
    ) -> Result<Value, ApiError> {
        let m = &body
            .and_then(|b| b.get("group_membership"))
            .cloned()
            .unwrap_or_default();
        let (Some(user), Some(group)) = (m["user_id"].as_u64(), m["group_id"].as_u64()) else {
            return Err(ApiError::BadRequest(
                "RecordInvalid",
                "group_membership needs user_id and group_id".to_string(),
            ));
        };
        if !self.groups.iter().any(|g| g.id == group) {
            return Err(ApiError::NotFound);
        }
        if !self
            .memberships
            .iter()
            .any(|(_, u, g)| *u == user && *g == group)
        {
            let id = self
                .memberships
                .iter()
                .map(|(i, _, _)| *i)
                .max()
                .unwrap_or(70_000)
                + 1;
            self.memberships.push((id, user, group));
        }
        let (id, _, _) = *self
            .memberships
            .iter()
            .find(|(_, u, g)| *u == user && *g == group)
            .expect("just added");
        Ok(json!({"group_membership": {
            "url": format!("{base}/api/v2/group_memberships/{id}.json"),
            "id": id, "user_id": user, "group_id": group,
            "created_at": fmt_time(self.created_at), "updated_at": fmt_time(self.created_at),
        }}))
    }

    /// Removes `user` from `group` (for tests: a seat that lost a membership).
    pub(crate) fn remove_membership(&mut self, user: u64, group: u64) {
        self.memberships
            .retain(|(_, u, g)| !(*u == user && *g == group));
    }

    /// Whether `user` is a member of `group`; `None` when the account has no such group.
    pub(crate) fn is_member(&self, user: u64, group: u64) -> Option<bool> {
        self.groups.iter().any(|g| g.id == group).then(|| {
            self.memberships
                .iter()
                .any(|(_, u, g)| *u == user && *g == group)
        })
    }

    /// The default (first) brand's subdomain.
    pub(crate) fn default_subdomain(&self) -> String {
        self.brands
            .first()
            .map_or_else(|| "example".to_string(), |b| b.subdomain.clone())
    }

    /// Whether a brand has this subdomain.
    pub(crate) fn has_subdomain(&self, sub: &str) -> bool {
        self.brands.iter().any(|b| b.subdomain == sub)
    }

    /// `GET /api/v2/brands`: every brand, sorted by name (as the OAS says).
    pub(crate) fn list_brands(&self, base: &str) -> Value {
        let mut brands: Vec<&SimBrand> = self.brands.iter().collect();
        brands.sort_by(|a, b| a.name.cmp(&b.name));
        let default_id = self.brands.first().map(|b| b.id);
        let list: Vec<Value> = brands
            .iter()
            .map(|b| {
                json!({
                    "url": format!("{base}/api/v2/brands/{}.json", b.id),
                    "id": b.id,
                    "name": b.name,
                    "brand_url": format!("https://{}.zendesk.com", b.subdomain),
                    "subdomain": b.subdomain,
                    "has_help_center": false,
                    "help_center_state": "disabled",
                    "active": true,
                    "default": Some(b.id) == default_id,
                    "is_deleted": false,
                    "ticket_form_ids": [],
                    "signature_template": "{{agent.signature}}",
                    "user_separation": "account",
                    "created_at": fmt_time(self.created_at),
                    "updated_at": fmt_time(self.created_at),
                })
            })
            .collect();
        let count = list.len();
        json!({"brands": list, "count": count, "next_page": null, "previous_page": null})
    }

    /// `GET /api/v2/groups`.
    pub(crate) fn list_groups(
        &self,
        query: &[(String, String)],
        base: &str,
    ) -> Result<Value, ApiError> {
        let groups: Vec<Value> = self
            .groups
            .iter()
            .map(|g| {
                json!({
                    "url": format!("{base}/api/v2/groups/{}.json", g.id),
                    "id": g.id,
                    "name": g.name,
                    "description": "",
                    "default": false,
                    "deleted": false,
                    "is_public": true,
                    "created_at": fmt_time(self.created_at),
                    "updated_at": fmt_time(self.created_at),
                })
            })
            .collect();
        offset_page(
            groups,
            "groups",
            query,
            &format!("{base}/api/v2/groups.json"),
        )
    }

    /// `GET /api/v2/group_memberships`, `/api/v2/users/{id}/group_memberships` and
    /// `/api/v2/groups/{id}/memberships`.
    pub(crate) fn list_memberships(
        &self,
        user: Option<u64>,
        group: Option<u64>,
        query: &[(String, String)],
        base: &str,
    ) -> Result<Value, ApiError> {
        let list: Vec<Value> = self
            .memberships
            .iter()
            .filter(|(_, u, g)| user.is_none_or(|x| x == *u) && group.is_none_or(|x| x == *g))
            .map(|(id, u, g)| {
                // The user's first membership is the default one.
                let default = self
                    .memberships
                    .iter()
                    .find(|(_, u2, _)| u2 == u)
                    .is_some_and(|(first, _, _)| first == id);
                json!({
                    "url": format!("{base}/api/v2/group_memberships/{id}.json"),
                    "id": id,
                    "user_id": u,
                    "group_id": g,
                    "default": default,
                    "created_at": fmt_time(self.created_at),
                    "updated_at": fmt_time(self.created_at),
                })
            })
            .collect();
        let path = match (user, group) {
            (Some(u), _) => format!("{base}/api/v2/users/{u}/group_memberships.json"),
            (None, Some(g)) => format!("{base}/api/v2/groups/{g}/memberships.json"),
            _ => format!("{base}/api/v2/group_memberships.json"),
        };
        offset_page(list, "group_memberships", query, &path)
    }
}
