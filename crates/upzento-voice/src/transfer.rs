//! Attended transfer (RFC 5589 §7): the pieces that are text. The transferor asks the
//! transferee, by REFER, to call the target with a `Replaces` header (RFC 3891) naming
//! the transferor's call with the target; the target swaps that call for the new one.

/// Who a call is with, once established, as this side sees the dialog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialogInfo {
    pub call_id: String,
    pub local_tag: String,
    pub remote_tag: String,
    /// The other side's address (`sip:carol@example.com`), where a transferee calls.
    pub remote_uri: String,
}

impl DialogInfo {
    /// The `Replaces` value that names this dialog to the *other* side (RFC 3891 §3:
    /// `to-tag` is the recipient's own tag, `from-tag` ours).
    pub fn replaces(&self) -> String {
        format!(
            "{};to-tag={};from-tag={}",
            self.call_id, self.remote_tag, self.local_tag
        )
    }

    /// The Refer-To URI that asks a transferee to call the other side of this dialog
    /// in its place: `<uri?Replaces=…>`, the value escaped as a URI header (RFC 3261 §19.1.1).
    pub fn refer_to(&self) -> String {
        format!("{}?Replaces={}", self.remote_uri, escape(&self.replaces()))
    }

    /// Whether a `Replaces` value received names this dialog (from our side: its
    /// `to-tag` is our tag).
    pub fn is_replaced_by(&self, replaces: &Replaces) -> bool {
        self.call_id == replaces.call_id
            && self.local_tag == replaces.to_tag
            && self.remote_tag == replaces.from_tag
    }
}

/// A parsed `Replaces` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replaces {
    pub call_id: String,
    pub to_tag: String,
    pub from_tag: String,
    /// `early-only`: replace only a dialog that is not yet answered.
    pub early_only: bool,
}

impl Replaces {
    pub fn parse(value: &str) -> Option<Self> {
        let mut parts = value.split(';');
        let call_id = parts.next()?.trim();
        if call_id.is_empty() {
            return None;
        }
        let (mut to_tag, mut from_tag, mut early_only) = (None, None, false);
        for param in parts {
            let (name, value) = param.split_once('=').unwrap_or((param, ""));
            match name.trim().to_ascii_lowercase().as_str() {
                "to-tag" => to_tag = Some(value.trim().to_owned()),
                "from-tag" => from_tag = Some(value.trim().to_owned()),
                "early-only" => early_only = true,
                _ => {}
            }
        }
        Some(Self {
            call_id: call_id.to_owned(),
            to_tag: to_tag?,
            from_tag: from_tag?,
            early_only,
        })
    }
}

/// What a REFER asks of us (RFC 3515): call `target`, replacing a dialog there when
/// `replaces` says so (attended transfer) or not (blind transfer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferRequest {
    /// The URI to call, its headers taken off.
    pub target: String,
    /// The `Replaces` header to send with the INVITE (unescaped).
    pub replaces: Option<String>,
}

impl TransferRequest {
    /// From a Refer-To value: `<sip:carol@host?Replaces=a%40b%3Bto-tag%3D1…>` or a
    /// bare URI. `None` for what is not a SIP URI.
    pub fn from_refer_to(value: &str) -> Option<Self> {
        let value = value.trim();
        let uri = match (value.find('<'), value.rfind('>')) {
            (Some(start), Some(end)) if start < end => &value[start + 1..end],
            _ => value.split(';').next().unwrap_or(value),
        };
        let (target, headers) = uri.split_once('?').unwrap_or((uri, ""));
        if !(target.starts_with("sip:") || target.starts_with("sips:")) {
            return None;
        }
        let replaces = headers.split('&').find_map(|h| {
            let (name, value) = h.split_once('=')?;
            name.eq_ignore_ascii_case("replaces")
                .then(|| percent_decode(value))
                .flatten()
        });
        Some(Self {
            target: target.to_owned(),
            replaces,
        })
    }
}

/// Percent-encodes all but the unreserved characters (RFC 3986 §2.3).
fn escape(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Decodes `%XX` escapes (of a URI or its headers); `None` for a malformed escape or
/// bytes that are not UTF-8.
pub fn percent_decode(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = value.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn consultation() -> DialogInfo {
        DialogInfo {
            call_id: "abc@10.0.0.1".into(),
            local_tag: "ours".into(),
            remote_tag: "carols".into(),
            remote_uri: "sip:carol@example.com".into(),
        }
    }

    #[test]
    fn the_refer_to_names_the_dialog_as_the_target_sees_it() {
        let refer_to = consultation().refer_to();
        assert_eq!(
            refer_to,
            "sip:carol@example.com?Replaces=abc%4010.0.0.1%3Bto-tag%3Dcarols%3Bfrom-tag%3Dours"
        );
        // The transferee reads it back…
        let request = TransferRequest::from_refer_to(&format!("<{refer_to}>")).unwrap();
        assert_eq!(request.target, "sip:carol@example.com");
        let replaces = Replaces::parse(request.replaces.as_deref().unwrap()).unwrap();
        // …and the target (carol, whose tag is `carols`) finds its dialog in it.
        let carols_view = DialogInfo {
            call_id: "abc@10.0.0.1".into(),
            local_tag: "carols".into(),
            remote_tag: "ours".into(),
            remote_uri: "sip:alice@example.com".into(),
        };
        assert!(carols_view.is_replaced_by(&replaces));
        assert!(
            !consultation().is_replaced_by(&replaces),
            "not from our side"
        );
    }

    #[test]
    fn blind_and_malformed_refer_tos() {
        assert_eq!(
            TransferRequest::from_refer_to("<sip:bob@example.com>"),
            Some(TransferRequest {
                target: "sip:bob@example.com".into(),
                replaces: None
            })
        );
        assert_eq!(
            TransferRequest::from_refer_to("sip:bob@example.com;method=INVITE")
                .unwrap()
                .target,
            "sip:bob@example.com"
        );
        assert_eq!(TransferRequest::from_refer_to("<tel:+14155552671>"), None);
        assert_eq!(
            TransferRequest::from_refer_to("<sip:x@y?Replaces=%zz>")
                .unwrap()
                .replaces,
            None
        );
        assert_eq!(Replaces::parse("abc;to-tag=1"), None, "from-tag missing");
        assert!(
            Replaces::parse("abc;to-tag=1;from-tag=2;early-only")
                .unwrap()
                .early_only
        );
    }
}
