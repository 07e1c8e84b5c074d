//! FAQ answerer: the second kind of example brand plugin.
//!
//! It answers from the brand's knowledge base (Markdown articles the gateway indexes):
//! when the best article matches the customer's question confidently, it replies with
//! that article's answer and link; otherwise it hands the ticket to a human with an
//! internal note listing the closest articles, so the agent starts from them.
//!
//! "Confident" is two settings of the brand: the best article's score must reach
//! `min_score`, and beat the runner-up by the factor `min_margin` (two articles that
//! match about equally mean the question is ambiguous).
//!
//! The decision is a pure function ([`decide`]) of the ticket, the conversation, the
//! search results and the settings, unit-tested natively.

#![warn(missing_docs)]

use gateway_plugin_sdk::text::{first_name, matched_keywords};
use gateway_plugin_sdk::{
    export_plugin, knowledge, setting_number, setting_or, ticket, Article, Conversation, Event,
    Guest, HostResultExt, Outcome, Plan, Status, TicketInfo,
};

/// Words that mean the customer needs a person, whatever the articles say.
const ESCALATION: &[&str] = &[
    "complaint",
    "lawyer",
    "legal",
    "damaged",
    "broken",
    "faulty",
    "injured",
    "human",
    "real person",
    "manager",
    "unacceptable",
    "chargeback",
    "fraud",
];

/// Tag added when the plugin answered from an article.
const ANSWERED_TAG: &str = "faq_answered";
/// Tag added when it handed off.
const NEEDS_HUMAN_TAG: &str = "needs_human";

/// The brand's settings the plugin reads, with their defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct FaqSettings {
    /// Lowest BM25 score of the best article for a reply.
    pub min_score: f32,
    /// How many times better than the runner-up the best article must score.
    pub min_margin: f32,
    /// The brand's name in the sign-off.
    pub brand_name: String,
    /// The closing line of replies.
    pub sign_off: String,
}

impl Default for FaqSettings {
    fn default() -> Self {
        FaqSettings {
            min_score: 3.0,
            min_margin: 1.3,
            brand_name: "our".into(),
            sign_off: "Kind regards".into(),
        }
    }
}

impl FaqSettings {
    fn load() -> Self {
        let d = FaqSettings::default();
        FaqSettings {
            min_score: setting_number("min_score", d.min_score as f64) as f32,
            min_margin: setting_number("min_margin", d.min_margin as f64) as f32,
            brand_name: setting_or("brand_name", &d.brand_name),
            sign_off: setting_or("sign_off", &d.sign_off),
        }
    }
}

/// The plugin; see the [crate documentation](crate).
pub struct Faq;

impl Guest for Faq {
    fn handle(_event: Event) -> Result<Outcome, String> {
        let ticket = ticket::get().context("reading the ticket")?;
        let conversation = Conversation::load().context("reading the comments")?;
        let name = ticket::get_user(ticket.requester_id).ok().map(|u| u.name);
        let question = conversation.question(&ticket);
        let articles = knowledge::search(&question, 3);
        let (plan, outcome) = decide(
            &ticket,
            &conversation,
            name.as_deref(),
            &articles,
            &FaqSettings::load(),
        );
        plan.stage().context("staging the answer")?;
        Ok(outcome)
    }
}

export_plugin!(Faq);

/// The tag that records which article answered.
pub fn article_tag(article: &Article) -> String {
    let slug: String = article
        .id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("faq_{slug}")
}

