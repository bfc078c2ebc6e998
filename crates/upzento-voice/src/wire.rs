//! Fixes between rsipstack and the wire, applied to every message (a
//! [`MessageInspector`] sees each one just before it is sent and just after it is parsed).
//!
//! **Digest algorithm tokens.** RFC 7616 (and RFC 8760 for SIP) registers the token `SHA-256`; rsipstack 0.7.14
//! computes SHA-256 digests but reads and writes the token as `SHA256`, so a
//! registrar that challenges with `algorithm=SHA-256` failed every REGISTER
//! ("invalid Algorithm"). This inspector sits between the stack and the wire:
//! challenges arriving are translated into the stack's spelling, and the answers
//! leaving are translated back. When a server offers several challenges (RFC 8760
//! §2.4: one per algorithm, most preferred first) the strongest one we can answer
//! correctly is kept and the others are dropped, because the stack answers the first.
//!
//! **The transport of a REGISTER's Contact.** Over TCP (or WebSocket) rsipstack puts
//! the connection's own address in the Contact but no `transport` parameter, so a
//! registrar sends the calls for that account over UDP to a port where only a TCP
//! connection lives, and they never arrive. The Contact gets the transport of the Via
//! (RFC 3261 §10.2.1: the Contact says how to reach us; `ws` for secure WebSocket too,
//! RFC 7118 §5.2), and the registrar then reuses our connection.
//!
//! **400 for requests the stack cannot take.** rsipstack drops a request without a
//! To, From (or From tag), Call-ID or a readable CSeq before any handler sees it, so the
//! sender retransmits into silence. RFC 3261 §8.2 wants a 400 Bad Request for those, and
//! §18.3 for a datagram whose Content-Length runs past its end: the [`BadRequests`]
//! transport inspector answers them statelessly, with a Warning that says what is
//! wrong. The same goes for what the stack would read past with a guess (RFC 4475 §3.1.2,
//! §3.3.8): a header that takes one value given twice, a quoted string left open or an
//! empty element in an address or Via, headers in the Request-URI, and an INVITE without
//! the Contact the dialog needs (§8.1.1.8). A request whose Via cannot be read has nowhere
//! to be answered and is left to the stack to drop; an ACK is never answered.
//!
//! **Allow on refusals.** A 405 must list what we take (RFC 3261 §21.4.6), and a 501 is
//! more useful with it; the stack refuses in-dialog requests without one, so ours is added.
//!
//! Faults that no inspector can reach are fixed in the stack itself: see
//! `vendor/rsipstack/PATCHES.md`.

use rsipstack::sip::headers::make_header;
use rsipstack::sip::headers::untyped::ToTypedHeader;
use rsipstack::sip::uri::Param;
use rsipstack::sip::{Header, Headers, HeadersExt, Method, SipMessage, Transport};
use rsipstack::transaction::endpoint::{MessageInspector, TransportEventInspector};
use rsipstack::transport::SipAddr;
use rsipstack::transport::connection::TransportEvent;

/// The fixes of the module docs.
#[derive(Debug, Default)]
pub struct WireFixes;

impl MessageInspector for WireFixes {
    fn before_send(&self, mut msg: SipMessage, _dest: Option<&SipAddr>) -> SipMessage {
        if let SipMessage::Response(response) = &mut msg {
            allow_on_refusals(response);
        }
        if let SipMessage::Request(request) = &mut msg {
            if request.method == Method::Register {
                contact_transport(request);
            }
            for header in request.headers.iter_mut() {
                let name = match header {
                    Header::Authorization(_) => "Authorization",
                    Header::ProxyAuthorization(_) => "Proxy-Authorization",
                    _ => continue,
                };
                if let Some(value) = to_wire(header.value()) {
                    *header = make_header(name, value);
                }
            }
        }
        msg
    }

    fn after_received(&self, mut msg: SipMessage, _from: Option<&SipAddr>) -> SipMessage {
        if let SipMessage::Response(response) = &mut msg {
            choose_challenge(&mut response.headers, "WWW-Authenticate");
            choose_challenge(&mut response.headers, "Proxy-Authenticate");
        }
        msg
    }
}

