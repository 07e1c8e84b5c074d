//! A gateway and a Zendesk simulator on loopback, with real plugins compiled from
//! `plugins/` by the host's build script.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use zendesk_gateway::config::Config;
use zendesk_gateway::gateway::StartOptions;
use zendesk_gateway::service::{launch, RunningGateway};
use zendesk_gateway::store::audit::AuditRecord;
use zendesk_gateway::zendesk::ClientOptions;
use zendesk_simulator::{NewTicket, SimUser, Simulator, SimulatorConfig};

/// The seat's id in the default simulator config.
pub const CUSTOMER: u64 = 501;
/// The endpoint token of the `triage` brand in [`Harness`] configs.
pub const TRIAGE_TOKEN: &str = "triage-endpoint-token-0123456789abcdef";
/// The endpoint token of the `orders` brand.
pub const ORDERS_TOKEN: &str = "orders-endpoint-token-0123456789abcdef";
/// The admin token.
pub const ADMIN_TOKEN: &str = "test-admin-token";

/// One brand in a test config.
pub struct BrandSpec {
    /// Brand name (also the endpoint name).
    pub name: &'static str,
    /// Plugin file.
    pub plugin: PathBuf,
    /// `live` or `listening`.
    pub mode: &'static str,
    /// Endpoint token.
    pub token: String,
    /// Extra TOML lines in the brand table (e.g. limits).
    pub extra: String,
    /// Extra TOML lines in the endpoint table (e.g. a signing secret).
    pub endpoint_extra: String,
}

impl BrandSpec {
    /// A live brand.
    pub fn new(name: &'static str, plugin: &str, token: &str) -> Self {
        BrandSpec {
            name,
            plugin: PathBuf::from(plugin),
            mode: "live",
            token: token.to_string(),
            extra: String::new(),
            endpoint_extra: String::new(),
        }
    }
}

/// The simulator and a gateway in front of it.
pub struct Harness {
    /// The Zendesk simulator.
    pub sim: Simulator,
    /// The gateway.
    pub gw: Option<RunningGateway>,
    /// HTTP client for notifications.
    pub http: reqwest::Client,
    /// Scratch folder (data dir).
    pub dir: PathBuf,
    /// The config text the gateway runs with.
    pub config_text: String,
}

