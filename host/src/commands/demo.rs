//! `zendesk-gateway demo`: the gateway's main job on the embedded default. Starts the
//! Zendesk simulator and the gateway with `examples/demo/gateway.toml`, creates realistic
//! tickets for two brands, notifies the gateway as Zendesk's trigger would, waits until
//! every ticket is handled, and prints what each brand's plugin did.

use crate::config::Config;
use crate::gateway::StartOptions;
use crate::service::{launch, RunningGateway};
use anyhow::Context;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use zendesk_simulator::shop::{ShopApi, ShopConfig};
use zendesk_simulator::{NewComment, NewTicket, SimUser, Simulator, SimulatorConfig};

const DEMO_CONFIG: &str = include_str!("../../../examples/demo/gateway.toml");

/// Zendesk brand ids in the simulator.
const ACME_BRAND_ID: u64 = 360_001;
const SHOPWISE_BRAND_ID: u64 = 360_002;

struct DemoTicket {
    endpoint: &'static str,
    brand_id: u64,
    requester: u64,
    subject: &'static str,
    body: &'static str,
    /// A second customer message, sent after the first round.
    follow_up: Option<&'static str>,
}

fn customers() -> Vec<SimUser> {
    [
        (501, "Maria Lopez", "maria.lopez@example.net"),
        (502, "Kenji Watanabe", "kenji.w@example.org"),
        (503, "Priya Natarajan", "priya.n@example.com"),
        (504, "Tom Becker", "tom.becker@example.de"),
        (505, "Aisha Bello", "aisha.bello@example.co.uk"),
        (506, "Lucas Martin", "lucas.martin@example.fr"),
    ]
    .into_iter()
    .map(|(id, name, email)| SimUser {
        id,
        name: name.into(),
        email: email.into(),
        role: "end-user".into(),
    })
    .collect()
}

fn tickets() -> Vec<DemoTicket> {
    vec![
        DemoTicket {
            endpoint: "acme-production",
            brand_id: ACME_BRAND_ID,
            requester: 501,
            subject: "Charged twice for my subscription",
            body: "Hi, I was charged twice on my credit card for the March invoice. Can you refund the duplicate charge?",
            follow_up: None,
        },
        DemoTicket {
            endpoint: "acme-production",
            brand_id: ACME_BRAND_ID,
            requester: 502,
            subject: "Locked out after enabling 2FA",
            body: "I turned on 2FA and now my login fails every time. I need access urgently, we have a release today!",
            follow_up: Some("Thank you, that fixed it!"),
        },
        DemoTicket {
            endpoint: "acme-production",
            brand_id: ACME_BRAND_ID,
            requester: 503,
            subject: "Export to CSV crashes the app",
            body: "Every time I click Export > CSV the desktop app crashes with an error dialog. Version 4.2.1 on Windows.",
            follow_up: None,
        },
        DemoTicket {
            endpoint: "shopwise-production",
            brand_id: SHOPWISE_BRAND_ID,
            requester: 504,
            subject: "Where is my order?",
            body: "Hello, I ordered a rain jacket last week, order 4411, and haven't received a tracking number yet. Where is my order?",
            follow_up: Some("Thanks!"),
        },
        DemoTicket {
            endpoint: "shopwise-production",
            brand_id: SHOPWISE_BRAND_ID,
            requester: 505,
            subject: "Returning shoes",
            body: "The sneakers from order 4413 are too small. Can I return them and get a refund?",
            follow_up: None,
        },
        DemoTicket {
            endpoint: "shopwise-production",
            brand_id: SHOPWISE_BRAND_ID,
            requester: 506,
            subject: "Wrong colour and I want to cancel the other order",
            body: "You sent me the blue lamp instead of the green one, and please cancel my second order too. Also can I get a refund for shipping?",
            follow_up: None,
        },
    ]
}

