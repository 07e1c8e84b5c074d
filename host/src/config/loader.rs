//! Turning the raw file shapes ([`super::raw`]) into a validated [`Config`], one method
//! per section. The [`Loader`] carries what every section needs: the file's name (for
//! messages), its folder (relative paths resolve against it), the environment-variable
//! lookup (secrets) and the [`LoadOptions`].
//!
//! Sections are checked in the file's order (gateway, limits, environments, brands,
//! endpoints), so the first error reported is the first a reader meets.

use super::raw::{
    RawBrand, RawConfig, RawEndpoint, RawEnvironment, RawFields, RawGateway, RawHelpCenter,
    RawHttp, RawKnowledge, RawLlm,
};
use super::{
    AdminCredentials, Brand, Config, ConfigError, Credential, DryRun, Endpoint, Environment,
    FieldsConfig, GatewaySettings, HelpCenterConfig, HttpConfig, HttpOrigin, Limits, LlmConfig,
    LoadOptions, OriginPattern, ScheduleRef, Secret, ZendeskBrand, MIN_ENDPOINT_TOKEN_LEN,
};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Looks an environment variable up (the process environment, or a test's map).
pub(super) type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// What loading one config file needs besides its text.
pub(super) struct Loader<'a> {
    /// The config file, as messages name it.
    file: String,
    /// The file's folder: relative paths resolve against it.
    base_dir: PathBuf,
    env: EnvLookup<'a>,
    options: LoadOptions,
}

