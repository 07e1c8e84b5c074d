//! `zendesk-gateway doctor` against the simulator: after `setup` (and `--fix` for what
//! the default account lacks) everything is ok; a wrong public URL, a rotated signing
//! secret, a paused webhook, a tripped breaker, a seat missing from a group and a
//! "Notify requester" trigger without the API condition each show as the right row;
//! `--fix --yes` repairs the fixable ones and a second doctor passes. Also: a group the
//! seat's custom role cannot update fails and `setup --fix` repairs it; the trigger's
//! usage counts warn when trigger and webhook disagree; a stale `signing_secret_env` is
//! moved into a watched file without the secret being printed.

use crate::harness::*;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use zendesk_gateway::commands::doctor::{apply_fixes, doctor, DoctorOptions, DoctorReport, Level};
use zendesk_gateway::commands::setup::{setup, SetupOptions};
use zendesk_gateway::config::{Config, LoadOptions};
use zendesk_gateway::plugin_artifacts as artifacts;
use zendesk_simulator::{NewTicket, SimCustomRole, SimulatorConfig, WebhookPolicy};

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
    let (mut h, config_path) = harness_for_doctor(
        sim,
        "",
        "signing_secret_file = \"triage.signing-secret\"",
        6000,
    )
    .await;
    let public = h.gw().url();
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
    let text = std::fs::read_to_string(&config_path)
        .unwrap()
        .replace("requests_per_minute = 6000", "requests_per_minute = 600");
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