/// A 405 must say what is allowed (RFC 3261 §21.4.6) and a 501 may; the stack's own
/// refusals of in-dialog requests carry no Allow, so ours is added.
fn allow_on_refusals(response: &mut rsipstack::sip::Response) {
    let refusal = matches!(
        response.status_code,
        rsipstack::sip::StatusCode::MethodNotAllowed | rsipstack::sip::StatusCode::NotImplemented
    );
    let has_allow = response
        .headers
        .iter()
        .any(|h| matches!(h, Header::Allow(_)) || h.name().eq_ignore_ascii_case("Allow"));
    if refusal && !has_allow {
        response
            .headers
            .push(make_header("Allow", crate::ua::ALLOW.into()));
    }
}

/// Answers 400 to requests the stack would drop in silence (see the module docs).
#[derive(Debug, Default)]
pub struct BadRequests;

#[async_trait::async_trait]
impl TransportEventInspector for BadRequests {
    async fn handle(&self, mut event: TransportEvent) -> Option<TransportEvent> {
        if let TransportEvent::Incoming(SipMessage::Request(request), _, _) = &mut event {
            tight_params(&mut request.headers);
        }
        let TransportEvent::Incoming(SipMessage::Request(request), connection, from) = &event
        else {
            return Some(event);
        };
        let (status, problem) = if is_sip_2(request) {
            let Some(problem) = problem(request, connection.is_reliable()) else {
                return Some(event);
            };
            (rsipstack::sip::StatusCode::BadRequest, problem)
        } else if request.method == Method::Ack {
            return None;
        } else {
            // RFC 3261 §8.2.2.1 via §20: a version we do not speak.
            (
                rsipstack::sip::StatusCode::VersionNotSupported,
                "only SIP/2.0 is supported",
            )
        };
        tracing::info!(%from, method = %request.method, problem, %status, "refused a malformed request");
        let mut response = bad_request(request, problem);
        response.status_code = status;
        if let Err(e) = connection
            .send(SipMessage::Response(response), Some(from))
            .await
        {
            tracing::debug!(error = %e, "400 not sent");
        }
        None
    }
}

/// RFC 3261's grammar lets whitespace sit around the `;` and `=` of header parameters
/// (`From: <sip:a@b> ; tag = t1`, RFC 4475's "wsinv"); rsipstack finds the tag only
/// without it. The From and To parameters are written tight before the stack reads them.
fn tight_params(headers: &mut Headers) {
    for header in headers.iter_mut() {
        let (name, value) = match header {
            Header::From(from) => ("From", from.value().to_owned()),
            Header::To(to) => ("To", to.value().to_owned()),
            _ => continue,
        };
        // The parameters follow the URI: after its `>`, or all of an addr-spec's (which
        // holds no whitespace and no URI parameters of its own, §20.10).
        let start = value.rfind('>').map_or(0, |i| i + 1);
        let (uri, params) = value.split_at(start);
        let chars: Vec<char> = params.trim().chars().collect();
        let tight: String = chars
            .iter()
            .enumerate()
            .filter(|(i, c)| {
                !c.is_whitespace() || {
                    let before = chars[..*i].iter().rev().find(|c| !c.is_whitespace());
                    let after = chars[i + 1..].iter().find(|c| !c.is_whitespace());
                    !matches!(before, Some(';' | '=')) && !matches!(after, Some(';' | '='))
                }
            })
            .map(|(_, c)| *c)
            .collect();
        if tight != params {
            *header = make_header(name, format!("{uri}{tight}"));
        }
    }
}

/// Whether the request is SIP/2.0 (the stack would answer any version in its own).
fn is_sip_2(request: &rsipstack::sip::Request) -> bool {
    matches!(
        request.version,
        rsipstack::sip::Version::V2 | rsipstack::sip::Version::V(2, 0)
    )
}

