//! Order desk: the second example brand plugin, for a retail brand.
//!
//! Unlike triage, it answers customers itself, but only the four questions a shop gets
//! all day (where is my order, returns and refunds, changing the delivery address,
//! cancelling) and only from canned answers built into the plugin. It answers when
//! exactly one of those topics is clearly asked; anything else goes to a human with an
//! internal note saying what was detected.
//!
//! With a shop API (setting `shop_api`, its origin allowed in `[brands.NAME.http]`), it
//! answers "where is my order 4411" from the order itself, and refunds a delivered
//! order whose total is within the setting `max_refund` (default 0: none); a refund
//! over it goes to a human.
//!
//! The decision is a pure function ([`decide`], [`decide_with`]), so it is deterministic
//! and unit-tested natively; [`OrderDesk::handle`] only reads from the host and the shop
//! API, and stages.

#![warn(missing_docs)]

pub mod shop;

use gateway_plugin_sdk::text::{first_name, is_gratitude_only, matched_keywords, words};
use gateway_plugin_sdk::{
    export_plugin, log, setting_number, settings, ticket, Conversation, Event, Guest,
    HostResultExt, Outcome, Plan, Status, TicketInfo,
};
use shop::{OrderFacts, Refund};

/// A question the order desk can answer on its own.
pub struct Topic {
    /// The tag added when the topic is answered (or, in a later run, recognised again).
    pub tag: &'static str,
    /// Short name used in notes and reasons.
    pub label: &'static str,
    /// Whole words or phrases that mean the customer asks this, matched ignoring case.
    pub keywords: &'static [&'static str],
    /// The canned answer, without greeting and sign-off.
    pub answer: &'static str,
}

/// The topics, in the order they are reported.
pub const TOPICS: &[Topic] = &[
    Topic {
        tag: "order_tracking",
        label: "where is my order",
        keywords: &[
            "where is my order",
            "where s my order",
            "wheres my order",
            "tracking",
            "track",
            "tracking number",
            "not arrived",
            "hasn t arrived",
            "hasnt arrived",
            "has not arrived",
            "not received",
            "haven t received",
            "havent received",
            "still waiting",
            "order status",
            "dispatched",
            "shipped",
        ],
        answer: "As soon as your order leaves our warehouse we email you a tracking \
                 link, and you can always find it under My Account > Orders. Orders \
                 usually arrive within 3-5 working days of dispatch. If the tracking has \
                 not moved for 3 working days, just reply here and we will chase the \
                 courier for you.",
    },
    Topic {
        tag: "order_returns",
        label: "returns and refunds",
        keywords: &[
            "return",
            "returns",
            "returning",
            "refund",
            "refunds",
            "money back",
            "send back",
            "send it back",
            "exchange",
        ],
        answer: "You can return anything within 30 days of delivery, as long as it is \
                 unused and in its original packaging. Start the return under My \
                 Account > Orders > Return an item and print the free returns label. \
                 Once the parcel reaches us, we refund your original payment method \
                 within 5 working days.",
    },
    Topic {
        tag: "order_address_change",
        label: "change the delivery address",
        keywords: &["address", "moved house"],
        answer: "We can change the delivery address as long as your order has not been \
                 dispatched yet. Reply to this message with the full new address, \
                 postcode included, and we will update it for you. If the order has \
                 already shipped, the tracking link in your dispatch email lets you \
                 redirect the parcel with the courier.",
    },
    Topic {
        tag: "order_cancellation",
        label: "cancel an order",
        keywords: &[
            "cancel",
            "cancelled",
            "canceled",
            "cancelling",
            "canceling",
            "cancellation",
        ],
        answer: "Orders can be cancelled free of charge until they are dispatched, \
                 usually within 2 hours of ordering. If yours is still being prepared, \
                 go to My Account > Orders and choose Cancel order; the refund shows up \
                 within 5 working days. If it has already shipped, simply refuse the \
                 delivery or send it back with our free returns label, and we will \
                 refund you as soon as it reaches us.",
    },
];

