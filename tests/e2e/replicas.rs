//! Several replicas on one PostgreSQL database (docs/replicas.md): real `zendesk-gateway
//! serve` processes, the simulator as Zendesk, a throwaway PostgreSQL cluster (or the
//! server `DATABASE_URL` names). Each ticket is answered once, no two runs of a ticket
//! overlap, a replica killed with SIGKILL loses nothing, the fleet keeps to one quota,
//! and the replicas ride out a database restart by themselves.

use crate::harness::*;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use zendesk_gateway::plugin_artifacts as artifacts;
use zendesk_gateway::store::audit::AuditRecord;
use zendesk_gateway::store::postgres::scratch;
use zendesk_gateway::store::Database;
use zendesk_simulator::{NewTicket, Simulator};

/// The simulator, the database and N replica processes serving the triage brand.
struct Fleet {
    sim: Simulator,
    /// The observer's own view of the database (audit, inbox depth).
    db: Arc<Database>,
    replicas: Vec<Replica>,
    http: reqwest::Client,
}

struct Replica {
    child: Option<Child>,
    url: String,
    dir: std::path::PathBuf,
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for r in &mut self.replicas {
            if let Some(mut c) = r.child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

impl Fleet {
    /// `n` replicas started at the same moment on a fresh database (so their schema
    /// migrations race), `gateway` appended to each one's `[gateway]` table and the
    /// environment's quota set to `rpm`. `None` (skipped, with the reason printed) when
    /// no PostgreSQL is to be had outside CI.
    async fn start(n: usize, gateway: &str, rpm: u32) -> Option<Fleet> {
        let url = blocking(scratch::database).await?;
        Some(Fleet::start_on(url, n, gateway, rpm).await)
    }

    /// [`Fleet::start`] on the database at `url`.
    async fn start_on(url: String, n: usize, gateway: &str, rpm: u32) -> Fleet {
        let config = sim_config();
        let token = config.api_token.clone();
        let sim = Simulator::start(config, "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let mut replicas = Vec::new();
        for _ in 0..n {
            let dir = scratch_dir("replica");
            let port = free_port();
            let brands = [BrandSpec::new(
                "triage",
                artifacts::TRIAGE_PATH,
                TRIAGE_TOKEN,
            )];
            // Identical files but for the port (one machine here) and the data folder
            // (the compile cache is per replica).
            let mut text = config_text(&sim.base_url(), &dir, &brands, "zendesk-token");
            if gateway.contains("concurrency") {
                text = text.replace("concurrency = 4\n", "");
            }
            let text = text
                .replace(
                    "listen = \"127.0.0.1:0\"",
                    &format!(
                        "listen = \"127.0.0.1:{port}\"\ndatabase_file = \"database-url\"\n{gateway}"
                    ),
                )
                .replace(
                    "requests_per_minute = 6000",
                    &format!("requests_per_minute = {rpm}"),
                );
            std::fs::write(dir.join("database-url"), &url).unwrap();
            write_config(&dir, &text, &token);
            replicas.push(Replica {
                child: None,
                url: format!("http://127.0.0.1:{port}"),
                dir,
            });
        }
        let u = url.clone();
        let db = blocking(move || Database::postgres(&u, false, "test-observer", 2).unwrap()).await;
        let mut fleet = Fleet {
            sim,
            db: Arc::new(db),
            replicas,
            http: reqwest::Client::new(),
        };
        for i in 0..n {
            fleet.spawn(i);
        }
        for i in 0..n {
            fleet.wait_healthy(i).await;
        }
        fleet
    }

    fn spawn(&mut self, i: usize) {
        let r = &mut self.replicas[i];
        let log = std::fs::File::create(r.dir.join("replica.log")).unwrap();
        r.child = Some(
            Command::new(env!("CARGO_BIN_EXE_zendesk-gateway"))
                .args(["serve", "--config"])
                .arg(r.dir.join("gateway.toml"))
                .env("RUST_LOG", "warn")
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("start the gateway binary"),
        );
    }

    async fn wait_healthy(&self, i: usize) {
        let started = Instant::now();
        loop {
            if let Ok(r) = self
                .http
                .get(format!("{}/healthz", self.replicas[i].url))
                .send()
                .await
            {
                if r.status() == 200 {
                    return;
                }
            }
            let log = std::fs::read_to_string(self.replicas[i].dir.join("replica.log"))
                .unwrap_or_default();
            assert!(
                // Cold compile caches on a loaded machine: both replicas compile the
                // plugin at once.
                started.elapsed() < Duration::from_secs(120),
                "replica {i} did not come up: {log}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn kill(&mut self, i: usize) {
        let mut c = self.replicas[i].child.take().expect("running");
        c.kill().unwrap(); // SIGKILL
        c.wait().unwrap();
    }

    fn ticket(&self, i: usize) -> u64 {
        self.sim
            .create_ticket(NewTicket {
                subject: format!("Login problem {i}"),
                body: "I cannot log in since this morning.".into(),
                requester_id: CUSTOMER,
                ..Default::default()
            })
            .id
    }

    /// Notifies replica `i` about `ticket`, as Zendesk would: again after a 503.
    async fn notify(&self, i: usize, ticket: u64) {
        let started = Instant::now();
        loop {
            let r = self
                .http
                .post(format!("{}/notify/{TRIAGE_TOKEN}", self.replicas[i].url))
                .body(format!("{{\"id\": {ticket}}}"))
                .send()
                .await;
            match r {
                Ok(r) if r.status() == 202 => return,
                Ok(r) => assert_eq!(r.status(), 503, "only a passing refusal"),
                Err(_) => {}
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "never accepted"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn ai_replies(&self, id: u64) -> usize {
        let seat = sim_config().seat.id;
        self.sim
            .ticket(id)
            .unwrap()
            .comments
            .iter()
            .filter(|c| c["public"] == true && c["author_id"].as_u64() == Some(seat))
            .count()
    }

    async fn depth(&self) -> usize {
        let db = self.db.clone();
        // A broken connection (the database restarting) reads as "not empty yet".
        blocking(move || db.inbox.depth())
            .await
            .unwrap_or(usize::MAX)
    }

    async fn audit(&self) -> Vec<AuditRecord> {
        let db = self.db.clone();
        blocking(move || db.audit.query(None, 100_000))
            .await
            .unwrap()
    }

    /// Waits until every ticket has an AI reply and the shared inbox is empty.
    async fn wait_all_answered(&self, ids: &[u64], within: Duration) {
        let started = Instant::now();
        loop {
            let unanswered = ids.iter().filter(|id| self.ai_replies(**id) == 0).count();
            if unanswered == 0 && self.depth().await == 0 {
                return;
            }
            assert!(
                started.elapsed() < within,
                "{unanswered} of {} tickets unanswered, {} in the inbox after {within:?}",
                ids.len(),
                self.depth().await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Every ticket answered exactly once; and no two runs of one ticket overlapped, by
    /// the audit's start and end times.
    async fn assert_once_and_serial(&self, ids: &[u64]) {
        for id in ids {
            assert_eq!(self.ai_replies(*id), 1, "ticket {id} answered once");
        }
        let mut runs: std::collections::BTreeMap<u64, Vec<(i64, i64)>> = Default::default();
        for r in self.audit().await {
            let t = |s: &str| {
                chrono::DateTime::parse_from_rfc3339(s)
                    .unwrap_or_else(|e| panic!("{s:?}: {e}"))
                    .timestamp_millis()
            };
            runs.entry(r.ticket_id)
                .or_default()
                .push((t(&r.started_at), t(&r.at)));
        }
        for id in ids {
            let spans = runs.get_mut(id).unwrap_or_else(|| panic!("{id} audited"));
            spans.sort();
            for pair in spans.windows(2) {
                assert!(
                    pair[1].0 >= pair[0].1,
                    "ticket {id}: a run started at {} before the previous one ended at {}",
                    pair[1].0,
                    pair[0].1
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_answer_a_burst_once_and_never_run_a_ticket_twice_at_once() {
    // Both start together on a fresh database: their migrations race.
    let Some(fleet) = Fleet::start(2, "lease_secs = 5", 6000).await else {
        return;
    };
    let ids: Vec<u64> = (0..30).map(|i| fleet.ticket(i)).collect();
    // Every ticket is notified on both replicas (Zendesk's load balancer may send a
    // trigger's retries anywhere): the two notifications coalesce, or owe one more run,
    // which the guards skip; never two runs at once.
    let sends = ids.iter().flat_map(|id| [(0, *id), (1, *id)]);
    futures::future::join_all(sends.map(|(i, id)| fleet.notify(i, id))).await;
    fleet
        .wait_all_answered(&ids, Duration::from_secs(120))
        .await;
    fleet.assert_once_and_serial(&ids).await;
    // Both replicas took part.
    for r in &fleet.replicas {
        let text = fleet
            .http
            .get(format!("{}/metrics", r.url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            text.lines()
                .any(|l| l.contains("runs_total{") && !l.ends_with(" 0")),
            "replica {} ran tickets: {text}",
            r.url
        );
    }
    // /admin/plugins on either replica lists the fleet and the version each serves.
    let plugins: serde_json::Value = fleet
        .http
        .get(format!("{}/admin/plugins", fleet.replicas[0].url))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let replicas = plugins["replicas"].as_array().expect("replicas listed");
    assert_eq!(replicas.len(), 2, "{plugins}");
    let version = plugins["plugins"][0]["version"].as_str().unwrap();
    for r in replicas {
        assert_eq!(r["versions"]["triage"], version, "{plugins}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_of_one_replica_mid_batch_the_other_finishes_after_the_lease() {
    // A slow quota keeps tickets in flight long enough to kill a replica among them: 300
    // a minute (5 a second, a burst of 30) for 30 tickets of 3 calls each is 12 s of
    // work at least, so the kill lands mid-batch however loaded the machine is (at 900
    // a minute the whole batch fitted in the burst and could finish before the kill).
    let Some(mut fleet) = Fleet::start(2, "lease_secs = 2\nconcurrency = 2", 300).await else {
        return;
    };
    let ids: Vec<u64> = (0..30).map(|i| fleet.ticket(i)).collect();
    for (n, id) in ids.iter().enumerate() {
        fleet.notify(n % 2, *id).await;
    }
    let started = Instant::now();
    while ids.iter().filter(|id| fleet.ai_replies(**id) > 0).count() < 4 {
        assert!(started.elapsed() < Duration::from_secs(60));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    fleet.kill(0);
    let done_before = ids.iter().filter(|id| fleet.ai_replies(**id) > 0).count();
    assert!(
        done_before < ids.len(),
        "the kill must land mid-batch ({done_before} done)"
    );
    // Replica 1 alone: it rescues replica 0's claims once their leases run out.
    fleet
        .wait_all_answered(&ids, Duration::from_secs(120))
        .await;
    fleet.assert_once_and_serial(&ids).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleet_keeps_to_one_zendesk_quota() {
    // 600 a minute: 10 a second with a burst of 60, for the account, not per replica.
    let Some(fleet) = Fleet::start(2, "concurrency = 4", 600).await else {
        return;
    };
    // The start-up `users/me` calls count too; the burst starts full.
    let ids: Vec<u64> = (0..40).map(|i| fleet.ticket(i)).collect();
    let sends = ids
        .iter()
        .enumerate()
        .map(|(n, id)| fleet.notify(n % 2, *id));
    futures::future::join_all(sends).await;
    fleet
        .wait_all_answered(&ids, Duration::from_secs(180))
        .await;
    let calls = fleet.sim.calls();
    assert!(calls.len() > 100, "enough calls to drain the burst");
    let first = calls[0].at;
    // By any moment t after the first call, at most burst + rate * t calls, plus a
    // little for the clock of the bucket and of the simulator differing by milliseconds.
    for (n, c) in calls.iter().enumerate() {
        let t = (c.at - first).num_milliseconds() as f64 / 1000.0;
        let allowed = 60.0 + 10.0 * t + 3.0;
        assert!(
            (n + 1) as f64 <= allowed,
            "{} calls by {t:.2} s: the fleet exceeded the quota (at most {allowed:.0})",
            n + 1
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_recover_by_themselves_when_the_database_restarts_under_load() {
    if std::env::var("DATABASE_URL").is_ok_and(|u| !u.is_empty()) {
        eprintln!("skipping: DATABASE_URL names the server, which is not ours to restart");
        return;
    }
    // Not the cluster the other tests share: restarting it would break their
    // connections at a random moment of theirs.
    if blocking(scratch::database).await.is_none() {
        return;
    }
    let cluster = Arc::new(
        blocking(scratch::ScratchCluster::private)
            .await
            .expect("a throwaway cluster of this test's own"),
    );
    let c = cluster.clone();
    let url = blocking(move || c.new_database()).await.unwrap();
    let fleet = Fleet::start_on(url, 2, "lease_secs = 3\nconcurrency = 2", 1200).await;
    let ids: Vec<u64> = (0..30).map(|i| fleet.ticket(i)).collect();
    for (n, id) in ids.iter().enumerate() {
        fleet.notify(n % 2, *id).await;
    }
    let started = Instant::now();
    while ids.iter().filter(|id| fleet.ai_replies(**id) > 0).count() < 4 {
        assert!(started.elapsed() < Duration::from_secs(60));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Every connection of both replicas (and the observer's) breaks here.
    let c = cluster.clone();
    blocking(move || c.restart()).await.unwrap();
    // New notifications after the restart are taken (a 503 meanwhile is retried, as
    // Zendesk does).
    let more: Vec<u64> = (30..36).map(|i| fleet.ticket(i)).collect();
    for (n, id) in more.iter().enumerate() {
        fleet.notify(n % 2, *id).await;
    }
    let all: Vec<u64> = ids.iter().chain(&more).copied().collect();
    fleet
        .wait_all_answered(&all, Duration::from_secs(120))
        .await;
    fleet.assert_once_and_serial(&all).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleet_keeps_to_one_ticket_update_budget() {
    // Zendesk's Update Ticket limit is the account's: 100 a minute here (the harness's
    // ticket_updates_per_minute), a burst of 10, for both replicas together. Each
    // replica's own limiter would let the fleet send twice that.
    let Some(fleet) = Fleet::start(2, "concurrency = 4", 6000).await else {
        return;
    };
    let ids: Vec<u64> = (0..24).map(|i| fleet.ticket(i)).collect();
    let sends = ids
        .iter()
        .enumerate()
        .map(|(n, id)| fleet.notify(n % 2, *id));
    futures::future::join_all(sends).await;
    fleet
        .wait_all_answered(&ids, Duration::from_secs(180))
        .await;
    fleet.assert_once_and_serial(&ids).await;
    let updates: Vec<_> = fleet
        .sim
        .calls()
        .into_iter()
        .filter(|c| c.method == "PUT" && c.path.starts_with("/api/v2/tickets/"))
        .collect();
    assert_eq!(updates.len(), ids.len(), "one update per ticket");
    let first = updates[0].at;
    for (n, c) in updates.iter().enumerate() {
        let t = (c.at - first).num_milliseconds() as f64 / 1000.0;
        let allowed = 10.0 + 100.0 / 60.0 * t + 2.0;
        assert!(
            (n + 1) as f64 <= allowed,
            "{} ticket updates by {t:.2} s: the fleet exceeded the update budget (at most {allowed:.0})",
            n + 1
        );
    }
}

/// Signs in to a replica's console: its session cookie.
async fn console_session(http: &reqwest::Client, base: &str) -> String {
    let resp = http
        .post(format!("{base}/console/login"))
        .header("origin", base)
        .form(&[("token", ADMIN_TOKEN), ("operator", "Ana")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303, "signed in to {base}");
    let set = resp.headers()["set-cookie"].to_str().unwrap();
    set.split(';').next().unwrap().to_string()
}

async fn console_page(http: &reqwest::Client, base: &str, cookie: &str, path: &str) -> String {
    let resp = http
        .get(format!("{base}{path}"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "GET {base}{path}");
    resp.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_switch_on_one_replicas_console_holds_on_the_other() {
    let Some(fleet) = Fleet::start(2, "", 6000).await else {
        return;
    };
    // The console never follows redirects here: a 303 is checked as such.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let (a, b) = (&fleet.replicas[0].url, &fleet.replicas[1].url);
    // Sessions are each replica's own (docs/replicas.md): sign in to both.
    let cookie_a = console_session(&http, a).await;
    let cookie_b = console_session(&http, b).await;
    let brands = console_page(&http, a, &cookie_a, "/console/brands").await;
    let at = brands.find("name=\"csrf\" value=\"").expect("a CSRF field");
    let rest = &brands[at + "name=\"csrf\" value=\"".len()..];
    let csrf = rest[..rest.find('"').unwrap()].to_string();
    let resp = http
        .post(format!("{a}/console/brands/triage/mode"))
        .header("cookie", &cookie_a)
        .header("origin", a.as_str())
        .form(&[("mode", "listening"), ("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303, "switched on replica 0");
    // Replica 1 picks the switch up from the shared table within a heartbeat.
    let started = Instant::now();
    loop {
        let page = console_page(&http, b, &cookie_b, "/console/brands").await;
        if page.contains("override</span> by Ana") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "replica 1 never saw the switch: {page}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // ...and obeys it: its run of a new ticket drafts an internal note.
    let id = fleet.ticket(100);
    fleet.notify(1, id).await;
    let started = Instant::now();
    let run = loop {
        let db = fleet.db.clone();
        let runs = blocking(move || db.audit.query(Some(id), 10))
            .await
            .unwrap();
        if let Some(r) = runs.into_iter().next() {
            break r;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no run of {id}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(run.mode, "listening", "{run:#?}");
    assert_eq!(fleet.ai_replies(id), 0, "drafted, not sent");
    // Either replica's console lists both replicas and the version each serves.
    let plugins = console_page(&http, b, &cookie_b, "/console/plugins").await;
    assert_eq!(plugins.matches("<tr data-replica=").count(), 2, "{plugins}");
    assert!(plugins.contains("(this one)"), "{plugins}");
}
