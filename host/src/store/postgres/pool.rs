//! A small pool of blocking PostgreSQL connections. The store's methods are blocking
//! calls made off the async threads (the group-commit writer thread, `spawn_blocking`),
//! so the synchronous `postgres` client fits; the pool keeps up to `max` connections
//! open and hands each caller one at a time.
//!
//! When the database restarts, every open connection breaks: the first call on each
//! fails and the pool drops it (and every idle one with it, broken too), and the next
//! call connects afresh. Nothing else is needed for the replicas to recover by
//! themselves: callers already treat a failed call as passing (503 to Zendesk, which
//! retries; a claim or a finish retried by the dispatcher).

use anyhow::Context;
use postgres::config::SslMode;
use postgres::Client;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// How long a caller waits for a free connection before its call fails.
const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(10);

/// How to reach the database.
#[derive(Clone)]
pub struct PgTarget {
    config: postgres::Config,
    tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
    /// The URL without its password, for messages.
    shown: String,
}

impl PgTarget {
    /// Parses a `postgres://` URL (or a `key=value` connection string). With `tls` the
    /// connection must be encrypted (rustls, the Mozilla root certificates) and the
    /// server's certificate must verify; without it the URL's `sslmode` is refused if it
    /// asks for TLS, so a URL never silently downgrades.
    pub fn parse(url: &str, tls: bool) -> anyhow::Result<PgTarget> {
        let mut config: postgres::Config = url
            .parse()
            .map_err(|e| anyhow::anyhow!("not a PostgreSQL connection URL: {e}"))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(5));
        }
        if config.get_application_name().is_none() {
            config.application_name("zendesk-gateway");
        }
        // A statement that waits on a lock for longer than this fails instead of holding a
        // worker: nothing the gateway runs should take more than milliseconds.
        let options = format!(
            "{} -c statement_timeout=15000 -c lock_timeout=10000",
            config.get_options().unwrap_or("")
        );
        config.options(options.trim());
        let shown = format!(
            "postgres://{}@{}/{}",
            config.get_user().unwrap_or("?"),
            config
                .get_hosts()
                .iter()
                .map(|h| match h {
                    postgres::config::Host::Tcp(h) => h.clone(),
                    postgres::config::Host::Unix(p) => p.display().to_string(),
                })
                .collect::<Vec<_>>()
                .join(","),
            config.get_dbname().unwrap_or("")
        );
        let tls = if tls {
            config.ssl_mode(SslMode::Require);
            let mut roots = rustls::RootCertStore::empty();
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let client = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .context("TLS setup")?
                .with_root_certificates(roots)
                .with_no_client_auth();
            Some(tokio_postgres_rustls::MakeRustlsConnect::new(client))
        } else {
            anyhow::ensure!(
                config.get_ssl_mode() != SslMode::Require,
                "the URL asks for sslmode=require: set `database_tls = true` as well"
            );
            config.ssl_mode(SslMode::Disable);
            None
        };
        Ok(PgTarget { config, tls, shown })
    }

    /// The URL without its password.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    fn connect(&self) -> anyhow::Result<Client> {
        let client = match &self.tls {
            Some(tls) => self.config.connect(tls.clone()),
            None => self.config.connect(postgres::NoTls),
        };
        client.with_context(|| format!("cannot connect to {}", self.shown))
    }
}

/// The pool.
#[derive(Clone)]
pub struct PgPool {
    inner: Arc<Inner>,
}

struct Inner {
    target: PgTarget,
    max: usize,
    state: Mutex<State>,
    freed: Condvar,
}

struct State {
    idle: Vec<Client>,
    /// Connections open, idle or lent.
    open: usize,
}

/// A connection lent by the pool; it goes back when dropped, unless it broke.
pub struct Pooled {
    client: Option<Client>,
    pool: Arc<Inner>,
}

impl std::ops::Deref for Pooled {
    type Target = Client;
    fn deref(&self) -> &Client {
        self.client.as_ref().expect("present until dropped")
    }
}

impl std::ops::DerefMut for Pooled {
    fn deref_mut(&mut self) -> &mut Client {
        self.client.as_mut().expect("present until dropped")
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        let Some(client) = self.client.take() else {
            return;
        };
        let mut state = self.pool.lock();
        if client.is_closed() {
            // The server went away: the idle connections are most likely broken as well
            // (a restart closes them all), so they go too, and each next call connects.
            state.open -= 1 + state.idle.len();
            let mut broken = std::mem::take(&mut state.idle);
            broken.push(client);
            dispose(broken);
        } else {
            state.idle.push(client);
        }
        drop(state);
        self.pool.freed.notify_all();
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let state = self.state.get_mut().unwrap_or_else(|p| p.into_inner());
        dispose(std::mem::take(&mut state.idle));
    }
}

/// Closes `clients`. A client's close blocks on its own small runtime, which panics on
/// a thread that drives async tasks (the last `Arc` of a store may well be dropped on
/// one), so within a tokio runtime they are closed on a thread of their own.
fn dispose(clients: Vec<Client>) {
    if clients.is_empty() {
        return;
    }
    if tokio::runtime::Handle::try_current().is_ok() {
        let closing = std::thread::Builder::new()
            .name("pg-close".into())
            .spawn(move || drop(clients));
        if let Err(e) = closing {
            tracing::warn!(error = %e, "cannot start a thread to close database connections");
        }
    } else {
        drop(clients);
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is a list and a count, consistent after every statement.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl PgPool {
    /// A pool of up to `max` connections to `target`; none is opened yet.
    pub fn new(target: PgTarget, max: usize) -> PgPool {
        PgPool {
            inner: Arc::new(Inner {
                target,
                max: max.max(1),
                state: Mutex::new(State {
                    idle: Vec::new(),
                    open: 0,
                }),
                freed: Condvar::new(),
            }),
        }
    }

    /// Where the pool connects, without the password.
    pub fn shown(&self) -> &str {
        self.inner.target.shown()
    }

    /// A connection: an idle one, a new one, or the next one freed (blocking).
    pub fn get(&self) -> anyhow::Result<Pooled> {
        let deadline = std::time::Instant::now() + CHECKOUT_TIMEOUT;
        let mut state = self.inner.lock();
        loop {
            if let Some(client) = state.idle.pop() {
                if client.is_closed() {
                    state.open -= 1;
                    dispose(vec![client]);
                    continue;
                }
                return Ok(self.lend(client));
            }
            if state.open < self.inner.max {
                state.open += 1;
                drop(state);
                return match self.inner.target.connect() {
                    Ok(client) => Ok(self.lend(client)),
                    Err(e) => {
                        self.inner.lock().open -= 1;
                        self.inner.freed.notify_one();
                        Err(e)
                    }
                };
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            anyhow::ensure!(
                !left.is_zero(),
                "no free connection to {} after {} s ({} in use)",
                self.shown(),
                CHECKOUT_TIMEOUT.as_secs(),
                self.inner.max
            );
            state = self
                .inner
                .freed
                .wait_timeout(state, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    fn lend(&self, client: Client) -> Pooled {
        Pooled {
            client: Some(client),
            pool: self.inner.clone(),
        }
    }
}
