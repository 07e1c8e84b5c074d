//! Start-up refuses credentials Zendesk does not accept.

use crate::harness::*;
use zendesk_gateway::gateway::StartOptions;
use zendesk_gateway::service::launch;
use zendesk_simulator::Simulator;

/// Zendesk answers wrong credentials with 401 `Couldn't authenticate you` (the
/// anonymous user only comes back without credentials); start-up says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_stop_start_up_with_a_message_that_says_so() {
    let config = sim_config();
    let token = config.api_token.clone();
    let sim = Simulator::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let dir = scratch_dir("anon");
    let brands = [BrandSpec::new(
        "triage",
        zendesk_gateway::plugin_artifacts::TRIAGE_PATH,
        TRIAGE_TOKEN,
    )];
    let text = config_text(&sim.base_url(), &dir, &brands, "wrong-token");
    let err = launch(write_config(&dir, &text, &token), StartOptions::default())
        .await
        .err()
        .expect("start-up must fail with wrong credentials");
    let msg = format!("{err:#}");
    assert!(msg.contains("environment production"), "{msg}");
    assert!(
        msg.contains("refuses the credentials of gladly-ai@example.com")
            && msg.contains("401 Couldn't authenticate you")
            && msg.contains("check the email and the API token"),
        "{msg}"
    );
    assert!(
        !msg.contains("not-the-token"),
        "the token must not appear in errors: {msg}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_plugin_file_stops_start_up_with_the_brand_named() {
    let config = sim_config();
    let token = config.api_token.clone();
    let sim = Simulator::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let dir = scratch_dir("badplugin");
    let bad = dir.join("garbage.wasm");
    std::fs::write(&bad, b"this is not wasm").unwrap();
    let brands = [BrandSpec::new(
        "triage",
        bad.to_str().unwrap(),
        TRIAGE_TOKEN,
    )];
    let text = config_text(&sim.base_url(), &dir, &brands, "zendesk-token");
    let err = launch(write_config(&dir, &text, &token), StartOptions::default())
        .await
        .err()
        .unwrap();
    let msg = format!("{err:#}");
    assert!(
        msg.contains("brand triage") && msg.contains("not a WebAssembly component"),
        "{msg}"
    );
}
