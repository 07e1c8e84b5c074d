//! Isolation under hostile plugins (issue 13): plugins that compute, flood their output,
//! bomb the knowledge base, flood refused actions or the model, each run next to a
//! healthy brand. Each test asserts that `/notify` keeps answering, that the healthy
//! brand's ticket waits for nothing but its own run, that the host's memory stays
//! bounded, and that the hostile ticket goes to a human with a reason in plain words.

use crate::harness::*;
use std::time::{Duration, Instant};
use zendesk_gateway::plugin_artifacts as artifacts;

/// What `/notify` must answer within while hostile plugins run. The target is
/// 50 ms at p99 on an idle machine (the benchmark reports the real figure); on a loaded
/// two-core test machine this is a bound well below the old behaviour, where a
/// computing plugin held the thread for seconds.
const NOTIFY_BOUND: Duration = Duration::from_secs(1);
/// Margin between the healthy ticket's own run time and the time from its
/// notification to its audit record (queueing, inbox, recording).
const HEALTHY_MARGIN: Duration = Duration::from_millis(1500);

fn spec(name: &'static str, path: &str, limits: &str, settings: &str) -> BrandSpec {
    let mut b = BrandSpec::new(name, path, &token(name));
    b.extra = format!("limits = {{ {limits} }}\nsettings = {{ {settings} }}");
    b
}

fn token(name: &str) -> String {
    format!("{name}-endpoint-token-0123456789abcdef")
}

/// A gateway binary running as its own process (its own runtime, sized by the machine's
/// cores, as in production), in front of a simulator in the test process: a plugin that
/// holds the gateway's threads cannot starve the simulator and hide the defect.
pub struct Proc {
    /// The Zendesk simulator.
    pub sim: zendesk_simulator::Simulator,
    child: std::process::Child,
    url: String,
    http: reqwest::Client,
}

impl Proc {
    /// Starts the simulator and the gateway binary serving `brands`.
    pub async fn start(brands: Vec<BrandSpec>) -> Proc {
        Proc::start_with(brands, &[]).await
    }

