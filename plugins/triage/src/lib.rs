//! Triage: the first example brand plugin.
//!
//! It never tries to solve a problem itself. It sorts tickets by keyword, acknowledges a
//! new ticket so the customer knows it arrived, closes the loop when the customer only
//! says thanks, and otherwise hands the ticket to human agents with tags that route it.
//!
//! The decision is a pure function ([`decide`]) of the ticket, the conversation and the
//! requester's name, so it is deterministic and unit-tested natively; [`Triage::handle`]
//! only reads from and stages to the host.

#![warn(missing_docs)]

use gateway_plugin_sdk::text::{first_name, is_gratitude_only, matched_keywords};
use gateway_plugin_sdk::{
    export_plugin, fields, log, setting_or, ticket, Conversation, Event, Guest, HostResultExt,
    Outcome, Plan, Status, TicketInfo,
};

/// A kind of ticket, recognised by keywords.
struct Category {
    /// The tag that routes the ticket (Zendesk triggers and views key on it).
    tag: &'static str,
    /// Who the acknowledgement says the ticket goes to, when this is its only category.
    team: &'static str,
    /// Whole words or phrases that put a ticket in this category, matched ignoring case.
    keywords: &'static [&'static str],
}

/// The categories, in the order their tags are added and reported.
const CATEGORIES: &[Category] = &[
    Category {
        tag: "billing",
        team: "billing team",
        keywords: &[
            "billing", "bill", "billed", "invoice", "invoices", "refund", "refunds", "refunded",
            "charge", "charges", "charged",
        ],
    },
    Category {
        tag: "account_access",
        team: "account team",
        keywords: &[
            "password",
            "login",
            "log in",
            "sign in",
            "2fa",
            "two factor",
            "locked",
            "locked out",
        ],
    },
    Category {
        tag: "technical",
        team: "technical support team",
        keywords: &[
            "broken", "error", "errors", "crash", "crashes", "crashed", "crashing", "bug", "bugs",
        ],
    },
    Category {
        tag: "orders",
        team: "orders team",
        keywords: &[
            "shipping",
            "shipment",
            "delivery",
            "delivered",
            "order",
            "orders",
        ],
    },
];

/// Keywords that add the `urgent` tag on top of the categories.
const URGENT: &[&str] = &["urgent", "urgently", "asap", "immediately"];

/// Tag added to every ticket this plugin triaged.
const TRIAGED_TAG: &str = "ai_triaged";
/// Tag added when the plugin solved a ticket because the customer only said thanks.
const SOLVED_TAG: &str = "ai_solved";
/// Tag added for urgent wording.
const URGENT_TAG: &str = "urgent";

/// The plugin; see the [crate documentation](crate).
pub struct Triage;

impl Guest for Triage {
    fn handle(event: Event) -> Result<Outcome, String> {
        let ticket = ticket::get().context("reading the ticket")?;
        let conversation = Conversation::load().context("reading the comments")?;
        // The name only makes the greeting friendlier and lets "Thanks! Ana" count as
        // thanks; a ticket must not fail over it, so a refused lookup just drops it.
        let requester = ticket::get_user(ticket.requester_id).ok();
        let requester_name = requester.as_ref().map(|user| user.name.as_str());

        let (plan, outcome) = decide(&ticket, &conversation, requester_name);
        plan.stage().context("staging the triage")?;
        record_category(&plan);

        let ticket_id = event.ticket_id.to_string();
        log::with_fields(
            log::Level::Info,
            "triage finished",
            &[("ticket", &ticket_id), ("outcome", &format!("{outcome:?}"))],
        );
        Ok(outcome)
    }
}

export_plugin!(Triage);

