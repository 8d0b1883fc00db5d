//! Interpreting the `Retry-After` header (RFC 9110 §10.2.3).
//!
//! Pure and clock-free: the caller passes `now`, so the core's tests can
//! pin time and the date form is testable without sleeping.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Parse `delay-seconds` or an `HTTP-date` into how long to wait from `now`.
/// A date in the past means "now" (zero). Unparseable values give `None`,
/// letting the caller fall back to its own backoff.
pub fn parse(raw: &str, now: SystemTime) -> Option<Duration> {
    let raw = raw.trim();
    if !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit()) {
        // An absurdly long digit string saturates rather than failing: the
        // server clearly meant "a long time", and the caller caps it anyway.
        return Some(Duration::from_secs(raw.parse::<u64>().unwrap_or(u64::MAX)));
    }
    let when = parse_http_date(raw)?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Accepts the three forms RFC 9110 obliges recipients to read:
/// `Sun, 06 Nov 1994 08:49:37 GMT` (IMF-fixdate),
/// `Sunday, 06-Nov-94 08:49:37 GMT` (RFC 850) and
/// `Sun Nov  6 08:49:37 1994` (asctime).
pub fn parse_http_date(raw: &str) -> Option<SystemTime> {
    let parts: Vec<&str> = raw.split_whitespace().collect();
    let (day, month, year, time) = match parts.as_slice() {
        [_weekday, day, month, year, time, "GMT"] if _weekday.ends_with(',') => {
            (day.parse().ok()?, *month, year.parse().ok()?, *time)
        }
        [_weekday, date, time, "GMT"] if _weekday.ends_with(',') => {
            let mut fields = date.split('-');
            let day = fields.next()?.parse().ok()?;
            let month = fields.next()?;
            let yy: i64 = fields.next()?.parse().ok()?;
            if fields.next().is_some() {
                return None;
            }
            // RFC 9110: a two-digit year more than 50 years in the future is
            // in the past century. Anchored at 2000 for determinism.
            let year = if yy < 100 {
                if yy >= 70 {
                    1900 + yy
                } else {
                    2000 + yy
                }
            } else {
                yy
            };
            (day, month, year, *time)
        }
        [_weekday, month, day, time, year] => {
            (day.parse().ok()?, *month, year.parse().ok()?, *time)
        }
        _ => return None,
    };
    let month = month_number(month)?;
    let mut hms = time.split(':');
    let hour: i64 = hms.next()?.parse().ok()?;
    let minute: i64 = hms.next()?.parse().ok()?;
    let second: i64 = hms.next()?.parse().ok()?;
    if hms.next().is_some()
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        // 60 allows a leap second.
        || second > 60
        || !(1970..=9999).contains(&year)
    {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3_600 + minute * 60 + second;
    Some(UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).ok()?))
}

fn month_number(name: &str) -> Option<i64> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    MONTHS.iter().position(|m| *m == name).map(|i| i as i64 + 1)
}

/// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's
/// algorithm), avoiding a date-time dependency for one header.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    // 1994-11-06T08:49:37Z, the RFC's own example.
    const RFC_EXAMPLE: u64 = 784_111_777;

    #[test]
    fn delay_seconds() {
        assert_eq!(parse("120", at(0)), Some(Duration::from_secs(120)));
        assert_eq!(parse(" 0 ", at(0)), Some(Duration::ZERO));
        assert_eq!(
            parse("99999999999999999999999", at(0)),
            Some(Duration::from_secs(u64::MAX))
        );
    }

    #[test]
    fn all_three_date_forms() {
        let now = at(RFC_EXAMPLE - 30);
        for raw in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ] {
            assert_eq!(parse(raw, now), Some(Duration::from_secs(30)), "{raw}");
        }
    }

    #[test]
    fn dates_in_the_past_mean_now() {
        assert_eq!(
            parse("Sun, 06 Nov 1994 08:49:37 GMT", at(RFC_EXAMPLE + 100)),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn leap_year_and_epoch_arithmetic() {
        assert_eq!(
            parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"),
            Some(at(0))
        );
        // 2024-02-29T12:00:00Z
        assert_eq!(
            parse_http_date("Thu, 29 Feb 2024 12:00:00 GMT"),
            Some(at(1_709_208_000))
        );
        // 2038-01-19T03:14:08Z, one past i32.
        assert_eq!(
            parse_http_date("Tue, 19 Jan 2038 03:14:08 GMT"),
            Some(at(2_147_483_648))
        );
    }

    #[test]
    fn garbage_is_none() {
        for raw in [
            "",
            "soon",
            "-5",
            "1.5",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 32 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun, 06 Nov 1994 08:49 GMT",
            "Sun, 06 Nov 1960 08:49:37 GMT",
        ] {
            assert_eq!(parse(raw, at(0)), None, "{raw:?}");
        }
    }
}
