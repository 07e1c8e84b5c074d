//! The gateway's TOML configuration: environments, brands, notification endpoints and
//! limits. Loading resolves every secret (from environment variables or files) and
//! every relative path (against the config file's folder), and checks cross references,
//! so that the rest of the gateway only ever sees a valid [`Config`].
//!
//! Errors name the file, the key and what is wrong, e.g.
//! `gateway.toml: endpoints.acme-prod.brand: no brand named "acme" (known: retail, kids)`.

mod loader;
mod raw;
pub mod secret;

use loader::Loader;
pub use secret::Secret;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// A loaded, validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from (for messages and reloads).
    pub source: PathBuf,
    /// Server and runtime settings.
    pub gateway: GatewaySettings,
    /// Default limits for every plugin run; brands may override them.
    pub limits: Limits,
    /// Zendesk environments by name.
    pub environments: BTreeMap<String, Environment>,
    /// Brands by name.
    pub brands: BTreeMap<String, Brand>,
    /// Notification endpoints by name.
    pub endpoints: BTreeMap<String, Endpoint>,
}

/// `[gateway]`: where to listen and where to keep state.
#[derive(Debug, Clone)]
pub struct GatewaySettings {
    /// Address the HTTP server binds.
    pub listen: SocketAddr,
    /// Folder for the inbox database, audit trail and compile cache.
    pub data_dir: PathBuf,
    /// How many tickets run at the same time.
    pub concurrency: usize,
    /// Above this many tickets waiting, notifications are answered 503 with Retry-After.
    pub max_inbox_depth: usize,
    /// Token for `/admin/*` endpoints; without one they answer 404.
    pub admin_token: Option<Secret>,
    /// `true`: every inbox commit is fsynced (survives power loss); `false`: survives a
    /// process crash only, which is much faster.
    pub durable_fsync: bool,
    // -- Slow clients and retention (docs/operations.md, "Slow clients"). --
    /// A request's headers must arrive within this time of its first byte (or, on a
    /// new connection, of the connection); else the connection is closed.
    pub header_read_timeout: std::time::Duration,
    /// A request's whole body must arrive within this time of its headers (else 408).
    pub body_read_timeout: std::time::Duration,
    /// A kept-alive connection with no request for this long is closed.
    pub idle_timeout: std::time::Duration,
    /// Most connections open at once (lowered below the process's descriptor limit).
    pub max_connections: usize,
    /// Audit records older than this many days are pruned hourly; 0 keeps them forever.
    pub audit_retention_days: u32,
    /// How long a console session lasts after sign-in (`console_session_secs`).
    pub console_session: std::time::Duration,
    /// A ticket the AI solved counts as resolved unless the customer wrote again within
    /// this many days (`report_reopen_days`).
    pub report_reopen_days: u32,
    /// A PostgreSQL URL (`database_env` / `database_file`): the inbox, audit trail,
    /// dead letters, heartbeats and the Zendesk quota live there, shared by every
    /// replica that names it. `None`: the SQLite file in `data_dir` (one machine).
    pub database: Option<Secret>,
    /// Encrypt the PostgreSQL connection (rustls, verified against the Mozilla roots).
    pub database_tls: bool,
    /// How long a claim holds a ticket without renewal (`lease_secs`, default 30).
    pub lease: std::time::Duration,
    /// This replica's id in the shared database (`replica_id`; by default host name and
    /// listen port). A replica that restarts with the same id takes its interrupted runs
    /// back at once instead of waiting for their leases.
    pub replica_id: String,
}

