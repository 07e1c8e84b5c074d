//! Fixtures: a saved ticket (what Zendesk's API returns for it) with optional
//! expectations, and finding and reading fixture files.

use crate::zendesk::{Comment, Ticket, User};
use anyhow::{bail, Context};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// A saved ticket: what Zendesk's API returns for it, plus optional expectations.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixture {
    /// What the fixture is about, for reports.
    #[serde(default)]
    pub description: String,
    /// `GET /api/v2/tickets/{id}`'s `ticket`.
    pub ticket: Ticket,
    /// The conversation, oldest first (`GET /api/v2/tickets/{id}/comments`).
    pub comments: Vec<Comment>,
    /// Everyone on the ticket (requester, authors).
    #[serde(default)]
    pub users: Vec<User>,
    /// The AI seat; a default "AI Agent" (id 1) when absent.
    #[serde(default)]
    pub seat: Option<FixtureSeat>,
    /// What the run must do, for regression tests.
    #[serde(default)]
    pub expect: Option<Expectation>,
    /// For tests with a fake model (tests/e2e/fake_llm.rs): what the model answers on
    /// this ticket. A real model ignores it.
    #[serde(default)]
    pub model_answer: Option<String>,
    /// Recorded answers of the brand's own systems (`method`, `url`, `status`, `body`):
    /// the plugin's HTTP requests are answered from these, so a replay stays offline and
    /// deterministic. A request with no recording fails as the plugin would see an
    /// outage.
    #[serde(default)]
    pub http: Vec<crate::capabilities::http::Recorded>,
    /// The account's custom ticket fields (`GET /api/v2/ticket_fields`'s
    /// `ticket_fields`), for a brand with `[fields]`: the plugin reads and sets them as in
    /// a real run.
    #[serde(default)]
    pub ticket_fields: Vec<crate::zendesk::account::TicketField>,
    /// The account's business hours schedules (`GET /api/v2/business_hours/schedules`'s
    /// `schedules`), for a brand with a `schedule`: open or closed at the time of the
    /// replay.
    #[serde(default)]
    pub schedules: Vec<crate::zendesk::account::Schedule>,
}

/// The seat of a fixture.
#[derive(Debug, Clone, Deserialize)]
pub struct FixtureSeat {
    /// User id.
    pub id: u64,
    /// Name.
    #[serde(default = "default_seat_name")]
    pub name: String,
}

pub(super) fn default_seat_name() -> String {
    "AI Agent".into()
}

/// What a fixture's run must have done. Every field is optional; the ones given must hold.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expectation {
    /// `handled`, `handed_off`, `skipped` or `failed`.
    pub outcome: Option<String>,
    /// Words the outcome's reason contains (case-insensitive).
    #[serde(default)]
    pub reason_contains: Vec<String>,
    /// `true`: a public reply was staged; `false`: none was.
    pub reply: Option<bool>,
    /// Texts the reply contains (case-insensitive).
    #[serde(default)]
    pub reply_contains: Vec<String>,
    /// Texts the reply must not contain (case-insensitive).
    #[serde(default)]
    pub reply_excludes: Vec<String>,
    /// `true`: an internal note was staged; `false`: none was.
    pub note: Option<bool>,
    /// Texts the notes contain (case-insensitive).
    #[serde(default)]
    pub note_contains: Vec<String>,
    /// Tags that were added.
    #[serde(default)]
    pub tags_added: Vec<String>,
    /// Tags that must not be added.
    #[serde(default)]
    pub tags_not_added: Vec<String>,
    /// `open`, `pending`, `solved`, or `unchanged`.
    pub status: Option<String>,
    /// `seat`, `unassign`, `agent:ID`, `group:ID`, or `unchanged`.
    pub assignee: Option<String>,
}

/// Reads a fixture file, with the file named in errors.
pub fn load_fixture(path: &Path) -> anyhow::Result<Fixture> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read fixture {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("fixture {} is not valid", path.display()))
}

/// The fixture files of a folder (sorted), or the one file given.
pub fn fixture_files(path: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .with_context(|| format!("cannot read {}", path.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        if files.is_empty() {
            bail!("no .json fixtures in {}", path.display());
        }
        Ok(files)
    } else {
        Ok(vec![path.to_path_buf()])
    }
}