/// With the `category_field` setting naming a custom field the brand allows (WIT 0.3.0
/// `fields`), records the first category there when the field is still empty, so
/// Zendesk views and reports can use it. A refusal (the field is not allowed, or the
/// category is not one of its options) is only logged: the triage itself stands.
fn record_category(plan: &Plan) {
    let field = setting_or("category_field", "");
    if field.is_empty() {
        return;
    }
    let Some(category) = plan
        .tags
        .iter()
        .find(|t| *t != TRIAGED_TAG && *t != SOLVED_TAG && *t != "urgent")
    else {
        return;
    };
    match fields::get(&field) {
        Ok(None) => {
            if let Err(e) = fields::set(&field, category) {
                log::with_fields(
                    log::Level::Warn,
                    "category not recorded",
                    &[("error", &format!("{e:?}"))],
                );
            }
        }
        Ok(Some(_)) => {}
        Err(e) => log::with_fields(
            log::Level::Warn,
            "category field unreadable",
            &[("error", &format!("{e:?}"))],
        ),
    }
}

/// Decides what to do with the ticket: the whole behaviour of the plugin.
///
/// * The last public word is the seat's: skip, so the plugin never answers itself.
/// * The seat replied before and the customer's latest message only says thanks: tag
///   `ai_solved`, set the status to solved, handled.
/// * Otherwise tag by category (plus `urgent` and `ai_triaged`), and hand off to humans
///   (unassigning the ticket if it is assigned to the seat). On the first notification
///   (the seat has not replied yet) the run acknowledges the ticket publicly; later runs
///   write an internal note explaining the categories instead. A run cannot do both: it
///   commits in one update and an update carries one comment, so on the first run the
///   tags and the outcome's reason carry the explanation.
pub fn decide(
    ticket: &TicketInfo,
    conversation: &Conversation,
    requester_name: Option<&str>,
) -> (Plan, Outcome) {
    if conversation.last_public_is_from_seat() {
        return (Plan::new(), Outcome::Skipped("last word is ours".into()));
    }

    let first_contact = !conversation.seat_has_replied();
    let name = requester_name.and_then(first_name);

    if !first_contact {
        let latest = conversation
            .latest_customer_message()
            .map(|comment| comment.body.as_str())
            .unwrap_or_default();
        let allowed: Vec<&str> = name.into_iter().collect();
        if is_gratitude_only(latest, &allowed) {
            let plan = Plan::new().tag(SOLVED_TAG).status(Status::Solved);
            let reason = "customer only said thanks after our reply; solved";
            return (plan, Outcome::Handled(reason.into()));
        }
    }

    let text = text_to_classify(ticket, conversation, first_contact);
    let findings = classify(&text);

    let mut plan = Plan::new()
        .tags(findings.iter().map(|finding| finding.tag))
        .tag(TRIAGED_TAG);
    if ticket.assignee_id == Some(conversation.seat_id()) {
        plan = plan.unassign();
    }

    let summary = summarise(&findings);
    let reason = if first_contact {
        plan = plan.reply(acknowledgement(ticket, name, &findings));
        format!("acknowledged and handed to humans: {summary}")
    } else {
        plan = plan.note(triage_note(&summary));
        format!("handed to humans with a triage note: {summary}")
    };
    (plan, Outcome::HandedOff(reason))
}

/// One detected category (or the urgent flag) and the keywords that triggered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The tag to add.
    pub tag: &'static str,
    /// The team named in the acknowledgement, `None` for the urgent flag.
    pub team: Option<&'static str>,
    /// The keywords found, in the order they are listed.
    pub matched: Vec<&'static str>,
}

/// Finds the categories, then the urgent flag, mentioned in `text`.
pub fn classify(text: &str) -> Vec<Finding> {
    let mut findings: Vec<Finding> = CATEGORIES
        .iter()
        .filter_map(|category| {
            let matched = matched_keywords(text, category.keywords);
            (!matched.is_empty()).then_some(Finding {
                tag: category.tag,
                team: Some(category.team),
                matched,
            })
        })
        .collect();
    let urgent = matched_keywords(text, URGENT);
    if !urgent.is_empty() {
        findings.push(Finding {
            tag: URGENT_TAG,
            team: None,
            matched: urgent,
        });
    }
    findings
}

