//! Zendesk-native capabilities (issue 19): custom ticket fields by name, fields required
//! to solve found before they bite (`check --online`) and filled when configured,
//! Zendesk's refusal naming the field, business hours in an after-hours hand-off, a
//! plugin built against WIT 0.2.0, and the Help Center as a brand's knowledge base.

use crate::harness::*;
use std::process::Command;
use std::time::{Duration, Instant};
use zendesk_gateway::plugin_artifacts as artifacts;
use zendesk_simulator::{NewComment, SimArticle, SimSchedule, SimTicketField, SimulatorConfig};

/// The required drop-down of these tests.
const REASON: u64 = 360_001;

fn with_reason_field() -> SimulatorConfig {
    let mut c = sim_config();
    c.ticket_fields = vec![
        SimTicketField::dropdown(
            REASON,
            "Reason for contact",
            true,
            &[
                ("Answered by AI", "answered_by_ai"),
                ("Billing", "billing"),
                ("Account", "account"),
            ],
        ),
        SimTicketField::new(360_002, "text", "Order number", false),
    ];
    c
}

fn check_online(h: &Harness) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_zendesk-gateway"))
        .args(["check", "--online", "--config"])
        .arg(h.dir.join("gateway.toml"))
        .output()
        .unwrap();
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn customer_says(h: &Harness, id: u64, body: &str) {
    h.sim
        .add_comment(
            id,
            NewComment {
                author_id: CUSTOMER,
                body: body.into(),
                public: true,
            },
        )
        .unwrap();
}

fn field_value(h: &Harness, id: u64, field: u64) -> serde_json::Value {
    h.sim.ticket(id).unwrap().ticket["custom_fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == field)
        .map(|f| f["value"].clone())
        .unwrap_or_default()
}

/// Triage acknowledges, the customer thanks, triage solves: the solve needs "Reason for
/// contact". Without a default `check --online` reports the field and how to fix it,
/// and Zendesk's refusal hands off naming the field; with `on_solve` the check passes
/// and the solve goes through with the default. The plugin records its category in an
/// allowed field by name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_field_required_to_solve_is_reported_then_filled_by_its_default() {
    let mut spec = BrandSpec::new("triage", artifacts::TRIAGE_PATH, TRIAGE_TOKEN);
    spec.extra = "[brands.triage.settings]\ncategory_field = \"Order number\"\n\
                  [brands.triage.fields]\nallowed = [\"Order number\"]\n"
        .into();
    let mut h = Harness::custom(with_reason_field(), vec![spec], |t| t).await;
    let (ok, text) = check_online(&h);
    assert!(!ok, "{text}");
    assert!(
        text.contains("\"Reason for contact\" (id 360001) is required to solve")
            && text.contains("on_solve"),
        "{text}"
    );

    let id = h.ticket(
        "Charged twice",
        "My invoice shows a double charge on my card.",
    );
    h.notify(TRIAGE_TOKEN, id).await;
    let runs = h.wait_runs(id, 1).await;
    assert_eq!(runs[0].outcome, "handed_off", "{:?}", runs[0]);
    // The plugin set an allowed field by name; the gateway sent its id.
    assert_eq!(field_value(&h, id, 360_002), "billing");
    customer_says(&h, id, "Thank you, that fixed it!");
    h.notify(TRIAGE_TOKEN, id).await;
    let runs = h.wait_runs(id, 2).await;
    // The gateway's own hand-off after Zendesk refused the commit.
    assert_eq!(runs[1].outcome, "failed", "{:?}", runs[1]);
    assert!(
        runs[1].reason.contains("Reason for contact"),
        "{}",
        runs[1].reason
    );
    let state = h.sim.ticket(id).unwrap();
    let note = state.comments.last().unwrap()["body"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        note.contains("\"Reason for contact\"") && note.contains("on_solve"),
        "the hand-off names the field and the fix: {note}"
    );
    assert_ne!(state.ticket["status"], "solved");
    h.stop().await;

    let mut spec = BrandSpec::new("triage", artifacts::TRIAGE_PATH, TRIAGE_TOKEN);
    spec.extra =
        "[brands.triage.fields]\non_solve = { \"Reason for contact\" = \"Answered by AI\" }\n"
            .into();
    let mut h = Harness::custom(with_reason_field(), vec![spec], |t| t).await;
    let (ok, text) = check_online(&h);
    assert!(ok, "{text}");
    let id = h.ticket(
        "Charged twice",
        "My invoice shows a double charge on my card.",
    );
    h.notify(TRIAGE_TOKEN, id).await;
    h.wait_runs(id, 1).await;
    customer_says(&h, id, "Thank you, that fixed it!");
    h.notify(TRIAGE_TOKEN, id).await;
    let runs = h.wait_runs(id, 2).await;
    assert_eq!(runs[1].outcome, "handled", "{:?}", runs[1]);
    assert_eq!(h.sim.ticket(id).unwrap().ticket["status"], "solved");
    assert_eq!(field_value(&h, id, REASON), "answered_by_ai");
    h.stop().await;
}

