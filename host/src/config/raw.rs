//! The file format as serde reads it, kept apart from the validated types in
//! [`super`]: names and shapes follow the TOML keys (`*_env` / `*_file` pairs for
//! secrets, relative paths), and the [`Loader`](super::loader::Loader) turns them
//! into a [`Config`](super::Config).

use super::{DraftsIn, Limits, Mode};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    #[serde(default)]
    pub(super) gateway: RawGateway,
    #[serde(default)]
    pub(super) limits: Limits,
    #[serde(default)]
    pub(super) environments: BTreeMap<String, RawEnvironment>,
    #[serde(default)]
    pub(super) brands: BTreeMap<String, RawBrand>,
    #[serde(default)]
    pub(super) endpoints: BTreeMap<String, RawEndpoint>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGateway {
    #[serde(default = "default_listen")]
    pub(super) listen: String,
    #[serde(default = "default_data_dir")]
    pub(super) data_dir: PathBuf,
    #[serde(default = "default_concurrency")]
    pub(super) concurrency: usize,
    #[serde(default = "default_max_inbox_depth")]
    pub(super) max_inbox_depth: usize,
    pub(super) admin_token_env: Option<String>,
    pub(super) admin_token_file: Option<PathBuf>,
    #[serde(default)]
    pub(super) durable_fsync: bool,
    #[serde(default = "default_header_read_timeout_ms")]
    pub(super) header_read_timeout_ms: u64,
    #[serde(default = "default_body_read_timeout_ms")]
    pub(super) body_read_timeout_ms: u64,
    #[serde(default = "default_idle_timeout_ms")]
    pub(super) idle_timeout_ms: u64,
    #[serde(default = "default_max_connections")]
    pub(super) max_connections: usize,
    #[serde(default = "default_audit_retention_days")]
    pub(super) audit_retention_days: u32,
    #[serde(default = "default_console_session_secs")]
    pub(super) console_session_secs: u64,
    #[serde(default = "default_report_reopen_days")]
    pub(super) report_reopen_days: u32,
    pub(super) database_env: Option<String>,
    pub(super) database_file: Option<PathBuf>,
    #[serde(default)]
    pub(super) database_tls: bool,
    #[serde(default = "default_lease_secs")]
    pub(super) lease_secs: f64,
    pub(super) replica_id: Option<String>,
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
            header_read_timeout_ms: default_header_read_timeout_ms(),
            body_read_timeout_ms: default_body_read_timeout_ms(),
            idle_timeout_ms: default_idle_timeout_ms(),
            max_connections: default_max_connections(),
            audit_retention_days: default_audit_retention_days(),
            console_session_secs: default_console_session_secs(),
            report_reopen_days: default_report_reopen_days(),
            database_env: None,
            database_file: None,
            database_tls: false,
            lease_secs: default_lease_secs(),
            replica_id: None,
        }
    }
}

// Zendesk sends a few hundred bytes and gives up after about 12 s: a client slower than
// these is not Zendesk.
fn default_header_read_timeout_ms() -> u64 {
    10_000
}
fn default_body_read_timeout_ms() -> u64 {
    10_000
}
fn default_idle_timeout_ms() -> u64 {
    60_000
}
fn default_max_connections() -> usize {
    1024
}
fn default_audit_retention_days() -> u32 {
    90
}

