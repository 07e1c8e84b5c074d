//! Outbound HTTP for plugins: the standard `wasi:http/outgoing-handler` (wasmtime's
//! `wasmtime-wasi-http`), with this module as its send hook, in the manner of Spin's
//! outbound-http factor. A plugin uses an ordinary wasi:http client; every request
//! passes [`policy`] (allowed origins, the per-run budget, Listening Mode) and is sent
//! by the host itself: the name resolved and every address checked before connecting,
//! the brand's credential added (the plugin's own header of that name replaced), no
//! redirect followed, the answer read whole up to the size cap, the credential stripped
//! from what comes back. The wait is the gateway's time (the run's
//! [`HostClock`]), the call goes into the run's audit record and the metrics.
//!
//! Failures a plugin can act on arrive as wasi:http error codes:
//!
//! | what | error code |
//! |---|---|
//! | origin not allowed | `HTTP-request-denied` |
//! | resolved to a forbidden address | `destination-IP-prohibited` |
//! | timeout | `HTTP-response-timeout` |
//! | answer too large | `HTTP-response-body-size` |
//! | request body too large | `HTTP-request-body-size` |
//! | per-run budget spent | `connection-limit-reached` |
//! | Listening Mode | `internal-error("listening-mode: ...")` |

pub mod policy;

use super::context::HostClock;
use crate::config::{DryRun, HttpConfig, HttpOrigin};
use crate::telemetry::Metrics;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use policy::{Decision, Target};
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

/// The prefix of the error message a plugin gets for a request Listening Mode did not
/// send (`internal-error`, wasi:http having no code of its own for it).
pub const LISTENING_MODE_ERROR: &str = "listening-mode";

/// Calls kept per run for the audit trail (the budget bounds them anyway; requests past
/// it are counted, not kept).
const MAX_CALLS_KEPT: usize = 64;

/// Bytes of a request Listening Mode did not send that the audit keeps.
const MAX_WOULD_SEND_BYTES: usize = 1000;

/// A brand's outbound HTTP, shared by its runs: the config, the permits that bound its
/// requests in flight, the TLS roots. Rebuilt when `[brands.X.http]` changes.
#[derive(Clone)]
pub struct HttpService {
    inner: Arc<ServiceInner>,
}

struct ServiceInner {
    brand: String,
    config: HttpConfig,
    permits: Semaphore,
    metrics: Option<Arc<Metrics>>,
    tls: tokio_rustls::TlsConnector,
}

impl HttpService {
    /// The service of `brand` with `config`; calls are counted in `metrics` when given.
    pub fn new(brand: &str, config: HttpConfig, metrics: Option<Arc<Metrics>>) -> HttpService {
        let mut roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.into(),
        };
        // The brand's own CAs (`ca_file`), checked when the config was loaded.
        for der in &config.extra_roots {
            if let Err(e) = roots.add(rustls::pki_types::CertificateDer::from(der.clone())) {
                tracing::warn!(brand, error = %e, "a certificate of the brand's ca_file is not usable; ignored");
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("ring supports the default TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        HttpService {
            inner: Arc::new(ServiceInner {
                brand: brand.to_string(),
                permits: Semaphore::new(config.concurrency.max(1)),
                config,
                metrics,
                tls: tokio_rustls::TlsConnector::from(Arc::new(tls)),
            }),
        }
    }

    /// The config it was built from.
    pub fn config(&self) -> &HttpConfig {
        &self.inner.config
    }
}

/// A recorded answer, from a replay fixture's `http` list: replays answer from these and
/// send nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recorded {
    /// The method, e.g. `GET`.
    pub method: String,
    /// The full URL the plugin asks for, query included.
    pub url: String,
    /// The status answered.
    #[serde(default = "ok_status")]
    pub status: u16,
    /// The body answered.
    #[serde(default)]
    pub body: String,
    /// `content-type` of the body.
    #[serde(default = "json_type")]
    pub content_type: String,
}

