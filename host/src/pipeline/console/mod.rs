//! The operators' console at `/console`: see and steer the AI from a browser. Mounted
//! by the ingress router; uses the gateway's state below it, and the handling's hand-off
//! step for dead letters.
//!
//! Security: without `gateway.admin_token` the console answers like an unknown path.
//! Sign-in exchanges the admin token for a session cookie ([`session`]); every change is
//! a POST carrying the session's CSRF token, from the console's own origin. Every answer
//! carries a strict Content-Security-Policy (no script at all, styles and images from the
//! gateway only, no framing) and `Cache-Control: no-store`. The pages are rendered on
//! the server ([`html`]); the charts are SVG drawn here; nothing is loaded from outside.
//!
//! `pages.rs` has the brands (Listening/Live switches), plugins, inbox and runs pages,
//! `report.rs` the report page and its CSV.

pub mod html;
mod pages;
mod report;
pub mod session;

use crate::gateway::Gateway;
use axum::extract::{Form, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use session::{Session, Sessions};
use std::collections::HashMap;
use std::sync::Arc;

/// The policy every console answer carries: nothing but the gateway itself, and no
/// script, inline style, plugin, framing or foreign form target.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The console's state: the gateway and the sessions.
#[derive(Clone)]
pub(crate) struct Console {
    gw: Arc<Gateway>,
    sessions: Arc<Sessions>,
}

/// The console's routes, to be nested at `/console`.
pub fn router<S: Clone + Send + Sync + 'static>(gw: Arc<Gateway>) -> Router<S> {
    let console = Console {
        gw,
        sessions: Arc::new(Sessions::default()),
    };
    Router::new()
        .route("/", get(home))
        .route("/login", get(sign_in_page).post(sign_in))
        .route("/logout", post(sign_out))
        .route("/console.css", get(stylesheet))
        .route("/brands", get(pages::brands))
        .route("/brands/{brand}/mode", post(pages::set_brand_mode))
        .route("/endpoints/{endpoint}/mode", post(pages::set_endpoint_mode))
        .route("/plugins", get(pages::plugins))
        .route("/plugins/{brand}/release", post(pages::release))
        .route("/inbox", get(pages::inbox))
        .route(
            "/inbox/{environment}/{ticket}/retry",
            post(pages::retry_dead_letter),
        )
        .route(
            "/inbox/{environment}/{ticket}/hand-off",
            post(pages::hand_off_dead_letter),
        )
        .route("/runs", get(pages::runs))
        .route("/runs/{id}", get(pages::run))
        .route("/report", get(report::page))
        .route("/report.csv", get(report::csv))
        .fallback(not_found)
        .layer(axum::middleware::map_response(secure_headers))
        .with_state(console)
}

async fn secure_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // The console's addresses stay private to the console (the link to Zendesk also
    // says noreferrer). Not `no-referrer`: with it, browsers send `Origin: null` on the
    // console's own form posts, and the origin check would refuse them.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "no such page").into_response()
}

/// A refusal as a small page.
fn refuse(status: StatusCode, message: &str) -> Response {
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Refused</title>\
         <link rel=\"stylesheet\" href=\"/console/console.css\"></head><body><main>\
         <p class=\"flash error\">{}</p><p><a href=\"/console/brands\">Back to the console</a></p>\
         </main></body></html>",
        html::esc(message)
    );
    (status, Html(body)).into_response()
}

/// A signed-in request: the session id and the session.
pub(crate) struct Signed {
    id: String,
    session: Session,
}

impl Signed {
    /// The layout's view of the session for page `page`; takes the session's message.
    fn chrome<'a>(&'a self, console: &Console, page: &'a str) -> html::Chrome<'a> {
        html::Chrome {
            operator: &self.session.operator,
            csrf: &self.session.csrf,
            page,
            flash: console.sessions.take_flash(&self.id),
            refresh_secs: None,
        }
    }
}

