//! A throwaway PostgreSQL for tests and benchmarks: `DATABASE_URL` when it names a
//! server, otherwise a cluster of this process's own, made with `initdb` and started with
//! `pg_ctl` (Debian's `postgresql` package, /usr/lib/postgresql/<version>/bin) on a free
//! loopback port in a temporary folder, as `nobody` when run as root (the server refuses
//! root). Each caller gets a database of its own in it.
//!
//! The cluster outlives nothing: a small shell watches a pipe from this process and,
//! when the process ends however it ends (SIGKILL included, which closes the pipe),
//! stops the server and deletes the folder.

use anyhow::Context;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};

/// The process's throwaway cluster (or the server `DATABASE_URL` names).
pub struct ScratchCluster {
    /// `host=... port=... user=...` of the server, without a database name.
    base: String,
    /// The data folder and the binaries, when this process started the cluster.
    own: Option<(PathBuf, PathBuf)>,
    /// Keeps the watcher's pipe open: closing it (the process ending) stops the server.
    _watcher: Option<Mutex<std::process::ChildStdin>>,
    /// Databases made so far (names are unique per process).
    made: std::sync::atomic::AtomicU64,
}

/// Why no PostgreSQL test can run here (`None`: it can).
pub fn unavailable() -> Option<String> {
    if std::env::var("DATABASE_URL").is_ok_and(|u| !u.is_empty()) {
        return None;
    }
    match server_binaries() {
        Some(_) => None,
        None => Some(
            "no PostgreSQL server binaries (/usr/lib/postgresql/*/bin/initdb): \
             `apt-get install postgresql`, or set DATABASE_URL"
                .into(),
        ),
    }
}

/// A fresh database for one test: its connection URL, or `None` (with the reason
/// printed) when no server is to be had outside CI. Under `CI=true` a missing server is
/// a failure, so no PostgreSQL test is ever skipped there.
pub fn database() -> Option<String> {
    if let Some(why) = unavailable() {
        assert!(
            std::env::var("CI").map(|v| v != "true").unwrap_or(true),
            "CI=true but {why}"
        );
        eprintln!("skipping a PostgreSQL test: {why}");
        return None;
    }
    Some(
        ScratchCluster::shared()
            .and_then(|c| c.new_database())
            .unwrap_or_else(|e| panic!("no database in the throwaway PostgreSQL cluster: {e:#}")),
    )
}

fn server_binaries() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").exists() && p.join("pg_ctl").exists())
        .collect();
    versions.sort();
    versions.pop()
}

