//! The `hours` import: the brand's Zendesk business hours schedule (`schedule` in its
//! config, read from `GET /api/v2/business_hours/schedules` at start and on reload).
//! A schedule's intervals are minutes since Sunday 00:00 in its own time zone, which
//! Zendesk names the Rails way (`Eastern Time (US & Canada)`, `London`); IANA names
//! (`Europe/Berlin`) are accepted too. Holidays are not read: a hand-off on a holiday
//! names the next regular opening.

use super::context::RunContext;
use crate::bindings::zendesk_gateway::plugin::hours;
use crate::zendesk::account::Schedule;
use chrono::{DateTime, Datelike, Duration, NaiveTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

/// Minutes in a week.
const WEEK: u32 = 7 * 24 * 60;

/// A schedule ready to answer "open now? next opening?".
#[derive(Debug, Clone)]
pub struct BusinessHours {
    /// The schedule's name in Zendesk.
    pub name: String,
    /// Zendesk's name of its time zone.
    pub time_zone: String,
    tz: Tz,
    /// (start, end) minutes since Sunday 00:00 local time, sorted.
    intervals: Vec<(u32, u32)>,
}

/// The schedule at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoursNow {
    /// Whether a working period is under way.
    pub open_now: bool,
    /// When the next working period starts (when closed).
    pub next_opening: Option<DateTime<Tz>>,
    /// When the current one ends (when open).
    pub closes_at: Option<DateTime<Tz>>,
}

impl BusinessHours {
    /// The schedule, or why its time zone is unknown.
    pub fn new(s: &Schedule) -> Result<BusinessHours, String> {
        let tz = time_zone(&s.time_zone).ok_or_else(|| {
            format!(
                "schedule {:?} has the time zone {:?}, which the gateway does not know",
                s.name, s.time_zone
            )
        })?;
        let mut intervals: Vec<(u32, u32)> = s
            .intervals
            .iter()
            .filter(|i| i.end_time > i.start_time)
            .map(|i| (i.start_time % WEEK, (i.end_time).min(WEEK)))
            .collect();
        intervals.sort_unstable();
        Ok(BusinessHours {
            name: s.name.clone(),
            time_zone: s.time_zone.clone(),
            tz,
            intervals,
        })
    }

    /// The schedule at `now`.
    pub fn at(&self, now: DateTime<Utc>) -> HoursNow {
        let local = now.with_timezone(&self.tz);
        let minute =
            local.weekday().num_days_from_sunday() * 24 * 60 + local.hour() * 60 + local.minute();
        // Midnight of the local week's Sunday, as a local date.
        let sunday =
            local.date_naive() - Duration::days(local.weekday().num_days_from_sunday() as i64);
        let at_minute = |m: u32| {
            let naive = sunday.and_time(NaiveTime::MIN) + Duration::minutes(m as i64);
            // A time skipped by a DST change opens at the first valid moment after it.
            self.tz.from_local_datetime(&naive).earliest().or_else(|| {
                self.tz
                    .from_local_datetime(&(naive + Duration::hours(1)))
                    .earliest()
            })
        };
        if let Some(&(_, end)) = self
            .intervals
            .iter()
            .find(|(s, e)| *s <= minute && minute < *e)
        {
            return HoursNow {
                open_now: true,
                next_opening: None,
                closes_at: at_minute(end),
            };
        }
        let next = self
            .intervals
            .iter()
            .map(|(s, _)| *s)
            .find(|s| *s > minute)
            .or_else(|| self.intervals.first().map(|(s, _)| s + WEEK));
        HoursNow {
            open_now: false,
            next_opening: next.and_then(at_minute),
            closes_at: None,
        }
    }
}

/// `Monday 9:00`.
pub fn in_words(t: &DateTime<Tz>) -> String {
    format!("{} {}:{:02}", t.format("%A"), t.hour(), t.minute())
}

