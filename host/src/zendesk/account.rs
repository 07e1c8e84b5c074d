//! The account's configuration the gateway reads besides tickets: custom ticket fields
//! (`GET /api/v2/ticket_fields`), ticket forms (`GET /api/v2/ticket_forms`) and business
//! hours schedules (`GET /api/v2/business_hours/schedules`). Shapes follow Zendesk's
//! reference pages; only the fields the gateway uses are typed.

use super::client::ZendeskClient;
use super::error::ZendeskError;
use serde::Deserialize;

/// Pages followed for one list, so a misbehaving server cannot keep the gateway paging.
const MAX_PAGES: usize = 50;

/// One ticket field (system or custom).
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct TicketField {
    /// The field id (custom fields are set by it).
    pub id: u64,
    /// `subject`, `description`, `status`... for system fields; `text`, `textarea`,
    /// `checkbox`, `date`, `integer`, `decimal`, `regexp`, `tagger`, `multiselect`,
    /// `lookup`... for custom ones.
    #[serde(rename = "type")]
    pub kind: String,
    /// The title agents see.
    pub title: String,
    /// Whether the field is in use.
    #[serde(default = "yes")]
    pub active: bool,
    /// "Required to solve a ticket" (for agents).
    #[serde(default)]
    pub required: bool,
    /// Whether it is a system field (`removable: false`).
    #[serde(default = "yes")]
    pub removable: bool,
    /// A drop-down's or multi-select's options.
    #[serde(default)]
    pub custom_field_options: Vec<FieldOption>,
}

fn yes() -> bool {
    true
}

/// One option of a drop-down or multi-select: the name agents see, the tag stored.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct FieldOption {
    /// The option's name.
    pub name: String,
    /// The tag Zendesk stores as the field's value.
    pub value: String,
}

/// One ticket form: which fields it shows, and which become required on conditions.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct TicketForm {
    /// The form id.
    pub id: u64,
    /// Its name.
    pub name: String,
    /// Whether it is in use.
    #[serde(default = "yes")]
    pub active: bool,
    /// The fields on the form.
    #[serde(default)]
    pub ticket_field_ids: Vec<u64>,
    /// Whether every brand may use it.
    #[serde(default = "yes")]
    pub in_all_brands: bool,
    /// The brands that may use it when not all.
    #[serde(default)]
    pub restricted_brand_ids: Vec<u64>,
    /// Conditional fields for agents: a child becomes visible (and maybe required)
    /// when the parent has a value.
    #[serde(default)]
    pub agent_conditions: Vec<FormCondition>,
}

/// One agent condition of a form.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct FormCondition {
    /// The field whose value decides.
    pub parent_field_id: u64,
    /// The value it must have.
    #[serde(default)]
    pub value: serde_json::Value,
    /// The fields that appear.
    #[serde(default)]
    pub child_fields: Vec<ConditionChild>,
}

/// A field a condition shows.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct ConditionChild {
    /// The field id.
    pub id: u64,
    /// Required whenever shown.
    #[serde(default)]
    pub is_required: bool,
    /// Required on these statuses only (`{"type": "SOME_STATUSES", "statuses": [...]}`).
    #[serde(default)]
    pub required_on_statuses: Option<RequiredOnStatuses>,
}

/// When a conditional field is required.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct RequiredOnStatuses {
    /// `NO_STATUSES`, `ALL_STATUSES` or `SOME_STATUSES`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// With `SOME_STATUSES`: the statuses (`solved`...).
    #[serde(default)]
    pub statuses: Vec<String>,
}

impl ConditionChild {
    /// Whether solving needs it when the condition holds.
    pub fn required_to_solve(&self) -> bool {
        match &self.required_on_statuses {
            Some(r) if r.kind == "ALL_STATUSES" => true,
            Some(r) if r.kind == "SOME_STATUSES" => r.statuses.iter().any(|s| s == "solved"),
            Some(_) => false,
            None => self.is_required,
        }
    }
}

/// A business hours schedule.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Schedule {
    /// The schedule id.
    pub id: u64,
    /// Its name.
    pub name: String,
    /// Zendesk's time zone name (`Eastern Time (US & Canada)`, `London`...).
    pub time_zone: String,
    /// Working periods in minutes since Sunday 00:00 local time.
    #[serde(default)]
    pub intervals: Vec<ScheduleInterval>,
}

/// One working period of a schedule.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
pub struct ScheduleInterval {
    /// Minutes since Sunday 00:00 when it starts.
    pub start_time: u32,
    /// Minutes since Sunday 00:00 when it ends.
    pub end_time: u32,
}

#[derive(Deserialize)]
struct FieldsPage {
    #[serde(default)]
    ticket_fields: Vec<TicketField>,
    #[serde(default)]
    next_page: Option<String>,
}

#[derive(Deserialize)]
struct FormsPage {
    #[serde(default)]
    ticket_forms: Vec<TicketForm>,
    #[serde(default)]
    next_page: Option<String>,
}

#[derive(Deserialize)]
struct SchedulesPage {
    #[serde(default)]
    schedules: Vec<Schedule>,
}

impl ZendeskClient {
    /// `GET /api/v2/ticket_fields`, every page.
    pub async fn ticket_fields(&self) -> Result<Vec<TicketField>, ZendeskError> {
        let mut out = Vec::new();
        let base = self.base_url().to_string();
        let mut next = Some("/api/v2/ticket_fields".to_string());
        for _ in 0..MAX_PAGES {
            let Some(url) = next.take() else { break };
            let page: FieldsPage = self.get_json_at(&base, &url).await?;
            out.extend(page.ticket_fields);
            next = page.next_page;
        }
        Ok(out)
    }

    /// `GET /api/v2/ticket_forms`, every page.
    pub async fn ticket_forms(&self) -> Result<Vec<TicketForm>, ZendeskError> {
        let mut out = Vec::new();
        let base = self.base_url().to_string();
        let mut next = Some("/api/v2/ticket_forms".to_string());
        for _ in 0..MAX_PAGES {
            let Some(url) = next.take() else { break };
            let page: FormsPage = self.get_json_at(&base, &url).await?;
            out.extend(page.ticket_forms);
            next = page.next_page;
        }
        Ok(out)
    }

    /// `GET /api/v2/business_hours/schedules` (one answer, no paging).
    pub async fn schedules(&self) -> Result<Vec<Schedule>, ZendeskError> {
        let base = self.base_url().to_string();
        let page: SchedulesPage = self
            .get_json_at(&base, "/api/v2/business_hours/schedules")
            .await?;
        Ok(page.schedules)
    }
}
