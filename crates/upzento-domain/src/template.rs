//! SMS text templates: `{{contact.firstName}}` placeholders with an optional
//! fallback after a bar, `{{contact.firstName|there}}`, used when the value is
//! missing or blank. Shared so that the server (campaigns) and the client
//! (composer preview) render exactly alike.
//!
//! A campaign's recipients may bring fields of their own (the columns of an imported
//! CSV file): `{{fields.storeCity|your store}}`.

use std::collections::BTreeMap;
use std::fmt;

/// The placeholders a template may use.
pub const VARIABLES: &[&str] = &[
    "contact.firstName",
    "contact.lastName",
    "contact.fullName",
    "contact.email",
    "contact.phone",
];

/// The prefix of a recipient's own fields (`{{fields.storeCity}}`).
pub const FIELDS_PREFIX: &str = "fields.";

/// Whether `name` is a placeholder the renderer knows.
pub fn is_variable(name: &str) -> bool {
    VARIABLES.contains(&name)
        || name.strip_prefix(FIELDS_PREFIX).is_some_and(|f| {
            f.starts_with(|c: char| c.is_ascii_alphabetic())
                && f.chars().all(|c| c.is_ascii_alphanumeric())
        })
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateError {
    /// `{{` without a matching `}}`, at this byte offset.
    Unclosed(usize),
    /// A placeholder that is not in [`VARIABLES`].
    Unknown(String),
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unclosed(at) => write!(
                f,
                "\"{{{{\" at character {at} is never closed with \"}}}}\"."
            ),
            Self::Unknown(name) => write!(
                f,
                "Unknown placeholder {{{{{name}}}}}; use one of {} or fields.<column>.",
                VARIABLES.join(", ")
            ),
        }
    }
}

impl std::error::Error for TemplateError {}

/// One piece of a parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part<'a> {
    Text(&'a str),
    Var {
        name: &'a str,
        fallback: Option<&'a str>,
    },
}

fn parse(template: &str) -> Result<Vec<Part<'_>>, TemplateError> {
    let mut parts = Vec::new();
    let mut rest = template;
    let mut offset = 0;
    while let Some(open) = rest.find("{{") {
        if open > 0 {
            parts.push(Part::Text(&rest[..open]));
        }
        let inner_start = open + 2;
        let close = rest[inner_start..]
            .find("}}")
            .ok_or(TemplateError::Unclosed(offset + open))?;
        let inner = &rest[inner_start..inner_start + close];
        let (name, fallback) = match inner.split_once('|') {
            Some((name, fallback)) => (name.trim(), Some(fallback.trim())),
            None => (inner.trim(), None),
        };
        if !is_variable(name) {
            return Err(TemplateError::Unknown(name.to_owned()));
        }
        parts.push(Part::Var { name, fallback });
        let consumed = inner_start + close + 2;
        offset += consumed;
        rest = &rest[consumed..];
    }
    if !rest.is_empty() {
        parts.push(Part::Text(rest));
    }
    Ok(parts)
}

/// Checks a template without rendering it.
pub fn validate(template: &str) -> Result<(), TemplateError> {
    parse(template).map(|_| ())
}

/// The values a template is rendered with; `None` or blank means "use the fallback".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Values {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// The recipient's own fields, by name (without the `fields.` prefix).
    pub fields: BTreeMap<String, String>,
}

impl Values {
    /// The values of `contact` (when known) texted at `number`.
    pub fn for_contact(contact: Option<&crate::resources::Contact>, number: &str) -> Self {
        Self {
            first_name: contact.map(|c| c.first_name.clone()),
            last_name: contact.and_then(|c| c.last_name.clone()),
            email: contact.and_then(|c| c.email.clone()),
            phone: Some(number.to_owned()),
            fields: BTreeMap::new(),
        }
    }

    /// These values for a campaign recipient: a name its imported file gave goes before
    /// the contact's, and the file's other columns are its `fields.*`.
    #[must_use]
    pub fn for_recipient(mut self, recipient: &crate::resources::CampaignRecipient) -> Self {
        if recipient.first_name.is_some() {
            self.first_name.clone_from(&recipient.first_name);
            self.last_name.clone_from(&recipient.last_name);
        }
        self.fields.clone_from(&recipient.fields);
        self
    }

    fn get(&self, name: &str) -> Option<String> {
        let full = || {
            let parts: Vec<&str> = [&self.first_name, &self.last_name]
                .into_iter()
                .flatten()
                .map(|s| s.trim())
                .filter(|s| !s.is_empty())
                .collect();
            (!parts.is_empty()).then(|| parts.join(" "))
        };
        let value = match name {
            "contact.firstName" => self.first_name.clone(),
            "contact.lastName" => self.last_name.clone(),
            "contact.fullName" => full(),
            "contact.email" => self.email.clone(),
            "contact.phone" => self.phone.clone(),
            _ => name
                .strip_prefix(FIELDS_PREFIX)
                .and_then(|f| self.fields.get(f).cloned()),
        };
        value.filter(|v| !v.trim().is_empty())
    }
}

/// Renders `template`: each placeholder becomes its value, else its fallback, else nothing.
pub fn render(template: &str, values: &Values) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(template.len());
    for part in parse(template)? {
        match part {
            Part::Text(text) => out.push_str(text),
            Part::Var { name, fallback } => {
                if let Some(value) = values.get(name) {
                    out.push_str(value.trim());
                } else if let Some(fallback) = fallback {
                    out.push_str(fallback);
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ada() -> Values {
        Values {
            first_name: Some("Ada".into()),
            last_name: Some("Lovelace".into()),
            ..Values::default()
        }
    }

    #[test]
    fn renders_values_and_fallbacks() {
        let t = "Hi {{contact.firstName|there}}, {{ contact.fullName }}! {{contact.email|no mail}}";
        assert_eq!(render(t, &ada()).unwrap(), "Hi Ada, Ada Lovelace! no mail");
        assert_eq!(
            render(t, &Values::default()).unwrap(),
            "Hi there, ! no mail"
        );
        let blank = Values {
            first_name: Some("  ".into()),
            ..Values::default()
        };
        assert_eq!(
            render("Hi {{contact.firstName|there}}", &blank).unwrap(),
            "Hi there"
        );
    }

    #[test]
    fn recipient_fields_render_with_fallbacks() {
        let mut v = ada();
        v.fields.insert("storeCity".into(), "Oslo".into());
        let t = "See you in {{fields.storeCity|town}}, tier {{fields.tier|basic}}";
        assert_eq!(render(t, &v).unwrap(), "See you in Oslo, tier basic");
        assert!(validate("{{fields.}}").is_err());
        assert!(validate("{{fields.store city}}").is_err());
        assert!(validate("{{fields.1st}}").is_err());
    }

    #[test]
    fn text_without_placeholders_is_unchanged() {
        assert_eq!(
            render("50% off { today }", &ada()).unwrap(),
            "50% off { today }"
        );
        assert_eq!(render("", &ada()).unwrap(), "");
    }

    #[test]
    fn refuses_unknown_and_unclosed_placeholders() {
        assert_eq!(
            validate("Hi {{contact.nickname}}"),
            Err(TemplateError::Unknown("contact.nickname".into()))
        );
        assert_eq!(
            validate("ok {{a}} {{contact.firstName"),
            Err(TemplateError::Unknown("a".into()))
        );
        assert_eq!(
            validate("Hi {{contact.firstName"),
            Err(TemplateError::Unclosed(3))
        );
        assert!(
            TemplateError::Unknown("x".into())
                .to_string()
                .contains("contact.firstName")
        );
    }
}