/// A harness whose gateway's own config (`gateway.toml`, which it watches) has what
/// doctor and setup need: the public URL, the administrator, a budget within the
/// simulated account's 700 requests a minute. `brand` is given the extra brand and
/// endpoint lines.
async fn harness_for_doctor(
    sim: SimulatorConfig,
    brand_extra: &str,
    endpoint_extra: &str,
    requests_per_minute: u32,
) -> (Harness, std::path::PathBuf) {
    let mut brand = BrandSpec::new("triage", artifacts::TRIAGE_PATH, TRIAGE_TOKEN);
    brand.extra = brand_extra.to_string();
    brand.endpoint_extra = format!("{endpoint_extra}\nzendesk_brand = \"Example Support\"");
    // A secret file must exist for the gateway to start; setup writes the real one.
    let h = Harness::custom(sim, vec![brand], |t| {
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
            &format!("requests_per_minute = {requests_per_minute}\npublic_base_url = \"{public}\""),
        )
        .replace(
            "sweep_every_secs = 0",
            &format!("sweep_every_secs = 0\n{ZENDESK_ADMIN}"),
        );
    std::fs::write(&config_path, &text).unwrap();
    (h, config_path)
}

fn cli(args: &[&str], config: &Path) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_zendesk-gateway"))
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Doctor again and again (the gateway reloads what setup or a fix wrote) until only
/// `allowed` subjects are left with problems.
async fn doctor_until(h: &Harness, config: &Path, allowed: &[&str]) -> DoctorReport {
    let options = DoctorOptions {
        client: fast_client(),
        ..Default::default()
    };
    let started = Instant::now();
    loop {
        let r = doctor(&load(config), &options).await.unwrap();
        if r.problems().all(|c| allowed.contains(&c.subject.as_str())) {
            return r;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "doctor still finds problems:\n{}",
            r.render()
        );
        h.sim.reset_rate_limit();
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// A PUT to ticket `id` as the AI seat: what Zendesk answers the gateway.
async fn put_as_seat(h: &Harness, id: u64) -> u16 {
    reqwest::Client::new()
        .put(format!("{}/api/v2/tickets/{id}", h.sim.base_url()))
        .header("authorization", h.sim.auth_header())
        .json(&serde_json::json!({"ticket": {"comment": {"body": "Looking into it.", "public": false}}}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_fails_a_group_the_seats_role_cannot_update_and_setup_fix_repairs_it() {
    // The seat has a custom role limited to its groups (Zendesk's `ticket_access`
    // "within-groups"); it is in Support (10) and Billing (11), not Escalations (12),
    // which the brand's plugin may assign to.
    let sim = SimulatorConfig {
        custom_roles: vec![SimCustomRole::new(7, "AI seat", "within-groups")],
        seat_custom_role_id: Some(7),
        ..sim_config()
    };
    let (mut h, config) = harness_for_doctor(
        sim,
        "allowed_groups = [10, 12]",
        "signing_secret_file = \"triage.signing-secret\"",
        600,
    )
    .await;
    // The fake refuses the seat's updates in that group, as Zendesk does.
    let escalated = h
        .sim
        .create_ticket(NewTicket {
            subject: "Legal threat".into(),
            body: "I will sue.".into(),
            requester_id: CUSTOMER,
            brand_id: Some(1),
            group_id: Some(12),
            ..Default::default()
        })
        .id;
    assert_eq!(put_as_seat(&h, escalated).await, 403);

    let options = DoctorOptions {
        client: fast_client(),
        ..Default::default()
    };
    let r = doctor(&load(&config), &options).await.unwrap();
    let (level, detail) = row(&r, "ticket access");
    assert_eq!(level, Level::Failure, "{}", r.render());
    assert!(
        detail.contains("group \"Escalations\" (id 12)")
            && detail.contains("custom role \"AI seat\" (id 7)")
            && detail.contains("add the seat to the group"),
        "{detail}"
    );
    // Support (10) is fine: only Escalations is named.
    assert!(!r
        .checks
        .iter()
        .any(|c| c.subject == "ticket access" && c.detail.contains("(id 10)")));

    // setup --fix --yes: sets up, then makes doctor's repairs (one implementation): the
    // seat joins Escalations (once, though two rows ask for it) and the "Notify
    // requester" trigger gets the API-channel condition.
    let (ok, out, err) = cli(&["setup", "--fix", "--yes"], &config);
    assert!(ok, "{out}\n{err}");
    assert_eq!(
        out.matches("fix (production -): POST /api/v2/group_memberships")
            .count(),
        1,
        "{out}"
    );
    assert!(
        out.contains("\"group_id\": 12") && out.contains("current_via_id"),
        "{out}"
    );
    assert!(out.contains("--fix: applied 2 fix(es)"), "{out}");
    assert_eq!(put_as_seat(&h, escalated).await, 200);
    // Without --yes, setup --fix asks; a doctor run now passes everything.
    doctor_until(&h, &config, &[]).await;
    let (ok, out) = doctor_cli(&config, &[]);
    assert!(ok && out.contains("ticket access"), "{out}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_shows_trigger_usage_and_warns_when_trigger_and_webhook_disagree() {
    let (mut h, config) = harness_for_doctor(
        sim_config(),
        "",
        "signing_secret_file = \"triage.signing-secret\"",
        600,
    )
    .await;
    let report = setup(
        &load(&config),
        &SetupOptions {
            client: fast_client(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(report.failures().is_empty(), "{}", report.render());
    let r = doctor_until(&h, &config, &["groups", "notify requester"]).await;
    let (_, detail) = row(&r, "trigger usage");
    assert!(
        detail.contains("fired 0 time(s) in the last hour, 0 in 24 h"),
        "{detail}"
    );
    let hook = h.sim.webhooks()[0]["id"].as_str().unwrap().to_string();
    let http = reqwest::Client::new();
    let admin = h.sim.admin_auth_header();
    let base = h.sim.base_url();

    // The trigger fires, but the webhook is inactive: Zendesk calls nobody.
    let paused = http
        .patch(format!("{base}/api/v2/webhooks/{hook}"))
        .header("authorization", &admin)
        .json(&serde_json::json!({"webhook": {"status": "inactive"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(paused.status(), 204);
    h.ticket("Where is my parcel?", "It has not arrived yet.");
    let (ok, out) = doctor_cli(&config, &[]);
    assert!(!ok, "{out}");
    let line = out
        .lines()
        .find(|l| l.contains("trigger usage"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        line.starts_with("WARNING")
            && line.contains("fired 1 time(s) in the last hour, 1 in 24 h")
            && line.contains("saw 0 invocation(s)")
            && line.contains("called the webhook for none of it"),
        "{line}"
    );

    // Vice versa: the gateway's trigger is renamed into a leftover that calls the
    // webhook for another brand's tickets, setup writes a fresh one (fired 0 times),
    // and only the leftover calls the webhook.
    let old = h
        .sim
        .triggers()
        .into_iter()
        .find(|t| t["title"] == "Notify triage of Ticket Change")
        .unwrap();
    let renamed = http
        .put(format!("{base}/api/v2/triggers/{}", old["id"]))
        .header("authorization", &admin)
        .json(&serde_json::json!({"trigger": {
            "title": "Legacy notify",
            "conditions": {"all": [{"field": "brand_id", "operator": "is", "value": "2"}], "any": []},
            "actions": old["actions"],
        }}))
        .send()
        .await
        .unwrap();
    assert_eq!(renamed.status(), 200);
    let (ok, out, err) = cli(&["setup"], &config);
    assert!(ok, "{out}\n{err}");
    let other = h
        .sim
        .create_ticket(NewTicket {
            subject: "Shop question".into(),
            body: "Do you ship abroad?".into(),
            requester_id: CUSTOMER,
            brand_id: Some(2),
            ..Default::default()
        })
        .id;
    let started = Instant::now();
    while !h
        .sim
        .webhook_deliveries()
        .iter()
        .any(|d| d.ticket_id == other && d.outcome != "pending")
    {
        assert!(started.elapsed() < Duration::from_secs(10), "not delivered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (ok, out) = doctor_cli(&config, &[]);
    assert!(!ok, "{out}");
    let line = out
        .lines()
        .find(|l| l.contains("trigger usage"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        line.starts_with("WARNING")
            && line.contains("fired 0 time(s) in the last hour, 0 in 24 h")
            && line.contains("saw 1 invocation(s)")
            && line.contains("something other than"),
        "{line}"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_fix_moves_a_stale_signing_secret_env_into_a_watched_file() {
    // The variable is read by the gateway at start and by doctor, which inherits it.
    const VAR: &str = "DOCTOR_E2E_TRIAGE_SIGNING_SECRET";
    std::env::set_var(VAR, "stale-secret-from-an-old-webhook");
    let (mut h, config) = harness_for_doctor(
        sim_config(),
        "",
        &format!("signing_secret_env = \"{VAR}\""),
        600,
    )
    .await;
    let report = setup(
        &load(&config),
        &SetupOptions {
            client: fast_client(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(report.failures().is_empty(), "{}", report.render());
    let hook = h.sim.webhooks()[0]["id"].as_str().unwrap().to_string();
    let secret = h.sim.webhook_signing_secret(&hook).unwrap();

    // The gateway verifies with the stale variable: doctor says exactly what to do,
    // without the secret.
    let (ok, out) = doctor_cli(&config, &[]);
    assert!(!ok, "{out}");
    assert!(!out.contains(&secret), "the secret was printed:\n{out}");
    let line = out
        .lines()
        .find(|l| l.contains("signing secret"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        line.starts_with("FAILURE")
            && line.contains(&format!("${VAR} (signing_secret_env)"))
            && line.contains("cannot change its own environment")
            && line.contains("signing_secret_file = \"secrets/triage.signing-secret\"")
            && line.contains(&format!("{VAR}=\"$(zendesk-gateway doctor --config"))
            && line.contains("--print-signing-secret triage)"),
        "{line}"
    );
    assert!(
        out.contains("live test") && out.contains("answered 401"),
        "{out}"
    );
    // Asked by name, doctor prints the secret, and only it.
    let (ok, printed, err) = cli(&["doctor", "--print-signing-secret", "triage"], &config);
    assert!(ok, "{err}");
    assert_eq!(printed.trim(), secret);

    // --fix --yes moves it into the file the gateway watches and changes only that line
    // of the config; the gateway reloads and verifies Zendesk's signatures again.
    let (_, out) = doctor_cli(&config, &["--fix", "--yes"]);
    assert!(!out.contains(&secret), "the secret was printed:\n{out}");
    assert!(
        out.contains(&format!(
            "replace signing_secret_env = \"{VAR}\" by signing_secret_file"
        )),
        "{out}"
    );
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(
        text.contains("signing_secret_file = \"secrets/triage.signing-secret\"")
            && !text.contains(VAR),
        "{text}"
    );
    let r = doctor_until(&h, &config, &[]).await;
    assert_eq!(row(&r, "signing secret").0, Level::Ok);
    assert!(row(&r, "live test").1.contains("signature verified"));
    let (ok, out) = doctor_cli(&config, &[]);
    assert!(ok, "{out}");
    h.stop().await;
}
