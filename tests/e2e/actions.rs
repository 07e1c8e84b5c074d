//! Actions: plugins call the brand's own systems (`wasi:http`) through the gateway's
//! policy. Real plugins (`hostile/http-probe`, `hostile/http-flood`, the order desk),
//! the real gateway, the simulator as Zendesk and its shop API as the brand's system,
//! all on loopback.

use crate::harness::{scratch_dir, BrandSpec, Harness};
use std::path::PathBuf;
use std::time::Duration;
use zendesk_gateway::plugin_artifacts as artifacts;
use zendesk_simulator::shop::{ShopApi, ShopConfig};

/// What the gateway sends the shop as its credential.
const SHOP_AUTH: &str = "Bearer shop-secret-token";

async fn shop() -> ShopApi {
    ShopApi::start(ShopConfig::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

/// A file holding the shop's credential, as an operator would keep it.
fn token_file() -> PathBuf {
    let f = scratch_dir("shop-token").join("shop-token");
    std::fs::write(&f, SHOP_AUTH).unwrap();
    f
}

/// A brand running `plugin` with `settings` (TOML lines) and `http` (the lines of
/// `[brands.NAME.http]`, origins included, `NAME` standing for the brand).
fn brand(
    name: &'static str,
    plugin: &str,
    mode: &'static str,
    settings: &str,
    http: &str,
) -> BrandSpec {
    let mut b = BrandSpec::new(name, plugin, &token(name));
    b.mode = mode;
    b.extra = format!(
        "[brands.{name}.settings]\n{settings}\n[brands.{name}.http]\n{}\n",
        http.replace("NAME", name)
    );
    b
}

/// The shop's origin, allowed with its credential from `token`.
fn shop_origin(shop: &ShopApi, token: &std::path::Path) -> String {
    format!(
        "[[brands.NAME.http.origins]]\norigin = \"{}\"\nheader = \"Authorization\"\nvalue_file = \"{}\"\n",
        shop.base_url(),
        token.display()
    )
}

fn token(name: &str) -> String {
    format!("{name}-endpoint-token-0123456789abcdefgh")
}

/// Runs brand `name`'s plugin on a new ticket; returns the audit record.
async fn run(h: &Harness, name: &str) -> zendesk_gateway::store::audit::AuditRecord {
    let t = h.ticket("Hello", "Where is my order 4411?");
    h.notify(&token(name), t).await;
    h.wait_runs(t, 1).await.remove(0)
}

fn calls_with(shop: &ShopApi, tag: &str) -> Vec<zendesk_simulator::shop::ShopCall> {
    shop.calls()
        .into_iter()
        .filter(|c| c.path.contains(tag))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_http_follows_the_brands_policy() {
    let shop = shop().await;
    let other = shop_other().await;
    let slow = shop_other().await;
    slow.set_delay(Duration::from_secs(5));
    let token = token_file();
    let origin = shop_origin(&shop, &token);
    let probe = artifacts::HOSTILE_HTTP_PROBE_PATH;
    let base = shop.base_url();
    let port = shop.addr().port();
    let brands = vec![
        brand("allowed", probe, "live", &format!("url = \"{base}/orders/4411?t=allowed\""), &origin),
        brand("forbidden", probe, "live", &format!("url = \"{}/orders/4411?t=forbidden\"", other.base_url()), &origin),
        brand(
            "echo",
            probe,
            "live",
            &format!("url = \"{base}/debug/headers?t=echo\"\nheader = \"Authorization: Bearer plugin-made-up\""),
            &origin,
        ),
        brand(
            "rebind",
            probe,
            "live",
            &format!("url = \"http://localhost:{port}/orders/4411?t=rebind\""),
            &format!("[[brands.NAME.http.origins]]\norigin = \"http://localhost:{port}\"\nheader = \"Authorization\"\nvalue_file = \"{}\"\n", token.display()),
        ),
        brand(
            "intranet",
            probe,
            "live",
            &format!("url = \"http://localhost:{port}/orders/4411?t=intranet\""),
            &format!("[[brands.NAME.http.origins]]\norigin = \"http://localhost:{port}\"\nallow_private = true\nheader = \"Authorization\"\nvalue_file = \"{}\"\n", token.display()),
        ),
        brand(
            "redirect",
            probe,
            "live",
            &format!("url = \"{base}/redirect?t=redirect&to={}/stolen\"", other.base_url()),
            &origin,
        ),
        brand(
            "slow",
            probe,
            "live",
            &format!("url = \"{}/orders/4411?t=slow\"", slow.base_url()),
            &format!("timeout_ms = 300\n{}", shop_origin(&slow, &token)),
        ),
        brand(
            "big",
            probe,
            "live",
            &format!("url = \"{base}/big?t=big&bytes=100000\""),
            &format!("max_response_bytes = 4096\n{origin}"),
        ),
        brand(
            "listening",
            probe,
            "listening",
            &format!("url = \"{base}/orders/4413/refunds?t=listening\"\nmethod = \"POST\"\nbody = '{{\"amount\": 45}}'"),
            &origin,
        ),
        brand(
            "dryrun",
            probe,
            "listening",
            &format!("url = \"{base}/orders/4413/refunds?t=dryrun\"\nmethod = \"POST\"\nbody = '{{\"amount\": 45}}'"),
            &format!("{origin}dry_run = {{ status = 202, body = '{{\"refund_id\": \"dry\"}}' }}\n"),
        ),
        brand(
            "flood",
            artifacts::HOSTILE_HTTP_FLOOD_PATH,
            "live",
            &format!("url = \"{base}/orders/4412?t=flood\""),
            &format!("max_requests_per_run = 5\n{origin}"),
        ),
    ];
    let h = Harness::with_brands(brands).await;

    // An allowed origin: the shop sees the gateway's credential; the audit has the call.
    let r = run(&h, "allowed").await;
    assert!(r.reason.contains("status=200"), "{}", r.reason);
    assert!(
        r.reason.contains("JD014600003SE"),
        "the order came back: {}",
        r.reason
    );
    let seen = calls_with(&shop, "t=allowed");
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].authorization.as_deref(), Some(SHOP_AUTH));
    let calls = &r.staged["http_calls"];
    assert_eq!(calls[0]["method"], "GET");
    assert_eq!(calls[0]["origin"], format!("http://127.0.0.1:{port}"));
    assert_eq!(
        calls[0]["path"], "/orders/4411?t=",
        "query values stay out of the audit"
    );
    assert_eq!(calls[0]["status"], 200);
    assert!(!r.staged.to_string().contains("shop-secret-token"));

    // Another origin, even on the same machine, is not reached.
    let r = run(&h, "forbidden").await;
    assert!(r.reason.contains("error=not_allowed"), "{}", r.reason);
    assert!(
        other.calls().is_empty(),
        "the forbidden origin got {:?}",
        other.calls()
    );

    // The plugin's own Authorization is replaced; the credential never comes back, not
    // in a header and not in the body.
    let r = run(&h, "echo").await;
    assert!(r.reason.contains("status=200"), "{}", r.reason);
    assert_eq!(
        calls_with(&shop, "t=echo")[0].authorization.as_deref(),
        Some(SHOP_AUTH)
    );
    assert!(r.reason.contains("leaked_headers=[]"), "{}", r.reason);
    assert!(r.reason.contains("body_has_bearer=false"), "{}", r.reason);
    assert!(
        !r.reason.contains("shop-secret-token") && !r.reason.contains("plugin-made-up"),
        "{}",
        r.reason
    );

    // A name that resolves to loopback is refused unless the origin allows private
    // addresses.
    let r = run(&h, "rebind").await;
    assert!(r.reason.contains("error=address_refused"), "{}", r.reason);
    assert!(calls_with(&shop, "t=rebind").is_empty());
    let r = run(&h, "intranet").await;
    assert!(r.reason.contains("status=200"), "{}", r.reason);

    // A redirect to another origin is handed back, never followed.
    let r = run(&h, "redirect").await;
    assert!(r.reason.contains("status=302"), "{}", r.reason);
    assert!(
        other.calls().is_empty(),
        "the redirect was followed: {:?}",
        other.calls()
    );

    // A slow API times out (as the gateway's time, not the plugin's deadline); an
    // oversized answer is refused whole.
    let r = run(&h, "slow").await;
    assert!(r.reason.contains("error=timeout"), "{}", r.reason);
    assert_eq!(
        r.outcome.to_string(),
        "skipped",
        "the plugin decided on the timeout itself"
    );
    let r = run(&h, "big").await;
    assert!(r.reason.contains("error=too_large"), "{}", r.reason);

    // Listening Mode sends no POST: the plugin gets the Listening Mode error or the
    // brand's dry-run answer; the audit records what would have been sent.
    let r = run(&h, "listening").await;
    assert!(r.reason.contains("error=listening_mode"), "{}", r.reason);
    let call = &r.staged["http_calls"][0];
    assert_eq!(
        (call["method"].as_str(), call["outcome"].as_str()),
        (Some("POST"), Some("not_sent"))
    );
    assert!(
        call["would_send"]
            .as_str()
            .unwrap()
            .contains("\"amount\": 45"),
        "{call}"
    );
    let r = run(&h, "dryrun").await;
    assert!(
        r.reason.contains("status=202") && r.reason.contains("dry"),
        "{}",
        r.reason
    );
    assert!(
        calls_with(&shop, "t=listening").is_empty() && calls_with(&shop, "t=dryrun").is_empty()
    );
    assert_eq!(
        shop.order(4413).unwrap().refunded,
        0.0,
        "nobody was refunded"
    );

    // A plugin hammering the API stops at its per-run cap: the shop sees 5 requests.
    let r = run(&h, "flood").await;
    assert!(
        r.reason.contains("answered=5 budget_spent=995"),
        "{}",
        r.reason
    );
    assert_eq!(calls_with(&shop, "t=flood").len(), 5);
    assert!(
        r.staged["http_calls"].as_array().unwrap().len() <= 6,
        "the record stays bounded"
    );

    let metrics = h.metrics_text().await;
    let line = format!("zendesk_gateway_plugin_http_calls_total{{brand=\"allowed\",origin=\"http://127.0.0.1:{port}\",status=\"200\"}} 1");
    assert!(metrics.contains(&line), "{line} missing from:\n{metrics}");
    assert!(!metrics.contains("shop-secret-token"));
}

/// A second API on another port: another origin.
async fn shop_other() -> ShopApi {
    shop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_order_desk_answers_from_the_shop_and_refunds_within_its_limit() {
    let shop = shop().await;
    let token = token_file();
    let origin = shop_origin(&shop, &token);
    let settings = format!("shop_api = \"{}\"\nmax_refund = 50", shop.base_url());
    let desk = brand(
        "desk",
        artifacts::ORDER_DESK_PATH,
        "live",
        &settings,
        &origin,
    );
    let quiet = brand(
        "quiet",
        artifacts::ORDER_DESK_PATH,
        "listening",
        &settings,
        &origin,
    );
    let (desk_token, quiet_token) = (desk.token.clone(), quiet.token.clone());
    let h = Harness::with_brands(vec![desk, quiet]).await;
    let reply = |t: u64| {
        h.sim
            .ticket(t)
            .unwrap()
            .comments
            .last()
            .map(|c| c["body"].as_str().unwrap_or_default().to_string())
            .unwrap_or_default()
    };

    let t = h.ticket(
        "Order 4411",
        "Hi, where is my order 4411? It has not arrived.",
    );
    h.notify(&desk_token, t).await;
    let r = h.wait_runs(t, 1).await.remove(0);
    assert!(
        r.reason.contains("order 4411 from the shop API"),
        "{}",
        r.reason
    );
    let body = reply(t);
    assert!(
        body.contains("DHL") && body.contains("https://track.example/JD014600003SE"),
        "{body}"
    );

    // Listening Mode: the refund is not sent; the draft says what would happen.
    let t = h.ticket(
        "Refund",
        "I want a refund for order 4413 please, it does not fit.",
    );
    h.notify(&quiet_token, t).await;
    let r = h.wait_runs(t, 1).await.remove(0);
    assert!(
        r.reason.contains("Listening Mode: the refund was not sent"),
        "{}",
        r.reason
    );
    assert!(
        shop.calls().iter().all(|c| c.method != "POST"),
        "{:?}",
        shop.calls()
    );
    assert_eq!(shop.order(4413).unwrap().refunded, 0.0);

    // Live, within the limit: refunded.
    let t = h.ticket(
        "Refund",
        "I want a refund for order 4413 please, it does not fit.",
    );
    h.notify(&desk_token, t).await;
    let r = h.wait_runs(t, 1).await.remove(0);
    assert!(r.reason.contains("refunded order 4413"), "{}", r.reason);
    assert_eq!(shop.order(4413).unwrap().refunded, 45.0);
    assert!(
        reply(t).contains("We have refunded 45.00 EUR"),
        "{}",
        reply(t)
    );

    // An unknown order: the customer is asked to check the number.
    let t = h.ticket("Order 9999", "Where is my order 9999?");
    h.notify(&desk_token, t).await;
    let r = h.wait_runs(t, 1).await.remove(0);
    assert!(r.reason.contains("order 9999 is unknown"), "{}", r.reason);
}

/// The Python order-status plugin, or why the test cannot run: under CI it must have
/// been built.
fn python_order_status() -> Option<&'static str> {
    match artifacts::ORDER_STATUS_PY_PATH {
        Some(p) => Some(p),
        None => {
            let why = artifacts::PYTHON_SKIPPED.unwrap_or("unknown");
            assert!(
                std::env::var_os("CI").is_none(),
                "the Python order-status plugin was not built under CI: {why}"
            );
            eprintln!("skipping: the Python plugin was not built ({why})");
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_plugin_asks_the_shop_through_the_brands_policy() {
    let Some(plugin) = python_order_status() else {
        return;
    };
    let shop = shop().await;
    let token = token_file();
    let settings = format!("shop_api = \"{}\"", shop.base_url());
    // The same plugin and settings; only `allowed` lets the shop's origin out.
    let allowed = brand(
        "pyshop",
        plugin,
        "live",
        &settings,
        &shop_origin(&shop, &token),
    );
    let refused = brand("pyblocked", plugin, "live", &settings, "");
    let (allowed_token, refused_token) = (allowed.token.clone(), refused.token.clone());
    let h = Harness::with_brands(vec![allowed, refused]).await;
    let last_comment = |t: u64| h.sim.ticket(t).unwrap().comments.last().cloned().unwrap();

    // Allowed: the shop sees the gateway's credential, the customer gets the tracking.
    let t = h.ticket("Order 4411", "Hello, where is my order 4411?");
    h.notify(&allowed_token, t).await;
    let r = h.wait_runs(t, 1).await.remove(0);
    assert_eq!(r.outcome.to_string(), "handled", "{}", r.reason);
    assert!(
        r.reason.contains("answered order 4411 (shipped)"),
        "{}",
        r.reason
    );
    let reply = last_comment(t);
    let body = reply["body"].as_str().unwrap_or_default();
    assert_eq!(reply["public"], true, "{reply}");
    assert!(
        body.contains("DHL") && body.contains("https://track.example/JD014600003SE"),
        "{body}"
    );
    let calls = shop.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].method, "GET");
    assert!(calls[0].path.ends_with("/orders/4411"), "{calls:?}");
    assert_eq!(calls[0].authorization.as_deref(), Some(SHOP_AUTH));
    assert!(
        r.staged.to_string().contains("/orders/4411"),
        "{}",
        r.staged
    );
    assert!(!r.staged.to_string().contains("shop-secret-token"));

    // An order the shop does not know: answered as such (the 404 is an answer).
    let t = h.ticket("Order 9999", "Where is order #9999?");
    h.notify(&allowed_token, t).await;
    let r = h.wait_runs(t, 1).await.remove(0);
    assert!(r.reason.contains("order 9999 is unknown"), "{}", r.reason);

    // Not allowed by the brand's policy: nothing reaches the shop, a human takes over.
    let before = shop.calls().len();
    let t = h.ticket("Order 4412", "Where is my order 4412?");
    h.notify(&refused_token, t).await;
    let r = h.wait_runs(t, 1).await.remove(0);
    assert_eq!(r.outcome.to_string(), "handed_off", "{}", r.reason);
    assert!(r.reason.contains("policy refused"), "{}", r.reason);
    assert_eq!(shop.calls().len(), before, "{:?}", shop.calls());
    let note = last_comment(t);
    assert_eq!(note["public"], false, "{note}");
    assert!(
        note["body"]
            .as_str()
            .unwrap_or_default()
            .contains("order 4412"),
        "{note}"
    );
}

/// A TLS front for `backend` on loopback, with a server certificate for `localhost`
/// issued by a CA made for this test. Returns the front's port and the CA's PEM.
async fn tls_front(backend: std::net::SocketAddr) -> (u16, String) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &ca, &ca_key)
        .unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(leaf.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(server));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A handshake the client refuses (untrusted CA) just ends here.
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                if let Ok(mut plain) = tokio::net::TcpStream::connect(backend).await {
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                }
            });
        }
    });
    (port, ca.pem())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_api_is_called_when_its_ca_is_trusted() {
    let shop = shop().await;
    let token = token_file();
    let (port, ca_pem) = tls_front(shop.addr()).await;
    let ca = scratch_dir("shop-ca").join("shop-ca.pem");
    std::fs::write(&ca, ca_pem).unwrap();
    let probe = artifacts::HOSTILE_HTTP_PROBE_PATH;
    let url = |t: &str| format!("url = \"https://localhost:{port}/orders/4411?t={t}\"");
    // The API is on loopback behind the company's own CA: allowed privately, and only
    // trusted with `ca_file`.
    let origin = format!(
        "[[brands.NAME.http.origins]]\norigin = \"https://localhost:{port}\"\nallow_private = true\nheader = \"Authorization\"\nvalue_file = \"{}\"\n",
        token.display()
    );
    let trusted = brand(
        "tlsok",
        probe,
        "live",
        &url("trusted"),
        &format!("ca_file = \"{}\"\n{origin}", ca.display()),
    );
    let untrusted = brand("tlsbad", probe, "live", &url("untrusted"), &origin);
    let h = Harness::with_brands(vec![trusted, untrusted]).await;

    let r = run(&h, "tlsok").await;
    assert!(r.reason.contains("status=200"), "{}", r.reason);
    assert!(r.reason.contains("\"carrier\":\"DHL\""), "{}", r.reason);
    let seen = calls_with(&shop, "t=trusted");
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].authorization.as_deref(), Some(SHOP_AUTH));

    // Without the CA the certificate is not trusted: no request reaches the API, so the
    // credential never leaves the gateway.
    let r = run(&h, "tlsbad").await;
    assert!(r.reason.contains("error=failed"), "{}", r.reason);
    assert!(calls_with(&shop, "t=untrusted").is_empty());
}
