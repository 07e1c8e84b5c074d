//! The HTTP listener, with the bounds `axum::serve` lacks: a client that sends its
//! headers too slowly, trickles its body, or holds an idle connection is cut off, and
//! no more than `max_connections` connections are open at once, below the process's
//! descriptor limit, so a flood of slow clients can never make `accept` fail for
//! Zendesk's real notifications. See docs/operations.md, "Slow clients".
//!
//! Each connection is served by hyper's HTTP/1 server (Zendesk's webhooks speak
//! HTTP/1.1) and watched by a small timer of its own: hyper's header timeout would also
//! close a kept-alive connection after the same time, which is the idle timeout's job.

use crate::config::GatewaySettings;
use axum::Router;
use bytes::Bytes;
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::time::Instant;
use tower::ServiceExt;

/// Descriptors kept free for everything else (the database, Zendesk and model
/// connections, plugin files): the connection cap stays this far below the limit.
const RESERVED_DESCRIPTORS: u64 = 128;

/// How long connections get to finish their requests once the listener stops.
const DRAIN: Duration = Duration::from_secs(5);

/// The listener's bounds, from `[gateway]`.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Headers complete within this time of their first byte (or of the connection).
    pub header_read_timeout: Duration,
    /// The whole body within this time of the headers.
    pub body_read_timeout: Duration,
    /// A kept-alive connection without a request is closed after this.
    pub idle_timeout: Duration,
    /// Connections open at once (already lowered below the descriptor limit).
    pub max_connections: usize,
}

impl Limits {
    /// The bounds the config asks for, the connection cap lowered below this process's
    /// descriptor limit if needed (with a warning).
    pub fn for_config(g: &GatewaySettings) -> Limits {
        let mut max_connections = g.max_connections;
        if let Some(limit) = descriptor_limit() {
            let room = limit.saturating_sub(RESERVED_DESCRIPTORS).max(limit / 2) as usize;
            if max_connections > room {
                tracing::warn!(
                    configured = max_connections,
                    descriptor_limit = limit,
                    using = room,
                    "gateway.max_connections is above what the descriptor limit (ulimit -n) allows; lowered"
                );
                max_connections = room.max(1);
            }
        }
        Limits {
            header_read_timeout: g.header_read_timeout,
            body_read_timeout: g.body_read_timeout,
            idle_timeout: g.idle_timeout,
            max_connections,
        }
    }
}

#[cfg(unix)]
fn descriptor_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct passed, which lives on this stack frame.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    (rc == 0 && limit.rlim_cur != libc::RLIM_INFINITY).then_some(limit.rlim_cur)
}

#[cfg(not(unix))]
fn descriptor_limit() -> Option<u64> {
    None
}

