//! The resolution report: per brand and day, what the AI did, computed over the audit
//! trail. The one place these figures are defined; the console's report page and
//! `zendesk-gateway report` both print what [`compute`] returns.
//!
//! - **Resolved**: tickets the seat solved (a committed update with status `solved`, in
//!   live mode) that the customer did not reopen within `reopen_days`: no later run of
//!   the ticket within that time whose notification came from a new customer message.
//!   A run answers a new customer message exactly when the host's guards let the plugin
//!   run (outcome handled, handed off or failed); the echo of the AI's own update and a
//!   human agent's reply are skipped by the guards and do not count as reopening.
//! - **Handed off** (by reason), **skipped**, **failed**: runs with those outcomes.
//! - **Time to first response**: from the arrival of the notification a run answered to
//!   the end of the run that committed a public reply in live mode; p50 and p95
//!   (nearest rank) over the day's replies.
//!
//! Days are UTC days of the run's end.

use super::audit::AuditRecord;
use crate::outcome::Outcome;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// What to report on.
#[derive(Debug, Clone)]
pub struct ReportOptions {
    /// Runs that ended at or after this time.
    pub since: DateTime<Utc>,
    /// Only this brand.
    pub brand: Option<String>,
    /// A solved ticket whose customer writes again within this many days is not counted
    /// as resolved.
    pub reopen_days: u32,
}

/// One brand's figures on one day.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DayFigures {
    /// The brand.
    pub brand: String,
    /// The UTC day.
    pub day: NaiveDate,
    /// Runs that ended this day (retries included).
    pub runs: u64,
    /// Tickets solved by the seat this day and not reopened within `reopen_days`.
    pub resolved: u64,
    /// Tickets solved by the seat this day that the customer reopened.
    pub reopened: u64,
    /// Runs whose plugin handed the ticket to humans.
    pub handed_off: u64,
    /// Those, by reason.
    pub handed_off_by_reason: BTreeMap<String, u64>,
    /// Runs skipped (a guard, a ticket no longer the AI's).
    pub skipped: u64,
    /// Runs that failed (the gateway handed the ticket to humans).
    pub failed: u64,
    /// Public replies committed in live mode (the sample of the response times).
    pub replies: u64,
    /// Time to first response, median, in milliseconds.
    pub first_response_p50_ms: Option<u64>,
    /// Time to first response, 95th percentile, in milliseconds.
    pub first_response_p95_ms: Option<u64>,
}

/// The report: every brand and day with runs, oldest first, and a total per brand.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The start of the period (RFC 3339).
    pub since: String,
    /// When the report was computed (RFC 3339).
    pub until: String,
    /// The reopening window in days.
    pub reopen_days: u32,
    /// Per brand and day, by brand then day.
    pub days: Vec<DayFigures>,
    /// Per brand over the whole period (`day` is the period's first day).
    pub totals: Vec<DayFigures>,
}

/// The longest reason kept as a group of hand-offs; longer reasons are cut (they are
/// free text from plugins).
const MAX_REASON_CHARS: usize = 80;

fn reason_key(reason: &str) -> String {
    let reason = reason.trim();
    if reason.chars().count() <= MAX_REASON_CHARS {
        return reason.to_string();
    }
    let mut cut: String = reason.chars().take(MAX_REASON_CHARS - 1).collect();
    cut.push('…');
    cut
}

fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Whether a run's committed update solved the ticket in live mode.
fn solved(r: &AuditRecord) -> bool {
    r.mode == "live"
        && r.committed
            .as_ref()
            .and_then(|c| c.get("status"))
            .and_then(|s| s.as_str())
            == Some("solved")
}

/// Whether a run committed a public reply in live mode.
fn replied(r: &AuditRecord) -> bool {
    r.mode == "live"
        && r.committed
            .as_ref()
            .and_then(|c| c.get("comment"))
            .and_then(|c| c.get("public"))
            .and_then(|p| p.as_bool())
            == Some(true)
}

/// Whether a run answered a new customer message (see the module's documentation).
fn answers_customer(r: &AuditRecord) -> bool {
    matches!(
        r.outcome,
        Outcome::Handled | Outcome::HandedOff | Outcome::Failed
    )
}