fn ok_status() -> u16 {
    200
}
fn json_type() -> String {
    "application/json".into()
}

/// One outbound call of a run, as the audit trail keeps it: never a header, never a
/// query value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HttpCall {
    /// The method.
    pub method: String,
    /// `scheme://host:port`.
    pub origin: String,
    /// The path, with the query's names but not its values.
    pub path: String,
    /// `sent`, `recorded` (replay), `dry_run` or `not_sent` (Listening Mode),
    /// `not_allowed`, `budget_spent`, `failed` or `in_flight` (the run ended first).
    pub outcome: String,
    /// The status answered, when there was one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Time from the request to its whole answer.
    pub duration_ms: u64,
    /// Bytes of the request body.
    pub request_bytes: u64,
    /// Bytes of the answer body.
    pub response_bytes: u64,
    /// Why it failed or was refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Listening Mode: the start of the body that was not sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub would_send: Option<String>,
}

/// Who a run is, for log lines.
struct Who {
    brand: String,
    ticket: u64,
    plugin_version: String,
}

/// A run's outbound HTTP: the brand's service, this run's count and record, and whether
/// requests that change something are sent. The `wasi:http` send hook.
pub struct HttpRun {
    service: Option<HttpService>,
    /// Requests that change something (anything but GET and HEAD) are not sent:
    /// Listening Mode, and replays of live tickets. True unless the run is live.
    pub listening: bool,
    /// Replays of fixtures: answers come from these recordings, nothing is sent.
    pub recorded: Option<Arc<Vec<Recorded>>>,
    requests: u32,
    calls: Arc<Mutex<Vec<HttpCall>>>,
    clock: Arc<HostClock>,
    who: Arc<Who>,
}

impl HttpRun {
    /// The outbound HTTP of one run of `brand`'s plugin; listening until told otherwise.
    pub fn new(
        service: Option<HttpService>,
        clock: Arc<HostClock>,
        brand: &str,
        ticket: u64,
        plugin_version: &str,
    ) -> HttpRun {
        HttpRun {
            service,
            listening: true,
            recorded: None,
            requests: 0,
            calls: Arc::default(),
            clock,
            who: Arc::new(Who {
                brand: brand.to_string(),
                ticket,
                plugin_version: plugin_version.to_string(),
            }),
        }
    }