/// Words that mean a canned answer would not do, whatever the topic: something went
/// wrong with the goods, or the customer is upset or asks for a person.
const ESCALATION: &[&str] = &[
    "damaged",
    "broken",
    "faulty",
    "defective",
    "wrong item",
    "missing item",
    "missing items",
    "stolen",
    "fraud",
    "chargeback",
    "complaint",
    "lawyer",
    "legal",
    "unacceptable",
    "manager",
    "human",
    "real person",
];

/// Messages longer than this (in words) tell a story a canned answer will not fit.
pub const MAX_WORDS: usize = 80;

/// Tag added when the plugin answered.
const ANSWERED_TAG: &str = "ai_answered";
/// Tag added when the plugin handed the ticket to a human.
const NEEDS_HUMAN_TAG: &str = "needs_human";
/// Tag added when the plugin solved a ticket because the customer only said thanks.
const SOLVED_TAG: &str = "ai_solved";

/// The plugin; see the [crate documentation](crate).
pub struct OrderDesk;

impl Guest for OrderDesk {
    fn handle(event: Event) -> Result<Outcome, String> {
        let ticket = ticket::get().context("reading the ticket")?;
        let conversation = Conversation::load().context("reading the comments")?;
        // The name only personalises the greeting: a refused lookup must not fail the run.
        let requester = ticket::get_user(ticket.requester_id).ok();
        let requester_name = requester.as_ref().map(|user| user.name.as_str());

        let (mut plan, mut outcome) = decide(&ticket, &conversation, requester_name);
        // Only a question the order desk answers is worth a call to the shop: one clear
        // tracking or returns question quoting an order number.
        let api = settings::get("shop_api");
        let topic = answered_topic(&plan);
        let number = shop::order_number(&format!(
            "{}\n{}",
            ticket.subject,
            conversation.unanswered_text()
        ));
        if let (Some(api), Some(topic), Some(number)) = (api, topic, number) {
            let facts = shop::lookup(&api, number);
            let refund = match (&facts, topic) {
                (OrderFacts::Found(order), "order_returns") if order.status == "delivered" => {
                    shop::refund(&api, order, setting_number("max_refund", 0.0))
                }
                _ => Refund::NotAsked,
            };
            if let OrderFacts::Unavailable(why) = &facts {
                log::warn(&format!("shop API: {why}; the canned answer goes out"));
            }
            (plan, outcome) = decide_with(&ticket, &conversation, requester_name, &facts, &refund);
        }
        plan.stage().context("staging the order desk's answer")?;

        let ticket_id = event.ticket_id.to_string();
        log::with_fields(
            log::Level::Info,
            "order desk finished",
            &[("ticket", &ticket_id), ("outcome", &format!("{outcome:?}"))],
        );
        Ok(outcome)
    }
}

export_plugin!(OrderDesk);

/// The tag of the topic a plan answers, if it answers one.
fn answered_topic(plan: &Plan) -> Option<&'static str> {
    plan.reply_text()?;
    TOPICS
        .iter()
        .map(|t| t.tag)
        .find(|tag| plan.tags.iter().any(|t| t == tag))
}

