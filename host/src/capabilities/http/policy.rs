//! What a plugin's outbound request may do, decided in one place with its own tests:
//! which origin it is for, whether it is sent at all (the per-run budget, Listening
//! Mode), which resolved addresses it may connect to, and what of it reaches the audit
//! trail. Pure functions over the brand's [`HttpConfig`]; the sending is in
//! [`super`].
//!
//! The origin is taken from the request's URI, never from a header (Spin's
//! CVE-2024-32980 let a `Host` header choose where a request went); the addresses are
//! checked after resolution, at connect time, so a name that rebinds to 127.0.0.1 does
//! not reach inside.

use crate::config::{DryRun, HttpConfig, HttpOrigin};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Where a request goes, from its URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `http` or `https`.
    pub scheme: String,
    /// The host, lowercase, without brackets.
    pub host: String,
    /// The port (the scheme's default when the URI has none).
    pub port: u16,
    /// The path and query as sent.
    pub path_and_query: String,
}

impl Target {
    /// The target of `uri`; an error in words for a URI without scheme or host.
    pub fn of(uri: &http::Uri) -> Result<Target, String> {
        let scheme = uri
            .scheme_str()
            .ok_or("the URL has no scheme")?
            .to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "https" => 443,
            "http" => 80,
            other => return Err(format!("the scheme {other:?} is not http or https")),
        };
        let authority = uri.authority().ok_or("the URL has no host")?;
        if authority.as_str().contains('@') {
            return Err("the URL carries a user name or password".into());
        }
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .trim_end_matches('.')
            .to_ascii_lowercase();
        if host.is_empty() {
            return Err("the URL has no host".into());
        }
        Ok(Target {
            scheme,
            host,
            port: authority.port_u16().unwrap_or(default_port),
            path_and_query: uri
                .path_and_query()
                .map(|p| p.as_str().to_string())
                .unwrap_or_else(|| "/".into()),
        })
    }

    /// `scheme://host:port`, as the audit and the metrics name it.
    pub fn origin(&self) -> String {
        if self.host.contains(':') {
            format!("{}://[{}]:{}", self.scheme, self.host, self.port)
        } else {
            format!("{}://{}:{}", self.scheme, self.host, self.port)
        }
    }

    /// The host's IP address, when the URL names one.
    pub fn ip(&self) -> Option<IpAddr> {
        self.host.parse().ok()
    }
}

/// What becomes of a request before anything is sent.
#[derive(Debug)]
pub enum Decision<'a> {
    /// Send it, under this origin's rules.
    Send(&'a HttpOrigin),
    /// Listening Mode: not sent; the plugin gets this configured answer.
    DryRun(&'a DryRun),
    /// Listening Mode: not sent; the plugin gets the Listening Mode error.
    Listening,
    /// The origin is not allowed (or the URL is unusable); the reason in words.
    NotAllowed(String),
    /// The run's request budget is spent.
    BudgetSpent(u32),
}

/// Whether a method may change something at the other end: everything but GET and HEAD
/// (OPTIONS and TRACE included, since nothing guarantees what a server does with them).
pub fn changes_something(method: &http::Method) -> bool {
    !(method == http::Method::GET || method == http::Method::HEAD)
}

/// Decides request number `nth` (1-based) of a run: the budget first (every request
/// counts, refused ones too, so a plugin looping on a refusal stops), then the origin,
/// then Listening Mode.
pub fn decide<'a>(
    config: Option<&'a HttpConfig>,
    target: Result<&Target, &str>,
    method: &http::Method,
    listening: bool,
    nth: u32,
) -> Decision<'a> {
    let Some(config) = config else {
        return Decision::NotAllowed("the brand allows no outbound HTTP ([brands.X.http])".into());
    };
    if nth > config.max_requests_per_run {
        return Decision::BudgetSpent(config.max_requests_per_run);
    }
    let target = match target {
        Ok(t) => t,
        Err(why) => return Decision::NotAllowed(why.to_string()),
    };
    let Some(origin) = find_origin(config, target) else {
        return Decision::NotAllowed(format!(
            "{} is not an allowed origin of the brand",
            target.origin()
        ));
    };
    if listening && changes_something(method) {
        return match &origin.dry_run {
            Some(answer) => Decision::DryRun(answer),
            None => Decision::Listening,
        };
    }
    Decision::Send(origin)
}

/// The first configured origin the target is.
pub fn find_origin<'a>(config: &'a HttpConfig, target: &Target) -> Option<&'a HttpOrigin> {
    config
        .origins
        .iter()
        .find(|o| o.pattern.matches(&target.scheme, &target.host, target.port))
}

/// Whether a resolved address may be connected to for `origin`: an origin given as an IP
/// address allows exactly that address; a name must resolve to public addresses unless
/// the origin says `allow_private`.
pub fn address_allowed(ip: IpAddr, origin: &HttpOrigin) -> bool {
    if let Some(explicit) = origin.pattern.ip() {
        return canonical(ip) == canonical(explicit);
    }
    origin.allow_private || !is_internal(ip)
}

