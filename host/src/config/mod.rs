//! The gateway's TOML configuration: environments, brands, notification endpoints and
//! limits. Loading resolves every secret (from environment variables or files) and
//! every relative path (against the config file's folder), and checks cross references,
//! so that the rest of the gateway only ever sees a valid [`Config`].
//!
//! Errors name the file, the key and what is wrong, e.g.
//! `gateway.toml: endpoints.acme-prod.brand: no brand named "acme" (known: retail, kids)`.

pub mod secret;

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
    /// tickets go straight to humans until a new version is loaded. 0 disables.
    pub quarantine_after: u32,
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
}

/// The default `ticket_updates_per_minute`: half of Zendesk's Update Ticket limit.
pub const DEFAULT_TICKET_UPDATES_PER_MINUTE: u32 = 50;
/// Zendesk's Update Ticket limit per account and minute; the budget may not exceed it.
pub const ZENDESK_TICKET_UPDATES_PER_MINUTE: u32 = 100;
/// The default `sweep_every_secs`: every 5 minutes.
pub const DEFAULT_SWEEP_EVERY_SECS: u64 = 300;

/// Listening or live, as configured for a brand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
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
    /// The folder of the brand's knowledge base (Markdown articles), if it has one.
    pub knowledge: Option<PathBuf>,
    /// Free-form plugin settings (`[brands.X.settings]`), all as strings.
    pub settings: BTreeMap<String, String>,
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

// ---- The file format (serde), kept apart from the validated types above. ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    gateway: RawGateway,
    #[serde(default)]
    limits: Limits,
    #[serde(default)]
    environments: BTreeMap<String, RawEnvironment>,
    #[serde(default)]
    brands: BTreeMap<String, RawBrand>,
    #[serde(default)]
    endpoints: BTreeMap<String, RawEndpoint>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGateway {
    #[serde(default = "default_listen")]
    listen: String,
    #[serde(default = "default_data_dir")]
    data_dir: PathBuf,
    #[serde(default = "default_concurrency")]
    concurrency: usize,
    #[serde(default = "default_max_inbox_depth")]
    max_inbox_depth: usize,
    admin_token_env: Option<String>,
    admin_token_file: Option<PathBuf>,
    #[serde(default)]
    durable_fsync: bool,
}

impl Default for RawGateway {
    fn default() -> Self {
        RawGateway {
            listen: default_listen(),
            data_dir: default_data_dir(),
            concurrency: default_concurrency(),
            max_inbox_depth: default_max_inbox_depth(),
            admin_token_env: None,
            admin_token_file: None,
            durable_fsync: false,
        }
    }
}