/// Bounds on one plugin run. See `docs/` and the README for what each protects.
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Wall-clock deadline for one run, host calls included.
    pub deadline_ms: u64,
    /// Linear memory cap of the plugin, in MiB.
    pub memory_mib: u64,
    /// Largest public reply, in bytes.
    pub max_reply_bytes: usize,
    /// Largest total of internal notes, in bytes.
    pub max_note_bytes: usize,
    /// Most tags a run may add.
    pub max_tags: usize,
    /// Most log lines a run may write; later lines are dropped and counted.
    pub max_log_lines: usize,
    /// How often a run is repeated on fresh data after a safe-update conflict.
    pub max_conflict_retries: u32,
    /// After this many failed runs in a row, a plugin version is quarantined: its
    /// tickets go straight to humans until a new version is loaded, an operator
    /// releases it, or a probe run succeeds. 0 disables.
    pub quarantine_after: u32,
    /// Seconds a quarantined version waits before one ticket is let through as a probe
    /// (half-open): success ends the quarantine, failure starts the wait again.
    pub quarantine_probe_secs: u64,
    /// Attempts of one ticket that met passing failures (Zendesk down, the model slow,
    /// conflicts) before it is handed to humans.
    pub max_attempts: u32,
    /// Seconds since a ticket's first passing failure after which it is handed to
    /// humans, however few attempts it had.
    pub max_retry_secs: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            deadline_ms: 10_000,
            memory_mib: 64,
            max_reply_bytes: 16 * 1024,
            max_note_bytes: 64 * 1024,
            max_tags: 50,
            max_log_lines: 200,
            max_conflict_retries: 3,
            quarantine_after: 5,
            quarantine_probe_secs: 300,
            max_attempts: 10,
            max_retry_secs: 3600,
        }
    }
}

/// A Zendesk account (UAT, Production...) and the AI seat's credentials in it.
#[derive(Debug, Clone)]
pub struct Environment {
    /// The environment's name in the config.
    pub name: String,
    /// `https://{subdomain}.zendesk.com`, or a simulator's URL. No trailing slash.
    pub base_url: String,
    /// The AI seat's login email.
    pub email: String,
    /// The AI seat's API token.
    pub api_token: Secret,
    /// The plan's API quota; the gateway's own limiter stays under it.
    pub requests_per_minute: u32,
    /// The gateway's URL as this Zendesk reaches it (`https://gw.example.com`, no
    /// trailing slash); `setup` points each endpoint's webhook at
    /// `<public_base_url>/notify/<token>`. Only `setup` needs it.
    pub public_base_url: Option<String>,
    /// The gateway's budget of `PUT /api/v2/tickets/{id}` a minute. Zendesk allows 100
    /// per account, human agents' saves in the UI included: the default 50 leaves the
    /// humans half.
    pub ticket_updates_per_minute: u32,
    /// Seconds between catch-up sweeps (tickets whose notification never came); 0: off.
    pub sweep_every_secs: u64,
    /// Credentials of an administrator for `setup` (webhooks, triggers and automations
    /// need one); without them `setup` uses the seat's.
    pub admin: Option<AdminCredentials>,
}

/// `admin_email` and `admin_api_token_env` / `admin_api_token_file` of an environment:
/// the administrator `setup` acts as. The gateway itself never uses them.
#[derive(Debug, Clone, PartialEq)]
pub struct AdminCredentials {
    /// The administrator's login email.
    pub email: String,
    /// The administrator's API token.
    pub api_token: Secret,
}

/// The default `ticket_updates_per_minute`: half of Zendesk's Update Ticket limit.
pub const DEFAULT_TICKET_UPDATES_PER_MINUTE: u32 = 50;
/// Zendesk's Update Ticket limit per account and minute; the budget may not exceed it.
pub const ZENDESK_TICKET_UPDATES_PER_MINUTE: u32 = 100;
/// The default `sweep_every_secs`: every 5 minutes.
pub const DEFAULT_SWEEP_EVERY_SECS: u64 = 300;

/// Listening or live, as configured for a brand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Plugins run, nothing customer-visible is sent.
    Listening,
    /// Replies and status changes reach the customer.
    Live,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Listening => "listening",
            Mode::Live => "live",
        })
    }
}