/// Zendesk's (Rails') time zone names for the zones most accounts use, and IANA names.
pub fn time_zone(name: &str) -> Option<Tz> {
    const RAILS: &[(&str, &str)] = &[
        ("UTC", "UTC"),
        ("Etc/UTC", "UTC"),
        ("International Date Line West", "Etc/GMT+12"),
        ("Midway Island", "Pacific/Midway"),
        ("American Samoa", "Pacific/Pago_Pago"),
        ("Hawaii", "Pacific/Honolulu"),
        ("Alaska", "America/Juneau"),
        ("Pacific Time (US & Canada)", "America/Los_Angeles"),
        ("Tijuana", "America/Tijuana"),
        ("Mountain Time (US & Canada)", "America/Denver"),
        ("Arizona", "America/Phoenix"),
        ("Central Time (US & Canada)", "America/Chicago"),
        ("Mexico City", "America/Mexico_City"),
        ("Saskatchewan", "America/Regina"),
        ("Eastern Time (US & Canada)", "America/New_York"),
        ("Indiana (East)", "America/Indiana/Indianapolis"),
        ("Bogota", "America/Bogota"),
        ("Lima", "America/Lima"),
        ("Atlantic Time (Canada)", "America/Halifax"),
        ("Caracas", "America/Caracas"),
        ("Santiago", "America/Santiago"),
        ("Newfoundland", "America/St_Johns"),
        ("Brasilia", "America/Sao_Paulo"),
        ("Buenos Aires", "America/Argentina/Buenos_Aires"),
        ("Greenland", "America/Godthab"),
        ("Azores", "Atlantic/Azores"),
        ("Cape Verde Is.", "Atlantic/Cape_Verde"),
        ("Dublin", "Europe/Dublin"),
        ("Edinburgh", "Europe/London"),
        ("Lisbon", "Europe/Lisbon"),
        ("London", "Europe/London"),
        ("Casablanca", "Africa/Casablanca"),
        ("Monrovia", "Africa/Monrovia"),
        ("Amsterdam", "Europe/Amsterdam"),
        ("Belgrade", "Europe/Belgrade"),
        ("Berlin", "Europe/Berlin"),
        ("Bern", "Europe/Zurich"),
        ("Zurich", "Europe/Zurich"),
        ("Bratislava", "Europe/Bratislava"),
        ("Brussels", "Europe/Brussels"),
        ("Budapest", "Europe/Budapest"),
        ("Copenhagen", "Europe/Copenhagen"),
        ("Ljubljana", "Europe/Ljubljana"),
        ("Madrid", "Europe/Madrid"),
        ("Paris", "Europe/Paris"),
        ("Prague", "Europe/Prague"),
        ("Rome", "Europe/Rome"),
        ("Sarajevo", "Europe/Sarajevo"),
        ("Skopje", "Europe/Skopje"),
        ("Stockholm", "Europe/Stockholm"),
        ("Vienna", "Europe/Vienna"),
        ("Warsaw", "Europe/Warsaw"),
        ("Zagreb", "Europe/Zagreb"),
        ("Athens", "Europe/Athens"),
        ("Bucharest", "Europe/Bucharest"),
        ("Cairo", "Africa/Cairo"),
        ("Helsinki", "Europe/Helsinki"),
        ("Jerusalem", "Asia/Jerusalem"),
        ("Kyiv", "Europe/Kiev"),
        ("Riga", "Europe/Riga"),
        ("Sofia", "Europe/Sofia"),
        ("Tallinn", "Europe/Tallinn"),
        ("Vilnius", "Europe/Vilnius"),
        ("Istanbul", "Europe/Istanbul"),
        ("Moscow", "Europe/Moscow"),
        ("Nairobi", "Africa/Nairobi"),
        ("Riyadh", "Asia/Riyadh"),
        ("Dubai", "Asia/Dubai"),
        ("Abu Dhabi", "Asia/Muscat"),
        ("Karachi", "Asia/Karachi"),
        ("Mumbai", "Asia/Kolkata"),
        ("New Delhi", "Asia/Kolkata"),
        ("Kolkata", "Asia/Kolkata"),
        ("Chennai", "Asia/Kolkata"),
        ("Kathmandu", "Asia/Kathmandu"),
        ("Dhaka", "Asia/Dhaka"),
        ("Bangkok", "Asia/Bangkok"),
        ("Jakarta", "Asia/Jakarta"),
        ("Hanoi", "Asia/Bangkok"),
        ("Beijing", "Asia/Shanghai"),
        ("Hong Kong", "Asia/Hong_Kong"),
        ("Singapore", "Asia/Singapore"),
        ("Taipei", "Asia/Taipei"),
        ("Perth", "Australia/Perth"),
        ("Seoul", "Asia/Seoul"),
        ("Tokyo", "Asia/Tokyo"),
        ("Osaka", "Asia/Tokyo"),
        ("Adelaide", "Australia/Adelaide"),
        ("Darwin", "Australia/Darwin"),
        ("Brisbane", "Australia/Brisbane"),
        ("Canberra", "Australia/Canberra"),
        ("Melbourne", "Australia/Melbourne"),
        ("Sydney", "Australia/Sydney"),
        ("Hobart", "Australia/Hobart"),
        ("Auckland", "Pacific/Auckland"),
        ("Wellington", "Pacific/Auckland"),
    ];
    let name = name.trim();
    RAILS
        .iter()
        .find(|(rails, _)| rails.eq_ignore_ascii_case(name))
        .and_then(|(_, iana)| iana.parse().ok())
        .or_else(|| name.parse().ok())
}