/// What makes `request` unanswerable by the stack, if anything; `None` also when it
/// cannot be answered at all (no readable Via) or must not be (an ACK).
fn problem(request: &rsipstack::sip::Request, reliable: bool) -> Option<&'static str> {
    if request.method == Method::Ack || request.via_header().and_then(ToTypedHeader::typed).is_err()
    {
        return None;
    }
    let has = |f: fn(&Header) -> bool| request.headers.iter().any(f);
    if !has(|h| matches!(h, Header::From(_))) {
        return Some("missing From");
    }
    if !matches!(
        request.from_header().and_then(rsipstack::sip::From::tag),
        Ok(Some(_))
    ) {
        return Some("From without a tag");
    }
    if !has(|h| matches!(h, Header::To(_))) {
        return Some("missing To");
    }
    if !has(|h| matches!(h, Header::CallId(_))) {
        return Some("missing Call-ID");
    }
    if let Some(problem) = grammar(request) {
        return Some(problem);
    }
    // The far end's address for the dialog (RFC 3261 §8.1.1.8: a MUST in an INVITE).
    if request.method == Method::Invite && !has(|h| matches!(h, Header::Contact(_))) {
        return Some("missing Contact");
    }
    let Ok(cseq) = request.cseq_header() else {
        return Some("missing CSeq");
    };
    if cseq.seq().is_err() {
        return Some("unreadable CSeq");
    }
    // An unknown method is answered 501 whatever its CSeq says (RFC 4475 §3.1.2.18
    // prefers it to 400: it says more to the sender).
    let extension = matches!(request.method, Method::Extension(_));
    if !extension && cseq.method().ok() != Some(request.method) {
        return Some("CSeq method differs from the request's");
    }
    // A datagram is whole: a body shorter than announced was cut (RFC 3261 §18.3).
    let announced = request
        .headers
        .iter()
        .find_map(|h| match h {
            Header::ContentLength(l) => l.value().trim().parse::<usize>().ok(),
            _ => None,
        })
        .unwrap_or(request.body.len());
    if !reliable && announced > request.body.len() {
        return Some("Content-Length beyond the end of the datagram");
    }
    None
}

/// What the stack reads past but RFC 3261's grammar forbids (RFC 4475 §3.1.2 and
/// §3.3.8): a header that takes one value given twice, a quoted string left open or an
/// empty element (`;;`, `,,`) in an address or Via, a Request-URI with headers in it
/// (§19.1.5). The stack would guess, and the call would ring with a guessed party.
fn grammar(request: &rsipstack::sip::Request) -> Option<&'static str> {
    let mut seen = Vec::new();
    for twice in request.headers.iter().filter_map(single_valued) {
        if seen.contains(&twice) {
            return Some(twice);
        }
        seen.push(twice);
    }
    for header in request.headers.iter() {
        let name = match header {
            Header::From(_) => "From",
            Header::To(_) => "To",
            Header::Contact(_) => "Contact",
            Header::Via(_) => "Via",
            _ => continue,
        };
        if let Err(problem) = check_list(header.value()) {
            tracing::debug!(name, ?problem, "malformed header");
            return Some(match (name, problem) {
                ("Via", _) => "malformed Via",
                (_, Unbalanced) => "a quoted string left open in an address",
                (_, EmptyElement) => "an empty parameter or value in an address",
            });
        }
    }
    if !request.uri.headers.is_empty() {
        return Some("headers in the Request-URI");
    }
    None
}

/// For a header that takes one value: what to say when it comes twice.
fn single_valued(header: &Header) -> Option<&'static str> {
    Some(match header {
        Header::From(_) => "From given twice",
        Header::To(_) => "To given twice",
        Header::CallId(_) => "Call-ID given twice",
        Header::CSeq(_) => "CSeq given twice",
        Header::MaxForwards(_) => "Max-Forwards given twice",
        Header::ContentType(_) => "Content-Type given twice",
        _ => return None,
    })
}

#[derive(Debug, Clone, Copy)]
enum ListProblem {
    Unbalanced,
    EmptyElement,
}
use ListProblem::{EmptyElement, Unbalanced};