/// Where a Listening Mode run keeps what it would have sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum DraftsIn {
    /// An internal note on the ticket (agents see the draft), plus the audit trail.
    #[default]
    Note,
    /// Only the audit trail: nothing at all is written to the ticket's conversation.
    Audit,
}

/// A brand and its plugin.
#[derive(Debug, Clone)]
pub struct Brand {
    /// The brand's name in the config.
    pub name: String,
    /// The plugin's `.wasm` component.
    pub plugin: PathBuf,
    /// Listening or live.
    pub mode: Mode,
    /// Where Listening Mode drafts go.
    pub listening_drafts: DraftsIn,
    /// Limits for this brand's runs (defaults merged with overrides).
    pub limits: Limits,
    /// Agents (user ids) the plugin may assign to, besides the AI seat.
    pub allowed_agents: Vec<u64>,
    /// Groups the plugin may assign to.
    pub allowed_groups: Vec<u64>,
    /// The brand's language model, if it has one (`[brands.X.llm]`).
    pub llm: Option<LlmConfig>,
    /// The brand's own systems its plugin may call (`[brands.X.http]`); `None` allows
    /// nothing.
    pub http: Option<HttpConfig>,
    /// The folder of the brand's knowledge base (Markdown articles), if it has one.
    pub knowledge: Option<PathBuf>,
    /// The brand's Zendesk Help Center as its knowledge base, if it has one instead of
    /// a folder (`knowledge = { help_center = true, ... }`).
    pub help_center: Option<HelpCenterConfig>,
    /// Free-form plugin settings (`[brands.X.settings]`), all as strings.
    pub settings: BTreeMap<String, String>,
    /// `[brands.X.fields]`: the custom ticket fields the plugin may use, and defaults.
    pub fields: FieldsConfig,
    /// The brand's Zendesk business hours schedule, if it has one (`schedule`).
    pub schedule: Option<ScheduleRef>,
}

/// `[brands.X.fields]`: custom ticket fields by their title in Zendesk.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldsConfig {
    /// Fields the plugin may read and set (`allowed`).
    pub allowed: Vec<String>,
    /// Values set when the AI solves a ticket and the field is still empty
    /// (`on_solve = { "Reason for contact" = "Answered by AI" }`).
    pub on_solve: BTreeMap<String, String>,
}

impl FieldsConfig {
    /// Whether the brand names no field at all (nothing to resolve in Zendesk).
    pub fn is_empty(&self) -> bool {
        self.allowed.is_empty() && self.on_solve.is_empty()
    }
}

/// A Zendesk business hours schedule, as a brand names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScheduleRef {
    /// `schedule = "Support hours"`.
    Name(String),
    /// `schedule = 360000123`.
    Id(u64),
}

impl fmt::Display for ScheduleRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScheduleRef::Name(n) => write!(f, "{n:?}"),
            ScheduleRef::Id(id) => write!(f, "id {id}"),
        }
    }
}

/// A brand's Zendesk Help Center as its knowledge base: published articles synced in
/// the background through the Help Center API ([docs/operations.md]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelpCenterConfig {
    /// The environment whose credentials and quota the sync uses.
    pub environment: String,
    /// The brand's Help Center host (`https://<brand subdomain>.zendesk.com`, or a
    /// simulator's `<base>/brands/<subdomain>`), no trailing slash; the environment's
    /// `base_url` when not given (the account's default brand).
    pub host: String,
    /// Only articles in these locales (lower case, `en-us`); all when empty.
    pub locales: Vec<String>,
    /// Only articles with at least one of these labels; all when empty.
    pub labels: Vec<String>,
    /// Seconds between two syncs.
    pub refresh_secs: u64,
}