/// Unknown field names and schedules stop the gateway with a message naming the key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_fields_and_schedules_are_config_errors_at_start() {
    let sim =
        zendesk_simulator::Simulator::start(with_reason_field(), "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
    let dir = scratch_dir("native-bad");
    let mut spec = BrandSpec::new("triage", artifacts::TRIAGE_PATH, TRIAGE_TOKEN);
    spec.extra = "schedule = \"Support hours\"\n[brands.triage.fields]\nallowed = [\"Reason for contact\", \"Mood\"]\n".into();
    let text = config_text(&sim.base_url(), &dir, &[spec], "zendesk-token");
    let config = write_config(&dir, &text, "sim-token");
    let err = match zendesk_gateway::service::launch(
        config,
        zendesk_gateway::gateway::StartOptions {
            client: fast_client(),
        },
    )
    .await
    {
        Ok(_) => panic!("an unknown field must stop start-up"),
        Err(e) => format!("{e:#}"),
    };
    assert!(
        err.contains("brands.triage.fields.allowed")
            && err.contains("\"Mood\"")
            && err.contains("Reason for contact"),
        "{err}"
    );
}

/// A schedule closed now: the minute of the week twelve hours from now in UTC.
fn closed_now() -> (SimSchedule, String) {
    use chrono::{Datelike, Timelike};
    let now = chrono::Utc::now();
    let minute = now.weekday().num_days_from_sunday() * 1440 + now.hour() * 60 + now.minute();
    let start = (minute + 720) % (7 * 1440);
    let start = if start + 60 > 7 * 1440 { 0 } else { start };
    let at = chrono::NaiveDate::from_ymd_opt(2026, 3, 1)
        .unwrap() // a Sunday
        .and_hms_opt(0, 0, 0)
        .unwrap()
        + chrono::Duration::minutes(start as i64);
    let words = format!("{} {}:{:02}", at.format("%A"), at.hour(), at.minute());
    (
        SimSchedule {
            id: 42,
            name: "Support hours".into(),
            time_zone: "UTC".into(),
            intervals: vec![(start, start + 60)],
        },
        words,
    )
}

/// The LLM agent hands a request for a human off outside business hours by telling the
/// customer when a person will answer, from the brand's Zendesk schedule.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_after_hours_hand_off_says_when_humans_return() {
    let (schedule, when) = closed_now();
    let mut config = sim_config();
    config.schedules = vec![schedule];
    let mut spec = BrandSpec::new(
        "assistant",
        artifacts::LLM_AGENT_PATH,
        "assistant-endpoint-token-0123456789abcdef",
    );
    spec.extra = "schedule = \"Support hours\"\n".into();
    let mut h = Harness::custom(config, vec![spec], |t| t).await;
    let id = h.ticket("Need help", "I want to speak to a real person now, please.");
    h.notify("assistant-endpoint-token-0123456789abcdef", id)
        .await;
    let runs = h.wait_runs(id, 1).await;
    assert_eq!(runs[0].outcome, "handed_off", "{:?}", runs[0]);
    let state = h.sim.ticket(id).unwrap();
    let last = state.comments.last().unwrap();
    let body = last["body"].as_str().unwrap();
    assert!(last["public"] == true, "the customer is told: {last}");
    assert!(
        body.contains(&format!("will answer from {when}")),
        "{body} / {when}"
    );
    assert!(state.ticket["tags"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t == "ai_after_hours"));
    h.stop().await;
}