/// [`decide`], with what the shop API said about the order and the refund: a tracking
/// answer from the order itself, a refund confirmed, or a refund a human must decide.
pub fn decide_with(
    ticket: &TicketInfo,
    conversation: &Conversation,
    requester_name: Option<&str>,
    facts: &OrderFacts,
    refund: &Refund,
) -> (Plan, Outcome) {
    let (plan, outcome) = decide(ticket, conversation, requester_name);
    let Some(topic) = answered_topic(&plan) else {
        return (plan, outcome);
    };
    let name = requester_name.and_then(first_name);
    let reply = |body: String, reason: String| {
        let plan = Plan::new()
            .reply(framed(&body, name))
            .tags([ANSWERED_TAG, topic])
            .status(Status::Pending);
        (plan, Outcome::Handled(reason))
    };
    match (topic, facts, refund) {
        (_, OrderFacts::Found(o), Refund::OverLimit { amount, limit }) => {
            let mut plan = Plan::new()
                .note(format!(
                    "Needs a human: the customer asks for a refund of order {} ({amount:.2} {}), \
                     over the order desk's limit of {limit:.2}. Status: {}.",
                    o.id, o.currency, o.status
                ))
                .tag(NEEDS_HUMAN_TAG);
            if ticket.assignee_id == Some(conversation.seat_id()) {
                plan = plan.unassign();
            }
            let why = format!("refund of order {} over the limit of {limit:.2}", o.id);
            (plan, Outcome::HandedOff(why))
        }
        (_, OrderFacts::Found(o), Refund::Failed(why)) => {
            let mut plan = Plan::new()
                .note(format!(
                    "Needs a human: the refund of order {} could not be made: {why}.",
                    o.id
                ))
                .tag(NEEDS_HUMAN_TAG);
            if ticket.assignee_id == Some(conversation.seat_id()) {
                plan = plan.unassign();
            }
            (
                plan,
                Outcome::HandedOff(format!("refund of order {} failed", o.id)),
            )
        }
        (_, OrderFacts::Found(o), Refund::Done { amount } | Refund::NotSent { amount }) => {
            let sent = if matches!(refund, Refund::NotSent { .. }) {
                " (Listening Mode: the refund was not sent)"
            } else {
                ""
            };
            reply(
                format!(
                    "We have refunded {amount:.2} {} for order {} to your original payment \
                     method; it shows on your statement within 5 working days. There is no \
                     need to send the item back.",
                    o.currency, o.id
                ),
                format!(
                    "refunded order {} ({amount:.2} {}) from the shop API{sent}",
                    o.id, o.currency
                ),
            )
        }
        ("order_tracking", OrderFacts::Found(o), _) => {
            let body = match o.status.as_str() {
                "shipped" => format!(
                    "Your order {} left our warehouse on {} with {}. You can follow it here: {}\n\n\
                     Parcels usually arrive within 3-5 working days of dispatch.",
                    o.id,
                    o.shipped_on.as_deref().unwrap_or("its dispatch day"),
                    o.carrier.as_deref().unwrap_or("our courier"),
                    o.tracking_url.as_deref().unwrap_or("(the link in your dispatch email)")
                ),
                "delivered" => format!(
                    "{} marked your order {} as delivered. If you cannot find it, check with \
                     your neighbours or your safe place, then reply here and we will open a \
                     claim with the courier.",
                    o.carrier.as_deref().unwrap_or("Our courier"),
                    o.id
                ),
                _ => format!(
                    "Your order {} is still being prepared in our warehouse. We email you the \
                     tracking link as soon as it leaves.",
                    o.id
                ),
            };
            reply(
                body,
                format!(
                    "answered \"where is my order\" for order {} from the shop API ({})",
                    o.id, o.status
                ),
            )
        }
        ("order_tracking" | "order_returns", OrderFacts::NotFound(n), _) => reply(
            format!(
                "We could not find an order with the number {n}. Could you check the number in \
                 your order confirmation email and reply with it?"
            ),
            format!("order {n} is unknown to the shop API; asked the customer to check it"),
        ),
        _ => (plan, outcome),
    }
}

/// Greeting, body, sign-off.
fn framed(body: &str, name: Option<&str>) -> String {
    let greeting = match name {
        Some(name) => format!("Hi {name}!"),
        None => "Hi there!".to_owned(),
    };
    format!(
        "{greeting} Thanks for getting in touch.\n\n{body}\n\n\
         If there is anything else, just reply to this message.\n\n\
         Happy shopping,\nThe Order Desk"
    )
}