/// Decides what to do: the whole behaviour of the plugin.
///
/// * The last public word is ours: skip.
/// * After our reply, the customer only says thanks: tag and solve.
/// * Escalation words: hand off.
/// * A confident best article not already sent on this ticket: reply with it, tag
///   `faq_answered` and the article's tag, status pending.
/// * Anything else: internal note with the closest articles, `needs_human`, unassign if
///   the seat is the assignee; handed off.
pub fn decide(
    ticket: &TicketInfo,
    conversation: &Conversation,
    requester_name: Option<&str>,
    articles: &[Article],
    settings: &FaqSettings,
) -> (Plan, Outcome) {
    if conversation.last_public_is_from_seat() {
        return (Plan::new(), Outcome::Skipped("last word is ours".into()));
    }
    let name = requester_name.and_then(first_name);
    if conversation.only_thanks_after_reply(requester_name) {
        let plan = Plan::new().tag("faq_solved").status(Status::Solved);
        return (
            plan,
            Outcome::Handled("customer only said thanks; solved".into()),
        );
    }

    let text = conversation.question(ticket);
    let escalation = matched_keywords(&text, ESCALATION);
    let mut problem = if !escalation.is_empty() {
        Some(format!("the customer wrote {}", quote_list(&escalation)))
    } else {
        confidence_problem(articles, settings)
    };
    if problem.is_none() {
        let best = &articles[0];
        if ticket.tags.contains(&article_tag(best)) {
            problem = Some(format!(
                "the best article, \"{}\", was already sent on this ticket and the customer wrote again",
                best.title
            ));
        }
    }

    match problem {
        None => {
            let best = &articles[0];
            let plan = Plan::new()
                .reply(compose_reply(name, best, settings))
                .tag(ANSWERED_TAG)
                .tag(article_tag(best))
                .status(Status::Pending);
            let reason = format!("answered from \"{}\" (score {:.1})", best.title, best.score);
            (plan, Outcome::Handled(reason))
        }
        Some(why) => {
            let mut note = format!("The FAQ assistant did not answer: {why}.\n");
            if articles.is_empty() {
                note.push_str("No article of the knowledge base matches this ticket.\n");
            } else {
                note.push_str("Closest articles:\n");
                for (i, a) in articles.iter().enumerate() {
                    note.push_str(&format!("{}. {} (score {:.1})", i + 1, a.title, a.score));
                    if let Some(url) = &a.url {
                        note.push_str(&format!(" {url}"));
                    }
                    note.push('\n');
                }
            }
            let mut plan = Plan::new().note(note).tag(NEEDS_HUMAN_TAG);
            if ticket.assignee_id == Some(conversation.seat_id()) {
                plan = plan.unassign();
            }
            (plan, Outcome::HandedOff(why))
        }
    }
}

/// Why the search results are not a confident answer, if they are not.
fn confidence_problem(articles: &[Article], settings: &FaqSettings) -> Option<String> {
    let Some(best) = articles.first() else {
        return Some("no article matches the question".into());
    };
    if best.score < settings.min_score {
        return Some(format!(
            "the best article, \"{}\", matches weakly (score {:.1}, needs {:.1})",
            best.title, best.score, settings.min_score
        ));
    }
    if let Some(second) = articles.get(1) {
        if best.score < second.score * settings.min_margin {
            return Some(format!(
                "two articles match about equally (\"{}\" {:.1}, \"{}\" {:.1})",
                best.title, best.score, second.title, second.score
            ));
        }
    }
    None
}

/// The reply: a greeting, the article's answer (its text without title and link
/// lines), the link, and the sign-off.
pub fn compose_reply(name: Option<&str>, article: &Article, settings: &FaqSettings) -> String {
    let greeting = match name {
        Some(n) => format!("Hi {n},"),
        None => "Hello,".to_string(),
    };
    let answer = article_answer(&article.body);
    let mut reply = format!("{greeting}\n\n{answer}\n\n");
    match &article.url {
        Some(url) => reply.push_str(&format!(
            "You can read more in our help article \"{}\": {url}\n\n",
            article.title
        )),
        None => reply.push_str(&format!(
            "(From our help article \"{}\".)\n\n",
            article.title
        )),
    }
    reply.push_str(&format!(
        "If this does not answer your question, just reply and a member of the {} team will help.\n\n{}",
        settings.brand_name, settings.sign_off
    ));
    reply
}

/// The article's prose as plain text for an email reply: without its `# ` title and
/// `url:` line, Markdown emphasis and heading marks removed, table rows written as
/// "cell - cell - cell" lines, at most its first three paragraphs (the link has the rest).
pub fn article_answer(body: &str) -> String {
    let kept: Vec<String> = body
        .lines()
        .filter(|l| !l.starts_with("# ") && !l.trim_start().starts_with("url:"))
        .filter_map(|l| {
            let t = l.trim();
            if t.starts_with('|') {
                let cells: Vec<&str> = t
                    .split('|')
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .collect();
                // The |---|---| line under a table's header says nothing.
                let rule = cells
                    .iter()
                    .all(|c| c.chars().all(|ch| matches!(ch, '-' | ':' | ' ')));
                return (!rule).then(|| cells.join(" - "));
            }
            Some(t.trim_start_matches('#').trim_start().to_string())
        })
        .map(|l| l.replace("**", "").replace("__", ""))
        .collect();
    let text = kept.join("\n");
    text.split("\n\n")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .take(3)
        .collect::<Vec<_>>()
        .join("\n\n")
}