/// An IPv4 address mapped into IPv6 as the IPv4 address it is.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

/// Loopback, private, link-local, unspecified, shared (carrier NAT), multicast, broadcast
/// and reserved addresses: what a name on the internet has no business resolving to.
pub fn is_internal(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(v4) => is_internal_v4(v4),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            // NAT64 (64:ff9b::/96) embeds an IPv4 address: judge that one.
            if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
                let [a, b] = s[6].to_be_bytes();
                let [c, d] = s[7].to_be_bytes();
                return is_internal_v4(Ipv4Addr::new(a, b, c, d));
            }
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (s[0] & 0xffc0) == 0xfec0 // site-local fec0::/10 (deprecated)
                || v6 == Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 1)
                // IPv4-compatible ::a.b.c.d (deprecated): judge the IPv4 part.
                || (s[0..6] == [0, 0, 0, 0, 0, 0]
                    && is_internal_v4(Ipv4Addr::from(((s[6] as u32) << 16) | s[7] as u32)))
        }
    }
}

fn is_internal_v4(v4: Ipv4Addr) -> bool {
    let [a, b, ..] = v4.octets();
    v4.is_loopback()
        || v4.is_private()
        || v4.is_link_local()
        || v4.is_unspecified()
        || v4.is_broadcast()
        || v4.is_multicast()
        || a == 0 // "this network" 0.0.0.0/8
        || (a == 100 && (64..128).contains(&b)) // shared address space 100.64.0.0/10
        || (a == 192 && b == 0 && v4.octets()[2] == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking 198.18.0.0/15
        || a >= 240 // reserved
}

/// The path as the audit and logs keep it: the query's names without their values
/// (`/orders?email=&page=`), since values may be personal data or tokens.
pub fn audit_path(path_and_query: &str) -> String {
    let (path, query) = match path_and_query.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path_and_query, None),
    };
    let path: String = crate::text::truncate(path, 200).to_string();
    match query {
        None => path,
        Some(q) => {
            let names: Vec<&str> = q
                .split('&')
                .filter(|kv| !kv.is_empty())
                .map(|kv| kv.split_once('=').map_or(kv, |(k, _)| k))
                .map(|k| crate::text::truncate(k, 40))
                .take(20)
                .collect();
            format!("{path}?{}", names.join("=&") + "=")
        }
    }
}