/// Runs the demo.
pub async fn run(keep_running: bool) -> anyhow::Result<()> {
    let work = std::env::temp_dir().join(format!("zendesk-gateway-demo-{}", std::process::id()));
    let plugins_dir = write_plugins(&work)?;

    let sim_config = SimulatorConfig {
        users: customers(),
        ..SimulatorConfig::default()
    };
    let token = sim_config.api_token.clone();
    let simulator = Simulator::start(sim_config, "127.0.0.1:0".parse()?).await?;
    println!("Zendesk simulator: {}", simulator.base_url());
    // The shop's own order API, which the order desk calls through the gateway.
    let shop = ShopApi::start(ShopConfig::default(), "127.0.0.1:0".parse()?).await?;
    println!("Shop order API:    {}", shop.base_url());

    let config = demo_config(
        &simulator.base_url(),
        &shop,
        &plugins_dir,
        &work.join("data"),
        &token,
    )?;
    let gateway = launch(config, StartOptions::default()).await?;
    println!("Gateway:           {}", gateway.url());
    println!();

    let demo_tickets = tickets();
    let http = reqwest::Client::new();
    let created = first_round(&simulator, &gateway, &http, &demo_tickets).await?;
    let runs = second_round(&simulator, &gateway, &http, &demo_tickets, &created).await?;
    println!();
    print_table(&simulator, &gateway, &demo_tickets, &created);
    print_calls(&simulator, runs);
    if keep_running {
        println!();
        println!("Still running. Try:");
        println!("  curl -s {}/_sim/tickets | head", simulator.base_url());
        println!(
            "  curl -s -XPOST {} -d '{{\"id\": {}}}'",
            gateway.notify_url("acme-production").unwrap_or_default(),
            created[0]
        );
        println!("Ctrl-C to stop.");
        crate::service::shutdown_signal().await;
    }
    gateway.shutdown(Duration::from_secs(5)).await;
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}

/// The example plugins, written to `<work>/plugins`, which is returned.
fn write_plugins(work: &Path) -> anyhow::Result<PathBuf> {
    let plugins_dir = work.join("plugins");
    std::fs::create_dir_all(&plugins_dir)?;
    std::fs::write(
        plugins_dir.join("triage.wasm"),
        crate::plugin_artifacts::TRIAGE_WASM,
    )?;
    std::fs::write(
        plugins_dir.join("order_desk.wasm"),
        crate::plugin_artifacts::ORDER_DESK_WASM,
    )?;
    Ok(plugins_dir)
}

/// Round 1: the demo tickets are created and notified; returns their ids, in order.
async fn first_round(
    simulator: &Simulator,
    gateway: &RunningGateway,
    http: &reqwest::Client,
    demo_tickets: &[DemoTicket],
) -> anyhow::Result<Vec<u64>> {
    let mut created = Vec::new();
    for t in demo_tickets {
        let ticket = simulator.create_ticket(NewTicket {
            subject: t.subject.into(),
            body: t.body.into(),
            requester_id: t.requester,
            brand_id: Some(t.brand_id),
            ..Default::default()
        });
        created.push(ticket.id);
    }
    println!(
        "Round 1: {} new tickets; notifying the gateway as Zendesk's trigger would...",
        created.len()
    );
    for (t, id) in demo_tickets.iter().zip(&created) {
        notify(http, gateway, t.endpoint, *id).await?;
    }
    wait_until_handled(gateway, created.len()).await?;
    Ok(created)
}

/// Round 2: customers answer where the demo has a follow-up; returns the runs in all.
async fn second_round(
    simulator: &Simulator,
    gateway: &RunningGateway,
    http: &reqwest::Client,
    demo_tickets: &[DemoTicket],
    created: &[u64],
) -> anyhow::Result<usize> {
    println!(
        "Round 2: customers answer on {} tickets...",
        demo_tickets
            .iter()
            .filter(|t| t.follow_up.is_some())
            .count()
    );
    let mut expected_runs = created.len();
    for (t, id) in demo_tickets.iter().zip(created) {
        if let Some(text) = t.follow_up {
            simulator.add_comment(
                *id,
                NewComment {
                    author_id: t.requester,
                    body: text.into(),
                    public: true,
                },
            )?;
            notify(http, gateway, t.endpoint, *id).await?;
            expected_runs += 1;
        }
    }
    wait_until_handled(gateway, expected_runs).await?;
    Ok(expected_runs)
}

/// What the runs cost in Zendesk API calls.
fn print_calls(simulator: &Simulator, runs: usize) {
    let calls = simulator.calls();
    let gets = calls.iter().filter(|c| c.method == "GET").count();
    let puts = calls.iter().filter(|c| c.method == "PUT").count();
    println!();
    println!(
        "Zendesk API calls: {} in all ({} GET, {} PUT) for {} runs, users/me included.",
        calls.len(),
        gets,
        puts,
        runs
    );
}

