//! A campaign's outcomes over time: events counted per interval, the interval chosen so
//! that a run of minutes or of weeks both make a readable chart (at most 60 points).

/// Intervals a chart may use, in seconds: a minute to a day.
const INTERVALS: &[i64] = &[60, 300, 900, 3600, 6 * 3600, 86_400];
/// The most points a series has.
pub const MAX_POINTS: i64 = 60;

/// The interval for events spanning `span_ms`: the shortest giving at most [`MAX_POINTS`]
/// points (a day for anything longer).
pub fn interval_for(span_ms: i64) -> i64 {
    let span = span_ms.max(0) / 1000;
    INTERVALS
        .iter()
        .copied()
        .find(|i| span / i < MAX_POINTS)
        .unwrap_or(86_400)
}

/// What happened at a moment of a campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Sent,
    Delivered,
    Replied,
}

/// One interval's counts, starting at `start_ms`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Point {
    pub start_ms: i64,
    pub sent: i64,
    pub delivered: i64,
    pub replied: i64,
}

/// `events` (time in ms, what) counted per interval from the first to the last, every
/// interval present (zeros included: a chart must show the quiet ones); returns the
/// interval in seconds and the points.
pub fn series(events: &[(i64, Event)]) -> (i64, Vec<Point>) {
    let (Some(first), Some(last)) = (
        events.iter().map(|e| e.0).min(),
        events.iter().map(|e| e.0).max(),
    ) else {
        return (INTERVALS[0], Vec::new());
    };
    let interval = interval_for(last - first);
    let step = interval * 1000;
    let start = first.div_euclid(step) * step;
    let n = usize::try_from((last - start) / step + 1).unwrap_or(0);
    let mut points: Vec<Point> = (0..n)
        .map(|i| Point {
            start_ms: start + i64::try_from(i).unwrap_or(0) * step,
            ..Point::default()
        })
        .collect();
    for (at, event) in events {
        let Ok(i) = usize::try_from((at - start) / step) else {
            continue;
        };
        let Some(p) = points.get_mut(i) else { continue };
        match event {
            Event::Sent => p.sent += 1,
            Event::Delivered => p.delivered += 1,
            Event::Replied => p.replied += 1,
        }
    }
    (interval, points)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_interval_keeps_a_chart_readable() {
        assert_eq!(interval_for(0), 60);
        assert_eq!(interval_for(59 * 60_000), 60);
        assert_eq!(interval_for(60 * 60_000), 300);
        assert_eq!(interval_for(10 * 3_600_000), 900);
        assert_eq!(interval_for(2 * 86_400_000), 3600);
        assert_eq!(interval_for(3 * 86_400_000), 6 * 3600);
        assert_eq!(interval_for(400 * 86_400_000), 86_400);
    }

    #[test]
    fn events_are_counted_per_interval_quiet_ones_included() {
        let m = 60_000;
        let t0 = 1_800_000_000_000 - 1_800_000_000_000 % m;
        let (interval, points) = series(&[
            (t0 + 5_000, Event::Sent),
            (t0 + 6_000, Event::Sent),
            (t0 + 30_000, Event::Delivered),
            (t0 + 3 * m + 1, Event::Replied),
        ]);
        assert_eq!(interval, 60);
        assert_eq!(points.len(), 4);
        assert_eq!(
            (points[0].start_ms, points[0].sent, points[0].delivered),
            (t0, 2, 1)
        );
        assert_eq!(
            points[1],
            Point {
                start_ms: t0 + m,
                ..Point::default()
            }
        );
        assert_eq!(points[3].replied, 1);
        assert_eq!(series(&[]), (60, Vec::new()));
    }
}