/// Serves `app` on `listener` until `stop` turns true; then stops accepting, lets open
/// connections finish their requests (bounded) and returns.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let mut connections = tokio::task::JoinSet::new();
    loop {
        // A slot first: at the cap, connections wait in the kernel's backlog (which
        // costs no descriptor) until a slow one times out, instead of failing accept.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            _ = stop.wait_for(|s| *s) => break,
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.wait_for(|s| *s) => break,
        };
        match accepted {
            Ok((stream, _peer)) => {
                let _ = stream.set_nodelay(true);
                let (app, stop) = (app.clone(), stop.clone());
                connections.spawn(async move {
                    serve_connection(stream, app, limits, stop).await;
                    drop(slot);
                });
            }
            // EMFILE and friends: the cap should prevent it; back off instead of spinning.
            Err(e) => {
                tracing::warn!(error = %e, "cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    let drained = tokio::time::timeout(DRAIN, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        connections.abort_all();
    }
}

/// What a connection's timer needs to know, updated by its reads and its requests.
struct Activity {
    start: Instant,
    /// Requests being handled now.
    in_flight: AtomicUsize,
    /// Requests answered on this connection.
    served: AtomicU64,
    /// When the connection last became idle (ms since `start`).
    idle_since: AtomicU64,
    /// When the first byte of the next request's headers arrived (ms since `start`),
    /// or [`NONE`].
    first_byte: AtomicU64,
}

const NONE: u64 = u64::MAX;

impl Activity {
    fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    /// When the connection must be closed if nothing changes; `None` while a request is
    /// being handled (the body has its own deadline, the handler is the gateway's).
    fn deadline(&self, limits: &Limits) -> Option<Instant> {
        if self.in_flight.load(Ordering::SeqCst) > 0 {
            return None;
        }
        let at = |ms: u64, after: Duration| self.start + Duration::from_millis(ms) + after;
        let first = self.first_byte.load(Ordering::SeqCst);
        let idle = self.idle_since.load(Ordering::SeqCst);
        Some(if first != NONE {
            at(first, limits.header_read_timeout)
        } else if self.served.load(Ordering::SeqCst) == 0 {
            // A new connection that sends nothing gets as long as slow headers would.
            at(idle, limits.header_read_timeout)
        } else {
            at(idle, limits.idle_timeout)
        })
    }
}

/// Resolves when the connection has overstayed: headers too slow, or idle too long.
async fn overstayed(activity: &Activity, limits: &Limits) {
    loop {
        match activity.deadline(limits) {
            Some(at) if at <= Instant::now() => return,
            Some(at) => tokio::time::sleep_until(at).await,
            None => tokio::time::sleep(limits.header_read_timeout.min(limits.idle_timeout)).await,
        }
    }
}

async fn serve_connection(
    stream: TcpStream,
    app: Router,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
) {
    let activity = Arc::new(Activity {
        start: Instant::now(),
        in_flight: AtomicUsize::new(0),
        served: AtomicU64::new(0),
        idle_since: AtomicU64::new(0),
        first_byte: AtomicU64::new(NONE),
    });
    let io = TokioIo::new(Watched {
        inner: stream,
        activity: activity.clone(),
    });
    let service = {
        let activity = activity.clone();
        hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            // Called once the headers are in.
            activity.in_flight.fetch_add(1, Ordering::SeqCst);
            activity.first_byte.store(NONE, Ordering::SeqCst);
            let in_flight = InFlight(activity.clone());
            let app = app.clone();
            let request = request.map(|body| {
                axum::body::Body::new(DeadlineBody {
                    inner: body,
                    deadline: Box::pin(tokio::time::sleep(limits.body_read_timeout)),
                    limit: limits.body_read_timeout,
                })
            });
            async move {
                let response = app.oneshot(request).await;
                drop(in_flight);
                response
            }
        })
    };
    let mut http = hyper::server::conn::http1::Builder::new();
    // Our own timer watches the headers (see the module comment).
    http.keep_alive(true).header_read_timeout(None);
    let connection = http.serve_connection(io, service);
    tokio::pin!(connection);
    let mut stopping = false;
    loop {
        tokio::select! {
            _ = connection.as_mut() => return,
            _ = overstayed(&activity, &limits) => {
                tracing::debug!("closing a connection that sent its request too slowly or sat idle");
                return;
            }
            _ = stop.wait_for(|s| *s), if !stopping => {
                // Finish the request in progress, then close.
                connection.as_mut().graceful_shutdown();
                stopping = true;
            }
        }
    }
}

/// Marks a request done when its handling ends (dropped with the response future).
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let a = &self.0;
        a.idle_since.store(a.now_ms(), Ordering::SeqCst);
        a.served.fetch_add(1, Ordering::SeqCst);
        a.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The TCP stream, noting when the first byte of a request's headers arrives.
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            let a = &self.activity;
            if a.in_flight.load(Ordering::SeqCst) == 0 {
                let now = a.now_ms();
                let _ =
                    a.first_byte
                        .compare_exchange(NONE, now, Ordering::SeqCst, Ordering::SeqCst);
            }
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// A request body that must arrive whole within a deadline: a client trickling a byte
/// at a time gets an error (the handler answers 408) instead of holding a connection.
struct DeadlineBody {
    inner: Incoming,
    deadline: Pin<Box<tokio::time::Sleep>>,
    limit: Duration,
}

/// The error a body past its deadline gives.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {0:?}")]
pub struct BodyTimeout(Duration);

impl HttpBody for DeadlineBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            let limit = self.limit;
            return Poll::Ready(Some(Err(Box::new(BodyTimeout(limit)))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
