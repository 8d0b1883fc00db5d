//! Parser for the HTTP `Retry-After` header (RFC 9110 §10.2.3), which the
//! spec tells clients to honour on 429/503 ("Throttling", plain HTTP).
//! Transports call it; the result goes into [`super::Disconnect::retry_after`].

use std::time::Duration;

/// Parses `delay-seconds` or an HTTP-date, relative to `now_unix_secs`.
///
/// All three HTTP-date forms are accepted, as RFC 9110 requires of
/// recipients: IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the obsolete
/// RFC 850 form (`Sunday, 06-Nov-94 08:49:37 GMT`) and asctime
/// (`Sun Nov  6 08:49:37 1994`). A date in the past means "now"
/// (`Duration::ZERO`). Anything else is `None`, so the caller falls back
/// to its own backoff rather than trusting garbage.
///
/// The 30-second floor the spec recommends is not applied here; the core
/// applies it when it schedules the reconnect.
pub fn parse_retry_after(value: &str, now_unix_secs: u64) -> Option<Duration> {
    let v = value.trim();
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        // Absurdly long digit strings still mean "a very long time".
        return Some(Duration::from_secs(v.parse().unwrap_or(u64::MAX)));
    }
    let at = parse_http_date(v, now_unix_secs)?;
    Some(Duration::from_secs(at.saturating_sub(now_unix_secs)))
}

/// Unix seconds of an HTTP-date in any of its three forms.
fn parse_http_date(v: &str, now_unix_secs: u64) -> Option<u64> {
    let (wkday, rest) = v.split_once(' ')?;
    if let Some(day_name) = wkday.strip_suffix(',') {
        if SHORT_DAYS.contains(&day_name) {
            return imf_fixdate(rest);
        }
        if LONG_DAYS.contains(&day_name) {
            return rfc850(rest, now_unix_secs);
        }
        return None;
    }
    if SHORT_DAYS.contains(&wkday) {
        return asctime(rest);
    }
    None
}

const SHORT_DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const LONG_DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `06 Nov 1994 08:49:37 GMT`
fn imf_fixdate(rest: &str) -> Option<u64> {
    let mut it = rest.split(' ');
    let day = two_digits(it.next()?)?;
    let month = month(it.next()?)?;
    let year = four_digits(it.next()?)?;
    let time = time_of_day(it.next()?)?;
    (it.next()? == "GMT" && it.next().is_none()).then_some(())?;
    to_unix(year, month, day, time)
}

/// `06-Nov-94 08:49:37 GMT`; the two-digit year is placed in the century
/// that keeps it no more than 50 years ahead of now (RFC 9110 §5.6.7).
fn rfc850(rest: &str, now_unix_secs: u64) -> Option<u64> {
    let mut it = rest.split(' ');
    let mut date = it.next()?.split('-');
    let day = two_digits(date.next()?)?;
    let month = month(date.next()?)?;
    let yy = two_digits(date.next()?)?;
    date.next().is_none().then_some(())?;
    let time = time_of_day(it.next()?)?;
    (it.next()? == "GMT" && it.next().is_none()).then_some(())?;

    let this_year = year_of(now_unix_secs);
    let mut year = this_year - this_year % 100 + u64::from(yy);
    if year > this_year + 50 {
        year -= 100;
    }
    to_unix(year, month, day, time)
}

/// `Nov  6 08:49:37 1994` (day padded with a space, not a zero).
fn asctime(rest: &str) -> Option<u64> {
    let (mon, rest) = rest.split_once(' ')?;
    let month = month(mon)?;
    let rest = rest.strip_prefix(' ').unwrap_or(rest);
    let mut it = rest.split(' ');
    let d = it.next()?;
    if d.is_empty() || d.len() > 2 || !d.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let day: u32 = d.parse().ok()?;
    let time = time_of_day(it.next()?)?;
    let year = four_digits(it.next()?)?;
    it.next().is_none().then_some(())?;
    to_unix(year, month, day, time)
}

fn two_digits(s: &str) -> Option<u32> {
    (s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok())?
}

fn four_digits(s: &str) -> Option<u64> {
    (s.len() == 4 && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok())?
}

fn month(s: &str) -> Option<u32> {
    MONTHS.iter().position(|m| *m == s).map(|i| i as u32 + 1)
}

