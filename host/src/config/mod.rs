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
}

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
    /// Completions one run may ask for, failed ones included (`max_calls_per_run`,
    /// default 20): bounds a plugin calling in a loop against a model that answers.
    pub max_calls_per_run: u32,
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