impl<'a> Loader<'a> {
    /// A loader for the config file at `path`.
    pub(super) fn new(path: &Path, env: EnvLookup<'a>, options: LoadOptions) -> Self {
        Loader {
            file: path.display().to_string(),
            base_dir: path
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from(".")),
            env,
            options,
        }
    }

    /// Parses and validates the whole file.
    pub(super) fn config(&self, text: &str, source: &Path) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            // toml's message already carries the line, column and key.
            self.err("-", e.to_string().trim_end().replace('\n', " | "))
        })?;
        let gateway = self.gateway(raw.gateway)?;
        validate_limits(&raw.limits).map_err(|m| self.err("limits", m))?;
        let environments = self.environments(raw.environments)?;
        let mut brands = self.brands(raw.brands, &raw.limits)?;
        let endpoints = self.endpoints(raw.endpoints, &brands, &environments)?;
        self.help_center_environments(&mut brands, &endpoints, &environments)?;
        Ok(Config {
            source: source.to_path_buf(),
            gateway,
            limits: raw.limits,
            environments,
            brands,
            endpoints,
        })
    }

    /// An error about `key` of this file.
    fn err(&self, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.file.clone(),
            key: key.to_string(),
            message: message.into(),
        }
    }

    /// `p` as written in the config: absolute, or relative to the config's folder.
    fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base_dir.join(p)
        }
    }

    /// A secret given as `<key>_env` (a variable) or `<key>_file` (a file), or neither.
    /// The value is trimmed; an empty one is an error, so is giving both forms.
    fn secret(
        &self,
        key: &str,
        env_name: &Option<String>,
        file_name: &Option<PathBuf>,
    ) -> Result<Option<Secret>, ConfigError> {
        match (env_name, file_name) {
            (Some(_), Some(_)) => {
                Err(self.err(key, "give either the `_env` or the `_file` form, not both"))
            }
            (Some(var), None) => match (self.env)(var) {
                Some(v) if !v.trim().is_empty() => Ok(Some(Secret::new(v.trim()))),
                _ => Err(self.err(
                    key,
                    format!("environment variable {var} is not set or empty"),
                )),
            },
            (None, Some(f)) => {
                let full = self.resolve(f);
                let v = std::fs::read_to_string(&full).map_err(|e| {
                    self.err(
                        key,
                        format!("cannot read secret file {}: {e}", full.display()),
                    )
                })?;
                if v.trim().is_empty() {
                    return Err(self.err(key, format!("secret file {} is empty", full.display())));
                }
                Ok(Some(Secret::new(v.trim())))
            }
            (None, None) => Ok(None),
        }
    }

    /// `[gateway]`.
    fn gateway(&self, g: RawGateway) -> Result<GatewaySettings, ConfigError> {
        let listen: SocketAddr = g.listen.parse().map_err(|e| {
            self.err(
                "gateway.listen",
                format!("{:?} is not an address like 127.0.0.1:8080: {e}", g.listen),
            )
        })?;
        if g.concurrency == 0 {
            return Err(self.err("gateway.concurrency", "must be at least 1"));
        }
        for (key, ms) in [
            ("gateway.header_read_timeout_ms", g.header_read_timeout_ms),
            ("gateway.body_read_timeout_ms", g.body_read_timeout_ms),
            ("gateway.idle_timeout_ms", g.idle_timeout_ms),
        ] {
            if ms == 0 {
                return Err(self.err(key, "must be above 0"));
            }
        }
        if g.max_connections == 0 {
            return Err(self.err("gateway.max_connections", "must be at least 1"));
        }
        if g.console_session_secs == 0 {
            return Err(self.err("gateway.console_session_secs", "must be at least 1"));
        }
        if !(g.lease_secs.is_finite() && (0.3..=3600.0).contains(&g.lease_secs)) {
            return Err(self.err(
                "gateway.lease_secs",
                format!("{} is not between 0.3 and 3600 seconds", g.lease_secs),
            ));
        }
        let database = self.secret("gateway.database", &g.database_env, &g.database_file)?;
        if let Some(url) = &database {
            let u = url.expose();
            if !(u.starts_with("postgres://") || u.starts_with("postgresql://")) {
                return Err(self.err(
                    "gateway.database",
                    "must be a postgres:// URL (without it the inbox is the SQLite file in data_dir)",
                ));
            }
        }
        let replica_id = match g.replica_id {
            Some(id) if !id.trim().is_empty() => id.trim().to_string(),
            // Port 0 (tests) names no stable port: the id is then unique per start.
            _ if listen.port() == 0 => {
                format!(
                    "{}:{}-{:08x}",
                    host_name(),
                    std::process::id(),
                    rand::random::<u32>()
                )
            }
            _ => format!("{}:{}", host_name(), listen.port()),
        };
        Ok(GatewaySettings {
            listen,
            data_dir: self.resolve(&g.data_dir),
            concurrency: g.concurrency,
            max_inbox_depth: g.max_inbox_depth.max(1),
            admin_token: self.secret(
                "gateway.admin_token",
                &g.admin_token_env,
                &g.admin_token_file,
            )?,
            durable_fsync: g.durable_fsync,
            header_read_timeout: std::time::Duration::from_millis(g.header_read_timeout_ms),
            body_read_timeout: std::time::Duration::from_millis(g.body_read_timeout_ms),
            idle_timeout: std::time::Duration::from_millis(g.idle_timeout_ms),
            max_connections: g.max_connections,
            audit_retention_days: g.audit_retention_days,
            console_session: std::time::Duration::from_secs(g.console_session_secs),
            report_reopen_days: g.report_reopen_days,
            database,
            database_tls: g.database_tls,
            lease: std::time::Duration::from_secs_f64(g.lease_secs),
            replica_id,
        })
    }

    /// `[environments.*]`.
    fn environments(
        &self,
        raw: BTreeMap<String, RawEnvironment>,
    ) -> Result<BTreeMap<String, Environment>, ConfigError> {
        raw.into_iter()
            .map(|(name, e)| Ok((name.clone(), self.environment(name, e)?)))
            .collect()
    }

    fn environment(&self, name: String, e: RawEnvironment) -> Result<Environment, ConfigError> {
        let key = format!("environments.{name}");
        let base_url = self.zendesk_url(&key, e.base_url, e.subdomain)?;
        if !e.email.contains('@') {
            return Err(self.err(
                &format!("{key}.email"),
                format!("{:?} is not an email address", e.email),
            ));
        }
        let api_token = self
            .secret(&format!("{key}.api_token"), &e.api_token_env, &e.api_token_file)?
            .ok_or_else(|| {
                self.err(
                    &key,
                    "needs api_token_env or api_token_file (the token itself never goes in the config)",
                )
            })?;
        if e.requests_per_minute == 0 {
            return Err(self.err(&format!("{key}.requests_per_minute"), "must be at least 1"));
        }
        let public_base_url = match e.public_base_url {
            None => None,
            Some(url) if url.starts_with("https://") || url.starts_with("http://") => {
                Some(url.trim_end_matches('/').to_string())
            }
            Some(url) => {
                return Err(self.err(
                    &format!("{key}.public_base_url"),
                    format!(
                    "{url:?} must start with https:// (the gateway's URL as Zendesk reaches it)"
                ),
                ))
            }
        };
        let ticket_updates_per_minute = self.ticket_updates(&key, e.ticket_updates_per_minute)?;
        let admin = self.admin(
            &key,
            e.admin_email,
            &e.admin_api_token_env,
            &e.admin_api_token_file,
        )?;
        Ok(Environment {
            name,
            base_url,
            email: e.email,
            api_token,
            requests_per_minute: e.requests_per_minute,
            public_base_url,
            ticket_updates_per_minute,
            sweep_every_secs: e.sweep_every_secs,
            admin,
        })
    }

    /// `ticket_updates_per_minute`: 1 to Zendesk's 100 (the limit of the whole account,
    /// which the human agents share).
    fn ticket_updates(&self, key: &str, n: u32) -> Result<u32, ConfigError> {
        use super::{
            DEFAULT_TICKET_UPDATES_PER_MINUTE as DEFAULT, ZENDESK_TICKET_UPDATES_PER_MINUTE as MAX,
        };
        if (1..=MAX).contains(&n) {
            return Ok(n);
        }
        Err(self.err(
            &format!("{key}.ticket_updates_per_minute"),
            format!(
                "must be 1 to {MAX} (Zendesk's Update Ticket limit per account, shared with the \
                 human agents; the default {DEFAULT} leaves them half)"
            ),
        ))
    }

    /// `admin_email` with `admin_api_token_env` or `admin_api_token_file`: all or none.
    fn admin(
        &self,
        key: &str,
        email: Option<String>,
        token_env: &Option<String>,
        token_file: &Option<PathBuf>,
    ) -> Result<Option<AdminCredentials>, ConfigError> {
        let token = self.secret(&format!("{key}.admin_api_token"), token_env, token_file)?;
        match (email, token) {
            (None, None) => Ok(None),
            (Some(email), Some(api_token)) if email.contains('@') => {
                Ok(Some(AdminCredentials { email, api_token }))
            }
            (Some(email), Some(_)) => Err(self.err(
                &format!("{key}.admin_email"),
                format!("{email:?} is not an email address"),
            )),
            (Some(_), None) => Err(self.err(
                key,
                "admin_email needs admin_api_token_env or admin_api_token_file",
            )),
            (None, Some(_)) => Err(self.err(
                key,
                "admin_api_token_env / admin_api_token_file need admin_email (whose token it is)",
            )),
        }
    }

    /// An environment's Zendesk URL, from `base_url` or `subdomain` (exactly one).
    fn zendesk_url(
        &self,
        key: &str,
        base_url: Option<String>,
        subdomain: Option<String>,
    ) -> Result<String, ConfigError> {
        match (base_url, subdomain) {
            (Some(_), Some(_)) => Err(self.err(key, "give either base_url or subdomain, not both")),
            (Some(url), None) => {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(self.err(
                        &format!("{key}.base_url"),
                        format!(
                            "{url:?} must start with https:// (or http:// for a local simulator)"
                        ),
                    ));
                }
                Ok(url.trim_end_matches('/').to_string())
            }
            (None, Some(sub)) => {
                if sub.is_empty() || !sub.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                    return Err(self.err(
                        &format!("{key}.subdomain"),
                        format!("{sub:?} is not a Zendesk subdomain (letters, digits, dashes)"),
                    ));
                }
                Ok(format!("https://{sub}.zendesk.com"))
            }
            (None, None) => Err(self.err(key, "needs base_url or subdomain")),
        }
    }

    /// `[brands.*]`, each brand's limits merged over `defaults`.
    fn brands(
        &self,
        raw: BTreeMap<String, RawBrand>,
        defaults: &Limits,
    ) -> Result<BTreeMap<String, Brand>, ConfigError> {
        raw.into_iter()
            .map(|(name, b)| Ok((name.clone(), self.brand(name, b, defaults)?)))
            .collect()
    }

    fn brand(&self, name: String, b: RawBrand, defaults: &Limits) -> Result<Brand, ConfigError> {
        let key = format!("brands.{name}");
        let limits = match b.limits {
            None => defaults.clone(),
            Some(overrides) => merge_limits(defaults, overrides)
                .map_err(|m| self.err(&format!("{key}.limits"), m))?,
        };
        validate_limits(&limits).map_err(|m| self.err(&format!("{key}.limits"), m))?;
        let llm = match b.llm {
            None => None,
            Some(l) => Some(self.llm(&format!("{key}.llm"), l)?),
        };
        let http = match b.http {
            None => None,
            Some(h) => Some(self.http(&format!("{key}.http"), h)?),
        };
        let (knowledge, help_center) = match b.knowledge {
            None => (None, None),
            Some(RawKnowledge::Folder(dir)) => (Some(self.knowledge(&key, &dir)?), None),
            Some(RawKnowledge::HelpCenter(hc)) => (None, Some(self.help_center(&key, hc)?)),
        };
        let settings = self.settings(&key, b.settings)?;
        let fields = self.fields(&key, b.fields)?;
        let schedule = match b.schedule {
            None => None,
            Some(toml::Value::String(n)) if !n.trim().is_empty() => {
                Some(ScheduleRef::Name(n.trim().to_string()))
            }
            Some(toml::Value::Integer(id)) if id > 0 => Some(ScheduleRef::Id(id as u64)),
            Some(_) => {
                return Err(self.err(
                    &format!("{key}.schedule"),
                    "must be a Zendesk schedule's name or id (Admin Center > Objects and rules > Schedules)",
                ))
            }
        };
        Ok(Brand {
            name,
            plugin: self.resolve(&b.plugin),
            mode: b.mode,
            listening_drafts: b.listening_drafts,
            limits,
            allowed_agents: b.allowed_agents,
            allowed_groups: b.allowed_groups,
            llm,
            http,
            knowledge,
            help_center,
            settings,
            fields,
            schedule,
        })
    }

    /// `knowledge = { help_center = true, ... }`; `key` is `brands.X`. The environment
    /// may be left out here and is then resolved from the brand's endpoints
    /// ([`Loader::help_center_environments`]).
    fn help_center(&self, key: &str, hc: RawHelpCenter) -> Result<HelpCenterConfig, ConfigError> {
        let key = format!("{key}.knowledge");
        if !hc.help_center {
            return Err(self.err(
                &format!("{key}.help_center"),
                "must be true (or give the knowledge base as a folder: knowledge = \"folder\")",
            ));
        }
        let host = match hc.host {
            None => String::new(),
            Some(h) if h.starts_with("https://") || h.starts_with("http://") => {
                h.trim_end_matches('/').to_string()
            }
            Some(h) => {
                return Err(self.err(
                    &format!("{key}.host"),
                    format!("{h:?} must start with https:// (the brand's Help Center, e.g. https://acme-shop.zendesk.com)"),
                ))
            }
        };
        let refresh_secs = hc.refresh_secs.unwrap_or(300);
        if refresh_secs == 0 {
            return Err(self.err(&format!("{key}.refresh_secs"), "must be at least 1"));
        }
        Ok(HelpCenterConfig {
            environment: hc.environment.unwrap_or_default(),
            host,
            locales: hc.locales.iter().map(|l| l.trim().to_lowercase()).collect(),
            labels: hc.labels,
            refresh_secs,
        })
    }

    /// Gives each Help Center knowledge base its environment (the one its brand's
    /// endpoints use, when not named) and its host (the environment's URL, when not
    /// given).
    fn help_center_environments(
        &self,
        brands: &mut BTreeMap<String, Brand>,
        endpoints: &BTreeMap<String, Endpoint>,
        environments: &BTreeMap<String, Environment>,
    ) -> Result<(), ConfigError> {
        for (name, brand) in brands.iter_mut() {
            let Some(hc) = brand.help_center.as_mut() else {
                continue;
            };
            let key = format!("brands.{name}.knowledge.environment");
            if hc.environment.is_empty() {
                let used: std::collections::BTreeSet<&str> = endpoints
                    .values()
                    .filter(|e| &e.brand == name)
                    .map(|e| e.environment.as_str())
                    .collect();
                match used.len() {
                    1 => hc.environment = used.into_iter().next().unwrap_or_default().to_string(),
                    0 => return Err(self.err(&key, "no endpoint serves this brand: name the environment whose Help Center to sync")),
                    _ => return Err(self.err(&key, format!(
                        "the brand is served in several environments ({}): name the one whose Help Center to sync",
                        used.into_iter().collect::<Vec<_>>().join(", ")
                    ))),
                }
            }
            let Some(env) = environments.get(&hc.environment) else {
                return Err(self.err(
                    &key,
                    format!(
                        "no environment named {:?} (known: {})",
                        hc.environment,
                        known(environments)
                    ),
                ));
            };
            if hc.host.is_empty() {
                hc.host = env.base_url.clone();
            }
        }
        Ok(())
    }

    /// `[brands.X.fields]`; `key` is `brands.X`. Names are checked against Zendesk when
    /// the gateway starts (they become field ids there).
    fn fields(&self, key: &str, raw: Option<RawFields>) -> Result<FieldsConfig, ConfigError> {
        let Some(raw) = raw else {
            return Ok(FieldsConfig::default());
        };
        if let Some(blank) = raw.allowed.iter().find(|n| n.trim().is_empty()) {
            return Err(self.err(
                &format!("{key}.fields.allowed"),
                format!("{blank:?} is not a field name (use the field's title in Zendesk)"),
            ));
        }
        let mut on_solve = BTreeMap::new();
        for (name, value) in raw.on_solve {
            let text = match value {
                toml::Value::String(s) => s,
                toml::Value::Integer(_) | toml::Value::Float(_) | toml::Value::Boolean(_) => {
                    value.to_string()
                }
                _ => {
                    return Err(self.err(
                        &format!("{key}.fields.on_solve.{name}"),
                        "must be a string, number or boolean",
                    ))
                }
            };
            on_solve.insert(name, text);
        }
        Ok(FieldsConfig {
            allowed: raw
                .allowed
                .into_iter()
                .map(|n| n.trim().to_string())
                .collect(),
            on_solve,
        })
    }

    /// `[brands.X.http]`; `key` is `brands.X.http`. Every origin is parsed, every
    /// credential read; nothing is allowed that is not listed.
    fn http(&self, key: &str, h: RawHttp) -> Result<HttpConfig, ConfigError> {
        if h.timeout_ms == 0
            || h.max_response_bytes == 0
            || h.max_requests_per_run == 0
            || h.concurrency == 0
        {
            return Err(self.err(
                key,
                "timeout_ms, max_response_bytes, max_requests_per_run and concurrency must be above 0",
            ));
        }
        let mut origins = Vec::with_capacity(h.origins.len());
        for (i, o) in h.origins.into_iter().enumerate() {
            let okey = format!("{key}.origins[{i}]");
            let pattern = OriginPattern::parse(&o.origin)
                .map_err(|m| self.err(&format!("{okey}.origin"), m))?;
            let value = self.secret(&format!("{okey}.value"), &o.value_env, &o.value_file)?;
            let credential = match (o.header, value) {
                (None, None) => None,
                (Some(header), Some(value)) => {
                    let header = header.trim().to_ascii_lowercase();
                    if http_header_name_ok(&header) {
                        Some(Credential { header, value })
                    } else {
                        return Err(self.err(
                            &format!("{okey}.header"),
                            format!("{header:?} is not a header name"),
                        ));
                    }
                }
                (Some(_), None) => {
                    return Err(self.err(
                        &format!("{okey}.header"),
                        "a credential header needs its value: value_env or value_file",
                    ))
                }
                (None, Some(_)) => {
                    return Err(self.err(
                        &format!("{okey}.value"),
                        "a credential value needs its header (e.g. header = \"authorization\")",
                    ))
                }
            };
            let dry_run = match o.dry_run {
                None => None,
                Some(d) if (100..=599).contains(&d.status) => Some(DryRun {
                    status: d.status,
                    body: d.body,
                    content_type: d.content_type,
                }),
                Some(d) => {
                    return Err(self.err(
                        &format!("{okey}.dry_run.status"),
                        format!("{} is not an HTTP status", d.status),
                    ))
                }
            };
            origins.push(HttpOrigin {
                pattern,
                credential,
                allow_private: o.allow_private,
                dry_run,
            });
        }
        let extra_roots = match &h.ca_file {
            None => Vec::new(),
            Some(path) => self.ca_certificates(&format!("{key}.ca_file"), path)?,
        };
        Ok(HttpConfig {
            origins,
            timeout_ms: h.timeout_ms,
            max_response_bytes: h.max_response_bytes,
            max_request_bytes: h.max_request_bytes,
            max_requests_per_run: h.max_requests_per_run,
            concurrency: h.concurrency,
            extra_roots,
        })
    }

    /// The certificates of the PEM file at `path` (relative to the config file), each
    /// checked to parse as a trust anchor, so that a wrong file stops the load instead of
    /// failing every call later.
    fn ca_certificates(&self, key: &str, path: &Path) -> Result<Vec<Vec<u8>>, ConfigError> {
        use rustls::pki_types::{pem::PemObject, CertificateDer};
        let path = self.resolve(path);
        let bytes = std::fs::read(&path)
            .map_err(|e| self.err(key, format!("cannot read {}: {e}", path.display())))?;
        let mut roots = Vec::new();
        for cert in CertificateDer::pem_slice_iter(&bytes) {
            let cert = cert.map_err(|e| {
                self.err(
                    key,
                    format!("{} is not PEM certificates: {e}", path.display()),
                )
            })?;
            let mut store = rustls::RootCertStore::empty();
            store.add(cert.clone()).map_err(|e| {
                self.err(
                    key,
                    format!(
                        "a certificate in {} is not usable as a CA: {e}",
                        path.display()
                    ),
                )
            })?;
            roots.push(cert.to_vec());
        }
        if roots.is_empty() {
            return Err(self.err(key, format!("{} holds no PEM certificate", path.display())));
        }
        Ok(roots)
    }

    /// `[brands.X.llm]`; `key` is `brands.X.llm`.
    fn llm(&self, key: &str, l: RawLlm) -> Result<LlmConfig, ConfigError> {
        if !(l.base_url.starts_with("http://") || l.base_url.starts_with("https://")) {
            return Err(self.err(
                &format!("{key}.base_url"),
                format!("{:?} must start with https:// or http://", l.base_url),
            ));
        }
        if l.model.trim().is_empty() {
            return Err(self.err(&format!("{key}.model"), "must not be empty"));
        }
        if l.timeout_ms == 0
            || l.max_tokens_per_run == 0
            || l.concurrency == 0
            || l.max_calls_per_run == 0
        {
            return Err(self.err(
                key,
                "timeout_ms, max_tokens_per_run, max_calls_per_run and concurrency must be above 0",
            ));
        }
        Ok(LlmConfig {
            base_url: l.base_url.trim_end_matches('/').to_string(),
            model: l.model,
            api_key: self.secret(&format!("{key}.api_key"), &l.api_key_env, &l.api_key_file)?,
            timeout_ms: l.timeout_ms,
            max_tokens_per_run: l.max_tokens_per_run,
            concurrency: l.concurrency,
            max_calls_per_run: l.max_calls_per_run,
        })
    }

    /// `brands.X.knowledge`: a folder that must exist; `key` is `brands.X`.
    fn knowledge(&self, key: &str, dir: &Path) -> Result<PathBuf, ConfigError> {
        let full = self.resolve(dir);
        if !full.is_dir() {
            return Err(self.err(
                &format!("{key}.knowledge"),
                format!("{} is not a folder of Markdown articles", full.display()),
            ));
        }
        Ok(full)
    }

    /// `[brands.X.settings]`, every value as a string (lists joined by commas); `key`
    /// is `brands.X`.
    fn settings(
        &self,
        key: &str,
        table: toml::Table,
    ) -> Result<BTreeMap<String, String>, ConfigError> {
        let mut settings = BTreeMap::new();
        for (k, v) in table {
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
                    return Err(self.err(
                        &format!("{key}.settings.{k}"),
                        "must be a string, number, boolean or list",
                    ))
                }
            };
            settings.insert(k, text);
        }
        Ok(settings)
    }

    /// `[endpoints.*]`: each names a known brand and environment and has its own
    /// token; at least one is needed.
    fn endpoints(
        &self,
        raw: BTreeMap<String, RawEndpoint>,
        brands: &BTreeMap<String, Brand>,
        environments: &BTreeMap<String, Environment>,
    ) -> Result<BTreeMap<String, Endpoint>, ConfigError> {
        let mut endpoints: BTreeMap<String, Endpoint> = BTreeMap::new();
        for (name, ep) in raw {
            let key = format!("endpoints.{name}");
            if !brands.contains_key(&ep.brand) {
                return Err(self.err(
                    &format!("{key}.brand"),
                    format!("no brand named {:?} (known: {})", ep.brand, known(brands)),
                ));
            }
            if !environments.contains_key(&ep.environment) {
                return Err(self.err(
                    &format!("{key}.environment"),
                    format!(
                        "no environment named {:?} (known: {})",
                        ep.environment,
                        known(environments)
                    ),
                ));
            }
            let token = self.endpoint_token(&key, ep.token.clone(), &ep.token_env)?;
            if let Some(other) = endpoints.values().find(|e| e.token == token) {
                return Err(self.err(
                    &format!("{key}.token"),
                    format!(
                        "the same token is used by endpoints.{}; each endpoint needs its own",
                        other.name
                    ),
                ));
            }
            let endpoint = self.endpoint(&key, name.clone(), ep, token)?;
            endpoints.insert(name, endpoint);
        }
        if endpoints.is_empty() {
            return Err(self.err("endpoints", "at least one notification endpoint is needed"));
        }
        Ok(endpoints)
    }

    /// One endpoint with its checked `token`, apart from the checks against the other
    /// sections; `key` is `endpoints.<name>`.
    fn endpoint(
        &self,
        key: &str,
        name: String,
        ep: RawEndpoint,
        token: Secret,
    ) -> Result<Endpoint, ConfigError> {
        let signing_secret_missing = self.options.signing_secrets_may_be_missing
            && (ep
                .signing_secret_file
                .as_ref()
                .is_some_and(|f| !self.resolve(f).exists())
                || ep
                    .signing_secret_env
                    .as_ref()
                    .is_some_and(|v| (self.env)(v).is_none()));
        let signing_secret = if signing_secret_missing {
            None
        } else {
            self.secret(
                &format!("{key}.signing_secret"),
                &ep.signing_secret_env,
                &ep.signing_secret_file,
            )?
        };
        let zendesk_brand = self.zendesk_brand(key, ep.zendesk_brand_id, ep.zendesk_brand)?;
        Ok(Endpoint {
            name,
            brand: ep.brand,
            environment: ep.environment,
            token,
            signing_secret,
            mode: ep.mode,
            signing_secret_file: ep.signing_secret_file.as_deref().map(|f| self.resolve(f)),
            signing_secret_env: ep.signing_secret_env,
            zendesk_brand,
        })
    }

    /// An endpoint's token, inline or from a variable, long and URL-safe enough.
    fn endpoint_token(
        &self,
        key: &str,
        inline: Option<String>,
        var: &Option<String>,
    ) -> Result<Secret, ConfigError> {
        let token = match (inline, var) {
            (Some(_), Some(_)) => {
                return Err(self.err(key, "give either token or token_env, not both"))
            }
            (Some(t), None) => Secret::new(t),
            (None, Some(var)) => (self.env)(var).map(Secret::new).ok_or_else(|| {
                self.err(
                    &format!("{key}.token_env"),
                    format!("environment variable {var} is not set"),
                )
            })?,
            (None, None) => {
                return Err(self.err(
                    key,
                    "needs token or token_env (generate one with `zendesk-gateway new-token`)",
                ))
            }
        };
        let t = token.expose();
        if t.len() < MIN_ENDPOINT_TOKEN_LEN
            || !t
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(self.err(
                &format!("{key}.token"),
                format!(
                    "must be at least {MIN_ENDPOINT_TOKEN_LEN} URL-safe characters (letters, digits, - and _); \
                     generate one with `zendesk-gateway new-token`"
                ),
            ));
        }
        Ok(token)
    }

    /// Which Zendesk brand `setup`'s trigger filters on: an id or a name, not both.
    fn zendesk_brand(
        &self,
        key: &str,
        id: Option<u64>,
        name: Option<String>,
    ) -> Result<Option<ZendeskBrand>, ConfigError> {
        match (id, name) {
            (Some(_), Some(_)) => Err(self.err(
                key,
                "give either zendesk_brand_id or zendesk_brand (a name), not both",
            )),
            (Some(id), None) => Ok(Some(ZendeskBrand::Id(id))),
            (None, Some(n)) if n.trim().is_empty() => {
                Err(self.err(&format!("{key}.zendesk_brand"), "must not be empty"))
            }
            (None, Some(n)) => Ok(Some(ZendeskBrand::Name(n))),
            (None, None) => Ok(None),
        }
    }
}