/// A unique scratch folder.
pub fn scratch_dir(tag: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!(
        "gw-e2e-{tag}-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&p).unwrap();
    p
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    t ^ N
        .fetch_add(1, Ordering::Relaxed)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// The default simulator config plus a few customers.
pub fn sim_config() -> SimulatorConfig {
    let mut c = SimulatorConfig::default();
    c.users.push(SimUser {
        id: CUSTOMER,
        name: "Maria Lopez".into(),
        email: "maria@example.net".into(),
        role: "end-user".into(),
    });
    c
}

/// Config text for `brands` against `sim_url`.
/// Writes the secret files a config from [`config_text`] reads: the simulator's API
/// token (`zendesk-token`), a wrong one (`wrong-token`) and the admin token.
pub fn write_secrets(dir: &Path, sim_token: &str) {
    std::fs::write(dir.join("zendesk-token"), sim_token).unwrap();
    std::fs::write(dir.join("wrong-token"), "not-the-token").unwrap();
    std::fs::write(dir.join("admin-token"), ADMIN_TOKEN).unwrap();
    std::fs::write(
        dir.join("zendesk-admin-token"),
        SimulatorConfig::default().admin_api_token,
    )
    .unwrap();
}

/// The environment lines that give `setup` the simulator's administrator (its token in
/// `zendesk-admin-token`, see [`write_secrets`]).
pub const ZENDESK_ADMIN: &str =
    "admin_email = \"ada@example.com\"\nadmin_api_token_file = \"zendesk-admin-token\"";

/// Config text for `brands` against `sim_url`; secrets are read from files in `data_dir`
/// (see [`write_secrets`]); `api_token_file` is `zendesk-token` or `wrong-token`.
pub fn config_text(
    sim_url: &str,
    data_dir: &Path,
    brands: &[BrandSpec],
    api_token_file: &str,
) -> String {
    let mut text = format!(
        r#"
[gateway]
listen = "127.0.0.1:0"
data_dir = "{data}"
concurrency = 4
admin_token_file = "admin-token"

[environments.production]
base_url = "{sim_url}"
email = "gladly-ai@example.com"
api_token_file = "{api_token_file}"
requests_per_minute = 6000
# The whole of Zendesk's Update Ticket limit (the tests have no human agents unless
# they say so), and no catch-up sweep unless a test turns it on.
ticket_updates_per_minute = 100
sweep_every_secs = 0
"#,
        data = data_dir.display()
    );
    for b in brands {
        text.push_str(&format!(
            "\n[brands.{name}]\nplugin = \"{plugin}\"\nmode = \"{mode}\"\n{extra}\n\n[endpoints.{name}]\nbrand = \"{name}\"\nenvironment = \"production\"\ntoken = \"{token}\"\n{endpoint_extra}\n",
            name = b.name,
            plugin = b.plugin.display(),
            mode = b.mode,
            extra = b.extra,
            token = b.token,
            endpoint_extra = b.endpoint_extra
        ));
    }
    text
}

/// Writes the config and its secrets into `dir` and loads it as the gateway would.
pub fn write_config(dir: &Path, text: &str, sim_token: &str) -> Config {
    write_secrets(dir, sim_token);
    let path = dir.join("gateway.toml");
    std::fs::write(&path, text).unwrap();
    Config::load(&path).expect("test config is valid")
}

/// Client options that keep tests quick: short waits on retries.
pub fn fast_client() -> ClientOptions {
    ClientOptions {
        request_timeout: Duration::from_secs(5),
        max_retries: 3,
        initial_backoff: Duration::from_millis(20),
        max_wait: Duration::from_secs(3),
    }
}

impl Harness {
    /// A simulator and a gateway serving the triage and order-desk example brands.
    pub async fn start() -> Harness {
        Harness::with_brands(vec![
            BrandSpec::new(
                "triage",
                zendesk_gateway::plugin_artifacts::TRIAGE_PATH,
                TRIAGE_TOKEN,
            ),
            BrandSpec::new(
                "orders",
                zendesk_gateway::plugin_artifacts::ORDER_DESK_PATH,
                ORDERS_TOKEN,
            ),
        ])
        .await
    }

    /// A simulator and a gateway serving `brands`.
    pub async fn with_brands(brands: Vec<BrandSpec>) -> Harness {
        Harness::custom(sim_config(), brands, |t| t).await
    }

    /// A simulator with `config` and a gateway serving `brands`, its config text passed
    /// through `tweak` first (to change `[gateway]` settings).
    pub async fn custom(
        config: SimulatorConfig,
        brands: Vec<BrandSpec>,
        tweak: impl FnOnce(String) -> String,
    ) -> Harness {
        let token = config.api_token.clone();
        let sim = Simulator::start(config, "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let dir = scratch_dir("h");
        let text = tweak(config_text(&sim.base_url(), &dir, &brands, "zendesk-token"));
        let config = write_config(&dir, &text, &token);
        let gw = launch(
            config,
            StartOptions {
                client: fast_client(),
            },
        )
        .await
        .expect("gateway starts");
        Harness {
            sim,
            gw: Some(gw),
            http: reqwest::Client::new(),
            dir,
            config_text: text,
        }
    }

    /// The running gateway.
    pub fn gw(&self) -> &RunningGateway {
        self.gw.as_ref().expect("gateway running")
    }

    /// A new ticket from the test customer.
    pub fn ticket(&self, subject: &str, body: &str) -> u64 {
        self.sim
            .create_ticket(NewTicket {
                subject: subject.into(),
                body: body.into(),
                requester_id: CUSTOMER,
                ..Default::default()
            })
            .id
    }

    /// POSTs a raw body to `/notify/{token}`.
    pub async fn post(&self, token: &str, body: impl Into<reqwest::Body>) -> reqwest::Response {
        self.http
            .post(format!("{}/notify/{token}", self.gw().url()))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// Notifies the gateway about `ticket` as Zendesk's trigger would; asserts 202.
    pub async fn notify(&self, token: &str, ticket: u64) {
        let resp = self.post(token, format!("{{\"id\": {ticket}}}")).await;
        assert_eq!(
            resp.status(),
            202,
            "notification for ticket {ticket} accepted"
        );
    }

    /// Waits until `ticket` has at least `runs` finished (non-retry) audit records.
    pub async fn wait_runs(&self, ticket: u64, runs: usize) -> Vec<AuditRecord> {
        let started = Instant::now();
        loop {
            let records: Vec<AuditRecord> = self
                .gw()
                .gateway
                .audit
                .query(Some(ticket), 1000)
                .unwrap()
                .into_iter()
                .filter(|r| r.outcome != "retry")
                .collect();
            if records.len() >= runs {
                return records;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "ticket {ticket}: {} of {runs} runs after 30 s",
                records.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// API calls the simulator received for one ticket, as (method, path).
    pub fn calls_for(&self, ticket: u64) -> Vec<(String, String)> {
        let prefix = format!("/api/v2/tickets/{ticket}");
        self.sim
            .calls()
            .into_iter()
            .filter(|c| {
                let p = c.path.split('?').next().unwrap_or("");
                p == prefix || p.starts_with(&format!("{prefix}/")) || p == format!("{prefix}.json")
            })
            .map(|c| (c.method.clone(), c.path.clone()))
            .collect()
    }

    /// The gateway's `/metrics` text.
    pub async fn metrics_text(&self) -> String {
        self.http
            .get(format!("{}/metrics", self.gw().url()))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Stops the gateway.
    pub async fn stop(&mut self) {
        if let Some(gw) = self.gw.take() {
            gw.shutdown(Duration::from_secs(5)).await;
        }
    }
}
