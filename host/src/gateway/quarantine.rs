//! Quarantine: a plugin version that fails run after run is not run again; its tickets go
//! to humans. The one place that counts failures and decides whether a version is
//! quarantined (the handling and `/admin/plugins` both ask here).
//!
//! Only the plugin's own faults count (a trap, a compute timeout, running out of memory,
//! an error it returns of its own accord); the handling decides which those are. A
//! quarantine ends when a new version is loaded (the count is per version), when an
//! operator releases it (`POST /admin/plugins/{brand}/release`), or by itself: after
//! `quarantine_probe_secs` one ticket is let through as a probe (half-open), and a
//! success ends the quarantine while a failure starts the wait again.

use crate::config::Brand;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// A brand's failures in a row on one plugin version.
#[derive(Debug, Clone)]
struct Count {
    version: String,
    in_a_row: u32,
    /// When the last failure happened (the probe timer of a quarantine starts there).
    last_failure: Option<Instant>,
}

/// Consecutive failed runs per brand, with the plugin version they happened on.
#[derive(Default)]
pub struct Quarantine {
    counts: Mutex<HashMap<String, Count>>,
}

impl Quarantine {
    fn counts(&self) -> std::sync::MutexGuard<'_, HashMap<String, Count>> {
        self.counts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts a run's result; returns the failures in a row of this brand's `version`.
    /// Logs once when the count reaches the brand's `quarantine_after`.
    pub fn count_run(&self, brand: &Brand, version: &str, failed: bool) -> u32 {
        let mut counts = self.counts();
        let entry = counts.entry(brand.name.clone()).or_insert_with(|| Count {
            version: version.to_string(),
            in_a_row: 0,
            last_failure: None,
        });
        if entry.version != version {
            *entry = Count {
                version: version.to_string(),
                in_a_row: 0,
                last_failure: None,
            };
        }
        if failed {
            entry.in_a_row += 1;
            entry.last_failure = Some(Instant::now());
        } else {
            if entry.in_a_row >= brand.limits.quarantine_after && brand.limits.quarantine_after > 0
            {
                tracing::info!(brand = %brand.name, plugin_version = %version,
                    "a probe run succeeded: the plugin is out of quarantine");
            }
            entry.in_a_row = 0;
            entry.last_failure = None;
        }
        let after = brand.limits.quarantine_after;
        if after > 0 && failed && entry.in_a_row == after {
            tracing::error!(brand = %brand.name, plugin_version = %version, failures = entry.in_a_row,
                "plugin quarantined: its tickets go to humans until a new version is loaded, \
                 an operator releases it, or a probe run succeeds");
        }
        entry.in_a_row
    }

    /// Failed runs in a row of `version` of `brand`.
    pub fn failures_in_a_row(&self, brand: &str, version: &str) -> u32 {
        match self.counts().get(brand) {
            Some(c) if c.version == version => c.in_a_row,
            _ => 0,
        }
    }

    /// Whether `version` of `brand` is quarantined now (without taking a probe).
    pub fn is_quarantined(&self, brand: &Brand, version: &str) -> bool {
        let after = brand.limits.quarantine_after;
        after > 0 && self.failures_in_a_row(&brand.name, version) >= after
    }

    /// Why a run of `version` of `brand` may not start, or `None` when it may. When the
    /// probe time has come, this run is the probe: the timer restarts, so the next
    /// tickets stay quarantined until the probe's result is counted.
    pub fn holds(&self, brand: &Brand, version: &str) -> Option<String> {
        let after = brand.limits.quarantine_after;
        let mut counts = self.counts();
        let c = counts
            .get_mut(&brand.name)
            .filter(|c| c.version == version)?;
        if after == 0 || c.in_a_row < after {
            return None;
        }
        let probe_after = std::time::Duration::from_secs(brand.limits.quarantine_probe_secs);
        if c.last_failure.is_none_or(|t| t.elapsed() >= probe_after) {
            c.last_failure = Some(Instant::now());
            tracing::info!(brand = %brand.name, plugin_version = %version,
                "quarantined plugin: letting one ticket through as a probe");
            return None;
        }
        Some(format!(
            "the {} plugin (version {version}) is quarantined after {} failed runs in a row",
            brand.name, c.in_a_row
        ))
    }

    /// Ends a quarantine by an operator's word; returns whether there was one.
    pub fn release(&self, brand: &Brand) -> bool {
        let mut counts = self.counts();
        let was = counts.get(&brand.name).is_some_and(|c| {
            brand.limits.quarantine_after > 0 && c.in_a_row >= brand.limits.quarantine_after
        });
        counts.remove(&brand.name);
        if was {
            tracing::warn!(brand = %brand.name, "quarantine released by an operator");
        }
        was
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brand(probe_secs: u64) -> Brand {
        let mut config = crate::config::Config::parse(
            r#"
            [environments.prod]
            base_url = "http://127.0.0.1:1"
            email = "ai@example.com"
            api_token_env = "T"
            [brands.b]
            plugin = "p.wasm"
            mode = "live"
            [endpoints.b]
            brand = "b"
            environment = "prod"
            token = "abcdefghijklmnopqrstuvwxyz012345"
            "#,
            std::path::Path::new("/tmp/gateway.toml"),
            &|_| Some("t".to_string()),
        )
        .unwrap();
        let mut b = config.brands.remove("b").unwrap();
        b.limits.quarantine_after = 2;
        b.limits.quarantine_probe_secs = probe_secs;
        b
    }

    #[test]
    fn quarantine_by_count_ends_by_probe_release_or_new_version() {
        let b = brand(3600);
        q_fail_twice(&Quarantine::default(), &b);
        let q = Quarantine::default();
        q_fail_twice(&q, &b);
        assert!(q.holds(&b, "v1").is_some());
        assert!(
            q.holds(&b, "v2").is_none(),
            "a new version is not quarantined"
        );
        assert!(q.release(&b));
        assert!(q.holds(&b, "v1").is_none());
        // Half-open: with no wait, the next run is a probe; its failure quarantines
        // again, its success ends it.
        let b = brand(0);
        let q = Quarantine::default();
        q_fail_twice(&q, &b);
        assert!(q.holds(&b, "v1").is_none(), "probe let through");
        q.count_run(&b, "v1", false);
        assert!(!q.is_quarantined(&b, "v1"));
    }

    fn q_fail_twice(q: &Quarantine, b: &Brand) {
        q.count_run(b, "v1", true);
        assert!(q.holds(b, "v1").is_none());
        q.count_run(b, "v1", true);
        assert!(q.is_quarantined(b, "v1"));
    }
}