fn demo_config(
    sim_url: &str,
    shop: &ShopApi,
    plugins: &Path,
    data: &Path,
    token: &str,
) -> anyhow::Result<Config> {
    let text = DEMO_CONFIG
        .replace("{{simulator_url}}", sim_url)
        .replace("{{shop_url}}", &shop.base_url())
        .replace("{{plugins_dir}}", &plugins.display().to_string())
        .replace("{{data_dir}}", &data.display().to_string());
    let token = token.to_string();
    Config::parse(
        &text,
        Path::new("examples/demo/gateway.toml"),
        &move |name| match name {
            "DEMO_ZENDESK_TOKEN" => Some(token.clone()),
            "DEMO_ADMIN_TOKEN" => Some("demo-admin-token".into()),
            "DEMO_SHOP_TOKEN" => Some(format!("Bearer {}", ShopConfig::default().token)),
            _ => None,
        },
    )
    .context("the demo config is broken")
}

async fn notify(
    http: &reqwest::Client,
    gw: &RunningGateway,
    endpoint: &str,
    ticket: u64,
) -> anyhow::Result<()> {
    let url = gw.notify_url(endpoint).context("demo endpoint missing")?;
    let resp = http
        .post(url)
        .json(&serde_json::json!({ "id": ticket }))
        .send()
        .await?;
    anyhow::ensure!(
        resp.status() == 202,
        "gateway answered {} to a notification",
        resp.status()
    );
    Ok(())
}

/// Waits until the audit trail holds `runs` finished runs and the inbox is empty.
async fn wait_until_handled(gw: &RunningGateway, runs: usize) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let done = gw
            .gateway
            .audit
            .query(None, 10_000)?
            .iter()
            .filter(|r| r.outcome != "retry")
            .count();
        if done >= runs && gw.gateway.inbox.depth()? == 0 {
            return Ok(());
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(60),
            "tickets were not handled within 60 s ({done} of {runs} runs done)"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn print_table(sim: &Simulator, gw: &RunningGateway, demo: &[DemoTicket], ids: &[u64]) {
    let config = gw.gateway.config();
    for (t, id) in demo.iter().zip(ids) {
        let brand = config
            .endpoints
            .get(t.endpoint)
            .map(|e| e.brand.clone())
            .unwrap_or_default();
        let Some(state) = sim.ticket(*id) else {
            continue;
        };
        let ticket = &state.ticket;
        println!("#{id} [{brand}] {:?}", t.subject);
        println!(
            "    status: {}   assignee: {}   tags: {}",
            ticket["status"].as_str().unwrap_or("?"),
            ticket["assignee_id"]
                .as_u64()
                .map(|a| a.to_string())
                .unwrap_or_else(|| "(none)".into()),
            ticket["tags"]
                .as_array()
                .map(|a| a
                    .iter()
                    .filter_map(|t| t.as_str())
                    .collect::<Vec<_>>()
                    .join(", "))
                .unwrap_or_default()
        );
        for c in state.comments.iter().skip(1) {
            let who = if c["author_id"].as_u64() == Some(t.requester) {
                "customer"
            } else {
                "AI"
            };
            let kind = if c["public"].as_bool() == Some(true) {
                "reply"
            } else {
                "note"
            };
            let body = c["body"].as_str().unwrap_or("").replace('\n', " ");
            let body: String = body.chars().take(110).collect();
            println!("    {who:>8} {kind:<5} {body}");
        }
        for r in gw.gateway.audit.query(Some(*id), 10).unwrap_or_default() {
            println!("    run: {:<10} {}", r.outcome, r.reason);
            // The plugin's calls to the shop's API, as the audit keeps them.
            for c in r.staged["http_calls"].as_array().into_iter().flatten() {
                println!(
                    "    shop API: {} {}{} -> {} in {} ms",
                    c["method"].as_str().unwrap_or("?"),
                    c["origin"].as_str().unwrap_or("?"),
                    c["path"].as_str().unwrap_or(""),
                    c["status"]
                        .as_u64()
                        .map(|s| s.to_string())
                        .unwrap_or_else(|| c["outcome"].as_str().unwrap_or("?").to_string()),
                    c["duration_ms"]
                );
            }
        }
        println!();
    }
}
