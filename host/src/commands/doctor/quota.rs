//! Check 6: the account's quota as Zendesk's answers give it (`X-Rate-Limit`,
//! `X-Rate-Limit-Remaining`) against the config's `requests_per_minute` and
//! `ticket_updates_per_minute`.

use super::{Level, Rows};
use crate::commands::setup::api::Api;
use crate::config::Environment;

pub(super) fn check(api: &Api, env: &Environment, rows: &mut Rows<'_>) {
    let Some((limit, remaining)) = api.last_rate_limit() else {
        rows.push(
            "-",
            "quota",
            Level::Warning,
            "Zendesk's answers carried no X-Rate-Limit headers: the quota could not be checked",
            None,
        );
        return;
    };
    let rpm = u64::from(env.requests_per_minute);
    let updates = u64::from(env.ticket_updates_per_minute);
    let mut problems = Vec::new();
    if rpm > limit {
        problems.push(format!(
            "requests_per_minute = {rpm} is above the account's limit of {limit}: lower it (429s \
             would slow every ticket)"
        ));
    }
    if updates > limit {
        problems.push(format!(
            "ticket_updates_per_minute = {updates} is above the account's limit of {limit}"
        ));
    }
    if remaining * 10 < limit {
        problems.push(format!(
            "only {remaining} of {limit} requests remain this minute: another integration may be \
             using the quota (Admin Center > Usage > API)"
        ));
    }
    let detail = format!(
        "limit {limit}/min, {remaining} remaining; requests_per_minute = {rpm}, \
         ticket_updates_per_minute = {updates}"
    );
    if problems.is_empty() {
        rows.push("-", "quota", Level::Ok, detail, None);
    } else {
        rows.push(
            "-",
            "quota",
            Level::Warning,
            format!("{detail}: {}", problems.join("; ")),
            None,
        );
    }
}