/// Checks a header value made of `,`-separated elements with `;`-parameters: quoted
/// strings closed, and no element or parameter empty (a `<…>` URI is passed over whole).
fn check_list(value: &str) -> Result<(), ListProblem> {
    let (mut quoted, mut escaped, mut angle) = (false, false, false);
    // Whether something other than whitespace came since the last separator.
    let mut filled = false;
    for c in value.chars() {
        if quoted {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => quoted = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => (quoted, filled) = (true, true),
            '<' => (angle, filled) = (true, true),
            '>' => angle = false,
            ';' | ',' if !angle => {
                if !filled {
                    return Err(EmptyElement);
                }
                filled = false;
            }
            c if !c.is_whitespace() => filled = true,
            _ => {}
        }
    }
    match (quoted || angle, filled) {
        (true, _) => Err(Unbalanced),
        (false, false) => Err(EmptyElement),
        (false, true) => Ok(()),
    }
}

/// A stateless 400 (RFC 3261 §8.2.6): the request's Via, From, To, Call-ID and CSeq as
/// far as they are there, and a Warning (§20.43) with the reason.
fn bad_request(request: &rsipstack::sip::Request, problem: &str) -> rsipstack::sip::Response {
    let mut headers = Headers::default();
    for header in request.headers.iter() {
        if matches!(
            header,
            Header::Via(_) | Header::From(_) | Header::To(_) | Header::CallId(_) | Header::CSeq(_)
        ) {
            headers.push(header.clone());
        }
    }
    headers.push(make_header(
        "Warning",
        format!("399 upzento-phone \"{problem}\""),
    ));
    headers.push(make_header("Content-Length", "0".into()));
    rsipstack::sip::Response {
        status_code: rsipstack::sip::StatusCode::BadRequest,
        wire_reason: None,
        version: rsipstack::sip::Version::V2,
        headers,
        body: Vec::new(),
    }
}

/// Puts the Via's transport into the Contact of a REGISTER sent over a connection.
fn contact_transport(request: &mut rsipstack::sip::Request) {
    let Ok(via) = request.via_header().and_then(ToTypedHeader::typed) else {
        return;
    };
    if matches!(via.transport, Transport::Udp) {
        return;
    }
    let Ok(mut contact) = request.contact_header().and_then(ToTypedHeader::typed) else {
        return;
    };
    // `*` (remove all bindings) and contacts that already say how stay as they are.
    if contact
        .uri
        .params
        .iter()
        .any(|p| matches!(p, Param::Transport(_)))
    {
        return;
    }
    // RFC 7118 §5.2: a URI says `ws` for WebSocket, secure or not.
    let transport = match via.transport {
        Transport::Wss => Transport::Ws,
        other => other,
    };
    contact.uri.params.push(Param::Transport(transport));
    request.headers.unique_push(contact.into());
}

/// The algorithms the stack answers correctly, strongest first, with the stack's
/// spelling. The `-sess` variants are left out on purpose: rsipstack hashes them like
/// the plain ones, which would give a wrong response.
const SUPPORTED: [(&str, &str); 2] = [("SHA-256", "SHA256"), ("MD5", "MD5")];

fn is_challenge(header: &Header, name: &str) -> bool {
    match header {
        Header::WwwAuthenticate(_) => name == "WWW-Authenticate",
        Header::ProxyAuthenticate(_) => name == "Proxy-Authenticate",
        _ => false,
    }
}

/// Keeps one challenge named `name`: the strongest supported one, in the stack's
/// spelling. Leaves the headers alone when none is supported (the stack then fails
/// the request with its own reason, which reaches the account's state).
fn choose_challenge(headers: &mut Headers, name: &str) {
    let challenges: Vec<String> = headers
        .iter()
        .filter(|h| is_challenge(h, name))
        .map(|h| h.value().to_owned())
        .collect();
    if challenges.is_empty() {
        return;
    }
    let best = SUPPORTED.iter().find_map(|(wire, stack)| {
        challenges.iter().find_map(|c| {
            let algorithm = algorithm(c).unwrap_or("MD5");
            algorithm
                .eq_ignore_ascii_case(wire)
                .then(|| replace_algorithm(c, stack))
        })
    });
    let Some(best) = best else {
        return;
    };
    headers.retain(|h| !is_challenge(h, name));
    headers.push(make_header(name, best));
}

