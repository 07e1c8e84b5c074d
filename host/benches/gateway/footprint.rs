//! Memory and start-up: the real `zendesk-gateway serve` binary, started as a child
//! process with configs of several brands (each with a plugin of its own content, so
//! each is compiled and held separately), against the simulator in this process.
//!
//! * Start-up: from spawning the process to `/readyz` answering 200 (credentials
//!   verified, every plugin loaded), first with an empty compile cache (every plugin
//!   compiled), then again on the same data folder (every plugin from the cache).
//! * Memory: the child's resident set (`VmRSS`) after the warm start, once every brand
//!   has handled one ticket (so each brand's plugin has been instantiated). A separate
//!   process keeps the benchmark's own memory out of the figure.

use crate::common::{self, figure, mib, BrandDef, Scale};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use zendesk_simulator::Simulator;

/// The gateway binary cargo built alongside this benchmark.
const GATEWAY_BIN: &str = env!("CARGO_BIN_EXE_zendesk-gateway");

/// One start of the gateway process.
struct Start {
    /// Spawn -> `/readyz` answered 200.
    ready_after: Duration,
    /// Resident memory once every brand handled a ticket, in bytes.
    rss: u64,
}

/// The resident set size of process `pid`, in bytes.
fn vm_rss(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .ok_or_else(|| anyhow::anyhow!("no VmRSS in /proc/{pid}/status"))?;
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("malformed {line:?}"))?
        .parse()?;
    Ok(kib * 1024)
}

/// A loopback port that was free a moment ago (the child binds it).
fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Kills the child when dropped, so a failed run leaves no process behind.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the gateway with `config`, waits until it is ready, sends one ticket to each
/// brand, waits until all are answered, reads its memory, and stops it.
async fn start_once(
    config: &Path,
    port: u16,
    sim: &Simulator,
    brands: &[BrandDef],
) -> anyhow::Result<Start> {
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    let mut child = Killed(
        Command::new(GATEWAY_BIN)
            .arg("serve")
            .arg("--config")
            .arg(config)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?,
    );
    let timeout = Duration::from_secs(600);
    loop {
        if let Some(status) = child.0.try_wait()? {
            anyhow::bail!("the gateway exited during start-up: {status}");
        }
        let ready = http
            .get(format!("{base}/readyz"))
            .timeout(Duration::from_secs(1))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200);
        if ready {
            break;
        }
        anyhow::ensure!(started.elapsed() < timeout, "not ready after {timeout:?}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let ready_after = started.elapsed();

    let mut ids = Vec::new();
    for (i, brand) in brands.iter().enumerate() {
        let id = sim.create_ticket(common::new_ticket(i % 2 == 1)).id;
        let answer = http
            .post(format!("{base}/notify/{}", brand.token()))
            .header("content-type", "application/json")
            .body(common::notification(id))
            .send()
            .await?;
        anyhow::ensure!(answer.status() == 202, "notification refused");
        ids.push(id);
    }
    let started = Instant::now();
    // Each example plugin answers a first contact, so a second comment means done.
    while !ids
        .iter()
        .all(|id| sim.ticket(*id).is_some_and(|t| t.comments.len() > 1))
    {
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(60),
            "tickets not handled after 60 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let rss = vm_rss(child.0.id())?;
    drop(child);
    Ok(Start { ready_after, rss })
}

/// Runs the section and prints its figures.
pub async fn run(scale: Scale) -> anyhow::Result<()> {
    let counts: [usize; 3] = scale.pick([1, 2, 3], [1, 10, 50]);
    let sim = common::start_simulator().await?;
    let triage = std::fs::read(zendesk_gateway::plugin_artifacts::TRIAGE_PATH)?;
    let orders = std::fs::read(zendesk_gateway::plugin_artifacts::ORDER_DESK_PATH)?;

    let mut memory = Vec::new();
    for n in counts {
        let dir = common::scratch_dir(&format!("footprint-{n}"));
        let plugins = dir.join("plugins");
        std::fs::create_dir_all(&plugins)?;
        // Brands take the two example plugins in turn, each with a content hash of
        // its own: N brands are N plugins to compile and keep.
        let brands: Vec<BrandDef> = (0..n)
            .map(|i| {
                let base = if i % 2 == 0 { &triage } else { &orders };
                let path = plugins.join(format!("brand{i}.wasm"));
                std::fs::write(
                    &path,
                    common::with_custom_section(base, "bench-brand", &i.to_le_bytes()),
                )
                .expect("plugin file");
                BrandDef::new(format!("brand{i}"), path)
            })
            .collect();
        let port = free_port()?;
        let text = common::config_text(
            &sim.base_url(),
            &dir.join("data"),
            &format!("127.0.0.1:{port}"),
            &brands,
            "",
        );
        let config = common::write_config(&dir, &text, &common::sim_token());
        let cold = start_once(&config, port, &sim, &brands).await?;
        let warm = start_once(&config, port, &sim, &brands).await?;
        let label = if n == 1 {
            "1 brand".to_string()
        } else {
            format!("{n} brands")
        };
        let ratio = warm.ready_after.as_secs_f64() / cold.ready_after.as_secs_f64();
        figure(
            &format!("start-up {label}"),
            &format!("warm compile cache {:.3} s", warm.ready_after.as_secs_f64()),
            &format!("cold compile cache {:.3} s", cold.ready_after.as_secs_f64()),
            &format!("ratio {ratio:.2} (warm / cold; informational)"),
        );
        memory.push((label, warm.rss));
    }
    let (first_label, first) = memory[0].clone();
    let (last_label, last) = memory[memory.len() - 1].clone();
    let per_brand = (last.saturating_sub(first)) / (counts[2] - counts[0]) as u64;
    figure(
        "memory (RSS)",
        &memory
            .iter()
            .map(|(label, rss)| format!("{label} {}", mib(*rss)))
            .collect::<Vec<_>>()
            .join(", "),
        &format!("baseline {first_label} {}", mib(first)),
        &format!(
            "ratio {:.2} ({last_label} / {first_label}; +{} per brand; informational)",
            last as f64 / first as f64,
            mib(per_brand)
        ),
    );
    sim.shutdown().await;
    Ok(())
}
