//! Ingestion: notifications per second and p99 latency over loopback HTTP with many
//! concurrent connections, against a bare hyper server that answers 202.
//!
//! The gateway side is its real ingress router (token lookup, body parsing, the
//! durable SQLite inbox, metrics) served by `axum::serve` as `server::launch` does, but
//! without workers: handling tickets is the end-to-end figure's business, and workers
//! failing on tickets that do not exist would steal the CPU this figure measures.
//! Every notification names a new ticket, so every one is a new inbox row.

use crate::common::{self, figure, ms, percentile, BrandDef, Scale};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;
use zendesk_gateway::gateway::{Gateway, StartOptions};

/// What one load run measured.
#[derive(Default)]
struct Load {
    accepted: u64,
    refused: u64,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Load {
    fn add(&mut self, other: Load) {
        self.accepted += other.accepted;
        self.refused += other.refused;
        self.elapsed += other.elapsed;
        self.latencies.extend(other.latencies);
    }

    fn rate(&self) -> f64 {
        self.accepted as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    fn p99(&mut self) -> Duration {
        percentile(&mut self.latencies, 99.0)
    }
}

/// Sends notifications to `url` from `connections` concurrent tasks (each one
/// keep-alive connection, one request at a time) for `duration`.
async fn load(
    client: &reqwest::Client,
    url: &str,
    connections: usize,
    duration: Duration,
    ids: &Arc<AtomicU64>,
) -> Load {
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..connections {
        let (client, url, ids) = (client.clone(), url.to_string(), ids.clone());
        tasks.spawn(async move {
            let mut load = Load::default();
            while Instant::now() < deadline {
                let id = ids.fetch_add(1, Ordering::Relaxed);
                let sent = Instant::now();
                let answer = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(common::notification(id))
                    .send()
                    .await;
                let status = match answer {
                    Ok(r) => {
                        let status = r.status().as_u16();
                        // Read the answer to the end, as Zendesk does.
                        let _ = r.bytes().await;
                        status
                    }
                    Err(_) => 0,
                };
                load.latencies.push(sent.elapsed());
                if status == 202 {
                    load.accepted += 1;
                } else {
                    load.refused += 1;
                }
            }
            load
        });
    }
    let mut total = Load::default();
    while let Some(done) = tasks.join_next().await {
        total.add(done.expect("load task"));
    }
    total.elapsed = started.elapsed();
    total
}

/// A hyper HTTP/1 server that reads the body and answers 202 with a short JSON body:
/// the floor under any webhook receiver.
async fn bare_hyper() -> anyhow::Result<(String, JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let service = hyper::service::service_fn(|req: Request<Incoming>| async move {
                    let _body = req.into_body().collect().await?.to_bytes();
                    Ok::<_, hyper::Error>(
                        Response::builder()
                            .status(202)
                            .header("content-type", "application/json")
                            .body(Full::new(Bytes::from_static(b"{\"accepted\":true}")))
                            .expect("static response"),
                    )
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok((format!("http://{addr}/notify/token"), task))
}

/// The gateway's ingress on its own (see the module docs); returns the notify URL.
async fn gateway_ingress(
    sim_url: &str,
    tag: &str,
    fsync: bool,
    database_url: Option<&str>,
) -> anyhow::Result<(String, Arc<Gateway>, JoinHandle<()>)> {
    let dir = common::scratch_dir(tag);
    let mut gateway_extra = format!("durable_fsync = {fsync}");
    if let Some(url) = database_url {
        std::fs::write(dir.join("database-url"), url)?;
        gateway_extra.push_str(&format!(
            "\ndatabase_file = \"{}\"",
            dir.join("database-url").display()
        ));
    }
    let brand = BrandDef::new("triage", zendesk_gateway::plugin_artifacts::TRIAGE_PATH);
    let text = common::config_text(
        sim_url,
        &dir.join("data"),
        "127.0.0.1:0",
        std::slice::from_ref(&brand),
        &gateway_extra,
    );
    let config = common::load_config(&common::write_config(&dir, &text, &common::sim_token()))?;
    let gateway = Gateway::start(config, StartOptions::default()).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app = zendesk_gateway::pipeline::ingress::router(gateway.clone());
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let url = format!("http://{addr}/notify/{}", brand.token());
    Ok((url, gateway, task))
}

/// Notifications per second the inbox alone stores, one after another on one thread
/// (the inbox takes one writer at a time): the ceiling under the gateway's figure.
fn inbox_alone(duration: Duration, ids: &AtomicU64) -> anyhow::Result<f64> {
    use zendesk_gateway::store::inbox::{InboxStore, Notification, SqliteInbox};
    let dir = common::scratch_dir("inbox-alone");
    let inbox = SqliteInbox::open(&dir.join("gateway.db"), false)?;
    let started = Instant::now();
    let mut stored = 0u64;
    while started.elapsed() < duration {
        let notification = Notification {
            environment: "production".into(),
            ticket_id: ids.fetch_add(1, Ordering::Relaxed),
            endpoint: "triage".into(),
        };
        inbox.enqueue(&notification, chrono::Utc::now().timestamp_millis())?;
        stored += 1;
    }
    Ok(stored as f64 / started.elapsed().as_secs_f64())
}

/// Runs the section and prints its figures.
pub async fn run(scale: Scale) -> anyhow::Result<()> {
    let connections = scale.pick(8, 64);
    let round = scale.pick(Duration::from_millis(250), Duration::from_secs(3));
    let rounds = scale.pick(1, 3);
    let warmup = scale.pick(Duration::from_millis(100), Duration::from_millis(500));

    let sim = common::start_simulator().await?;
    let (bare_url, bare_task) = bare_hyper().await?;
    let (gw_url, gw, gw_task) = gateway_ingress(&sim.base_url(), "ingest", false, None).await?;
    let (fsync_url, fsync_gw, fsync_task) =
        gateway_ingress(&sim.base_url(), "ingest-fsync", true, None).await?;
    // The same gateway on PostgreSQL (the throwaway cluster, or DATABASE_URL's server).
    let pg_url =
        tokio::task::spawn_blocking(zendesk_gateway::store::postgres::scratch::database).await?;
    let pg = match &pg_url {
        Some(url) => Some(gateway_ingress(&sim.base_url(), "ingest-pg", false, Some(url)).await?),
        None => None,
    };
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .build()?;
    let ids = Arc::new(AtomicU64::new(1));

    for url in [&bare_url, &gw_url, &fsync_url] {
        load(&client, url, connections, warmup, &ids).await;
    }
    if let Some((url, _, _)) = &pg {
        load(&client, url, connections, warmup, &ids).await;
    }
    // Rounds alternate between the servers, so a noisy neighbour on this shared
    // machine slows every side rather than one.
    let (mut bare, mut gateway, mut postgres) = (Load::default(), Load::default(), Load::default());
    for _ in 0..rounds {
        bare.add(load(&client, &bare_url, connections, round, &ids).await);
        gateway.add(load(&client, &gw_url, connections, round, &ids).await);
        if let Some((url, _, _)) = &pg {
            postgres.add(load(&client, url, connections, round, &ids).await);
        }
    }
    let mut fsync = load(&client, &fsync_url, connections, round, &ids).await;
    let alone = {
        let ids = ids.clone();
        tokio::task::spawn_blocking(move || inbox_alone(round, &ids)).await??
    };

    let ratio = gateway.rate() / bare.rate();
    let refused = |l: &Load| {
        if l.refused > 0 {
            format!(" ({} refused)", l.refused)
        } else {
            String::new()
        }
    };
    figure(
        "ingestion",
        &format!(
            "gateway {:.0} req/s p99 {}{}",
            gateway.rate(),
            ms(gateway.p99()),
            refused(&gateway)
        ),
        &format!(
            "bare hyper {:.0} req/s p99 {}{}",
            bare.rate(),
            ms(bare.p99()),
            refused(&bare)
        ),
        &format!(
            "ratio {ratio:.2} (target >= 0.5) {}",
            if ratio >= 0.5 { "MET" } else { "MISSED" }
        ),
    );
    let fsync_ratio = fsync.rate() / bare.rate();
    figure(
        "ingestion fsync",
        &format!(
            "gateway durable_fsync=true {:.0} req/s p99 {}{}",
            fsync.rate(),
            ms(fsync.p99()),
            refused(&fsync)
        ),
        &format!("bare hyper {:.0} req/s", bare.rate()),
        &format!("ratio {fsync_ratio:.2} (informational: every commit fsynced)"),
    );

    match &pg {
        Some(_) => {
            let pg_ratio = postgres.rate() / gateway.rate();
            figure(
                "ingestion postgres",
                &format!(
                    "gateway on PostgreSQL {:.0} req/s p99 {}{}",
                    postgres.rate(),
                    ms(postgres.p99()),
                    refused(&postgres)
                ),
                &format!("gateway on SQLite {:.0} req/s", gateway.rate()),
                &format!(
                    "ratio {pg_ratio:.2} (target >= 0.5) {}",
                    if pg_ratio >= 0.5 { "MET" } else { "MISSED" }
                ),
            );
        }
        None => figure(
            "ingestion postgres",
            "skipped: no PostgreSQL server binaries and no DATABASE_URL",
            "-",
            "-",
        ),
    }

    figure(
        "ingestion inbox alone",
        &format!("SqliteInbox::enqueue {alone:.0} notifications/s, one thread, no HTTP"),
        &format!("bare hyper {:.0} req/s", bare.rate()),
        &format!(
            "ratio {:.2} (informational: the inbox's ceiling for the gateway)",
            alone / bare.rate()
        ),
    );

    for task in [bare_task, gw_task, fsync_task] {
        task.abort();
    }
    if let Some((_, pg_gw, pg_task)) = pg {
        pg_task.abort();
        let _ = pg_task.await;
        // The last handle of a PostgreSQL store closes its connections: off the async
        // threads.
        tokio::task::spawn_blocking(move || drop(pg_gw)).await?;
    }
    drop((gw, fsync_gw));
    sim.shutdown().await;
    Ok(())
}
