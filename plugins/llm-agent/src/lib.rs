//! LLM agent: the third kind of example brand plugin.
//!
//! It drafts a reply with the brand's language model from the conversation and the
//! knowledge-base articles that match it, in the brand's tone (settings). Guardrails run
//! before anything is sent, and each one hands the ticket to a human instead:
//!
//! 1. before the model is asked: the customer asks for a human, threatens legal action,
//!    reports an injury, asks for a refund above the brand's `max_refund`, or writes in a
//!    language the brand does not support (`languages`);
//! 2. the model fails (timeout, rate limit, outage, budget): never answered with an error;
//! 3. the model says the articles do not cover the question (it is told to answer
//!    `HANDOFF` then);
//! 4. after the model answered: a draft that promises what no retrieved article says (a
//!    refund, a discount, a replacement... or a figure such as "within 2 days" that no
//!    article gives) is not sent; the note shows the draft to the agent.
//!
//! A hand-off outside the brand's business hours (its Zendesk schedule, `hours`) tells
//! the customer when a person will answer ("a person from our team will answer from
//! Monday 9:00") instead of leaving them waiting in silence; within business hours, or
//! when there is a draft for the agent to see, it writes the internal note.
//!
//! Everything but the host calls is pure functions, unit-tested natively.

#![warn(missing_docs)]

use gateway_plugin_sdk::llm::{self, CompletionRequest, LlmError, Message, Role};
use gateway_plugin_sdk::text::{first_name, matched_keywords, words};
use gateway_plugin_sdk::{
    export_plugin, hours, knowledge, setting_number, setting_or, ticket, Article, BusinessHours,
    Conversation, Event, Guest, HostResultExt, Outcome, Plan, Status, TicketInfo,
};

/// The brand's settings the plugin reads.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentSettings {
    /// The brand's name, for the model and the sign-off.
    pub brand_name: String,
    /// How the brand speaks, given to the model as is.
    pub tone: String,
    /// Refunds above this amount always go to a human.
    pub max_refund: f64,
    /// ISO 639-1 codes of the languages the brand answers in.
    pub languages: Vec<String>,
    /// Lowest score for an article to be given to the model.
    pub min_article_score: f32,
}

impl Default for AgentSettings {
    fn default() -> Self {
        AgentSettings {
            brand_name: "our shop".into(),
            tone: "friendly, clear and concise".into(),
            max_refund: 100.0,
            languages: vec!["en".into()],
            min_article_score: 1.0,
        }
    }
}

impl AgentSettings {
    fn load() -> Self {
        let d = AgentSettings::default();
        AgentSettings {
            brand_name: setting_or("brand_name", &d.brand_name),
            tone: setting_or("tone", &d.tone),
            max_refund: setting_number("max_refund", d.max_refund),
            languages: setting_or("languages", "en")
                .split(',')
                .map(|l| l.trim().to_lowercase())
                .filter(|l| !l.is_empty())
                .collect(),
            min_article_score: setting_number("min_article_score", d.min_article_score as f64)
                as f32,
        }
    }
}

/// The model's word for "the articles do not cover this".
pub const HANDOFF_WORD: &str = "HANDOFF";

/// The plugin; see the [crate documentation](crate).
pub struct LlmAgent;

impl Guest for LlmAgent {
    fn handle(_event: Event) -> Result<Outcome, String> {
        let ticket = ticket::get().context("reading the ticket")?;
        let conversation = Conversation::load().context("reading the comments")?;
        let name = ticket::get_user(ticket.requester_id).ok().map(|u| u.name);
        let settings = AgentSettings::load();
        let hours = hours::status();
        let (plan, outcome) = run(
            &ticket,
            &conversation,
            name.as_deref(),
            &settings,
            hours.as_ref(),
            |q| knowledge::search(q, 3),
            llm::complete,
        );
        plan.stage().context("staging the reply")?;
        Ok(outcome)
    }
}

export_plugin!(LlmAgent);

