//! What a replayed run did: printed for a person, or checked against a fixture's
//! expectations.

use super::fixture::Expectation;
use crate::capabilities::actions::staging::{AssigneeChange, Staged, StagedStatus};
use crate::outcome::Outcome;
use serde::Serialize;

/// What a replayed run did.
#[derive(Debug, Clone, Serialize)]
pub struct ReplayReport {
    /// The plugin's version (content hash).
    pub plugin_version: String,
    /// What the gateway would record (`handled`, `handed_off`, `skipped` or `failed`).
    pub outcome: Outcome,
    /// The plugin's reason, or why the run failed.
    pub reason: String,
    /// What the plugin staged (nothing of it was sent).
    pub staged: Staged,
    /// Actions the host refused.
    pub refusals: Vec<String>,
    /// Model tokens spent.
    pub llm_tokens: u32,
    /// Calls to the brand's own systems (answered from the fixture's recordings, or, for a
    /// live ticket, GET and HEAD only).
    pub http_calls: Vec<crate::capabilities::http::HttpCall>,
    /// Wall time of the run, in milliseconds.
    pub elapsed_ms: u64,
}

impl ReplayReport {
    /// Human-readable lines: the outcome, then each action.
    pub fn render(&self) -> String {
        let mut out = format!(
            "outcome: {} ({})\nplugin version: {}\n",
            self.outcome, self.reason, self.plugin_version
        );
        let s = &self.staged;
        if let Some(r) = &s.reply {
            out += &format!("reply (public):\n{}\n", indent(r));
        }
        for n in &s.notes {
            out += &format!("internal note:\n{}\n", indent(n));
        }
        if !s.add_tags.is_empty() {
            out += &format!(
                "add tags: {}\n",
                s.add_tags.iter().cloned().collect::<Vec<_>>().join(", ")
            );
        }
        if !s.remove_tags.is_empty() {
            out += &format!(
                "remove tags: {}\n",
                s.remove_tags.iter().cloned().collect::<Vec<_>>().join(", ")
            );
        }
        if let Some(a) = &s.assignee {
            out += &format!("assign: {}\n", assignee_word(a));
        }
        if let Some(st) = s.status {
            out += &format!("status: {}\n", st.as_zendesk());
        }
        for r in &self.refusals {
            out += &format!("refused: {r}\n");
        }
        for c in &self.http_calls {
            let status = c
                .status
                .map(|s| s.to_string())
                .unwrap_or_else(|| "-".into());
            out += &format!(
                "http: {} {}{} -> {} ({}){}\n",
                c.method,
                c.origin,
                c.path,
                status,
                c.outcome,
                c.error
                    .as_ref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            );
        }
        if self.llm_tokens > 0 {
            out += &format!("model tokens: {}\n", self.llm_tokens);
        }
        out += "(nothing was sent to Zendesk)\n";
        out
    }

    /// Checks an expectation; returns every way the run differs from it.
    pub fn check(&self, expect: &Expectation) -> Vec<String> {
        let mut problems = Vec::new();
        self.check_outcome(expect, &mut problems);
        self.check_texts(expect, &mut problems);
        self.check_actions(expect, &mut problems);
        problems
    }

    /// The outcome and its reason.
    fn check_outcome(&self, expect: &Expectation, problems: &mut Vec<String>) {
        if let Some(o) = &expect.outcome {
            if *o != self.outcome.as_str() {
                problems.push(format!(
                    "outcome is {} ({}), expected {o}",
                    self.outcome, self.reason
                ));
            }
        }
        for w in &expect.reason_contains {
            if !lower(&self.reason).contains(&lower(w)) {
                problems.push(format!("reason {:?} lacks {w:?}", self.reason));
            }
        }
    }

    /// The reply and the notes.
    fn check_texts(&self, expect: &Expectation, problems: &mut Vec<String>) {
        let s = &self.staged;
        if let Some(want) = expect.reply {
            if s.reply.is_some() != want {
                problems.push(format!(
                    "reply staged: {}, expected {want}",
                    s.reply.is_some()
                ));
            }
        }
        let reply = s.reply.as_deref().map(lower).unwrap_or_default();
        for w in &expect.reply_contains {
            if !reply.contains(&lower(w)) {
                problems.push(format!("reply lacks {w:?}: {:?}", s.reply));
            }
        }
        for w in &expect.reply_excludes {
            if reply.contains(&lower(w)) {
                problems.push(format!("reply contains {w:?}: {:?}", s.reply));
            }
        }
        if let Some(want) = expect.note {
            if s.notes.is_empty() == want {
                problems.push(format!(
                    "note staged: {}, expected {want}",
                    !s.notes.is_empty()
                ));
            }
        }
        let notes = lower(&s.notes.join("\n"));
        for w in &expect.note_contains {
            if !notes.contains(&lower(w)) {
                problems.push(format!("notes lack {w:?}: {:?}", s.notes));
            }
        }
    }

    /// Tags, status and assignee.
    fn check_actions(&self, expect: &Expectation, problems: &mut Vec<String>) {
        let s = &self.staged;
        for t in &expect.tags_added {
            if !s.add_tags.contains(t) {
                problems.push(format!("tag {t} not added (added: {:?})", s.add_tags));
            }
        }
        for t in &expect.tags_not_added {
            if s.add_tags.contains(t) {
                problems.push(format!("tag {t} added but must not be"));
            }
        }
        if let Some(want) = &expect.status {
            let got = s
                .status
                .map(StagedStatus::as_zendesk)
                .unwrap_or("unchanged");
            if got != want {
                problems.push(format!("status {got}, expected {want}"));
            }
        }
        if let Some(want) = &expect.assignee {
            let got = s
                .assignee
                .as_ref()
                .map(assignee_word)
                .unwrap_or_else(|| "unchanged".into());
            if &got != want {
                problems.push(format!("assignee {got}, expected {want}"));
            }
        }
    }
}

/// Expectations compare case-insensitively.
fn lower(t: &str) -> String {
    t.to_lowercase()
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn assignee_word(a: &AssigneeChange) -> String {
    match a {
        AssigneeChange::Seat => "seat".into(),
        AssigneeChange::Agent(id) => format!("agent:{id}"),
        AssigneeChange::Group(id) => format!("group:{id}"),
        AssigneeChange::Unassign => "unassign".into(),
    }
}
