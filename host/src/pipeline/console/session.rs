//! Console sessions: the admin token, given once at sign-in, is exchanged for a random
//! session id in an `HttpOnly`, `SameSite=Strict` cookie. The id is kept server-side
//! (only its SHA-256) with an absolute expiry (`gateway.console_session_secs`) and a
//! per-session CSRF token that every form carries and every change is checked against.

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The session cookie's name.
pub const COOKIE: &str = "zgw_console";

/// Most sessions kept at once; signing in past that drops the oldest. Bounds what
/// anyone holding the token can make the gateway keep.
const MAX_SESSIONS: usize = 256;

/// A signed-in operator.
#[derive(Debug, Clone)]
pub struct Session {
    /// The name given at sign-in: who changed what, in the audit.
    pub operator: String,
    /// The token every form of this session carries.
    pub csrf: String,
    /// When the session ends, whatever happens.
    pub expires: Instant,
    /// When it began.
    pub started: Instant,
    /// A message for the next page shown (what the last action did).
    pub flash: Option<String>,
}

/// The sessions in force, by the SHA-256 of their id.
#[derive(Default)]
pub struct Sessions {
    map: Mutex<HashMap<[u8; 32], Session>>,
}

/// 32 random bytes as hex.
fn random_token() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

fn digest(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

impl Sessions {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Session>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts a session for `operator` lasting `lifetime`; returns its id (the cookie's
    /// value).
    pub fn create(&self, operator: String, lifetime: Duration) -> String {
        let id = random_token();
        let now = Instant::now();
        let mut map = self.map();
        map.retain(|_, s| s.expires > now);
        if map.len() >= MAX_SESSIONS {
            if let Some(oldest) = map.iter().min_by_key(|(_, s)| s.started).map(|(k, _)| *k) {
                map.remove(&oldest);
            }
        }
        map.insert(
            digest(&id),
            Session {
                operator,
                csrf: random_token(),
                expires: now + lifetime,
                started: now,
                flash: None,
            },
        );
        id
    }

    /// The session of `id`, if it is in force (an expired one is forgotten).
    pub fn get(&self, id: &str) -> Option<Session> {
        let key = digest(id);
        let mut map = self.map();
        match map.get(&key) {
            Some(s) if s.expires > Instant::now() => Some(s.clone()),
            Some(_) => {
                map.remove(&key);
                None
            }
            None => None,
        }
    }

    /// Takes the session's message for the page being shown.
    pub fn take_flash(&self, id: &str) -> Option<String> {
        self.map().get_mut(&digest(id)).and_then(|s| s.flash.take())
    }

    /// Leaves a message for the session's next page.
    pub fn flash(&self, id: &str, message: String) {
        if let Some(s) = self.map().get_mut(&digest(id)) {
            s.flash = Some(message);
        }
    }

    /// Ends a session.
    pub fn remove(&self, id: &str) {
        self.map().remove(&digest(id));
    }
}

/// The session id in a `Cookie` header, if any.
pub fn cookie_id(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_string())
}

/// The `Set-Cookie` value of a new session. `Secure` when the request reached the
/// gateway over HTTPS (a proxy in front says so); a cookie scoped to `/console`.
pub fn set_cookie(id: &str, lifetime: Duration, secure: bool) -> String {
    format!(
        "{COOKIE}={id}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={}{}",
        lifetime.as_secs(),
        if secure { "; Secure" } else { "" }
    )
}

/// The `Set-Cookie` value that removes the cookie.
pub fn clear_cookie() -> String {
    format!("{COOKIE}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// Whether two secrets are equal, in constant time.
pub fn same_secret(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Whether a state-changing request comes from the console's own pages: its `Origin`
/// (or, without one, `Sec-Fetch-Site`) must be this gateway. A request with neither
/// (a script, `curl`) still needs the session cookie and the CSRF token.
pub fn same_origin(headers: &axum::http::HeaderMap) -> bool {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(origin) = header("origin") {
        let Some(host) = header("host") else {
            return false;
        };
        let Some(origin_host) = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"))
        else {
            return false;
        };
        return origin_host.eq_ignore_ascii_case(host);
    }
    match header("sec-fetch-site") {
        Some(site) => site == "same-origin" || site == "none",
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderMap;

    #[test]
    fn sessions_expire_and_are_bounded() {
        let s = Sessions::default();
        let id = s.create("ana".into(), Duration::from_millis(30));
        assert_eq!(s.get(&id).unwrap().operator, "ana");
        assert!(s.get("not-an-id").is_none());
        std::thread::sleep(Duration::from_millis(40));
        assert!(s.get(&id).is_none(), "expired");
        let ids: Vec<String> = (0..MAX_SESSIONS + 5)
            .map(|_| s.create("x".into(), Duration::from_secs(60)))
            .collect();
        assert!(s.map().len() <= MAX_SESSIONS);
        assert!(s.get(ids.last().unwrap()).is_some());
        assert!(s.get(&ids[0]).is_none(), "the oldest was dropped");
    }

    #[test]
    fn origin_checks() {
        let mut h = HeaderMap::new();
        h.insert("host", "127.0.0.1:8080".parse().unwrap());
        assert!(same_origin(&h), "no browser headers: the token decides");
        h.insert("origin", "http://127.0.0.1:8080".parse().unwrap());
        assert!(same_origin(&h));
        h.insert("origin", "http://evil.example".parse().unwrap());
        assert!(!same_origin(&h));
        h.insert("origin", "null".parse().unwrap());
        assert!(!same_origin(&h));
        let mut h = HeaderMap::new();
        h.insert("sec-fetch-site", "cross-site".parse().unwrap());
        assert!(!same_origin(&h));
        let mut c = HeaderMap::new();
        c.insert("cookie", "a=b; zgw_console=abc; c=d".parse().unwrap());
        assert_eq!(cookie_id(&c).as_deref(), Some("abc"));
    }
}