/// The nearest-rank percentile `p` (0..=100) of sorted `values`.
fn percentile(sorted: &[u64], p: u64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * sorted.len() as u64).div_ceil(100).max(1) as usize;
    Some(sorted[rank.min(sorted.len()) - 1])
}

/// Computes the report over `records` (every run since `options.since`, in the order
/// they were recorded, later runs included: they decide reopening), as of `now`.
pub fn compute(records: &[AuditRecord], options: &ReportOptions, now: DateTime<Utc>) -> Report {
    let window = Duration::days(options.reopen_days as i64);
    // Per ticket, the times of runs that answered a new customer message.
    let mut customer_runs: HashMap<(&str, u64), Vec<DateTime<Utc>>> = HashMap::new();
    for r in records {
        if let (true, Some(at)) = (answers_customer(r), parse_time(&r.at)) {
            customer_runs
                .entry((r.environment.as_str(), r.ticket_id))
                .or_default()
                .push(at);
        }
    }
    let mut days: BTreeMap<(String, NaiveDate), DayFigures> = BTreeMap::new();
    let mut waits: BTreeMap<(String, NaiveDate), Vec<u64>> = BTreeMap::new();
    for r in records {
        let Some(at) = parse_time(&r.at) else {
            continue;
        };
        if at < options.since || r.brand.is_empty() {
            continue;
        }
        if options.brand.as_ref().is_some_and(|b| *b != r.brand) {
            continue;
        }
        let key = (r.brand.clone(), at.date_naive());
        let d = days.entry(key.clone()).or_insert_with(|| DayFigures {
            brand: r.brand.clone(),
            day: key.1,
            ..Default::default()
        });
        d.runs += 1;
        match r.outcome {
            Outcome::HandedOff => {
                d.handed_off += 1;
                *d.handed_off_by_reason
                    .entry(reason_key(&r.reason))
                    .or_default() += 1;
            }
            Outcome::Skipped => d.skipped += 1,
            Outcome::Failed => d.failed += 1,
            Outcome::Handled | Outcome::Retry => {}
        }
        if solved(r) {
            let reopened = customer_runs
                .get(&(r.environment.as_str(), r.ticket_id))
                .is_some_and(|runs| runs.iter().any(|t| *t > at && *t <= at + window));
            if reopened {
                d.reopened += 1;
            } else {
                d.resolved += 1;
            }
        }
        if replied(r) {
            d.replies += 1;
            if let Some(received) = r.received_at.as_deref().and_then(parse_time) {
                waits
                    .entry(key)
                    .or_default()
                    .push((at - received).num_milliseconds().max(0) as u64);
            }
        }
    }
    let mut totals: BTreeMap<String, (DayFigures, Vec<u64>)> = BTreeMap::new();
    for (key, d) in days.iter_mut() {
        let mut w = waits.remove(key).unwrap_or_default();
        let (total, all_waits) = totals.entry(d.brand.clone()).or_insert_with(|| {
            (
                DayFigures {
                    brand: d.brand.clone(),
                    day: options.since.date_naive(),
                    ..Default::default()
                },
                Vec::new(),
            )
        });
        total.runs += d.runs;
        total.resolved += d.resolved;
        total.reopened += d.reopened;
        total.handed_off += d.handed_off;
        for (reason, n) in &d.handed_off_by_reason {
            *total
                .handed_off_by_reason
                .entry(reason.clone())
                .or_default() += n;
        }
        total.skipped += d.skipped;
        total.failed += d.failed;
        total.replies += d.replies;
        all_waits.extend_from_slice(&w);
        w.sort_unstable();
        d.first_response_p50_ms = percentile(&w, 50);
        d.first_response_p95_ms = percentile(&w, 95);
    }
    let totals = totals
        .into_values()
        .map(|(mut t, mut w)| {
            w.sort_unstable();
            t.first_response_p50_ms = percentile(&w, 50);
            t.first_response_p95_ms = percentile(&w, 95);
            t
        })
        .collect();
    Report {
        since: stamp(options.since),
        until: stamp(now),
        reopen_days: options.reopen_days,
        days: days.into_values().collect(),
        totals,
    }
}