/// The names of a section's entries, for "known: ..." in messages.
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

/// A header name a credential may use: letters, digits, `-` and `_` (HTTP tokens, less
/// the punctuation no API uses).
fn http_header_name_ok(h: &str) -> bool {
    !h.is_empty()
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The machine's name, for the default replica id.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "SET" => Some("  value\n".into()),
            "BLANK" => Some("  ".into()),
            _ => None,
        }
    }

    fn loader() -> Loader<'static> {
        Loader::new(
            Path::new("/etc/gw/gateway.toml"),
            &env,
            LoadOptions::default(),
        )
    }

    fn message<T: std::fmt::Debug>(r: Result<T, ConfigError>) -> String {
        r.unwrap_err().to_string()
    }

    const TOKEN: &str = "abcdefghijklmnopqrstuvwxyz012345";

    #[test]
    fn secrets_come_from_one_variable_or_one_file() {
        let l = loader();
        let var = |v: &str| Some(v.to_string());
        assert_eq!(
            l.secret("k", &var("SET"), &None).unwrap().unwrap().expose(),
            "value"
        );
        assert!(l.secret("k", &None, &None).unwrap().is_none());
        let e = message(l.secret("k", &var("BLANK"), &None));
        assert_eq!(
            e,
            "/etc/gw/gateway.toml: k: environment variable BLANK is not set or empty"
        );
        let both = l.secret("k", &var("SET"), &Some("f".into()));
        assert!(message(both).contains("not both"));

        let dir = std::env::temp_dir().join(format!("cfg-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("s"), "from-file\n").unwrap();
        std::fs::write(dir.join("empty"), "\n").unwrap();
        let l = Loader::new(&dir.join("gateway.toml"), &env, LoadOptions::default());
        let file = |f: &str| Some(PathBuf::from(f));
        assert_eq!(
            l.secret("k", &None, &file("s")).unwrap().unwrap().expose(),
            "from-file"
        );
        assert!(message(l.secret("k", &None, &file("empty"))).contains("is empty"));
        assert!(message(l.secret("k", &None, &file("absent"))).contains("cannot read secret file"));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn gateway_section_resolves_and_checks() {
        let raw: RawGateway = toml::from_str("data_dir = \"state\"\nmax_inbox_depth = 0").unwrap();
        let g = loader().gateway(raw).unwrap();
        assert_eq!(g.data_dir, PathBuf::from("/etc/gw/state"));
        assert_eq!(g.max_inbox_depth, 1, "a depth of 0 would refuse everything");
        assert_eq!(g.listen.to_string(), "127.0.0.1:8080");
        let raw: RawGateway = toml::from_str("listen = \"nowhere\"").unwrap();
        assert!(message(loader().gateway(raw)).contains("gateway.listen: \"nowhere\""));
        let raw: RawGateway = toml::from_str("concurrency = 0").unwrap();
        assert!(message(loader().gateway(raw)).ends_with("gateway.concurrency: must be at least 1"));
    }

    #[test]
    fn environment_url_from_base_url_or_subdomain() {
        let l = loader();
        let s = |v: &str| Some(v.to_string());
        assert_eq!(
            l.zendesk_url("e", None, s("acme")).unwrap(),
            "https://acme.zendesk.com"
        );
        assert_eq!(
            l.zendesk_url("e", s("http://127.0.0.1:9/"), None).unwrap(),
            "http://127.0.0.1:9"
        );
        assert!(message(l.zendesk_url("e", s("x"), s("y"))).contains("not both"));
        assert!(message(l.zendesk_url("e", None, s("a.b"))).contains("e.subdomain"));
        assert!(message(l.zendesk_url("e", s("ftp://x"), None)).contains("e.base_url"));
        let raw: RawEnvironment =
            toml::from_str("subdomain = \"acme\"\nemail = \"ai@acme.com\"").unwrap();
        assert!(message(l.environment("prod".into(), raw))
            .contains("needs api_token_env or api_token_file"));
        let raw: RawEnvironment = toml::from_str(
            "subdomain = \"acme\"\nemail = \"ai@acme.com\"\napi_token_env = \"SET\"\nrequests_per_minute = 0",
        )
        .unwrap();
        assert!(message(l.environment("prod".into(), raw))
            .contains("environments.prod.requests_per_minute"));
    }

    #[test]
    fn brand_limits_merge_and_settings_become_strings() {
        let l = loader();
        let raw: RawBrand = toml::from_str(
            "plugin = \"p.wasm\"\nmode = \"listening\"\nlimits = { memory_mib = 128 }\n\
             [settings]\nflag = true\nratio = 0.5",
        )
        .unwrap();
        let defaults = Limits {
            deadline_ms: 700,
            ..Limits::default()
        };
        let b = l.brand("kids".into(), raw, &defaults).unwrap();
        assert_eq!((b.limits.memory_mib, b.limits.deadline_ms), (128, 700));
        assert_eq!(
            (b.settings["flag"].as_str(), b.settings["ratio"].as_str()),
            ("true", "0.5")
        );
        let raw: RawBrand =
            toml::from_str("plugin = \"p.wasm\"\nmode = \"live\"\nlimits = { memory_mib = 5000 }")
                .unwrap();
        assert!(message(l.brand("kids".into(), raw, &defaults))
            .contains("brands.kids.limits: memory_mib"));
        let table: toml::Table = toml::from_str("nested = { a = 1 }").unwrap();
        assert!(message(l.settings("brands.kids", table)).contains("brands.kids.settings.nested"));
        let raw: RawLlm = toml::from_str("base_url = \"http://x/v1\"\nmodel = \" \"").unwrap();
        assert!(message(l.llm("brands.kids.llm", raw)).contains("brands.kids.llm.model"));
    }

    #[test]
    fn endpoints_need_their_own_valid_token() {
        let l = loader();
        let s = |v: &str| Some(v.to_string());
        assert!(message(l.endpoint_token("endpoints.a", s(TOKEN), &s("SET"))).contains("not both"));
        assert!(message(l.endpoint_token("endpoints.a", None, &s("UNSET")))
            .contains("endpoints.a.token_env"));
        assert!(
            message(l.endpoint_token("endpoints.a", s("has space in it, 24+ chars"), &None))
                .contains("URL-safe")
        );
        assert!(message(l.zendesk_brand("endpoints.a", None, s(" ")))
            .contains("endpoints.a.zendesk_brand"));

        let environments: BTreeMap<String, Environment> = BTreeMap::new();
        let raw: BTreeMap<String, RawEndpoint> = BTreeMap::new();
        assert!(message(l.endpoints(raw, &BTreeMap::new(), &environments))
            .contains("at least one notification endpoint is needed"));

        let endpoint = |name: &str| {
            format!("[endpoints.{name}]\nbrand = \"retail\"\nenvironment = \"prod\"\ntoken = \"{TOKEN}\"\n")
        };
        let text = format!(
            "[environments.prod]\nsubdomain = \"acme\"\nemail = \"ai@acme.com\"\napi_token_env = \"SET\"\n\
             [brands.retail]\nplugin = \"p.wasm\"\nmode = \"live\"\n{}{}",
            endpoint("a"),
            endpoint("b")
        );
        let e = message(l.config(&text, Path::new("/etc/gw/gateway.toml")));
        assert!(
            e.contains("endpoints.b.token: the same token is used by endpoints.a"),
            "{e}"
        );
        let e = message(l.config(
            &text.replace("\"retail\"\nenv", "\"kids\"\nenv"),
            Path::new("/x"),
        ));
        assert!(
            e.contains("endpoints.a.brand: no brand named \"kids\" (known: retail)"),
            "{e}"
        );
    }
}
