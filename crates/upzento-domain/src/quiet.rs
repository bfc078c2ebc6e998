//! Quiet hours (47 CFR 64.1200(c)(1), see the shared compliance reference): a campaign
//! message reaches a recipient only between 08:00 and 21:00 of *their* local time. Their
//! zone is their contact's when it is known, else the zones their number's prefix may be
//! in (libphonenumber's map, compiled in from `number_zones.tsv`): with several, a time is
//! allowed only when it is allowed in every one of them (the narrowest window of the
//! area or country). A pure rule: the caller passes the time.

use std::collections::HashMap;
use std::sync::LazyLock;

use jiff::Timestamp;
use jiff::civil::Time;
use jiff::tz::TimeZone;

/// The hours of the day a campaign may text in, local to the recipient: `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    start: Time,
    end: Time,
}

impl Window {
    /// 08:00 to 21:00, the federal rule.
    pub const FEDERAL: Self = Self {
        start: Time::constant(8, 0, 0, 0),
        end: Time::constant(21, 0, 0, 0),
    };

    /// A tenant's own window: inside the federal one (a tenant may only narrow it), and
    /// not empty. `None` otherwise.
    pub fn narrowed(start: Time, end: Time) -> Option<Self> {
        (start < end && start >= Self::FEDERAL.start && end <= Self::FEDERAL.end)
            .then_some(Self { start, end })
    }

    /// A window from `HH:MM` texts (a tenant's setting): inside the federal one and not
    /// empty, or why not.
    pub fn from_hhmm(start: &str, end: &str) -> Result<Self, String> {
        let time = |text: &str| -> Result<Time, String> {
            let (h, m) = text
                .split_once(':')
                .filter(|(h, m)| h.len() == 2 && m.len() == 2)
                .ok_or_else(|| format!("“{text}” is not a time as HH:MM."))?;
            let (h, m): (i8, i8) = (
                h.parse()
                    .map_err(|_| format!("“{text}” is not a time as HH:MM."))?,
                m.parse()
                    .map_err(|_| format!("“{text}” is not a time as HH:MM."))?,
            );
            Time::new(h, m, 0, 0).map_err(|_| format!("“{text}” is not a time of day."))
        };
        Self::narrowed(time(start)?, time(end)?).ok_or_else(|| {
            "Campaign hours lie within 08:00 to 21:00 of the recipient's day (the law's), the \
             start before the end."
                .to_owned()
        })
    }

    pub fn start(self) -> Time {
        self.start
    }

    pub fn end(self) -> Time {
        self.end
    }

    fn allows(self, at: Timestamp, zone: &TimeZone) -> bool {
        let time = at.to_zoned_datetime(zone.clone()).time();
        self.start <= time && time < self.end
    }
}

/// Number prefixes (E.164 digits) and the zones a number with that prefix may be in.
static PREFIXES: LazyLock<HashMap<&'static str, Vec<&'static str>>> = LazyLock::new(|| {
    include_str!("number_zones.tsv")
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('\t'))
        .map(|(prefix, zones)| (prefix, zones.split(' ').collect()))
        .collect()
});

/// The longest prefix in the table.
const LONGEST_PREFIX: usize = 9;

/// The zones an E.164 number may be in, by its longest known prefix (a NANP area code
/// names one or two; a country code alone, all of the country's). Empty when unknown.
pub fn number_zones(e164: &str) -> Vec<TimeZone> {
    let digits = e164.strip_prefix('+').unwrap_or(e164);
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Vec::new();
    }
    (1..=digits.len().min(LONGEST_PREFIX))
        .rev()
        .find_map(|n| PREFIXES.get(&digits[..n]))
        .map(|names| names.iter().filter_map(|n| crate::tz::zone(n)).collect())
        .unwrap_or_default()
}

/// The zones of a recipient: their contact's zone when it is a known one, else their
/// number's.
pub fn recipient_zones(contact_zone: Option<&str>, e164: &str) -> Vec<TimeZone> {
    match contact_zone.and_then(crate::tz::zone) {
        Some(zone) => vec![zone],
        None => number_zones(e164),
    }
}

/// How many days ahead a window is looked for (a week, and a day for the date line).
const HORIZON_DAYS: i64 = 8;

