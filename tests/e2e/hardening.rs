//! Hardening (issue 15, and items 5 and 8 of issue 12): hostile paging links, reload
//! loops, panics in a run, file permissions, shutdown, two gateways on one data folder,
//! slow clients, replays, readiness, retention and brand checks.

use crate::harness::*;
use crate::proxy::{Action, Proxy, Rule};
use std::time::{Duration, Instant};
use zendesk_gateway::gateway::StartOptions;
use zendesk_gateway::plugin_artifacts as artifacts;
use zendesk_gateway::service::launch;
use zendesk_simulator::Simulator;

/// A simulator, a proxy in front of it and a gateway talking to Zendesk through the
/// proxy; `tweak` edits the config text first.
async fn through_proxy(
    brands: Vec<BrandSpec>,
    tweak: impl FnOnce(String) -> String,
) -> (Harness, Proxy) {
    let config = sim_config();
    let token = config.api_token.clone();
    let sim = Simulator::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let proxy = Proxy::start(&sim.base_url()).await;
    let dir = scratch_dir("harden");
    let text = tweak(config_text(&proxy.base_url, &dir, &brands, "zendesk-token"));
    let config = write_config(&dir, &text, &token);
    let gw = launch(
        config,
        StartOptions {
            client: fast_client(),
        },
    )
    .await
    .expect("gateway starts");
    let h = Harness {
        sim,
        gw: Some(gw),
        http: reqwest::Client::new(),
        dir,
        config_text: text,
    };
    (h, proxy)
}

fn triage() -> BrandSpec {
    BrandSpec::new("triage", artifacts::TRIAGE_PATH, TRIAGE_TOKEN)
}