/// The whole behaviour, with the two capabilities passed in so tests can fake them.
pub fn run(
    ticket: &TicketInfo,
    conversation: &Conversation,
    requester_name: Option<&str>,
    settings: &AgentSettings,
    hours: Option<&BusinessHours>,
    search: impl FnOnce(&str) -> Vec<Article>,
    complete: impl FnOnce(&CompletionRequest) -> Result<llm::Completion, LlmError>,
) -> (Plan, Outcome) {
    if conversation.last_public_is_from_seat() {
        return (Plan::new(), Outcome::Skipped("last word is ours".into()));
    }
    let name = requester_name.and_then(first_name);
    if conversation.only_thanks_after_reply(requester_name) {
        let plan = Plan::new().tag("ai_solved").status(Status::Solved);
        return (
            plan,
            Outcome::Handled("customer only said thanks; solved".into()),
        );
    }
    let question = conversation.question(ticket);
    if let Some((tag, why)) = guardrail_before(&question, settings) {
        return hand_off(
            ticket,
            conversation,
            &why,
            tag,
            None,
            (hours, name, settings),
        );
    }
    let articles: Vec<Article> = search(&question)
        .into_iter()
        .filter(|a| a.score >= settings.min_article_score)
        .collect();
    if articles.is_empty() {
        return hand_off(
            ticket,
            conversation,
            "no knowledge-base article covers the question",
            "ai_no_article",
            None,
            (hours, name, settings),
        );
    }
    let request = prompt(conversation, &articles, name, settings);
    let draft = match complete(&request) {
        Ok(c) => c.text.trim().to_string(),
        Err(e) => {
            let why = format!("the language model failed ({})", describe_llm_error(&e));
            return hand_off(
                ticket,
                conversation,
                &why,
                "ai_model_error",
                None,
                (hours, name, settings),
            );
        }
    };
    if draft.is_empty() || draft.contains(HANDOFF_WORD) {
        return hand_off(
            ticket,
            conversation,
            "the model found no answer in the articles",
            "ai_no_answer",
            None,
            (hours, name, settings),
        );
    }
    if let Some(why) = unsupported_promise(&draft, &articles, &question) {
        return hand_off(
            ticket,
            conversation,
            &why,
            "ai_unsupported_promise",
            Some(&draft),
            (hours, name, settings),
        );
    }
    let plan = Plan::new()
        .reply(draft)
        .tag("ai_answered")
        .status(Status::Pending);
    let cited: Vec<&str> = articles.iter().map(|a| a.title.as_str()).collect();
    (
        plan,
        Outcome::Handled(format!("drafted from {}", cited.join(", "))),
    )
}

const WANTS_HUMAN: &[&str] = &[
    "human",
    "real person",
    "speak to someone",
    "talk to someone",
    "speak to a person",
    "talk to a person",
    "manager",
    "supervisor",
    "not a bot",
    "no bots",
];
// Phrases, not lone words where a lone word misleads: "Sue" signs letters, tennis is
// played on a court, and "burnt orange" is a colour.
const LEGAL: &[&str] = &[
    "lawyer",
    "lawyers",
    "attorney",
    "solicitor",
    "legal action",
    "sue you",
    "sue your",
    "sue northwind",
    "suing",
    "take you to court",
    "see you in court",
    "small claims",
    "trading standards",
];
const INJURY: &[&str] = &[
    "injured",
    "injury",
    "hurt myself",
    "got hurt",
    "was hurt",
    "burned myself",
    "burned my",
    "bleeding",
    "hospital",
    "allergic reaction",
    "cut myself",
    "cut my",
    "skin rash",
];