fn default_console_session_secs() -> u64 {
    8 * 3600
}
fn default_report_reopen_days() -> u32 {
    7
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
fn default_lease_secs() -> f64 {
    30.0
}
fn default_rpm() -> u32 {
    400
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEnvironment {
    pub(super) base_url: Option<String>,
    pub(super) subdomain: Option<String>,
    pub(super) email: String,
    pub(super) api_token_env: Option<String>,
    pub(super) api_token_file: Option<PathBuf>,
    #[serde(default = "default_rpm")]
    pub(super) requests_per_minute: u32,
    pub(super) public_base_url: Option<String>,
    #[serde(default = "default_ticket_updates")]
    pub(super) ticket_updates_per_minute: u32,
    #[serde(default = "default_sweep_every")]
    pub(super) sweep_every_secs: u64,
    pub(super) admin_email: Option<String>,
    pub(super) admin_api_token_env: Option<String>,
    pub(super) admin_api_token_file: Option<PathBuf>,
}

fn default_ticket_updates() -> u32 {
    super::DEFAULT_TICKET_UPDATES_PER_MINUTE
}

fn default_sweep_every() -> u64 {
    super::DEFAULT_SWEEP_EVERY_SECS
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBrand {
    pub(super) plugin: PathBuf,
    pub(super) mode: Mode,
    #[serde(default)]
    pub(super) listening_drafts: DraftsIn,
    #[serde(default)]
    pub(super) limits: Option<toml::Table>,
    #[serde(default)]
    pub(super) allowed_agents: Vec<u64>,
    #[serde(default)]
    pub(super) allowed_groups: Vec<u64>,
    pub(super) llm: Option<RawLlm>,
    pub(super) http: Option<RawHttp>,
    pub(super) knowledge: Option<RawKnowledge>,
    #[serde(default)]
    pub(super) settings: toml::Table,
    pub(super) fields: Option<RawFields>,
    /// A schedule's name (string) or id (integer).
    pub(super) schedule: Option<toml::Value>,
}

/// `knowledge = "folder"` or `knowledge = { help_center = true, ... }`.
#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum RawKnowledge {
    Folder(PathBuf),
    HelpCenter(RawHelpCenter),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHelpCenter {
    pub(super) help_center: bool,
    pub(super) host: Option<String>,
    pub(super) environment: Option<String>,
    #[serde(default)]
    pub(super) locales: Vec<String>,
    #[serde(default)]
    pub(super) labels: Vec<String>,
    pub(super) refresh_secs: Option<u64>,
}

/// `[brands.X.fields]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFields {
    #[serde(default)]
    pub(super) allowed: Vec<String>,
    #[serde(default)]
    pub(super) on_solve: toml::Table,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLlm {
    pub(super) base_url: String,
    pub(super) model: String,
    pub(super) api_key_env: Option<String>,
    pub(super) api_key_file: Option<PathBuf>,
    #[serde(default = "default_llm_timeout_ms")]
    pub(super) timeout_ms: u64,
    #[serde(default = "default_llm_tokens_per_run")]
    pub(super) max_tokens_per_run: u32,
    #[serde(default = "default_llm_concurrency")]
    pub(super) concurrency: usize,
    #[serde(default = "default_llm_calls_per_run")]
    pub(super) max_calls_per_run: u32,
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
fn default_llm_calls_per_run() -> u32 {
    20
}

/// `[brands.X.http]`: the brand's own systems its plugin may call.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHttp {
    #[serde(default)]
    pub(super) origins: Vec<RawOrigin>,
    #[serde(default = "default_http_timeout_ms")]
    pub(super) timeout_ms: u64,
    #[serde(default = "default_http_max_response_bytes")]
    pub(super) max_response_bytes: usize,
    #[serde(default = "default_http_max_request_bytes")]
    pub(super) max_request_bytes: usize,
    #[serde(default = "default_http_requests_per_run")]
    pub(super) max_requests_per_run: u32,
    #[serde(default = "default_http_concurrency")]
    pub(super) concurrency: usize,
    pub(super) ca_file: Option<PathBuf>,
}

/// `[[brands.X.http.origins]]`: one allowed origin, its credential and dry-run answer.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOrigin {
    pub(super) origin: String,
    pub(super) header: Option<String>,
    pub(super) value_env: Option<String>,
    pub(super) value_file: Option<PathBuf>,
    #[serde(default)]
    pub(super) allow_private: bool,
    pub(super) dry_run: Option<RawDryRun>,
}

/// `dry_run = { status = 200, body = "..." }` of an origin.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDryRun {
    #[serde(default = "default_dry_run_status")]
    pub(super) status: u16,
    #[serde(default)]
    pub(super) body: String,
    #[serde(default = "default_dry_run_content_type")]
    pub(super) content_type: String,
}

fn default_http_timeout_ms() -> u64 {
    10_000
}
fn default_http_max_response_bytes() -> usize {
    1 << 20
}
fn default_http_max_request_bytes() -> usize {
    64 << 10
}
fn default_http_requests_per_run() -> u32 {
    10
}
fn default_http_concurrency() -> usize {
    4
}
fn default_dry_run_status() -> u16 {
    200
}
fn default_dry_run_content_type() -> String {
    "application/json".into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEndpoint {
    pub(super) brand: String,
    pub(super) environment: String,
    pub(super) token: Option<String>,
    pub(super) token_env: Option<String>,
    pub(super) signing_secret_env: Option<String>,
    pub(super) signing_secret_file: Option<PathBuf>,
    pub(super) mode: Option<Mode>,
    pub(super) zendesk_brand: Option<String>,
    pub(super) zendesk_brand_id: Option<u64>,
}
