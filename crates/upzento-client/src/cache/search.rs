//! Global search (Ctrl+K): message bodies and contacts through FTS5, newest
//! messages first, with the matched words marked for the UI to highlight.

use serde::Serialize;
use upzento_domain::resources::{Contact, SmsMessage};

use super::{Cache, MESSAGE_DATA};
use crate::ClientError;

/// Private-use characters that FTS5's `highlight()` puts around matches: they
/// cannot occur in a message, so splitting on them is exact.
const OPEN: &str = "\u{E000}";
const CLOSE: &str = "\u{E001}";

/// A piece of text, matched by the query or not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Fragment {
    pub text: String,
    pub hit: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageHit {
    pub message: SmsMessage,
    /// The body, cut where the query matched.
    pub fragments: Vec<Fragment>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchResults {
    /// Newest first.
    pub messages: Vec<MessageHit>,
    /// By name.
    pub contacts: Vec<Contact>,
}

/// Turns what the user typed into an FTS5 query: every word must occur. Finished
/// words match exactly; the word being typed (the last, unless a space follows it)
/// matches as a prefix ("appoint" finds "appointment"). Exact terms keep even a
/// word found in every message fast: FTS5 walks one doclist newest-first and stops
/// at the limit, where a prefix must merge the doclists of every word it starts.
/// Operators typed by the user are words.
pub fn fts_query(text: &str) -> Option<String> {
    let typing = !text.ends_with(char::is_whitespace);
    let words: Vec<&str> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(8)
        .collect();
    let last = words.len().checked_sub(1)?;
    let terms: Vec<String> = words
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let quoted = format!("\"{}\"", w.replace('"', "\"\""));
            if i == last && typing {
                format!("{quoted}*")
            } else {
                quoted
            }
        })
        .collect();
    Some(terms.join(" "))
}

/// Splits a highlighted text into fragments.
fn fragments(highlighted: &str) -> Vec<Fragment> {
    let mut out = Vec::new();
    let mut rest = highlighted;
    while let Some(start) = rest.find(OPEN) {
        if start > 0 {
            out.push(Fragment {
                text: rest[..start].to_owned(),
                hit: false,
            });
        }
        let after = &rest[start + OPEN.len()..];
        let end = after.find(CLOSE).unwrap_or(after.len());
        out.push(Fragment {
            text: after[..end].to_owned(),
            hit: true,
        });
        rest = after.get(end + CLOSE.len()..).unwrap_or("");
    }
    if !rest.is_empty() {
        out.push(Fragment {
            text: rest.to_owned(),
            hit: false,
        });
    }
    out
}

impl Cache {
    /// Messages and contacts matching `text`: at most `limit` of each.
    pub fn search(&self, text: &str, limit: usize) -> Result<SearchResults, ClientError> {
        let Some(query) = fts_query(text) else {
            return Ok(SearchResults::default());
        };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        // Newest first is rowid order (see the schema): no sort of all hits. Each
        // index gives its newest `limit` (search_live.sql says why there are two).
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {MESSAGE_DATA}, f.marked FROM (
                 SELECT * FROM (
                     SELECT rowid, highlight(message_fts_live, 0, ?2, ?3) AS marked
                     FROM message_fts_live
                     WHERE message_fts_live MATCH ?1 ORDER BY rowid DESC LIMIT ?4)
                 UNION ALL
                 SELECT * FROM (
                     SELECT rowid, highlight(message_fts, 0, ?2, ?3) AS marked FROM message_fts
                     WHERE message_fts MATCH ?1 ORDER BY rowid DESC LIMIT ?4)
                 ORDER BY rowid DESC LIMIT ?4
             ) f JOIN message m ON m.rowid = f.rowid
             ORDER BY f.rowid DESC"
        ))?;
        let rows = stmt.query_map(rusqlite::params![query, OPEN, CLOSE, limit], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?;
        let mut messages = Vec::new();
        for row in rows {
            let (data, marked) = row?;
            messages.push(MessageHit {
                message: serde_json::from_str(&data)?,
                fragments: fragments(&marked),
            });
        }
        let mut stmt = self.conn.prepare_cached(
            "SELECT c.data FROM contact_fts f JOIN contact c ON c.rowid = f.rowid
             WHERE contact_fts MATCH ?1 ORDER BY c.name COLLATE NOCASE LIMIT ?2",
        )?;
        let rows = stmt.query_map(rusqlite::params![query, limit], |r| r.get::<_, String>(0))?;
        let contacts = rows
            .map(|data| Ok(serde_json::from_str(&data?)?))
            .collect::<Result<_, ClientError>>()?;
        Ok(SearchResults { messages, contacts })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finished_words_match_exactly_the_typed_one_as_a_prefix() {
        assert_eq!(
            fts_query("appointment tom"),
            Some("\"appointment\" \"tom\"*".into())
        );
        assert_eq!(
            fts_query("appointment tom "),
            Some("\"appointment\" \"tom\"".into())
        );
        assert_eq!(
            fts_query("NOT \"x\" OR (y"),
            Some("\"NOT\" \"x\" \"OR\" \"y\"*".into())
        );
        assert_eq!(fts_query("  -- !! "), None);
        assert_eq!(fts_query("café"), Some("\"café\"*".into()));
    }

    #[test]
    fn highlights_become_fragments() {
        let text = format!("see {OPEN}you{CLOSE} at {OPEN}10{CLOSE}");
        assert_eq!(
            fragments(&text),
            vec![
                Fragment {
                    text: "see ".into(),
                    hit: false
                },
                Fragment {
                    text: "you".into(),
                    hit: true
                },
                Fragment {
                    text: " at ".into(),
                    hit: false
                },
                Fragment {
                    text: "10".into(),
                    hit: true
                },
            ]
        );
        assert_eq!(
            fragments("plain"),
            vec![Fragment {
                text: "plain".into(),
                hit: false
            }]
        );
    }
}