    /// The calls so far, in the order they were made.
    pub fn calls(&self) -> Vec<HttpCall> {
        self.calls.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Requests the plugin made, refused ones included.
    pub fn requests(&self) -> u32 {
        self.requests
    }

    fn keep(&self, call: HttpCall) -> Option<usize> {
        let mut calls = self.calls.lock().unwrap_or_else(|p| p.into_inner());
        if calls.len() >= MAX_CALLS_KEPT {
            return None;
        }
        calls.push(call);
        Some(calls.len() - 1)
    }
}

/// What a request's future resolves to in the wasi:http hook.
type SendResult = Result<
    (
        http::Response<WasiBody>,
        Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ),
    HttpError,
>;

impl WasiHttpHooks for HttpRun {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        _options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> Box<dyn Future<Output = SendResult> + Send> {
        self.requests = self.requests.saturating_add(1);
        let method = request.method().clone();
        let target = Target::of(request.uri());
        let config = self.service.as_ref().map(|s| s.config());
        let decision = policy::decide(
            config,
            target.as_ref().map_err(String::as_str),
            &method,
            self.listening,
            self.requests,
        );
        let mut call = HttpCall {
            method: method.to_string(),
            origin: target
                .as_ref()
                .map(Target::origin)
                .unwrap_or_else(|_| "(invalid URL)".into()),
            path: target
                .as_ref()
                .map(|t| policy::audit_path(&t.path_and_query))
                .unwrap_or_default(),
            outcome: String::new(),
            status: None,
            duration_ms: 0,
            request_bytes: 0,
            response_bytes: 0,
            error: None,
            would_send: None,
        };
        let job = Job {
            calls: self.calls.clone(),
            who: self.who.clone(),
            service: self.service.clone(),
            metric_origin: String::new(),
        };
        match decision {
            Decision::NotAllowed(why) => {
                call.outcome = "not_allowed".into();
                call.error = Some(why);
                let job = Job {
                    metric_origin: "(not allowed)".into(),
                    ..job
                };
                job.finish(self.keep(call.clone()), call, None);
                Box::new(async { Err(HttpError::HttpRequestDenied) })
            }
            Decision::BudgetSpent(n) => {
                // Only the first request over the budget is kept: a plugin looping on the
                // refusal must not grow the record.
                if self.requests == n + 1 {
                    call.outcome = "budget_spent".into();
                    call.error = Some(format!("the run's {n} requests are spent"));
                    let job = Job {
                        metric_origin: "(budget spent)".into(),
                        ..job
                    };
                    job.finish(self.keep(call.clone()), call, None);
                }
                Box::new(async { Err(HttpError::ConnectionLimitReached) })
            }
            Decision::Listening | Decision::DryRun(_) => {
                let answer = match decision {
                    Decision::DryRun(d) => Some(d.clone()),
                    _ => None,
                };
                let config = config.cloned().expect("an allowed origin has a config");
                let origin = policy::find_origin(&config, target.as_ref().expect("allowed"))
                    .map(|o| o.pattern.to_string())
                    .unwrap_or_default();
                let url = request.uri().to_string();
                let job = Job {
                    metric_origin: origin,
                    ..job
                };
                let index = self.keep(call.clone());
                Box::new(async move {
                    let limit = config.max_request_bytes;
                    let timeout = Duration::from_millis(config.timeout_ms);
                    let body = tokio::time::timeout(
                        timeout,
                        read_bounded(request.into_body(), limit, true),
                    )
                    .await;
                    if let Ok(Ok(body)) = &body {
                        call.request_bytes = body.len() as u64;
                        let shown = &body[..body.len().min(MAX_WOULD_SEND_BYTES)];
                        call.would_send = Some(String::from_utf8_lossy(shown).into_owned());
                    }
                    match answer {
                        Some(d) => {
                            call.outcome = "dry_run".into();
                            call.status = Some(d.status);
                            call.response_bytes = d.body.len() as u64;
                            job.finish(index, call, Some(d.status));
                            dry_run_answer(&d)
                        }
                        None => {
                            call.outcome = "not_sent".into();
                            job.finish(index, call, None);
                            Err(HttpError::InternalError(Some(format!(
                                "{LISTENING_MODE_ERROR}: {method} {url} was not sent: the brand is in Listening Mode"
                            ))))
                        }
                    }
                })
            }
            Decision::Send(origin) => {
                let origin = origin.clone();
                let target = target.expect("an allowed request has a target");
                let config = config.cloned().expect("an allowed origin has a config");
                let job = Job {
                    metric_origin: origin.pattern.to_string(),
                    ..job
                };
                call.outcome = "in_flight".into();
                let index = self.keep(call.clone());
                let clock = self.clock.clone();
                let recorded = self.recorded.clone();
                Box::new(async move {
                    let started = Instant::now();
                    let timeout = Duration::from_millis(config.timeout_ms);
                    let (parts, body) = request.into_parts();
                    // The plugin writes its body while this runs: its own time, bounded.
                    let body = match tokio::time::timeout(
                        timeout,
                        read_bounded(body, config.max_request_bytes, true),
                    )
                    .await
                    {
                        Ok(Ok(b)) => b,
                        Ok(Err(e)) => return job.failed(index, call, e, started),
                        Err(_) => {
                            return job.failed(
                                index,
                                call,
                                HttpError::ConnectionWriteTimeout,
                                started,
                            )
                        }
                    };
                    call.request_bytes = body.len() as u64;
                    let result = match &recorded {
                        Some(recordings) => answer_recorded(recordings, &parts.method, &target),
                        None => {
                            // From here on the wait is the gateway's: the permit, the
                            // brand's API, the answer.
                            let _waiting = clock.hold();
                            let service = job
                                .service
                                .clone()
                                .expect("an allowed origin has a service");
                            let _permit = service.inner.permits.acquire().await;
                            match tokio::time::timeout(
                                timeout,
                                exchange(&service, &origin, &target, parts, body),
                            )
                            .await
                            {
                                Ok(r) => r,
                                Err(_) => Err(HttpError::HttpResponseTimeout),
                            }
                        }
                    };
                    let (status, headers, body) = match result {
                        Ok(r) => r,
                        Err(e) => return job.failed(index, call, e, started),
                    };
                    call.outcome = if recorded.is_some() {
                        "recorded"
                    } else {
                        "sent"
                    }
                    .into();
                    call.status = Some(status);
                    call.duration_ms = started.elapsed().as_millis() as u64;
                    let (headers, body) = strip_credential(headers, body, &origin);
                    call.response_bytes = body.len() as u64;
                    job.finish(index, call, Some(status));
                    let mut response = http::Response::new(full_body(body));
                    *response.status_mut() =
                        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::BAD_GATEWAY);
                    *response.headers_mut() = headers;
                    Ok((response, no_io()))
                })
            }
        }
    }
}