/// The guardrails that run before the model is asked: the tag and the reason, if one
/// fires.
pub fn guardrail_before(text: &str, settings: &AgentSettings) -> Option<(&'static str, String)> {
    let hits = matched_keywords(text, WANTS_HUMAN);
    if !hits.is_empty() {
        return Some((
            "ai_human_requested",
            format!("the customer asks for a person (\"{}\")", hits[0]),
        ));
    }
    let hits = matched_keywords(text, LEGAL);
    if !hits.is_empty() {
        return Some((
            "ai_legal",
            format!("the customer mentions legal action (\"{}\")", hits[0]),
        ));
    }
    let hits = matched_keywords(text, INJURY);
    if !hits.is_empty() {
        return Some((
            "ai_injury",
            format!("the customer reports an injury (\"{}\")", hits[0]),
        ));
    }
    if !matched_keywords(
        text,
        &[
            "refund",
            "refunded",
            "money back",
            "reimburse",
            "reimbursement",
        ],
    )
    .is_empty()
    {
        if let Some(amount) = largest_amount(text) {
            if amount > settings.max_refund {
                return Some((
                    "ai_large_refund",
                    format!(
                        "the customer asks for a refund of {amount:.2}, above the {:.2} the AI may handle",
                        settings.max_refund
                    ),
                ));
            }
        }
    }
    let lang = language(text);
    if !settings.languages.iter().any(|l| l == lang) {
        return Some((
            "ai_unsupported_language",
            format!("the customer writes in a language the brand does not answer in ({lang})"),
        ));
    }
    None
}

/// The ISO 639-1 code of the text's language.
pub fn language(text: &str) -> &'static str {
    use whichlang::Lang::*;
    match whichlang::detect_language(text) {
        Ara => "ar",
        Cmn => "zh",
        Deu => "de",
        Eng => "en",
        Fra => "fr",
        Hin => "hi",
        Ita => "it",
        Jpn => "ja",
        Kor => "ko",
        Nld => "nl",
        Por => "pt",
        Rus => "ru",
        Spa => "es",
        Swe => "sv",
        Tur => "tr",
        Vie => "vi",
    }
}

/// The largest money amount in the text: numbers next to a currency sign or word.
pub fn largest_amount(text: &str) -> Option<f64> {
    const CURRENCY: &[&str] = &[
        "$", "€", "£", "usd", "eur", "gbp", "dollars", "euros", "pounds", "dollar", "euro", "pound",
    ];
    let lower = text.to_lowercase();
    let tokens: Vec<&str> = lower.split_whitespace().collect();
    let mut best: Option<f64> = None;
    for (i, raw) in tokens.iter().enumerate() {
        let has_sign = raw.starts_with(['$', '€', '£']) || raw.ends_with(['$', '€', '£']);
        let digits: String = raw
            .trim_matches(|c: char| !c.is_ascii_digit())
            .replace(',', "");
        let Ok(value) = digits.parse::<f64>() else {
            continue;
        };
        let next_is_currency = tokens.get(i + 1).is_some_and(|n| {
            CURRENCY.contains(&n.trim_matches(|c: char| !c.is_alphanumeric() && !"$€£".contains(c)))
        });
        let prev_is_currency = i > 0
            && CURRENCY.contains(
                &tokens[i - 1].trim_matches(|c: char| !c.is_alphanumeric() && !"$€£".contains(c)),
            );
        if has_sign || next_is_currency || prev_is_currency {
            best = Some(best.map_or(value, |b: f64| b.max(value)));
        }
    }
    best
}

/// The messages for the model: instructions with tone and articles, then the
/// conversation as the customer and the seat said it.
pub fn prompt(
    conversation: &Conversation,
    articles: &[Article],
    name: Option<&str>,
    settings: &AgentSettings,
) -> CompletionRequest {
    let mut system = format!(
        "You are the customer support assistant of {brand}. Tone: {tone}.\n\
         Answer the customer's latest message using ONLY the help articles below. \
         Do not promise refunds, discounts, replacements, compensation or dates that the \
         articles do not state. If the articles do not answer the question, reply with \
         exactly {HANDOFF_WORD} and nothing else.\n\
         Address the customer as {who}. Sign off as the {brand} team. Plain text, no Markdown.\n\n\
         Help articles:\n",
        brand = settings.brand_name,
        tone = settings.tone,
        who = name.unwrap_or("there"),
    );
    for a in articles {
        system.push_str(&format!(
            "--- {} ({})\n{}\n",
            a.title,
            a.url.as_deref().unwrap_or("no link"),
            a.body.trim()
        ));
    }
    let mut messages = vec![Message {
        role: Role::System,
        content: system,
    }];
    for c in conversation.public() {
        messages.push(Message {
            role: if c.author_id == conversation.seat_id() {
                Role::Assistant
            } else {
                Role::User
            },
            content: c.body.clone(),
        });
    }
    CompletionRequest {
        messages,
        max_tokens: 400,
        temperature: 0.2,
    }
}