/// The value of one sample line of the metrics text (0 when absent).
fn metric(text: &str, line_prefix: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(line_prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

// ---- 15.4: paging links are compared as parsed URLs ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paging_link_with_user_info_does_not_carry_the_credentials_elsewhere() {
    let (mut h, proxy) = through_proxy(vec![triage()], |t| t).await;
    // Where the hostile link really points: it records any request it gets.
    let elsewhere = Proxy::start(&h.sim.base_url()).await;
    let other_port = elsewhere.base_url.rsplit(':').next().unwrap().to_string();
    let id = h.ticket("Login problem", "I cannot log in.");
    // `http://127.0.0.1:PORT@localhost:OTHER/...` starts with the configured base URL,
    // but its host is `localhost:OTHER`; `127.0.0.1:PORT` is only user info.
    let hostile = format!(
        "{}@localhost:{other_port}/api/v2/tickets/{id}/comments?page=2",
        proxy.base_url
    );
    let page = serde_json::json!({
        "comments": [{"id": 1, "author_id": CUSTOMER, "body": "I cannot log in.", "public": true}],
        "users": [],
        "meta": {"has_more": true},
        "links": {"next": hostile},
    });
    proxy.add(Rule {
        method: "GET",
        path_contains: format!("/api/v2/tickets/{id}/comments"),
        action: Action::Answer(200, vec![], page.to_string()),
        times: 100,
    });
    h.notify(TRIAGE_TOKEN, id).await;
    let runs = h.wait_runs(id, 1).await;
    assert!(
        runs[0].reason.contains("outside"),
        "the run refuses the link: {:?}",
        runs[0]
    );
    assert!(
        elsewhere.seen().is_empty(),
        "nothing, least of all the seat's credentials, went to the other host: {:?}",
        elsewhere.seen()
    );
    h.stop().await;
}

// ---- 15.6: reading the config or a plugin is not a change ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reading_the_config_and_plugin_files_causes_no_reload() {
    let dir = scratch_dir("noreload");
    let plugin = dir.join("brand.wasm");
    std::fs::copy(artifacts::TRIAGE_PATH, &plugin).unwrap();
    let mut h = Harness::with_brands(vec![BrandSpec::new(
        "acme",
        plugin.to_str().unwrap(),
        TRIAGE_TOKEN,
    )])
    .await;
    let config = h.dir.join("gateway.toml");
    let reloads = |text: &str, kind: &str| {
        metric(
            text,
            &format!("zendesk_gateway_watch_reloads_total{{kind=\"{kind}\"}}"),
        )
    };
    // What `cat gateway.toml`, `zendesk-gateway check` and a backup tool do: open, read,
    // close without writing, several times.
    for _ in 0..5 {
        std::fs::read(&config).unwrap();
        std::fs::read(&plugin).unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let text = h.metrics_text().await;
    assert_eq!(reloads(&text, "config"), 0.0, "{text}");
    assert_eq!(reloads(&text, "plugin"), 0.0, "{text}");

    // The watcher is alive: writing the config (same content) reloads it once, and that
    // reload's own reading of the file starts no further one.
    std::fs::write(&config, h.config_text.as_bytes()).unwrap();
    let started = Instant::now();
    while reloads(&h.metrics_text().await, "config") < 1.0 {
        assert!(started.elapsed() < Duration::from_secs(30), "no reload");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let text = h.metrics_text().await;
    assert_eq!(reloads(&text, "config"), 1.0, "{text}");
    h.stop().await;
}

// ---- 12.5: a hostile Retry-After neither panics nor kills a worker ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_absurd_retry_after_is_retried_and_the_worker_lives_on() {
    // One worker: if it died, nothing after the bad answer would ever be handled.
    let (mut h, proxy) = through_proxy(vec![triage()], |t| {
        t.replace("concurrency = 4", "concurrency = 1")
    })
    .await;
    let mut hostile = Vec::new();
    for value in ["1e20", "inf", "NaN", "-5"] {
        let id = h.ticket("Login problem", "I cannot log in.");
        proxy.add(Rule {
            method: "GET",
            path_contains: format!("/api/v2/tickets/{id}/comments"),
            action: Action::Answer(
                429,
                vec![("retry-after".into(), value.into())],
                r#"{"error":"TooManyRequests"}"#.into(),
            ),
            times: 1,
        });
        h.notify(TRIAGE_TOKEN, id).await;
        hostile.push((id, value));
    }
    let normal = h.ticket("Login problem", "I cannot log in.");
    h.notify(TRIAGE_TOKEN, normal).await;
    let runs = h.wait_runs(normal, 1).await;
    assert!(runs[0].committed.is_some(), "answered: {:?}", runs[0]);
    for (id, value) in hostile {
        let records = h.gw().gateway.audit.query(Some(id), 10).unwrap();
        assert!(
            !records.is_empty(),
            "Retry-After {value}: ticket {id} was seen"
        );
    }
    let r = h
        .http
        .get(format!("{}/readyz", h.gw().url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    h.stop().await;
}

// ---- 15.7: /readyz reflects the inbox ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_is_unready_while_the_inbox_cannot_be_written() {
    let mut h = Harness::with_brands(vec![triage()]).await;
    let readyz = format!("{}/readyz", h.gw().url());
    assert_eq!(h.http.get(&readyz).send().await.unwrap().status(), 200);
    // Another writer holds the database's write lock past the inbox's busy timeout (5 s),
    // as a full disk or a stuck backup would make every write fail.
    let db = h.dir.join("gateway.db");
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        let conn = rusqlite::Connection::open(db).unwrap();
        conn.execute_batch("BEGIN IMMEDIATE").unwrap();
        locked_tx.send(()).unwrap();
        release_rx.recv().unwrap();
        conn.execute_batch("ROLLBACK").unwrap();
    });
    locked_rx.recv().unwrap();
    let id = h.ticket("Login problem", "I cannot log in.");
    let r = h.post(TRIAGE_TOKEN, format!("{{\"id\": {id}}}")).await;
    assert_eq!(r.status(), 503);
    let retry_after: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after < 60, "Zendesk retries a 503 only under 60 s");
    let r = h.http.get(&readyz).send().await.unwrap();
    assert_eq!(r.status(), 503);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["status"], "inbox_unavailable", "{body}");

    // The lock goes; the next notification is stored and the gateway is ready again.
    release_tx.send(()).unwrap();
    holder.join().unwrap();
    h.notify(TRIAGE_TOKEN, id).await;
    assert_eq!(h.http.get(&readyz).send().await.unwrap().status(), 200);
    h.wait_runs(id, 1).await;
    h.stop().await;
}