// The `Err` of these checks is the answer itself, made at most once per request:
// boxing it would only add an allocation.
#[allow(clippy::result_large_err)]
impl Console {
    fn enabled(&self) -> bool {
        self.gw.config().gateway.admin_token.is_some()
    }

    /// The request's session, or the answer to give instead: 404 while the console is
    /// off, else a redirect to the sign-in page.
    fn signed_in(&self, headers: &HeaderMap) -> Result<Signed, Response> {
        if !self.enabled() {
            return Err(StatusCode::NOT_FOUND.into_response());
        }
        session::cookie_id(headers)
            .and_then(|id| self.sessions.get(&id).map(|session| Signed { id, session }))
            .ok_or_else(|| Redirect::to("/console/login").into_response())
    }

    /// A change: signed in, from the console's own origin, with the session's CSRF token.
    fn change(
        &self,
        headers: &HeaderMap,
        form: &HashMap<String, String>,
    ) -> Result<Signed, Response> {
        let signed = self.signed_in(headers)?;
        if !session::same_origin(headers) {
            return Err(refuse(
                StatusCode::FORBIDDEN,
                "refused: the request did not come from the console's own pages",
            ));
        }
        let given = form.get("csrf").map(String::as_str).unwrap_or("");
        if !session::same_secret(&signed.session.csrf, given) {
            return Err(refuse(
                StatusCode::FORBIDDEN,
                "refused: the form's security token is missing or stale; reload the page and try again",
            ));
        }
        Ok(signed)
    }

    /// After a change: a message for the next page, and back to `to`.
    fn done(&self, signed: &Signed, message: String, to: &str) -> Response {
        self.sessions.flash(&signed.id, message);
        Redirect::to(to).into_response()
    }
}

async fn home(State(c): State<Console>, headers: HeaderMap) -> Response {
    match c.signed_in(&headers) {
        Ok(_) => Redirect::to("/console/brands").into_response(),
        Err(r) => r,
    }
}

async fn stylesheet() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        html::CSS,
    )
        .into_response()
}

async fn sign_in_page(State(c): State<Console>) -> Response {
    if !c.enabled() {
        return not_found().await;
    }
    Html(html::sign_in(None)).into_response()
}

/// `POST /console/login`: the admin token for a session.
async fn sign_in(
    State(c): State<Console>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let config = c.gw.config();
    let Some(expected) = &config.gateway.admin_token else {
        return not_found().await;
    };
    // A sign-in from another site would sign the browser into the attacker's session.
    if !session::same_origin(&headers) {
        return refuse(
            StatusCode::FORBIDDEN,
            "refused: sign in from the console's own page",
        );
    }
    let given = form.get("token").map(String::as_str).unwrap_or("");
    if !session::same_secret(expected.expose(), given) {
        tracing::warn!("console: a sign-in with a wrong admin token");
        // Slows guessing down without holding anything: the wait is async.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        return (
            StatusCode::UNAUTHORIZED,
            Html(html::sign_in(Some("That is not the admin token."))),
        )
            .into_response();
    }
    let operator: String = form
        .get("operator")
        .map(|n| n.trim())
        .filter(|n| !n.is_empty())
        .unwrap_or("operator")
        .chars()
        .filter(|c| !c.is_control())
        .take(64)
        .collect();
    let lifetime = config.gateway.console_session;
    let id = c.sessions.create(operator.clone(), lifetime);
    tracing::info!(operator = %operator, "console: signed in");
    let secure = headers
        .get("x-forwarded-proto")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"));
    (
        [(
            header::SET_COOKIE,
            session::set_cookie(&id, lifetime, secure),
        )],
        Redirect::to("/console/brands"),
    )
        .into_response()
}

/// `POST /console/logout`.
async fn sign_out(
    State(c): State<Console>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let signed = match c.change(&headers, &form) {
        Ok(s) => s,
        Err(r) => return r,
    };
    c.sessions.remove(&signed.id);
    (
        [(header::SET_COOKIE, session::clear_cookie())],
        Redirect::to("/console/login"),
    )
        .into_response()
}