/// The first instant at or after `now` inside `window` in every one of `zones`: `now`
/// itself when it is allowed. `None` when there is none (no zone known, or zones too far
/// apart to share an hour), and the message must not go.
pub fn next_allowed(now: Timestamp, zones: &[TimeZone], window: Window) -> Option<Timestamp> {
    if zones.is_empty() {
        return None;
    }
    // Where the windows of several zones overlap, the overlap begins at `now` or at one
    // zone's opening: those are the only candidates.
    let mut candidates = vec![now];
    for zone in zones {
        let today = now.to_zoned_datetime(zone.clone()).date();
        for day in 0..=HORIZON_DAYS {
            let Ok(date) = today.checked_add(jiff::Span::new().days(day)) else {
                continue;
            };
            if let Ok(opening) = date
                .to_datetime(window.start)
                .to_zoned_datetime(zone.clone())
            {
                let at = opening.timestamp();
                if at > now {
                    candidates.push(at);
                }
            }
        }
    }
    candidates.sort();
    candidates
        .into_iter()
        .find(|at| zones.iter().all(|z| window.allows(*at, z)))
}

/// The first instant at or after `start` when the clock reads `at` in every one of
/// `zones` has passed: a campaign sent "at 10:00 in each recipient's own time" reaches a
/// recipient then. `None` without a zone.
pub fn local_time_after(start: Timestamp, zones: &[TimeZone], at: Time) -> Option<Timestamp> {
    zones
        .iter()
        .filter_map(|zone| {
            let today = start.to_zoned_datetime(zone.clone()).date();
            (0..=2)
                .filter_map(|day| {
                    let date = today.checked_add(jiff::Span::new().days(day)).ok()?;
                    let zoned = date.to_datetime(at).to_zoned_datetime(zone.clone()).ok()?;
                    Some(zoned.timestamp())
                })
                .find(|t| *t >= start)
        })
        .max()
}

/// [`local_time_after`] in Unix milliseconds.
pub fn local_time_after_ms(start_ms: i64, zones: &[TimeZone], at: Time) -> Option<i64> {
    let start = Timestamp::from_millisecond(start_ms).ok()?;
    local_time_after(start, zones, at).map(Timestamp::as_millisecond)
}

/// A time of day written `HH:MM`.
pub fn parse_hhmm(text: &str) -> Option<Time> {
    let (h, m) = text.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    Time::new(h.parse().ok()?, m.parse().ok()?, 0, 0).ok()
}

