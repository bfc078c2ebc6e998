//! A campaign audience from a CSV file, read the same way by the desktop app (to show
//! the report before uploading) and the cloud (which keeps what it accepts).
//!
//! Files come from spreadsheets and CRMs: UTF-8 with or without a byte-order mark,
//! UTF-16 from Excel's "Unicode text", Latin-1 (Windows-1252) from older exports, and
//! comma, semicolon (European Excel) or tab separated. Each row is taken, a duplicate of
//! an earlier row, or refused with its row number and reason; one bad row never stops the
//! rest. The `csv` crate (BurntSushi's) parses, `encoding_rs` (Firefox's) decodes: both
//! are the reference crates of their field.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use crate::phone;
use crate::resources::RowProblem;

/// The largest file read: 50 MB holds about a million short rows.
pub const CSV_MAX_BYTES: usize = 50 * 1024 * 1024;
/// The most rows one file may add to a campaign.
pub const CSV_MAX_ROWS: usize = 100_000;
/// The most merge-field columns kept per row, and the longest value kept.
pub const FIELDS_MAX: usize = 20;
pub const FIELD_VALUE_MAX: usize = 200;

/// One recipient a file gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvRecipient {
    /// The row as a spreadsheet numbers it: the header is row 1.
    pub row: u32,
    /// E.164.
    pub number: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// Other columns, by merge-field name (`{{fields.storeCity}}`).
    pub fields: BTreeMap<String, String>,
}

/// What a file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvAudience {
    /// The encoding it was read in: `UTF-8`, `UTF-16LE`, `UTF-16BE` or `windows-1252`.
    pub encoding: &'static str,
    /// The merge fields its extra columns give, in file order.
    pub fields: Vec<String>,
    pub recipients: Vec<CsvRecipient>,
    /// Rows whose number an earlier row already gave.
    pub duplicates: Vec<RowProblem>,
    /// Rows refused: no number, or not a valid one.
    pub invalid: Vec<RowProblem>,
}

/// Why a whole file is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CsvError {
    TooLarge {
        bytes: usize,
    },
    TooManyRows,
    Empty,
    /// No column is recognisably the phone number.
    NoNumberColumn {
        headers: Vec<String>,
    },
    /// Not readable as CSV at all (e.g. an unbalanced quote running to the end).
    Malformed {
        row: u32,
        reason: String,
    },
}

impl std::fmt::Display for CsvError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TooLarge { bytes } => write!(
                f,
                "The file is {:.1} MB; at most {} MB may be imported at once. Split it.",
                bytes_mb(*bytes),
                CSV_MAX_BYTES / (1024 * 1024)
            ),
            Self::TooManyRows => write!(
                f,
                "The file has more than {CSV_MAX_ROWS} rows; import it in parts."
            ),
            Self::Empty => write!(f, "The file has no rows."),
            Self::NoNumberColumn { headers } => write!(
                f,
                "No column holds phone numbers: name one \"Phone\" or \"Number\" (the columns are: {}).",
                headers.join(", ")
            ),
            Self::Malformed { row, reason } => write!(f, "Row {row} cannot be read: {reason}"),
        }
    }
}

impl std::error::Error for CsvError {}

fn bytes_mb(bytes: usize) -> f64 {
    // Display only.
    #[allow(clippy::cast_precision_loss)]
    let mb = bytes as f64 / (1024.0 * 1024.0);
    mb
}

/// Decodes a file's bytes: a byte-order mark decides, else UTF-8 when it is valid, else
/// Windows-1252 (what "Latin-1" means on the web and in Excel).
pub fn decode(bytes: &[u8]) -> (Cow<'_, str>, &'static str) {
    if let Some((encoding, bom)) = encoding_rs::Encoding::for_bom(bytes) {
        let (text, _) = encoding.decode_without_bom_handling(&bytes[bom..]);
        return (text, encoding.name());
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => (Cow::Borrowed(text), "UTF-8"),
        Err(_) => {
            let (text, _) = encoding_rs::WINDOWS_1252.decode_without_bom_handling(bytes);
            (text, encoding_rs::WINDOWS_1252.name())
        }
    }
}

