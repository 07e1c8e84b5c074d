//! The console's pages: brands and endpoints with their Listening/Live switches,
//! plugins with quarantine release, the inbox with its dead letters, and the runs.

use super::html::{button, esc, page, url};
use super::{refuse, Console};
use crate::config::Mode;
use crate::outcome::Outcome;
use crate::store::audit::AuditFilter;
use crate::store::overrides::{Change, Target};
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use std::collections::HashMap;
use std::fmt::Write;

type FormData = Form<HashMap<String, String>>;

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn mode_cell(mode: Mode) -> String {
    format!("<span class=\"mode-{mode}\">{mode}</span>")
}

/// The switch forms of one brand or endpoint: Listening, Live, back to the config.
fn switches(action: &str, csrf: &str, overridden: bool) -> String {
    let mut out = button(action, csrf, "Listening", &[("mode", "listening")]);
    out.push_str(&button(action, csrf, "Live", &[("mode", "live")]));
    if overridden {
        out.push_str(&button(
            action,
            csrf,
            "Back to the config",
            &[("mode", "config")],
        ));
    }
    out
}

/// `GET /console/brands`.
pub(super) async fn brands(State(c): State<Console>, headers: HeaderMap) -> Response {
    let signed = match c.signed_in(&headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let config = c.gw.config();
    let overrides = c.gw.mode_overrides();
    let csrf = &signed.session.csrf;
    let mut body = String::from(
        "<p>A switch here overrides the config at once, for the next ticket, and stays \
         until it is switched back to the config. An endpoint's switch wins over its \
         brand's.</p><h2>Brands</h2><table id=\"brands\"><tr><th>Brand</th><th>In the config</th>\
         <th>Now</th><th>Switched by</th><th>Switch</th></tr>",
    );
    for (name, brand) in &config.brands {
        let o = overrides.get(&(Target::Brand, name.clone()));
        let now = o.map(|o| o.mode).unwrap_or(brand.mode);
        let by = o
            .map(|o| {
                format!(
                    "<span class=\"override\">override</span> by {} at {}",
                    esc(&o.set_by),
                    esc(&o.set_at)
                )
            })
            .unwrap_or_else(|| "the config".into());
        let _ = write!(
            body,
            "<tr data-brand=\"{n}\"><td>{n}</td><td>{}</td><td class=\"now\">{}</td><td>{by}</td><td>{}</td></tr>",
            mode_cell(brand.mode),
            mode_cell(now),
            switches(&format!("/console/brands/{}/mode", url(name)), csrf, o.is_some()),
            n = esc(name),
        );
    }
    body.push_str(
        "</table><h2>Endpoints</h2><table id=\"endpoints\"><tr><th>Endpoint</th><th>Brand</th>\
         <th>Environment</th><th>In the config</th><th>Now</th><th>Switched by</th><th>Switch</th></tr>",
    );
    for (name, endpoint) in &config.endpoints {
        let Some(brand) = config.brands.get(&endpoint.brand) else {
            continue;
        };
        let o = overrides.get(&(Target::Endpoint, name.clone()));
        let configured = endpoint.mode.unwrap_or(brand.mode);
        let by = o
            .map(|o| {
                format!(
                    "<span class=\"override\">override</span> by {} at {}",
                    esc(&o.set_by),
                    esc(&o.set_at)
                )
            })
            .unwrap_or_else(|| {
                if overrides.contains_key(&(Target::Brand, brand.name.clone())) {
                    "the brand's switch".into()
                } else {
                    "the config".into()
                }
            });
        let _ = write!(
            body,
            "<tr data-endpoint=\"{n}\"><td>{n}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"now\">{}</td><td>{by}</td><td>{}</td></tr>",
            esc(&endpoint.brand),
            esc(&endpoint.environment),
            mode_cell(configured),
            mode_cell(c.gw.effective_mode(endpoint, brand)),
            switches(&format!("/console/endpoints/{}/mode", url(name)), csrf, o.is_some()),
            n = esc(name),
        );
    }
    body.push_str("</table><h2>Recent switches</h2><table id=\"history\"><tr><th>When</th><th>Who</th><th>What</th><th>Set to</th></tr>");
    match c.gw.mode_history(20).await {
        Ok(history) => {
            for h in history {
                let _ = write!(
                    body,
                    "<tr><td>{}</td><td>{}</td><td>{} {}</td><td>{}</td></tr>",
                    esc(&h.set_at),
                    esc(&h.set_by),
                    h.target.as_str(),
                    esc(&h.name),
                    h.mode
                        .map(mode_cell)
                        .unwrap_or_else(|| "back to the config".into())
                );
            }
        }
        Err(e) => {
            let _ = write!(
                body,
                "<tr><td colspan=\"4\" class=\"bad\">cannot read the history: {}</td></tr>",
                esc(&format!("{e:#}"))
            );
        }
    }
    body.push_str("</table>");
    Html(page(
        "Brands and endpoints",
        &signed.chrome(&c, "brands"),
        &body,
    ))
    .into_response()
}

async fn set_mode(
    c: Console,
    headers: HeaderMap,
    form: HashMap<String, String>,
    target: Target,
    name: String,
) -> Response {
    let signed = match c.change(&headers, &form) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let config = c.gw.config();
    let known = match target {
        Target::Brand => config.brands.contains_key(&name),
        Target::Endpoint => config.endpoints.contains_key(&name),
    };
    if !known {
        return refuse(
            StatusCode::NOT_FOUND,
            &format!("no {} named {name:?}", target.as_str()),
        );
    }
    let mode = match form.get("mode").map(String::as_str) {
        Some("listening") => Some(Mode::Listening),
        Some("live") => Some(Mode::Live),
        Some("config") => None,
        _ => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "mode must be listening, live or config",
            )
        }
    };
    let change = Change {
        target,
        name: name.clone(),
        mode,
        set_by: signed.session.operator.clone(),
        set_at: now_rfc3339(),
    };
    if let Err(e) = c.gw.set_mode_override(change).await {
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("cannot keep the switch: {e:#}"),
        );
    }
    let what = mode
        .map(|m| m.to_string())
        .unwrap_or_else(|| "back to the config".into());
    tracing::warn!(operator = %signed.session.operator, target = target.as_str(), name = %name,
        mode = %what, "console: mode switched");
    c.done(
        &signed,
        format!("{} {name}: {what}", target.as_str()),
        "/console/brands",
    )
}