/// An article backs a promise when it scores at least this share of the best article.
pub const GROUNDING_SHARE: f32 = 0.6;

/// Words that promise something to the customer; each must be backed by an article.
const PROMISE_WORDS: &[&str] = &[
    "refund",
    "refunded",
    "discount",
    "voucher",
    "coupon",
    "compensation",
    "compensate",
    "replacement",
    "replace",
    "free",
    "guarantee",
    "guaranteed",
    "warranty",
    "credit",
    "upgrade",
    "reimburse",
];

/// Why a draft promises more than the articles say, if it does: a promise word that no
/// article uses, or a number that neither an article nor the customer gave.
pub fn unsupported_promise(draft: &str, articles: &[Article], customer: &str) -> Option<String> {
    // Only articles that match about as well as the best one back a promise: a weakly
    // related article that happens to mention "discount" does not make a discount for a
    // late parcel true.
    let best = articles.iter().map(|a| a.score).fold(0.0_f32, f32::max);
    let sources: String = articles
        .iter()
        .filter(|a| a.score >= best * GROUNDING_SHARE)
        .map(|a| a.body.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    let source_words = words(&sources);
    for promise in matched_keywords(draft, PROMISE_WORDS) {
        if !source_words.iter().any(|w| w == promise) {
            return Some(format!(
                "the draft promises \"{promise}\", which no article mentions"
            ));
        }
    }
    let known: Vec<String> = numbers(&sources)
        .into_iter()
        .chain(numbers(customer))
        .collect();
    for n in numbers(draft) {
        if !known.contains(&n) {
            return Some(format!(
                "the draft states \"{n}\", a figure no article gives"
            ));
        }
    }
    None
}

/// The figures of a text ("30", "4.95"), leaving out the numbers of numbered lists
/// ("2. Print the label"), which promise nothing.
fn numbers(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        let body = match trimmed.split_once(". ") {
            Some((n, rest)) if !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()) => rest,
            _ => trimmed,
        };
        let mut current = String::new();
        for c in body.chars().chain([' ']) {
            if c.is_ascii_digit() || (c == '.' && !current.is_empty()) {
                current.push(c);
            } else if !current.is_empty() {
                out.push(current.trim_end_matches('.').to_string());
                current.clear();
            }
        }
    }
    out
}

fn describe_llm_error(e: &LlmError) -> String {
    match e {
        LlmError::NotConfigured => "no model is configured for the brand".into(),
        LlmError::Timeout => "it did not answer in time".into(),
        LlmError::RateLimited(s) => format!("it is rate limited for {s} s"),
        LlmError::BudgetExhausted => "the run's token budget is spent".into(),
        LlmError::Unavailable(m) => format!("unavailable: {m}"),
        LlmError::Invalid(m) => format!("request refused: {m}"),
    }
}

/// What a hand-off tells the customer: when the team is closed, when a person will
/// answer. `None` within business hours or without a schedule (the note then is the
/// hand-off; a human picks the ticket up soon).
pub fn closed_message(
    hours: Option<&BusinessHours>,
    name: Option<&str>,
    settings: &AgentSettings,
) -> Option<String> {
    let h = hours.filter(|h| !h.open_now)?;
    let when = h.next_opening_text.as_deref()?;
    let hello = name.map_or_else(|| "Hello,".to_string(), |n| format!("Hi {n},"));
    Some(format!(
        "{hello}\n\nthank you for your message. Our team is not working right now; a person from our team will answer from {when} ({}).\n\n{}",
        h.time_zone, settings.brand_name
    ))
}