fn quote_list(words: &[&str]) -> String {
    words
        .iter()
        .map(|w| format!("\"{w}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use gateway_plugin_sdk::Comment;

    const SEAT: u64 = 1;
    const CUSTOMER: u64 = 501;

    fn ticket(subject: &str, tags: &[&str]) -> TicketInfo {
        TicketInfo {
            id: 7,
            subject: subject.into(),
            description: String::new(),
            status: "new".into(),
            priority: None,
            ticket_type: None,
            requester_id: CUSTOMER,
            assignee_id: Some(SEAT),
            group_id: None,
            brand_id: None,
            tags: tags.iter().map(|t| t.to_string()).collect(),
            channel: "email".into(),
            created_at: String::new(),
            updated_at: String::new(),
        }
    }

    fn said(id: u64, author_id: u64, body: &str) -> Comment {
        Comment {
            id,
            author_id,
            body: body.into(),
            public: true,
            created_at: String::new(),
        }
    }

    fn article(id: &str, score: f32) -> Article {
        Article {
            id: id.into(),
            title: format!("About {id}"),
            url: Some(format!("https://help.example/{id}")),
            body: format!("# About {id}\nurl: https://help.example/{id}\n\nThe answer about {id}.\n\nMore detail."),
            score,
        }
    }

    #[test]
    fn confident_match_is_answered_with_link() {
        let c = Conversation::new(SEAT, vec![said(1, CUSTOMER, "How do I return my boots?")]);
        let (plan, outcome) = decide(
            &ticket("Return", &[]),
            &c,
            Some("Maria Lopez"),
            &[article("returns", 8.0), article("delivery", 2.0)],
            &FaqSettings::default(),
        );
        assert!(matches!(outcome, Outcome::Handled(_)));
        let reply = plan.reply_text().unwrap();
        assert!(reply.starts_with("Hi Maria,"));
        assert!(reply.contains("The answer about returns."));
        assert!(reply.contains("https://help.example/returns"));
        assert!(!reply.contains("url:"));
        let plain = article_answer(
            "# T\nurl: x\n\n**Bold.** Text.\n\n## Sizes\n| a | b |\n|---|---|\n\nEnd.",
        );
        assert_eq!(plain, "Bold. Text.\n\nSizes\na - b\n\nEnd.");
        assert!(plan.tags.contains(&"faq_returns".to_string()));
        assert_eq!(plan.status, Some(Status::Pending));
    }

    #[test]
    fn weak_ambiguous_or_repeated_matches_hand_off_with_the_closest_articles() {
        let c = Conversation::new(SEAT, vec![said(1, CUSTOMER, "Question")]);
        let s = FaqSettings::default();
        let (plan, outcome) = decide(&ticket("Q", &[]), &c, None, &[article("a", 1.0)], &s);
        assert!(matches!(outcome, Outcome::HandedOff(ref r) if r.contains("weakly")));
        assert!(plan.note_text().unwrap().contains("1. About a"));
        assert!(plan.unassign, "the seat was the assignee");
        let (_, outcome) = decide(
            &ticket("Q", &[]),
            &c,
            None,
            &[article("a", 5.0), article("b", 4.5)],
            &s,
        );
        assert!(matches!(outcome, Outcome::HandedOff(ref r) if r.contains("about equally")));
        let (_, outcome) = decide(&ticket("Q", &["faq_a"]), &c, None, &[article("a", 9.0)], &s);
        assert!(matches!(outcome, Outcome::HandedOff(ref r) if r.contains("already sent")));
        let (plan, outcome) = decide(&ticket("Q", &[]), &c, None, &[], &s);
        assert!(matches!(outcome, Outcome::HandedOff(_)));
        assert!(plan.note_text().unwrap().contains("No article"));
    }

    #[test]
    fn escalation_beats_a_good_match_and_thanks_solves() {
        let c = Conversation::new(
            SEAT,
            vec![said(
                1,
                CUSTOMER,
                "My jacket arrived damaged, I want a refund",
            )],
        );
        let (_, outcome) = decide(
            &ticket("Refund", &[]),
            &c,
            None,
            &[article("returns", 9.0)],
            &FaqSettings::default(),
        );
        assert!(matches!(outcome, Outcome::HandedOff(ref r) if r.contains("damaged")));
        let c = Conversation::new(
            SEAT,
            vec![
                said(1, CUSTOMER, "How do returns work?"),
                said(2, SEAT, "Like this."),
                said(3, CUSTOMER, "Thank you!"),
            ],
        );
        let (plan, _) = decide(
            &ticket("Returns", &[]),
            &c,
            None,
            &[],
            &FaqSettings::default(),
        );
        assert_eq!(plan.status, Some(Status::Solved));
    }
}
