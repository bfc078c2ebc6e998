//! SMS compliance keywords: what an inbound text asks for. Matching follows the
//! carriers' rules (the whole message is the keyword, any case, surrounding spaces
//! and punctuation ignored) plus the clear opt-out phrases that US law since April
//! 2025 says must be honoured ("please stop texting me").

/// What an inbound message asks for, if anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyword {
    /// STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, REVOKE, OPTOUT, or a clear phrase.
    OptOut,
    /// START, UNSTOP, YES: only meaningful from someone opted out.
    OptIn,
    /// HELP, INFO.
    Help,
}

const OPT_OUT: &[&str] = &[
    "stop",
    "stopall",
    "unsubscribe",
    "cancel",
    "end",
    "quit",
    "revoke",
    "optout",
    "opt out",
    "stop all",
];
const OPT_IN: &[&str] = &["start", "unstop", "yes"];
const HELP: &[&str] = &["help", "info"];

/// Phrases that clearly revoke consent even inside a longer message.
const OPT_OUT_PHRASES: &[&str] = &[
    "stop texting",
    "stop messaging",
    "stop sending",
    "stop contacting",
    "don't text",
    "dont text",
    "do not text",
    "do not contact",
    "unsubscribe me",
    "remove me from",
    "take me off",
    "opt me out",
];

/// What a campaign adds to the first text a contact gets from the tenant (CTIA: the first
/// message says how to opt out).
pub const OPT_OUT_FOOTER: &str = "Reply STOP to opt out.";

/// Whether an outgoing text already tells how to opt out: it names an opt-out keyword
/// as a word (STOP, UNSUBSCRIBE...) or says "opt out".
pub fn tells_how_to_opt_out(text: &str) -> bool {
    let lower = text.to_lowercase();
    if lower.contains("opt out") || lower.contains("opt-out") || lower.contains("optout") {
        return true;
    }
    lower
        .split(|c: char| !c.is_alphanumeric())
        .any(|w| matches!(w, "stop" | "unsubscribe" | "stopall"))
}

/// `text` with the opt-out footer on a line of its own, unless it already tells how.
pub fn with_opt_out_footer(text: &str) -> String {
    if tells_how_to_opt_out(text) {
        return text.to_owned();
    }
    format!("{}\n{OPT_OUT_FOOTER}", text.trim_end())
}

/// The keyword a message is, if any.
pub fn keyword(body: &str) -> Option<Keyword> {
    let words: String = body
        .trim()
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '\'' {
                c.to_ascii_lowercase()
            } else {
                ' '
            }
        })
        .collect();
    let normal = words.split_whitespace().collect::<Vec<_>>().join(" ");
    if normal.is_empty() {
        return None;
    }
    if OPT_OUT.contains(&normal.as_str()) {
        return Some(Keyword::OptOut);
    }
    if OPT_IN.contains(&normal.as_str()) {
        return Some(Keyword::OptIn);
    }
    if HELP.contains(&normal.as_str()) {
        return Some(Keyword::Help);
    }
    let folded = normal.replace('\u{2019}', "'");
    if OPT_OUT_PHRASES.iter().any(|p| folded.contains(p)) {
        return Some(Keyword::OptOut);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_footer_goes_on_texts_that_do_not_say_how_to_opt_out() {
        assert_eq!(
            with_opt_out_footer("Sale today "),
            "Sale today\nReply STOP to opt out."
        );
        for said in [
            "Sale. Txt STOP to end",
            "sale (stop=quit)",
            "Opt-out: reply END",
            "Unsubscribe: reply U",
        ] {
            assert_eq!(with_opt_out_footer(said), said, "{said}");
        }
        // A word that merely contains "stop" does not say it.
        assert!(!tells_how_to_opt_out("Our bus stops here; nonstop deals"));
    }

    #[test]
    fn whole_message_keywords_in_any_case() {
        for stop in [
            "STOP",
            "stop",
            " Stop. ",
            "STOPALL",
            "Unsubscribe",
            "cancel!",
            "END",
            "quit",
            "REVOKE",
            "OPTOUT",
            "opt out",
        ] {
            assert_eq!(keyword(stop), Some(Keyword::OptOut), "{stop}");
        }
        for start in ["START", "unstop", "Yes"] {
            assert_eq!(keyword(start), Some(Keyword::OptIn), "{start}");
        }
        assert_eq!(keyword("HELP"), Some(Keyword::Help));
        assert_eq!(keyword("info?"), Some(Keyword::Help));
    }

    #[test]
    fn clear_phrases_opt_out_and_ordinary_texts_do_not() {
        assert_eq!(keyword("Please stop texting me."), Some(Keyword::OptOut));
        assert_eq!(keyword("Don't text me again"), Some(Keyword::OptOut));
        assert_eq!(keyword("remove me from your list"), Some(Keyword::OptOut));
        for ordinary in [
            "Can I bring my daughter too?",
            "I will stop by tomorrow",
            "yes please, 10am works",
            "the end of the week is fine",
            "",
            "   ",
        ] {
            assert_eq!(keyword(ordinary), None, "{ordinary}");
        }
    }
}
