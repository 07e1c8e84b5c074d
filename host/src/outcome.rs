//! What became of one handling of a ticket: one type, with one text form used by the
//! audit trail, the metrics, the logs and `replay`.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The end of one handling of a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The AI handled the ticket (what it staged was committed, or nothing was needed).
    Handled,
    /// The plugin chose to hand the ticket to humans.
    HandedOff,
    /// Nothing to do: a guard, a closed ticket, a configuration that no longer applies.
    Skipped,
    /// The gateway handed the ticket to humans because the plugin or Zendesk failed.
    Failed,
    /// A passing failure: the ticket stays in the inbox and runs again later.
    Retry,
}

impl Outcome {
    /// Every outcome, in the order reports list them.
    pub const ALL: [Outcome; 5] = [
        Outcome::Handled,
        Outcome::HandedOff,
        Outcome::Skipped,
        Outcome::Failed,
        Outcome::Retry,
    ];

    /// The text form: `handled`, `handed_off`, `skipped`, `failed`, `retry`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Handled => "handled",
            Outcome::HandedOff => "handed_off",
            Outcome::Skipped => "skipped",
            Outcome::Failed => "failed",
            Outcome::Retry => "retry",
        }
    }

    /// The outcome of a text form, if it is one.
    pub fn parse(text: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.as_str() == text)
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<str> for Outcome {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Outcome {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_text_form_both_ways() {
        for o in Outcome::ALL {
            assert_eq!(Outcome::parse(o.as_str()), Some(o));
            assert_eq!(serde_json::to_value(o).unwrap(), o.as_str());
            assert_eq!(o, o.as_str());
        }
        assert_eq!(Outcome::parse("done"), None);
    }
}
