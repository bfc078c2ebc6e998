#![allow(clippy::unwrap_used)]

use super::*;

fn drain(r: &mut Registration) -> Vec<Output> {
    std::iter::from_fn(|| r.poll_output()).collect()
}

fn ok(expires: u32) -> Input {
    Input::Response {
        code: 200,
        reason: "OK".into(),
        expires: Some(expires),
        min_expires: None,
    }
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[test]
fn registers_then_refreshes_before_the_binding_lapses() {
    let t0 = Instant::now();
    let mut r = Registration::new(Config::default(), 7);
    assert_eq!(r.poll_timeout(), None);
    r.handle_input(t0, Input::Start);
    assert_eq!(
        drain(&mut r),
        vec![
            Output::State(State::Registering),
            Output::Register { expires: 600 }
        ]
    );
    // No timer while the REGISTER is in flight: the driver's transaction times out.
    assert_eq!(r.poll_timeout(), None);
    let t1 = t0 + Duration::from_millis(12);
    // The registrar grants less than asked: refresh on its figure.
    r.handle_input(t1, ok(300));
    assert_eq!(
        drain(&mut r),
        vec![Output::State(State::Registered {
            until: t1 + secs(300)
        })]
    );
    let refresh = r.poll_timeout().unwrap();
    assert_eq!(refresh, t1 + secs(270));
    r.handle_timeout(refresh - Duration::from_millis(1));
    assert!(drain(&mut r).is_empty(), "not yet");
    r.handle_timeout(refresh);
    // The refresh goes out while the account still shows registered.
    assert_eq!(drain(&mut r), vec![Output::Register { expires: 600 }]);
    r.handle_input(refresh + Duration::from_millis(8), ok(300));
    assert_eq!(
        drain(&mut r),
        vec![Output::State(State::Registered {
            until: refresh + Duration::from_millis(8) + secs(300)
        })]
    );
}

#[test]
fn failures_back_off_and_wrong_credentials_wait_long() {
    let t0 = Instant::now();
    let mut r = Registration::new(Config::default(), 42);
    r.handle_input(t0, Input::Start);
    drain(&mut r);
    // No answer: retry within [1.5 s, 2 s], then within [3 s, 4 s], ...
    let mut now = t0;
    let mut delays = Vec::new();
    for _ in 0..7 {
        r.handle_input(
            now,
            Input::NoAnswer {
                detail: "timeout".into(),
            },
        );
        let out = drain(&mut r);
        assert!(
            matches!(out.last(), Some(Output::State(State::Failing { .. }))),
            "{out:?}"
        );
        let retry = r.poll_timeout().unwrap();
        delays.push(retry - now);
        now = retry;
        r.handle_timeout(now);
        assert_eq!(
            drain(&mut r),
            vec![
                Output::State(State::Registering),
                Output::Register { expires: 600 }
            ]
        );
    }
    for (i, d) in delays.iter().enumerate() {
        let full = secs(2 << i).min(secs(60));
        assert!(*d <= full && *d >= full - full / 4, "retry {i}: {d:?}");
    }
    // A 5xx counts the same; a success resets the backoff.
    r.handle_input(now, ok(600));
    drain(&mut r);
    assert_eq!(r.poll_timeout(), Some(now + secs(540)));

    // Wrong password: failing, with the reason, and no retry for five minutes.
    let mut r = Registration::new(Config::default(), 42);
    r.handle_input(t0, Input::Start);
    drain(&mut r);
    r.handle_input(
        t0,
        Input::Response {
            code: 403,
            reason: "Forbidden".into(),
            expires: None,
            min_expires: None,
        },
    );
    let failure = Failure::Credentials {
        code: 403,
        reason: "Forbidden".into(),
    };
    assert_eq!(
        failure.to_string(),
        "wrong user name or password (403 Forbidden)"
    );
    assert_eq!(
        drain(&mut r),
        vec![Output::State(State::Failing {
            failure,
            retry_at: t0 + secs(300)
        })]
    );
}

#[test]
fn interval_too_brief_asks_again_with_the_minimum() {
    let t0 = Instant::now();
    let mut r = Registration::new(
        Config {
            expires: 60,
            ..Config::default()
        },
        1,
    );
    r.handle_input(t0, Input::Start);
    drain(&mut r);
    r.handle_input(
        t0,
        Input::Response {
            code: 423,
            reason: "Interval Too Brief".into(),
            expires: None,
            min_expires: Some(120),
        },
    );
    assert_eq!(drain(&mut r), vec![Output::Register { expires: 120 }]);
    r.handle_input(t0, ok(120));
    assert!(matches!(r.state(), State::Registered { .. }));
}

#[test]
fn a_network_change_re_registers_at_once_and_stop_unregisters() {
    let t0 = Instant::now();
    let mut r = Registration::new(Config::default(), 3);
    r.handle_input(t0, Input::Start);
    drain(&mut r);
    r.handle_input(t0, ok(600));
    drain(&mut r);
    let t1 = t0 + secs(100);
    r.handle_input(t1, Input::NetworkChanged);
    assert_eq!(
        drain(&mut r),
        vec![
            Output::State(State::Registering),
            Output::Register { expires: 600 }
        ]
    );
    // Another change while that REGISTER is in flight adds nothing.
    r.handle_input(t1, Input::NetworkChanged);
    assert!(drain(&mut r).is_empty());
    r.handle_input(t1, ok(600));
    drain(&mut r);
    r.handle_input(t1, Input::Stop);
    assert_eq!(
        drain(&mut r),
        vec![Output::State(State::Idle), Output::Unregister]
    );
    assert_eq!(r.poll_timeout(), None);
    // A late answer after the stop changes nothing.
    r.handle_input(t1, ok(600));
    assert!(drain(&mut r).is_empty());
    assert_eq!(r.state(), &State::Idle);
}

#[test]
fn refresh_margins_fit_short_and_long_bindings() {
    assert_eq!(refresh_after(3600), secs(3540));
    assert_eq!(refresh_after(600), secs(540));
    assert_eq!(refresh_after(60), secs(54));
    assert_eq!(refresh_after(10), secs(5));
    assert_eq!(refresh_after(1), secs(1));
}

#[test]
fn a_refresh_left_unanswered_past_the_binding_is_abandoned() {
    let t0 = Instant::now();
    let mut r = Registration::new(Config::default(), 5);
    r.handle_input(t0, Input::Start);
    drain(&mut r);
    r.handle_input(t0, ok(60));
    drain(&mut r);
    let refresh = r.poll_timeout().unwrap();
    r.handle_timeout(refresh);
    assert_eq!(drain(&mut r), vec![Output::Register { expires: 600 }]);
    // Unanswered: the next deadline is the end of the binding, not another refresh.
    assert_eq!(r.poll_timeout(), Some(t0 + secs(60)));
    r.handle_timeout(t0 + secs(59));
    assert!(drain(&mut r).is_empty());
    r.handle_timeout(t0 + secs(60));
    let out = drain(&mut r);
    assert_eq!(out[0], Output::Abandon);
    assert!(
        matches!(&out[1], Output::State(State::Failing { failure: Failure::Unreachable { .. }, retry_at })
            if *retry_at > t0 + secs(60) && *retry_at <= t0 + secs(62)),
        "{out:?}"
    );
    // The abandoned REGISTER's late answer is ignored; the retry goes out on time.
    r.handle_input(t0 + secs(61), ok(60));
    assert!(matches!(r.state(), State::Failing { .. }));
    let retry = r.poll_timeout().unwrap();
    r.handle_timeout(retry);
    assert_eq!(
        drain(&mut r),
        vec![
            Output::State(State::Registering),
            Output::Register { expires: 600 }
        ]
    );
}

#[test]
fn keepalives_go_out_while_registered_and_one_unanswered_registers_again() {
    let t0 = Instant::now();
    let config = Config {
        keepalive: Some(secs(30)),
        ..Config::default()
    };
    let mut r = Registration::new(config, 7);
    r.handle_input(t0, Input::Start);
    drain(&mut r);
    r.handle_input(t0, ok(600));
    drain(&mut r);
    assert_eq!(r.poll_timeout(), Some(t0 + secs(30)), "the keepalive first");
    r.handle_timeout(t0 + secs(30));
    assert_eq!(drain(&mut r), vec![Output::Keepalive]);
    // One at a time: the next waits for the answer.
    assert_eq!(
        r.poll_timeout(),
        Some(t0 + secs(540)),
        "then only the refresh"
    );
    r.handle_input(t0 + secs(31), Input::KeepaliveAnswered);
    assert!(drain(&mut r).is_empty(), "still registered, nothing to say");
    assert_eq!(r.poll_timeout(), Some(t0 + secs(61)));
    r.handle_timeout(t0 + secs(61));
    assert_eq!(drain(&mut r), vec![Output::Keepalive]);
    // Unanswered: register again now, rather than trust the binding for 8 more minutes.
    r.handle_input(
        t0 + secs(93),
        Input::KeepaliveFailed {
            detail: "timeout".into(),
        },
    );
    assert_eq!(
        drain(&mut r),
        vec![
            Output::State(State::Registering),
            Output::Register { expires: 600 }
        ]
    );
    // No keepalive beside a REGISTER in flight.
    assert_eq!(r.poll_timeout(), None);
    r.handle_input(t0 + secs(94), ok(600));
    drain(&mut r);
    assert_eq!(r.poll_timeout(), Some(t0 + secs(124)));
}

#[test]
fn a_refresh_due_goes_before_a_keepalive_and_stop_ends_them() {
    let t0 = Instant::now();
    let config = Config {
        keepalive: Some(secs(30)),
        ..Config::default()
    };
    let mut r = Registration::new(config, 7);
    r.handle_input(t0, Input::Start);
    drain(&mut r);
    // A 20 s binding: its refresh (at 15 s) comes before the first keepalive.
    r.handle_input(t0, ok(20));
    drain(&mut r);
    let at = r.poll_timeout().unwrap();
    assert_eq!(at, t0 + secs(15));
    // Woken late, both are due: the REGISTER goes, the keepalive does not.
    r.handle_timeout(t0 + secs(40));
    assert_eq!(drain(&mut r), vec![Output::Register { expires: 600 }]);
    r.handle_input(t0 + secs(41), ok(600));
    drain(&mut r);
    r.handle_input(t0 + secs(42), Input::Stop);
    assert_eq!(
        drain(&mut r),
        vec![Output::State(State::Idle), Output::Unregister]
    );
    assert_eq!(r.poll_timeout(), None);
    // A late answer to a keepalive changes nothing.
    r.handle_input(t0 + secs(43), Input::KeepaliveFailed { detail: "x".into() });
    assert!(drain(&mut r).is_empty());
}
