//! The console's report page (SVG charts and a table) and its CSV download, both from
//! `store::report`, the figures `zendesk-gateway report` prints.

use super::html::{bar_chart, esc, page as layout, url, Series};
use super::{refuse, Console};
use crate::store::report::{compute, human_ms, parse_period, stamp, Report, ReportOptions};
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use std::collections::HashMap;
use std::fmt::Write;

/// The query's options, with the config's reopening window by default.
struct Asked {
    since: String,
    brand: Option<String>,
    reopen_days: u32,
}

fn asked(c: &Console, q: &HashMap<String, String>) -> Asked {
    let get = |k: &str| {
        q.get(k)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    Asked {
        since: get("since").unwrap_or_else(|| "7d".into()),
        brand: get("brand"),
        reopen_days: get("reopen_days")
            .and_then(|d| d.parse().ok())
            .unwrap_or(c.gw.config().gateway.report_reopen_days)
            .min(365),
    }
}

async fn build(c: &Console, a: &Asked) -> Result<Report, Response> {
    let period = parse_period(&a.since).map_err(|e| refuse(StatusCode::BAD_REQUEST, &e))?;
    let now = chrono::Utc::now();
    let options = ReportOptions {
        since: now - period,
        brand: a.brand.clone(),
        reopen_days: a.reopen_days,
    };
    let audit = c.gw.audit.clone();
    // The report reads and folds the whole period: off the async threads.
    let computed = tokio::task::spawn_blocking(move || {
        let records = audit.since(&stamp(options.since))?;
        anyhow::Ok(compute(&records, &options, now))
    })
    .await;
    match computed {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(e)) => Err(refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("cannot read the audit trail: {e:#}"),
        )),
        Err(e) => Err(refuse(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string())),
    }
}

fn query_string(a: &Asked) -> String {
    let mut q = format!("since={}&reopen_days={}", url(&a.since), a.reopen_days);
    if let Some(b) = &a.brand {
        let _ = write!(q, "&brand={}", url(b));
    }
    q
}

/// The report page of the query `q` (`since=7d&brand=&reopen_days=`).
async fn page_(c: Console, headers: HeaderMap, q: HashMap<String, String>) -> Response {
    let signed = match c.signed_in(&headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let a = asked(&c, &q);
    let report = match build(&c, &a).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    let config = c.gw.config();
    let mut brands = String::from("<option value=\"\">all</option>");
    for name in config.brands.keys() {
        let sel = if a.brand.as_deref() == Some(name) {
            " selected"
        } else {
            ""
        };
        let _ = write!(brands, "<option{sel}>{}</option>", esc(name));
    }
    let mut body = format!(
        "<form method=\"get\" action=\"/console/report\" class=\"filters\">\
         <label>Period <input type=\"text\" name=\"since\" size=\"5\" value=\"{}\"></label>\
         <label>Brand <select name=\"brand\">{brands}</select></label>\
         <label>Reopened within (days) <input type=\"number\" name=\"reopen_days\" min=\"0\" max=\"365\" value=\"{}\"></label>\
         <button type=\"submit\">Show</button></form>\
         <p>From {} to {}. <strong>Resolved</strong>: solved by the AI seat in live mode and not reopened by the customer within {} days. \
         <a id=\"csv\" href=\"/console/report.csv?{}\" download>Download CSV</a></p>",
        esc(&a.since),
        a.reopen_days,
        esc(&report.since),
        esc(&report.until),
        report.reopen_days,
        query_string(&a)
    );
    if report.days.is_empty() {
        body.push_str("<p>No runs in this period.</p>");
    }
    for total in &report.totals {
        let days: Vec<_> = report
            .days
            .iter()
            .filter(|d| d.brand == total.brand)
            .collect();
        let labels: Vec<String> = days
            .iter()
            .map(|d| d.day.format("%m-%d").to_string())
            .collect();
        let col = |f: &dyn Fn(&crate::store::report::DayFigures) -> u64| {
            days.iter().map(|d| f(d) as f64).collect::<Vec<_>>()
        };
        let _ = write!(body, "<h2>{}</h2>", esc(&total.brand));
        body.push_str(&bar_chart(
            &format!("{}: tickets per day", total.brand),
            &labels,
            &[
                Series {
                    name: "resolved",
                    colour: "#2a8a4a",
                    values: col(&|d| d.resolved),
                },
                Series {
                    name: "handed off",
                    colour: "#d08a1e",
                    values: col(&|d| d.handed_off),
                },
                Series {
                    name: "failed",
                    colour: "#c0392b",
                    values: col(&|d| d.failed),
                },
                Series {
                    name: "skipped",
                    colour: "#8c99a6",
                    values: col(&|d| d.skipped),
                },
            ],
            "",
        ));
        let secs = |v: Option<u64>| v.unwrap_or(0) as f64 / 1000.0;
        body.push_str(&bar_chart(
            &format!("{}: time to first response", total.brand),
            &labels,
            &[
                Series {
                    name: "p50",
                    colour: "#2f6db5",
                    values: days.iter().map(|d| secs(d.first_response_p50_ms)).collect(),
                },
                Series {
                    name: "p95",
                    colour: "#7a4fb5",
                    values: days.iter().map(|d| secs(d.first_response_p95_ms)).collect(),
                },
            ],
            " s",
        ));
        if !total.handed_off_by_reason.is_empty() {
            body.push_str(
                "<table class=\"reasons\"><tr><th>Handed off because</th><th>Runs</th></tr>",
            );
            for (reason, n) in &total.handed_off_by_reason {
                let _ = write!(
                    body,
                    "<tr><td>{}</td><td class=\"num\">{n}</td></tr>",
                    esc(reason)
                );
            }
            body.push_str("</table>");
        }
    }
    body.push_str(
        "<h2>Per brand and day</h2><table id=\"report\"><tr><th>Brand</th><th>Day</th><th>Runs</th><th>Resolved</th>\
         <th>Reopened</th><th>Handed off</th><th>Skipped</th><th>Failed</th><th>Replies</th><th>First response p50</th>\
         <th>p95</th></tr>",
    );
    let row = |d: &crate::store::report::DayFigures, day: &str| {
        format!(
            "<tr data-brand=\"{b}\" data-day=\"{day}\"><td>{b}</td><td>{day}</td><td class=\"num\">{}</td><td class=\"num resolved\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            d.runs, d.resolved, d.reopened, d.handed_off, d.skipped, d.failed, d.replies,
            human_ms(d.first_response_p50_ms), human_ms(d.first_response_p95_ms),
            b = esc(&d.brand),
        )
    };
    for d in &report.days {
        body.push_str(&row(d, &d.day.to_string()));
    }
    for t in &report.totals {
        body.push_str(&row(t, "total"));
    }
    body.push_str("</table>");
    Html(layout("Report", &signed.chrome(&c, "report"), &body)).into_response()
}

/// `GET /console/report`.
pub(super) async fn page(
    State(c): State<Console>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    page_(c, headers, q).await
}

/// `GET /console/report.csv`: the table as CSV, as a download.
pub(super) async fn csv(
    State(c): State<Console>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Err(r) = c.signed_in(&headers) {
        return r;
    }
    let a = asked(&c, &q);
    let report = match build(&c, &a).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    let name = format!(
        "zendesk-gateway-report-{}.csv",
        chrono::Utc::now().format("%Y-%m-%d")
    );
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        report.to_csv(),
    )
        .into_response()
}
