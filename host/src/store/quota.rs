//! The Zendesk quota shared by a fleet: a token bucket per Zendesk account kept in the
//! database, so the requests per minute hold for every replica together. Each request
//! takes one token in a short transaction (docs/replicas.md says why a shared bucket and
//! not leased shares). One machine needs none of this: its client's own limiter is exact.

/// A shared token bucket. Blocking calls, made off the async threads.
pub trait SharedQuota: Send + Sync {
    /// Takes one token from `account`'s bucket, which holds at most `burst` tokens and
    /// refills at `per_minute`. `Ok(None)`: taken, go. `Ok(Some(ms))`: empty, ask again
    /// in about that many milliseconds.
    fn take(
        &self,
        account: &str,
        per_minute: u32,
        burst: u32,
        now_ms: i64,
    ) -> anyhow::Result<Option<u64>>;
}
