//! `zendesk-gateway setup` against the simulator: a dry run changes nothing, the first run
//! creates the webhook, secret, trigger and automation, the second changes nothing, and
//! the trigger it made fires the gateway, signed, when a customer's ticket changes.

use crate::harness::*;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use zendesk_gateway::commands::setup::{setup, Outcome, Report, SetupOptions};
use zendesk_gateway::config::{Config, LoadOptions};
use zendesk_gateway::plugin_artifacts as artifacts;
use zendesk_simulator::{NewComment, NewTicket};

/// What the simulator's API calls show of writes (setup's dry run and second run send none).
fn writes(h: &Harness) -> Vec<String> {
    h.sim
        .calls()
        .into_iter()
        .filter(|c| c.method != "GET")
        .map(|c| format!("{} {}", c.method, c.path))
        .collect()
}

fn outcome(report: &Report, kind: &str) -> Outcome {
    report
        .objects()
        .find(|o| o.kind == kind)
        .unwrap_or_else(|| panic!("no {kind} in the report:\n{}", report.render()))
        .outcome
}

fn load(path: &Path) -> Config {
    Config::load_with(
        path,
        LoadOptions {
            signing_secrets_may_be_missing: true,
        },
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_is_idempotent_and_its_trigger_notifies_the_gateway_signed() {
    let mut brand = BrandSpec::new("triage", artifacts::TRIAGE_PATH, TRIAGE_TOKEN);
    brand.endpoint_extra =
        "signing_secret_file = \"triage.signing-secret\"\nzendesk_brand = \"Example Support\""
            .into();
    let mut h = Harness::custom(sim_config(), vec![brand], |t| {
        // Until setup fetches the real secret, the endpoint verifies with a placeholder.
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
    // The gateway's public URL is known once it listens.
    let public = h.gw().url();
    let config_path = h.dir.join("gateway.toml");
    let text = h.config_text.replace(
        "requests_per_minute = 6000",
        &format!("requests_per_minute = 6000\npublic_base_url = \"{public}\""),
    );
    std::fs::write(&config_path, &text).unwrap();
    let options = SetupOptions {
        client: fast_client(),
        ..Default::default()
    };

    // With only the AI seat (an agent): Zendesk refuses, and setup says which
    // permission, for which user, and how to fix it; nothing is written.
    let refused = setup(&load(&config_path), &options).await.unwrap();
    let failures = refused.failures().join("\n");
    for needle in [
        "environment production",
        "(403)",
        "the AI seat gladly-ai@example.com may not manage webhooks",
        "admin_email and admin_api_token_env (or admin_api_token_file) in [environments.production]",
    ] {
        assert!(failures.contains(needle), "missing {needle:?} in {failures}");
    }
    assert!(
        writes(&h).is_empty(),
        "refused setup wrote: {:?}",
        writes(&h)
    );

    // With an administrator's credentials for setup (the gateway still runs as the seat).
    let text = text.replace(
        "sweep_every_secs = 0",
        &format!("sweep_every_secs = 0\n{ZENDESK_ADMIN}"),
    );
    std::fs::write(&config_path, &text).unwrap();

    // A dry run through the real binary prints every write and sends none.
    h.sim.clear_calls();
    let out = Command::new(env!("CARGO_BIN_EXE_zendesk-gateway"))
        .args(["setup", "--dry-run", "--config"])
        .arg(&config_path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for needle in [
        "POST /api/v2/webhooks",
        "POST /api/v2/triggers",
        "POST /api/v2/automations",
        "\"request_format\": \"json\"",
        "{\\\"id\\\": {{ticket.id}}}",
        "[token of endpoint triage]",
        "would create",
        "Notify requester and CCs of received request",
    ] {
        assert!(stdout.contains(needle), "missing {needle:?} in\n{stdout}");
    }
    assert!(
        !stdout.contains(TRIAGE_TOKEN),
        "the endpoint token is masked:\n{stdout}"
    );
    assert!(writes(&h).is_empty(), "dry run wrote: {:?}", writes(&h));
    assert!(h.sim.webhooks().is_empty() && h.sim.automations().is_empty());
    assert_eq!(
        std::fs::read_to_string(h.dir.join("triage.signing-secret")).unwrap(),
        "placeholder-until-setup"
    );

    // First run: everything is created.
    h.sim.clear_calls();
    let report = setup(&load(&config_path), &options).await.unwrap();
    let rendered = report.render();
    assert!(report.failures().is_empty(), "{rendered}");
    assert_eq!(outcome(&report, "webhook"), Outcome::Created, "{rendered}");
    assert_eq!(outcome(&report, "signing secret"), Outcome::Updated);
    assert_eq!(outcome(&report, "trigger"), Outcome::Created);
    assert_eq!(outcome(&report, "automation"), Outcome::Created);
    let env = report.environment("production").unwrap();
    let warned = |needle: &str| env.warnings.iter().any(|w| w.contains(needle));
    assert!(
        warned("Notify requester and CCs of received request"),
        "{rendered}"
    );
    assert!(
        !warned("comment update"),
        "that trigger has the condition: {rendered}"
    );
    assert!(warned("group \"Escalations\""), "{rendered}");
    assert!(!warned("group \"Support\""), "{rendered}");

    let hooks = h.sim.webhooks();
    assert_eq!(hooks.len(), 1);
    let hook = &hooks[0];
    assert_eq!(hook["name"], "Zendesk Gateway triage");
    assert_eq!(hook["endpoint"], format!("{public}/notify/{TRIAGE_TOKEN}"));
    let hook_id = hook["id"].as_str().unwrap();
    let secret = h.sim.webhook_signing_secret(hook_id).unwrap();
    let secret_file = h.dir.join("triage.signing-secret");
    assert_eq!(
        std::fs::read_to_string(&secret_file).unwrap().trim(),
        secret
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&secret_file)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the secret is private to its owner");
    }
    let triggers = h.sim.triggers();
    let ours: Vec<_> = triggers
        .iter()
        .filter(|t| t["title"] == "Notify triage of Ticket Change")
        .collect();
    assert_eq!(ours.len(), 1);
    let conditions = ours[0]["conditions"].to_string();
    assert!(
        conditions.contains(r#""field":"brand_id","operator":"is","value":"1""#),
        "{conditions}"
    );
    // The updater condition, not "channel is not API" (which would also drop tickets
    // other integrations create through the API); checked against the definitions first.
    assert!(
        conditions.contains(r#""field":"current_user","operator":"is_not","value":"9000""#),
        "{conditions}"
    );
    assert!(!conditions.contains("current_via_id"), "{conditions}");
    let calls = h.sim.calls();
    let definitions = calls
        .iter()
        .position(|c| c.path == "/api/v2/triggers/definitions")
        .expect("setup read the trigger definitions");
    let first_write = calls.iter().position(|c| c.method != "GET").unwrap();
    assert!(definitions < first_write, "checked before writing");
    assert_eq!(ours[0]["actions"][0]["value"][0], hook_id);
    let automations = h.sim.automations();
    assert_eq!(automations.len(), 1);
    assert_eq!(
        automations[0]["title"],
        "AI seat failsafe: unassign 1 to 3 hours after assignment"
    );
    assert_eq!(automations[0]["conditions"]["all"][0]["value"], "9000");

    // Second run: everything is found as wanted; nothing is written.
    h.sim.clear_calls();
    let again = setup(&load(&config_path), &options).await.unwrap();
    assert!(again.failures().is_empty(), "{}", again.render());
    assert!(
        again.objects().all(|o| o.outcome == Outcome::Unchanged),
        "{}",
        again.render()
    );
    assert_eq!(again.objects().count(), 4);
    assert!(writes(&h).is_empty(), "second run wrote: {:?}", writes(&h));

    // An admin deactivates the trigger by hand: a dry run would PUT it back, a run does.
    let trigger_id = ours[0]["id"].as_u64().unwrap();
    let mut off = ours[0].clone();
    off["active"] = serde_json::json!(false);
    let r = h
        .http
        .put(format!("{}/api/v2/triggers/{trigger_id}", h.sim.base_url()))
        .header("authorization", h.sim.admin_auth_header())
        .json(&serde_json::json!({ "trigger": off }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let dry = setup(
        &load(&config_path),
        &SetupOptions {
            dry_run: true,
            ..options.clone()
        },
    )
    .await
    .unwrap();
    assert_eq!(outcome(&dry, "trigger"), Outcome::WouldUpdate);
    let planned = &dry.environment("production").unwrap().planned;
    assert_eq!(planned.len(), 1, "{}", dry.render());
    assert_eq!(planned[0].method, "PUT");
    assert_eq!(planned[0].path, format!("/api/v2/triggers/{trigger_id}"));
    let fixed = setup(&load(&config_path), &options).await.unwrap();
    assert_eq!(outcome(&fixed, "trigger"), Outcome::Updated);
    assert_eq!(outcome(&fixed, "webhook"), Outcome::Unchanged);
    assert!(h
        .sim
        .triggers()
        .iter()
        .any(|t| t["id"] == trigger_id && t["active"] == true));

    // The gateway reloads when the secret file changes, and verifies with the new secret.
    let started = Instant::now();
    loop {
        let config = h.gw().gateway.config();
        let current = config.endpoints["triage"].signing_secret.as_ref();
        if current.is_some_and(|s| s.expose() == secret) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the gateway did not pick up the new signing secret"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let unsigned = h.post(TRIAGE_TOKEN, "{\"id\": 1}").await;
    assert_eq!(unsigned.status(), 401, "signatures are required now");

    // A customer opens a ticket of the brand: the simulator's trigger calls the webhook,
    // signed; the gateway accepts it and the plugin handles the ticket.
    let id = h
        .sim
        .create_ticket(NewTicket {
            subject: "Charged twice".into(),
            body: "I was charged twice for my order, please refund one.".into(),
            requester_id: CUSTOMER,
            brand_id: Some(1),
            ..Default::default()
        })
        .id;
    let runs = h.wait_runs(id, 1).await;
    assert_eq!(runs[0].endpoint, "triage");
    // The customer answers: the trigger fires again (the gateway's own update did not).
    h.sim
        .add_comment(id, NewComment::public(CUSTOMER, "Any news on the refund?"))
        .unwrap();
    h.wait_runs(id, 2).await;
    let deliveries: Vec<_> = h
        .sim
        .webhook_deliveries()
        .into_iter()
        .filter(|d| d.ticket_id == id)
        .collect();
    assert_eq!(deliveries.len(), 2, "{deliveries:?}");
    assert!(
        deliveries.iter().all(|d| d.status == Some(202)),
        "{deliveries:?}"
    );
    // A ticket of another brand does not reach this endpoint.
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
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(h
        .sim
        .webhook_deliveries()
        .iter()
        .all(|d| d.ticket_id != other));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_without_a_public_url_fails_naming_the_key() {
    let dir = scratch_dir("setup-cli");
    let text = config_text(
        "http://127.0.0.1:9",
        &dir,
        &[BrandSpec::new(
            "triage",
            artifacts::TRIAGE_PATH,
            TRIAGE_TOKEN,
        )],
        "zendesk-token",
    );
    write_secrets(&dir, "sim-token");
    let path = dir.join("gateway.toml");
    std::fs::write(&path, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_zendesk-gateway"))
        .args(["setup", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("environments.production.public_base_url"),
        "{stderr}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_zendesk-gateway"))
        .args(["setup", "--environment", "nope", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("no environment named \"nope\""), "{stderr}");
}

/// A config for two endpoints in one environment against `sim`, without a gateway
/// running (setup only talks to Zendesk).
fn two_brand_config(sim: &zendesk_simulator::Simulator, orders_brand: &str) -> Config {
    let dir = scratch_dir("setup-brands");
    let mut triage = BrandSpec::new("triage", artifacts::TRIAGE_PATH, TRIAGE_TOKEN);
    triage.endpoint_extra = "zendesk_brand = \"example support\"".into();
    let mut orders = BrandSpec::new("orders", artifacts::ORDER_DESK_PATH, ORDERS_TOKEN);
    orders.endpoint_extra = orders_brand.into();
    let text = config_text(&sim.base_url(), &dir, &[triage, orders], "zendesk-token").replace(
        "requests_per_minute = 6000",
        &format!(
            "requests_per_minute = 6000\npublic_base_url = \"https://gateway.example.com/\"\n{ZENDESK_ADMIN}"
        ),
    );
    write_secrets(&dir, "sim-token");
    let path = dir.join("gateway.toml");
    std::fs::write(&path, text).unwrap();
    load(&path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_makes_one_trigger_per_brand_and_failures_name_environment_and_object() {
    let sim = zendesk_simulator::Simulator::start(sim_config(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let options = SetupOptions {
        client: fast_client(),
        ..Default::default()
    };

    // A brand name the account does not have stops before anything is written.
    let config = two_brand_config(&sim, "zendesk_brand = \"Nope Brand\"");
    let report = setup(&config, &options).await.unwrap();
    let failures = report.failures();
    assert_eq!(failures.len(), 1, "{}", report.render());
    assert!(
        failures[0].contains("environment production")
            && failures[0].contains("endpoints.orders.zendesk_brand")
            && failures[0].contains("\"Example Shop\""),
        "{failures:?}"
    );
    assert!(sim.webhooks().is_empty());

    // Zendesk refusing the second trigger: the failure names environment and object.
    let config = two_brand_config(&sim, "zendesk_brand_id = 2");
    sim.inject_fault(zendesk_simulator::Fault {
        method: Some("POST".into()),
        path_contains: Some("/api/v2/triggers".into()),
        status: 422,
        retry_after: None,
        times: 1,
        ..Default::default()
    });
    let report = setup(&config, &options).await.unwrap();
    let failures = report.failures();
    assert_eq!(failures.len(), 1, "{}", report.render());
    assert!(
        failures[0].starts_with(
            "environment production: trigger \"Notify orders of Ticket Change\": Zendesk POST /api/v2/triggers failed (422)"
        ),
        "{failures:?}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_zendesk-gateway"))
        .args(["setup", "--config"])
        .arg(&config.source)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the next run completes: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // One webhook and one trigger per endpoint, each with its brand; one automation.
    assert_eq!(sim.webhooks().len(), 2);
    let mut brands: Vec<(String, String)> = sim
        .triggers()
        .iter()
        .filter(|t| t["title"].as_str().unwrap().ends_with("of Ticket Change"))
        .map(|t| {
            (
                t["title"].as_str().unwrap().to_string(),
                t["conditions"]["all"][0]["value"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            )
        })
        .collect();
    brands.sort();
    assert_eq!(
        brands,
        [
            (
                "Notify orders of Ticket Change".to_string(),
                "2".to_string()
            ),
            (
                "Notify triage of Ticket Change".to_string(),
                "1".to_string()
            ),
        ]
    );
    assert_eq!(sim.automations().len(), 1);
    // Without a signing secret setting, the secret goes to the data folder and the
    // report says which line to add.
    let again = setup(&config, &options).await.unwrap();
    assert!(again.objects().all(|o| o.outcome == Outcome::Unchanged));
    let notes = &again.environment("production").unwrap().notes;
    assert!(
        notes.iter().any(
            |n| n.contains("signing_secret_file = \"secrets/orders.signing-secret\"")
                && n.contains("[endpoints.orders]")
        ),
        "{notes:?}"
    );
    assert!(config
        .gateway
        .data_dir
        .join("secrets/triage.signing-secret")
        .exists());
    sim.shutdown().await;
}