/// Decides what to do with the ticket: the whole behaviour of the plugin.
///
/// * The last public word is the seat's: skip (loop guard).
/// * The seat replied before and the customer only says thanks: tag `ai_solved`, solve.
/// * Exactly one topic asked, no escalation words, not a long story, and not a topic
///   already answered on this ticket: reply with the canned answer, tag `ai_answered`
///   and the topic's tag, set the status to pending (awaiting the customer), handled.
/// * Anything else: internal note "Needs a human: ..." listing what was detected, tag
///   `needs_human`, unassign if assigned to the seat, handed off.
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

    // What the customer is waiting for an answer to; on first contact the subject too.
    let mut text = conversation.unanswered_text();
    if text.is_empty() {
        text = ticket.description.clone();
    }
    if first_contact {
        text = format!("{}\n\n{}", ticket.subject, text);
    }

    let detected: Vec<(&Topic, Vec<&str>)> = TOPICS
        .iter()
        .map(|topic| (topic, matched_keywords(&text, topic.keywords)))
        .filter(|(_, matched)| !matched.is_empty())
        .collect();
    let escalation = matched_keywords(&text, ESCALATION);
    let word_count = words(&text).len();

    let mut problems = Vec::new();
    match detected.as_slice() {
        [] => problems.push("no known order topic detected".to_owned()),
        [_] => {}
        several => problems.push(format!("several topics detected: {}", describe(several))),
    }
    if !escalation.is_empty() {
        problems.push(format!("escalation words: {}", escalation.join(", ")));
    }
    if word_count > MAX_WORDS {
        problems.push(format!(
            "message too long for a canned answer ({word_count} words)"
        ));
    }
    if let [(topic, _)] = detected.as_slice() {
        if ticket.tags.iter().any(|tag| tag == topic.tag) && !first_contact {
            problems.push(format!(
                "customer wrote again after our canned answer about {}",
                topic.label
            ));
        }
    }

    if let ([(topic, matched)], true) = (detected.as_slice(), problems.is_empty()) {
        let plan = Plan::new()
            .reply(answer(topic, name))
            .tags([ANSWERED_TAG, topic.tag])
            .status(Status::Pending);
        let reason = format!(
            "answered \"{}\" from the canned answers (matched {})",
            topic.label,
            matched.join(", ")
        );
        return (plan, Outcome::Handled(reason));
    }

    let summary = problems.join("; ");
    let mut plan = Plan::new()
        .note(format!(
            "Needs a human: {summary}.\n\
             The order desk answers one clear question about tracking, returns, address \
             changes or cancellations from its canned answers; please take it from here."
        ))
        .tag(NEEDS_HUMAN_TAG);
    if ticket.assignee_id == Some(conversation.seat_id()) {
        plan = plan.unassign();
    }
    (
        plan,
        Outcome::HandedOff(format!("needs a human: {summary}")),
    )
}