/// `[brands.X.llm]`: an OpenAI-compatible Chat Completions endpoint for the brand's plugin.
#[derive(Debug, Clone, PartialEq)]
pub struct LlmConfig {
    /// Base URL up to and including the API version, e.g. `https://api.openai.com/v1`
    /// or `http://localhost:11434/v1` (Ollama). `/chat/completions` is appended.
    pub base_url: String,
    /// The model name the server expects.
    pub model: String,
    /// Bearer key; `None` for self-hosted servers that need none.
    pub api_key: Option<Secret>,
    /// How long one completion may take before the plugin gets `timeout`.
    pub timeout_ms: u64,
    /// Tokens (prompt plus answer) one run may spend over all its completions.
    pub max_tokens_per_run: u32,
    /// Completions of this brand in flight at once, over all its runs.
    pub concurrency: usize,
    /// Completions one run may ask for, failed ones included (`max_calls_per_run`,
    /// default 20): bounds a plugin calling in a loop against a model that answers.
    pub max_calls_per_run: u32,
}

/// `[brands.X.http]`: outbound HTTP for the brand's plugin. Nothing is reachable but the
/// listed origins; `capabilities::http::policy` applies it.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpConfig {
    /// The origins the plugin may call, in the order given (the first match applies).
    pub origins: Vec<HttpOrigin>,
    /// How long one request may take, connect to the last byte of the answer.
    pub timeout_ms: u64,
    /// The largest answer body passed to the plugin; a larger one is refused whole.
    pub max_response_bytes: usize,
    /// The largest request body the plugin may send.
    pub max_request_bytes: usize,
    /// Requests one run may make, refused and failed ones included.
    pub max_requests_per_run: u32,
    /// Requests of this brand in flight at once, over all its runs.
    pub concurrency: usize,
    /// Certificate authorities trusted for this brand's `https` origins besides the public
    /// ones (`ca_file`, PEM): an API behind a company's own CA. DER, read at load.
    pub extra_roots: Vec<Vec<u8>>,
}

/// One allowed origin of `[brands.X.http]`.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpOrigin {
    /// `scheme://host[:port]`, the host possibly `*.example.com`.
    pub pattern: OriginPattern,
    /// The header the host adds to every request to this origin (the plugin never sees it).
    pub credential: Option<Credential>,
    /// Whether the name may resolve to loopback, private or link-local addresses (an
    /// intranet API). Without it only public addresses are connected to, so a name that
    /// rebinds to 127.0.0.1 is refused; an origin given as an IP address allows that
    /// address only.
    pub allow_private: bool,
    /// What a request that changes something gets in Listening Mode instead of being
    /// sent; `None`: the Listening Mode error.
    pub dry_run: Option<DryRun>,
}

/// A header and its secret value, added by the host.
#[derive(Debug, Clone, PartialEq)]
pub struct Credential {
    /// Header name, lowercase (e.g. `authorization`).
    pub header: String,
    /// The value, from `value_env` or `value_file`.
    pub value: Secret,
}

/// The answer a Listening Mode run gets for a request that was not sent.
#[derive(Debug, Clone, PartialEq)]
pub struct DryRun {
    /// HTTP status.
    pub status: u16,
    /// Body.
    pub body: String,
    /// `content-type` of the body.
    pub content_type: String,
}

/// An origin allowed for outbound HTTP: `scheme://host[:port]`, in the manner of Spin's
/// `allowed_outbound_hosts`. The host is a name (`api.shop.example`), a wildcard over
/// its subdomains (`*.shop.example`, which does not match `shop.example` itself) or an
/// IP address (`127.0.0.1`, `[::1]`). The port defaults to the scheme's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginPattern {
    /// `http` or `https`.
    pub scheme: String,
    /// The host as written, lowercase, without brackets (`*.shop.example`, `::1`).
    pub host: String,
    /// The port (the scheme's default when not written).
    pub port: u16,
}