/// The stack's answer with the registered token, or `None` when nothing changes.
fn to_wire(value: &str) -> Option<String> {
    let algorithm = algorithm(value)?;
    let (wire, _) = SUPPORTED
        .iter()
        .find(|(wire, stack)| algorithm.eq_ignore_ascii_case(stack) && wire != stack)?;
    Some(replace_algorithm(value, wire))
}

/// The `algorithm` parameter of a challenge or answer, unquoted.
fn algorithm(value: &str) -> Option<&str> {
    let (start, end) = algorithm_span(value)?;
    Some(value[start..end].trim_matches('"'))
}

fn replace_algorithm(value: &str, token: &str) -> String {
    match algorithm_span(value) {
        Some((start, end)) => format!("{}{token}{}", &value[..start], &value[end..]),
        // RFC 7616 §3.3: no algorithm means MD5; say so when we change nothing else.
        None => value.to_owned(),
    }
}

/// Byte range of the `algorithm` parameter's value (quotes included).
fn algorithm_span(value: &str) -> Option<(usize, usize)> {
    let lower = value.to_ascii_lowercase();
    let mut from = 0;
    while let Some(found) = lower[from..].find("algorithm") {
        let at = from + found;
        from = at + "algorithm".len();
        // A parameter name starts after a separator, never inside another word.
        let before = lower[..at].chars().next_back();
        if !matches!(before, Some(' ' | ',' | '\t') | None) {
            continue;
        }
        let rest = &value[from..];
        let trimmed = rest.trim_start();
        let Some(after_eq) = trimmed.strip_prefix('=') else {
            continue;
        };
        let value_start = value.len() - after_eq.trim_start().len();
        let tail = &value[value_start..];
        let len = if let Some(quoted) = tail.strip_prefix('"') {
            quoted.find('"').map_or(tail.len(), |q| q + 2)
        } else {
            tail.find([',', ' ', '\t']).unwrap_or(tail.len())
        };
        return Some((value_start, value_start + len));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsipstack::sip::Response;

    fn challenge_response(challenges: &[&str]) -> SipMessage {
        let mut text = String::from(
            "SIP/2.0 401 Unauthorized\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\n\
             From: <sip:alice@example.com>;tag=1\r\nTo: <sip:alice@example.com>;tag=2\r\n\
             Call-ID: abc\r\nCSeq: 1 REGISTER\r\n",
        );
        for c in challenges {
            text.push_str(&format!("WWW-Authenticate: {c}\r\n"));
        }
        text.push_str("Content-Length: 0\r\n\r\n");
        SipMessage::try_from(text.as_str()).expect("a valid response")
    }

    fn challenges(msg: &SipMessage) -> Vec<String> {
        let SipMessage::Response(Response { headers, .. }) = msg else {
            panic!("a response")
        };
        headers
            .iter()
            .filter(|h| matches!(h, Header::WwwAuthenticate(_)))
            .map(|h| h.value().to_owned())
            .collect()
    }

    #[test]
    fn a_sha256_challenge_reaches_the_stack_in_its_spelling() {
        let msg = challenge_response(&[
            r#"Digest realm="example.com", nonce="n1", qop="auth", algorithm=SHA-256"#,
        ]);
        let msg = WireFixes.after_received(msg, None);
        assert_eq!(
            challenges(&msg),
            [r#"Digest realm="example.com", nonce="n1", qop="auth", algorithm=SHA256"#]
        );
    }

    #[test]
    fn of_several_challenges_the_strongest_supported_one_is_kept() {
        let msg = challenge_response(&[
            r#"Digest realm="r", nonce="a", algorithm=SHA-512-256"#,
            r#"Digest realm="r", nonce="b", algorithm=MD5"#,
            r#"Digest realm="r", nonce="c", algorithm="SHA-256""#,
        ]);
        let msg = WireFixes.after_received(msg, None);
        assert_eq!(
            challenges(&msg),
            [r#"Digest realm="r", nonce="c", algorithm=SHA256"#]
        );
    }

    #[test]
    fn a_challenge_without_algorithm_is_md5_and_unchanged() {
        let plain = r#"Digest realm="r", nonce="a""#;
        let msg = WireFixes.after_received(challenge_response(&[plain]), None);
        assert_eq!(challenges(&msg), [plain]);
    }

    #[test]
    fn unsupported_challenges_are_left_for_the_stack_to_refuse() {
        let only = r#"Digest realm="r", nonce="a", algorithm=SHA-512-256"#;
        let msg = WireFixes.after_received(challenge_response(&[only]), None);
        assert_eq!(challenges(&msg), [only]);
    }

    #[test]
    fn whitespace_around_header_parameters_is_taken_out() {
        let mut headers = Headers::default();
        headers.push(make_header(
            "From",
            "<sip:tester@127.0.0.1> ; tag = t1".into(),
        ));
        headers.push(make_header("To", "sip:alice@127.0.0.1 ;tag= t2".into()));
        headers.push(make_header("Call-ID", "a ; b".into()));
        tight_params(&mut headers);
        let values: Vec<String> = headers.iter().map(|h| h.value().to_owned()).collect();
        assert_eq!(
            values,
            vec![
                "<sip:tester@127.0.0.1>;tag=t1",
                "sip:alice@127.0.0.1;tag=t2",
                "a ; b"
            ]
        );
        let mut plain = Headers::default();
        plain.push(make_header("From", "\"Ann Lee\" <sip:ann@x>;tag=1".into()));
        tight_params(&mut plain);
        assert_eq!(
            plain.iter().next().unwrap().value(),
            "\"Ann Lee\" <sip:ann@x>;tag=1"
        );
    }

    #[test]
    fn a_register_over_tcp_says_so_in_its_contact() {
        let register = |via: &str, contact: &str| {
            let text = format!(
                "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/{via} 127.0.0.1:40000;branch=z9hG4bK1\r\n\
                 From: <sip:bob@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\n\
                 Call-ID: abc\r\nCSeq: 1 REGISTER\r\nContact: {contact}\r\nContent-Length: 0\r\n\r\n"
            );
            let msg = SipMessage::try_from(text.as_str()).expect("a valid request");
            let SipMessage::Request(sent) = WireFixes.before_send(msg, None) else {
                panic!("a request")
            };
            sent.contact_header().expect("a contact").value().to_owned()
        };
        assert_eq!(
            register("TCP", "<sip:bob@127.0.0.1:40000>"),
            "<sip:bob@127.0.0.1:40000;transport=TCP>"
        );
        assert_eq!(
            register("UDP", "<sip:bob@127.0.0.1:40000>"),
            "<sip:bob@127.0.0.1:40000>"
        );
        assert_eq!(
            register("WS", "<sip:bob@127.0.0.1:40000;transport=ws>"),
            "<sip:bob@127.0.0.1:40000;transport=ws>"
        );
        assert_eq!(
            register("WSS", "<sip:bob@127.0.0.1:40000>"),
            "<sip:bob@127.0.0.1:40000;transport=WS>"
        );
    }

    #[test]
    fn answers_leave_with_the_registered_token() {
        assert_eq!(
            to_wire(r#"Digest username="a", response="x", algorithm=SHA256, qop=auth"#).as_deref(),
            Some(r#"Digest username="a", response="x", algorithm=SHA-256, qop=auth"#)
        );
        assert_eq!(to_wire(r#"Digest username="a", algorithm=MD5"#), None);
        // A user name that happens to contain the word is not the parameter.
        assert_eq!(
            algorithm(r#"Digest username="xalgorithm=1", nonce="n""#),
            None
        );
    }
}
