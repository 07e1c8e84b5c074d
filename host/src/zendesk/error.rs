//! Zendesk's errors, typed. Every error carries the call it came from, so a log line
//! alone says what failed.

use std::time::Duration;

/// The kind of failure, mapped from Zendesk's HTTP status codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZendeskErrorKind {
    /// 401: the API token or email is wrong.
    Unauthorized,
    /// 403: the seat may not see or change this (for example, not in the ticket's group).
    Forbidden,
    /// 404: no such record.
    NotFound,
    /// 409: safe update refused, or a database collision.
    Conflict,
    /// 422: validation failed (a required field, a closed ticket...).
    Invalid,
    /// 429: quota exhausted.
    RateLimited,
    /// 5xx, timeouts, connection failures.
    Unavailable,
    /// Anything else (other 4xx, an answer that is not the documented JSON).
    Unexpected,
}

/// A failed Zendesk call.
#[derive(Debug, Clone, thiserror::Error)]
#[error("Zendesk {call} failed ({status}): {message}")]
pub struct ZendeskError {
    /// What failed.
    pub kind: ZendeskErrorKind,
    /// The call, e.g. `GET /api/v2/tickets/12`.
    pub call: String,
    /// HTTP status, or `no answer`.
    pub status: String,
    /// Zendesk's own words (error and description), or the transport error.
    pub message: String,
    /// Per-field validation errors of a 422: (field, description).
    pub details: Vec<(String, String)>,
    /// How long Zendesk asked us to wait (429 and some 503).
    pub retry_after: Option<Duration>,
}

impl ZendeskError {
    /// True for failures that may go away by themselves (quota, outages): the ticket
    /// should stay in the inbox and be tried again later.
    pub fn is_transient(&self) -> bool {
        matches!(
            self.kind,
            ZendeskErrorKind::RateLimited | ZendeskErrorKind::Unavailable
        )
    }

    /// Builds the error for an HTTP answer with a non-success status.
    pub fn from_response(
        call: String,
        status: u16,
        body: &str,
        retry_after: Option<Duration>,
    ) -> Self {
        let kind = match status {
            401 => ZendeskErrorKind::Unauthorized,
            403 => ZendeskErrorKind::Forbidden,
            404 => ZendeskErrorKind::NotFound,
            409 => ZendeskErrorKind::Conflict,
            422 => ZendeskErrorKind::Invalid,
            429 => ZendeskErrorKind::RateLimited,
            500..=599 => ZendeskErrorKind::Unavailable,
            _ => ZendeskErrorKind::Unexpected,
        };
        let (message, details) = parse_error_body(body);
        // Zendesk's 409 also covers a collision inside its database, which is no
        // human edit: nothing was applied, and trying again shortly is the remedy.
        let kind = if status == 409 && message == "DatabaseConflict" {
            ZendeskErrorKind::Unavailable
        } else {
            kind
        };
        ZendeskError {
            kind,
            call,
            status: status.to_string(),
            message,
            details,
            retry_after,
        }
    }

    /// Whether Zendesk certainly did not apply the request: it said so (429, 503, a
    /// database collision). After any other failure (no answer, 500, 502, 504) a write
    /// may have landed, so it must not be sent again blindly.
    pub fn certainly_not_applied(&self) -> bool {
        self.kind == ZendeskErrorKind::RateLimited
            || self.status == "503"
            || (self.status == "409" && self.message == "DatabaseConflict")
    }

    /// Builds the error for a call that got no usable answer.
    pub fn transport(call: String, err: reqwest::Error) -> Self {
        ZendeskError {
            kind: ZendeskErrorKind::Unavailable,
            call,
            status: "no answer".into(),
            message: if err.is_timeout() {
                "timed out".into()
            } else {
                // Without the URL: it is already in `call`, and may carry a host name.
                err.without_url().to_string()
            },
            details: Vec::new(),
            retry_after: None,
        }
    }
}

/// Reads Zendesk's error JSON (`{"error", "description", "details"}`), falling back to
/// the raw text, since errors can also come back as `text/plain`.
fn parse_error_body(body: &str) -> (String, Vec<(String, String)>) {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(body) else {
        let text = body.trim();
        let text: String = text.chars().take(300).collect();
        return (
            if text.is_empty() {
                "no details".into()
            } else {
                text
            },
            Vec::new(),
        );
    };
    let error = match &v["error"] {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Object(o) => o
            .get("title")
            .and_then(|t| t.as_str())
            .unwrap_or("error")
            .to_string(),
        _ => String::new(),
    };
    let mut description = v["description"].as_str().unwrap_or("").to_string();
    // Newer APIs (webhooks) answer JSON:API-style: {"errors": [{"title", "detail"}]}.
    if let Some(list) = v["errors"].as_array() {
        let parts: Vec<String> = list
            .iter()
            .map(|e| {
                let title = e["title"].as_str().or(e["code"].as_str()).unwrap_or("");
                match e["detail"].as_str() {
                    Some(d) if !title.is_empty() => format!("{title}: {d}"),
                    Some(d) => d.to_string(),
                    None => title.to_string(),
                }
            })
            .filter(|p| !p.is_empty())
            .collect();
        if description.is_empty() {
            description = parts.join("; ");
        }
    }
    let mut details = Vec::new();
    if let Some(map) = v["details"].as_object() {
        for (field, list) in map {
            for item in list.as_array().into_iter().flatten() {
                let d = item["description"]
                    .as_str()
                    .unwrap_or("invalid")
                    .to_string();
                details.push((field.clone(), d));
            }
        }
    }
    let message = match (error.is_empty(), description.is_empty()) {
        (false, false) => format!("{error}: {description}"),
        (false, true) => error,
        (true, false) => description,
        (true, true) => body.chars().take(300).collect(),
    };
    (message, details)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_record_invalid_details() {
        let body = r#"{"error":"RecordInvalid","description":"Record validation errors","details":{"base":[{"description":"Reason is required","error":"InvalidValue"}]}}"#;
        let e = ZendeskError::from_response("PUT /api/v2/tickets/1".into(), 422, body, None);
        assert_eq!(e.kind, ZendeskErrorKind::Invalid);
        assert_eq!(
            e.details,
            vec![("base".into(), "Reason is required".into())]
        );
        assert!(e
            .to_string()
            .contains("PUT /api/v2/tickets/1 failed (422): RecordInvalid"));
    }

    #[test]
    fn plain_text_errors_are_kept() {
        let e = ZendeskError::from_response("GET x".into(), 503, "Service down", None);
        assert_eq!(e.message, "Service down");
        assert!(e.is_transient());
    }
}