impl OriginPattern {
    /// Parses `scheme://host[:port]`; anything else (a path, credentials, a query, a
    /// bare `*`) is an error in words.
    pub fn parse(s: &str) -> Result<OriginPattern, String> {
        let (scheme, rest) = s
            .split_once("://")
            .ok_or_else(|| format!("{s:?} is not scheme://host[:port]"))?;
        let scheme = scheme.to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "https" => 443,
            "http" => 80,
            _ => return Err(format!("{s:?}: the scheme must be https or http")),
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.is_empty() || rest.contains(['/', '?', '#', '@']) {
            return Err(format!(
                "{s:?} must be only scheme://host[:port], without a path, query or user"
            ));
        }
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (addr, after) = v6
                .split_once(']')
                .ok_or_else(|| format!("{s:?}: unclosed [ in an IPv6 address"))?;
            addr.parse::<std::net::Ipv6Addr>()
                .map_err(|_| format!("{s:?}: {addr:?} is not an IPv6 address"))?;
            let port = match after {
                "" => None,
                p => Some(
                    p.strip_prefix(':')
                        .ok_or_else(|| format!("{s:?}: bad port"))?,
                ),
            };
            (addr.to_ascii_lowercase(), port)
        } else {
            match rest.rsplit_once(':') {
                Some((h, p)) => (h.to_ascii_lowercase(), Some(p)),
                None => (rest.to_ascii_lowercase(), None),
            }
        };
        let port = match port {
            None => default_port,
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| format!("{s:?}: {p:?} is not a port"))?,
        };
        let name = host.strip_prefix("*.").unwrap_or(&host);
        let is_ip = host.parse::<std::net::IpAddr>().is_ok();
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        };
        if !is_ip && (name.is_empty() || !name.split('.').all(label_ok)) {
            return Err(format!(
                "{s:?}: {host:?} is not a host name (a wildcard only as a leading `*.`)"
            ));
        }
        if host.starts_with("*.") && !name.contains('.') {
            return Err(format!(
                "{s:?}: a wildcard must stand before a domain of two labels or more"
            ));
        }
        Ok(OriginPattern { scheme, host, port })
    }

    /// The pattern's host as an IP address, when it is one.
    pub fn ip(&self) -> Option<std::net::IpAddr> {
        self.host.parse().ok()
    }

    /// Whether `scheme://host:port` (host without brackets) is this origin.
    pub fn matches(&self, scheme: &str, host: &str, port: u16) -> bool {
        if !self.scheme.eq_ignore_ascii_case(scheme) || self.port != port {
            return false;
        }
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        match self.host.strip_prefix("*.") {
            Some(domain) => host
                .strip_suffix(domain)
                .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.')),
            None => match (self.ip(), host.parse::<std::net::IpAddr>()) {
                (Some(a), Ok(b)) => a == b,
                _ => self.host == host,
            },
        }
    }
}

impl fmt::Display for OriginPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.ip() {
            Some(std::net::IpAddr::V6(_)) => {
                write!(f, "{}://[{}]:{}", self.scheme, self.host, self.port)
            }
            _ => write!(f, "{}://{}:{}", self.scheme, self.host, self.port),
        }
    }
}

/// A secret URL Zendesk posts notifications to.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The endpoint's name in the config.
    pub name: String,
    /// The brand whose plugin handles its tickets.
    pub brand: String,
    /// The Zendesk environment its tickets live in.
    pub environment: String,
    /// The secret last segment of `/notify/{token}`.
    pub token: Secret,
    /// If set, requests must carry a valid Zendesk webhook signature.
    pub signing_secret: Option<Secret>,
    /// Overrides the brand's mode for tickets arriving here (e.g. a UAT endpoint that
    /// stays listening while production is live).
    pub mode: Option<Mode>,
    /// Where the signing secret is read from, if from a file (resolved): `setup` writes
    /// the webhook's secret there, and the gateway reloads when it changes.
    pub signing_secret_file: Option<PathBuf>,
    /// The environment variable holding the signing secret, if from one.
    pub signing_secret_env: Option<String>,
    /// Which Zendesk brand's tickets `setup`'s trigger sends here; `None` sends every
    /// ticket of the environment (one endpoint serving all brands).
    pub zendesk_brand: Option<ZendeskBrand>,
}