/// What a header names, its spelling aside.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Column {
    Number,
    FirstName,
    LastName,
    FullName,
    Field(String),
}

fn column(header: &str, index: usize) -> Column {
    let key: String = header
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_ascii_lowercase();
    match key.as_str() {
        "phone" | "phonenumber" | "number" | "mobile" | "mobilenumber" | "mobilephone" | "cell"
        | "cellphone" | "tel" | "telephone" | "msisdn" | "e164" => Column::Number,
        "firstname" | "first" | "givenname" | "forename" => Column::FirstName,
        "lastname" | "last" | "surname" | "familyname" => Column::LastName,
        "name" | "fullname" | "contactname" => Column::FullName,
        _ => Column::Field(field_name(header, index)),
    }
}

/// A merge-field name for a header: its words in camelCase, ASCII letters and digits
/// only ("Store city" → `storeCity`); `column3` when nothing is left.
pub fn field_name(header: &str, index: usize) -> String {
    let mut out = String::new();
    for word in header
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            if out.is_empty() {
                out.push(first.to_ascii_lowercase());
            } else {
                out.push(first.to_ascii_uppercase());
            }
            out.extend(chars);
        }
    }
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        format!("column{}", index + 1)
    } else {
        out
    }
}

/// The separator of the header line: the one of `,` `;` and tab it has most of.
fn delimiter(text: &str) -> u8 {
    let header = text.lines().next().unwrap_or("");
    [b',', b';', b'\t']
        .into_iter()
        .max_by_key(|d| header.bytes().filter(|b| b == d).count())
        .unwrap_or(b',')
}

/// A cell's text, trimmed and cut to [`FIELD_VALUE_MAX`], without control characters
/// (a NUL cannot be stored, and none belongs in a text message).
fn clean(value: &str) -> Option<String> {
    let value: String = value
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(FIELD_VALUE_MAX)
        .collect();
    (!value.is_empty()).then_some(value)
}

