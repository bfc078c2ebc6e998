//! Phone numbers, validated and stored as E.164 (`+15551234567`).

use std::fmt;

/// Why a phone number was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidPhoneNumber {
    pub input: String,
    pub reason: &'static str,
}

impl fmt::Display for InvalidPhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "“{}” is not a valid phone number: {}",
            self.input, self.reason
        )
    }
}

impl std::error::Error for InvalidPhoneNumber {}

/// The country (ISO 3166 alpha-2) of an E.164 number, when its numbering plan tells.
pub fn region_of(e164: &str) -> Option<String> {
    let parsed = phonenumber::parse(None, e164).ok()?;
    parsed.country().id().map(|id| id.as_ref().to_owned())
}

/// Parses what a user or a provider gave and returns its E.164 form. Numbers
/// without a `+` are read in `default_region` (ISO 3166 alpha-2, e.g. "US").
pub fn to_e164(input: &str, default_region: Option<&str>) -> Result<String, InvalidPhoneNumber> {
    let invalid = |reason| InvalidPhoneNumber {
        input: input.to_owned(),
        reason,
    };
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Err(invalid("it is empty"));
    }
    let region = match default_region {
        Some(code) => Some(
            code.to_ascii_uppercase()
                .parse::<phonenumber::country::Id>()
                .map_err(|_| invalid("the default country is unknown"))?,
        ),
        None => None,
    };
    let parsed = phonenumber::parse(region, trimmed).map_err(|_| {
        if trimmed.starts_with('+') || region.is_some() {
            invalid("it cannot be read as a phone number")
        } else {
            invalid("it needs a country code (start with +)")
        }
    })?;
    // An extension is dialled after the call is answered: a number for SMS and calls cannot
    // carry it, and dropping it silently would reach the wrong desk.
    if parsed.extension().is_some() {
        return Err(invalid(
            "it has an extension, which cannot be texted or dialled directly (keep it in the notes)",
        ));
    }
    // Parsing accepts many impossible numbers; validity checks the numbering plan.
    if !phonenumber::is_valid(&parsed) {
        return Err(invalid(
            "no such number exists in its country's numbering plan",
        ));
    }
    Ok(parsed.format().mode(phonenumber::Mode::E164).to_string())
}

/// What kind of sender a number is, for how fast carriers let it send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SenderClass {
    /// An ordinary (10-digit, "long code") number: about one segment a second.
    LongCode,
    /// Toll-free: about three segments a second.
    TollFree,
    /// A short code (5 or 6 digits, not E.164): about a hundred a second.
    ShortCode,
}

impl SenderClass {
    /// The class of `number` (E.164, or a short code's digits).
    pub fn of(number: &str) -> Self {
        let digits = number.trim();
        if !digits.starts_with('+')
            && (3..=8).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
        {
            return Self::ShortCode;
        }
        match phonenumber::parse(None, digits) {
            Ok(n)
                if n.number_type(&phonenumber::metadata::DATABASE)
                    == phonenumber::Type::TollFree =>
            {
                Self::TollFree
            }
            _ => Self::LongCode,
        }
    }

    /// How many times a long code's pace this class may send at.
    pub fn pace_factor(self) -> f64 {
        match self {
            Self::LongCode => 1.0,
            Self::TollFree => 3.0,
            Self::ShortCode => 100.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn senders_are_classed_by_what_their_number_is() {
        assert_eq!(SenderClass::of("+14155552671"), SenderClass::LongCode);
        assert_eq!(SenderClass::of("+18007233456"), SenderClass::TollFree);
        assert_eq!(SenderClass::of("+18887233456"), SenderClass::TollFree);
        assert_eq!(SenderClass::of("52333"), SenderClass::ShortCode);
        assert_eq!(SenderClass::of("+442079460018"), SenderClass::LongCode);
        assert_eq!(SenderClass::TollFree.pace_factor(), 3.0);
    }

    #[test]
    fn normalises_to_e164() {
        assert_eq!(to_e164("+1 (415) 555-2671", None).unwrap(), "+14155552671");
        assert_eq!(
            to_e164("(415) 555-2671", Some("us")).unwrap(),
            "+14155552671"
        );
        assert_eq!(
            to_e164("020 7946 0018", Some("GB")).unwrap(),
            "+442079460018"
        );
        assert_eq!(to_e164("+49 30 901820", None).unwrap(), "+4930901820");
    }

    #[test]
    fn refuses_what_cannot_exist() {
        for (input, region) in [
            ("", None),
            ("hello", None),
            ("415 555 2671", None),
            ("+1 555", None),
            ("+999 1234567", None),
            ("12345", Some("US")),
            ("+14155552671", Some("XX")),
            ("+1 (415) 555-2671 ext 5", None),
            ("+1 415 555 2671 x12", None),
        ] {
            assert!(to_e164(input, region).is_err(), "{input:?} {region:?}");
        }
    }
}