/// A time as the audit trail writes it (RFC 3339, UTC, milliseconds), so that text
/// comparison in the database is time order.
pub fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Parses a period like `7d`, `24h`, `90m` or `2w` into a duration.
pub fn parse_period(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (n, unit) = text.split_at(split);
    let n: i64 = n
        .parse()
        .map_err(|_| format!("{text:?} is not a period like 7d, 24h or 30m"))?;
    let d = match unit {
        "m" => Duration::minutes(n),
        "h" => Duration::hours(n),
        "d" | "" => Duration::days(n),
        "w" => Duration::weeks(n),
        _ => return Err(format!("{text:?}: the unit must be m, h, d or w")),
    };
    if n <= 0 || n > 3660 {
        return Err(format!(
            "{text:?}: the period must be positive and at most 3660 units"
        ));
    }
    Ok(d)
}

impl Report {
    /// The CSV header of [`Report::to_csv`].
    pub const CSV_HEADER: &'static str = "brand,day,runs,resolved,reopened,handed_off,skipped,failed,replies,first_response_p50_ms,first_response_p95_ms,handed_off_by_reason";

    /// The per-day figures as CSV (RFC 4180 quoting), one line per brand and day.
    pub fn to_csv(&self) -> String {
        let mut out = String::from(Self::CSV_HEADER);
        out.push_str("\r\n");
        for d in &self.days {
            let reasons = d
                .handed_off_by_reason
                .iter()
                .map(|(r, n)| format!("{r}: {n}"))
                .collect::<Vec<_>>()
                .join("; ");
            let opt = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_default();
            out.push_str(&format!(
                "{},{},{},{},{},{},{},{},{},{},{},{}\r\n",
                csv_field(&d.brand),
                d.day,
                d.runs,
                d.resolved,
                d.reopened,
                d.handed_off,
                d.skipped,
                d.failed,
                d.replies,
                opt(d.first_response_p50_ms),
                opt(d.first_response_p95_ms),
                csv_field(&reasons)
            ));
        }
        out
    }

    /// The report as text for a terminal: a table per day, then the totals.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "Resolution report from {} to {} (resolved = solved by the AI and not reopened within {} days)\n\n",
            self.since, self.until, self.reopen_days
        );
        if self.days.is_empty() {
            out.push_str("no runs in this period\n");
            return out;
        }
        let header = format!(
            "{:<14} {:<10} {:>6} {:>8} {:>8} {:>10} {:>7} {:>6} {:>9} {:>9}\n",
            "brand",
            "day",
            "runs",
            "resolved",
            "reopened",
            "handed off",
            "skipped",
            "failed",
            "ttfr p50",
            "ttfr p95"
        );
        let line = |d: &DayFigures, day: &str| {
            format!(
                "{:<14} {:<10} {:>6} {:>8} {:>8} {:>10} {:>7} {:>6} {:>9} {:>9}\n",
                d.brand,
                day,
                d.runs,
                d.resolved,
                d.reopened,
                d.handed_off,
                d.skipped,
                d.failed,
                human_ms(d.first_response_p50_ms),
                human_ms(d.first_response_p95_ms)
            )
        };
        out.push_str(&header);
        for d in &self.days {
            out.push_str(&line(d, &d.day.to_string()));
        }
        out.push('\n');
        out.push_str(&header);
        for t in &self.totals {
            out.push_str(&line(t, "total"));
            for (reason, n) in &t.handed_off_by_reason {
                out.push_str(&format!("    handed off {n} x: {reason}\n"));
            }
        }
        out
    }
}

/// A duration in milliseconds as `850 ms`, `4.2 s` or `3.5 min`; `-` for none.
pub fn human_ms(ms: Option<u64>) -> String {
    match ms {
        None => "-".into(),
        Some(ms) if ms < 1000 => format!("{ms} ms"),
        Some(ms) if ms < 120_000 => format!("{:.1} s", ms as f64 / 1000.0),
        Some(ms) => format!("{:.1} min", ms as f64 / 60_000.0),
    }
}