/// Reads a campaign audience from a CSV file with a header row. `region`: the country
/// (ISO 3166 alpha-2) of numbers written without one, as the tenant's.
pub fn parse_csv(bytes: &[u8], region: Option<&str>) -> Result<CsvAudience, CsvError> {
    if bytes.len() > CSV_MAX_BYTES {
        return Err(CsvError::TooLarge { bytes: bytes.len() });
    }
    let (text, encoding) = decode(bytes);
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter(&text))
        .flexible(true)
        .has_headers(true)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| CsvError::Malformed {
            row: 0,
            reason: e.to_string(),
        })?
        .iter()
        .map(|h| h.trim().to_owned())
        .collect();
    if headers.iter().all(String::is_empty) {
        return Err(CsvError::Empty);
    }
    let columns: Vec<Column> = headers
        .iter()
        .enumerate()
        .map(|(i, h)| column(h, i))
        .collect();
    let Some(number_at) = columns.iter().position(|c| *c == Column::Number) else {
        return Err(CsvError::NoNumberColumn { headers });
    };
    let mut fields: Vec<String> = Vec::new();
    for c in &columns {
        if let Column::Field(name) = c
            && !fields.contains(name)
            && fields.len() < FIELDS_MAX
        {
            fields.push(name.clone());
        }
    }
    let mut audience = CsvAudience {
        encoding,
        fields,
        recipients: Vec::new(),
        duplicates: Vec::new(),
        invalid: Vec::new(),
    };
    let mut first_row_of: HashMap<String, u32> = HashMap::new();
    let mut record = csv::StringRecord::new();
    let (mut row, mut read, mut counted) = (1_u32, 0_usize, 0_usize);
    loop {
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                return Err(CsvError::Malformed {
                    row: row + 1,
                    reason: e.to_string(),
                });
            }
        }
        read += 1;
        // The line it starts on, what a spreadsheet calls its row. The parser's position
        // is where it began reading, blank lines before the record included.
        if let Some(p) = record.position() {
            let bytes = text.as_bytes();
            let mut at = usize::try_from(p.byte())
                .unwrap_or(usize::MAX)
                .min(bytes.len());
            while at < bytes.len() && (bytes[at] == b'\n' || bytes[at] == b'\r') {
                at += 1;
            }
            let at = at.max(counted);
            let newlines = bytes[counted..at].iter().filter(|b| **b == b'\n').count();
            row = row.saturating_add(u32::try_from(newlines).unwrap_or(u32::MAX));
            counted = at;
        } else {
            row = row.saturating_add(1);
        }
        if record.iter().all(|v| v.trim().is_empty()) {
            continue;
        }
        if read > CSV_MAX_ROWS {
            return Err(CsvError::TooManyRows);
        }
        let raw = record.get(number_at).unwrap_or("").trim();
        let problem = |reason: String| RowProblem {
            row,
            value: raw.chars().take(40).collect(),
            reason,
        };
        if raw.is_empty() {
            audience
                .invalid
                .push(problem("The row has no phone number.".to_owned()));
            continue;
        }
        let number = match phone::to_e164(raw, region) {
            Ok(n) => n,
            Err(e) => {
                audience.invalid.push(problem(e.to_string()));
                continue;
            }
        };
        if let Some(first) = first_row_of.get(&number) {
            audience
                .duplicates
                .push(problem(format!("The same number as row {first}.")));
            continue;
        }
        first_row_of.insert(number.clone(), row);
        let mut recipient = CsvRecipient {
            row,
            number,
            first_name: None,
            last_name: None,
            fields: BTreeMap::new(),
        };
        let mut full_name = None;
        for (i, c) in columns.iter().enumerate() {
            let Some(value) = record.get(i).and_then(clean) else {
                continue;
            };
            match c {
                Column::Number => {}
                Column::FirstName => recipient.first_name = Some(value),
                Column::LastName => recipient.last_name = Some(value),
                Column::FullName => full_name = Some(value),
                Column::Field(name) => {
                    if audience.fields.contains(name) {
                        recipient.fields.entry(name.clone()).or_insert(value);
                    }
                }
            }
        }
        // "Name" alone: its first word is the first name, the rest the last.
        if let Some(full) = full_name
            && recipient.first_name.is_none()
        {
            let mut words = full.splitn(2, char::is_whitespace);
            recipient.first_name = words.next().map(str::to_owned);
            if recipient.last_name.is_none() {
                recipient.last_name = words.next().map(|w| w.trim().to_owned());
            }
        }
        audience.recipients.push(recipient);
    }
    if read == 0 {
        return Err(CsvError::Empty);
    }
    Ok(audience)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_names_numbers_and_merge_fields() {
        let csv = "Name,Phone,Store city,Tier\n\
                   Ada Lovelace,(415) 555-0101,San Francisco,gold\n\
                   Grace,+1 212 555 0102,,silver\n";
        let a = parse_csv(csv.as_bytes(), Some("US")).unwrap();
        assert_eq!(a.encoding, "UTF-8");
        assert_eq!(a.fields, ["storeCity", "tier"]);
        assert_eq!(a.recipients.len(), 2);
        let ada = &a.recipients[0];
        assert_eq!(
            (
                ada.row,
                ada.number.as_str(),
                ada.first_name.as_deref(),
                ada.last_name.as_deref()
            ),
            (2, "+14155550101", Some("Ada"), Some("Lovelace"))
        );
        assert_eq!(ada.fields["storeCity"], "San Francisco");
        let grace = &a.recipients[1];
        assert_eq!(grace.last_name, None);
        assert!(!grace.fields.contains_key("storeCity"), "blank is missing");
    }

    #[test]
    fn bad_rows_are_reported_and_the_rest_taken() {
        let csv = "first name;last name;mobile\n\
                   Ann;Lee;4155550101\n\
                   Bob;;not a number\n\
                   Cy;;\n\
                   \n\
                   Dee;;415-555-0101\n\
                   Eve;;+14155550105\n";
        let a = parse_csv(csv.as_bytes(), Some("US")).unwrap();
        let numbers: Vec<&str> = a.recipients.iter().map(|r| r.number.as_str()).collect();
        assert_eq!(numbers, ["+14155550101", "+14155550105"]);
        assert_eq!(a.invalid.len(), 2);
        assert_eq!(
            (a.invalid[0].row, a.invalid[0].value.as_str()),
            (3, "not a number")
        );
        assert_eq!(a.invalid[1].row, 4);
        assert_eq!(a.duplicates.len(), 1);
        assert_eq!(
            a.duplicates[0].row, 6,
            "rows as the spreadsheet numbers them"
        );
        assert_eq!(a.duplicates[0].reason, "The same number as row 2.");
    }

    #[test]
    fn reads_latin1_utf16_and_a_bom() {
        // "José" in Windows-1252: é is 0xE9, invalid as UTF-8.
        let latin1 = b"name,phone\nJos\xe9,+14155550101\n";
        let a = parse_csv(latin1, None).unwrap();
        assert_eq!(a.encoding, "windows-1252");
        assert_eq!(a.recipients[0].first_name.as_deref(), Some("José"));

        let bom = "\u{feff}Phone,Name\n+14155550101,Zoë\n";
        let a = parse_csv(bom.as_bytes(), None).unwrap();
        assert_eq!(a.encoding, "UTF-8");
        assert_eq!(
            a.recipients[0].first_name.as_deref(),
            Some("Zoë"),
            "BOM not in the header"
        );

        let mut utf16 = vec![0xFF, 0xFE];
        for unit in "phone\tname\r\n+14155550101\tRenée\r\n".encode_utf16() {
            utf16.extend(unit.to_le_bytes());
        }
        let a = parse_csv(&utf16, None).unwrap();
        assert_eq!(a.encoding, "UTF-16LE");
        assert_eq!(a.recipients[0].first_name.as_deref(), Some("Renée"));
    }

    #[test]
    fn whole_file_refusals_say_why() {
        assert_eq!(parse_csv(b"", None), Err(CsvError::Empty));
        assert_eq!(parse_csv(b"phone\n", None), Err(CsvError::Empty));
        let err = parse_csv(b"name,email\nAda,a@example.com\n", None).unwrap_err();
        assert!(matches!(err, CsvError::NoNumberColumn { .. }));
        assert!(err.to_string().contains("name, email"), "{err}");
        let big = vec![b'a'; CSV_MAX_BYTES + 1];
        assert!(matches!(
            parse_csv(&big, None),
            Err(CsvError::TooLarge { .. })
        ));
    }

    #[test]
    fn control_characters_are_dropped() {
        let a = parse_csv(b"phone,name,note\n+14155550101,A\0da,x\x07y\n", None).unwrap();
        assert_eq!(a.recipients[0].first_name.as_deref(), Some("Ada"));
        assert_eq!(a.recipients[0].fields["note"], "xy");
        assert_eq!(
            crate::phone::region_of("+14155550101").as_deref(),
            Some("US")
        );
        assert_eq!(
            crate::phone::region_of("+442071838750").as_deref(),
            Some("GB")
        );
    }

    #[test]
    fn field_names_are_placeholder_safe() {
        assert_eq!(field_name("Store city", 0), "storeCity");
        assert_eq!(field_name("  ", 2), "column3");
        assert_eq!(field_name("2nd line", 4), "column5");
        assert_eq!(field_name("Prénom", 0), "prNom");
    }
}
