//! How long an HTTP response may be cached: Cache-Control (`max-age`, `no-cache`, `no-store`) first,
//! else Expires relative to Date (or to our clock). Used only with `cache.respectCacheHeaders`.
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub fn freshness(cache_control: Option<&str>, expires: Option<&str>, date: Option<&str>) -> Option<Duration> {
    if let Some(cc) = cache_control {
        let mut max_age = None;
        for directive in cc.split(',').map(|d| d.trim().to_ascii_lowercase()) {
            if directive == "no-cache" || directive == "no-store" {
                return Some(Duration::ZERO);
            }
            if let Some(v) = directive.strip_prefix("max-age=") {
                max_age = Some(v.trim_matches('"').parse::<u64>().map(Duration::from_secs).unwrap_or(Duration::ZERO));
            }
        }
        if max_age.is_some() {
            return max_age;
        }
    }
    let expires = expires?;
    // RFC 9111: an Expires that does not parse means "already expired".
    let Some(at) = parse_http_date(expires) else { return Some(Duration::ZERO) };
    let now = date
        .and_then(parse_http_date)
        .unwrap_or_else(|| SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0));
    Some(Duration::from_secs(at.saturating_sub(now)))
}

/// IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the only form servers may send; seconds since the epoch.
pub fn parse_http_date(s: &str) -> Option<u64> {
    let parts: Vec<&str> = s.split_whitespace().collect();
    let [_weekday, day, month, year, time, "GMT"] = parts.as_slice() else { return None };
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let month = MONTHS.iter().position(|m| m == month)? as u64 + 1;
    let day: u64 = day.parse().ok()?;
    let year: u64 = year.parse().ok()?;
    let hms: Vec<u64> = time.split(':').map(|p| p.parse().ok()).collect::<Option<_>>()?;
    let [h, m, sec] = hms.as_slice() else { return None };
    if !(1..=31).contains(&day) || year < 1970 || *h > 23 || *m > 59 || *sec > 60 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + sec)
}

/// Days since 1970-01-01 of a Gregorian date (H. Hinnant's algorithm), for years from 1970.
fn days_from_civil(y: u64, m: u64, d: u64) -> u64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates() {
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), Some(784_111_777));
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(parse_http_date("Tue, 29 Feb 2028 12:00:00 GMT"), Some(1_835_438_400));
        assert_eq!(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), None);
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 UTC"), None);
        assert_eq!(parse_http_date("Sun, 06 Foo 1994 08:49:37 GMT"), None);
    }

    #[test]
    fn cache_control_wins_over_expires() {
        let s = |n| Some(Duration::from_secs(n));
        assert_eq!(freshness(Some("public, max-age=300"), Some("Sun, 06 Nov 1994 08:49:37 GMT"), None), s(300));
        assert_eq!(freshness(Some("max-age=60, must-revalidate"), None, None), s(60));
        assert_eq!(freshness(Some("no-cache"), None, None), s(0));
        assert_eq!(freshness(Some("private, no-store, max-age=600"), None, None), s(0));
        assert_eq!(freshness(Some("max-age=abc"), None, None), s(0));
        assert_eq!(freshness(Some("public"), None, None), None);
        assert_eq!(freshness(None, None, None), None);
    }

    #[test]
    fn expires_is_relative_to_date() {
        let date = "Sun, 06 Nov 1994 08:49:37 GMT";
        assert_eq!(freshness(None, Some("Sun, 06 Nov 1994 08:50:37 GMT"), Some(date)), Some(Duration::from_secs(60)));
        assert_eq!(freshness(None, Some("Sun, 06 Nov 1994 08:00:00 GMT"), Some(date)), Some(Duration::ZERO));
        assert_eq!(freshness(None, Some("0"), Some(date)), Some(Duration::ZERO));
        assert_eq!(
            freshness(Some("public"), Some("Sun, 06 Nov 1994 08:50:37 GMT"), Some(date)),
            Some(Duration::from_secs(60))
        );
    }
}
