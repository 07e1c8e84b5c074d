//! Prometheus metrics, served at `GET /metrics` in the text exposition format.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Labels of a notification counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NotificationLabels {
    /// Endpoint name, or `unknown`.
    pub endpoint: String,
    /// `accepted`, `coalesced`, `malformed`, `too_large`, `bad_signature`, `unavailable`.
    pub result: String,
}

/// Labels of a run counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RunLabels {
    /// Brand name.
    pub brand: String,
    /// `handled`, `handed_off`, `skipped`, `failed`, `retry`.
    pub outcome: String,
}

/// Labels of a per-brand metric.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BrandLabels {
    /// Brand name.
    pub brand: String,
}

/// Labels of a Zendesk call counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallLabels {
    /// Environment name.
    pub environment: String,
    /// Method and path template, e.g. `GET /api/v2/tickets/{id}/comments`.
    pub call: String,
    /// HTTP status, or `error` when there was no answer.
    pub status: String,
}

/// Labels of a reload counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReloadLabels {
    /// Brand name.
    pub brand: String,
    /// `ok` or `failed`.
    pub result: String,
}

/// Labels of a language-model call counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LlmLabels {
    /// Brand name.
    pub brand: String,
    /// `ok`, `timeout`, `rate_limited`, `unavailable` or `invalid`.
    pub result: String,
}

/// Labels of a reload the file watcher started.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WatchLabels {
    /// `config`, `plugin` or `knowledge`.
    pub kind: String,
}

/// Labels of a per-environment metric.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EnvironmentLabels {
    /// Environment name.
    pub environment: String,
}

/// Labels of a plugin's outbound HTTP call counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    /// Brand name.
    pub brand: String,
    /// The configured origin (`https://*.shop.example:443`), or `(not allowed)` /
    /// `(budget spent)`: never a host the plugin chose, so the label set stays bounded.
    pub origin: String,
    /// HTTP status, or `not_allowed`, `budget_spent`, `not_sent` (Listening Mode),
    /// `timeout`, `too_large`, `address_refused`, `error`.
    pub status: String,
}

/// The gateway's metrics.
pub struct Metrics {
    registry: Registry,
    /// Notifications received, per endpoint and result.
    pub notifications: Family<NotificationLabels, Counter>,
    /// Plugin runs, per brand and outcome.
    pub runs: Family<RunLabels, Counter>,
    /// Duration of handling a ticket, per brand.
    pub run_duration: Family<BrandLabels, Histogram>,
    /// Zendesk API calls, per environment, call and status.
    pub zendesk_calls: Family<CallLabels, Counter>,
    /// Tickets waiting or running in the inbox.
    pub inbox_depth: Gauge,
    /// Plugin reloads, per brand and result.
    pub reloads: Family<ReloadLabels, Counter>,
    /// Language-model completions, per brand and result.
    pub llm_calls: Family<LlmLabels, Counter>,
    /// Language-model tokens (prompt and answer), per brand.
    pub llm_tokens: Family<BrandLabels, Counter>,
    /// Tickets the catch-up sweep found owed a run without a notification (each one a
    /// notification Zendesk lost), per environment.
    pub sweep_found: Family<EnvironmentLabels, Counter>,
    /// Plugins' outbound HTTP calls, per brand, origin and status.
    pub http_calls: Family<HttpLabels, Counter>,
    /// Tickets that became dead letters (given up, hand-off not written).
    pub dead_letters: Counter,
    /// Failed attempts to record the end of a run (retried).
    pub bookkeeping_failures: Counter,
    /// Reloads the file watcher started, per kind (whether or not anything changed).
    pub watch_reloads: Family<WatchLabels, Counter>,
    /// Panics caught in a run (the ticket is retried, the worker lives on).
    pub run_panics: Counter,
    /// Workers that died (a panic outside a run); `/readyz` reports unready after one.
    pub worker_deaths: Counter,
    /// Notifications answered 200 without work because Zendesk's invocation id was
    /// seen already (a replay or a duplicate delivery).
    pub replays: Counter,
    /// Audit records pruned by the retention setting.
    pub audit_pruned: Counter,
    /// Tickets skipped because they belong to another Zendesk brand than the endpoint's.
    pub misrouted: Counter,
}