/// `body` with every occurrence of `secret` replaced, so an API that echoes the
/// credential back (a debugging endpoint, an error page) does not hand it to the plugin.
pub fn redact(body: &[u8], secret: &str) -> Option<Vec<u8>> {
    let needle = secret.as_bytes();
    if needle.is_empty() || body.len() < needle.len() {
        return None;
    }
    let first = body.windows(needle.len()).position(|w| w == needle)?;
    let mut out = Vec::with_capacity(body.len());
    out.extend_from_slice(&body[..first]);
    let mut rest = &body[first..];
    while !rest.is_empty() {
        if rest.starts_with(needle) {
            out.extend_from_slice(b"[redacted]");
            rest = &rest[needle.len()..];
        } else {
            out.push(rest[0]);
            rest = &rest[1..];
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{OriginPattern, Secret};

    fn origin(o: &str) -> HttpOrigin {
        HttpOrigin {
            pattern: OriginPattern::parse(o).unwrap(),
            credential: None,
            allow_private: false,
            dry_run: None,
        }
    }

    fn config(origins: Vec<HttpOrigin>) -> HttpConfig {
        HttpConfig {
            origins,
            timeout_ms: 1000,
            max_response_bytes: 1000,
            max_request_bytes: 1000,
            max_requests_per_run: 3,
            concurrency: 1,
            extra_roots: Vec::new(),
        }
    }

    fn target(url: &str) -> Target {
        Target::of(&url.parse().unwrap()).unwrap()
    }

    #[test]
    fn origins_parse_strictly() {
        let o = OriginPattern::parse("https://API.Shop.example").unwrap();
        assert_eq!((o.host.as_str(), o.port), ("api.shop.example", 443));
        assert_eq!(
            OriginPattern::parse("http://127.0.0.1:8080").unwrap().port,
            8080
        );
        assert_eq!(OriginPattern::parse("http://[::1]:81").unwrap().host, "::1");
        for bad in [
            "api.shop.example",
            "ftp://x.example",
            "https://x.example/path",
            "https://user@x.example",
            "https://*",
            "https://*.com",
            "https://a.*.example",
            "https://x.example:0",
            "https://x.example:http",
            "https://x.example?q",
        ] {
            assert!(OriginPattern::parse(bad).is_err(), "{bad} parsed");
        }
    }

    #[test]
    fn wildcards_match_subdomains_only() {
        let o = OriginPattern::parse("https://*.shop.example").unwrap();
        assert!(o.matches("https", "api.shop.example", 443));
        assert!(o.matches("https", "a.b.shop.example", 443));
        assert!(!o.matches("https", "shop.example", 443));
        assert!(!o.matches("https", "evilshop.example", 443));
        assert!(!o.matches("http", "api.shop.example", 80));
        assert!(!o.matches("https", "api.shop.example", 8443));
        assert!(!o.matches("https", "api.shop.example.evil.test", 443));
    }

    #[test]
    fn only_listed_origins_are_sent_to() {
        let c = config(vec![origin("https://api.shop.example")]);
        let get = http::Method::GET;
        let ok = target("https://api.shop.example/orders/4411");
        assert!(matches!(
            decide(Some(&c), Ok(&ok), &get, false, 1),
            Decision::Send(_)
        ));
        for url in [
            "http://api.shop.example/orders",
            "https://api.shop.example:444/",
            "https://other.example/",
            "https://api.shop.example.evil.test/",
        ] {
            let t = target(url);
            assert!(
                matches!(
                    decide(Some(&c), Ok(&t), &get, false, 1),
                    Decision::NotAllowed(_)
                ),
                "{url}"
            );
        }
        assert!(matches!(
            decide(None, Ok(&ok), &get, false, 1),
            Decision::NotAllowed(_)
        ));
        assert!(Target::of(&"https://u:p@api.shop.example/".parse().unwrap()).is_err());
    }

    #[test]
    fn the_budget_counts_every_request() {
        let c = config(vec![origin("https://api.shop.example")]);
        let t = target("https://nowhere.example/");
        assert!(matches!(
            decide(Some(&c), Ok(&t), &http::Method::GET, false, 3),
            Decision::NotAllowed(_)
        ));
        assert!(matches!(
            decide(Some(&c), Ok(&t), &http::Method::GET, false, 4),
            Decision::BudgetSpent(3)
        ));
    }

    #[test]
    fn listening_mode_sends_only_reads() {
        let mut with_answer = origin("https://api.shop.example");
        with_answer.dry_run = Some(DryRun {
            status: 202,
            body: "{}".into(),
            content_type: "application/json".into(),
        });
        let c = config(vec![with_answer, origin("https://other.example")]);
        let shop = target("https://api.shop.example/refunds");
        let other = target("https://other.example/x");
        for m in [http::Method::GET, http::Method::HEAD] {
            assert!(matches!(
                decide(Some(&c), Ok(&shop), &m, true, 1),
                Decision::Send(_)
            ));
        }
        for m in [
            http::Method::POST,
            http::Method::PUT,
            http::Method::DELETE,
            http::Method::PATCH,
            http::Method::OPTIONS,
        ] {
            assert!(
                matches!(decide(Some(&c), Ok(&shop), &m, true, 1), Decision::DryRun(d) if d.status == 202)
            );
            assert!(matches!(
                decide(Some(&c), Ok(&other), &m, true, 1),
                Decision::Listening
            ));
            assert!(matches!(
                decide(Some(&c), Ok(&shop), &m, false, 1),
                Decision::Send(_)
            ));
        }
    }

    #[test]
    fn names_must_resolve_to_public_addresses() {
        let named = origin("http://localhost:8080");
        for ip in [
            "127.0.0.1",
            "::1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "::",
            "100.64.0.1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "64:ff9b::7f00:1",
            "224.0.0.1",
            "255.255.255.255",
        ] {
            assert!(
                !address_allowed(ip.parse().unwrap(), &named),
                "{ip} allowed"
            );
        }
        for ip in [
            "93.184.216.34",
            "2606:2800:220:1:248:1893:25c8:1946",
            "::ffff:8.8.8.8",
        ] {
            assert!(address_allowed(ip.parse().unwrap(), &named), "{ip} refused");
        }
        let mut intranet = named.clone();
        intranet.allow_private = true;
        assert!(address_allowed("127.0.0.1".parse().unwrap(), &intranet));
    }

    #[test]
    fn an_ip_origin_allows_that_address_only() {
        let o = origin("http://127.0.0.1:8080");
        assert!(address_allowed("127.0.0.1".parse().unwrap(), &o));
        assert!(address_allowed("::ffff:127.0.0.1".parse().unwrap(), &o));
        assert!(!address_allowed("127.0.0.2".parse().unwrap(), &o));
        assert!(!address_allowed("93.184.216.34".parse().unwrap(), &o));
    }

    #[test]
    fn the_audit_keeps_query_names_not_values() {
        assert_eq!(audit_path("/orders/4411"), "/orders/4411");
        assert_eq!(
            audit_path("/orders?email=a@b.c&token=xyz"),
            "/orders?email=&token="
        );
        assert_eq!(audit_path("/x?flag"), "/x?flag=");
    }

    #[test]
    fn an_echoed_secret_is_redacted() {
        let s = Secret::new("sk-123");
        let out = redact(
            b"{\"auth\":\"Bearer sk-123\",\"again\":\"sk-123\"}",
            s.expose(),
        )
        .unwrap();
        assert_eq!(
            out,
            b"{\"auth\":\"Bearer [redacted]\",\"again\":\"[redacted]\"}"
        );
        assert!(redact(b"nothing here", s.expose()).is_none());
    }
}
