//! SMS encoding and segment counting (3GPP TS 23.038 / 23.040).
//!
//! No maintained crate gets this right (escapes and emoji are split wrongly), so
//! it is written here: GSM-7 holds 160 septets in one segment and 153 per part
//! of a multipart message; a single character outside GSM-7 turns the whole
//! message into UCS-2 (70, or 67 per part, UTF-16 code units). The extension
//! characters `^{}\[~]|€` and form feed cost two septets (escape + code), and
//! neither an escape pair nor a surrogate pair is ever split across segments.

use serde::{Deserialize, Serialize};

/// GSM 03.38 default alphabet, in code order (0x1B, the escape, left out).
const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
/// Characters of the GSM 03.38 extension table, sent as escape + code.
const GSM7_EXTENSION: &str = "^{}\\[~]|€\u{0C}";

pub const GSM7_SINGLE: u32 = 160;
pub const GSM7_MULTI: u32 = 153;
pub const UCS2_SINGLE: u32 = 70;
pub const UCS2_MULTI: u32 = 67;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum Encoding {
    Gsm7,
    Ucs2,
}

/// What a message body costs to send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Segments {
    pub encoding: Encoding,
    /// Characters as the user sees them (Unicode scalar values).
    pub characters: u32,
    /// Septets (GSM-7) or UTF-16 code units (UCS-2).
    pub units: u32,
    /// Number of SMS parts the carrier bills; 0 for an empty body.
    pub segments: u32,
    /// Units still free in the last segment before another one starts.
    pub remaining_in_segment: u32,
    /// The distinct characters that force UCS-2, in order of first appearance.
    pub non_gsm_characters: Vec<char>,
}

/// Septets of `c` in GSM-7, or `None` when GSM-7 cannot carry it.
pub fn gsm7_cost(c: char) -> Option<u32> {
    if GSM7_BASIC.contains(c) {
        Some(1)
    } else if GSM7_EXTENSION.contains(c) {
        Some(2)
    } else {
        None
    }
}

/// Counts characters, encoding and segments of `text`.
pub fn segments(text: &str) -> Segments {
    let mut non_gsm = Vec::new();
    for c in text.chars() {
        if gsm7_cost(c).is_none() && !non_gsm.contains(&c) {
            non_gsm.push(c);
        }
    }
    let encoding = if non_gsm.is_empty() {
        Encoding::Gsm7
    } else {
        Encoding::Ucs2
    };
    let cost = |c: char| -> u32 {
        match encoding {
            Encoding::Gsm7 => gsm7_cost(c).unwrap_or(1),
            // char::len_utf16 is 1 or 2: the cast cannot truncate.
            Encoding::Ucs2 => c.len_utf16() as u32,
        }
    };
    let (single, multi) = match encoding {
        Encoding::Gsm7 => (GSM7_SINGLE, GSM7_MULTI),
        Encoding::Ucs2 => (UCS2_SINGLE, UCS2_MULTI),
    };
    let units: u32 = text.chars().map(cost).sum();
    let characters = u32::try_from(text.chars().count()).unwrap_or(u32::MAX);

    let (segments, remaining) = if units == 0 {
        (0, single)
    } else if units <= single {
        (1, single - units)
    } else {
        // Fill parts in order; a character that does not fit whole starts the next part.
        let mut parts = 1;
        let mut used = 0;
        for c in text.chars() {
            let c = cost(c);
            if used + c > multi {
                parts += 1;
                used = 0;
            }
            used += c;
        }
        (parts, multi - used)
    };
    Segments {
        encoding,
        characters,
        units,
        segments,
        remaining_in_segment: remaining,
        non_gsm_characters: non_gsm,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_alphabet_has_128_minus_escape() {
        assert_eq!(GSM7_BASIC.chars().count(), 127);
    }

    #[test]
    fn empty_body_costs_nothing() {
        let s = segments("");
        assert_eq!((s.segments, s.units, s.encoding), (0, 0, Encoding::Gsm7));
    }

    #[test]
    fn gsm7_limits() {
        assert_eq!(segments(&"a".repeat(160)).segments, 1);
        assert_eq!(segments(&"a".repeat(161)).segments, 2);
        assert_eq!(segments(&"a".repeat(306)).segments, 2);
        assert_eq!(segments(&"a".repeat(307)).segments, 3);
        let s = segments(&"a".repeat(150));
        assert_eq!(s.remaining_in_segment, 10);
    }

    #[test]
    fn extension_characters_cost_two_septets() {
        let s = segments("€");
        assert_eq!((s.units, s.characters, s.encoding), (2, 1, Encoding::Gsm7));
        assert_eq!(segments(&"{".repeat(80)).segments, 1);
        assert_eq!(segments(&"{".repeat(81)).segments, 2);
    }

    #[test]
    fn an_escape_pair_is_never_split() {
        // 152 septets then '€': 154 > 153 would split the escape, so '€' opens part 2.
        let text = format!("{}€{}", "a".repeat(152), "a".repeat(10));
        let s = segments(&text);
        assert_eq!(s.units, 164);
        assert_eq!(s.segments, 2);
        assert_eq!(s.remaining_in_segment, 153 - 12);
    }

    #[test]
    fn one_non_gsm_character_makes_everything_ucs2() {
        let text = format!("{}ł", "a".repeat(69));
        let s = segments(&text);
        assert_eq!(s.encoding, Encoding::Ucs2);
        assert_eq!(s.units, 70);
        assert_eq!(s.segments, 1);
        assert_eq!(s.non_gsm_characters, vec!['ł']);
        assert_eq!(segments(&format!("{}ł", "a".repeat(70))).segments, 2);
        assert_eq!(segments(&"ł".repeat(134)).segments, 2);
        assert_eq!(segments(&"ł".repeat(135)).segments, 3);
    }

    #[test]
    fn emoji_take_two_units_and_are_never_split() {
        let s = segments("😀");
        assert_eq!((s.units, s.characters, s.segments), (2, 1, 1));
        // 66 units then an emoji: 68 > 67, so the emoji opens part 2.
        let text = format!("{}😀{}", "a".repeat(66), "a".repeat(10));
        let s = segments(&text);
        assert_eq!(s.units, 78);
        assert_eq!(s.segments, 2);
        assert_eq!(s.remaining_in_segment, 67 - 12);
    }

    #[test]
    fn accented_characters_in_gsm_stay_gsm() {
        for text in ["Café à 5€", "ÄÖÜ äöü ñ", "Grüße"] {
            // 'ß' and 'é' are in the basic table; 'ü' too.
            assert_eq!(segments(text).encoding, Encoding::Gsm7, "{text}");
        }
        // 'ç' (lowercase) is not in GSM 03.38 (only 'Ç' is).
        assert_eq!(segments("garçon").encoding, Encoding::Ucs2);
    }
}