/// What a call's future needs to record its end.
struct Job {
    calls: Arc<Mutex<Vec<HttpCall>>>,
    who: Arc<Who>,
    service: Option<HttpService>,
    /// The configured origin (a bounded label), or what stands for a refusal.
    metric_origin: String,
}

impl Job {
    fn failed(
        self,
        index: Option<usize>,
        mut call: HttpCall,
        e: HttpError,
        started: Instant,
    ) -> SendResult {
        call.outcome = "failed".into();
        call.duration_ms = started.elapsed().as_millis() as u64;
        call.error = Some(describe(&e));
        self.finish(index, call, None);
        Err(e)
    }

    /// Logs the call, counts it and puts its final state in the run's record.
    fn finish(&self, index: Option<usize>, call: HttpCall, status: Option<u16>) {
        let label = match (status, call.outcome.as_str()) {
            (Some(s), _) => s.to_string(),
            (None, "failed") => match call.error.as_deref() {
                Some(e) if e.contains("timeout") => "timeout".into(),
                Some(e) if e.contains("too large") => "too_large".into(),
                Some(e) if e.contains("prohibited") => "address_refused".into(),
                _ => "error".into(),
            },
            (None, other) => other.to_string(),
        };
        tracing::info!(
            brand = %self.who.brand, ticket = self.who.ticket, plugin_version = %self.who.plugin_version,
            method = %call.method, origin = %call.origin, path = %call.path, outcome = %call.outcome,
            status = %label, duration_ms = call.duration_ms, response_bytes = call.response_bytes,
            error = call.error.as_deref().unwrap_or(""), "plugin HTTP call"
        );
        if let Some(metrics) = self.service.as_ref().and_then(|s| s.inner.metrics.as_ref()) {
            metrics.http_call(&self.who.brand, &self.metric_origin, &label);
        }
        if let Some(i) = index {
            let mut calls = self.calls.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(slot) = calls.get_mut(i) {
                *slot = call;
            }
        }
    }
}

/// An error in the audit's words (never a header or a credential: none reach an error).
fn describe(e: &HttpError) -> String {
    match e {
        HttpError::HttpResponseTimeout | HttpError::ConnectionWriteTimeout => "timeout".into(),
        HttpError::HttpResponseBodySize(n) => {
            format!("answer too large (over {} bytes)", n.unwrap_or(0))
        }
        HttpError::HttpRequestBodySize(n) => {
            format!("request body too large (over {} bytes)", n.unwrap_or(0))
        }
        other => other.to_string(),
    }
}

fn full_body(b: Bytes) -> WasiBody {
    Full::new(b).map_err(|never| match never {}).boxed_unsync()
}

