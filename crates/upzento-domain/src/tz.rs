//! IANA time zones (the recipient's local time for quiet hours, a contact's zone),
//! looked up in the tz database compiled into the program.

use jiff::tz::TimeZone;

/// The zone named `name` (`America/New_York`, `UTC`), if the tz database has it.
/// Names are matched as the database spells them, case-insensitively.
pub fn zone(name: &str) -> Option<TimeZone> {
    if name.is_empty() || name.len() > 64 || name.contains(['\0', ' ']) {
        return None;
    }
    jiff::tz::db().get(name).ok()
}

/// Whether `name` is a zone of the tz database.
pub fn is_known(name: &str) -> bool {
    zone(name).is_some()
}

/// The database's own spelling of the zone `name` (`america/chicago` → `America/Chicago`).
pub fn canonical(name: &str) -> Option<String> {
    zone(name).and_then(|z| z.iana_name().map(str::to_owned))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones_of_the_database_only() {
        for known in [
            "America/New_York",
            "Europe/Berlin",
            "UTC",
            "Asia/Kolkata",
            "america/chicago",
        ] {
            assert!(is_known(known), "{known}");
        }
        assert_eq!(
            canonical("america/chicago").as_deref(),
            Some("America/Chicago")
        );
        for unknown in [
            "Mars/Olympus",
            "America/Springfield",
            "",
            "Europe/",
            "../etc/passwd",
            "EST5EDT ",
        ] {
            assert!(!is_known(unknown), "{unknown}");
        }
    }
}
