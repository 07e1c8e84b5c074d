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
        let raw = format!("{}/token:{}", self.seat.email, self.api_token);
        format!("Basic {}", STANDARD.encode(raw))
    }

    /// Whether an `Authorization` header authenticates the seat. Only API-token
    /// Basic auth is modelled; anything else (passwords, OAuth) is refused.
    pub(crate) fn authenticates(&self, header: Option<&str>) -> bool {
        let Some(encoded) = header.and_then(|h| {
            let (scheme, rest) = h.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("basic").then_some(rest.trim())
        }) else {
            return false;
        };
        let Some(decoded) = STANDARD
            .decode(encoded)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
        else {
            return false;
        };
        let Some((login, token)) = decoded.split_once(':') else {
            return false;
        };
        // Zendesk matches the email case-insensitively; the token exactly.
        let expected_login = format!("{}/token", self.seat.email);
        login.eq_ignore_ascii_case(&expected_login) && token == self.api_token
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SimulatorConfig;

    #[test]
    fn auth_accepts_only_the_seat_token() {
        let desk = Desk::new(&SimulatorConfig::default(), now_secs());
        assert!(desk.authenticates(Some(&desk.auth_header())));
        let wrong = format!(
            "Basic {}",
            STANDARD.encode("gladly-ai@example.com/token:nope")
        );
        assert!(!desk.authenticates(Some(&wrong)));
        assert!(!desk.authenticates(Some("Bearer sim-token")));
        assert!(!desk.authenticates(None));
    }
}