/// What the customer asked: on first contact the subject and every public message so
/// far; later, only what arrived since the seat's last reply, so an old topic does not
/// keep re-tagging the ticket. Falls back to the description when there is no public
/// comment at all (a ticket created through the API with a private first comment).
fn text_to_classify(
    ticket: &TicketInfo,
    conversation: &Conversation,
    first_contact: bool,
) -> String {
    let mut text = conversation.unanswered_text();
    if text.is_empty() {
        text = ticket.description.clone();
    }
    if first_contact {
        text = format!("{}\n\n{}", ticket.subject, text);
    }
    text
}

/// "billing (refund, charged), urgent (asap)", or a sentence saying nothing matched.
fn summarise(findings: &[Finding]) -> String {
    if findings.is_empty() {
        return "no known category detected".into();
    }
    findings
        .iter()
        .map(|finding| format!("{} ({})", finding.tag, finding.matched.join(", ")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The public reply on the first notification of a ticket.
fn acknowledgement(ticket: &TicketInfo, name: Option<&str>, findings: &[Finding]) -> String {
    let greeting = match name {
        Some(name) => format!("Hi {name},"),
        None => "Hi there,".to_owned(),
    };
    let subject = ticket.subject.trim();
    let about = if subject.is_empty() {
        "thanks for reaching out.".to_owned()
    } else {
        format!("thanks for reaching out about \"{subject}\".")
    };
    let teams: Vec<&str> = findings.iter().filter_map(|finding| finding.team).collect();
    let team = match teams.as_slice() {
        [team] => team,
        _ => "support team",
    };
    let urgent = if findings.iter().any(|finding| finding.tag == URGENT_TAG) {
        " We have marked it as urgent."
    } else {
        ""
    };
    format!(
        "{greeting} {about} We have received your message and passed it to our {team}, \
         who will get back to you here as soon as possible.{urgent}\n\n\
         If you have anything to add, just reply to this message; there is no need to \
         open a new ticket."
    )
}

/// The internal note of a later run: what was detected and why the ticket goes to a human.
fn triage_note(summary: &str) -> String {
    format!(
        "AI triage: {summary}.\n\
         The customer wrote again after our acknowledgement, so a human agent should \
         take it from here. Categories were detected by keyword (matches in brackets) \
         in the messages since our last reply."
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use gateway_plugin_sdk::Comment;

    const SEAT: u64 = 900;
    const CUSTOMER: u64 = 42;

    fn ticket(subject: &str, assignee_id: Option<u64>) -> TicketInfo {
        TicketInfo {
            id: 7,
            subject: subject.into(),
            description: "(description)".into(),
            status: "open".into(),
            priority: None,
            ticket_type: None,
            requester_id: CUSTOMER,
            assignee_id,
            group_id: None,
            brand_id: None,
            tags: vec![],
            channel: "email".into(),
            created_at: "2026-01-01T00:00:00Z".into(),
            updated_at: "2026-01-01T00:00:00Z".into(),
        }
    }

    fn conversation(messages: &[(u64, &str)]) -> Conversation {
        let comments = messages
            .iter()
            .enumerate()
            .map(|(i, (author_id, body))| Comment {
                id: i as u64 + 1,
                author_id: *author_id,
                body: (*body).into(),
                public: true,
                created_at: format!("2026-01-01T00:00:{i:02}Z"),
            })
            .collect();
        Conversation::new(SEAT, comments)
    }

    #[test]
    fn skips_when_the_last_word_is_ours() {
        let (plan, outcome) = decide(
            &ticket("Help", Some(SEAT)),
            &conversation(&[(CUSTOMER, "refund please"), (SEAT, "on it")]),
            Some("Ana Lima"),
        );
        assert_eq!(plan, Plan::new());
        assert_eq!(outcome, Outcome::Skipped("last word is ours".into()));
    }

    #[test]
    fn first_contact_acknowledges_tags_and_hands_off() {
        let (plan, outcome) = decide(
            &ticket("Charged twice", Some(SEAT)),
            &conversation(&[(CUSTOMER, "I need a refund ASAP, my invoice is wrong")]),
            Some("Ana Lima"),
        );
        assert_eq!(plan.tags, ["billing", "urgent", "ai_triaged"]);
        assert!(plan.unassign);
        assert_eq!(plan.status, None);
        let reply = plan.reply_text().expect("a public acknowledgement");
        assert!(
            reply.starts_with("Hi Ana, thanks for reaching out about \"Charged twice\"."),
            "{reply}"
        );
        assert!(reply.contains("our billing team"), "{reply}");
        assert!(reply.contains("marked it as urgent"), "{reply}");
        assert_eq!(
            outcome,
            Outcome::HandedOff(
                "acknowledged and handed to humans: billing (invoice, refund, charged), \
                 urgent (asap)"
                    .into()
            )
        );
    }

    #[test]
    fn several_categories_go_to_the_support_team() {
        let (plan, _) = decide(
            &ticket("App crash after login", None),
            &conversation(&[(CUSTOMER, "The app shows an error when I log in")]),
            None,
        );
        assert_eq!(plan.tags, ["account_access", "technical", "ai_triaged"]);
        assert!(
            !plan.unassign,
            "not assigned to the seat: leave the assignee"
        );
        let reply = plan.reply_text().unwrap();
        assert!(
            reply.starts_with("Hi there, thanks for reaching out about"),
            "{reply}"
        );
        assert!(reply.contains("our support team"), "{reply}");
    }

    #[test]
    fn later_messages_get_an_internal_note() {
        let (plan, outcome) = decide(
            &ticket("Where is my parcel", Some(SEAT)),
            &conversation(&[
                (CUSTOMER, "Where is my parcel?"),
                (SEAT, "Hi, thanks for reaching out"),
                (CUSTOMER, "The delivery never came"),
            ]),
            Some("Ana"),
        );
        assert_eq!(plan.reply_text(), None);
        let note = plan.note_text().expect("a triage note");
        assert!(note.starts_with("AI triage: orders (delivery)."), "{note}");
        assert_eq!(plan.tags, ["orders", "ai_triaged"]);
        assert!(plan.unassign);
        assert_eq!(
            outcome,
            Outcome::HandedOff("handed to humans with a triage note: orders (delivery)".into())
        );
    }

    #[test]
    fn no_category_is_still_triaged() {
        let (plan, outcome) = decide(
            &ticket("Question", None),
            &conversation(&[(CUSTOMER, "Do you have a store in Lisbon")]),
            Some("Ana"),
        );
        assert_eq!(plan.tags, ["ai_triaged"]);
        assert_eq!(
            outcome,
            Outcome::HandedOff(
                "acknowledged and handed to humans: no known category detected".into()
            )
        );
    }

    #[test]
    fn thanks_after_our_reply_solves() {
        for thanks in ["thanks", "Thank you!", "thx, that fixed it", "Thanks! Ana"] {
            let (plan, outcome) = decide(
                &ticket("Login", Some(SEAT)),
                &conversation(&[
                    (CUSTOMER, "locked out"),
                    (SEAT, "Hi Ana, thanks for reaching out"),
                    (CUSTOMER, thanks),
                ]),
                Some("Ana Lima"),
            );
            assert_eq!(plan.tags, ["ai_solved"], "{thanks}");
            assert_eq!(plan.status, Some(Status::Solved));
            assert_eq!(plan.message, None);
            assert!(matches!(outcome, Outcome::Handled(_)));
        }
    }

    #[test]
    fn thanks_on_first_contact_is_triaged_not_solved() {
        let (plan, outcome) = decide(
            &ticket("Thanks", None),
            &conversation(&[(CUSTOMER, "thanks")]),
            None,
        );
        assert_eq!(plan.status, None);
        assert!(plan.reply_text().is_some());
        assert!(matches!(outcome, Outcome::HandedOff(_)));
    }

    #[test]
    fn thanks_with_a_new_problem_is_not_solved() {
        let (plan, _) = decide(
            &ticket("Login", Some(SEAT)),
            &conversation(&[
                (CUSTOMER, "locked out"),
                (SEAT, "on it"),
                (CUSTOMER, "thanks, but now the app crashes"),
            ]),
            None,
        );
        assert_eq!(plan.status, None);
        assert_eq!(plan.tags, ["technical", "ai_triaged"]);
    }
}