/// [`next_allowed`] in Unix milliseconds, for callers on another time library.
pub fn next_allowed_ms(now_ms: i64, zones: &[TimeZone], window: Window) -> Option<i64> {
    let now = Timestamp::from_millisecond(now_ms).ok()?;
    next_allowed(now, zones, window).map(Timestamp::as_millisecond)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_time_comes_in_each_zone_in_turn() {
        let ten = Time::constant(10, 0, 0, 0);
        // Started 06:00 UTC on 8 December: 10:00 comes in Madrid that day at 09:00 UTC, in
        // New York at 15:00 UTC, and in Los Angeles at 18:00 UTC.
        let start = at("2026-12-08T06:00:00Z");
        for (zone, expected) in [
            ("Europe/Madrid", "2026-12-08T09:00:00Z"),
            ("America/New_York", "2026-12-08T15:00:00Z"),
            ("America/Los_Angeles", "2026-12-08T18:00:00Z"),
            // Already past 10:00 in Tokyo (15:00 there): the next day's.
            ("Asia/Tokyo", "2026-12-09T01:00:00Z"),
        ] {
            assert_eq!(
                local_time_after(start, &zones(&[zone]), ten),
                Some(at(expected)),
                "{zone}"
            );
        }
        // A number that may be in two zones: when it has come in both.
        assert_eq!(
            local_time_after(start, &zones(&["America/New_York", "America/Chicago"]), ten),
            Some(at("2026-12-08T16:00:00Z"))
        );
        assert_eq!(local_time_after(start, &[], ten), None);
        assert_eq!(parse_hhmm("09:30"), Some(Time::constant(9, 30, 0, 0)));
        for bad in ["9:30", "24:00", "09:60", "0930", "ab:cd"] {
            assert_eq!(parse_hhmm(bad), None, "{bad}");
        }
    }

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn zones(names: &[&str]) -> Vec<TimeZone> {
        names.iter().map(|n| crate::tz::zone(n).unwrap()).collect()
    }

    #[test]
    fn every_zone_of_the_table_is_in_the_tz_database() {
        for names in PREFIXES.values() {
            for name in names {
                assert!(crate::tz::is_known(name), "{name}");
            }
        }
        assert!(PREFIXES.keys().all(|p| p.len() <= LONGEST_PREFIX));
    }

    #[test]
    fn a_number_is_placed_by_its_longest_prefix() {
        let names = |n: &str| {
            number_zones(n)
                .iter()
                .map(|z| z.iana_name().unwrap().to_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(names("+12015550123"), ["America/New_York"]);
        assert_eq!(names("+18085550123"), ["Pacific/Honolulu"]);
        assert_eq!(names("+4930123456"), ["Europe/Berlin"]);
        // Australia: the whole country when the prefix says no more.
        assert!(names("+61").len() > 3);
        assert!(names("+999123").is_empty());
        assert!(names("+1abc").is_empty());
        // A contact's own zone wins over the number's.
        assert_eq!(
            recipient_zones(Some("America/Chicago"), "+12015550123")[0].iana_name(),
            Some("America/Chicago")
        );
        assert_eq!(
            recipient_zones(Some("Mars/Olympus"), "+12015550123")[0].iana_name(),
            Some("America/New_York")
        );
    }

    #[test]
    fn inside_the_window_now_outside_it_at_the_next_opening() {
        let ny = zones(&["America/New_York"]);
        let w = Window::FEDERAL;
        // 14:00 in New York (EST, UTC-5): now.
        let now = at("2026-12-07T19:00:00Z");
        assert_eq!(next_allowed(now, &ny, w), Some(now));
        // 21:00 sharp is too late: 08:00 the next morning.
        assert_eq!(
            next_allowed(at("2026-12-08T02:00:00Z"), &ny, w),
            Some(at("2026-12-08T13:00:00Z"))
        );
        // 02:00: the same morning at 08:00.
        assert_eq!(
            next_allowed(at("2026-12-08T07:00:00Z"), &ny, w),
            Some(at("2026-12-08T13:00:00Z"))
        );
        // Across the change to summer time: 08:00 EDT is 12:00 UTC.
        assert_eq!(
            next_allowed(at("2027-03-14T03:00:00Z"), &ny, w),
            Some(at("2027-03-14T12:00:00Z"))
        );
    }

    #[test]
    fn several_zones_share_only_their_common_hours() {
        // New York and Los Angeles: 11:00 to 21:00 New York time.
        let both = zones(&["America/New_York", "America/Los_Angeles"]);
        let w = Window::FEDERAL;
        // 09:00 in New York, 06:00 in Los Angeles: wait for 08:00 there.
        assert_eq!(
            next_allowed(at("2026-12-07T14:00:00Z"), &both, w),
            Some(at("2026-12-07T16:00:00Z"))
        );
        // Two 13-hour windows always meet somewhere on the clock; three zones eight hours
        // apart share no hour: never.
        let apart = zones(&["America/Los_Angeles", "Europe/London", "Asia/Shanghai"]);
        assert_eq!(next_allowed(at("2026-12-07T14:00:00Z"), &apart, w), None);
        assert_eq!(next_allowed(at("2026-12-07T14:00:00Z"), &[], w), None);
    }

    #[test]
    fn across_the_date_line() {
        // Kiritimati (UTC+14) and Pago Pago (UTC-11): a day and an hour apart, so their
        // hours meet although their dates never do.
        let w = Window::FEDERAL;
        let kiribati = zones(&["Pacific/Kiritimati"]);
        // 22:00 on Monday in Kiritimati is 08:00 UTC Monday: held to 08:00 Tuesday there.
        assert_eq!(
            next_allowed(at("2026-12-07T08:00:00Z"), &kiribati, w),
            Some(at("2026-12-07T18:00:00Z"))
        );
        let pair = zones(&["Pacific/Kiritimati", "Pacific/Pago_Pago"]);
        let first = next_allowed(at("2026-12-07T08:00:00Z"), &pair, w).unwrap();
        for z in &pair {
            assert!(w.allows(first, z));
        }
    }

    #[test]
    fn a_tenants_hours_are_read_as_hh_mm() {
        assert_eq!(Window::from_hhmm("08:00", "21:00"), Ok(Window::FEDERAL));
        assert!(Window::from_hhmm("09:30", "20:00").is_ok());
        for (start, end) in [
            ("07:59", "20:00"),
            ("09:00", "21:01"),
            ("12:00", "11:00"),
            ("9:00", "20:00"),
            ("25:00", "26:00"),
            ("ab:cd", "20:00"),
        ] {
            assert!(Window::from_hhmm(start, end).is_err(), "{start}-{end}");
        }
    }

    #[test]
    fn a_tenant_may_only_narrow_the_window() {
        let t = |h, m| Time::constant(h, m, 0, 0);
        assert!(Window::narrowed(t(9, 0), t(20, 0)).is_some());
        assert!(Window::narrowed(t(7, 0), t(20, 0)).is_none());
        assert!(Window::narrowed(t(9, 0), t(22, 0)).is_none());
        assert!(Window::narrowed(t(12, 0), t(12, 0)).is_none());
        let florida = Window::narrowed(t(8, 0), t(20, 0)).unwrap();
        assert_eq!(
            next_allowed(
                at("2026-12-08T01:30:00Z"),
                &zones(&["America/New_York"]),
                florida
            ),
            Some(at("2026-12-08T13:00:00Z"))
        );
    }
}