/// `HH:MM:SS` as seconds into the day; second 60 (a leap second) is allowed
/// by the grammar and simply rolls into the next minute.
fn time_of_day(s: &str) -> Option<u64> {
    let mut it = s.split(':');
    let h = two_digits(it.next()?)?;
    let m = two_digits(it.next()?)?;
    let sec = two_digits(it.next()?)?;
    if it.next().is_some() || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    Some(u64::from(h) * 3600 + u64::from(m) * 60 + u64::from(sec))
}

fn to_unix(year: u64, month: u32, day: u32, secs_of_day: u64) -> Option<u64> {
    if !(1970..=9999).contains(&year) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(days * 86_400 + secs_of_day)
}

fn is_leap(y: u64) -> bool {
    y.is_multiple_of(4) && (!y.is_multiple_of(100) || y.is_multiple_of(400))
}

fn days_in_month(y: u64, m: u32) -> u32 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 (H. Hinnant's algorithm, restricted to years
/// >= 1970 so everything stays unsigned).
fn days_from_civil(y: u64, m: u32, d: u32) -> u64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y / 400;
    let yoe = y - era * 400;
    let m = u64::from(m);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + u64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Calendar year containing the given Unix time.
fn year_of(unix_secs: u64) -> u64 {
    let days = unix_secs / 86_400;
    let mut year = 1970 + days / 366;
    while days_from_civil(year + 1, 1, 1) <= days {
        year += 1;
    }
    year
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 1994-11-06T08:49:37Z, the RFC's own example instant.
    const RFC_EXAMPLE: u64 = 784_111_777;

    /// "Throttling" (plain HTTP): Retry-After as delay-seconds.
    #[test]
    fn delay_seconds() {
        assert_eq!(parse_retry_after("120", 0), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after(" 0 ", 5), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("99999999999999999999999", 0),
            Some(Duration::from_secs(u64::MAX))
        );
    }

    /// "Throttling" (plain HTTP): Retry-After as IMF-fixdate.
    #[test]
    fn imf_fixdate_relative_to_now() {
        let v = "Sun, 06 Nov 1994 08:49:37 GMT";
        assert_eq!(
            parse_retry_after(v, RFC_EXAMPLE - 90),
            Some(Duration::from_secs(90))
        );
        assert_eq!(
            parse_retry_after(v, RFC_EXAMPLE + 10),
            Some(Duration::ZERO),
            "a date in the past means retry now"
        );
    }

    #[test]
    fn obsolete_forms_are_accepted() {
        let now = RFC_EXAMPLE - 30;
        let want = Some(Duration::from_secs(30));
        assert_eq!(
            parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", now),
            want
        );
        assert_eq!(parse_retry_after("Sun Nov  6 08:49:37 1994", now), want);
    }

    /// Two-digit years stay within 50 years ahead of now.
    #[test]
    fn rfc850_century_window() {
        // now = 2030-01-01: "49" is 2049 (19 years ahead), "99" is 1999.
        let now = days_from_civil(2030, 1, 1) * 86_400;
        let y2049 = days_from_civil(2049, 1, 1) * 86_400;
        assert_eq!(
            parse_retry_after("Friday, 01-Jan-49 00:00:00 GMT", now),
            Some(Duration::from_secs(y2049 - now))
        );
        assert_eq!(
            parse_retry_after("Friday, 01-Jan-99 00:00:00 GMT", now),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn known_dates_convert_exactly() {
        assert_eq!(imf_fixdate("06 Nov 1994 08:49:37 GMT"), Some(RFC_EXAMPLE));
        assert_eq!(imf_fixdate("01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(imf_fixdate("29 Feb 2000 00:00:00 GMT"), Some(951_782_400));
        assert_eq!(imf_fixdate("01 Mar 2024 12:00:00 GMT"), Some(1_709_294_400));
        assert_eq!(year_of(RFC_EXAMPLE), 1994);
        assert_eq!(year_of(951_782_400), 2000);
        assert_eq!(year_of(0), 1970);
    }

    #[test]
    fn garbage_is_rejected() {
        for v in [
            "",
            "soon",
            "-5",
            "1.5",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 6 Nov 1994 08:49:37 GMT",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 30 Feb 1994 08:49:37 GMT",
            "Sun, 29 Feb 1900 08:49:37 GMT",
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun, 06 Nov 1994 08:49 GMT",
            "Sun, 06 Nov 1994 08:49:37 GMT extra",
            "Xyz, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-1994 08:49:37 GMT",
            "Sun Nov 6 08:49:37",
            "Sun Nov 123 08:49:37 1994",
        ] {
            assert_eq!(parse_retry_after(v, 0), None, "{v:?}");
        }
    }
}