/// A plugin built against WIT 0.2.0 still loads and reaches the latest settings and
/// knowledge implementations.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_built_against_wit_0_2_0_still_works() {
    let kb =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/knowledge/northwind");
    let mut spec = BrandSpec::new("legacy", artifacts::LEGACY_V0_2_PATH, TRIAGE_TOKEN);
    spec.extra = format!(
        "knowledge = \"{}\"\n[brands.legacy.settings]\ngreeting = \"Howdy\"\n",
        kb.display()
    );
    let mut h = Harness::with_brands(vec![spec]).await;
    assert_eq!(
        h.gw()
            .gateway
            .brand("legacy")
            .unwrap()
            .plugin
            .pre
            .wit_version(),
        "0.2.0"
    );
    let id = h.ticket("Returns", "Can I return my jacket?");
    h.notify(TRIAGE_TOKEN, id).await;
    let runs = h.wait_runs(id, 1).await;
    assert_eq!(runs[0].outcome, "handled", "{:?}", runs[0]);
    let state = h.sim.ticket(id).unwrap();
    let body = state.comments.last().unwrap()["body"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        body.starts_with("Howdy from a 0.2.0 plugin") && body.contains("See \""),
        "{body}"
    );
    h.stop().await;
}

fn article(id: u64, title: &str, body: &str, locale: &str) -> SimArticle {
    SimArticle {
        id,
        brand: "example-shop".into(),
        title: title.into(),
        body: body.into(),
        locale: locale.into(),
        label_names: vec![],
        draft: false,
    }
}

/// The ids the brand's index finds for `query`.
fn found(h: &Harness, query: &str) -> Vec<String> {
    let brand = h.gw().gateway.brand("faq").unwrap();
    let kb = brand.capabilities.knowledge.as_ref().unwrap();
    kb.index()
        .search(query, 10)
        .into_iter()
        .map(|m| m.article.id.clone())
        .collect()
}

