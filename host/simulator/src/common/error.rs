//! The errors an API request can end in, before they are rendered with Zendesk's
//! status, body and headers (`api::reply::reply_for_error`).

/// An API error, rendered by `api::reply::reply_for_error` with Zendesk's status and body.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ApiError {
    /// 400 with an error code and description.
    BadRequest(&'static str, String),
    /// 401 `Couldn't authenticate you`.
    Unauthorized,
    /// 403 Forbidden (e.g. the seat is not in the ticket's group).
    Forbidden,
    /// 404 RecordNotFound.
    NotFound,
    /// 404 for a path Zendesk does not serve.
    InvalidEndpoint,
    /// 409 UpdateConflict (safe update saw a newer ticket).
    Conflict,
    /// 422 RecordInvalid with `(field, description)` details.
    Invalid(Vec<(String, String)>),
    /// 429 from the per-minute quota.
    TooManyRequests { retry_after: u64 },
    /// An injected fault; `retry_after_raw` is sent as given, in place of
    /// `retry_after`.
    Injected {
        status: u16,
        retry_after: Option<u32>,
        retry_after_raw: Option<String>,
    },
    /// 400 from the webhooks API, which answers with a JSON:API-style `errors` list.
    WebhookInvalid(String),
}
