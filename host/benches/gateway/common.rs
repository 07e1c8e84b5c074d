//! What every section shares: the run's scale, statistics, scratch folders, a Zendesk
//! simulator without a quota, gateway configs, and the printing of one figure.

use std::path::{Path, PathBuf};
use std::time::Duration;
use zendesk_simulator::{NewTicket, Simulator, SimulatorConfig};

/// How big the run is: `BENCH_SHORT=1` shrinks every section to a smoke test that
/// checks the suite still works (CI), without numbers worth reading.
#[derive(Debug, Clone, Copy)]
pub struct Scale {
    /// True in short mode.
    pub short: bool,
}

impl Scale {
    /// Short when `BENCH_SHORT` is set to anything but `0` or the empty string.
    pub fn from_env() -> Scale {
        let short = std::env::var("BENCH_SHORT").is_ok_and(|v| !v.is_empty() && v != "0");
        Scale { short }
    }

    /// `short` in short mode, else `full`.
    pub fn pick<T>(&self, short: T, full: T) -> T {
        if self.short {
            short
        } else {
            full
        }
    }
}

/// The `p`-th percentile (0..=100) of `samples`, which it sorts.
pub fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    samples.sort_unstable();
    let rank = ((p / 100.0) * (samples.len() - 1) as f64).round() as usize;
    samples[rank.min(samples.len() - 1)]
}

/// Mean of `samples`.
pub fn mean(samples: &[Duration]) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    samples.iter().sum::<Duration>() / samples.len() as u32
}

/// Milliseconds with one decimal.
pub fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// Microseconds, no decimals.
pub fn us(d: Duration) -> String {
    format!("{:.0} µs", d.as_secs_f64() * 1e6)
}

/// Bytes as MiB with one decimal.
pub fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// Prints one figure: `section  project | baseline | ratio (target)`, columns aligned
/// on the section name so a run reads as a table.
pub fn figure(section: &str, project: &str, baseline: &str, ratio: &str) {
    println!("{section:<22} {project} | {baseline} | {ratio}");
}

/// The folder all scratch folders of this run live in (removed at the end).
pub fn scratch_root() -> PathBuf {
    std::env::temp_dir().join(format!("zendesk-gateway-bench-{}", std::process::id()))
}

/// A fresh, empty scratch folder named `tag` for this run.
pub fn scratch_dir(tag: &str) -> PathBuf {
    let dir = scratch_root().join(tag);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch folder");
    dir
}

