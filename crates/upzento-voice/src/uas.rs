//! What the UA checks before it acts on a request it takes outside a dialog (INVITE,
//! OPTIONS), in the order of RFC 3261 §8.2 (the method itself was settled before):
//! the Request-URI's scheme (§8.2.2.1: 416), the extensions the request requires
//! (§8.2.2.3: 420 naming them), its body's type and encoding (§8.2.3: 415 saying what we
//! take), and whether the caller accepts the body our answer would carry (§21.4.7: 406).
//! RFC 4475 §3.3 tries each. Pure: a request in, a refusal (if any) out.

use rsipstack::sip::headers::make_header;
use rsipstack::sip::prelude::HeadersExt;
use rsipstack::sip::uri::Scheme;
use rsipstack::sip::{Header, Method, Request, StatusCode};

/// The extensions we implement (RFC 3891 Replaces, for attended transfer).
pub const SUPPORTED: &[&str] = &["replaces"];

/// A refusal: its status and the headers that tell the sender what we would take.
#[derive(Debug, PartialEq)]
pub struct Refusal {
    pub status: StatusCode,
    pub headers: Vec<Header>,
}

/// Why the UA turns `request` down before looking further, if it does.
pub fn screen(request: &Request) -> Option<Refusal> {
    let refuse = |status, headers| Some(Refusal { status, headers });
    // A To tag says the request belongs to a dialog, and none of ours matched it
    // (§12.2.2: 481, rather than starting a call the sender thinks it already has).
    let tagged = matches!(
        request.to_header().and_then(rsipstack::sip::To::tag),
        Ok(Some(_))
    );
    if tagged {
        return refuse(StatusCode::CallTransactionDoesNotExist, Vec::new());
    }
    // Schemes a phone can be reached at; anything else names no one here.
    let scheme_known = match &request.uri.scheme {
        None | Some(Scheme::Sip | Scheme::Sips) => true,
        Some(Scheme::Other(other)) => other.eq_ignore_ascii_case("tel"),
    };
    if !scheme_known {
        return refuse(StatusCode::UnsupportedUriScheme, Vec::new());
    }
    // Require lists what the UAS must understand; Proxy-Require is for proxies alone.
    let unsupported: Vec<&str> = values(request, &["Require"])
        .filter(|tag| !SUPPORTED.iter().any(|s| s.eq_ignore_ascii_case(tag)))
        .collect();
    if !unsupported.is_empty() {
        return refuse(
            StatusCode::BadExtension,
            vec![make_header("Unsupported", unsupported.join(", "))],
        );
    }
    if request.method != Method::Invite {
        return None;
    }
    if !request.body.is_empty() {
        let sdp = values(request, &["Content-Type", "c"])
            .next()
            .is_none_or(|t| media_type(t) == "application/sdp");
        if !sdp {
            return refuse(
                StatusCode::UnsupportedMediaType,
                vec![make_header("Accept", "application/sdp".into())],
            );
        }
        let plain =
            values(request, &["Content-Encoding", "e"]).all(|e| e.eq_ignore_ascii_case("identity"));
        if !plain {
            return refuse(
                StatusCode::UnsupportedMediaType,
                vec![make_header("Accept-Encoding", "identity".into())],
            );
        }
    }
    // Our answer carries SDP: the caller must take it (no Accept means it does).
    let mut accepts = values(request, &["Accept"]).peekable();
    if accepts.peek().is_some()
        && !accepts.any(|t| {
            matches!(
                media_type(t).as_str(),
                "application/sdp" | "application/*" | "*/*"
            )
        })
    {
        return refuse(StatusCode::NotAcceptable, Vec::new());
    }
    None
}

/// The comma-separated values of every header called one of `names`, trimmed.
fn values<'a>(request: &'a Request, names: &'a [&str]) -> impl Iterator<Item = &'a str> + 'a {
    request
        .headers
        .iter()
        .filter(move |h| names.iter().any(|n| h.name().eq_ignore_ascii_case(n)))
        .flat_map(|h| h.value().split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// `type/subtype` of a media type, lower case, without its parameters.
fn media_type(value: &str) -> String {
    value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(text: &str) -> Request {
        let text = text.replace('\n', "\r\n");
        match rsipstack::sip::SipMessage::try_from(text.as_bytes()).unwrap() {
            rsipstack::sip::SipMessage::Request(r) => r,
            rsipstack::sip::SipMessage::Response(_) => panic!("not a request"),
        }
    }

    fn invite(extra: &str, body: &str) -> Request {
        request(&format!(
            "INVITE sip:a@b SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\nFrom: <sip:c@d>;tag=1\n\
             To: <sip:a@b>\nCall-ID: x\nCSeq: 1 INVITE\n{extra}Content-Length: {}\n\n{body}",
            body.len()
        ))
    }

    #[test]
    fn a_plain_invite_passes() {
        let sdp = "v=0\r\n";
        let plain = invite("Content-Type: application/sdp\nRequire: replaces\n", sdp);
        assert_eq!(screen(&plain), None);
        let accepting = invite("Accept: text/plain, application/SDP;level=1\n", sdp);
        assert_eq!(screen(&accepting), None);
    }

    #[test]
    fn each_refusal_says_what_we_would_take() {
        let status = |r: &Request| screen(r).map(|r| r.status);
        let odd_scheme = request(
            "OPTIONS soap.beep://192.0.2.103:3002 SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\n\
             From: <sip:c@d>;tag=1\nTo: <sip:a@b>\nCall-ID: x\nCSeq: 1 OPTIONS\n\n",
        );
        assert_eq!(status(&odd_scheme), Some(StatusCode::UnsupportedUriScheme));
        let required = invite("Require: 100rel, replaces\nProxy-Require: foo\n", "");
        let refusal = screen(&required).unwrap();
        assert_eq!(refusal.status, StatusCode::BadExtension);
        assert_eq!(refusal.headers[0].value(), "100rel");
        let xml = invite("Content-Type: application/unknownformat\n", "<audio/>");
        assert_eq!(status(&xml), Some(StatusCode::UnsupportedMediaType));
        let zipped = invite(
            "Content-Type: application/sdp\nContent-Encoding: gzip\n",
            "x",
        );
        assert_eq!(status(&zipped), Some(StatusCode::UnsupportedMediaType));
        let picky = invite("Accept: text/nobodyknowsthis\n", "v=0\r\n");
        assert_eq!(status(&picky), Some(StatusCode::NotAcceptable));
    }
}
