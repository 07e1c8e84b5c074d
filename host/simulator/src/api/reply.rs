//! Answers as Zendesk writes them: [`Reply`], assembled under the lock and turned into
//! HTTP after it, and the status, body and headers of every [`ApiError`].

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};

use crate::common::ApiError;

/// A response assembled under the lock and turned into HTTP after it.
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) body: ReplyBody,
    pub(crate) headers: Vec<(&'static str, String)>,
}

/// The body of a [`Reply`].
pub(crate) enum ReplyBody {
    /// JSON.
    Json(Value),
    /// Plain text (Zendesk's edge answers some errors so).
    Text(&'static str),
    /// 204 No Content.
    Empty,
}

impl Reply {
    /// A JSON answer.
    pub(crate) fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            body: ReplyBody::Json(body),
            headers: Vec::new(),
        }
    }

    /// The HTTP response, with `X-Zendesk-API-Version` and the collected headers.
    pub(crate) fn into_response(self) -> Response {
        let (content_type, bytes) = match self.body {
            ReplyBody::Json(v) => (Some("application/json; charset=utf-8"), v.to_string()),
            ReplyBody::Text(t) => (Some("text/plain; charset=utf-8"), t.to_string()),
            ReplyBody::Empty => (None, String::new()),
        };
        let mut resp = Response::new(Body::from(bytes));
        *resp.status_mut() =
            StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let h = resp.headers_mut();
        if let Some(ct) = content_type {
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
        }
        h.insert("x-zendesk-api-version", HeaderValue::from_static("v2"));
        for (name, value) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&value) {
                h.insert(name, v);
            }
        }
        resp
    }
}

/// The status and body Zendesk answers for an error.
pub(crate) fn reply_for_error(e: ApiError) -> Reply {
    match e {
        ApiError::BadRequest(code, description) => {
            Reply::json(400, json!({"error": code, "description": description}))
        }
        ApiError::Unauthorized => unauthorized(),
        ApiError::Forbidden => Reply::json(403, forbidden_body()),
        ApiError::NotFound => Reply::json(
            404,
            json!({"error": "RecordNotFound", "description": "Not found"}),
        ),
        ApiError::InvalidEndpoint => Reply::json(
            404,
            json!({"error": "InvalidEndpoint", "description": "Not found"}),
        ),
        ApiError::Conflict => Reply::json(409, conflict_body()),
        ApiError::Invalid(details) => {
            let mut map = serde_json::Map::new();
            for (field, msg) in details {
                let entry = map.entry(field).or_insert_with(|| json!([]));
                if let Some(list) = entry.as_array_mut() {
                    list.push(json!({"description": msg, "error": "InvalidValue"}));
                }
            }
            Reply::json(
                422,
                json!({
                    "error": "RecordInvalid",
                    "description": "Record validation errors",
                    "details": map,
                }),
            )
        }
        ApiError::TooManyRequests { retry_after } => too_many(retry_after.to_string()),
        // The webhooks API is a newer service with JSON:API-style errors (assumed from
        // Zendesk's webhooks reference; the notes do not cover it).
        ApiError::WebhookInvalid(detail) => Reply::json(
            400,
            json!({"errors": [{"code": "InvalidValue", "title": "Invalid webhook", "detail": detail}]}),
        ),
        ApiError::Injected {
            status,
            retry_after,
            retry_after_raw,
        } => injected(
            status,
            retry_after_raw.or(retry_after.map(|s| s.to_string())),
        ),
    }
}

/// What an injected fault answers: Zendesk's body for the status, and `Retry-After`
/// (exactly as given) when the fault gives one; a 429 always has one.
fn injected(status: u16, retry_after: Option<String>) -> Reply {
    let mut reply = match status {
        // Retry-After is what a client needs from a 429; Zendesk's body for
        // it is short plain text, which also exercises non-JSON errors.
        429 => too_many(retry_after.clone().unwrap_or_else(|| "1".to_string())),
        401 => unauthorized(),
        403 => Reply::json(403, forbidden_body()),
        404 => reply_for_error(ApiError::NotFound),
        409 => Reply::json(409, conflict_body()),
        422 => Reply::json(
            422,
            json!({
                "error": "RecordInvalid",
                "description": "Record validation errors",
                "details": {"base": [{
                    "description": "Injected validation failure (simulator fault)",
                    "error": "InvalidValue",
                }]},
            }),
        ),
        500 => Reply::json(
            500,
            json!({"error": "InternalServerError", "description": "Something went wrong"}),
        ),
        503 => Reply::json(503, json!({"error": "ServiceUnavailable"})),
        // Gateway errors come from Zendesk's edge as plain text.
        502 => Reply {
            status,
            body: ReplyBody::Text("Bad Gateway"),
            headers: Vec::new(),
        },
        504 => Reply {
            status,
            body: ReplyBody::Text("Gateway Timeout"),
            headers: Vec::new(),
        },
        s => {
            let reason = StatusCode::from_u16(s)
                .ok()
                .and_then(|c| c.canonical_reason())
                .unwrap_or("Error");
            Reply::json(s, json!({"error": reason}))
        }
    };
    if status != 429 {
        if let Some(value) = retry_after {
            reply.headers.push(("retry-after", value));
        }
    }
    reply
}

/// 401 with `WWW-Authenticate`, as Zendesk answers bad credentials.
fn unauthorized() -> Reply {
    Reply {
        status: 401,
        body: ReplyBody::Json(json!({"error": "Couldn't authenticate you"})),
        headers: vec![(
            "www-authenticate",
            "Basic realm=\"Web Password\"".to_string(),
        )],
    }
}

fn forbidden_body() -> Value {
    json!({
        "error": "Forbidden",
        "description": "You do not have access to this page. Please contact the account owner of this help desk for further help.",
    })
}

fn conflict_body() -> Value {
    json!({
        "error": "UpdateConflict",
        "description": "Safe Update prevented the update due to outdated ticket data. Please fetch the latest ticket data and try again.",
    })
}

fn too_many(retry_after: String) -> Reply {
    Reply {
        status: 429,
        body: ReplyBody::Text("Too Many Requests"),
        headers: vec![("retry-after", retry_after)],
    }
}