impl hours::Host for RunContext {
    async fn status(&mut self) -> wasmtime::Result<Option<hours::BusinessHours>> {
        let Some(h) = &self.account.hours else {
            return Ok(None);
        };
        let now = h.at(Utc::now());
        Ok(Some(hours::BusinessHours {
            schedule: h.name.clone(),
            time_zone: h.time_zone.clone(),
            open_now: now.open_now,
            next_opening: now.next_opening.map(|t| t.to_rfc3339()),
            next_opening_text: now.next_opening.as_ref().map(in_words),
            closes_at: now.closes_at.map(|t| t.to_rfc3339()),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zendesk::account::ScheduleInterval;

    fn weekdays_9_to_17(tz: &str) -> BusinessHours {
        BusinessHours::new(&Schedule {
            id: 1,
            name: "Support hours".into(),
            time_zone: tz.into(),
            intervals: (1..=5)
                .map(|d| ScheduleInterval {
                    start_time: d * 1440 + 540,
                    end_time: d * 1440 + 1020,
                })
                .collect(),
        })
        .unwrap()
    }

    #[test]
    fn open_now_and_next_opening_in_the_schedules_zone() {
        let h = weekdays_9_to_17("Berlin");
        // Saturday 2026-03-07 12:00 UTC = 13:00 in Berlin: closed until Monday 9:00.
        let sat = Utc.with_ymd_and_hms(2026, 3, 7, 12, 0, 0).unwrap();
        let now = h.at(sat);
        assert!(!now.open_now);
        let next = now.next_opening.unwrap();
        assert_eq!(in_words(&next), "Monday 9:00");
        assert_eq!(next.to_rfc3339(), "2026-03-09T09:00:00+01:00");
        // Tuesday 10:00 Berlin: open until 17:00.
        let tue = Utc.with_ymd_and_hms(2026, 3, 10, 9, 0, 0).unwrap();
        let now = h.at(tue);
        assert!(now.open_now && now.next_opening.is_none());
        assert_eq!(now.closes_at.unwrap().hour(), 17);
        // Friday 18:00 Berlin: next is Monday, across the week's end.
        let fri = Utc.with_ymd_and_hms(2026, 3, 13, 17, 0, 0).unwrap();
        assert_eq!(in_words(&h.at(fri).next_opening.unwrap()), "Monday 9:00");
        // Monday 07:00: later today.
        let mon = Utc.with_ymd_and_hms(2026, 3, 9, 6, 0, 0).unwrap();
        assert_eq!(h.at(mon).next_opening.unwrap().day(), 9);
    }

    #[test]
    fn zendesk_and_iana_zone_names() {
        assert_eq!(
            time_zone("Eastern Time (US & Canada)"),
            Some(chrono_tz::America::New_York)
        );
        assert_eq!(time_zone("Europe/Paris"), Some(chrono_tz::Europe::Paris));
        assert!(time_zone("Atlantis").is_none());
        assert!(BusinessHours::new(&Schedule {
            id: 1,
            name: "x".into(),
            time_zone: "Atlantis".into(),
            intervals: vec![],
        })
        .is_err());
        let empty = BusinessHours::new(&Schedule {
            id: 1,
            name: "x".into(),
            time_zone: "UTC".into(),
            intervals: vec![],
        })
        .unwrap();
        assert_eq!(empty.at(Utc::now()).next_opening, None);
    }
}
