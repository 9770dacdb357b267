//! The calendar: yearly profiles of articles, till traffic of a day, the time of a ticket and
//! Santiago local time.

use std::f64::consts::PI;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc, Weekday};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::data::Season;

/// The yearly profile of an article on a date.
pub(crate) fn season_factor(season: Season, date: NaiveDate) -> f64 {
    let doy = f64::from(date.ordinal());
    let wave = |peak: f64| (2.0 * PI * (doy - peak) / 365.25).cos();
    let (m, d) = (date.month(), date.day());
    match season {
        Season::Flat => 1.0 + 0.05 * wave(15.0),
        Season::Summer => 1.0 + 0.55 * wave(20.0),
        Season::Winter => 1.0 + 0.5 * wave(200.0),
        Season::Asado => {
            let patrias = match (m, d) {
                (9, 10..=13) => 2.0,
                (9, 14..=17) => 4.5,
                (9, 18..=19) => 3.0,
                (9, 20) => 1.3,
                (12, 24) | (12, 31) => 1.8,
                _ => 1.0,
            };
            (1.0 + 0.45 * wave(20.0)) * patrias
        }
        Season::Christmas => match (m, d) {
            (12, 10..=31) => 5.0 + f64::from(d - 10) * 0.4,
            (11, 20..=30) | (12, 1..=9) => 1.5,
            (1, 1..=2) => 0.8,
            _ => 0.08,
        },
        Season::School => match (m, d) {
            (3, _) => 2.0,
            (2, 20..=29) => 1.7,
            (1, _) | (2, _) => 0.7,
            _ => 1.0,
        },
    }
}

/// Till traffic of a day against an ordinary day: weekday, month, holidays, paydays, trend.
pub(crate) fn traffic(date: NaiveDate, day: u32, days: u32) -> f64 {
    let weekday = match date.weekday() {
        Weekday::Mon => 0.82,
        Weekday::Tue => 0.85,
        Weekday::Wed => 0.9,
        Weekday::Thu => 0.97,
        Weekday::Fri => 1.18,
        Weekday::Sat => 1.35,
        Weekday::Sun => 0.93,
    };
    let month = [0.95, 0.85, 1.0, 0.97, 0.98, 0.97, 1.0, 0.98, 1.08, 1.0, 1.0, 1.15][date.month0() as usize];
    let holiday = match (date.month(), date.day()) {
        (1, 1) => 0.45,
        (5, 1) => 0.7,
        (9, 14..=17) => 1.3,
        (9, 18) => 0.8,
        (9, 19) => 0.7,
        (12, 24) => 1.4,
        (12, 25) => 0.4,
        (12, 31) => 1.3,
        _ => 1.0,
    };
    let payday = if date.day() >= 28 || date.day() <= 2 { 1.08 } else { 1.0 };
    let trend = 0.96 + 0.08 * f64::from(day) / f64::from(days.max(1));
    weekday * month * holiday * payday * trend
}

/// A till ticket's local time in minutes after midnight: 08:00–19:59, peaks at lunch and after
/// work.
pub(crate) fn ticket_minute(rng: &mut ChaCha8Rng) -> u32 {
    const HOURS: [f64; 12] = [3.0, 4.0, 5.0, 7.0, 6.0, 4.0, 4.0, 5.0, 7.0, 9.0, 8.0, 5.0];
    let total: f64 = HOURS.iter().sum();
    let mut x = rng.gen_range(0.0..total);
    let mut hour = 8;
    for (i, w) in HOURS.iter().enumerate() {
        if x < *w {
            hour = 8 + i as u32;
            break;
        }
        x -= w;
    }
    hour * 60 + rng.gen_range(0..60)
}

/// Santiago local time to UTC (UTC−3 in summer time, September to early April; UTC−4
/// otherwise). Shops close at 20:00, so the UTC date of a sale is its local date.
pub(crate) fn local_to_utc(date: NaiveDate, hour: u32, minute: u32) -> DateTime<Utc> {
    let summer = match date.month() {
        10..=12 | 1..=3 => true,
        9 => date.day() >= 7,
        4 => date.day() < 5,
        _ => false,
    };
    let offset = if summer { 3 } else { 4 };
    let naive = date.and_hms_opt(hour, minute, 0).unwrap_or_default();
    DateTime::<Utc>::from_naive_utc_and_offset(naive, Utc) + Duration::hours(offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shop_hours_keep_the_local_date_in_utc() {
        for (m, d) in [(1, 15), (7, 15), (9, 18), (4, 2)] {
            let date = NaiveDate::from_ymd_opt(2026, m, d).unwrap_or_default();
            assert_eq!(local_to_utc(date, 19, 59).date_naive(), date);
            assert_eq!(local_to_utc(date, 8, 0).date_naive(), date);
        }
    }
}