/// A brand of a Zendesk account, as an endpoint names it for `setup`. Brand ids differ
/// between accounts (a UAT sandbox and production), which is why this sits on the
/// endpoint (one brand in one environment) and may be given by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ZendeskBrand {
    /// `zendesk_brand_id`: the brand's id in the endpoint's environment.
    Id(u64),
    /// `zendesk_brand`: the brand's name, looked up with `GET /api/v2/brands`.
    Name(String),
}

/// How strictly [`Config::parse_with`] reads a config.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadOptions {
    /// Accept endpoints whose signing secret file or variable does not exist yet
    /// (their `signing_secret` is `None`): `setup` runs before the secret is fetched.
    pub signing_secrets_may_be_missing: bool,
}

/// What went wrong loading a config, with the file and key it concerns.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {key}: {message}")]
pub struct ConfigError {
    /// The config file.
    pub file: String,
    /// The dotted key path, or `-` for the file as a whole.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

/// Shortest endpoint token accepted: the token is the only thing that authenticates a
/// notification when no signing secret is set, so it must not be guessable.
pub const MIN_ENDPOINT_TOKEN_LEN: usize = 24;

impl Config {
    /// Reads, parses and validates a config file. Secrets named by `*_env` keys are
    /// read from the process environment.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Config::load_with(path, LoadOptions::default())
    }

    /// Like [`Config::load`] with [`LoadOptions`] (for `setup`).
    pub fn load_with(path: &Path, options: LoadOptions) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.display().to_string(),
            key: "-".into(),
            message: format!("cannot read the file: {e}"),
        })?;
        Config::parse_with(&text, path, &|name| std::env::var(name).ok(), options)
    }

    /// Parses config text as if read from `path`, looking secrets up with `env`.
    pub fn parse(
        text: &str,
        path: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        Config::parse_with(text, path, env, LoadOptions::default())
    }

    /// [`Config::parse`] with [`LoadOptions`].
    pub fn parse_with(
        text: &str,
        path: &Path,
        env: &dyn Fn(&str) -> Option<String>,
        options: LoadOptions,
    ) -> Result<Config, ConfigError> {
        Loader::new(path, env, options).config(text, path)
    }
}

/// A new random endpoint token: 32 URL-safe characters (about 190 bits).
pub fn generate_endpoint_token() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut rng = rand::rngs::OsRng;
    (0..32)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[gateway]
listen = "127.0.0.1:0"

[environments.prod]
base_url = "http://127.0.0.1:9"
email = "ai@example.com"
api_token_env = "TOKEN"

[brands.retail]
plugin = "p.wasm"
mode = "live"
limits = { deadline_ms = 500 }