// ---- 15.5: private files, and a compile cache loaded only as written ----

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_files_are_private_and_a_swapped_cache_file_is_not_loaded() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let mut h = Harness::start().await;
    let id = h.ticket("Login problem", "I cannot log in.");
    h.notify(TRIAGE_TOKEN, id).await;
    h.wait_runs(id, 1).await;
    let data = h.dir.clone();
    assert_eq!(mode(&data), 0o700, "data_dir");
    for name in ["gateway.db", "gateway.db-wal", "gateway.db-shm"] {
        assert_eq!(mode(&data.join(name)), 0o600, "{name}");
    }
    let compiled = data.join("compiled");
    assert_eq!(mode(&compiled), 0o700);
    let engine_dir = std::fs::read_dir(&compiled)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert_eq!(mode(&engine_dir), 0o700);
    let cache_file = |plugin: &str| {
        let key = zendesk_gateway_sha256(&std::fs::read(plugin).unwrap());
        engine_dir.join(format!("{key}.cwasm"))
    };
    let (triage, orders) = (
        cache_file(artifacts::TRIAGE_PATH),
        cache_file(artifacts::ORDER_DESK_PATH),
    );
    for f in [&triage, &orders] {
        assert_eq!(mode(f), 0o600, "{}", f.display());
    }
    h.stop().await;

    // Someone who can write the cache puts another compiled plugin in the triage
    // plugin's place. The next start must not run it as the triage brand.
    std::fs::copy(&orders, &triage).unwrap();
    let config = zendesk_gateway::config::Config::load(&data.join("gateway.toml")).unwrap();
    let gw = launch(
        config,
        StartOptions {
            client: fast_client(),
        },
    )
    .await
    .unwrap();
    assert_eq!(
        gw.gateway.loader().compile_count(),
        1,
        "the swapped file is compiled again from the plugin, the intact one is loaded"
    );
    h.gw = Some(gw);
    let id = h.ticket("Login problem", "I cannot log in.");
    h.notify(TRIAGE_TOKEN, id).await;
    let runs = h.wait_runs(id, 1).await;
    assert!(
        runs[0].reason.contains("account_access"),
        "triage ran: {:?}",
        runs[0]
    );
    h.stop().await;
}

fn zendesk_gateway_sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

// ---- 15.1: slow clients are cut off; real notifications get through ----

