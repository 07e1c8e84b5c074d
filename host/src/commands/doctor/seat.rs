//! Check 1: the credentials and the seat, through setup's own checks (`account`):
//! role, role type, the administrator setup acts as, and groups the seat is not in.

use super::{Fix, Level, Rows};
use crate::commands::setup::account::{self, Seat};
use crate::commands::setup::api::Api;
use crate::commands::setup::plan::EnvironmentPlan;
use crate::commands::setup::EnvironmentReport;

/// The seat, or `None` (with a failure row) when the credentials do not work.
pub(super) async fn check(
    api: &Api,
    plan: &EnvironmentPlan,
    rows: &mut Rows<'_>,
) -> anyhow::Result<Option<Seat>> {
    let mut scratch = EnvironmentReport::default();
    let seat = match account::check_seat(api, &plan.environment, &mut scratch).await {
        Ok(seat) => seat,
        Err(e) => {
            rows.push("-", "credentials", Level::Failure, format!("{e:#}"), None);
            return Ok(None);
        }
    };
    let who = scratch.seat.clone().unwrap_or_default();
    if scratch.warnings.is_empty() {
        rows.push("-", "seat", Level::Ok, who, None);
    } else {
        for w in scratch.warnings.drain(..) {
            rows.push("-", "seat", Level::Warning, w, None);
        }
    }
    let missing = account::check_groups(api, &seat, &mut scratch).await?;
    if missing.is_empty() {
        rows.push("-", "groups", Level::Ok, "the seat is in every group", None);
    }
    for ((group, _), warning) in missing.into_iter().zip(scratch.warnings) {
        rows.push(
            "-",
            "groups",
            Level::Warning,
            format!("{warning}; fix: add the seat to the group (doctor --fix)"),
            Some(Fix::AddSeatToGroup {
                seat: seat.id,
                group,
            }),
        );
    }
    Ok(Some(seat))
}