/// `bytes` (a component) with one more custom section appended: the same code under a
/// different content hash, so the gateway sees a new plugin version (and compiles it).
/// Custom sections may appear anywhere in a component and do not change its meaning.
pub fn with_custom_section(bytes: &[u8], name: &str, payload: &[u8]) -> Vec<u8> {
    fn leb128(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    let mut content = Vec::new();
    leb128(name.len(), &mut content);
    content.extend_from_slice(name.as_bytes());
    content.extend_from_slice(payload);
    let mut out = bytes.to_vec();
    out.push(0); // custom section id
    leb128(content.len(), &mut out);
    out.extend_from_slice(&content);
    out
}

/// The customer who opens every benchmark ticket (in the simulator's default users).
pub const CUSTOMER: u64 = 1001;

/// Tickets that make each example plugin do its full job (read, reply, tag, hand off
/// or answer): the triage plugin gets a billing complaint, the order desk a
/// where-is-my-order question.
pub fn new_ticket(order_desk: bool) -> NewTicket {
    let (subject, body) = if order_desk {
        (
            "Where is my order?",
            "Hello, I ordered a rain jacket last week and haven't received a tracking number yet. Where is my order?",
        )
    } else {
        (
            "Charged twice for my subscription",
            "Hi, I was charged twice on my credit card for the March invoice. Can you refund the duplicate charge?",
        )
    };
    NewTicket {
        subject: subject.into(),
        body: body.into(),
        requester_id: CUSTOMER,
        ..Default::default()
    }
}

/// A simulator whose quota is out of the way: the benchmarks measure the gateway, not
/// Zendesk's rate limit (which the gateway's own limiter would otherwise pace).
pub async fn start_simulator() -> anyhow::Result<Simulator> {
    let config = SimulatorConfig {
        rate_limit_per_minute: 100_000_000,
        // Zendesk's Update Ticket limits (100 a minute, 30 per ticket in 10 minutes)
        // would pace every figure at 100 tickets a minute; the gateway's own budget is
        // lifted too (see `load_config`). `zendesk_costs` measures with the real ones.
        ticket_updates_per_minute: u32::MAX,
        ticket_updates_per_user_per_ticket: u32::MAX,
        ..SimulatorConfig::default()
    };
    Simulator::start(config, "127.0.0.1:0".parse()?).await
}

/// One brand of a benchmark config, with an endpoint of the same name.
pub struct BrandDef {
    /// Brand and endpoint name.
    pub name: String,
    /// Plugin file.
    pub plugin: PathBuf,
}

impl BrandDef {
    /// A brand named `name` served by `plugin`.
    pub fn new(name: impl Into<String>, plugin: impl Into<PathBuf>) -> BrandDef {
        BrandDef {
            name: name.into(),
            plugin: plugin.into(),
        }
    }

    /// The endpoint token of this brand (24+ URL-safe characters, as the config wants).
    pub fn token(&self) -> String {
        endpoint_token(&self.name)
    }
}

/// The endpoint token of brand `name` in benchmark configs.
pub fn endpoint_token(name: &str) -> String {
    format!("bench-{name}-endpoint-token-0123456789abcdef")
}

/// A gateway config against the simulator at `sim_url`: default settings except that
/// the inbox may grow without back-pressure (ingestion sends far more than 10,000
/// tickets) and the client-side Zendesk quota is out of the way. `gateway_extra` adds
/// lines to `[gateway]`.
pub fn config_text(
    sim_url: &str,
    data_dir: &Path,
    listen: &str,
    brands: &[BrandDef],
    gateway_extra: &str,
) -> String {
    let mut text = format!(
        r#"[gateway]
listen = "{listen}"
data_dir = "{data}"
max_inbox_depth = 100000000
{gateway_extra}

[environments.production]
base_url = "{sim_url}"
email = "gladly-ai@example.com"
api_token_file = "zendesk-token"
requests_per_minute = 100000000
sweep_every_secs = 0
"#,
        data = data_dir.display()
    );
    for b in brands {
        text.push_str(&format!(
            "\n[brands.{name}]\nplugin = \"{plugin}\"\nmode = \"live\"\n\n[endpoints.{name}]\nbrand = \"{name}\"\nenvironment = \"production\"\ntoken = \"{token}\"\n",
            name = b.name,
            plugin = b.plugin.display(),
            token = b.token(),
        ));
    }
    text
}

/// Loads a benchmark config with the ticket-update budget out of the way: the config
/// allows at most Zendesk's 100 a minute, which would make throughput figures measure
/// Zendesk's limit instead of the gateway.
pub fn load_config(path: &Path) -> anyhow::Result<zendesk_gateway::config::Config> {
    let mut config = zendesk_gateway::config::Config::load(path)?;
    for env in config.environments.values_mut() {
        env.ticket_updates_per_minute = 100_000_000;
    }
    Ok(config)
}

/// Writes `text` as `dir/gateway.toml` with the simulator's API token beside it;
/// returns the config's path.
pub fn write_config(dir: &Path, text: &str, sim_token: &str) -> PathBuf {
    std::fs::write(dir.join("zendesk-token"), sim_token).expect("token file");
    let path = dir.join("gateway.toml");
    std::fs::write(&path, text).expect("config file");
    path
}

/// The simulator's API token (the default config's).
pub fn sim_token() -> String {
    SimulatorConfig::default().api_token
}

/// Writes `bytes` to `path` the way deploy tools replace a file: a temporary file
/// renamed over it, so the gateway never sees a half-written plugin.
pub fn rename_over(path: &Path, bytes: &[u8]) {
    let tmp = path.with_extension("wasm.tmp");
    std::fs::write(&tmp, bytes).expect("write plugin");
    std::fs::rename(&tmp, path).expect("rename plugin");
}

/// A `{"id": N}` notification body.
pub fn notification(id: u64) -> String {
    format!("{{\"id\": {id}}}")
}
