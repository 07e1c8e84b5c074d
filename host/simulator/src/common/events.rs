//! The vocabulary tickets and triggers share: Zendesk's statuses and via ids, and what
//! one ticket update looks like to trigger conditions. The ticket store produces
//! [`UpdateEvent`]s and [`TicketFacts`]; the rules evaluate them; neither imports the other.

/// Zendesk's ticket statuses, in their lifecycle order.
pub(crate) const STATUSES: [&str; 6] = ["new", "open", "pending", "hold", "solved", "closed"];

/// Via ids (Zendesk's "Via types reference"): the channel of an update, as trigger
/// conditions `via_id` / `current_via_id` compare it.
pub(crate) mod via_id {
    /// Web form or the agent interface.
    pub const WEB: u32 = 0;
    /// Email.
    pub const EMAIL: u32 = 4;
    /// Web Service (API): every update the gateway makes.
    pub const API: u32 = 5;
}

/// What one ticket update looks like to trigger conditions.
#[derive(Debug, Clone)]
pub(crate) struct UpdateEvent {
    /// True for the update that created the ticket (`update_type` `Create`).
    pub(crate) create: bool,
    /// The channel of this update (see [`via_id`]).
    pub(crate) via_id: u32,
    /// Who made the update.
    pub(crate) actor: u64,
    /// `end-user`, `agent` or `admin`.
    pub(crate) actor_role: String,
    /// `Some(public)` when the update carries a comment.
    pub(crate) comment_public: Option<bool>,
    /// The status before the update (`None` on create).
    pub(crate) previous_status: Option<String>,
}

/// The ticket as trigger conditions see it after the update.
#[derive(Debug, Clone)]
pub(crate) struct TicketFacts {
    pub(crate) id: u64,
    pub(crate) subject: String,
    pub(crate) status: String,
    pub(crate) brand_id: u64,
    pub(crate) assignee_id: Option<u64>,
    pub(crate) group_id: Option<u64>,
    pub(crate) requester_id: u64,
    pub(crate) tags: Vec<String>,
    pub(crate) is_public: bool,
    /// The channel the ticket was created through.
    pub(crate) via_id: u32,
}