[endpoints.retail-prod]
brand = "retail"
environment = "prod"
token = "abcdefghijklmnopqrstuvwxyz012345"
"#;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("/etc/gw/gateway.toml"), &|n| {
            (n == "TOKEN").then(|| "tok".to_string())
        })
    }

    #[test]
    fn http_origins_credentials_and_dry_runs_parse() {
        let text = GOOD.replace(
            "limits = { deadline_ms = 500 }",
            "limits = { deadline_ms = 500 }\n\
             [brands.retail.http]\nmax_requests_per_run = 5\n\
             [[brands.retail.http.origins]]\norigin = \"https://*.shop.example\"\n\
             header = \"X-Api-Key\"\nvalue_env = \"TOKEN\"\n\
             dry_run = { status = 202, body = \"{}\" }\n\
             [[brands.retail.http.origins]]\norigin = \"http://127.0.0.1:8099\"\n",
        );
        let c = parse(&text).unwrap();
        let h = c.brands["retail"].http.as_ref().unwrap();
        assert_eq!(
            (h.max_requests_per_run, h.timeout_ms, h.concurrency),
            (5, 10_000, 4)
        );
        let shop = &h.origins[0];
        assert_eq!(shop.pattern.to_string(), "https://*.shop.example:443");
        let cred = shop.credential.as_ref().unwrap();
        assert_eq!(
            (cred.header.as_str(), cred.value.expose()),
            ("x-api-key", "tok")
        );
        assert_eq!(shop.dry_run.as_ref().unwrap().status, 202);
        assert!(h.origins[1].credential.is_none());
        assert!(c.brands["retail"]
            .http
            .as_ref()
            .is_some_and(|h| !format!("{h:?}").contains("tok\"")));
        assert!(
            parse(GOOD).unwrap().brands["retail"].http.is_none(),
            "nothing allowed by default"
        );

        let bad = text.replace("https://*.shop.example", "https://shop.example/api");
        let e = parse(&bad).unwrap_err().to_string();
        assert!(e.contains("brands.retail.http.origins[0].origin"), "{e}");
        let no_value = text.replace("value_env = \"TOKEN\"\n", "");
        let e = parse(&no_value).unwrap_err().to_string();
        assert!(e.contains("brands.retail.http.origins[0].header"), "{e}");
        let unset = text.replace("value_env = \"TOKEN\"", "value_env = \"NOPE\"");
        let e = parse(&unset).unwrap_err().to_string();
        assert!(e.contains("origins[0].value") && e.contains("NOPE"), "{e}");

        // ca_file: a file that is not PEM certificates stops the load, naming the key.
        let dir = std::env::temp_dir().join(format!("cfg-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("not-a-ca.pem"), "hello\n").unwrap();
        let with_ca = text.replace(
            "max_requests_per_run = 5\n",
            &format!(
                "max_requests_per_run = 5\nca_file = \"{}\"\n",
                dir.join("not-a-ca.pem").display()
            ),
        );
        let e = parse(&with_ca).unwrap_err().to_string();
        assert!(
            e.contains("brands.retail.http.ca_file") && e.contains("no PEM certificate"),
            "{e}"
        );
        let missing = with_ca.replace("not-a-ca.pem", "missing.pem");
        let e = parse(&missing).unwrap_err().to_string();
        assert!(e.contains("ca_file") && e.contains("cannot read"), "{e}");
    }

    #[test]
    fn parses_and_merges_limits() {
        let c = parse(GOOD).unwrap();
        let b = &c.brands["retail"];
        assert_eq!(b.limits.deadline_ms, 500);
        assert_eq!(b.limits.memory_mib, Limits::default().memory_mib);
        assert_eq!(b.plugin, PathBuf::from("/etc/gw/p.wasm"));
        assert_eq!(c.environments["prod"].api_token.expose(), "tok");
    }

    #[test]
    fn errors_name_file_and_key() {
        let bad = GOOD.replace("brand = \"retail\"", "brand = \"kids\"");
        let e = parse(&bad).unwrap_err().to_string();
        assert!(
            e.starts_with(
                "/etc/gw/gateway.toml: endpoints.retail-prod.brand: no brand named \"kids\""
            ),
            "{e}"
        );
        let bad = GOOD.replace("api_token_env = \"TOKEN\"", "api_token_env = \"MISSING\"");
        let e = parse(&bad).unwrap_err().to_string();
        assert!(
            e.contains("environments.prod.api_token") && e.contains("MISSING"),
            "{e}"
        );
        let bad = GOOD.replace("abcdefghijklmnopqrstuvwxyz012345", "short");
        assert!(parse(&bad)
            .unwrap_err()
            .to_string()
            .contains("endpoints.retail-prod.token"));
        let bad = GOOD.replace("mode = \"live\"", "mode = \"loud\"");
        assert!(parse(&bad).unwrap_err().to_string().contains("loud"));
        let bad = GOOD.replace("deadline_ms = 500", "deadline_msx = 500");
        assert!(parse(&bad)
            .unwrap_err()
            .to_string()
            .contains("brands.retail.limits"));
    }

    #[test]
    fn brand_capabilities_parse_with_defaults_and_checks() {
        let dir = std::env::temp_dir().join(format!("cfg-kb-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let text = GOOD.replace(
            "limits = { deadline_ms = 500 }",
            &format!(
                "limits = {{ deadline_ms = 500 }}\nknowledge = \"{}\"\n\
                 [brands.retail.llm]\nbase_url = \"http://127.0.0.1:11434/v1/\"\nmodel = \"llama3.1\"\n\
                 [brands.retail.settings]\ntone = \"warm\"\nmax_refund = 150\nlanguages = [\"en\", \"de\"]\n",
                dir.display()
            ),
        );
        let c = parse(&text).unwrap();
        let b = &c.brands["retail"];
        let llm = b.llm.as_ref().unwrap();
        assert_eq!(
            llm.base_url, "http://127.0.0.1:11434/v1",
            "trailing slash trimmed"
        );
        assert!(llm.api_key.is_none());
        assert_eq!(
            (llm.timeout_ms, llm.max_tokens_per_run, llm.concurrency),
            (20_000, 8_000, 4)
        );
        assert_eq!(b.settings["max_refund"], "150");
        assert_eq!(b.settings["languages"], "en,de");
        assert_eq!(b.knowledge.as_deref(), Some(dir.as_path()));

        let missing = text.replace(&dir.display().to_string(), "/nonexistent/kb");
        assert!(parse(&missing)
            .unwrap_err()
            .to_string()
            .contains("brands.retail.knowledge"));
        let bad_key = text.replace(
            "model = \"llama3.1\"",
            "model = \"llama3.1\"\napi_key_env = \"NOPE\"",
        );
        let e = parse(&bad_key).unwrap_err().to_string();
        assert!(
            e.contains("brands.retail.llm.api_key") && e.contains("NOPE"),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn generated_tokens_are_valid_and_distinct() {
        let a = generate_endpoint_token();
        assert_eq!(a.len(), 32);
        assert_ne!(a, generate_endpoint_token());
    }

    #[test]
    fn setup_keys_parse_and_missing_secrets_are_allowed_only_for_setup() {
        let text = GOOD
            .replace(
                "api_token_env = \"TOKEN\"",
                "api_token_env = \"TOKEN\"\npublic_base_url = \"https://gw.example.com/\"",
            )
            .replace(
                "token = \"abcdefghijklmnopqrstuvwxyz012345\"",
                "token = \"abcdefghijklmnopqrstuvwxyz012345\"\nzendesk_brand = \"Retail\"\nsigning_secret_file = \"nope/secret\"",
            );
        let e = parse(&text).unwrap_err().to_string();
        assert!(e.contains("endpoints.retail-prod.signing_secret"), "{e}");
        let c = Config::parse_with(
            &text,
            Path::new("/etc/gw/gateway.toml"),
            &|n| (n == "TOKEN").then(|| "tok".to_string()),
            LoadOptions {
                signing_secrets_may_be_missing: true,
            },
        )
        .unwrap();
        let ep = &c.endpoints["retail-prod"];
        assert!(ep.signing_secret.is_none());
        assert_eq!(
            ep.signing_secret_file.as_deref(),
            Some(Path::new("/etc/gw/nope/secret"))
        );
        assert_eq!(ep.zendesk_brand, Some(ZendeskBrand::Name("Retail".into())));
        assert_eq!(
            c.environments["prod"].public_base_url.as_deref(),
            Some("https://gw.example.com")
        );
        // The other checks, on a config whose secret file is not in the way.
        let text = text.replace("\nsigning_secret_file = \"nope/secret\"", "");
        let both = text.replace(
            "zendesk_brand = \"Retail\"",
            "zendesk_brand = \"Retail\"\nzendesk_brand_id = 7",
        );
        assert!(parse(&both)
            .unwrap_err()
            .to_string()
            .contains("zendesk_brand_id or zendesk_brand"));
        let bad_url = text.replace("https://gw.example.com/", "gw.example.com");
        assert!(parse(&bad_url)
            .unwrap_err()
            .to_string()
            .contains("environments.prod.public_base_url"));
    }
}
