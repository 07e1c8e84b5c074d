//! The fleet: each gateway replica heartbeats into the shared database (its id, when it
//! started, the plugin version it serves per brand), so `/admin/plugins` on any replica
//! shows what the whole fleet serves. One machine on SQLite is a fleet of one.

use std::collections::BTreeMap;

/// One replica, as its last heartbeat left it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ReplicaInfo {
    /// The replica's id (`gateway.replica_id`, by default host name and port).
    pub replica_id: String,
    /// When it started (ms since the epoch).
    pub started_at_ms: i64,
    /// Its last heartbeat (ms since the epoch).
    pub last_seen_ms: i64,
    /// Brand -> plugin version (content hash) it serves.
    pub versions: BTreeMap<String, String>,
}

/// Where replicas heartbeat. Blocking calls, made off the async threads.
pub trait FleetStore: Send + Sync {
    /// Records that `replica` is alive at `now_ms` and serves `versions`.
    fn heartbeat(&self, replica: &ReplicaInfo) -> anyhow::Result<()>;
    /// The replicas seen at or after `since_ms`, by id.
    fn replicas(&self, since_ms: i64) -> anyhow::Result<Vec<ReplicaInfo>>;
}