fn csv_field(text: &str) -> String {
    // A leading =, +, - or @ would be a formula to a spreadsheet: brands and plugin
    // reasons are not trusted to be harmless.
    let text = if text.starts_with(['=', '+', '-', '@']) {
        format!("'{text}")
    } else {
        text.to_string()
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(
        at: &str,
        ticket: u64,
        brand: &str,
        mode: &str,
        outcome: Outcome,
        committed: Option<serde_json::Value>,
        received_at: Option<&str>,
    ) -> AuditRecord {
        AuditRecord {
            at: at.into(),
            started_at: String::new(),
            ticket_id: ticket,
            brand: brand.into(),
            environment: "prod".into(),
            endpoint: brand.into(),
            mode: mode.into(),
            plugin_version: "v1".into(),
            outcome,
            reason: if outcome == Outcome::HandedOff {
                "refund over the limit".into()
            } else {
                "ok".into()
            },
            staged: json!({}),
            committed,
            duration_ms: 10,
            received_at: received_at.map(Into::into),
        }
    }

    fn solve() -> Option<serde_json::Value> {
        Some(json!({"comment": {"body": "Done!", "public": true}, "status": "solved"}))
    }

    fn reply() -> Option<serde_json::Value> {
        Some(json!({"comment": {"body": "Hi", "public": true}}))
    }

    /// A known sequence of runs over two days and two brands, with every rule of the
    /// module's documentation exercised once.
    fn sequence() -> Vec<AuditRecord> {
        use Outcome::*;
        vec![
            // Day 1, retail. Ticket 1: solved, reply after 2 s; its echo is skipped.
            run(
                "2024-05-01T10:00:02Z",
                1,
                "retail",
                "live",
                Handled,
                solve(),
                Some("2024-05-01T10:00:00Z"),
            ),
            run(
                "2024-05-01T10:00:03Z",
                1,
                "retail",
                "live",
                Skipped,
                None,
                Some("2024-05-01T10:00:02.500Z"),
            ),
            // Ticket 2: solved after a retry (10 s from arrival), then reopened on day 3.
            run(
                "2024-05-01T11:00:01Z",
                2,
                "retail",
                "live",
                Retry,
                None,
                Some("2024-05-01T11:00:00Z"),
            ),
            run(
                "2024-05-01T11:00:10Z",
                2,
                "retail",
                "live",
                Handled,
                solve(),
                Some("2024-05-01T11:00:00Z"),
            ),
            run(
                "2024-05-03T09:00:00Z",
                2,
                "retail",
                "live",
                Handled,
                reply(),
                Some("2024-05-03T08:59:59Z"),
            ),
            // Ticket 3: solved in listening mode: not the AI's resolution.
            run(
                "2024-05-01T12:00:00Z",
                3,
                "retail",
                "listening",
                Handled,
                Some(json!({"comment": {"body": "[AI draft]", "public": false}})),
                Some("2024-05-01T11:59:59Z"),
            ),
            // Ticket 4: handed off twice for one reason, then failed.
            run(
                "2024-05-01T13:00:00Z",
                4,
                "retail",
                "live",
                HandedOff,
                None,
                None,
            ),
            run(
                "2024-05-01T13:05:00Z",
                4,
                "retail",
                "live",
                HandedOff,
                None,
                None,
            ),
            run(
                "2024-05-01T13:10:00Z",
                4,
                "retail",
                "live",
                Failed,
                None,
                None,
            ),
            // Ticket 5: solved; the customer writes again after the window (8 days).
            run(
                "2024-05-01T14:00:04Z",
                5,
                "retail",
                "live",
                Handled,
                solve(),
                Some("2024-05-01T14:00:00Z"),
            ),
            run(
                "2024-05-09T14:00:05Z",
                5,
                "retail",
                "live",
                Handled,
                reply(),
                Some("2024-05-09T14:00:04Z"),
            ),
            // Day 2, kids: one solve, one reply (1 s) that is not a solve.
            run(
                "2024-05-02T08:00:06Z",
                6,
                "kids",
                "live",
                Handled,
                solve(),
                Some("2024-05-02T08:00:00Z"),
            ),
            run(
                "2024-05-02T08:30:01Z",
                7,
                "kids",
                "live",
                Handled,
                reply(),
                Some("2024-05-02T08:30:00Z"),
            ),
            // Before the period: ignored, though it solved.
            run(
                "2024-04-20T08:00:00Z",
                8,
                "kids",
                "live",
                Handled,
                solve(),
                None,
            ),
        ]
    }

    fn options(brand: Option<&str>) -> ReportOptions {
        ReportOptions {
            since: parse_time("2024-05-01T00:00:00Z").unwrap(),
            brand: brand.map(Into::into),
            reopen_days: 7,
        }
    }

    #[test]
    fn figures_of_a_known_sequence() {
        let now = parse_time("2024-05-10T00:00:00Z").unwrap();
        let r = compute(&sequence(), &options(None), now);
        let day = |brand: &str, day: &str| {
            r.days
                .iter()
                .find(|d| d.brand == brand && d.day.to_string() == day)
                .unwrap_or_else(|| panic!("{brand} {day} in {:#?}", r.days))
                .clone()
        };
        let d1 = day("retail", "2024-05-01");
        assert_eq!(d1.runs, 9);
        assert_eq!(
            (d1.resolved, d1.reopened),
            (2, 1),
            "tickets 1 and 5; 2 reopened"
        );
        assert_eq!(d1.handed_off, 2);
        assert_eq!(d1.handed_off_by_reason["refund over the limit"], 2);
        assert_eq!((d1.skipped, d1.failed), (1, 1));
        // Replies of day 1: 2 s, 10 s, 4 s (listening drafts are not replies).
        assert_eq!(d1.replies, 3);
        assert_eq!(d1.first_response_p50_ms, Some(4000));
        assert_eq!(d1.first_response_p95_ms, Some(10_000));
        let d3 = day("retail", "2024-05-03");
        assert_eq!(
            (d3.resolved, d3.replies, d3.first_response_p50_ms),
            (0, 1, Some(1000))
        );
        let kids = day("kids", "2024-05-02");
        assert_eq!((kids.resolved, kids.replies), (1, 2));
        assert_eq!(kids.first_response_p50_ms, Some(1000));
        assert_eq!(kids.first_response_p95_ms, Some(6000));
        assert!(r.days.iter().all(|d| d.day.to_string() != "2024-04-20"));
        let retail = r.totals.iter().find(|t| t.brand == "retail").unwrap();
        assert_eq!(
            (retail.resolved, retail.reopened, retail.replies),
            (2, 1, 5)
        );
        assert_eq!(retail.first_response_p95_ms, Some(10_000));
        // A shorter window: ticket 2's reopening (2 days later) no longer counts.
        let short = compute(
            &sequence(),
            &ReportOptions {
                reopen_days: 1,
                ..options(None)
            },
            now,
        );
        assert_eq!(
            short
                .totals
                .iter()
                .find(|t| t.brand == "retail")
                .unwrap()
                .resolved,
            3
        );
    }

    #[test]
    fn brand_filter_csv_and_periods() {
        let now = parse_time("2024-05-10T00:00:00Z").unwrap();
        let r = compute(&sequence(), &options(Some("kids")), now);
        assert!(r.days.iter().all(|d| d.brand == "kids"));
        let csv = r.to_csv();
        let mut lines = csv.lines();
        assert_eq!(lines.next(), Some(Report::CSV_HEADER));
        assert_eq!(
            lines.next(),
            Some("kids,2024-05-02,2,1,0,0,0,0,2,1000,6000,")
        );
        assert_eq!(lines.next(), None);
        assert_eq!(csv_field("=cmd,x"), "\"'=cmd,x\"");
        assert_eq!(parse_period("7d").unwrap(), Duration::days(7));
        assert_eq!(parse_period("36h").unwrap(), Duration::hours(36));
        assert!(parse_period("7y").is_err() && parse_period("0d").is_err());
        assert_eq!(percentile(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 95), Some(10));
        assert_eq!(percentile(&[1, 2, 3, 4], 50), Some(2));
        assert!(r.to_text().contains("kids"));
    }
}
