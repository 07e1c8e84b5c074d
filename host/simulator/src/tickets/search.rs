//! `GET /api/v2/search.json?query=...`: the ticket search an agent may use to find
//! tickets changed since some time (the gateway's catch-up sweep).
//!
//! Only what the gateway asks is modelled: `type:ticket`, `updated` and `created`
//! with `>`, `>=`, `<`, `<=` (a date `2026-12-01` or a time `2026-12-01T10:00:00Z`),
//! `brand:<id>` (also `brand_id:<id>`; Zendesk also takes a brand's name, which the
//! simulator does not), `status` with `:`, `<`, `>`, `<=`, `>=`, and free words
//! matched against the subject and comments. `sort_by` (`updated_at`, `created_at`)
//! and `sort_order` (`asc`, default `desc`), offset paging with `per_page` (at most
//! 100) and `page`, at most 1,000 results in all (then 422, as Zendesk answers).
//! Zendesk's results lag behind writes by a short while; the simulator's do not.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{json, Value};

use super::desk::{Desk, Ticket};
use crate::common::{query_param, ApiError, STATUSES};

/// Zendesk's search returns at most this many results through offset paging.
const MAX_RESULTS: usize = 1000;

/// One comparison of a query.
#[derive(Debug)]
enum Term {
    Updated(std::cmp::Ordering, bool, DateTime<Utc>),
    Created(std::cmp::Ordering, bool, DateTime<Utc>),
    Brand(Option<u64>),
    Status(&'static str, usize),
    Word(String),
    /// `type:` something other than ticket: nothing matches.
    OtherType,
}

fn parse_time(v: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(v)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDate::parse_from_str(v, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|t| t.and_utc())
        })
}

/// `key>=value` split into (key, operator, value).
fn split_op(token: &str) -> Option<(&str, &'static str, &str)> {
    for op in [">=", "<=", ">", "<", ":"] {
        if let Some(i) = token.find(op) {
            let op: &'static str = match op {
                ">=" => ">=",
                "<=" => "<=",
                ">" => ">",
                "<" => "<",
                _ => ":",
            };
            return Some((&token[..i], op, &token[i + op.len()..]));
        }
    }
    None
}

fn ordering(op: &str) -> (std::cmp::Ordering, bool) {
    match op {
        ">" => (std::cmp::Ordering::Greater, false),
        ">=" => (std::cmp::Ordering::Greater, true),
        "<" => (std::cmp::Ordering::Less, false),
        "<=" => (std::cmp::Ordering::Less, true),
        _ => (std::cmp::Ordering::Equal, true),
    }
}

fn parse_query(q: &str) -> Result<Vec<Term>, ApiError> {
    let bad = |t: &str| {
        ApiError::BadRequest(
            "InvalidSearch",
            format!("Invalid search: cannot read {t:?}"),
        )
    };
    let mut terms = Vec::new();
    for token in q.split_whitespace() {
        let Some((key, op, value)) = split_op(token) else {
            terms.push(Term::Word(token.to_lowercase()));
            continue;
        };
        let (ord, or_equal) = ordering(op);
        match key {
            "type" if value == "ticket" => {}
            "type" => terms.push(Term::OtherType),
            "updated" => terms.push(Term::Updated(
                ord,
                or_equal,
                parse_time(value).ok_or_else(|| bad(token))?,
            )),
            "created" => terms.push(Term::Created(
                ord,
                or_equal,
                parse_time(value).ok_or_else(|| bad(token))?,
            )),
            "brand" | "brand_id" => terms.push(Term::Brand(value.parse().ok())),
            "status" => {
                let rank = STATUSES
                    .iter()
                    .position(|s| s.eq_ignore_ascii_case(value))
                    .ok_or_else(|| bad(token))?;
                terms.push(Term::Status(op, rank));
            }
            _ => terms.push(Term::Word(token.to_lowercase())),
        }
    }
    Ok(terms)
}

fn compare(
    actual: DateTime<Utc>,
    ord: std::cmp::Ordering,
    or_equal: bool,
    t: DateTime<Utc>,
) -> bool {
    let c = actual.cmp(&t);
    c == ord || (or_equal && c == std::cmp::Ordering::Equal)
}

fn matches(t: &Ticket, terms: &[Term]) -> bool {
    let rank = STATUSES.iter().position(|s| *s == t.status).unwrap_or(0);
    terms.iter().all(|term| match term {
        Term::Updated(o, e, at) => compare(t.updated_at, *o, *e, *at),
        Term::Created(o, e, at) => compare(t.created_at, *o, *e, *at),
        Term::Brand(id) => *id == Some(t.brand_id),
        Term::Status(op, r) => match *op {
            "<" => rank < *r,
            "<=" => rank <= *r,
            ">" => rank > *r,
            ">=" => rank >= *r,
            _ => rank == *r,
        },
        Term::Word(w) => {
            t.subject.to_lowercase().contains(w)
                || t.comments.iter().any(|c| c.body.to_lowercase().contains(w))
        }
        Term::OtherType => false,
    })
}

impl Desk {
    /// `GET /api/v2/search.json`: tickets matching `query`, as search results.
    pub(crate) fn api_search(
        &self,
        query: &[(String, String)],
        base: &str,
    ) -> Result<Value, ApiError> {
        let q = query_param(query, "query").unwrap_or_default();
        if q.trim().is_empty() {
            return Err(ApiError::BadRequest(
                "InvalidSearch",
                "Invalid search: the query is empty".into(),
            ));
        }
        let terms = parse_query(q)?;
        let mut found: Vec<&Ticket> = self
            .tickets
            .values()
            .filter(|t| self.visible_ticket(t.id).is_ok())
            .filter(|t| matches(t, &terms))
            .collect();
        let by_created = query_param(query, "sort_by") == Some("created_at");
        found.sort_by_key(|t| {
            (
                if by_created {
                    t.created_at
                } else {
                    t.updated_at
                },
                t.id,
            )
        });
        if query_param(query, "sort_order") != Some("asc") {
            found.reverse();
        }
        let per_page = query_param(query, "per_page")
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(100)
            .clamp(1, 100);
        let page = query_param(query, "page")
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(1)
            .max(1);
        if page * per_page > MAX_RESULTS {
            return Err(ApiError::Invalid(vec![(
                "base".into(),
                "Invalid search: Requested response size was greater than Search Response Limits"
                    .into(),
            )]));
        }
        let start = (page - 1) * per_page;
        let results: Vec<Value> = found
            .iter()
            .skip(start)
            .take(per_page)
            .map(|t| {
                let mut v = self.ticket_json(t, base);
                v["result_type"] = json!("ticket");
                v
            })
            .collect();
        let link = |p: usize| {
            let mut url = reqwest::Url::parse(&format!("{base}/api/v2/search.json")).ok()?;
            url.query_pairs_mut()
                .append_pair("query", q)
                .append_pair("per_page", &per_page.to_string())
                .append_pair("page", &p.to_string());
            for key in ["sort_by", "sort_order"] {
                if let Some(v) = query_param(query, key) {
                    url.query_pairs_mut().append_pair(key, v);
                }
            }
            Some(url.to_string())
        };
        let more = start + results.len() < found.len().min(MAX_RESULTS);
        Ok(json!({
            "results": results,
            "count": found.len(),
            "next_page": if more { link(page + 1) } else { None },
            "previous_page": if page > 1 { link(page - 1) } else { None },
            "facets": null,
        }))
    }
}
