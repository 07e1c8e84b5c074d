//! Calling the brand's own systems (an order API, a CRM) over the standard
//! `wasi:http/outgoing-handler`, which the gateway provides with its policy: only the
//! origins of `[brands.NAME.http]` are reachable, the gateway adds the credentials (a
//! plugin never sees them), and in Listening Mode only GET and HEAD are sent.
//!
//! This is a small blocking client on the `wasip2` bindings; any wasi:http client
//! (`wstd`, `waki`, the bindings themselves) works the same way.
//!
//! ```ignore
//! use gateway_plugin_sdk::http;
//!
//! match http::get("https://api.shop.example/orders/4411") {
//!     Ok(r) if r.status == 200 => { /* r.json() ... */ }
//!     Ok(r) if r.status == 404 => { /* no such order */ }
//!     Err(http::HttpError::ListeningMode(_)) => { /* not sent: say what would happen */ }
//!     Err(e) => { /* e.to_string() */ }
//!     Ok(_) => {}
//! }
//! ```

use wasip2::http::outgoing_handler;
use wasip2::http::types::{ErrorCode, Fields, Method, OutgoingBody, OutgoingRequest, Scheme};

/// An answer, read whole (the gateway caps its size).
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// The HTTP status.
    pub status: u16,
    /// The headers, names lowercase.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The first header of that name (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Why a request got no answer; the variants a plugin acts on are the gateway's policy.
#[derive(Debug, Clone, PartialEq)]
pub enum HttpError {
    /// The origin is not in the brand's `[brands.NAME.http]` (or the URL is unusable).
    NotAllowed,
    /// The name resolved to an address the origin does not allow (loopback, private).
    AddressRefused,
    /// The brand's API did not answer within the gateway's timeout.
    Timeout,
    /// The answer (or the request body) was over the gateway's size cap.
    TooLarge,
    /// The run's request budget is spent.
    BudgetSpent,
    /// Listening Mode: a request that changes something was not sent.
    ListeningMode(String),
    /// Anything else, in words.
    Failed(String),
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HttpError::NotAllowed => f.write_str("the origin is not allowed for this brand"),
            HttpError::AddressRefused => f.write_str("the host resolves to a refused address"),
            HttpError::Timeout => f.write_str("the request timed out"),
            HttpError::TooLarge => f.write_str("the answer was too large"),
            HttpError::BudgetSpent => f.write_str("this run's request budget is spent"),
            HttpError::ListeningMode(m) => write!(f, "not sent (Listening Mode): {m}"),
            HttpError::Failed(m) => write!(f, "the request failed: {m}"),
        }
    }
}

impl From<ErrorCode> for HttpError {
    fn from(e: ErrorCode) -> Self {
        match e {
            ErrorCode::HttpRequestDenied => HttpError::NotAllowed,
            ErrorCode::DestinationIpProhibited => HttpError::AddressRefused,
            ErrorCode::ConnectionTimeout
            | ErrorCode::ConnectionReadTimeout
            | ErrorCode::ConnectionWriteTimeout
            | ErrorCode::HttpResponseTimeout => HttpError::Timeout,
            ErrorCode::HttpResponseBodySize(_) | ErrorCode::HttpRequestBodySize(_) => {
                HttpError::TooLarge
            }
            ErrorCode::ConnectionLimitReached => HttpError::BudgetSpent,
            ErrorCode::InternalError(Some(m)) if m.starts_with("listening-mode") => {
                HttpError::ListeningMode(m)
            }
            other => HttpError::Failed(format!("{other:?}")),
        }
    }
}

/// `GET url`.
pub fn get(url: &str) -> Result<Response, HttpError> {
    send("GET", url, &[], None)
}

/// `POST url` with a JSON body.
pub fn post_json(url: &str, json: &str) -> Result<Response, HttpError> {
    send(
        "POST",
        url,
        &[("content-type", "application/json")],
        Some(json.as_bytes()),
    )
}

/// Sends `method url` with `headers` and an optional body, and reads the answer whole.
pub fn send(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Result<Response, HttpError> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| HttpError::Failed(format!("{url:?} is not an absolute URL")))?;
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let path = if path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_string()
    };
    let fields = Fields::new();
    for (name, value) in headers {
        fields
            .append(name, value.as_bytes())
            .map_err(|e| HttpError::Failed(format!("header {name}: {e:?}")))?;
    }
    let request = OutgoingRequest::new(fields);
    let method = match method.to_ascii_uppercase().as_str() {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        "PATCH" => Method::Patch,
        "OPTIONS" => Method::Options,
        other => Method::Other(other.to_string()),
    };
    let bad = |what: &str| HttpError::Failed(format!("invalid {what} in {url:?}"));
    request.set_method(&method).map_err(|_| bad("method"))?;
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "https" => Scheme::Https,
        "http" => Scheme::Http,
        other => Scheme::Other(other.to_string()),
    };
    request
        .set_scheme(Some(&scheme))
        .map_err(|_| bad("scheme"))?;
    request
        .set_authority(Some(authority))
        .map_err(|_| bad("host"))?;
    request
        .set_path_with_query(Some(&path))
        .map_err(|_| bad("path"))?;
    let outgoing = request.body().map_err(|_| bad("body"))?;
    if let Some(bytes) = body {
        let stream = outgoing.write().map_err(|_| bad("body"))?;
        // At most 4096 bytes per blocking write, as wasi:io asks.
        for chunk in bytes.chunks(4096) {
            stream
                .blocking_write_and_flush(chunk)
                .map_err(|e| HttpError::Failed(format!("writing the body: {e:?}")))?;
        }
        drop(stream);
    }
    let pending = outgoing_handler::handle(request, None)?;
    OutgoingBody::finish(outgoing, None)?;
    let response = loop {
        match pending.get() {
            Some(ready) => {
                break ready.map_err(|_| HttpError::Failed("answer already taken".into()))??
            }
            None => pending.subscribe().block(),
        }
    };
    let status = response.status();
    let headers = response
        .headers()
        .entries()
        .into_iter()
        .map(|(k, v)| {
            (
                k.to_ascii_lowercase(),
                String::from_utf8_lossy(&v).into_owned(),
            )
        })
        .collect();
    let incoming = response
        .consume()
        .map_err(|_| HttpError::Failed("no body".into()))?;
    let stream = incoming
        .stream()
        .map_err(|_| HttpError::Failed("no body stream".into()))?;
    let mut body = Vec::new();
    loop {
        match stream.blocking_read(64 * 1024) {
            Ok(chunk) => body.extend_from_slice(&chunk),
            Err(wasip2::io::streams::StreamError::Closed) => break,
            Err(e) => return Err(HttpError::Failed(format!("reading the answer: {e:?}"))),
        }
    }
    drop(stream);
    Ok(Response {
        status,
        headers,
        body,
    })
}