/// `POST /console/brands/{brand}/mode`.
pub(super) async fn set_brand_mode(
    State(c): State<Console>,
    headers: HeaderMap,
    Path(brand): Path<String>,
    Form(form): FormData,
) -> Response {
    set_mode(c, headers, form, Target::Brand, brand).await
}

/// `POST /console/endpoints/{endpoint}/mode`.
pub(super) async fn set_endpoint_mode(
    State(c): State<Console>,
    headers: HeaderMap,
    Path(endpoint): Path<String>,
    Form(form): FormData,
) -> Response {
    set_mode(c, headers, form, Target::Endpoint, endpoint).await
}

/// `GET /console/plugins`.
pub(super) async fn plugins(State(c): State<Console>, headers: HeaderMap) -> Response {
    let signed = match c.signed_in(&headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let status = c.gw.plugin_status();
    let mut body = String::from(
        "<table id=\"plugins\"><tr><th>Brand</th><th>Version</th><th>WIT</th><th>Loaded at</th>\
         <th>Last load error</th><th>Failures in a row</th><th>Quarantine</th><th></th></tr>",
    );
    for b in c.gw.brands().values() {
        let s = status.get(&b.brand.name).cloned().unwrap_or_default();
        let q = c.gw.quarantine();
        let failures = q.failures_in_a_row(&b.brand.name, &b.plugin.version);
        let quarantined = q.is_quarantined(&b.brand, &b.plugin.version);
        let error = match (&s.last_error, &s.last_error_at) {
            (Some(e), Some(at)) => format!("<span class=\"bad\">{}</span> ({})", esc(e), esc(at)),
            (Some(e), None) => format!("<span class=\"bad\">{}</span>", esc(e)),
            _ => "none".into(),
        };
        let action = if quarantined || failures > 0 {
            button(
                &format!("/console/plugins/{}/release", url(&b.brand.name)),
                &signed.session.csrf,
                "Release",
                &[],
            )
        } else {
            String::new()
        };
        let _ = write!(
            body,
            "<tr data-brand=\"{n}\"><td>{n}</td><td><code title=\"{v}\">{}</code></td><td>{}</td><td>{}</td><td>{error}</td>\
             <td class=\"num\">{failures}</td><td class=\"quarantine\">{}</td><td>{action}</td></tr>",
            esc(&b.plugin.version.chars().take(12).collect::<String>()),
            esc(b.plugin.pre.wit_version()),
            esc(&b.plugin.loaded_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            if quarantined { "<span class=\"bad\">quarantined</span>" } else { "no" },
            n = esc(&b.brand.name),
            v = esc(&b.plugin.version),
        );
    }
    body.push_str("</table><p>A quarantined plugin's tickets go to humans until a new version is loaded, a probe run succeeds, or it is released here.</p>");
    // Every replica's versions, from the heartbeats: during a rollout of a plugin file
    // they differ until each replica's watcher has loaded it.
    body.push_str(
        "<h2>Replicas</h2><table id=\"replicas\"><tr><th>Replica</th><th>Started</th>\
         <th>Last heartbeat</th><th>Versions</th></tr>",
    );
    let me = c.gw.config().gateway.replica_id.clone();
    match c.gw.replicas().await {
        Ok(replicas) => {
            let stamp = |ms: i64| {
                chrono::DateTime::from_timestamp_millis(ms)
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                    .unwrap_or_default()
            };
            for r in replicas {
                let versions: Vec<String> = r
                    .versions
                    .iter()
                    .map(|(brand, v)| {
                        format!(
                            "{}: <code title=\"{}\">{}</code>",
                            esc(brand),
                            esc(v),
                            esc(&v.chars().take(12).collect::<String>())
                        )
                    })
                    .collect();
                let _ = write!(
                    body,
                    "<tr data-replica=\"{id}\"><td>{id}{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    if r.replica_id == me { " (this one)" } else { "" },
                    esc(&stamp(r.started_at_ms)),
                    esc(&stamp(r.last_seen_ms)),
                    versions.join("<br>"),
                    id = esc(&r.replica_id),
                );
            }
            body.push_str("</table>");
        }
        Err(e) => {
            let _ = write!(
                body,
                "</table><p class=\"bad\">Cannot read the replicas' heartbeats: {}</p>",
                esc(&format!("{e:#}"))
            );
        }
    }
    Html(page("Plugins", &signed.chrome(&c, "plugins"), &body)).into_response()
}

/// `POST /console/plugins/{brand}/release`.
pub(super) async fn release(
    State(c): State<Console>,
    headers: HeaderMap,
    Path(brand): Path<String>,
    Form(form): FormData,
) -> Response {
    let signed = match c.change(&headers, &form) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Some(b) = c.gw.brand(&brand) else {
        return refuse(StatusCode::NOT_FOUND, &format!("no brand named {brand:?}"));
    };
    let released = c.gw.quarantine().release(&b.brand);
    tracing::warn!(operator = %signed.session.operator, brand = %brand, released, "console: quarantine release");
    let message = if released {
        format!("{brand}: quarantine released; the next ticket runs the plugin again")
    } else {
        format!("{brand}: was not quarantined; its failure count starts again")
    };
    c.done(&signed, message, "/console/plugins")
}

/// `GET /console/inbox`.
pub(super) async fn inbox(State(c): State<Console>, headers: HeaderMap) -> Response {
    let signed = match c.signed_in(&headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let now = chrono::Utc::now().timestamp_millis();
    let (summary, dead) = match (
        c.gw.inbox.summary(now).await,
        c.gw.inbox.dead_letters().await,
    ) {
        (Ok(s), Ok(d)) => (s, d),
        (Err(e), _) | (_, Err(e)) => {
            return refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!("cannot read the inbox: {e:#}"),
            )
        }
    };
    let mut body = format!(
        "<div class=\"stats\" id=\"inbox-stats\"><div>Depth<strong>{}</strong></div><div>Running<strong>{}</strong></div>\
         <div>Due, waiting for a worker<strong>{}</strong></div><div>Waiting for retry<strong>{}</strong></div>\
         <div>Dead letters<strong>{}</strong></div></div><h2>Dead letters</h2>",
        summary.depth, summary.running, summary.due, summary.waiting_for_retry, summary.dead
    );
    if dead.is_empty() {
        body.push_str("<p>None.</p>");
    } else {
        body.push_str("<table id=\"dead\"><tr><th>Environment</th><th>Ticket</th><th>Endpoint</th><th>Attempts</th><th>Why</th><th></th></tr>");
        for d in &dead {
            let base = format!("/console/inbox/{}/{}", url(&d.environment), d.ticket_id);
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td>{}</td><td>{}{}</td></tr>",
                esc(&d.environment),
                d.ticket_id,
                esc(&d.endpoint),
                d.attempts,
                esc(&d.reason),
                button(&format!("{base}/retry"), &signed.session.csrf, "Retry", &[]),
                button(&format!("{base}/hand-off"), &signed.session.csrf, "Hand off to humans", &[]),
            );
        }
        body.push_str("</table>");
    }
    body.push_str("<p>A dead letter is a ticket given up after repeated passing failures whose hand-off could not be written either. Retry runs it again now; hand off writes the hand-off note, tag and unassignment and forgets it.</p>");
    let mut chrome = signed.chrome(&c, "inbox");
    chrome.refresh_secs = Some(10);
    Html(page("Inbox", &chrome, &body)).into_response()
}

/// `POST /console/inbox/{environment}/{ticket}/retry`.
pub(super) async fn retry_dead_letter(
    State(c): State<Console>,
    headers: HeaderMap,
    Path((environment, ticket)): Path<(String, u64)>,
    Form(form): FormData,
) -> Response {
    let signed = match c.change(&headers, &form) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let message = match c.gw.retry_dead_letter(&environment, ticket).await {
        Ok(true) => {
            tracing::warn!(operator = %signed.session.operator, ticket, environment = %environment, "console: dead letter retried");
            format!("ticket {ticket} of {environment}: running again")
        }
        Ok(false) => format!("ticket {ticket} of {environment} is not a dead letter"),
        Err(e) => format!("cannot revive ticket {ticket}: {e:#}"),
    };
    c.done(&signed, message, "/console/inbox")
}

/// `POST /console/inbox/{environment}/{ticket}/hand-off`.
pub(super) async fn hand_off_dead_letter(
    State(c): State<Console>,
    headers: HeaderMap,
    Path((environment, ticket)): Path<(String, u64)>,
    Form(form): FormData,
) -> Response {
    let signed = match c.change(&headers, &form) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let dead = match c.gw.inbox.dead_letters().await {
        Ok(list) => list
            .into_iter()
            .find(|d| d.environment == environment && d.ticket_id == ticket),
        Err(e) => {
            return refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!("cannot read the inbox: {e:#}"),
            )
        }
    };
    let Some(dead) = dead else {
        return c.done(
            &signed,
            format!("ticket {ticket} of {environment} is not a dead letter"),
            "/console/inbox",
        );
    };
    let message = match crate::pipeline::handling::hand_off_dead_letter(
        &c.gw,
        &dead,
        &signed.session.operator,
    )
    .await
    {
        Ok(()) => {
            tracing::warn!(operator = %signed.session.operator, ticket, environment = %environment, "console: dead letter handed to humans");
            format!("ticket {ticket} of {environment}: handed to humans")
        }
        Err(why) => format!("ticket {ticket} of {environment}: {why}"),
    };
    c.done(&signed, message, "/console/inbox")
}

