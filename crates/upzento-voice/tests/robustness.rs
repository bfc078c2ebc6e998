//! Malformed or unexpected SIP never takes the user agent down: garbage is dropped,
//! requests missing what SIP requires get a 400 saying why, unknown methods and
//! INVITEs it cannot take are answered as RFC 3261 asks, and the UA goes on
//! registering and calling.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::time::Duration;

use common::{Baresip, Kamailio, alice, call_answered, registered};
use upzento_voice::ua::UserAgent;

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn request(
    method: &str,
    ua: std::net::SocketAddr,
    from: std::net::SocketAddr,
    extra: &str,
    body: &str,
) -> String {
    // Each request a transaction (and call) of its own, never a retransmission.
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!(
        "{method} sip:alice@{ua} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {from};branch=z9hG4bK-{method}-{n}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:probe@{from}>;tag=probe\r\n\
         To: <sip:alice@{ua}>\r\n\
         Call-ID: probe-{method}-{n}@{from}\r\n\
         CSeq: 1 {method}\r\n\
         Contact: <sip:probe@{from}>\r\n\
         {extra}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// `text` without its header line starting with `name:`.
fn without(text: &str, name: &str) -> String {
    text.split_inclusive("\r\n")
        .filter(|line| !line.starts_with(&format!("{name}:")))
        .collect()
}

/// The status code of the first final response to arrive, if any within a second.
fn status_of(socket: &UdpSocket) -> Option<u16> {
    let mut buf = [0u8; 4096];
    let deadline = std::time::Instant::now() + Duration::from_secs(1);
    while std::time::Instant::now() < deadline {
        let Ok((n, _)) = socket.recv_from(&mut buf) else {
            continue;
        };
        let text = String::from_utf8_lossy(&buf[..n]);
        let code: u16 = text.strip_prefix("SIP/2.0 ")?.get(..3)?.parse().ok()?;
        if code >= 200 {
            return Some(code);
        }
    }
    None
}

/// The first final response within a second, whole.
fn final_response(socket: &UdpSocket) -> Option<String> {
    let mut buf = [0u8; 4096];
    let deadline = std::time::Instant::now() + Duration::from_secs(1);
    while std::time::Instant::now() < deadline {
        let Ok((n, _)) = socket.recv_from(&mut buf) else {
            continue;
        };
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        let code: u16 = text.strip_prefix("SIP/2.0 ")?.get(..3)?.parse().ok()?;
        if code >= 200 {
            return Some(text);
        }
    }
    None
}

/// Whether a response carries the header `name`.
fn has_header(response: &str, name: &str) -> bool {
    response.lines().any(|l| {
        l.split(':')
            .next()
            .is_some_and(|n| n.trim().eq_ignore_ascii_case(name))
    })
}

/// The first final response within a second: its code and its Warning header.
fn answer_of(socket: &UdpSocket) -> Option<(u16, String)> {
    let mut buf = [0u8; 4096];
    let deadline = std::time::Instant::now() + Duration::from_secs(1);
    while std::time::Instant::now() < deadline {
        let Ok((n, _)) = socket.recv_from(&mut buf) else {
            continue;
        };
        let text = String::from_utf8_lossy(&buf[..n]);
        let code: u16 = text.strip_prefix("SIP/2.0 ")?.get(..3)?.parse().ok()?;
        if code >= 200 {
            let warning = text
                .lines()
                .find(|l| l.starts_with("Warning:"))
                .unwrap_or_default()
                .to_owned();
            return Some((code, warning));
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_unexpected_requests_leave_the_ua_working() {
    let kamailio = Kamailio::start();
    let _bob = Baresip::start(&kamailio, 1000);
    let ua = UserAgent::start(LOOPBACK).await.unwrap();
    let target = ua.local_addr().unwrap();
    let probe = UdpSocket::bind((LOOPBACK, 0)).unwrap();
    probe
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let me = probe.local_addr().unwrap();
    let send = |text: &[u8]| {
        probe.send_to(text, target).unwrap();
    };

    // Noise: dropped without an answer (nothing to answer to).
    send(b"\x00\x01\x02 not sip at all \xff\xfe");
    send(b"INVITE sip:alice@127.0.0.1 SIP/2.0\r\nVia: garbage\r\n\r\n");
    send(&[b'A'; 60_000]);
    send(b"SIP/2.0 200 OK\r\n\r\n");
    assert_eq!(status_of(&probe), None);

    // Well-formed but unexpected: answered as RFC 3261 asks.
    // OPTIONS says what we take (RFC 3261 §11.2); a 405 must list what we allow (§21.4.6).
    send(request("OPTIONS", target, me, "", "").as_bytes());
    let answer = final_response(&probe).expect("OPTIONS answered");
    assert!(answer.starts_with("SIP/2.0 200"), "{answer}");
    for name in ["Allow", "Accept", "Supported"] {
        assert!(has_header(&answer, name), "{name} in {answer}");
    }
    send(
        request(
            "SUBSCRIBE",
            target,
            me,
            "Event: presence\r\nExpires: 60\r\n",
            "",
        )
        .as_bytes(),
    );
    let answer = final_response(&probe).expect("SUBSCRIBE answered");
    assert!(answer.starts_with("SIP/2.0 405"), "{answer}");
    assert!(has_header(&answer, "Allow"), "{answer}");
    // A method nobody defined: 501, with what we do take (RFC 3261 §8.2.1), not silence.
    send(request("FROBNICATE", target, me, "", "").as_bytes());
    let answer = final_response(&probe).expect("FROBNICATE answered");
    assert!(answer.starts_with("SIP/2.0 501"), "{answer}");
    assert!(has_header(&answer, "Allow"), "{answer}");
    // A datagram larger than 8 KiB is read whole (§18.1.1: up to 65,535 bytes).
    let padding = format!("X-Padding: {}\r\n", "p".repeat(9_000));
    send(request("OPTIONS", target, me, &padding, "").as_bytes());
    assert_eq!(status_of(&probe), Some(200), "a 9 KB OPTIONS");
    // To is copied into the response as it came, escapes and all (§8.2.6.2).
    send(
        request("OPTIONS", target, me, "", "")
            .replace(
                &format!("To: <sip:alice@{target}>"),
                "To: sip:%75se%72@example.com",
            )
            .as_bytes(),
    );
    let answer = final_response(&probe).expect("escaped To answered");
    assert!(
        answer.contains("To: sip:%75se%72@example.com;tag=")
            || answer.contains("To: <sip:%75se%72@example.com>;tag="),
        "{answer}"
    );
    // Whitespace around a parameter's `=` is valid (RFC 4475 §3.1.1.1).
    send(
        request("OPTIONS", target, me, "", "")
            .replace(";tag=probe\r\n", " ; tag = probe\r\n")
            .as_bytes(),
    );
    assert_eq!(status_of(&probe), Some(200), "LWS around a tag's =");
    // Another SIP version: 505, answered in ours (RFC 3261 §8.2.2.1).
    send(
        request("OPTIONS", target, me, "", "")
            .replacen(" SIP/2.0\r\n", " SIP/7.0\r\n", 1)
            .as_bytes(),
    );
    assert_eq!(status_of(&probe), Some(505), "SIP/7.0");
    send(request("BYE", target, me, "", "").as_bytes());
    assert_eq!(status_of(&probe), Some(481), "BYE outside a dialog");
    // An INVITE without an offer, or with an offer of nothing we speak.
    send(request("INVITE", target, me, "", "").as_bytes());
    assert_eq!(status_of(&probe), Some(488), "offerless INVITE");
    let speex_only = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 5000 RTP/AVP 96\r\na=rtpmap:96 speex/16000\r\n";
    send(
        request(
            "INVITE",
            target,
            me,
            "Content-Type: application/sdp\r\n",
            speex_only,
        )
        .as_bytes(),
    );
    assert_eq!(status_of(&probe), Some(488), "INVITE with no common codec");
    send(
        request(
            "INVITE",
            target,
            me,
            "Content-Type: application/sdp\r\n",
            "this is not SDP",
        )
        .as_bytes(),
    );
    assert_eq!(
        status_of(&probe),
        Some(400),
        "INVITE whose offer is not SDP"
    );

    // Requests the stack cannot take (RFC 3261 §8.2, §18.3): 400, saying why.
    let options = request("OPTIONS", target, me, "", "");
    let broken = [
        ("missing To", without(&options, "To")),
        ("missing From", without(&options, "From")),
        ("From without a tag", options.replace(";tag=probe", "")),
        ("missing Call-ID", without(&options, "Call-ID")),
        ("missing CSeq", without(&options, "CSeq")),
        (
            "unreadable CSeq",
            options.replace("CSeq: 1 OPTIONS", "CSeq: one OPTIONS"),
        ),
        (
            "CSeq method",
            options.replace("CSeq: 1 OPTIONS", "CSeq: 1 INVITE"),
        ),
        (
            "Content-Length",
            options.replace(
                "Content-Length: 0\r\n\r\n",
                "Content-Length: 500\r\n\r\nabc",
            ),
        ),
    ];
    for (what, text) in broken {
        assert_ne!(text, options, "{what}: the probe changed nothing");
        send(text.as_bytes());
        let (code, warning) = answer_of(&probe).unwrap_or_else(|| panic!("{what}: no answer"));
        assert_eq!(code, 400, "{what}");
        assert!(warning.contains("399 upzento-phone"), "{what}: {warning}");
    }
    // No answer to a broken ACK, and none where there is no Via to answer to.
    send(
        request("ACK", target, me, "", "")
            .replace("CSeq: 1 ACK\r\n", "")
            .as_bytes(),
    );
    send(without(&options, "Via").as_bytes());
    assert_eq!(status_of(&probe), None);

    // Still a working phone.
    let account = alice(&kamailio);
    let registration = ua.register(account.clone()).unwrap();
    registered(&registration).await;
    let call = call_answered(&ua, &account, "bob").await;
    call.hangup();
    call.finished().await;
    registration.stop().await;
}

/// One unreadable message on a TCP connection is skipped; the connection, and whatever
/// else it carries, goes on (before, the stack closed it at the first parse error).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_message_over_tcp_does_not_cut_the_connection() {
    use std::io::{Read, Write};
    let ua = UserAgent::start(LOOPBACK).await.unwrap();
    let target = ua.local_addr().unwrap();
    let mut tcp = std::net::TcpStream::connect(target).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let me = tcp.local_addr().unwrap();
    let over_tcp = |text: String| text.replace("SIP/2.0/UDP", "SIP/2.0/TCP");
    let mut stream = Vec::new();
    stream.extend_from_slice(b"\x01\x02 not sip at all\r\nContent-Length: 0\r\n\r\n");
    stream.extend_from_slice(over_tcp(request("FROBNICATE", target, me, "", "")).as_bytes());
    let padding = format!("X-Padding: {}\r\n", "p".repeat(9_000));
    stream.extend_from_slice(over_tcp(request("OPTIONS", target, me, &padding, "")).as_bytes());
    tcp.write_all(&stream).unwrap();

    let mut received = String::new();
    let mut buf = [0u8; 4096];
    while received.matches("SIP/2.0 ").count() < 2 {
        let n = tokio::task::block_in_place(|| tcp.read(&mut buf)).expect("answers over TCP");
        assert!(n > 0, "connection closed after {received}");
        received.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    let codes: Vec<&str> = received
        .match_indices("SIP/2.0 ")
        .map(|(i, _)| &received[i + 8..i + 11])
        .collect();
    assert_eq!(codes, ["501", "200"], "{received}");
}

/// An INVITE with Replaces may name a call we answered whose ACK has not come yet: our
/// side of the dialog is confirmed once our 200 is out (RFC 3261 §12.1.1), so the
/// attended transfer goes ahead rather than failing with 481.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaces_may_name_a_call_whose_ack_is_still_on_its_way() {
    let ua = UserAgent::start(LOOPBACK).await.unwrap();
    let mut calls = ua.incoming_calls().unwrap();
    let target = ua.local_addr().unwrap();
    let probe = UdpSocket::bind((LOOPBACK, 0)).unwrap();
    probe
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let me = probe.local_addr().unwrap();
    let sdp = format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n",
        me.port() + 2
    );
    let sdp_type = "Content-Type: application/sdp\r\n";
    let first = request("INVITE", target, me, sdp_type, &sdp);
    let call_id = first
        .lines()
        .find_map(|l| l.strip_prefix("Call-ID: "))
        .unwrap()
        .to_owned();
    probe.send_to(first.as_bytes(), target).unwrap();
    let answered = tokio::time::timeout(Duration::from_secs(5), calls.recv())
        .await
        .unwrap()
        .unwrap();
    answered.answer(
        Box::new(upzento_voice::media::audio::Tone::new(440.0, 8000.0)),
        Box::new(upzento_voice::media::audio::Recorder::default()),
    );
    let ok = tokio::task::block_in_place(|| final_response(&probe)).expect("200 OK");
    assert!(ok.starts_with("SIP/2.0 200"), "{ok}");
    let our_tag = ok
        .lines()
        .find(|l| l.starts_with("To:"))
        .and_then(|l| l.split(";tag=").nth(1))
        .unwrap()
        .trim()
        .to_owned();

    // No ACK yet: the replacing INVITE comes first.
    let replaces = format!("Replaces: {call_id};to-tag={our_tag};from-tag=probe\r\n{sdp_type}");
    probe
        .send_to(
            request("INVITE", target, me, &replaces, &sdp).as_bytes(),
            target,
        )
        .unwrap();
    let replacing = tokio::time::timeout(Duration::from_secs(5), calls.recv())
        .await
        .expect("the replacing call was offered (not refused with 481)")
        .unwrap();
    assert_eq!(replacing.replaces.as_deref(), Some(call_id.as_str()));
}
