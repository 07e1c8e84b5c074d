//! Times and JSON values as Zendesk writes and reads them.

use chrono::{DateTime, SubsecRound, Utc};
use serde_json::{json, Value};

/// A time as Zendesk writes it: ISO-8601 in UTC, whole seconds.
pub(crate) fn fmt_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Now, to the second (Zendesk's stamps have no fractions).
pub(crate) fn now_secs() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(0)
}

/// Reads an id the way Rails would accept it: a JSON number or a numeric string.
pub(crate) fn as_id(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The value as Zendesk's audit events write it: ids and numbers become strings.
pub(crate) fn audit_value(v: &Value) -> Value {
    match v {
        Value::Number(n) => Value::String(n.to_string()),
        other => other.clone(),
    }
}

/// Whether a custom field value counts as empty (null, blank text, empty list).
pub(crate) fn is_empty_value(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// A condition or action value as Zendesk stores it: numbers and booleans become strings
/// (Zendesk answers `"value": "296220096"` whatever was sent).
pub(crate) fn stored_value(v: &Value) -> Value {
    match v {
        Value::Number(n) => Value::String(n.to_string()),
        Value::Bool(b) => Value::String(b.to_string()),
        Value::Array(items) => Value::Array(items.iter().map(stored_value).collect()),
        other => other.clone(),
    }
}

/// A value as text: strings as they are, null as empty, anything else as JSON.
pub(crate) fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Text made safe for HTML, newlines as `<br>` (a comment's `html_body`).
pub(crate) fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' => out.push_str("<br>"),
            c => out.push(c),
        }
    }
    out
}

/// A `via` object for a channel (`web`, `email`, `api`).
pub(crate) fn via(channel: &str) -> Value {
    json!({"channel": channel, "source": {"from": {}, "to": {}, "rel": null}})
}
