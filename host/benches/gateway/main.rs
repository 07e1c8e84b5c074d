//! The gateway's benchmark suite: every figure of the performance targets, each with
//! its baseline measured in the same run and their ratio, one line per figure.
//!
//! ```sh
//! cargo bench -p zendesk-gateway                 # the full suite, a few minutes
//! BENCH_SHORT=1 cargo bench -p zendesk-gateway   # a quick run that checks it works
//! ```
//!
//! Sections, in order: ingestion, dispatch, end to end (with Zendesk calls per
//! ticket), hot reload, run model (quota-bound throughput, time to first response),
//! isolation (computing plugins beside a healthy brand), start-up and memory, Zendesk
//! costs (calls per customer message, the sweep's share of the quota), replicas (two
//! against one on PostgreSQL, runs waiting on a slow fake model). Each module's docs say what exactly is
//! measured on each side. `docs/benchmarks.md` has results and how to read them.
//!
//! Criterion is not used: the figures are ratios against baselines that need servers,
//! files and child processes set up around them, not timings of one closure.

mod common;
mod dispatch;
mod end_to_end;
mod footprint;
mod ingestion;
mod isolation;
mod reload;
mod replicas;
mod run_model;
mod zendesk_costs;

use common::Scale;
use std::time::Instant;

/// A line about the machine: on a shared 2-core machine, figures mean little without it.
fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kib| kib.parse::<u64>().ok())
        })
        .map(|kib| format!("{:.1} GiB", kib as f64 / (1024.0 * 1024.0)))
        .unwrap_or_else(|| "unknown memory".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    // Other work on the machine skews every figure; the load says how much there was.
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into());
    format!("{cores} cores ({cpu}), {memory}, load average {load} at start")
}

fn main() {
    let scale = Scale::from_env();
    // The gateway logs as in production (info and up), into a sink: the suite pays for
    // building log lines, as a real deployment does, without filling the terminal.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
        .with_writer(std::io::sink)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");

    println!(
        "zendesk-gateway benchmarks: {} mode, {} build, {}",
        if scale.short {
            "SHORT (BENCH_SHORT=1: checks the suite runs; numbers not meaningful)"
        } else {
            "full"
        },
        if cfg!(debug_assertions) {
            "unoptimised"
        } else {
            "optimised"
        },
        machine()
    );
    let started = Instant::now();
    let mut failed = Vec::new();
    type Section =
        fn(Scale) -> std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<()>>>>;
    let sections: [(&str, Section); 9] = [
        ("ingestion", |s| Box::pin(ingestion::run(s))),
        ("dispatch", |s| Box::pin(dispatch::run(s))),
        ("end to end", |s| Box::pin(end_to_end::run(s))),
        ("hot reload", |s| Box::pin(reload::run(s))),
        ("run model", |s| Box::pin(run_model::run(s))),
        ("isolation", |s| Box::pin(isolation::run(s))),
        ("memory and start-up", |s| Box::pin(footprint::run(s))),
        ("zendesk costs", |s| Box::pin(zendesk_costs::run(s))),
        ("replicas", |s| Box::pin(replicas::run(s))),
    ];
    // BENCH_ONLY=<section name> runs one section (e.g. BENCH_ONLY=ingestion), for
    // repeating one figure while working on it.
    let only = std::env::var("BENCH_ONLY").ok();
    for (name, section) in sections {
        if only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        if let Err(e) = runtime.block_on(section(scale)) {
            println!("{name:<22} FAILED: {e:#}");
            failed.push(name);
        }
    }
    let _ = std::fs::remove_dir_all(common::scratch_root());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "done in {:.1} s; load averages (1, 5, 15 min) at the end: {}",
        started.elapsed().as_secs_f64(),
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    if !failed.is_empty() {
        eprintln!("benchmark sections failed: {}", failed.join(", "));
        std::process::exit(1);
    }
}
