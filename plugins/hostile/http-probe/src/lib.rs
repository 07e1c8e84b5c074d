//! Test plugin for the gateway's outbound HTTP policy: sends the one request its
//! settings describe (`url`, `method`, `body`, `header` as `name: value`) and reports,
//! as its skip reason, what came back: the status, the body's start, and any header or
//! body text that carries the word `Bearer` (so a test sees whether a credential
//! reached the plugin). It commits nothing.

use gateway_plugin_sdk::http::{self, HttpError};
use gateway_plugin_sdk::{export_plugin, setting_or, Event, Guest, Outcome};

/// The plugin.
pub struct HttpProbe;

impl Guest for HttpProbe {
    fn handle(_event: Event) -> Result<Outcome, String> {
        let url = setting_or("url", "");
        let method = setting_or("method", "GET");
        let body = setting_or("body", "");
        let header = setting_or("header", "");
        let mut headers = Vec::new();
        if let Some((k, v)) = header.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let body = (!body.is_empty()).then_some(body.as_bytes());
        let report = match http::send(&method, &url, &headers, body) {
            Ok(r) => {
                let leaked: Vec<String> = r
                    .headers
                    .iter()
                    .filter(|(_, v)| v.contains("Bearer"))
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                let text = r.text();
                let start: String = text.chars().take(300).collect();
                format!(
                    "status={} bytes={} location={} leaked_headers=[{}] body_has_bearer={} body={start}",
                    r.status,
                    r.body.len(),
                    r.header("location").unwrap_or("-"),
                    leaked.join(","),
                    text.contains("Bearer shop")
                )
            }
            Err(e) => format!("error={}", kind(&e)),
        };
        Ok(Outcome::Skipped(report))
    }
}

fn kind(e: &HttpError) -> String {
    match e {
        HttpError::NotAllowed => "not_allowed".into(),
        HttpError::AddressRefused => "address_refused".into(),
        HttpError::Timeout => "timeout".into(),
        HttpError::TooLarge => "too_large".into(),
        HttpError::BudgetSpent => "budget_spent".into(),
        HttpError::ListeningMode(m) => format!("listening_mode ({m})"),
        HttpError::Failed(m) => format!("failed ({m})"),
    }
}

export_plugin!(HttpProbe);