    /// Like [`Proc::start`], with extra `(name, content)` files in the data folder.
    pub async fn start_with(brands: Vec<BrandSpec>, files: &[(&str, &str)]) -> Proc {
        let config = sim_config();
        let token = config.api_token.clone();
        let sim = zendesk_simulator::Simulator::start(config, "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let dir = scratch_dir("iso");
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let text = config_text(&sim.base_url(), &dir, &brands, "zendesk-token").replace(
            "listen = \"127.0.0.1:0\"",
            &format!("listen = \"127.0.0.1:{port}\""),
        );
        for (name, content) in files {
            let path = dir.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, content).unwrap();
        }
        let text = text.replace("@DATA@", &dir.display().to_string());
        write_config(&dir, &text, &token);
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_zendesk-gateway"))
            .args(["serve", "--config"])
            .arg(dir.join("gateway.toml"))
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start the gateway binary");
        let p = Proc {
            sim,
            child,
            url: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
        };
        let started = Instant::now();
        loop {
            if let Ok(r) = p.http.get(format!("{}/healthz", p.url)).send().await {
                if r.status() == 200 {
                    break;
                }
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "gateway did not come up"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        p
    }

    /// A new ticket from the test customer.
    pub fn ticket(&self, subject: &str, body: &str) -> u64 {
        self.sim
            .create_ticket(zendesk_simulator::NewTicket {
                subject: subject.into(),
                body: body.into(),
                requester_id: CUSTOMER,
                ..Default::default()
            })
            .id
    }

    /// Notifies the gateway about `ticket`; asserts 202 and returns how long it took.
    pub async fn notify(&self, token: &str, ticket: u64) -> Duration {
        let sent = Instant::now();
        let resp = self
            .http
            .post(format!("{}/notify/{token}", self.url))
            .header("content-type", "application/json")
            .body(format!("{{\"id\": {ticket}}}"))
            .timeout(Duration::from_secs(60))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 202, "notification for ticket {ticket}");
        sent.elapsed()
    }

    /// Every audit record of `ticket`, retries included, as `/admin/audit` lists them.
    pub async fn records(&self, ticket: u64) -> Vec<serde_json::Value> {
        let body: serde_json::Value = self
            .http
            .get(format!("{}/admin/audit?ticket={ticket}", self.url))
            .bearer_auth(ADMIN_TOKEN)
            .timeout(Duration::from_secs(60))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["records"].as_array().cloned().unwrap_or_default()
    }

    /// Waits until `ticket` has a finished run in the audit trail; returns the first.
    pub async fn wait_run(&self, ticket: u64) -> Run {
        let started = Instant::now();
        loop {
            let runs: Vec<Run> = self
                .records(ticket)
                .await
                .iter()
                .filter(|r| r["outcome"] != "retry")
                .map(|r| Run {
                    outcome: r["outcome"].as_str().unwrap_or("").to_string(),
                    reason: r["reason"].as_str().unwrap_or("").to_string(),
                    duration: Duration::from_millis(r["duration_ms"].as_u64().unwrap_or(0)),
                })
                .collect();
            if let Some(run) = runs.into_iter().last() {
                return run;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "ticket {ticket}: no run after 60 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The gateway process's resident memory, in MB.
    pub fn rss_mb(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kb| kb / 1024)
            .unwrap_or(0)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One finished run, from the audit trail.
#[derive(Debug)]
pub struct Run {
    /// `handled`, `handed_off`, `skipped` or `failed`.
    pub outcome: String,
    /// Why.
    pub reason: String,
    /// The run's own time.
    pub duration: Duration,
}

/// Posts `/notify` for `ticket` on the healthy brand `n` times, spaced out, and returns
/// each answer's latency.
async fn notify_latencies(h: &Proc, ticket: u64, n: usize) -> Vec<Duration> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(h.notify(TRIAGE_TOKEN, ticket).await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    out
}

fn note_of(h: &Proc, id: u64) -> String {
    let state = h.sim.ticket(id).unwrap();
    state
        .comments
        .iter()
        .skip(1)
        .filter(|c| c["public"] != true)
        .map(|c| c["body"].as_str().unwrap_or("").to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The healthy brand's ticket is handled; returns (time from notification to record,
/// its own run time).
async fn healthy_run(h: &Proc) -> (Duration, Duration) {
    let healthy = h.ticket("Password reset", "I cannot log in to my account.");
    let sent = Instant::now();
    h.notify(TRIAGE_TOKEN, healthy).await;
    let run = h.wait_run(healthy).await;
    assert_ne!(run.outcome, "failed", "{run:?}");
    (sent.elapsed(), run.duration)
}

/// The bound on the gateway process's memory while a hostile plugin runs: the engine's
/// reserved slots are virtual, so resident memory is the plugins' memory actually used
/// (capped per brand) plus the host's own.
const RSS_BOUND_MB: u64 = 400;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn computing_plugins_do_not_hold_the_threads_that_serve_others() {
    // Three plugins compute for 3 s inside a 8 s deadline, one computes past its 2 s
    // deadline: more computing runs than the runtime has threads.
    let h = Proc::start(vec![
        BrandSpec::new("triage", artifacts::TRIAGE_PATH, TRIAGE_TOKEN),
        spec(
            "compute",
            artifacts::HOSTILE_COMPUTE_PATH,
            "deadline_ms = 8000, memory_mib = 16",
            "compute_ms = \"3000\"",
        ),
        spec(
            "spinner",
            artifacts::HOSTILE_COMPUTE_PATH,
            "deadline_ms = 2000, memory_mib = 16",
            "compute_ms = \"60000\"",
        ),
    ])
    .await;
    let warm = h.ticket("Warm up", "hello");
    h.notify(TRIAGE_TOKEN, warm).await;
    h.wait_run(warm).await;

    let mut computing = Vec::new();
    for i in 0..3 {
        let id = h.ticket(&format!("Compute {i}"), "hello");
        h.notify(&token("compute"), id).await;
        computing.push(id);
        // Spaced out, so each run is picked up by whichever thread is free: all of the
        // runtime's threads end up running plugins (the issue's "two such runs stop the
        // gateway").
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let spinning = h.ticket("Spin", "hello");
    let spin_sent = Instant::now();
    h.notify(&token("spinner"), spinning).await;
    // Let the runs start computing.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let latencies = notify_latencies(&h, warm, 20).await;
    let worst = latencies.iter().max().copied().unwrap_or_default();
    eprintln!("/notify latencies while computing: {latencies:?}");
    assert!(
        worst < NOTIFY_BOUND,
        "/notify took up to {worst:?} while plugins computed: {latencies:?}"
    );
    let (waited, own) = healthy_run(&h).await;
    eprintln!("healthy ticket: {waited:?} from notification, own run {own:?}");
    assert!(
        waited < own + HEALTHY_MARGIN,
        "the healthy ticket took {waited:?} for a run of {own:?}"
    );

    for id in &computing {
        let run = h.wait_run(*id).await;
        assert_eq!(run.outcome, "handed_off", "{run:?}");
        assert!(run.reason.contains("computed for"), "{run:?}");
    }
    let run = h.wait_run(spinning).await;
    assert_eq!(run.outcome, "failed", "{run:?}");
    assert!(
        run.reason.contains("time limit of 2000 ms"),
        "the reason names the real deadline: {}",
        run.reason
    );
    // Handed off after 2 s of its own computing. When it spent most of its first 2 s
    // queued for a compute slot behind the other brand's runs, that attempt was the
    // gateway's (retried 5 s later, not blamed), and the second one computed alone.
    assert!(
        spin_sent.elapsed() < Duration::from_millis(2 * 2000 + 5000) + Duration::from_secs(3),
        "the spinning ticket was handed off {:?} after its notification",
        spin_sent.elapsed()
    );
    assert!(
        run.duration < Duration::from_millis(2000) + Duration::from_secs(2),
        "the attempt that timed out computed for {:?}",
        run.duration
    );
    let note = note_of(&h, spinning);
    assert!(note.contains("time limit of 2000 ms"), "{note}");
    let rss = h.rss_mb();
    assert!(rss > 0 && rss < RSS_BOUND_MB, "gateway RSS {rss} MB");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_floods_are_dropped_and_exits_are_explained_in_plain_words() {
    let h = Proc::start(vec![
        BrandSpec::new("triage", artifacts::TRIAGE_PATH, TRIAGE_TOKEN),
        spec(
            "flood",
            artifacts::HOSTILE_OUTPUT_FLOOD_PATH,
            "deadline_ms = 8000, memory_mib = 16",
            "flood_kib = \"1024\"",
        ),
        spec(
            "exitzero",
            artifacts::HOSTILE_OUTPUT_FLOOD_PATH,
            "deadline_ms = 8000, memory_mib = 16",
            "flood_kib = \"1\", then = \"exit0\"",
        ),
        spec(
            "exitone",
            artifacts::HOSTILE_OUTPUT_FLOOD_PATH,
            "deadline_ms = 8000, memory_mib = 16",
            "flood_kib = \"1\", then = \"exit1\"",
        ),
    ])
    .await;
    let flood = h.ticket("Flood", "hello");
    let zero = h.ticket("Exit 0", "hello");
    let one = h.ticket("Exit 1", "hello");
    h.notify(&token("flood"), flood).await;
    h.notify(&token("exitzero"), zero).await;
    h.notify(&token("exitone"), one).await;
    let (waited, own) = healthy_run(&h).await;
    assert!(
        waited < own + HEALTHY_MARGIN,
        "the healthy ticket took {waited:?} for a run of {own:?}"
    );

    let run = h.wait_run(flood).await;
    assert_eq!(
        run.outcome, "handed_off",
        "a plugin printing 1 MiB is not stopped: {run:?}"
    );
    assert!(run.reason.contains("printed 1024 KiB"), "{run:?}");

    for (id, words) in [
        (zero, "it exited (exit code 0) without returning a decision"),
        (one, "it exited with code 1 without returning a decision"),
    ] {
        let run = h.wait_run(id).await;
        assert_eq!(run.outcome, "failed", "{run:?}");
        assert!(run.reason.contains(words), "{}", run.reason);
        let note = note_of(&h, id);
        assert!(note.contains(words), "{note}");
        assert!(
            !note.contains("backtrace") && !note.contains("wasm function"),
            "no raw wasm backtrace in the agents' note: {note}"
        );
    }
    let rss = h.rss_mb();
    assert!(rss > 0 && rss < RSS_BOUND_MB, "gateway RSS {rss} MB");
}

/// Runs one hostile brand next to the healthy one and checks the common promises:
/// `/notify` answers within bound while it runs, the healthy ticket waits only for its
/// own run, the gateway's memory stays under bound; returns the hostile run and the
/// time from its notification to its record.
async fn alongside(h: &Proc, brand: &str) -> (Run, Duration, u64) {
    let warm = h.ticket("Warm up", "hello");
    h.notify(TRIAGE_TOKEN, warm).await;
    h.wait_run(warm).await;
    let id = h.ticket("Hostile", "hello");
    let sent = Instant::now();
    h.notify(&token(brand), id).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let latencies = notify_latencies(h, warm, 10).await;
    let worst = latencies.iter().max().copied().unwrap_or_default();
    assert!(
        worst < NOTIFY_BOUND,
        "{brand}: /notify took up to {worst:?}"
    );
    let (waited, own) = healthy_run(h).await;
    assert!(
        waited < own + HEALTHY_MARGIN,
        "{brand}: the healthy ticket took {waited:?} for a run of {own:?}"
    );
    let mut peak = h.rss_mb();
    let run = loop {
        peak = peak.max(h.rss_mb());
        let body: Option<Run> = tokio::time::timeout(Duration::from_millis(200), h.wait_run(id))
            .await
            .ok();
        if let Some(run) = body {
            break run;
        }
        assert!(sent.elapsed() < Duration::from_secs(90), "{brand}: no run");
    };
    peak = peak.max(h.rss_mb());
    assert!(
        peak < RSS_BOUND_MB,
        "{brand}: gateway RSS reached {peak} MB"
    );
    (run, sent.elapsed(), peak)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_bomb_is_cut_before_the_index() {
    let mut bomb = spec(
        "searchbomb",
        artifacts::HOSTILE_SEARCH_BOMB_PATH,
        "deadline_ms = 8000, memory_mib = 32",
        "word_kib = \"1024\", terms = \"200000\"",
    );
    bomb.extra.push_str("\nknowledge = \"@DATA@/kb\"");
    let h = Proc::start_with(
        vec![
            BrandSpec::new("triage", artifacts::TRIAGE_PATH, TRIAGE_TOKEN),
            bomb,
        ],
        &[(
            "kb/returns.md",
            "# Returns and refunds\n\nYou can return any item within 30 days for a refund.",
        )],
    )
    .await;
    let (run, took, _) = alongside(&h, "searchbomb").await;
    assert_eq!(run.outcome, "handed_off", "{run:?}");
    assert!(run.reason.contains("search of"), "{run:?}");
    assert!(
        took < Duration::from_millis(8000) + HEALTHY_MARGIN,
        "the bomb's ticket took {took:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_flood_is_bounded_in_the_log_and_the_audit_trail() {
    let h = Proc::start(vec![
        BrandSpec::new("triage", artifacts::TRIAGE_PATH, TRIAGE_TOKEN),
        spec(
            "refusals",
            artifacts::HOSTILE_REFUSAL_FLOOD_PATH,
            "deadline_ms = 20000, memory_mib = 16",
            "assigns = \"5000\", tags = \"300\"",
        ),
    ])
    .await;
    let (run, took, _) = alongside(&h, "refusals").await;
    assert!(
        run.reason.len() < 16 * 1024,
        "the reason keeps a bounded number of refusals: {} bytes",
        run.reason.len()
    );
    assert_eq!(
        run.outcome,
        "handed_off",
        "{}",
        &run.reason[..run.reason.len().min(500)]
    );
    assert!(
        run.reason.contains("5300 actions refused"),
        "{}",
        run.reason
    );
    assert!(run.reason.contains("more)"), "{}", run.reason);
    assert!(
        took < Duration::from_millis(20_000) + HEALTHY_MARGIN,
        "{took:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prompt_bomb_is_refused_before_sending_and_calls_are_capped() {
    let llm = crate::fake_llm::FakeLlm::start().await;
    let mut bomb = spec(
        "promptbomb",
        artifacts::HOSTILE_PROMPT_BOMB_PATH,
        "deadline_ms = 8000, memory_mib = 64",
        "prompt_mib = \"16\", calls = \"100000\"",
    );
    bomb.extra.push('\n');
    bomb.extra.push_str(&llm.brand_table(
        "promptbomb",
        "llm-key",
        "max_tokens_per_run = 4000\nmax_calls_per_run = 20",
    ));
    let h = Proc::start_with(
        vec![
            BrandSpec::new("triage", artifacts::TRIAGE_PATH, TRIAGE_TOKEN),
            bomb,
        ],
        &[("llm-key", crate::fake_llm::API_KEY)],
    )
    .await;
    let (run, took, _) = alongside(&h, "promptbomb").await;
    assert_eq!(run.outcome, "handed_off", "{run:?}");
    assert!(run.reason.contains("big prompt: invalid"), "{}", run.reason);
    let bodies = llm.bodies();
    assert!(
        bodies.len() <= 20,
        "at most max_calls_per_run calls reach the model: {}",
        bodies.len()
    );
    assert!(
        bodies.iter().all(|b| b.to_string().len() < 64 * 1024),
        "the 16 MiB prompt was never sent"
    );
    assert!(
        took < Duration::from_millis(8000) + HEALTHY_MARGIN,
        "{took:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_queued_behind_other_brands_computing_is_retried_not_blamed() {
    // As many long computing runs as the gateway has heavy-compute slots hold them all
    // for 4 s; a short computing run of another brand (a 1 s deadline, 150 ms of work)
    // queues for a slot past its own deadline. That wait is the gateway's, so the run is
    // retried and then does its work; before, it was handed off as "too slow".
    let slots = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .saturating_sub(1)
        .max(1);
    let h = Proc::start(vec![
        BrandSpec::new("triage", artifacts::TRIAGE_PATH, TRIAGE_TOKEN),
        spec(
            "hog",
            artifacts::HOSTILE_COMPUTE_PATH,
            "deadline_ms = 10000, memory_mib = 16",
            "compute_ms = \"4000\"",
        ),
        spec(
            "victim",
            artifacts::HOSTILE_COMPUTE_PATH,
            "deadline_ms = 1000, memory_mib = 16",
            "compute_ms = \"150\"",
        ),
    ])
    .await;
    let warm = h.ticket("Warm up", "hello");
    h.notify(TRIAGE_TOKEN, warm).await;
    h.wait_run(warm).await;

    let mut hogs = Vec::new();
    for i in 0..slots {
        let id = h.ticket(&format!("Hog {i}"), "hello");
        h.notify(&token("hog"), id).await;
        hogs.push(id);
    }
    // Let the hogs pass the heavy-compute threshold and take every slot.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let victim = h.ticket("Victim", "hello");
    h.notify(&token("victim"), victim).await;

    let run = h.wait_run(victim).await;
    assert_eq!(
        run.outcome, "handed_off",
        "the victim did its own work in the end: {run:?}"
    );
    assert!(run.reason.contains("computed for"), "{run:?}");
    let records = h.records(victim).await;
    let retried: Vec<&serde_json::Value> =
        records.iter().filter(|r| r["outcome"] == "retry").collect();
    assert!(
        retried.iter().any(|r| r["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("compute slots were busy")),
        "the queued attempt is recorded as the gateway's: {records:?}"
    );
    assert!(
        !note_of(&h, victim).contains("time limit"),
        "the victim was not handed off as too slow: {}",
        note_of(&h, victim)
    );
    for id in hogs {
        let run = h.wait_run(id).await;
        assert!(run.reason.contains("computed for"), "{run:?}");
    }
}