fn no_io() -> Box<dyn Future<Output = Result<(), HttpError>> + Send> {
    Box::new(async { Ok(()) })
}

fn dry_run_answer(d: &DryRun) -> SendResult {
    let mut response = http::Response::new(full_body(Bytes::from(d.body.clone())));
    *response.status_mut() = http::StatusCode::from_u16(d.status).unwrap_or(http::StatusCode::OK);
    if let Ok(v) = http::HeaderValue::from_str(&d.content_type) {
        response.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    response.headers_mut().insert(
        "x-gateway-dry-run",
        http::HeaderValue::from_static("listening-mode"),
    );
    Ok((response, no_io()))
}

/// A replay's answer from the fixture's recordings (same method, origin, path and query).
fn answer_recorded(
    recordings: &[Recorded],
    method: &http::Method,
    target: &Target,
) -> Result<(u16, http::HeaderMap, Bytes), HttpError> {
    let found = recordings.iter().find(|r| {
        r.method.eq_ignore_ascii_case(method.as_str())
            && r.url
                .parse::<http::Uri>()
                .ok()
                .and_then(|u| Target::of(&u).ok())
                .is_some_and(|t| t == *target)
    });
    let Some(r) = found else {
        return Err(HttpError::InternalError(Some(format!(
            "replay: the fixture has no recorded answer for {method} {}{}",
            target.origin(),
            policy::audit_path(&target.path_and_query)
        ))));
    };
    let mut headers = http::HeaderMap::new();
    if let Ok(v) = http::HeaderValue::from_str(&r.content_type) {
        headers.insert(http::header::CONTENT_TYPE, v);
    }
    Ok((r.status, headers, Bytes::from(r.body.clone())))
}

/// Reads a body whole, refusing it past `limit` bytes.
async fn read_bounded<B>(body: B, limit: usize, request: bool) -> Result<Bytes, HttpError>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: Into<HttpError>,
{
    let too_large = |n| {
        if request {
            HttpError::HttpRequestBodySize(Some(n))
        } else {
            HttpError::HttpResponseBodySize(Some(n))
        }
    };
    if let Some(n) = http_body::Body::size_hint(&body).upper() {
        if http_body::Body::size_hint(&body).lower() > limit as u64 {
            return Err(too_large(n.min(limit as u64)));
        }
    }
    let mut body = body;
    let mut out = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(Into::into)?;
        if let Ok(data) = frame.into_data() {
            if out.len() + data.len() > limit {
                return Err(too_large(limit as u64));
            }
            out.extend_from_slice(&data);
        }
    }
    Ok(out.freeze())
}