/// Reads until the server closes the connection (EOF or reset); `false` if it is still
/// open after `within`.
async fn closed_within(stream: &mut tokio::net::TcpStream, within: Duration) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            // A 408 before closing is fine: keep reading to the close.
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_cut_off_and_a_real_notification_gets_through() {
    use tokio::io::AsyncWriteExt;
    let mut h = Harness::custom(sim_config(), vec![triage()], |t| {
        t.replace(
            "concurrency = 4",
            "concurrency = 4\nheader_read_timeout_ms = 1000\nbody_read_timeout_ms = 1500\n\
             idle_timeout_ms = 4000\nmax_connections = 16",
        )
    })
    .await;
    let addr = h.gw().addr;
    // More half-sent requests than the connection cap allows.
    let mut slow = Vec::new();
    for _ in 0..40 {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(format!("POST /notify/{TRIAGE_TOKEN} HTTP/1.1\r\nHost: gw\r\n").as_bytes())
            .await
            .unwrap();
        slow.push(s);
    }
    // A valid token and headers, then a body trickled a byte at a time.
    let mut trickle = tokio::net::TcpStream::connect(addr).await.unwrap();
    trickle
        .write_all(
            format!(
                "POST /notify/{TRIAGE_TOKEN} HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n\
                 Content-Length: 200\r\n\r\n{{"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let trickler = tokio::spawn(async move {
        for _ in 0..100 {
            if trickle.write_all(b" ").await.is_err() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        false
    });
    // An idle kept-alive connection: one request, then nothing.
    let mut idle = tokio::net::TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: gw\r\n\r\n")
        .await
        .unwrap();

    // Meanwhile Zendesk's real notification is stored and answered.
    let id = h.ticket("Login problem", "I cannot log in.");
    let started = Instant::now();
    let r = reqwest::Client::new()
        .post(h.gw().notify_url("triage").unwrap())
        .body(format!("{{\"id\": {id}}}"))
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .expect("the real notification gets an answer");
    assert_eq!(r.status(), 202, "after {:?}", started.elapsed());
    h.wait_runs(id, 1).await;

    // Every slow connection is closed, well within a generous bound.
    for s in &mut slow {
        assert!(
            closed_within(s, Duration::from_secs(20)).await,
            "half-sent headers still open"
        );
    }
    assert!(trickler.await.unwrap(), "the trickled body was cut off");
    // The idle connection outlives the header timeout (it sent its request), then goes.
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 512];
    let n = idle.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    assert!(
        !closed_within(&mut idle, Duration::from_millis(1500)).await,
        "an idle kept-alive connection is not cut off by the header timeout"
    );
    assert!(
        closed_within(&mut idle, Duration::from_secs(20)).await,
        "idle connection still open"
    );
    h.stop().await;
}

// ---- 15.8: during the grace period, 503 with Retry-After, not a refused connection ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn during_shutdown_notifications_get_503_with_retry_after() {
    let (mut h, proxy) = through_proxy(vec![triage()], |t| t).await;
    let id = h.ticket("Login problem", "I cannot log in.");
    // The run's ticket read is slow, so the run is still going when shutdown begins.
    proxy.add(Rule {
        method: "GET",
        path_contains: format!("/api/v2/tickets/{id}"),
        action: Action::Hold(Duration::from_secs(3)),
        times: 1,
    });
    h.notify(TRIAGE_TOKEN, id).await;
    let started = Instant::now();
    while !proxy
        .seen()
        .iter()
        .any(|(_, p, _)| p.contains(&format!("/tickets/{id}")))
    {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the run did not start"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let gw = h.gw.take().unwrap();
    let url = gw.notify_url("triage").unwrap();
    let audit = gw.gateway.audit.clone();
    let stopping = tokio::spawn(gw.shutdown(Duration::from_secs(20)));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = reqwest::Client::new()
        .post(&url)
        .body(format!("{{\"id\": {id}}}"))
        .send()
        .await
        .expect("the listener is still open during the grace period");
    assert_eq!(r.status(), 503);
    let retry_after: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after < 60);
    stopping.await.unwrap();
    // The run in progress finished within the grace period.
    let runs = audit.query(Some(id), 10).unwrap();
    assert!(runs.iter().any(|r| r.committed.is_some()), "{runs:?}");
}

// ---- 12.8: a second gateway on the same data folder touches nothing ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_gateway_on_the_same_data_dir_exits_and_resets_nothing() {
    use std::process::{Command, Stdio};
    let config = sim_config();
    let token = config.api_token.clone();
    let sim = Simulator::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let proxy = Proxy::start(&sim.base_url()).await;
    let dir = scratch_dir("twice");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let text = config_text(&proxy.base_url, &dir, &[triage()], "zendesk-token");
    let first_text = text.replace(
        "listen = \"127.0.0.1:0\"",
        &format!("listen = \"127.0.0.1:{port}\""),
    );
    write_config(&dir, &first_text, &token);
    let spawn = |config: std::path::PathBuf| {
        Command::new(env!("CARGO_BIN_EXE_zendesk-gateway"))
            .args(["serve", "--config"])
            .arg(config)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut first = spawn(dir.join("gateway.toml"));
    let url = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let started = Instant::now();
    while http.get(format!("{url}/healthz")).send().await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "first gateway did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A ticket whose run is in progress (its read held by the proxy) in the first one.
    let id = sim
        .create_ticket(zendesk_simulator::NewTicket {
            subject: "Login problem".into(),
            body: "I cannot log in.".into(),
            requester_id: CUSTOMER,
            ..Default::default()
        })
        .id;
    proxy.add(Rule {
        method: "GET",
        path_contains: format!("/api/v2/tickets/{id}"),
        action: Action::Hold(Duration::from_secs(10)),
        times: 1,
    });
    let r = http
        .post(format!("{url}/notify/{TRIAGE_TOKEN}"))
        .body(format!("{{\"id\": {id}}}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    while !proxy
        .seen()
        .iter()
        .any(|(_, p, _)| p.contains(&format!("/tickets/{id}")))
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the run did not start"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let running = || -> i64 {
        let conn = rusqlite::Connection::open(dir.join("gateway.db")).unwrap();
        conn.query_row(
            "SELECT running FROM inbox WHERE ticket_id = ?1",
            [id as i64],
            |r| r.get(0),
        )
        .unwrap()
    };
    assert_eq!(running(), 1);

    // The second one: same data folder, its own (free) port.
    let second_dir = scratch_dir("twice-2");
    write_secrets(&second_dir, &token);
    std::fs::write(second_dir.join("gateway.toml"), &text).unwrap();
    let mut second = spawn(second_dir.join("gateway.toml"));
    let waited = Instant::now();
    let status = loop {
        if let Some(status) = second.try_wait().unwrap() {
            break status;
        }
        if waited.elapsed() > Duration::from_secs(30) {
            second.kill().unwrap();
            first.kill().unwrap();
            panic!("the second gateway is still running on the same data folder");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut second.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!status.success());
    assert!(stderr.contains("already using the data folder"), "{stderr}");
    assert_eq!(running(), 1, "the first one's claim is untouched");

    // The first one finishes its run: one answer, no second run.
    let started = Instant::now();
    loop {
        let replies = sim
            .ticket(id)
            .unwrap()
            .comments
            .iter()
            .filter(|c| c["author_id"].as_u64() == Some(sim_config().seat.id))
            .count();
        if replies >= 1 {
            assert_eq!(replies, 1);
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the run never ended"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    first.kill().unwrap();
    first.wait().unwrap();
}

// ---- 15.9: old audit records are pruned ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_records_past_the_retention_are_pruned() {
    use zendesk_gateway::store::audit::{AuditLog, AuditRecord};
    let config = sim_config();
    let token = config.api_token.clone();
    let sim = Simulator::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let dir = scratch_dir("retention");
    let record = |days_ago: i64, ticket_id: u64| AuditRecord {
        at: (chrono::Utc::now() - chrono::Duration::days(days_ago))
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        started_at: String::new(),
        ticket_id,
        brand: "triage".into(),
        environment: "production".into(),
        endpoint: "triage".into(),
        mode: "live".into(),
        plugin_version: "v".into(),
        outcome: zendesk_gateway::outcome::Outcome::Handled,
        reason: "customer text".into(),
        staged: serde_json::Value::Null,
        committed: None,
        duration_ms: 1,
        received_at: None,
    };
    {
        let log = AuditLog::open(&dir.join("gateway.db")).unwrap();
        log.record(&record(45, 1)).unwrap();
        log.record(&record(5, 2)).unwrap();
    }
    let text = config_text(&sim.base_url(), &dir, &[triage()], "zendesk-token").replace(
        "concurrency = 4",
        "concurrency = 4\naudit_retention_days = 30",
    );
    let gw = launch(write_config(&dir, &text, &token), StartOptions::default())
        .await
        .unwrap();
    let started = Instant::now();
    loop {
        let left: Vec<u64> = gw
            .gateway
            .audit
            .query(None, 10)
            .unwrap()
            .iter()
            .map(|r| r.ticket_id)
            .collect();
        if left == [2] {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "not pruned: {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(gw.gateway.metrics.audit_pruned.get(), 1);
    gw.shutdown(Duration::from_secs(5)).await;
}

// ---- 15.3: a replayed notification is answered 200 without work ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_signed_notifications_are_answered_without_a_second_run() {
    use zendesk_gateway::pipeline::ingress::signature::{sign, SIGNATURE_HEADER, TIMESTAMP_HEADER};
    const SECRET: &str = "s3cr3t-signing-key";
    // Listening Mode with drafts kept in the audit: nothing reaches the ticket, so the
    // host's guards cannot tell a second run is redundant; only the replay check can.
    let mut brand = triage();
    brand.mode = "listening";
    brand.extra = "listening_drafts = \"audit\"".into();
    let dir = scratch_dir("replay-secret");
    std::fs::write(dir.join("secret"), SECRET).unwrap();
    brand.endpoint_extra = format!("signing_secret_file = \"{}\"", dir.join("secret").display());
    let mut h = Harness::with_brands(vec![brand]).await;
    let id = h.ticket("Login problem", "I cannot log in.");
    let body = format!("{{\"id\": {id}}}");
    let url = h.gw().notify_url("triage").unwrap();
    let ts = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let signature = sign(SECRET, &ts, body.as_bytes());
    let send = |invocation: Option<&'static str>| {
        let mut req = h
            .http
            .post(&url)
            .header(SIGNATURE_HEADER, signature.clone())
            .header(TIMESTAMP_HEADER, ts.clone())
            .body(body.clone());
        if let Some(id) = invocation {
            req = req.header("x-zendesk-webhook-invocation-id", id);
        }
        req.send()
    };
    assert_eq!(send(Some("inv-1")).await.unwrap().status(), 202);
    h.wait_runs(id, 1).await;
    // The same invocation again (Zendesk's duplicate delivery, or a replay): no work.
    assert_eq!(send(Some("inv-1")).await.unwrap().status(), 200);
    // Signed bytes without an invocation id (Zendesk always sends one) are known by
    // their signature: the first is stored, a repeat is not.
    assert_eq!(send(None).await.unwrap().status(), 202);
    h.wait_runs(id, 2).await;
    assert_eq!(send(None).await.unwrap().status(), 200);
    // A later, genuinely new notification for the ticket still runs.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let ts2 = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let r = h
        .http
        .post(&url)
        .header(SIGNATURE_HEADER, sign(SECRET, &ts2, body.as_bytes()))
        .header(TIMESTAMP_HEADER, ts2)
        .header("x-zendesk-webhook-invocation-id", "inv-2")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    h.wait_runs(id, 3).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let runs = h.gw().gateway.audit.query(Some(id), 10).unwrap();
    assert_eq!(runs.len(), 3, "one run per stored notification: {runs:?}");
    assert_eq!(h.gw().gateway.metrics.replays.get(), 2);
    h.stop().await;
}

// ---- 15.2: a ticket of another Zendesk brand than the endpoint's is skipped ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_of_another_brand_is_skipped_not_answered() {
    use zendesk_simulator::NewTicket;
    // The live brand's endpoint names its Zendesk brand by name (resolved at start),
    // the listening one by id.
    let mut live = triage();
    live.endpoint_extra = "zendesk_brand = \"Example Support\"".into();
    let mut listening = BrandSpec::new("orders", artifacts::ORDER_DESK_PATH, ORDERS_TOKEN);
    listening.mode = "listening";
    listening.endpoint_extra = "zendesk_brand_id = 2".into();
    let mut h = Harness::with_brands(vec![live, listening]).await;
    let ticket = |brand_id: u64| {
        h.sim
            .create_ticket(NewTicket {
                subject: "Login problem".into(),
                body: "I cannot log in.".into(),
                requester_id: CUSTOMER,
                brand_id: Some(brand_id),
                ..Default::default()
            })
            .id
    };
    // A ticket of the listening brand (2) posted to the live brand's endpoint.
    let misrouted = ticket(2);
    h.notify(TRIAGE_TOKEN, misrouted).await;
    let runs = h.wait_runs(misrouted, 1).await;
    assert_eq!(runs[0].outcome.as_str(), "skipped", "{:?}", runs[0]);
    assert!(runs[0].reason.contains("brand 2"), "{}", runs[0].reason);
    assert!(
        !h.calls_for(misrouted).iter().any(|(m, _)| m == "PUT"),
        "nothing was written to the misrouted ticket"
    );
    // And the other way round.
    let other = ticket(zendesk_simulator::DEFAULT_BRAND_ID);
    h.notify(ORDERS_TOKEN, other).await;
    assert_eq!(h.wait_runs(other, 1).await[0].outcome.as_str(), "skipped");
    // Tickets of the right brand run as before.
    let right = ticket(zendesk_simulator::DEFAULT_BRAND_ID);
    h.notify(TRIAGE_TOKEN, right).await;
    assert!(h.wait_runs(right, 1).await[0].committed.is_some());
    assert_eq!(h.gw().gateway.metrics.misrouted.get(), 2);
    assert!(h
        .metrics_text()
        .await
        .contains("zendesk_gateway_misrouted_tickets_total 2"));
    h.stop().await;
}

#[test]
fn check_warns_about_endpoints_without_a_brand_among_several() {
    let dir = scratch_dir("check-brands");
    write_secrets(&dir, "tok");
    let brands = [
        triage(),
        BrandSpec::new("orders", artifacts::ORDER_DESK_PATH, ORDERS_TOKEN),
    ];
    let text = config_text("http://127.0.0.1:9", &dir, &brands, "zendesk-token");
    std::fs::write(dir.join("gateway.toml"), text).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_zendesk-gateway"))
        .args(["check", "--config"])
        .arg(dir.join("gateway.toml"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    for ep in ["orders", "triage"] {
        assert!(
            stdout.contains(&format!(
                "warning: endpoints.{ep}: environment production has several endpoints"
            )),
            "{stdout}"
        );
    }
}