fn duration_histogram() -> Histogram {
    Histogram::new([
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    ])
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("zendesk_gateway");
        let notifications = Family::<NotificationLabels, Counter>::default();
        let runs = Family::<RunLabels, Counter>::default();
        let run_duration = Family::<BrandLabels, Histogram>::new_with_constructor(
            duration_histogram as fn() -> Histogram,
        );
        let zendesk_calls = Family::<CallLabels, Counter>::default();
        let inbox_depth = Gauge::default();
        let reloads = Family::<ReloadLabels, Counter>::default();
        let llm_calls = Family::<LlmLabels, Counter>::default();
        let llm_tokens = Family::<BrandLabels, Counter>::default();
        let sweep_found = Family::<EnvironmentLabels, Counter>::default();
        registry.register(
            "sweep_found",
            "Tickets the catch-up sweep enqueued because their notification never came, by environment",
            sweep_found.clone(),
        );
        let dead_letters = Counter::default();
        let http_calls = Family::<HttpLabels, Counter>::default();
        registry.register(
            "plugin_http_calls",
            "Plugins' outbound HTTP calls to the brands' own systems, by brand, origin and status",
            http_calls.clone(),
        );
        let bookkeeping_failures = Counter::default();
        registry.register(
            "dead_letters",
            "Tickets given up whose hand-off could not be written either (see /admin/dead-letters)",
            dead_letters.clone(),
        );
        registry.register(
            "bookkeeping_failures",
            "Failed attempts to record the end of a run in the database (each is retried)",
            bookkeeping_failures.clone(),
        );
        let watch_reloads = Family::<WatchLabels, Counter>::default();
        let run_panics = Counter::default();
        let worker_deaths = Counter::default();
        let replays = Counter::default();
        let audit_pruned = Counter::default();
        let misrouted = Counter::default();
        registry.register(
            "notifications",
            "Notifications received, by endpoint and result",
            notifications.clone(),
        );
        registry.register("runs", "Plugin runs, by brand and outcome", runs.clone());
        registry.register(
            "run_duration_seconds",
            "Time to handle a ticket, by brand",
            run_duration.clone(),
        );
        registry.register(
            "zendesk_calls",
            "Zendesk API calls, by environment, call and status",
            zendesk_calls.clone(),
        );
        registry.register(
            "inbox_depth",
            "Tickets waiting or running in the inbox",
            inbox_depth.clone(),
        );
        registry.register(
            "plugin_reloads",
            "Plugin reloads, by brand and result",
            reloads.clone(),
        );
        registry.register(
            "llm_calls",
            "Language-model completions, by brand and result",
            llm_calls.clone(),
        );
        registry.register(
            "llm_tokens",
            "Language-model tokens used (prompt and answer), by brand",
            llm_tokens.clone(),
        );
        registry.register(
            "watch_reloads",
            "Reloads started by the file watcher, by kind",
            watch_reloads.clone(),
        );
        registry.register(
            "run_panics",
            "Panics caught in a run (the ticket is retried)",
            run_panics.clone(),
        );
        registry.register(
            "worker_deaths",
            "Workers that died; the gateway is unready after one",
            worker_deaths.clone(),
        );
        registry.register(
            "replays",
            "Notifications answered without work: Zendesk invocation id already seen",
            replays.clone(),
        );
        registry.register(
            "audit_pruned",
            "Audit records pruned by gateway.audit_retention_days",
            audit_pruned.clone(),
        );
        registry.register(
            "misrouted_tickets",
            "Tickets skipped: of another Zendesk brand than their endpoint names",
            misrouted.clone(),
        );
        Metrics {
            registry,
            notifications,
            runs,
            run_duration,
            zendesk_calls,
            inbox_depth,
            reloads,
            llm_calls,
            llm_tokens,
            sweep_found,
            http_calls,
            dead_letters,
            bookkeeping_failures,
            watch_reloads,
            run_panics,
            worker_deaths,
            replays,
            audit_pruned,
            misrouted,
        }
    }
}

impl Metrics {
    /// The metrics in Prometheus' text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }

    /// Counts a notification.
    pub fn notification(&self, endpoint: &str, result: &str) {
        self.notifications
            .get_or_create(&NotificationLabels {
                endpoint: endpoint.to_string(),
                result: result.to_string(),
            })
            .inc();
    }

    /// Counts a reload the file watcher started.
    pub fn watch_reload(&self, kind: &str) {
        self.watch_reloads
            .get_or_create(&WatchLabels {
                kind: kind.to_string(),
            })
            .inc();
    }

    /// Counts a plugin's outbound HTTP call.
    pub fn http_call(&self, brand: &str, origin: &str, status: &str) {
        self.http_calls
            .get_or_create(&HttpLabels {
                brand: brand.to_string(),
                origin: origin.to_string(),
                status: status.to_string(),
            })
            .inc();
    }

    /// Counts a Zendesk call; `path` is turned into a template (ids become `{id}`).
    pub fn zendesk_call(&self, environment: &str, method: &str, path: &str, status: &str) {
        self.zendesk_calls
            .get_or_create(&CallLabels {
                environment: environment.to_string(),
                call: format!("{method} {}", path_template(path)),
                status: status.to_string(),
            })
            .inc();
    }
}

/// `/api/v2/tickets/12/comments?x` -> `/api/v2/tickets/{id}/comments`: bounded label values.
pub fn path_template(path: &str) -> String {
    let path = path.split('?').next().unwrap_or("");
    path.split('/')
        .map(|seg| {
            let bare = seg.strip_suffix(".json").unwrap_or(seg);
            if !bare.is_empty() && bare.chars().all(|c| c.is_ascii_digit()) {
                "{id}"
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_and_renders() {
        assert_eq!(
            path_template("/api/v2/tickets/12/comments?include=users"),
            "/api/v2/tickets/{id}/comments"
        );
        assert_eq!(path_template("/api/v2/users/me"), "/api/v2/users/me");
        let m = Metrics::default();
        m.notification("acme", "accepted");
        m.zendesk_call("prod", "GET", "/api/v2/tickets/5", "200");
        let text = m.render();
        assert!(
            text.contains(
                "zendesk_gateway_notifications_total{endpoint=\"acme\",result=\"accepted\"} 1"
            ),
            "{text}"
        );
        assert!(text.contains("call=\"GET /api/v2/tickets/{id}\""), "{text}");
    }
}
