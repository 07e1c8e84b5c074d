//! The hook the client consults before every request: a [`QuotaBackend`] says when the
//! next request may go. One machine uses [`LocalQuota`] (a governor limiter, exact for
//! one process); a fleet of replicas uses [`FleetQuota`], the account's token bucket in
//! the shared database, so the requests per minute hold for the fleet together.

use crate::store::quota::SharedQuota;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

/// Decides when the client's next request may be sent.
#[async_trait::async_trait]
pub trait QuotaBackend: Send + Sync {
    /// Waits until one more request fits the quota, and counts it.
    async fn until_ready(&self);
}

/// The burst allowed on top of the steady rate: a tenth of the minute's quota, smooth
/// but not one-at-a-time.
pub fn burst_of(per_minute: u32) -> u32 {
    (per_minute / 10).max(1)
}

/// The key of an account's ticket-update bucket in the shared database: Zendesk limits
/// `PUT /api/v2/tickets/{id}` per account on top of the general requests per minute, so
/// it gets a bucket of its own next to the account's (`base_url`).
pub fn ticket_updates_account(base_url: &str) -> String {
    format!("{base_url} ticket-updates")
}

/// This process's own limiter.
pub struct LocalQuota {
    limiter: DefaultDirectRateLimiter,
}

impl LocalQuota {
    /// `per_minute` requests a minute, with [`burst_of`] at once.
    pub fn per_minute(per_minute: u32) -> LocalQuota {
        let rpm = NonZeroU32::new(per_minute.max(1)).expect("max(1) is non-zero");
        let burst = NonZeroU32::new(burst_of(per_minute)).expect("non-zero");
        LocalQuota {
            limiter: RateLimiter::direct(Quota::per_minute(rpm).allow_burst(burst)),
        }
    }
}

#[async_trait::async_trait]
impl QuotaBackend for LocalQuota {
    async fn until_ready(&self) {
        self.limiter.until_ready().await;
    }
}

/// The Zendesk account's token bucket in the shared database. While the database cannot
/// be reached, requests fall back to a local limiter at this replica's share of the
/// quota (the quota divided by the replicas alive at start), so a database outage
/// neither stops Zendesk calls nor lets the fleet exceed the account's quota.
pub struct FleetQuota {
    shared: Arc<dyn SharedQuota>,
    account: String,
    per_minute: u32,
    fallback: LocalQuota,
    /// When the last fallback was logged (ms since the epoch), so an outage logs once
    /// a minute, not once a request.
    logged_at: std::sync::atomic::AtomicI64,
}

impl FleetQuota {
    /// The bucket of `account` (the Zendesk base URL: environments that point at one
    /// account share it) at `per_minute`, for a fleet of about `replicas`.
    pub fn new(
        shared: Arc<dyn SharedQuota>,
        account: &str,
        per_minute: u32,
        replicas: usize,
    ) -> FleetQuota {
        FleetQuota {
            shared,
            account: account.to_string(),
            per_minute,
            fallback: LocalQuota::per_minute(per_minute / replicas.max(1) as u32),
            logged_at: Default::default(),
        }
    }
}

/// Longest single sleep before asking the bucket again: the fleet's other takers may
/// leave tokens sooner than the estimate says, never later.
const MAX_SLEEP: Duration = Duration::from_secs(1);

#[async_trait::async_trait]
impl QuotaBackend for FleetQuota {
    async fn until_ready(&self) {
        loop {
            let shared = self.shared.clone();
            let account = self.account.clone();
            let rpm = self.per_minute;
            let now = chrono::Utc::now().timestamp_millis();
            let taken =
                tokio::task::spawn_blocking(move || shared.take(&account, rpm, burst_of(rpm), now))
                    .await;
            match taken {
                Ok(Ok(None)) => return,
                Ok(Ok(Some(wait_ms))) => {
                    tokio::time::sleep(Duration::from_millis(wait_ms).min(MAX_SLEEP)).await;
                }
                Ok(Err(e)) => {
                    let last = self.logged_at.load(std::sync::atomic::Ordering::Relaxed);
                    if now - last > 60_000 {
                        self.logged_at
                            .store(now, std::sync::atomic::Ordering::Relaxed);
                        tracing::warn!(account = %self.account, error = %format!("{e:#}"),
                            "cannot reach the shared Zendesk quota; using this replica's share locally");
                    }
                    self.fallback.until_ready().await;
                    return;
                }
                Err(_) => {
                    self.fallback.until_ready().await;
                    return;
                }
            }
        }
    }
}