/// "where is my order (tracking), returns and refunds (refund)".
fn describe(detected: &[(&Topic, Vec<&str>)]) -> String {
    detected
        .iter()
        .map(|(topic, matched)| format!("{} ({})", topic.label, matched.join(", ")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The public reply: greeting, canned answer, sign-off.
fn answer(topic: &Topic, name: Option<&str>) -> String {
    let greeting = match name {
        Some(name) => format!("Hi {name}!"),
        None => "Hi there!".to_owned(),
    };
    format!(
        "{greeting} Thanks for getting in touch.\n\n{}\n\n\
         If there is anything else, just reply to this message.\n\n\
         Happy shopping,\nThe Order Desk",
        topic.answer
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use gateway_plugin_sdk::Comment;

    const SEAT: u64 = 900;
    const CUSTOMER: u64 = 42;

    fn ticket(subject: &str, tags: &[&str]) -> TicketInfo {
        TicketInfo {
            id: 7,
            subject: subject.into(),
            description: "(description)".into(),
            status: "open".into(),
            priority: None,
            ticket_type: None,
            requester_id: CUSTOMER,
            assignee_id: Some(SEAT),
            group_id: None,
            brand_id: None,
            tags: tags.iter().map(|tag| (*tag).to_owned()).collect(),
            channel: "web".into(),
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
    fn answers_a_single_clear_topic() {
        let cases = [
            (
                "Order 1234",
                "Hi, where is my order? It's been a week",
                "order_tracking",
            ),
            (
                "Returns",
                "How do I get my money back for the shoes",
                "order_returns",
            ),
            (
                "Moving",
                "I need to change the delivery address",
                "order_address_change",
            ),
            (
                "Oops",
                "Please cancel order 55, I ordered twice",
                "order_cancellation",
            ),
        ];
        for (subject, body, tag) in cases {
            let (plan, outcome) = decide(
                &ticket(subject, &[]),
                &conversation(&[(CUSTOMER, body)]),
                Some("Ana Lima"),
            );
            assert_eq!(plan.tags, ["ai_answered", tag], "{body}");
            assert_eq!(plan.status, Some(Status::Pending));
            assert!(!plan.unassign);
            let reply = plan.reply_text().expect("a public answer");
            assert!(
                reply.starts_with("Hi Ana! Thanks for getting in touch."),
                "{reply}"
            );
            assert!(matches!(outcome, Outcome::Handled(_)), "{body}");
        }
    }

    #[test]
    fn several_topics_need_a_human() {
        let (plan, outcome) = decide(
            &ticket("Order", &[]),
            &conversation(&[(CUSTOMER, "Where is my order? If it is late I want a refund")]),
            None,
        );
        assert_eq!(plan.reply_text(), None);
        assert_eq!(plan.tags, ["needs_human"]);
        assert!(plan.unassign);
        let note = plan.note_text().unwrap();
        assert!(
            note.starts_with(
                "Needs a human: several topics detected: where is my order (where is my \
                 order), returns and refunds (refund)."
            ),
            "{note}"
        );
        assert!(
            matches!(outcome, Outcome::HandedOff(reason) if reason.starts_with("needs a human: several topics"))
        );
    }

    #[test]
    fn no_topic_needs_a_human() {
        let (plan, outcome) = decide(
            &ticket("Question", &[]),
            &conversation(&[(CUSTOMER, "Do you sell gift cards")]),
            None,
        );
        assert_eq!(plan.tags, ["needs_human"]);
        assert_eq!(
            outcome,
            Outcome::HandedOff("needs a human: no known order topic detected".into())
        );
    }

    #[test]
    fn escalation_words_need_a_human_even_with_one_topic() {
        let (plan, outcome) = decide(
            &ticket("Return", &[]),
            &conversation(&[(CUSTOMER, "The vase arrived damaged, I want to return it")]),
            None,
        );
        assert_eq!(plan.tags, ["needs_human"]);
        assert_eq!(
            outcome,
            Outcome::HandedOff("needs a human: escalation words: damaged".into())
        );
    }

    #[test]
    fn the_same_topic_again_needs_a_human() {
        let (plan, outcome) = decide(
            &ticket("Order 1234", &["ai_answered", "order_tracking"]),
            &conversation(&[
                (CUSTOMER, "where is my order"),
                (SEAT, "Hi Ana! ..."),
                (CUSTOMER, "The tracking has not changed in a week"),
            ]),
            Some("Ana"),
        );
        assert_eq!(plan.tags, ["needs_human"]);
        assert!(matches!(outcome, Outcome::HandedOff(reason)
            if reason.contains("wrote again after our canned answer about where is my order")));
    }

    #[test]
    fn thanks_solves_and_our_last_word_skips() {
        let (plan, outcome) = decide(
            &ticket("Order", &["ai_answered"]),
            &conversation(&[
                (CUSTOMER, "where is my order"),
                (SEAT, "..."),
                (CUSTOMER, "Thanks!"),
            ]),
            None,
        );
        assert_eq!(plan.tags, ["ai_solved"]);
        assert_eq!(plan.status, Some(Status::Solved));
        assert!(matches!(outcome, Outcome::Handled(_)));

        let (plan, outcome) = decide(
            &ticket("Order", &[]),
            &conversation(&[(CUSTOMER, "where is my order"), (SEAT, "...")]),
            None,
        );
        assert_eq!(plan, Plan::new());
        assert_eq!(outcome, Outcome::Skipped("last word is ours".into()));
    }
}
