//! What `setup` did, per environment and object, and the report the command prints.

use serde_json::Value;
use std::fmt::Write as _;

/// What happened to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It did not exist and was created.
    Created,
    /// It existed and differed; it was updated.
    Updated,
    /// It existed as wanted.
    Unchanged,
    /// Dry run: it would be created.
    WouldCreate,
    /// Dry run: it would be updated.
    WouldUpdate,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Outcome::Created => "created",
            Outcome::Updated => "updated",
            Outcome::Unchanged => "unchanged",
            Outcome::WouldCreate => "would create",
            Outcome::WouldUpdate => "would update",
        })
    }
}

/// One object setup manages, and what happened to it.
#[derive(Debug, Clone)]
pub struct ObjectReport {
    /// `webhook`, `signing secret`, `trigger` or `automation`.
    pub kind: &'static str,
    /// Its name or title (for a secret, the file).
    pub name: String,
    /// What happened.
    pub outcome: Outcome,
    /// Its Zendesk id, when it has one.
    pub id: Option<String>,
}

/// A write a dry run did not send, as it would have been sent (endpoint tokens masked).
#[derive(Debug, Clone)]
pub struct PlannedRequest {
    /// `POST` or `PUT`.
    pub method: String,
    /// The API path.
    pub path: String,
    /// The JSON body.
    pub body: Value,
}

/// What setup did in one environment.
#[derive(Debug, Clone, Default)]
pub struct EnvironmentReport {
    /// The environment's name in the config.
    pub environment: String,
    /// Who the credentials belong to, as a line of text.
    pub seat: Option<String>,
    /// The managed objects, in the order they were handled.
    pub objects: Vec<ObjectReport>,
    /// What the setup guide warns about and this account has.
    pub warnings: Vec<String>,
    /// Things the operator has to do or know (config lines to add).
    pub notes: Vec<String>,
    /// Dry run: the writes not sent.
    pub planned: Vec<PlannedRequest>,
    /// Why setup stopped in this environment, naming the object.
    pub failure: Option<String>,
}

/// What setup did, per environment.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// One entry per environment set up.
    pub environments: Vec<EnvironmentReport>,
    /// True for a dry run.
    pub dry_run: bool,
}

impl Report {
    /// The environment's report, if it was set up.
    pub fn environment(&self, name: &str) -> Option<&EnvironmentReport> {
        self.environments.iter().find(|e| e.environment == name)
    }

    /// Every object of every environment.
    pub fn objects(&self) -> impl Iterator<Item = &ObjectReport> {
        self.environments.iter().flat_map(|e| e.objects.iter())
    }

    /// The failures, each naming its environment.
    pub fn failures(&self) -> Vec<String> {
        self.environments
            .iter()
            .filter_map(|e| {
                e.failure
                    .as_ref()
                    .map(|f| format!("environment {}: {f}", e.environment))
            })
            .collect()
    }

    /// The report as the command prints it.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for e in &self.environments {
            let _ = writeln!(
                out,
                "environment {}{}",
                e.environment,
                e.seat
                    .as_ref()
                    .map(|s| format!(" (seat {s})"))
                    .unwrap_or_default()
            );
            for o in &e.objects {
                let id =
                    o.id.as_ref()
                        .map(|i| format!(" (id {i})"))
                        .unwrap_or_default();
                let _ = writeln!(
                    out,
                    "  {:<13} {:<15} {}{id}",
                    o.outcome.to_string(),
                    o.kind,
                    o.name
                );
            }
            for w in &e.warnings {
                let _ = writeln!(out, "  warning: {w}");
            }
            for n in &e.notes {
                let _ = writeln!(out, "  note: {n}");
            }
            if let Some(f) = &e.failure {
                let _ = writeln!(out, "  FAILED: {f}");
            }
            if self.dry_run {
                if e.planned.is_empty() {
                    let _ = writeln!(out, "  dry run: nothing would be sent");
                } else {
                    let _ = writeln!(out, "  dry run: these requests were NOT sent:");
                }
                for r in &e.planned {
                    let body = serde_json::to_string_pretty(&r.body).unwrap_or_default();
                    let _ = writeln!(out, "    {} {}", r.method, r.path);
                    for line in body.lines() {
                        let _ = writeln!(out, "      {line}");
                    }
                }
            }
        }
        let count = |o: Outcome| self.objects().filter(|x| x.outcome == o).count();
        let warnings: usize = self.environments.iter().map(|e| e.warnings.len()).sum();
        let _ = if self.dry_run {
            writeln!(
                out,
                "dry run: {} to create, {} to update, {} unchanged, {warnings} warning(s)",
                count(Outcome::WouldCreate),
                count(Outcome::WouldUpdate),
                count(Outcome::Unchanged)
            )
        } else {
            writeln!(
                out,
                "{} created, {} updated, {} unchanged, {warnings} warning(s)",
                count(Outcome::Created),
                count(Outcome::Updated),
                count(Outcome::Unchanged)
            )
        };
        out
    }
}