fn default_listen() -> String {
    "127.0.0.1:8080".into()
}
fn default_data_dir() -> PathBuf {
    PathBuf::from("gateway-data")
}
fn default_concurrency() -> usize {
    8
}
fn default_max_inbox_depth() -> usize {
    10_000
}
fn default_rpm() -> u32 {
    400
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEnvironment {
    base_url: Option<String>,
    subdomain: Option<String>,
    email: String,
    api_token_env: Option<String>,
    api_token_file: Option<PathBuf>,
    #[serde(default = "default_rpm")]
    requests_per_minute: u32,
    public_base_url: Option<String>,
    #[serde(default = "default_ticket_updates")]
    ticket_updates_per_minute: u32,
    #[serde(default = "default_sweep_every")]
    sweep_every_secs: u64,
}

fn default_ticket_updates() -> u32 {
    DEFAULT_TICKET_UPDATES_PER_MINUTE
}

fn default_sweep_every() -> u64 {
    DEFAULT_SWEEP_EVERY_SECS
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBrand {
    plugin: PathBuf,
    mode: Mode,
    #[serde(default)]
    listening_drafts: DraftsIn,
    #[serde(default)]
    limits: Option<toml::Table>,
    #[serde(default)]
    allowed_agents: Vec<u64>,
    #[serde(default)]
    allowed_groups: Vec<u64>,
    llm: Option<RawLlm>,
    knowledge: Option<PathBuf>,
    #[serde(default)]
    settings: toml::Table,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLlm {
    base_url: String,
    model: String,
    api_key_env: Option<String>,
    api_key_file: Option<PathBuf>,
    #[serde(default = "default_llm_timeout_ms")]
    timeout_ms: u64,
    #[serde(default = "default_llm_tokens_per_run")]
    max_tokens_per_run: u32,
    #[serde(default = "default_llm_concurrency")]
    concurrency: usize,
}

fn default_llm_timeout_ms() -> u64 {
    20_000
}
fn default_llm_tokens_per_run() -> u32 {
    8_000
}
fn default_llm_concurrency() -> usize {
    4
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEndpoint {
    brand: String,
    environment: String,
    token: Option<String>,
    token_env: Option<String>,
    signing_secret_env: Option<String>,
    signing_secret_file: Option<PathBuf>,
    mode: Option<Mode>,
    zendesk_brand: Option<String>,
    zendesk_brand_id: Option<u64>,
}

/// Shortest endpoint token accepted: the token is the only thing that authenticates a
/// notification when no signing secret is set, so it must not be guessable.
pub const MIN_ENDPOINT_TOKEN_LEN: usize = 24;

impl Config {
    /// Reads, parses and validates a config file. Secrets named by `*_env` keys are
    /// read from the process environment.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.display().to_string(),
            key: "-".into(),
            message: format!("cannot read the file: {e}"),
        })?;
        Config::parse(&text, path, &|name| std::env::var(name).ok())
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
        let file = path.display().to_string();
        let err = |key: &str, message: String| ConfigError {
            file: file.clone(),
            key: key.to_string(),
            message,
        };
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            // toml's message already carries the line, column and key.
            err("-", e.to_string().trim_end().replace('\n', " | "))
        })?;
        let base_dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let resolve = |p: &Path| {
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                base_dir.join(p)
            }
        };
        let read_secret = |key: &str,
                           env_name: &Option<String>,
                           file_name: &Option<PathBuf>|
         -> Result<Option<Secret>, ConfigError> {
            match (env_name, file_name) {
                (Some(_), Some(_)) => Err(err(
                    key,
                    "give either the `_env` or the `_file` form, not both".into(),
                )),
                (Some(var), None) => match env(var) {
                    Some(v) if !v.trim().is_empty() => Ok(Some(Secret::new(v.trim()))),
                    _ => Err(err(
                        key,
                        format!("environment variable {var} is not set or empty"),
                    )),
                },
                (None, Some(f)) => {
                    let full = resolve(f);
                    let v = std::fs::read_to_string(&full).map_err(|e| {
                        err(
                            key,
                            format!("cannot read secret file {}: {e}", full.display()),
                        )
                    })?;
                    if v.trim().is_empty() {
                        return Err(err(key, format!("secret file {} is empty", full.display())));
                    }
                    Ok(Some(Secret::new(v.trim())))
                }
                (None, None) => Ok(None),
            }
        };

        let g = raw.gateway;
        let listen: SocketAddr = g.listen.parse().map_err(|e| {
            err(
                "gateway.listen",
                format!("{:?} is not an address like 127.0.0.1:8080: {e}", g.listen),
            )
        })?;
        if g.concurrency == 0 {
            return Err(err("gateway.concurrency", "must be at least 1".into()));
        }
        let gateway = GatewaySettings {
            listen,
            data_dir: resolve(&g.data_dir),
            concurrency: g.concurrency,
            max_inbox_depth: g.max_inbox_depth.max(1),
            admin_token: read_secret(
                "gateway.admin_token",
                &g.admin_token_env,
                &g.admin_token_file,
            )?,
            durable_fsync: g.durable_fsync,
        };
        validate_limits(&raw.limits).map_err(|m| err("limits", m))?;

        let mut environments = BTreeMap::new();
        for (name, e) in raw.environments {
            let key = format!("environments.{name}");
            let base_url = match (e.base_url, e.subdomain) {
                (Some(_), Some(_)) => {
                    return Err(err(
                        &key,
                        "give either base_url or subdomain, not both".into(),
                    ))
                }
                (Some(url), None) => {
                    if !(url.starts_with("http://") || url.starts_with("https://")) {
                        return Err(err(
                            &format!("{key}.base_url"),
                            format!("{url:?} must start with https:// (or http:// for a local simulator)"),
                        ));
                    }
                    url.trim_end_matches('/').to_string()
                }
                (None, Some(sub)) => {
                    if sub.is_empty() || !sub.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                    {
                        return Err(err(
                            &format!("{key}.subdomain"),
                            format!("{sub:?} is not a Zendesk subdomain (letters, digits, dashes)"),
                        ));
                    }
                    format!("https://{sub}.zendesk.com")
                }
                (None, None) => return Err(err(&key, "needs base_url or subdomain".into())),
            };
            if !e.email.contains('@') {
                return Err(err(
                    &format!("{key}.email"),
                    format!("{:?} is not an email address", e.email),
                ));
            }
            let api_token = read_secret(&format!("{key}.api_token"), &e.api_token_env, &e.api_token_file)?
                .ok_or_else(|| {
                    err(
                        &key,
                        "needs api_token_env or api_token_file (the token itself never goes in the config)"
                            .into(),
                    )
                })?;
            if e.requests_per_minute == 0 {
                return Err(err(
                    &format!("{key}.requests_per_minute"),
                    "must be at least 1".into(),
                ));
            }
            if !(1..=ZENDESK_TICKET_UPDATES_PER_MINUTE).contains(&e.ticket_updates_per_minute) {
                return Err(err(
                    &format!("{key}.ticket_updates_per_minute"),
                    format!(
                        "must be 1 to {ZENDESK_TICKET_UPDATES_PER_MINUTE} (Zendesk's Update Ticket limit per account, \
                         shared with the human agents; the default {DEFAULT_TICKET_UPDATES_PER_MINUTE} leaves them half)"
                    ),
                ));
            }
            let public_base_url = match e.public_base_url {
                None => None,
                Some(url) if url.starts_with("https://") || url.starts_with("http://") => {
                    Some(url.trim_end_matches('/').to_string())
                }
                Some(url) => {
                    return Err(err(
                        &format!("{key}.public_base_url"),
                        format!("{url:?} must start with https:// (the gateway's URL as Zendesk reaches it)"),
                    ))
                }
            };
            environments.insert(
                name.clone(),
                Environment {
                    name,
                    base_url,
                    email: e.email,
                    api_token,
                    requests_per_minute: e.requests_per_minute,
                    public_base_url,
                    ticket_updates_per_minute: e.ticket_updates_per_minute,
                    sweep_every_secs: e.sweep_every_secs,
                },
            );
        }

        let mut brands = BTreeMap::new();
        for (name, b) in raw.brands {
            let key = format!("brands.{name}");
            let limits = match b.limits {
                None => raw.limits.clone(),
                Some(overrides) => merge_limits(&raw.limits, overrides)
                    .map_err(|m| err(&format!("{key}.limits"), m))?,
            };
            validate_limits(&limits).map_err(|m| err(&format!("{key}.limits"), m))?;
            let llm = match b.llm {
                None => None,
                Some(l) => {
                    let lkey = format!("{key}.llm");
                    if !(l.base_url.starts_with("http://") || l.base_url.starts_with("https://")) {
                        return Err(err(
                            &format!("{lkey}.base_url"),
                            format!("{:?} must start with https:// or http://", l.base_url),
                        ));
                    }
                    if l.model.trim().is_empty() {
                        return Err(err(&format!("{lkey}.model"), "must not be empty".into()));
                    }
                    if l.timeout_ms == 0 || l.max_tokens_per_run == 0 || l.concurrency == 0 {
                        return Err(err(
                            &lkey,
                            "timeout_ms, max_tokens_per_run and concurrency must be above 0".into(),
                        ));
                    }
                    Some(LlmConfig {
                        base_url: l.base_url.trim_end_matches('/').to_string(),
                        model: l.model,
                        api_key: read_secret(
                            &format!("{lkey}.api_key"),
                            &l.api_key_env,
                            &l.api_key_file,
                        )?,
                        timeout_ms: l.timeout_ms,
                        max_tokens_per_run: l.max_tokens_per_run,
                        concurrency: l.concurrency,
                    })
                }
            };
            let knowledge = match b.knowledge {
                None => None,
                Some(dir) => {
                    let full = resolve(&dir);
                    if !full.is_dir() {
                        return Err(err(
                            &format!("{key}.knowledge"),
                            format!("{} is not a folder of Markdown articles", full.display()),
                        ));
                    }
                    Some(full)
                }
            };
            let mut settings = BTreeMap::new();
            for (k, v) in b.settings {
                let text = match v {
                    toml::Value::String(s) => s,
                    toml::Value::Integer(_) | toml::Value::Float(_) | toml::Value::Boolean(_) => {
                        v.to_string()
                    }
                    toml::Value::Array(items) => items
                        .iter()
                        .map(|i| match i {
                            toml::Value::String(s) => s.clone(),
                            other => other.to_string(),
                        })
                        .collect::<Vec<_>>()
                        .join(","),
                    _ => {
                        return Err(err(
                            &format!("{key}.settings.{k}"),
                            "must be a string, number, boolean or list".into(),
                        ))
                    }
                };
                settings.insert(k, text);
            }
            brands.insert(
                name.clone(),
                Brand {
                    name,
                    plugin: resolve(&b.plugin),
                    mode: b.mode,
                    listening_drafts: b.listening_drafts,
                    limits,
                    allowed_agents: b.allowed_agents,
                    allowed_groups: b.allowed_groups,
                    llm,
                    knowledge,
                    settings,
                },
            );
        }

        let mut endpoints = BTreeMap::new();
        let mut seen_tokens: Vec<(String, String)> = Vec::new();
        for (name, ep) in raw.endpoints {
            let key = format!("endpoints.{name}");
            if !brands.contains_key(&ep.brand) {
                return Err(err(
                    &format!("{key}.brand"),
                    format!("no brand named {:?} (known: {})", ep.brand, known(&brands)),
                ));
            }
            if !environments.contains_key(&ep.environment) {
                return Err(err(
                    &format!("{key}.environment"),
                    format!(
                        "no environment named {:?} (known: {})",
                        ep.environment,
                        known(&environments)
                    ),
                ));
            }
            let token =
                match (ep.token, &ep.token_env) {
                    (Some(_), Some(_)) => {
                        return Err(err(&key, "give either token or token_env, not both".into()))
                    }
                    (Some(t), None) => Secret::new(t),
                    (None, Some(var)) => env(var).map(Secret::new).ok_or_else(|| {
                        err(
                            &format!("{key}.token_env"),
                            format!("environment variable {var} is not set"),
                        )
                    })?,
                    (None, None) => return Err(err(
                        &key,
                        "needs token or token_env (generate one with `zendesk-gateway new-token`)"
                            .into(),
                    )),
                };
            let t = token.expose();
            if t.len() < MIN_ENDPOINT_TOKEN_LEN
                || !t
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(err(
                    &format!("{key}.token"),
                    format!(
                        "must be at least {MIN_ENDPOINT_TOKEN_LEN} URL-safe characters (letters, digits, - and _); \
                         generate one with `zendesk-gateway new-token`"
                    ),
                ));
            }
            if let Some((other, _)) = seen_tokens.iter().find(|(_, tok)| tok == t) {
                return Err(err(
                    &format!("{key}.token"),
                    format!(
                        "the same token is used by endpoints.{other}; each endpoint needs its own"
                    ),
                ));
            }
            seen_tokens.push((name.clone(), t.to_string()));
            let signing_secret_missing = options.signing_secrets_may_be_missing
                && (ep
                    .signing_secret_file
                    .as_ref()
                    .is_some_and(|f| !resolve(f).exists())
                    || ep
                        .signing_secret_env
                        .as_ref()
                        .is_some_and(|v| env(v).is_none()));
            let signing_secret = if signing_secret_missing {
                None
            } else {
                read_secret(
                    &format!("{key}.signing_secret"),
                    &ep.signing_secret_env,
                    &ep.signing_secret_file,
                )?
            };
            let zendesk_brand = match (ep.zendesk_brand_id, ep.zendesk_brand) {
                (Some(_), Some(_)) => {
                    return Err(err(
                        &key,
                        "give either zendesk_brand_id or zendesk_brand (a name), not both".into(),
                    ))
                }
                (Some(id), None) => Some(ZendeskBrand::Id(id)),
                (None, Some(n)) if n.trim().is_empty() => {
                    return Err(err(
                        &format!("{key}.zendesk_brand"),
                        "must not be empty".into(),
                    ))
                }
                (None, Some(n)) => Some(ZendeskBrand::Name(n)),
                (None, None) => None,
            };
            endpoints.insert(
                name.clone(),
                Endpoint {
                    name,
                    brand: ep.brand,
                    environment: ep.environment,
                    token,
                    signing_secret,
                    mode: ep.mode,
                    signing_secret_file: ep.signing_secret_file.as_deref().map(resolve),
                    signing_secret_env: ep.signing_secret_env,
                    zendesk_brand,
                },
            );
        }
        if endpoints.is_empty() {
            return Err(err(
                "endpoints",
                "at least one notification endpoint is needed".into(),
            ));
        }

        Ok(Config {
            source: path.to_path_buf(),
            gateway,
            limits: raw.limits,
            environments,
            brands,
            endpoints,
        })
    }
}

fn known<V>(map: &BTreeMap<String, V>) -> String {
    if map.is_empty() {
        "none".into()
    } else {
        map.keys().cloned().collect::<Vec<_>>().join(", ")
    }
}

fn validate_limits(l: &Limits) -> Result<(), String> {
    if l.deadline_ms == 0 {
        return Err("deadline_ms must be above 0".into());
    }
    if l.memory_mib == 0 || l.memory_mib > 4096 {
        return Err(format!(
            "memory_mib must be between 1 and 4096, not {}",
            l.memory_mib
        ));
    }
    Ok(())
}

/// Applies a brand's `[brands.X.limits]` table on top of the defaults, so a brand names
/// only what it changes.
fn merge_limits(defaults: &Limits, overrides: toml::Table) -> Result<Limits, String> {
    let mut table = toml::Table::try_from(defaults).map_err(|e| e.to_string())?;
    for (k, v) in overrides {
        table.insert(k, v);
    }
    toml::Value::Table(table)
        .try_into::<Limits>()
        .map_err(|e| e.to_string().trim_end().to_string())
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