/// Sends one request to an allowed origin: resolves the name, checks every address,
/// connects (TLS for https), sends with the credential, reads the answer whole up to
/// the cap. Redirects are answered to the plugin as they are, never followed.
async fn exchange(
    service: &HttpService,
    origin: &HttpOrigin,
    target: &Target,
    parts: http::request::Parts,
    body: Bytes,
) -> Result<(u16, http::HeaderMap, Bytes), HttpError> {
    let config = &service.inner.config;
    let addrs: Vec<SocketAddr> = match target.ip() {
        Some(ip) => vec![SocketAddr::new(ip, target.port)],
        None => tokio::net::lookup_host((target.host.as_str(), target.port))
            .await
            .map_err(|e| HttpError::DnsError {
                rcode: Some(e.to_string()),
                info_code: None,
            })?
            .collect(),
    };
    if addrs.is_empty() {
        return Err(HttpError::DestinationNotFound);
    }
    // Every address the name has must be allowed: connecting to "the first public one"
    // would still let a name that mixes in 127.0.0.1 reach inside on a retry.
    if let Some(bad) = addrs
        .iter()
        .find(|a| !policy::address_allowed(a.ip(), origin))
    {
        tracing::warn!(brand = %service.inner.brand, origin = %target.origin(), address = %bad.ip(),
            "plugin HTTP call refused: the name resolves to an address the origin does not allow");
        return Err(HttpError::DestinationIpProhibited);
    }
    let mut stream = None;
    let mut last = None;
    for addr in &addrs {
        match tokio::net::TcpStream::connect(addr).await {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    let Some(stream) = stream else {
        return Err(last
            .map(HttpError::Connect)
            .unwrap_or(HttpError::ConnectionRefused));
    };
    let _ = stream.set_nodelay(true);
    let io: Box<dyn Io> = if target.scheme == "https" {
        let name = rustls::pki_types::ServerName::try_from(target.host.clone())
            .map_err(|_| HttpError::TlsProtocolError)?;
        Box::new(
            service
                .inner
                .tls
                .connect(name, stream)
                .await
                .map_err(HttpError::Tls)?,
        )
    } else {
        Box::new(stream)
    };
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(wasmtime_wasi_http::io::TokioIo::new(io))
            .await
            .map_err(HttpError::Hyper)?;
    let _conn = wasmtime_wasi::runtime::spawn(async move {
        let _ = conn.await;
    });
    let mut request = http::Request::new(full_body(body));
    *request.method_mut() = parts.method;
    *request.uri_mut() = target
        .path_and_query
        .parse()
        .map_err(|_| HttpError::HttpRequestUriInvalid)?;
    let mut headers = parts.headers;
    // The host is where the request goes, from the URI: never the plugin's say.
    let host = match (target.ip(), target.port) {
        (Some(std::net::IpAddr::V6(_)), p) => format!("[{}]:{p}", target.host),
        (_, p) => format!("{}:{p}", target.host),
    };
    headers.insert(
        http::header::HOST,
        http::HeaderValue::from_str(&host).map_err(|_| HttpError::HttpRequestUriInvalid)?,
    );
    if let Some(c) = &origin.credential {
        headers.remove(c.header.as_str());
        let mut value = http::HeaderValue::from_str(c.value.expose())
            .map_err(|_| HttpError::ConfigurationError)?;
        value.set_sensitive(true);
        let name = http::HeaderName::from_bytes(c.header.as_bytes())
            .map_err(|_| HttpError::ConfigurationError)?;
        headers.insert(name, value);
    }
    *request.headers_mut() = headers;
    let response = sender
        .send_request(request)
        .await
        .map_err(HttpError::Hyper)?;
    let (parts, body) = response.into_parts();
    let body = read_bounded(body, config.max_response_bytes, false).await?;
    Ok((parts.status.as_u16(), parts.headers, body))
}

trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static> Io for T {}

/// The answer as the plugin gets it: without the credential's header, without the
/// credential anywhere in the body, with framing headers that fit the body as read.
fn strip_credential(
    mut headers: http::HeaderMap,
    body: Bytes,
    origin: &HttpOrigin,
) -> (http::HeaderMap, Bytes) {
    headers.remove(http::header::TRANSFER_ENCODING);
    headers.remove(http::header::CONNECTION);
    let mut body = body;
    if let Some(c) = &origin.credential {
        headers.remove(c.header.as_str());
        let secret = c.value.expose();
        headers.retain_values(secret);
        if let Some(clean) = policy::redact(&body, secret) {
            body = Bytes::from(clean);
        }
    }
    headers.insert(
        http::header::CONTENT_LENGTH,
        http::HeaderValue::from(body.len()),
    );
    (headers, body)
}

/// Dropping header values that carry a secret.
trait RetainValues {
    fn retain_values(&mut self, secret: &str);
}

impl RetainValues for http::HeaderMap {
    fn retain_values(&mut self, secret: &str) {
        let leaking: Vec<http::HeaderName> = self
            .iter()
            .filter(|(_, v)| {
                v.as_bytes()
                    .windows(secret.len().max(1))
                    .any(|w| w == secret.as_bytes())
            })
            .map(|(k, _)| k.clone())
            .collect();
        for k in leaking {
            self.remove(k);
        }
    }
}
