//! Small, deterministic text helpers: whole-word keyword matching and recognising a
//! message that only says thanks.
//!
//! Matching is on words, not substrings, so that "order" does not fire on "border" and
//! "bug" not on "debug". A word is a run of letters and digits; everything else
//! (spaces, punctuation, apostrophes) separates words, so "where's" is the two words
//! "where" and "s". Keywords may be phrases of several words ("where is my order"),
//! which then match those words in sequence.

/// Splits `text` into lower-case words (runs of alphanumeric characters).
///
/// Lower-casing is Unicode-aware, so "ÉCHEC" and "échec" are the same word.
pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Whether `keyword` (a word or a phrase) occurs in the already split `words`.
fn contains_phrase(words: &[String], keyword: &str) -> bool {
    let phrase = self::words(keyword);
    if phrase.is_empty() {
        return false;
    }
    words
        .windows(phrase.len())
        .any(|window| window == phrase.as_slice())
}

/// The keywords of `keywords` that occur in `text` as whole words (or, for phrases, as a
/// sequence of whole words), ignoring case, in the order they are listed.
///
/// Plugins use the matches to explain their decisions ("matched refund, charge").
pub fn matched_keywords<'k>(text: &str, keywords: &[&'k str]) -> Vec<&'k str> {
    let words = words(text);
    keywords
        .iter()
        .copied()
        .filter(|keyword| contains_phrase(&words, keyword))
        .collect()
}

/// Whether `text` mentions any of `keywords` as a whole word or phrase, ignoring case.
pub fn mentions_any(text: &str, keywords: &[&str]) -> bool {
    let words = words(text);
    keywords
        .iter()
        .any(|keyword| contains_phrase(&words, keyword))
}

/// Words that say thanks. One of them must be present for a message to count as thanks.
const GRATITUDE: &[&str] = &[
    "thanks",
    "thank",
    "thx",
    "thnx",
    "ty",
    "cheers",
    "appreciated",
    "appreciate",
    "merci",
    "danke",
    "gracias",
];

/// Words that may surround a thank-you without adding a new request ("thank you so much,
/// that fixed it!"). Anything outside this list (a question, "but", "still", "not", a
/// new topic) means the customer is saying more than thanks and a human should read it.
const FILLER: &[&str] = &[
    "a",
    "again",
    "all",
    "also",
    "amazing",
    "and",
    "appreciate",
    "awesome",
    "brilliant",
    "did",
    "done",
    "everyone",
    "everything",
    "excellent",
    "fantastic",
    "fine",
    "fixed",
    "folks",
    "for",
    "got",
    "great",
    "guys",
    "help",
    "helped",
    "helpful",
    "hi",
    "hello",
    "i",
    "is",
    "it",
    "just",
    "lot",
    "lots",
    "many",
    "much",
    "nice",
    "now",
    "oh",
    "ok",
    "okay",
    "perfect",
    "quick",
    "really",
    "resolved",
    "s",
    "solved",
    "so",
    "sorted",
    "super",
    "that",
    "thats",
    "the",
    "this",
    "to",
    "team",
    "trick",
    "very",
    "well",
    "wonderful",
    "works",
    "worked",
    "working",
    "wow",
    "yes",
    "you",
    "your",
    "yep",
];

/// The longest message, in words, that can still be "only thanks".
///
/// Real thank-you notes are short; a long message that happens to use only the words
/// above is rare, and it is safer to let a human read it than to close the ticket.
pub const MAX_GRATITUDE_WORDS: usize = 12;

/// Whether `text` is a short message that only expresses gratitude, such as "thanks",
/// "Thank you!" or "thx, that fixed it".
///
/// `also_allowed` lists extra words that may appear, typically the requester's name
/// because people sign their notes ("Thanks! Ana"). A question mark, any word that is
/// neither gratitude nor harmless filler, or more than [`MAX_GRATITUDE_WORDS`] words
/// make the answer `false`: closing a ticket on a misread message is worse than leaving
/// it to a human.
pub fn is_gratitude_only(text: &str, also_allowed: &[&str]) -> bool {
    if text.contains('?') {
        return false;
    }
    let words = words(text);
    if words.is_empty() || words.len() > MAX_GRATITUDE_WORDS {
        return false;
    }
    let also_allowed: Vec<String> = also_allowed.iter().flat_map(|w| self::words(w)).collect();
    let has_gratitude = words.iter().any(|word| GRATITUDE.contains(&word.as_str()));
    let only_harmless = words.iter().all(|word| {
        GRATITUDE.contains(&word.as_str())
            || FILLER.contains(&word.as_str())
            || also_allowed.contains(word)
    });
    has_gratitude && only_harmless
}

/// The first name in a full name ("Ana Lima" gives "Ana"), or `None` when the name is
/// blank, so that callers can fall back to a neutral greeting.
pub fn first_name(full_name: &str) -> Option<&str> {
    full_name.split_whitespace().next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_lower_case_alphanumeric_runs() {
        assert_eq!(
            words("Where's my ORDER #123?"),
            ["where", "s", "my", "order", "123"]
        );
        assert!(words(" ,.! ").is_empty());
    }

    #[test]
    fn keywords_match_whole_words_only() {
        assert!(mentions_any(
            "I was CHARGED twice, refund please",
            &["refund"]
        ));
        assert!(!mentions_any("the border is closed", &["order"]));
        assert!(!mentions_any("debugging", &["bug"]));
        assert!(mentions_any("2FA code never arrives", &["2fa"]));
        assert!(!mentions_any("anything", &[]));
    }

    #[test]
    fn phrases_match_in_sequence() {
        assert!(mentions_any(
            "Hi, where is my order??",
            &["where is my order"]
        ));
        assert!(!mentions_any(
            "my order, where is it",
            &["where is my order"]
        ));
        assert_eq!(
            matched_keywords("Refund the charge ASAP", &["charge", "refund", "invoice"]),
            ["charge", "refund"]
        );
    }

    #[test]
    fn recognises_plain_thanks() {
        for text in [
            "thanks",
            "Thank you!",
            "thx, that fixed it",
            "Thanks so much, all sorted now :)",
            "Cheers!",
            "Thank you, it works now. Ana",
        ] {
            assert!(is_gratitude_only(text, &["Ana Lima"]), "{text}");
        }
    }

    #[test]
    fn thanks_with_more_to_say_is_not_only_thanks() {
        for text in [
            "",
            "Thanks, but it is still broken",
            "thanks! can you also change my address?",
            "Thank you. Where is my order",
            "ok",
            "thanks thanks thanks thanks thanks thanks thanks thanks thanks thanks thanks thanks thanks",
        ] {
            assert!(!is_gratitude_only(text, &[]), "{text}");
        }
    }

    #[test]
    fn first_name_skips_blank_names() {
        assert_eq!(first_name("  Ana Maria Lima "), Some("Ana"));
        assert_eq!(first_name("   "), None);
    }
}