fn is_root() -> bool {
    // No libc call needed: /proc tells the effective uid.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// `program args...` as the server's user: `nobody` when we are root.
fn as_server_user(program: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "nobody", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn run(mut c: Command, what: &str) -> anyhow::Result<()> {
    let out = c
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {what}"))?;
    anyhow::ensure!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

impl ScratchCluster {
    /// The process's cluster, started on first use.
    pub fn shared() -> anyhow::Result<Arc<ScratchCluster>> {
        static CLUSTER: OnceLock<Mutex<Option<Arc<ScratchCluster>>>> = OnceLock::new();
        let mut slot = CLUSTER
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(c) = &*slot {
            return Ok(c.clone());
        }
        let cluster = Arc::new(ScratchCluster::start_retrying()?);
        *slot = Some(cluster.clone());
        Ok(cluster)
    }

    /// A cluster of the caller's own, not shared with the process's other tests: for a
    /// test that restarts the server, which would break every other test's connections.
    /// With `DATABASE_URL` set, that server (which is not ours to restart).
    pub fn private() -> anyhow::Result<ScratchCluster> {
        ScratchCluster::start_retrying()
    }

    fn start_retrying() -> anyhow::Result<ScratchCluster> {
        // A free port can be taken by someone else between the look and the server's bind
        // (other tests pick ports too): a failed start is tried again, on a new port.
        let mut last = None;
        for _ in 0..3 {
            match ScratchCluster::start() {
                Ok(c) => return Ok(c),
                Err(e) => {
                    eprintln!("the throwaway PostgreSQL cluster did not start: {e:#}");
                    last = Some(e);
                }
            }
        }
        Err(last.expect("tried"))
    }

    fn start() -> anyhow::Result<ScratchCluster> {
        if let Ok(url) = std::env::var("DATABASE_URL") {
            if !url.is_empty() {
                return Ok(ScratchCluster {
                    base: url,
                    own: None,
                    _watcher: None,
                    made: Default::default(),
                });
            }
        }
        let bin = server_binaries().context("no PostgreSQL server binaries")?;
        let dir = std::env::temp_dir().join(format!(
            "zgw-pg-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        let data = dir.join("data");
        std::fs::create_dir_all(&dir)?;
        if is_root() {
            run(
                {
                    let mut c = Command::new("chown");
                    c.arg("nobody").arg(&dir);
                    c
                },
                "chown nobody",
            )?;
        }
        let mut initdb = as_server_user(&bin.join("initdb"));
        initdb.arg("-D").arg(&data).args([
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        ]);
        run(initdb, "initdb")?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        // The watcher first, so that even a failed start leaves nothing behind. Its pipe
        // closes when this process ends; then it stops the server and removes the folder.
        let stop = format!(
            "{} -D {} stop -m immediate >/dev/null 2>&1",
            if is_root() {
                format!("runuser -u nobody -- {}", bin.join("pg_ctl").display())
            } else {
                bin.join("pg_ctl").display().to_string()
            },
            data.display()
        );
        let mut watcher = Command::new("sh")
            .arg("-c")
            .arg(format!("read _ignored; {stop}; rm -rf '{}'", dir.display()))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start the cluster's watcher")?;
        let watcher_in = watcher.stdin.take().expect("piped");
        // Reaped by nobody: it outlives this process on purpose.
        std::mem::forget(watcher);
        let mut pg_ctl = as_server_user(&bin.join("pg_ctl"));
        pg_ctl
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(dir.join("server.log"))
            .args(["-w", "-t", "60", "-o"])
            .arg(format!(
                "-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' \
                 -c fsync=off -c max_connections=300 -c shared_buffers=32MB"
            ))
            .arg("start");
        run(pg_ctl, "pg_ctl start").map_err(|e| {
            let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
            e.context(log)
        })?;
        Ok(ScratchCluster {
            base: format!("host=127.0.0.1 port={port} user=postgres"),
            own: Some((data, bin)),
            _watcher: Some(Mutex::new(watcher_in)),
            made: Default::default(),
        })
    }

    /// A new, empty database: its URL.
    pub fn new_database(&self) -> anyhow::Result<String> {
        let n = self.made.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("zgw_{}_{}_{n}", std::process::id(), rand::random::<u32>());
        let admin = if self.own.is_some() {
            format!("{} dbname=postgres", self.base)
        } else {
            self.base.clone()
        };
        let mut client = postgres::Client::connect(&admin, postgres::NoTls)
            .with_context(|| "cannot connect to the test server".to_string())?;
        client.batch_execute(&format!("CREATE DATABASE {name}"))?;
        let mut config: postgres::Config = admin.parse()?;
        config.dbname(&name);
        Ok(url_of(&config))
    }

    /// Restarts the server (fast shutdown: open connections are closed), as a database
    /// failover or upgrade would. Only for a cluster this process started.
    pub fn restart(&self) -> anyhow::Result<()> {
        let (data, bin) = self
            .own
            .as_ref()
            .context("DATABASE_URL names the server: it is not ours to restart")?;
        let mut pg_ctl = as_server_user(&bin.join("pg_ctl"));
        pg_ctl
            .arg("-D")
            .arg(data)
            .arg("-l")
            .arg(data.parent().expect("data is in dir").join("server.log"))
            .args(["-w", "-t", "60", "-m", "fast", "restart"]);
        // Not `output()`: nothing of the new server may hold a pipe of ours.
        pg_ctl
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .stdin(Stdio::null());
        let status = pg_ctl.status().context("cannot run pg_ctl restart")?;
        anyhow::ensure!(status.success(), "pg_ctl restart failed");
        Ok(())
    }

    /// Whether this process started the server (and may restart it).
    pub fn is_own(&self) -> bool {
        self.own.is_some()
    }
}

impl Drop for ScratchCluster {
    fn drop(&mut self) {
        if let Some(w) = &self._watcher {
            let _ = w.lock().unwrap_or_else(|p| p.into_inner()).write_all(b"\n");
        }
    }
}

/// A `postgres://` URL for `config` (the gateway's config takes a URL).
fn url_of(config: &postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(postgres::config::Host::Tcp(h)) => h.clone(),
        _ => "127.0.0.1".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config.get_user().unwrap_or("postgres");
    let password = config
        .get_password()
        .map(|p| format!(":{}", String::from_utf8_lossy(p)))
        .unwrap_or_default();
    format!(
        "postgres://{user}{password}@{host}:{port}/{}",
        config.get_dbname().unwrap_or("postgres")
    )
}
