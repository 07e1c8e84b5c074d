//! `zendesk-gateway doctor` against the simulator: after `setup` (and `--fix` for what
//! the default account lacks) everything is ok; a wrong public URL, a rotated signing
//! secret, a paused webhook, a tripped breaker, a seat missing from a group and a
//! "Notify requester" trigger without the API condition each show as the right row;
//! `--fix --yes` repairs the fixable ones and a second doctor passes.

use crate::harness::*;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use zendesk_gateway::commands::doctor::{apply_fixes, doctor, DoctorOptions, DoctorReport, Level};
use zendesk_gateway::commands::setup::{setup, SetupOptions};
use zendesk_gateway::config::{Config, LoadOptions};
use zendesk_gateway::plugin_artifacts as artifacts;
use zendesk_simulator::{NewTicket, SimulatorConfig, WebhookPolicy};

fn load(path: &Path) -> Config {
    Config::load_with(
        path,
        LoadOptions {
            signing_secrets_may_be_missing: true,
        },
    )
    .unwrap()
}

/// The level of the row about `subject` (the first one), and its detail.
fn row(report: &DoctorReport, subject: &str) -> (Level, String) {
    let c = report
        .checks
        .iter()
        .find(|c| c.subject == subject && c.level != Level::Ok)
        .or_else(|| report.checks.iter().find(|c| c.subject == subject))
        .unwrap_or_else(|| panic!("no {subject} row in\n{}", report.render()));
    (c.level, c.detail.clone())
}

