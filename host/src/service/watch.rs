//! Hot reload: watch the folders of the plugin files and of the config file, and reload
//! what changed while the gateway serves.
//!
//! Folders, not files, are watched: editors and deploy tools replace a file by writing a
//! new one and renaming it over the old, which a watch on the old file's inode misses
//! (notify's docs, "Editor behaviour"). Bursts of events (truncate, write, write, close;
//! or create, rename) are debounced into one reload per file.

use crate::gateway::Gateway;
use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Quiet time after the last event of a burst before a file is reloaded.
pub const DEBOUNCE: Duration = Duration::from_millis(40);
/// A steady stream of events still reloads at least this often.
const MAX_DEBOUNCE: Duration = Duration::from_millis(300);

/// The running watcher; dropping it stops watching.
pub struct ReloadWatcher {
    _task: tokio::task::JoinHandle<()>,
}

/// A path made comparable: the canonical folder plus the file name (the file itself may
/// not exist at the moment of the event).
fn key(path: &Path) -> Option<PathBuf> {
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let dir = std::fs::canonicalize(parent).ok()?;
    Some(dir.join(path.file_name()?))
}

/// The folders to watch for the gateway's current config.
fn folders(gw: &Gateway) -> BTreeSet<PathBuf> {
    let config = gw.config();
    config
        .brands
        .values()
        .map(|b| b.plugin.as_path())
        .chain([config.source.as_path()])
        .chain(signing_secret_files(&config))
        .filter_map(|p| key(p).and_then(|k| k.parent().map(Path::to_path_buf)))
        .collect()
}

/// The endpoints' signing secret files: read with the config, so a new secret (written
/// by `zendesk-gateway setup`, or rotated by hand) reloads the config. Without this the
/// gateway would refuse Zendesk's newly signed notifications until a restart.
fn signing_secret_files(config: &crate::config::Config) -> Vec<&Path> {
    config
        .endpoints
        .values()
        .filter_map(|e| e.signing_secret_file.as_deref())
        .collect()
}

/// The brands' knowledge folders, canonical.
fn knowledge_folders(gw: &Gateway) -> BTreeSet<PathBuf> {
    gw.config()
        .brands
        .values()
        .filter_map(|b| b.knowledge.as_ref())
        .filter_map(|d| std::fs::canonicalize(d).ok())
        .collect()
}

/// True for the events that may mean a file's content changed. Access events (open,
/// read, a close without writing) are not changes: forwarding them made every reload,
/// which reads the files, trigger the next one, forever; and a `cat gateway.toml` or
/// `zendesk-gateway check` started that loop. A close after writing is a change (the
/// end of an in-place write).
fn changes_content(kind: &notify::EventKind) -> bool {
    use notify::event::{AccessKind, AccessMode, EventKind};
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    }
}

/// Starts watching. Events are handled on a tokio task; loading happens off the request
/// path (compilation on the blocking pool).
pub fn spawn(gw: Arc<Gateway>) -> anyhow::Result<ReloadWatcher> {
    let (tx, mut rx) = mpsc::unbounded_channel::<PathBuf>();
    let mut watcher: RecommendedWatcher =
        notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            if let Ok(event) = res {
                if !changes_content(&event.kind) {
                    return;
                }
                for p in event.paths {
                    let _ = tx.send(p);
                }
            }
        })?;
    let mut watched: HashSet<PathBuf> = HashSet::new();
    for dir in folders(&gw) {
        watcher.watch(&dir, RecursiveMode::NonRecursive)?;
        watched.insert(dir);
    }
    // Knowledge bases are whole trees of articles.
    for dir in knowledge_folders(&gw) {
        watcher.watch(&dir, RecursiveMode::Recursive)?;
        watched.insert(dir);
    }
    let task = tokio::spawn(async move {
        // The watcher lives as long as this task.
        let mut watcher = watcher;
        while let Some(first) = rx.recv().await {
            let mut changed: BTreeSet<PathBuf> = BTreeSet::new();
            changed.extend(key(&first));
            let burst_start = tokio::time::Instant::now();
            loop {
                match tokio::time::timeout(DEBOUNCE, rx.recv()).await {
                    Ok(Some(p)) => {
                        changed.extend(key(&p));
                        if burst_start.elapsed() > MAX_DEBOUNCE {
                            break;
                        }
                    }
                    Ok(None) => return,
                    Err(_) => break,
                }
            }
            handle_changes(&gw, &changed).await;
            // A reloaded config may name plugins in new folders.
            for dir in folders(&gw) {
                if !watched.contains(&dir)
                    && watcher.watch(&dir, RecursiveMode::NonRecursive).is_ok()
                {
                    watched.insert(dir);
                }
            }
            for dir in knowledge_folders(&gw) {
                if !watched.contains(&dir) && watcher.watch(&dir, RecursiveMode::Recursive).is_ok()
                {
                    watched.insert(dir);
                }
            }
        }
    });
    Ok(ReloadWatcher { _task: task })
}

async fn handle_changes(gw: &Arc<Gateway>, changed: &BTreeSet<PathBuf>) {
    let config = gw.config();
    let secret_changed = signing_secret_files(&config)
        .into_iter()
        .any(|f| key(f).is_some_and(|k| changed.contains(&k)));
    if secret_changed || key(&config.source).is_some_and(|k| changed.contains(&k)) {
        gw.metrics.watch_reload("config");
        match gw.reload_config().await {
            Ok(()) => {}
            Err(e) => tracing::error!(config = %config.source.display(), error = %format!("{e:#}"),
                "the changed config was refused; the running config stays"),
        }
    }
    let config = gw.config();
    for (name, brand) in &config.brands {
        if key(&brand.plugin).is_some_and(|k| changed.contains(&k)) {
            gw.metrics.watch_reload("plugin");
            gw.reload_plugin(name).await;
        }
    }
    for (name, runtime) in gw.brands().iter() {
        let Some(kb) = runtime.capabilities.knowledge.clone() else {
            continue;
        };
        let Some(Ok(dir)) = kb.dir().map(std::fs::canonicalize) else {
            continue;
        };
        if changed.iter().any(|p| p.starts_with(&dir)) {
            gw.metrics.watch_reload("knowledge");
            let name = name.clone();
            let result = tokio::task::spawn_blocking(move || kb.reload()).await;
            match result {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::error!(brand = %name, error = %format!("{e:#}"),
                    "knowledge base reload failed; the previous index stays"),
                Err(e) => {
                    tracing::error!(brand = %name, error = %e, "knowledge base reload task failed")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::changes_content;
    use notify::event::{
        AccessKind, AccessMode, CreateKind, DataChange, EventKind, ModifyKind, RenameMode,
    };

    #[test]
    fn reading_a_file_is_not_a_change() {
        assert!(!changes_content(&EventKind::Access(AccessKind::Open(
            AccessMode::Any
        ))));
        assert!(!changes_content(&EventKind::Access(AccessKind::Read)));
        assert!(!changes_content(&EventKind::Access(AccessKind::Close(
            AccessMode::Read
        ))));
        assert!(changes_content(&EventKind::Access(AccessKind::Close(
            AccessMode::Write
        ))));
        assert!(changes_content(&EventKind::Modify(ModifyKind::Data(
            DataChange::Any
        ))));
        assert!(changes_content(&EventKind::Modify(ModifyKind::Name(
            RenameMode::To
        ))));
        assert!(changes_content(&EventKind::Create(CreateKind::File)));
    }
}