/// `GET /console/runs?brand=&outcome=&ticket=&refresh=off`.
pub(super) async fn runs(
    State(c): State<Console>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let signed = match c.signed_in(&headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let get = |k: &str| q.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    let filter = AuditFilter {
        brand: get("brand").map(Into::into),
        outcome: get("outcome").and_then(Outcome::parse),
        ticket_id: get("ticket").and_then(|t| t.parse().ok()),
        since: None,
    };
    let audit = c.gw.audit.clone();
    let f = filter.clone();
    let records = match tokio::task::spawn_blocking(move || audit.list(&f, 200)).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            return refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!("cannot read the audit trail: {e:#}"),
            )
        }
        Err(e) => return refuse(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    let config = c.gw.config();
    let mut brands = String::from("<option value=\"\">all</option>");
    for name in config.brands.keys() {
        let sel = if filter.brand.as_deref() == Some(name) {
            " selected"
        } else {
            ""
        };
        let _ = write!(brands, "<option{sel}>{}</option>", esc(name));
    }
    let mut outcomes = String::from("<option value=\"\">all</option>");
    for o in Outcome::ALL {
        let sel = if filter.outcome == Some(o) {
            " selected"
        } else {
            ""
        };
        let _ = write!(outcomes, "<option{sel}>{o}</option>");
    }
    let live = get("refresh") != Some("off");
    let mut body = format!(
        "<form method=\"get\" action=\"/console/runs\" class=\"filters\"><label>Brand <select name=\"brand\">{brands}</select></label>\
         <label>Outcome <select name=\"outcome\">{outcomes}</select></label>\
         <label>Ticket <input type=\"text\" name=\"ticket\" size=\"8\" value=\"{}\"></label>\
         <label><input type=\"checkbox\" name=\"refresh\" value=\"off\"{}> pause auto-refresh</label>\
         <button type=\"submit\">Filter</button></form>\
         <table id=\"runs\"><tr><th>Ended</th><th>Ticket</th><th>Brand</th><th>Mode</th><th>Outcome</th><th>Why</th><th>Plugin</th><th></th></tr>",
        filter.ticket_id.map(|t| t.to_string()).unwrap_or_default(),
        if live { "" } else { " checked" },
    );
    for n in &records {
        let r = &n.record;
        let reason: String = r.reason.chars().take(140).collect();
        let _ = write!(
            body,
            "<tr data-ticket=\"{}\" data-outcome=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td><a href=\"/console/runs/{}\">details</a></td></tr>",
            r.ticket_id,
            r.outcome,
            esc(&r.at),
            r.ticket_id,
            esc(&r.brand),
            esc(&r.mode),
            r.outcome,
            esc(&reason),
            esc(&r.plugin_version.chars().take(12).collect::<String>()),
            n.id
        );
    }
    body.push_str("</table>");
    if records.is_empty() {
        body.push_str("<p>No runs match.</p>");
    }
    let mut chrome = signed.chrome(&c, "runs");
    chrome.refresh_secs = live.then_some(5);
    Html(page("Runs", &chrome, &body)).into_response()
}