fn doctor_cli(config: &Path, extra: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_zendesk-gateway"))
        .arg("doctor")
        .args(extra)
        .arg("--config")
        .arg(config)
        .output()
        .unwrap();
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_finds_each_problem_and_fix_repairs_what_the_api_can() {
    let sim = SimulatorConfig {
        webhooks: WebhookPolicy {
            timeout: Duration::from_secs(2),
            retry_delay: Duration::from_millis(50),
            breaker_pause: Duration::from_secs(2),
            ..WebhookPolicy::default()
        },
        ..sim_config()
    };
    let mut brand = BrandSpec::new("triage", artifacts::TRIAGE_PATH, TRIAGE_TOKEN);
    brand.endpoint_extra =
        "signing_secret_file = \"triage.signing-secret\"\nzendesk_brand = \"Example Support\""
            .into();
    let mut h = Harness::custom(sim, vec![brand], |t| {
        let data = t
            .lines()
            .find(|l| l.starts_with("data_dir"))
            .and_then(|l| l.split('"').nth(1))
            .unwrap()
            .to_string();
        std::fs::write(
            Path::new(&data).join("triage.signing-secret"),
            "placeholder-until-setup",
        )
        .unwrap();
        t
    })
    .await;
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
    std::fs::write(&config_path, &text).unwrap();
    let report = setup(
        &load(&config_path),
        &SetupOptions {
            client: fast_client(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(report.failures().is_empty(), "{}", report.render());
    let options = DoctorOptions {
        client: fast_client(),
        ..Default::default()
    };
    // The gateway picks up the secret setup wrote before the live test can verify.
    // The harness's budget (6000/min) is above the simulated account's 700: doctor says
    // so; the rest of the test uses a config within it.
    let over_budget = doctor(&load(&config_path), &options).await.unwrap();
    let (level, detail) = row(&over_budget, "quota");
    assert_eq!(level, Level::Warning, "{}", over_budget.render());
    assert!(
        detail.contains("above the account's limit of 700"),
        "{detail}"
    );
    let text = text.replace("requests_per_minute = 6000", "requests_per_minute = 600");
    let config_path = config_path.with_file_name("doctor.toml");
    std::fs::write(&config_path, &text).unwrap();
    let wait_healthy_except = |allowed: &'static [&'static str]| {
        let config_path = config_path.clone();
        let options = options.clone();
        let sim = h.sim.clone();
        async move {
            let started = Instant::now();
            loop {
                let r = doctor(&load(&config_path), &options).await.unwrap();
                if r.problems().all(|c| allowed.contains(&c.subject.as_str())) {
                    return r;
                }
                assert!(
                    started.elapsed() < Duration::from_secs(20),
                    "doctor still finds problems:\n{}",
                    r.render()
                );
                // The loop must not use up the account's quota.
                sim.reset_rate_limit();
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    };

    // After setup, the default account still has what the guide leaves to hand: the
    // seat is not in one group, a "Notify requester" trigger lacks the API condition.
    let r = wait_healthy_except(&["groups", "notify requester"]).await;
    assert_eq!(row(&r, "groups").0, Level::Warning, "{}", r.render());
    assert_eq!(row(&r, "notify requester").0, Level::Warning);
    assert!(!r.healthy());
    for subject in [
        "seat",
        "webhook",
        "signing secret",
        "breaker",
        "deliveries",
        "trigger",
        "failsafe",
        "quota",
        "live test",
    ] {
        assert_eq!(row(&r, subject).0, Level::Ok, "{subject}:\n{}", r.render());
    }
    assert!(row(&r, "live test").1.contains("signature verified"));
    // A probe is answered only once its signature verifies: unsigned, it is refused.
    let unsigned = h
        .post(TRIAGE_TOKEN, "{\"zendesk_gateway_probe\": \"x\"}")
        .await;
    assert_eq!(unsigned.status(), 401);
    // The probe did no work: no run, nothing in the inbox.
    assert!(h.gw().gateway.inbox.waiting() == 0);

    // The binary: exit status 1 while there are problems; --fix --yes repairs both and
    // checks again, which passes.
    let (ok, out) = doctor_cli(&config_path, &[]);
    assert!(!ok && out.contains("WARNING"), "{out}");
    let (ok, out) = doctor_cli(&config_path, &["--fix", "--yes"]);
    assert!(ok, "{out}");
    assert!(
        out.contains("POST /api/v2/group_memberships") && out.contains("current_via_id"),
        "{out}"
    );
    assert!(out.contains("doctor: everything is ok"), "{out}");
    let r = doctor(&load(&config_path), &options).await.unwrap();
    assert!(r.healthy(), "{}", r.render());

    // A wrong public URL in the config: the webhook points elsewhere.
    let wrong = config_path.with_file_name("wrong-url.toml");
    std::fs::write(
        &wrong,
        text.replace(&public, "https://gateway.elsewhere.example"),
    )
    .unwrap();
    let r = doctor(&load(&wrong), &options).await.unwrap();
    let (level, detail) = row(&r, "webhook");
    assert_eq!(level, Level::Failure, "{}", r.render());
    assert!(
        detail.contains("not at this endpoint's public URL"),
        "{detail}"
    );

    // A rotated signing secret, a paused webhook and a tripped breaker.
    let hook = h.sim.webhooks()[0]["id"].as_str().unwrap().to_string();
    let http = reqwest::Client::new();
    let rotated = http
        .post(format!(
            "{}/api/v2/webhooks/{hook}/signing_secret",
            h.sim.base_url()
        ))
        .header("authorization", h.sim.admin_auth_header())
        .send()
        .await
        .unwrap();
    assert_eq!(rotated.status(), 200);
    h.sim.trip_webhook_breaker(&hook);
    let id = h
        .sim
        .create_ticket(NewTicket {
            subject: "Charged twice".into(),
            body: "I was charged twice, please refund one.".into(),
            requester_id: CUSTOMER,
            brand_id: Some(1),
            ..Default::default()
        })
        .id;
    let started = Instant::now();
    while !h
        .sim
        .webhook_deliveries()
        .iter()
        .any(|d| d.ticket_id == id && d.outcome == "circuit_broken")
    {
        assert!(started.elapsed() < Duration::from_secs(10), "not dropped");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let paused = http
        .patch(format!("{}/api/v2/webhooks/{hook}", h.sim.base_url()))
        .header("authorization", h.sim.admin_auth_header())
        .json(&serde_json::json!({"webhook": {"status": "inactive"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(paused.status(), 204);
    let r = doctor(&load(&config_path), &options).await.unwrap();
    assert_eq!(
        row(&r, "signing secret").0,
        Level::Failure,
        "{}",
        r.render()
    );
    let (level, detail) = row(&r, "live test");
    assert_eq!(level, Level::Failure);
    assert!(detail.contains("401"), "{detail}");
    assert_eq!(row(&r, "breaker").0, Level::Failure);
    let (level, detail) = row(&r, "webhook");
    assert_eq!(level, Level::Failure);
    assert!(detail.contains("inactive"), "{detail}");

    // --fix --yes re-syncs the secret and re-activates the webhook; once Zendesk's
    // pause is over and a delivery succeeds, doctor passes.
    let applied = apply_fixes(
        &load(&config_path),
        &options,
        &r,
        true,
        &mut std::io::empty(),
    )
    .await
    .unwrap();
    assert_eq!(applied, 2, "{}", r.render());
    // The gateway verifies with the re-synced secret (the live test passes) before a
    // real delivery is made, which would otherwise fail 401.
    wait_healthy_except(&["breaker"]).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let next = h
        .sim
        .create_ticket(NewTicket {
            subject: "Where is my parcel?".into(),
            body: "It has not arrived yet.".into(),
            requester_id: CUSTOMER,
            brand_id: Some(1),
            ..Default::default()
        })
        .id;
    let _ = next;
    let r = wait_healthy_except(&[]).await;
    assert!(r.healthy(), "{}", r.render());
    h.stop().await;
}