async fn until(what: &str, mut ok: impl FnMut() -> bool) {
    let started = Instant::now();
    while !ok() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "after 30 s: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The brand's Help Center is its knowledge base: published articles in its locale are
/// synced in the background and cited by URL; an update, an unpublished and a deleted
/// article reach the index; after a restart the stored articles are indexed at once and
/// the export resumes from the stored cursor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn help_center_articles_sync_update_leave_the_index_and_are_cited() {
    let sim = zendesk_simulator::Simulator::start(sim_config(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let dir = scratch_dir("hc");
    let host = sim.help_center_host("example-shop");
    let mut spec = BrandSpec::new("faq", artifacts::FAQ_PATH, TRIAGE_TOKEN);
    spec.extra = format!(
        "knowledge = {{ help_center = true, host = \"{host}\", locales = [\"en-us\"], refresh_secs = 1 }}\n\
         [brands.faq.settings]\nmin_score = 1.0\n"
    );
    sim.put_article(article(
        101,
        "Returns and refunds",
        "<h2>Returns</h2><p>You can <strong>return</strong> any item within 30&nbsp;days for a full refund.</p>",
        "en-us",
    ));
    sim.put_article(article(
        102,
        "Gift cards",
        "<p>Gift cards never expire.</p>",
        "en-us",
    ));
    sim.put_article(article(
        103,
        "Rückgabe",
        "<p>Refund return Rückgabe innerhalb 30 Tagen.</p>",
        "de",
    ));
    let mut draft = article(
        104,
        "Secret sale",
        "<p>Refund everything, secret sale.</p>",
        "en-us",
    );
    draft.draft = true;
    sim.put_article(draft);
    let text = config_text(&sim.base_url(), &dir, &[spec], "zendesk-token");
    let config = write_config(&dir, &text, "sim-token");
    let gw = zendesk_gateway::service::launch(
        config.clone(),
        zendesk_gateway::gateway::StartOptions {
            client: fast_client(),
        },
    )
    .await
    .unwrap();
    let mut h = Harness {
        sim,
        gw: Some(gw),
        http: reqwest::Client::new(),
        dir,
        config_text: text,
    };
    until("the published en-us articles are indexed", || {
        found(&h, "refund return gift cards").len() == 2
    })
    .await;
    assert_eq!(
        found(&h, "refund return"),
        ["101"],
        "drafts and other locales stay out"
    );

    // A plugin cites the article's public URL.
    let id = h.ticket("Refund", "How do I return an item and get a refund?");
    h.notify(TRIAGE_TOKEN, id).await;
    let runs = h.wait_runs(id, 1).await;
    assert_eq!(runs[0].outcome, "handled", "{:?}", runs[0]);
    let reply = h.sim.ticket(id).unwrap().comments.last().unwrap()["body"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        reply.contains(&format!("{host}/hc/en-us/articles/101-returns-and-refunds")),
        "{reply}"
    );

    // An update reaches the index; an unpublished and a deleted article leave it.
    h.sim.put_article(article(
        102,
        "Gift cards and vouchers",
        "<p>Vouchers are valid for two years.</p>",
        "en-us",
    ));
    until("the updated article is indexed", || {
        found(&h, "vouchers") == ["102"]
    })
    .await;
    h.sim.delete_article(101);
    until("the deleted article leaves the index", || {
        found(&h, "refund return").is_empty()
    })
    .await;
    let mut unpublished = article(
        102,
        "Gift cards and vouchers",
        "<p>Vouchers are valid for two years.</p>",
        "en-us",
    );
    unpublished.draft = true;
    h.sim.put_article(unpublished);
    until("the unpublished article leaves the index", || {
        found(&h, "vouchers").is_empty()
    })
    .await;
    h.sim.put_article(article(
        105,
        "Shipping",
        "<p>Parcels ship within two days.</p>",
        "en-us",
    ));
    until("a new article is indexed", || {
        found(&h, "parcels ship") == ["105"]
    })
    .await;

    // A restart: the stored articles are back without a full export, which resumes from
    // the stored cursor.
    h.stop().await;
    h.sim.clear_calls();
    h.gw = Some(
        zendesk_gateway::service::launch(
            config,
            zendesk_gateway::gateway::StartOptions {
                client: fast_client(),
            },
        )
        .await
        .unwrap(),
    );
    until("the stored articles are indexed after the restart", || {
        found(&h, "parcels ship") == ["105"]
    })
    .await;
    let exports: Vec<String> = h
        .sim
        .calls()
        .into_iter()
        .filter(|c| c.path.contains("help_center/incremental/articles"))
        .map(|c| c.path)
        .collect();
    assert!(
        exports.iter().all(|p| !p.ends_with("start_time=0")),
        "the export resumes from the cursor: {exports:?}"
    );
    assert!(found(&h, "vouchers").is_empty() && found(&h, "refund return").is_empty());
    h.stop().await;
}

/// The sync's calls are the environment's like any other: Zendesk out of quota (429
/// with Retry-After) on the export is waited out by the client's retries, not an error
/// that leaves the knowledge base empty until the next refresh, and the calls are
/// counted in the environment's Zendesk call metrics (on the brand's own host).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn help_center_sync_waits_out_the_quota_like_any_call() {
    let sim = zendesk_simulator::Simulator::start(sim_config(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let dir = scratch_dir("hc-quota");
    let host = sim.help_center_host("example-shop");
    let mut spec = BrandSpec::new("faq", artifacts::FAQ_PATH, TRIAGE_TOKEN);
    spec.extra = format!(
        "knowledge = {{ help_center = true, host = \"{host}\", refresh_secs = 3600 }}\n\
         [brands.faq.settings]\nmin_score = 1.0\n"
    );
    sim.put_article(article(
        201,
        "Returns and refunds",
        "<p>Return any item within 30 days.</p>",
        "en-us",
    ));
    sim.inject_fault(zendesk_simulator::Fault {
        path_contains: Some("help_center/incremental/articles".into()),
        status: 429,
        retry_after: Some(1),
        ..Default::default()
    });
    let text = config_text(&sim.base_url(), &dir, &[spec], "zendesk-token");
    let config = write_config(&dir, &text, "sim-token");
    let gw = zendesk_gateway::service::launch(
        config,
        zendesk_gateway::gateway::StartOptions {
            client: fast_client(),
        },
    )
    .await
    .unwrap();
    let mut h = Harness {
        sim,
        gw: Some(gw),
        http: reqwest::Client::new(),
        dir,
        config_text: text,
    };
    // refresh_secs is an hour: only the client's retry can index it within the bound.
    until("the article is indexed after the 429", || {
        found(&h, "return item") == ["201"]
    })
    .await;
    let exports: Vec<_> = h
        .sim
        .calls()
        .into_iter()
        .filter(|c| c.path.contains("help_center/incremental/articles"))
        .collect();
    assert_eq!(
        exports.iter().map(|c| c.status).collect::<Vec<_>>(),
        [429, 200],
        "{exports:?}"
    );
    assert!(
        exports
            .iter()
            .all(|c| c.path.starts_with("/brands/example-shop/")),
        "on the brand's host: {exports:?}"
    );
    let waited = exports[1].at - exports[0].at;
    assert!(
        waited >= chrono::Duration::milliseconds(900),
        "Retry-After was honoured: {waited:?}"
    );
    let metrics = h.metrics_text().await;
    for status in ["429", "200"] {
        assert!(
            metrics.contains(&format!(
                "call=\"GET /api/v2/help_center/incremental/articles\",status=\"{status}\"}} 1"
            )),
            "{metrics}"
        );
    }
    h.stop().await;
}

/// `setup` reads the account's fields and forms with the administrator's credentials
/// and reports, per brand, a field required to solve that the AI cannot fill, with the
/// fix; with an `on_solve` default for it the warning is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_reports_a_field_required_to_solve_until_it_has_a_default() {
    use zendesk_gateway::commands::setup::{setup, SetupOptions};
    use zendesk_gateway::config::{Config, LoadOptions};
    let mut spec = BrandSpec::new("triage", artifacts::TRIAGE_PATH, TRIAGE_TOKEN);
    spec.endpoint_extra = "zendesk_brand = \"Example Support\"".into();
    let mut h = Harness::custom(with_reason_field(), vec![spec], |t| t).await;
    let public = h.gw().url();
    let config_path = h.dir.join("gateway.toml");
    let text = h
        .config_text
        .replace(
            "requests_per_minute = 6000",
            &format!("requests_per_minute = 6000\npublic_base_url = \"{public}\""),
        )
        .replace(
            "sweep_every_secs = 0",
            &format!("sweep_every_secs = 0\n{ZENDESK_ADMIN}"),
        );
    let warnings = |text: &str| {
        std::fs::write(&config_path, text).unwrap();
        let config = Config::load_with(
            &config_path,
            LoadOptions {
                signing_secrets_may_be_missing: true,
            },
        )
        .unwrap();
        let options = SetupOptions {
            dry_run: true,
            client: fast_client(),
            ..Default::default()
        };
        async move {
            let report = setup(&config, &options).await.unwrap();
            assert!(report.failures().is_empty(), "{}", report.render());
            report
                .environment("production")
                .unwrap()
                .warnings
                .join("\n")
        }
    };
    // doctor reports the same, as a warning row of its own.
    let doctor_rows = |text: &str| {
        use zendesk_gateway::commands::doctor::{doctor, DoctorOptions, Level};
        std::fs::write(&config_path, text).unwrap();
        let config = Config::load_with(
            &config_path,
            LoadOptions {
                signing_secrets_may_be_missing: true,
            },
        )
        .unwrap();
        let options = DoctorOptions {
            client: fast_client(),
            skip_live_test: true,
            ..Default::default()
        };
        async move {
            doctor(&config, &options)
                .await
                .unwrap()
                .checks
                .into_iter()
                .filter(|c| c.subject == "required fields")
                .map(|c| (c.level == Level::Warning, c.detail))
                .collect::<Vec<_>>()
        }
    };
    let found = warnings(&text).await;
    assert!(
        found.contains("\"Reason for contact\" (id 360001) is required to solve")
            && found.contains("on_solve"),
        "{found}"
    );
    let rows = doctor_rows(&text).await;
    assert!(
        rows.iter()
            .any(|(warning, d)| *warning && d.contains("\"Reason for contact\" (id 360001)")),
        "{rows:?}"
    );
    let fixed = format!(
        "{text}\n[brands.triage.fields]\non_solve = {{ \"Reason for contact\" = \"Answered by AI\" }}\n"
    );
    let found = warnings(&fixed).await;
    assert!(!found.contains("Reason for contact"), "{found}");
    let rows = doctor_rows(&fixed).await;
    assert!(
        rows.len() == 1 && !rows[0].0,
        "one ok row once the field has a default: {rows:?}"
    );
    h.stop().await;
}
