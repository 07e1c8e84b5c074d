//! Quarantine: a plugin version that fails run after run is not run again; its tickets go
//! to humans until a new version is loaded. The one place that counts failures and
//! decides whether a version is quarantined (the handling and `/admin/plugins` both ask
//! here).

use crate::config::Brand;
use std::collections::HashMap;
use std::sync::Mutex;

/// Consecutive failed runs per brand, with the plugin version they happened on.
#[derive(Default)]
pub struct Quarantine {
    failures: Mutex<HashMap<String, (String, u32)>>,
}

impl Quarantine {
    /// Counts a run's result; returns the failures in a row of this brand's `version`.
    /// Logs once when the count reaches the brand's `quarantine_after`.
    pub fn count_run(&self, brand: &Brand, version: &str, failed: bool) -> u32 {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let entry = failures
            .entry(brand.name.clone())
            .or_insert_with(|| (version.to_string(), 0));
        if entry.0 != version {
            *entry = (version.to_string(), 0);
        }
        entry.1 = if failed { entry.1 + 1 } else { 0 };
        let after = brand.limits.quarantine_after;
        if after > 0 && entry.1 == after {
            tracing::error!(brand = %brand.name, plugin_version = %version, failures = entry.1,
                "plugin quarantined: its tickets go to humans until a new version is loaded");
        }
        entry.1
    }

    /// Failed runs in a row of `version` of `brand`.
    pub fn failures_in_a_row(&self, brand: &str, version: &str) -> u32 {
        let failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        match failures.get(brand) {
            Some((v, n)) if v == version => *n,
            _ => 0,
        }
    }

    /// Why `version` of `brand` is quarantined, or `None` when it may run.
    pub fn holds(&self, brand: &Brand, version: &str) -> Option<String> {
        let after = brand.limits.quarantine_after;
        let in_a_row = self.failures_in_a_row(&brand.name, version);
        (after > 0 && in_a_row >= after).then(|| {
            format!(
                "the {} plugin (version {version}) is quarantined after {in_a_row} failed runs in a row",
                brand.name
            )
        })
    }
}
