//! The example plugins against realistic ticket fixtures (examples/fixtures/), through
//! the real runtime with `replay`; the LLM capability against a fake OpenAI-compatible
//! server, errors included; the knowledge base reloading while the gateway runs; and the
//! developer tools (`replay`, `new-plugin`) as a user runs them.

use crate::fake_llm::{Behavior, FakeLlm, API_KEY};
use crate::harness::{scratch_dir, BrandSpec, Harness};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use zendesk_gateway::commands::replay::{fixture_files, load_fixture, ReplayReport, Replayer};
use zendesk_gateway::config::Config;
use zendesk_gateway::plugin_artifacts as artifacts;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The Python plugin, or why the test cannot run: under CI it must have been built.
fn python_plugin() -> Option<&'static str> {
    match artifacts::B2B_TRIAGE_PY_PATH {
        Some(p) => Some(p),
        None => {
            let why = artifacts::PYTHON_SKIPPED.unwrap_or("unknown");
            assert!(
                std::env::var_os("CI").is_none(),
                "the Python plugin was not built under CI: {why}"
            );
            eprintln!("skipping: the Python plugin was not built ({why})");
            None
        }
    }
}

/// `examples/brands/gateway.toml` as shipped, with the plugins where this build put
/// them and, when given, the LLM brand pointed at the fake model.
fn example_config(llm: Option<&FakeLlm>, llm_extra: &str) -> Config {
    let path = repo().join("examples/brands/gateway.toml");
    let mut text = std::fs::read_to_string(&path).unwrap();
    if let Some(fake) = llm {
        let dir = scratch_dir("llm-key");
        let key_file = dir.join("llm-key");
        std::fs::write(&key_file, API_KEY).unwrap();
        // The extra keys replace the example's own, then the key file and the extras go
        // where the example's commented-out api_key_env line is.
        let overridden: Vec<&str> = llm_extra
            .lines()
            .filter_map(|l| l.split_once('=').map(|(k, _)| k.trim()))
            .collect();
        text = text
            .lines()
            .filter(|l| !overridden.iter().any(|k| l.starts_with(&format!("{k} ="))))
            .map(|l| {
                if l.starts_with("# api_key_env") {
                    format!("api_key_file = \"{}\"\n{llm_extra}", key_file.display())
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
            .replace("http://127.0.0.1:11434/v1", &fake.base_url)
            .replace(
                "model = \"llama3.1\"",
                &format!("model = \"{}\"", crate::fake_llm::MODEL),
            );
    }
    let mut config = Config::parse(&text, &path, &|_| None).expect("the example config is valid");
    let plugins = [
        ("acme-triage", Some(artifacts::TRIAGE_PATH)),
        ("shopwise-orders", Some(artifacts::ORDER_DESK_PATH)),
        ("northwind-faq", Some(artifacts::FAQ_PATH)),
        ("northwind-assistant", Some(artifacts::LLM_AGENT_PATH)),
        ("contoso-b2b", artifacts::B2B_TRIAGE_PY_PATH),
    ];
    for (brand, plugin) in plugins {
        if let Some(p) = plugin {
            config.brands.get_mut(brand).unwrap().plugin = PathBuf::from(p);
        }
    }
    config
}

/// Runs every fixture of `folder` with `brand`'s plugin; asserts there are at least
/// `min` and that each meets its expectations.
async fn fixtures_pass(
    config: &Config,
    brand: &str,
    folder: &str,
    min: usize,
    fake: Option<&FakeLlm>,
) {
    let replayer = Replayer::new(config, brand).unwrap();
    let files = fixture_files(&repo().join("examples/fixtures").join(folder)).unwrap();
    assert!(
        files.len() >= min,
        "{folder}: {} fixtures, want at least {min}",
        files.len()
    );
    let mut failures = Vec::new();
    for file in &files {
        let fixture = load_fixture(file).unwrap();
        let expect = fixture
            .expect
            .clone()
            .unwrap_or_else(|| panic!("{} has no expect block", file.display()));
        if let (Some(fake), Some(answer)) = (fake, &fixture.model_answer) {
            fake.always(Behavior::Answer(answer.clone()));
        }
        let report: ReplayReport = replayer.fixture(&fixture).await.unwrap();
        let problems = report.check(&expect);
        if !problems.is_empty() {
            failures.push(format!(
                "{}:\n  {}\n{}",
                file.display(),
                problems.join("\n  "),
                report.render()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} fixtures failed:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn triage_meets_its_fixtures() {
    fixtures_pass(&example_config(None, ""), "acme-triage", "triage", 12, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_desk_meets_its_fixtures() {
    fixtures_pass(
        &example_config(None, ""),
        "shopwise-orders",
        "order-desk",
        12,
        None,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faq_meets_its_fixtures() {
    fixtures_pass(&example_config(None, ""), "northwind-faq", "faq", 12, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn llm_agent_meets_its_fixtures_with_a_fake_model() {
    let fake = FakeLlm::start().await;
    let config = example_config(Some(&fake), "");
    fixtures_pass(&config, "northwind-assistant", "llm-agent", 12, Some(&fake)).await;
    // The key reached the server as a bearer token and nowhere in the prompt.
    for body in fake.bodies() {
        assert!(!body.to_string().contains(API_KEY));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_plugin_meets_its_fixtures() {
    if python_plugin().is_none() {
        return;
    }
    fixtures_pass(
        &example_config(None, ""),
        "contoso-b2b",
        "b2b-triage",
        12,
        None,
    )
    .await;
}

/// The last comment of a simulator ticket: (public, body).
fn last_comment(h: &Harness, id: u64) -> (bool, String) {
    let state = h.sim.ticket(id).unwrap();
    let c = state.comments.last().unwrap();
    (
        c["public"].as_bool().unwrap_or(false),
        c["body"].as_str().unwrap_or("").to_string(),
    )
}

/// One fixture the LLM agent would answer, for the failure tests.
fn answerable() -> zendesk_gateway::commands::replay::Fixture {
    let file = fixture_files(&repo().join("examples/fixtures/llm-agent"))
        .unwrap()
        .into_iter()
        .map(|f| load_fixture(&f).unwrap())
        .find(|f| {
            f.expect
                .as_ref()
                .is_some_and(|e| e.outcome.as_deref() == Some("handled"))
                && f.model_answer.is_some()
        })
        .expect("an llm-agent fixture that is answered");
    file
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_failures_hand_the_ticket_off_and_never_reach_the_customer() {
    let fake = FakeLlm::start().await;
    let fixture = answerable();
    let config = example_config(Some(&fake), "timeout_ms = 400");
    let replayer = Replayer::new(&config, "northwind-assistant").unwrap();
    let cases = [
        (
            Behavior::Slow(Duration::from_secs(3), "late".into()),
            "did not answer in time",
        ),
        (Behavior::RateLimited(7), "rate limited for 7 s"),
        (Behavior::ServerError, "unavailable"),
        (Behavior::Garbage, "unavailable"),
    ];
    for (behavior, reason) in cases {
        fake.always(behavior.clone());
        let started = Instant::now();
        let report = replayer.fixture(&fixture).await.unwrap();
        assert_eq!(
            report.outcome,
            "handed_off",
            "{behavior:?}: {}",
            report.render()
        );
        assert!(
            report.reason.contains(reason),
            "{behavior:?}: {}",
            report.reason
        );
        assert!(
            report.staged.reply.is_none(),
            "{behavior:?}: never answered with an error"
        );
        assert!(report.staged.add_tags.contains("ai_model_error"));
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{behavior:?} took {:?}",
            started.elapsed()
        );
    }

    // A wrong key: handed off, and the plugin's note does not carry the key.
    let mut config = example_config(Some(&fake), "");
    let llm = config
        .brands
        .get_mut("northwind-assistant")
        .unwrap()
        .llm
        .as_mut()
        .unwrap();
    llm.api_key = Some(zendesk_gateway::config::secret::Secret::new("sk-wrong"));
    fake.always(Behavior::Answer("fine".into()));
    let report = Replayer::new(&config, "northwind-assistant")
        .unwrap()
        .fixture(&fixture)
        .await
        .unwrap();
    assert_eq!(report.outcome, "handed_off");
    assert!(report.reason.contains("credentials"), "{}", report.reason);
    assert!(!report.render().contains("sk-wrong"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_budget_and_concurrency_are_enforced_per_brand() {
    let fake = FakeLlm::start().await;
    let fixture = answerable();
    // The budget fits the agent's prompt (estimated at 4 bytes a token before sending)
    // with less than the 400 answer tokens it asks for left over.
    let budget = 1500;
    let config = example_config(
        Some(&fake),
        &format!("max_tokens_per_run = {budget}\nconcurrency = 1"),
    );
    let replayer = std::sync::Arc::new(Replayer::new(&config, "northwind-assistant").unwrap());
    fake.always(Behavior::Slow(
        Duration::from_millis(300),
        fixture.model_answer.clone().unwrap(),
    ));
    let runs: Vec<_> = (0..3)
        .map(|_| {
            let r = replayer.clone();
            let f = fixture.clone();
            tokio::spawn(async move { r.fixture(&f).await.unwrap() })
        })
        .collect();
    for run in runs {
        run.await.unwrap();
    }
    assert_eq!(fake.max_in_flight(), 1, "concurrency = 1 holds across runs");
    for body in fake.bodies() {
        let prompt: u64 = body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["content"].as_str().unwrap_or_default().len() as u64 / 4 + 4)
            .sum();
        assert!(
            body["max_tokens"].as_u64().unwrap() <= budget - prompt,
            "max_tokens capped by what the budget leaves after the prompt: {body}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn llm_agent_replies_through_the_gateway() {
    let fake = FakeLlm::start().await;
    let dir = scratch_dir("llm-gw");
    std::fs::write(dir.join("llm-key"), API_KEY).unwrap();
    let kb = repo().join("examples/knowledge/northwind");
    let mut spec = BrandSpec::new(
        "assistant",
        artifacts::LLM_AGENT_PATH,
        "assistant-endpoint-token-0123456789abcdef",
    );
    spec.extra = format!(
        "knowledge = \"{}\"\n{}[brands.assistant.settings]\nbrand_name = \"Northwind Outfitters\"\n",
        kb.display(),
        fake.brand_table("assistant", &dir.join("llm-key").display().to_string(), "")
    );
    let h = Harness::with_brands(vec![spec]).await;
    let fixture = answerable();
    let answer = fixture.model_answer.clone().unwrap();
    fake.always(Behavior::Answer(answer.clone()));
    let question = &fixture.comments.last().unwrap().body.clone().unwrap();
    let id = h.ticket(
        fixture.ticket.subject.as_deref().unwrap_or("Question"),
        question,
    );
    h.notify("assistant-endpoint-token-0123456789abcdef", id)
        .await;
    let records = h.wait_runs(id, 1).await;
    assert_eq!(records[0].outcome, "handled", "{:?}", records[0]);
    let (public, body) = last_comment(&h, id);
    assert!(
        public && body.contains(answer.trim()),
        "the draft reached the customer: {body}"
    );
    let metrics = h.metrics_text().await;
    assert!(
        metrics.contains("zendesk_gateway_llm_calls_total{brand=\"assistant\",result=\"ok\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("zendesk_gateway_llm_tokens_total{brand=\"assistant\"}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn knowledge_base_changes_are_picked_up_without_a_restart() {
    let kb = scratch_dir("kb");
    std::fs::write(kb.join("delivery.md"), "# Delivery times\nurl: https://help.example/delivery\n\nStandard delivery takes 3 to 5 working days.").unwrap();
    let token = "faq-endpoint-token-0123456789abcdef";
    let mut spec = BrandSpec::new("faq", artifacts::FAQ_PATH, token);
    spec.extra = format!(
        "knowledge = \"{}\"\n[brands.faq.settings]\nmin_score = 1.0\n",
        kb.display()
    );
    let h = Harness::with_brands(vec![spec]).await;

    let question = "Do your gift cards expire?";
    let before = h.ticket("Gift cards", question);
    h.notify(token, before).await;
    let r = h.wait_runs(before, 1).await;
    assert_eq!(r[0].outcome, "handed_off", "no article yet: {:?}", r[0]);

    std::fs::write(kb.join("gift-cards.md"), "# Gift cards\nurl: https://help.example/gift-cards\n\nOur gift cards never expire and can be used on any order.").unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let id = h.ticket("Gift cards", question);
        h.notify(token, id).await;
        let r = h.wait_runs(id, 1).await;
        if r[0].outcome == "handled" {
            let (_, reply) = last_comment(&h, id);
            assert!(
                reply.contains("never expire") && reply.contains("https://help.example/gift-cards"),
                "{reply}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new article was not used within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `zendesk-gateway replay` as a user runs it: a folder of fixtures that pass exits 0; a
/// fixture whose expectation fails exits 1 and says which.
#[test]
fn replay_command_checks_fixtures() {
    let dir = scratch_dir("replay-cli");
    let config = format!(
        "[gateway]\ndata_dir = \"{data}\"\n[environments.sim]\nbase_url = \"http://127.0.0.1:9\"\nemail = \"ai@example.com\"\napi_token_file = \"token\"\n\
         [brands.acme]\nplugin = \"{plugin}\"\nmode = \"live\"\n[endpoints.acme]\nbrand = \"acme\"\nenvironment = \"sim\"\ntoken = \"replay-endpoint-token-0123456789abcd\"\n",
        data = dir.display(),
        plugin = artifacts::TRIAGE_PATH
    );
    std::fs::write(dir.join("token"), "x").unwrap();
    std::fs::write(dir.join("gateway.toml"), config).unwrap();
    let run = |fixture: &Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_zendesk-gateway"))
            .args(["replay", "--config"])
            .arg(dir.join("gateway.toml"))
            .args(["--brand", "acme", "--fixture"])
            .arg(fixture)
            .output()
            .unwrap()
    };
    let ok = run(&repo().join("examples/fixtures/triage"));
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert!(
        ok.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(
        stdout.contains("expectations: met") && stdout.contains("nothing was sent to Zendesk"),
        "{stdout}"
    );

    let first = fixture_files(&repo().join("examples/fixtures/triage"))
        .unwrap()
        .remove(0);
    let mut broken: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(first).unwrap()).unwrap();
    broken["expect"] = serde_json::json!({"outcome": "skipped"});
    let broken_file = dir.join("broken.json");
    std::fs::write(&broken_file, broken.to_string()).unwrap();
    let bad = run(&broken_file);
    let stdout = String::from_utf8_lossy(&bad.stdout);
    assert_eq!(bad.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("expectation not met: outcome is"),
        "{stdout}"
    );
    assert!(String::from_utf8_lossy(&bad.stderr).contains("1 of 1 fixtures"));
}

/// `zendesk-gateway new-plugin` makes a crate that passes its own test, builds into a
/// component, and replays its fixture in the gateway's runtime.
#[test]
fn new_plugin_scaffold_builds_tests_and_replays() {
    let dir = scratch_dir("scaffold");
    let bin = env!("CARGO_BIN_EXE_zendesk-gateway");
    let out = std::process::Command::new(bin)
        .args(["new-plugin", "kids-tone", "--dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let crate_dir = dir.join("kids-tone");
    // The plugins' own target folder (next to the build script's plugin build): the SDK
    // and wit-bindgen are already compiled there for wasm32-wasip2, so only the new crate is.
    let target = Path::new(artifacts::TRIAGE_PATH)
        .ancestors()
        .nth(3)
        .expect("plugins are built into <target>/plugins/wasm32-wasip2/release")
        .to_path_buf();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let cargo_run = |args: &[&str]| {
        let out = std::process::Command::new(&cargo)
            .args(args)
            .env("CARGO_TARGET_DIR", &target)
            .current_dir(&crate_dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "cargo {args:?}:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let tests = cargo_run(&["test", "--quiet"]);
    assert!(tests.contains("1 passed"), "{tests}");
    cargo_run(&["build", "--release", "--target", "wasm32-wasip2", "--quiet"]);
    let wasm = target.join("wasm32-wasip2/release/kids_tone.wasm");
    assert!(wasm.is_file());

    let config = format!(
        "[gateway]\ndata_dir = \"{data}\"\n[environments.sim]\nbase_url = \"http://127.0.0.1:9\"\nemail = \"ai@example.com\"\napi_token_file = \"token\"\n\
         [brands.kids]\nplugin = \"{plugin}\"\nmode = \"live\"\n[endpoints.kids]\nbrand = \"kids\"\nenvironment = \"sim\"\ntoken = \"kids-endpoint-token-0123456789abcdef\"\n",
        data = dir.display(),
        plugin = wasm.display()
    );
    std::fs::write(dir.join("token"), "x").unwrap();
    std::fs::write(dir.join("gateway.toml"), config).unwrap();
    let replay = std::process::Command::new(bin)
        .args(["replay", "--config"])
        .arg(dir.join("gateway.toml"))
        .args(["--brand", "kids", "--fixture"])
        .arg(crate_dir.join("fixtures"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&replay.stdout);
    assert!(
        replay.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&replay.stderr)
    );
    assert!(stdout.contains("Hi Ana"), "{stdout}");
}

/// A fixture carries the account's ticket fields: replay resolves the brand's `[fields]`
/// against them as the gateway does at start, so a plugin that records its category in
/// a custom field is replayed as it runs (before, every field was refused in a replay).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_gives_the_plugin_the_fixtures_ticket_fields() {
    let mut config = example_config(None, "");
    let brand = config.brands.get_mut("acme-triage").unwrap();
    brand
        .settings
        .insert("category_field".into(), "Order number".into());
    brand.fields = zendesk_gateway::config::FieldsConfig {
        allowed: vec!["Order number".into()],
        on_solve: Default::default(),
    };
    let replayer = Replayer::new(&config, "acme-triage").unwrap();
    let path = repo().join("examples/fixtures/triage/01-invoice-double-charge.json");
    let mut fixture = load_fixture(&path).unwrap();
    fixture.ticket_fields = serde_json::from_value(serde_json::json!([
        {"id": 360002, "type": "text", "title": "Order number", "active": true,
         "required": false, "custom_field_options": []}
    ]))
    .unwrap();
    let report: ReplayReport = replayer.fixture(&fixture).await.unwrap();
    let staged = &report.staged.fields;
    assert_eq!(
        staged.get(&360_002).map(|f| f.value.clone()),
        Some(serde_json::json!("billing")),
        "{}",
        report.render()
    );

    // A field the fixture's account lacks is an error naming the key, as at start.
    fixture.ticket_fields.clear();
    let err = replayer.fixture(&fixture).await.unwrap_err().to_string();
    assert!(err.contains("Order number"), "{err}");
}
