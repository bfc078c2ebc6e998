//! Time formats of the cloud. Handlers read the clock once per request with
//! [`now`] and pass the value down; nothing below them reads it.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The current time, truncated to milliseconds so that both backends store
/// and return exactly the same instant.
pub fn now() -> OffsetDateTime {
    from_ms(to_ms(OffsetDateTime::now_utc()))
}

pub fn to_ms(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

pub fn from_ms(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// RFC 3339 in UTC with millisecond precision, e.g. `2026-11-24T18:25:37.123Z`.
pub fn rfc3339(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

pub fn parse_rfc3339(s: &str) -> anyhow::Result<OffsetDateTime> {
    Ok(OffsetDateTime::parse(s, &Rfc3339)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_milliseconds_and_text() {
        let t = from_ms(1_795_545_937_123);
        assert_eq!(rfc3339(t), "2026-11-24T18:45:37.123Z");
        assert_eq!(parse_rfc3339(&rfc3339(t)).unwrap(), t);
        assert_eq!(to_ms(t), 1_795_545_937_123);
        assert_eq!(now().nanosecond() % 1_000_000, 0);
    }
}