fn pretty(v: &serde_json::Value) -> String {
    esc(&serde_json::to_string_pretty(v).unwrap_or_default())
}

/// `GET /console/runs/{id}`.
pub(super) async fn run(
    State(c): State<Console>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Response {
    let signed = match c.signed_in(&headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let audit = c.gw.audit.clone();
    let record = match tokio::task::spawn_blocking(move || audit.get(id)).await {
        Ok(Ok(Some(n))) => n.record,
        Ok(Ok(None)) => return refuse(StatusCode::NOT_FOUND, &format!("no run {id}")),
        Ok(Err(e)) => {
            return refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!("cannot read the audit trail: {e:#}"),
            )
        }
        Err(e) => return refuse(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    let config = c.gw.config();
    let link = config
        .environments
        .get(&record.environment)
        .map(|e| {
            let href = format!("{}/agent/tickets/{}", e.base_url, record.ticket_id);
            format!("<a id=\"zendesk-link\" href=\"{}\" rel=\"noreferrer noopener\" target=\"_blank\">open ticket {} in Zendesk</a>", esc(&href), record.ticket_id)
        })
        .unwrap_or_else(|| format!("(environment {} is no longer in the config)", esc(&record.environment)));
    let committed = record
        .committed
        .as_ref()
        .map(|c| format!("<pre id=\"committed\">{}</pre>", pretty(c)))
        .unwrap_or_else(|| "<p id=\"committed\">Nothing was sent to Zendesk.</p>".into());
    let body = format!(
        "<table id=\"run\"><tr><th>Ticket</th><td>{} — {link}</td></tr><tr><th>Brand</th><td>{}</td></tr>\
         <tr><th>Environment / endpoint</th><td>{} / {}</td></tr><tr><th>Mode</th><td>{}</td></tr>\
         <tr><th>Outcome</th><td>{}</td></tr><tr><th>Why</th><td>{}</td></tr>\
         <tr><th>Plugin version</th><td><code>{}</code></td></tr><tr><th>Notification arrived</th><td>{}</td></tr>\
         <tr><th>Ended</th><td>{}</td></tr><tr><th>Duration</th><td>{} ms</td></tr></table>\
         <h2>What the plugin staged</h2><pre id=\"staged\">{}</pre><h2>What was committed</h2>{committed}\
         <p><a href=\"/console/runs?ticket={}\">All runs of this ticket</a></p>",
        record.ticket_id,
        esc(&record.brand),
        esc(&record.environment),
        esc(&record.endpoint),
        esc(&record.mode),
        record.outcome,
        esc(&record.reason),
        esc(&record.plugin_version),
        esc(record.received_at.as_deref().unwrap_or("unknown")),
        esc(&record.at),
        record.duration_ms,
        pretty(&record.staged),
        record.ticket_id,
    );
    Html(page(
        &format!("Run {id}"),
        &signed.chrome(&c, "runs"),
        &body,
    ))
    .into_response()
}
