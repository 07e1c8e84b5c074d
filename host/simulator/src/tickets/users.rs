//! Users and authentication: the seat's API-token header, `GET /api/v2/users/{id}`,
//! `users/me` (anonymous without credentials), and users added by tests.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};

use super::desk::{Desk, UserRec};
use crate::common::{fmt_time, now_secs};
use crate::config::SimUser;

impl Desk {
    /// The `Authorization` header value that authenticates as the seat.
    pub(crate) fn auth_header(&self) -> String {
        basic_header(&self.seat.email, &self.api_token)
    }

    /// The `Authorization` header value that authenticates as the administrator.
    pub(crate) fn admin_auth_header(&self) -> String {
        basic_header(&self.admin.email, &self.admin_api_token)
    }

    /// The user an `Authorization` header authenticates: the seat or the
    /// administrator, each with its own API token. Only API-token Basic auth is
    /// modelled; anything else (passwords, OAuth) authenticates no one.
    pub(crate) fn authenticate(&self, header: Option<&str>) -> Option<u64> {
        let encoded = header.and_then(|h| {
            let (scheme, rest) = h.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("basic").then_some(rest.trim())
        })?;
        let decoded = STANDARD
            .decode(encoded)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())?;
        let (login, token) = decoded.split_once(':')?;
        // Zendesk matches the email case-insensitively; the token exactly.
        [
            (&self.seat, &self.api_token),
            (&self.admin, &self.admin_api_token),
        ]
        .into_iter()
        .find(|(user, secret)| {
            login.eq_ignore_ascii_case(&format!("{}/token", user.email)) && token == secret.as_str()
        })
        .map(|(user, _)| user.id)
    }

    /// Whether a user is an administrator (webhooks, triggers and automations need one).
    pub(crate) fn is_admin(&self, id: u64) -> bool {
        self.users.get(&id).is_some_and(|u| u.user.role == "admin")
    }

    /// Adds (or replaces) a user.
    pub(crate) fn add_user(&mut self, user: SimUser) {
        let created_at = now_secs();
        self.users.insert(user.id, UserRec { user, created_at });
    }

    /// An id no user has yet.
    pub(crate) fn next_user_id(&self) -> u64 {
        self.users.keys().next_back().map_or(1, |id| id + 1)
    }

    /// Every user, in id order.
    pub(crate) fn users(&self) -> Vec<SimUser> {
        self.users.values().map(|u| u.user.clone()).collect()
    }

    /// The user as `GET /api/v2/users/{id}` shows it.
    pub(crate) fn user_json(&self, id: u64, base: &str) -> Option<Value> {
        let rec = self.users.get(&id)?;
        let u = &rec.user;
        let agent = u.role == "agent" || u.role == "admin";
        let is_seat = u.id == self.seat.id;
        let mut v = json!({
            "id": u.id,
            "url": format!("{base}/api/v2/users/{}.json", u.id),
            "name": u.name,
            "email": u.email,
            "created_at": fmt_time(rec.created_at),
            "updated_at": fmt_time(rec.created_at),
            "time_zone": "UTC",
            "iana_time_zone": "Etc/UTC",
            "phone": null,
            "shared_phone_number": null,
            "photo": null,
            "locale_id": 1,
            "locale": "en-US",
            "organization_id": null,
            "role": u.role,
            "verified": true,
            "external_id": null,
            "tags": [],
            "alias": "",
            "active": true,
            "shared": false,
            "shared_agent": false,
            "last_login_at": fmt_time(rec.created_at),
            "two_factor_auth_enabled": null,
            "signature": "",
            "details": "",
            "notes": "",
            "role_type": null,
            "custom_role_id": null,
            "moderator": agent,
            "ticket_restriction": if agent { Value::Null } else { json!("requested") },
            "only_private_comments": false,
            "restricted_agent": agent && u.role != "admin",
            "suspended": false,
            "report_csv": agent,
            "user_fields": {},
        });
        // A group-restricted seat reports it the way Zendesk does for such agents.
        if is_seat {
            if let Some(groups) = &self.seat_group_ids {
                v["ticket_restriction"] = json!("groups");
                if let Some(first) = groups.first() {
                    v["default_group_id"] = json!(first);
                }
            }
        }
        Some(v)
    }

    /// What `GET /api/v2/users/me` answers without valid credentials: Zendesk's
    /// anonymous user (200, `id` null, role `end-user`).
    pub(crate) fn anonymous_user_json() -> Value {
        json!({
            "id": null,
            "url": null,
            "name": "Anonymous user",
            "email": "invalid@example.com",
            "created_at": null,
            "updated_at": null,
            "time_zone": "UTC",
            "iana_time_zone": "Etc/UTC",
            "phone": null,
            "shared_phone_number": null,
            "photo": null,
            "locale_id": 1,
            "locale": "en-US",
            "organization_id": null,
            "role": "end-user",
            "verified": false,
        })
    }
}

/// `Basic base64("{email}/token:{token}")`.
fn basic_header(email: &str, token: &str) -> String {
    format!(
        "Basic {}",
        STANDARD.encode(format!("{email}/token:{token}"))
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SimulatorConfig;

    #[test]
    fn auth_accepts_the_seat_and_the_admin_each_with_its_token() {
        let desk = Desk::new(&SimulatorConfig::default(), now_secs());
        assert_eq!(desk.authenticate(Some(&desk.auth_header())), Some(9000));
        assert_eq!(
            desk.authenticate(Some(&desk.admin_auth_header())),
            Some(2002)
        );
        let wrong = format!(
            "Basic {}",
            STANDARD.encode("gladly-ai@example.com/token:nope")
        );
        assert_eq!(desk.authenticate(Some(&wrong)), None);
        let swapped = basic_header("gladly-ai@example.com", "sim-admin-token");
        assert_eq!(desk.authenticate(Some(&swapped)), None);
        assert_eq!(desk.authenticate(Some("Bearer sim-token")), None);
        assert_eq!(desk.authenticate(None), None);
    }
}
