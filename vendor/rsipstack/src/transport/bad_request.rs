//! A stateless 400 Bad Request for a request that does not parse.
//!
//! RFC 3261 §8.2 and §16.3 ask for a 400 to a malformed request, and RFC 4475 (§3.1.2)
//! expects one for most of its invalid messages. The transports used to drop whatever
//! failed to parse, so the sender retransmitted into silence for 32 s. When the request
//! still shows the five headers a response must copy (Via, From, To, Call-ID, CSeq), a
//! 400 is built from their raw text, with a Warning saying what was wrong. Responses and
//! ACKs are never answered, and neither is anything without those headers.

use crate::prelude::*;

/// The octets of a 400 answering `raw`, if `raw` is a request that can be answered.
pub fn bad_request(raw: &[u8], error: &str) -> Option<Vec<u8>> {
    let text = String::from_utf8_lossy(raw);
    let head = match text.find("\r\n\r\n") {
        Some(end) => &text[..end],
        None => &text[..],
    };
    let mut lines = head.split("\r\n");
    let start = lines.next()?;
    let method = start.split([' ', '\t']).next()?;
    if start.starts_with("SIP/") || method.is_empty() || method.eq_ignore_ascii_case("ACK") {
        return None;
    }
    // Unfold continuation lines, then keep the headers a response copies, in order.
    let mut unfolded: Vec<String> = Vec::new();
    for line in lines {
        match (line.starts_with([' ', '\t']), unfolded.last_mut()) {
            (true, Some(previous)) => {
                previous.push(' ');
                previous.push_str(line.trim());
            }
            _ => unfolded.push(line.to_string()),
        }
    }
    let mut vias = Vec::new();
    let (mut from, mut to, mut call_id, mut cseq) = (None, None, None, None);
    for line in &unfolded {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "via" | "v" => vias.push(value),
            "from" | "f" => from = from.or(Some(value)),
            "to" | "t" => to = to.or(Some(value)),
            "call-id" | "i" => call_id = call_id.or(Some(value)),
            "cseq" => cseq = cseq.or(Some(value)),
            _ => {}
        }
    }
    let (from, to, call_id, cseq) = (from?, to?, call_id?, cseq?);
    if vias.is_empty() {
        return None;
    }
    // A To without a tag gets ours (RFC 3261 §8.2.6.2).
    let to = if to.contains(";tag=") || to.contains("; tag") {
        to.to_string()
    } else {
        format!("{};tag={}", to, crate::transaction::random_text(8))
    };
    let warning: String = error
        .chars()
        .map(|c| if c == '"' || c == '\\' || c.is_control() { '\'' } else { c })
        .take(200)
        .collect();
    let mut out = String::from("SIP/2.0 400 Bad Request\r\n");
    for via in vias {
        out.push_str(&format!("Via: {}\r\n", via));
    }
    out.push_str(&format!(
        "From: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {}\r\nWarning: 399 - \"{}\"\r\nContent-Length: 0\r\n\r\n",
        from, to, call_id, cseq, warning
    ));
    Some(out.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::bad_request;

    #[test]
    fn answers_a_request_with_the_headers_it_needs() {
        let raw = b"INVITE  sip:u@example.com  SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
            f: <sip:a@b>;tag=1\r\nTo: <sip:u@example.com>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n\r\n";
        let out = String::from_utf8(bad_request(raw, "bad \"line\"").unwrap()).unwrap();
        assert!(out.starts_with("SIP/2.0 400 Bad Request\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"));
        assert!(out.contains("From: <sip:a@b>;tag=1\r\n"));
        assert!(out.contains("To: <sip:u@example.com>;tag="));
        assert!(out.contains("Warning: 399 - \"bad 'line'\"\r\n"));
    }

    #[test]
    fn never_answers_responses_acks_or_requests_without_a_via() {
        assert!(bad_request(b"SIP/2.0 4294967301 x\r\nVia: v\r\n\r\n", "e").is_none());
        let ack = b"ACK sip:u@h SIP/2.0\r\nVia: v\r\nFrom: f\r\nTo: t\r\nCall-ID: c\r\nCSeq: 1 ACK\r\n\r\n";
        assert!(bad_request(ack, "e").is_none());
        let no_via = b"INVITE sip:u@h SIP/2.0\r\nFrom: f\r\nTo: t\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n\r\n";
        assert!(bad_request(no_via, "e").is_none());
    }
}