fn hand_off(
    ticket: &TicketInfo,
    conversation: &Conversation,
    why: &str,
    tag: &str,
    draft: Option<&str>,
    (hours, name, settings): (Option<&BusinessHours>, Option<&str>, &AgentSettings),
) -> (Plan, Outcome) {
    // Outside business hours the customer hears when a person will answer. One update
    // carries one comment, so the reason then goes in the tags and the outcome; a draft
    // the agent must see keeps the note.
    if let (None, Some(message)) = (draft, closed_message(hours, name, settings)) {
        let mut plan = Plan::new()
            .reply(message)
            .tag("needs_human")
            .tag(tag)
            .tag("ai_after_hours");
        if ticket.assignee_id == Some(conversation.seat_id()) {
            plan = plan.unassign();
        }
        return (
            plan,
            Outcome::HandedOff(format!(
                "{why} (outside business hours; the customer was told when a person answers)"
            )),
        );
    }
    let mut note = format!("The AI assistant did not answer: {why}. Please take this ticket over.");
    if let Some(d) = draft {
        note.push_str("\n\nIts draft, NOT sent:\n");
        note.push_str(d);
    }
    let mut plan = Plan::new().note(note).tag("needs_human").tag(tag);
    if ticket.assignee_id == Some(conversation.seat_id()) {
        plan = plan.unassign();
    }
    (plan, Outcome::HandedOff(why.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use gateway_plugin_sdk::Comment;

    const SEAT: u64 = 1;

    fn ticket(subject: &str) -> TicketInfo {
        TicketInfo {
            id: 9,
            subject: subject.into(),
            description: String::new(),
            status: "new".into(),
            priority: None,
            ticket_type: None,
            requester_id: 501,
            assignee_id: None,
            group_id: None,
            brand_id: None,
            tags: vec![],
            channel: "web".into(),
            created_at: String::new(),
            updated_at: String::new(),
        }
    }

    fn convo(body: &str) -> Conversation {
        Conversation::new(
            SEAT,
            vec![Comment {
                id: 1,
                author_id: 501,
                body: body.into(),
                public: true,
                created_at: String::new(),
            }],
        )
    }

    fn returns() -> Article {
        Article {
            id: "returns".into(),
            title: "Returns and refunds".into(),
            url: Some("https://help.example/returns".into()),
            body: "You can return unworn items within 30 days for a full refund, processed within 5 working days.".into(),
            score: 7.0,
        }
    }

    fn answer(
        text: &str,
    ) -> impl FnOnce(&CompletionRequest) -> Result<llm::Completion, LlmError> + '_ {
        move |_| {
            Ok(llm::Completion {
                text: text.into(),
                prompt_tokens: 100,
                completion_tokens: 40,
            })
        }
    }

    fn go(body: &str, reply: &str) -> (Plan, Outcome) {
        run(
            &ticket("Help"),
            &convo(body),
            Some("Sam Lee"),
            &AgentSettings::default(),
            None,
            |_| vec![returns()],
            answer(reply),
        )
    }

    fn closed_until_monday() -> BusinessHours {
        BusinessHours {
            schedule: "Support hours".into(),
            time_zone: "London".into(),
            open_now: false,
            next_opening: Some("2026-03-09T09:00:00+00:00".into()),
            next_opening_text: Some("Monday 9:00".into()),
            closes_at: None,
        }
    }

    #[test]
    fn a_hand_off_after_hours_tells_the_customer_when_a_person_answers() {
        let hours = closed_until_monday();
        let (plan, outcome) = run(
            &ticket("Help"),
            &convo("I want to speak to a real person now"),
            Some("Sam Lee"),
            &AgentSettings::default(),
            Some(&hours),
            |_| vec![returns()],
            answer("unused"),
        );
        assert!(matches!(outcome, Outcome::HandedOff(_)), "{outcome:?}");
        let reply = plan.reply_text().unwrap();
        assert!(
            reply.contains("from Monday 9:00") && reply.contains("Hi Sam"),
            "{reply}"
        );
        assert!(plan.note_text().is_none());
        // Within business hours the note is the hand-off.
        let open = BusinessHours {
            open_now: true,
            next_opening: None,
            next_opening_text: None,
            ..hours
        };
        let (plan, _) = run(
            &ticket("Help"),
            &convo("I want to speak to a real person now"),
            Some("Sam Lee"),
            &AgentSettings::default(),
            Some(&open),
            |_| vec![returns()],
            answer("unused"),
        );
        assert!(plan.reply_text().is_none() && plan.note_text().is_some());
    }

    #[test]
    fn grounded_draft_is_sent() {
        let (plan, outcome) = go(
            "Can I still return the boots I bought last week?",
            "Hi Sam, yes: you can return unworn items within 30 days for a full refund.",
        );
        assert!(matches!(outcome, Outcome::Handled(_)), "{outcome:?}");
        assert!(plan.reply_text().unwrap().contains("30 days"));
    }

    #[test]
    fn each_guardrail_fires() {
        let s = AgentSettings::default();
        for (text, tag) in [
            ("I want to speak to a real person now", "ai_human_requested"),
            ("My lawyer will hear about this", "ai_legal"),
            ("The zip broke and I cut myself badly", "ai_injury"),
            ("I want a refund of $450 for the tent", "ai_large_refund"),
            (
                "Hola, quiero devolver mi chaqueta porque es demasiado grande para mí",
                "ai_unsupported_language",
            ),
        ] {
            let (t, _) =
                guardrail_before(text, &s).unwrap_or_else(|| panic!("no guardrail for {text:?}"));
            assert_eq!(t, tag, "{text}");
        }
        assert!(guardrail_before("Please refund the 20 dollars shipping", &s).is_none());
        assert!(
            guardrail_before("Do gift cards expire? Thanks, Sue", &s).is_none(),
            "a name is not a lawsuit"
        );
        assert!(guardrail_before("Is the burnt orange jacket waterproof?", &s).is_none());
        assert!(guardrail_before("How long does delivery to Spain take?", &s).is_none());
    }

    #[test]
    fn ungrounded_promises_and_model_failures_hand_off() {
        let (plan, outcome) = go(
            "Can I return my boots?",
            "Sure, and we'll add a 20% discount on your next order!",
        );
        assert!(
            matches!(outcome, Outcome::HandedOff(ref r) if r.contains("discount")),
            "{outcome:?}"
        );
        assert!(plan.note_text().unwrap().contains("NOT sent"));
        assert!(plan.reply_text().is_none());
        let (_, outcome) = go("Can I return my boots?", "Yes, within 60 days.");
        assert!(matches!(outcome, Outcome::HandedOff(ref r) if r.contains("60")));
        let (_, outcome) = go("Can I return my boots?", "HANDOFF");
        assert!(matches!(outcome, Outcome::HandedOff(_)));
        let (plan, outcome) = run(
            &ticket("Help"),
            &convo("Can I return my boots?"),
            None,
            &AgentSettings::default(),
            None,
            |_| vec![returns()],
            |_| Err(LlmError::Timeout),
        );
        assert!(matches!(outcome, Outcome::HandedOff(ref r) if r.contains("in time")));
        assert!(plan.reply_text().is_none(), "never answered with an error");
    }

    #[test]
    fn list_numbers_and_weak_articles_do_not_back_promises() {
        let mut steps = returns();
        steps.body = "1. Open My Account\n2. Choose Return items".into();
        let draft = "Your jacket will be with you within 2 days.";
        assert!(unsupported_promise(draft, &[steps], "").is_some());
        let mut weak = returns();
        weak.body = "Discount codes can be used once.".into();
        weak.score = 2.0;
        let strong = Article {
            score: 9.0,
            body: "Parcels arrive in 3 to 5 working days.".into(),
            ..returns()
        };
        let why = unsupported_promise(
            "We added a discount to your next order.",
            &[strong, weak],
            "",
        );
        assert!(why.is_some_and(|w| w.contains("discount")));
    }

    #[test]
    fn amounts_are_found_next_to_currencies() {
        assert_eq!(largest_amount("refund $450 please"), Some(450.0));
        assert_eq!(largest_amount("refund 120 euros or €80"), Some(120.0));
        assert_eq!(largest_amount("order 12345 refund"), None);
    }
}
