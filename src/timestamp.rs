//! `updated_at` timestamps: RFC 3339 in UTC with seconds and `+00:00` (behaviour B2).

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};

/// Now, UTC, to the second, e.g. `2026-01-08T02:07:59+00:00`.
pub fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Secs, false)
}

/// Formats an instant the way this crate stores it (fractional seconds only when present).
pub fn format(instant: DateTime<Utc>) -> String {
    instant.to_rfc3339_opts(SecondsFormat::AutoSi, false)
}

/// Parses a stored or imported timestamp into an instant.
///
/// Accepts RFC 3339 with any offset (`Z` and `+00:00` are the same instant) and, because the
/// backend's older code wrote `datetime.utcnow().isoformat()`, a naive date-time taken as UTC.
pub fn parse(text: &str) -> Option<DateTime<Utc>> {
    if let Some(t) = parse_canonical(text) {
        return Some(t);
    }
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, fmt) {
            return Some(t.and_utc());
        }
    }
    DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f%:z")
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The first 19 bytes read `dddd-dd-ddTdd:dd:dd` (digits where `d` is).
fn has_date_time_shape(b: &[u8]) -> bool {
    const SHAPE: &[u8; 19] = b"dddd-dd-ddTdd:dd:dd";
    b.len() >= SHAPE.len()
        && b.iter().zip(SHAPE).all(|(c, s)| match s {
            b'd' => c.is_ascii_digit(),
            _ => c == s,
        })
}

/// Whether `text` has the exact shape this crate stores (`2026-01-08T02:07:59+00:00`): such a
/// text is already normal.
fn is_canonical(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 25 && has_date_time_shape(b) && &b[19..] == b"+00:00"
}

/// `2026-01-08T02:07:59Z`: the stored shape with `Z` for the offset, as the backend's legacy
/// files and most clients write it.
fn is_canonical_z(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 20 && has_date_time_shape(b) && b[19] == b'Z'
}

/// The stored shape (or its `Z` spelling) read field by field: a snapshot parses one per row,
/// and chrono's general RFC 3339 parser costs several times more.
fn parse_canonical(text: &str) -> Option<DateTime<Utc>> {
    if !is_canonical(text) && !is_canonical_z(text) {
        return None;
    }
    let b = text.as_bytes();
    let num =
        |r: std::ops::Range<usize>| b[r].iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
    chrono::NaiveDate::from_ymd_opt(num(0..4) as i32, num(5..7), num(8..10))?
        .and_hms_opt(num(11..13), num(14..16), num(17..19))
        .map(|t| t.and_utc())
}

/// Normalises a carried timestamp to the stored form; `None` when it cannot be parsed.
pub fn normalize(text: &str) -> Option<String> {
    normalize_instant(text).map(|(stored, _)| stored)
}

/// [`normalize`], with the instant the text names ([`parse`]).
pub fn normalize_instant(text: &str) -> Option<(String, DateTime<Utc>)> {
    if is_canonical(text) {
        // Already the stored form (reading the table meets it on every row): keep it.
        return parse_canonical(text).map(|t| (text.to_owned(), t));
    }
    if is_canonical_z(text) {
        // Valid as a date: the stored form is the same fields with `+00:00`.
        return parse_canonical(text)
            .map(|t| (crate::normalize::joined(&text[..19], "+00:00", ""), t));
    }
    parse(text).map(|t| (format(t), t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn z_and_offset_are_the_same_instant() {
        assert_eq!(
            parse("2026-01-08T02:07:59Z"),
            parse("2026-01-08T02:07:59+00:00")
        );
        assert_eq!(
            normalize("2026-01-08T04:07:59+02:00").as_deref(),
            Some("2026-01-08T02:07:59+00:00")
        );
    }

    #[test]
    fn the_stored_shape_parses_like_rfc3339_and_bad_dates_still_fail() {
        for t in ["2026-01-08T02:07:59+00:00", "2024-02-29T23:59:59+00:00"] {
            assert!(is_canonical(t));
            assert_eq!(
                parse_canonical(t),
                Some(DateTime::parse_from_rfc3339(t).unwrap().with_timezone(&Utc))
            );
            assert_eq!(
                normalize(t).as_deref(),
                Some(t),
                "stored text is kept as it is"
            );
        }
        for t in [
            "2026-13-08T02:07:59+00:00",
            "2025-02-29T00:00:00+00:00",
            "2026-01-08T24:00:00+00:00",
        ] {
            assert!(is_canonical(t));
            assert_eq!(parse(t), None, "{t}");
            assert_eq!(normalize(t), None, "{t}");
        }
        for t in [
            "2026-01-08T02:07:59Z",
            "2026-01-08T02:07:59.5+00:00",
            " 2026-01-08T02:07:59+00:00",
        ] {
            assert!(!is_canonical(t), "{t}");
        }
    }

    #[test]
    fn the_z_shape_normalises_like_the_general_path() {
        for t in [
            "2026-01-08T02:07:59Z",
            "0999-12-31T23:59:59Z",
            "2024-02-29T00:00:00Z",
        ] {
            let general = DateTime::parse_from_rfc3339(t)
                .ok()
                .map(|d| format(d.with_timezone(&Utc)));
            assert_eq!(normalize(t), general, "{t}");
        }
        assert_eq!(normalize("2025-02-29T00:00:00Z"), None);
        assert_eq!(normalize("2026-01-08T02:07:60Z"), None);
    }

    #[test]
    fn naive_timestamps_are_utc() {
        assert_eq!(
            normalize("2026-01-08T02:07:59.250000").as_deref(),
            Some("2026-01-08T02:07:59.250+00:00")
        );
    }

    #[test]
    fn now_has_seconds_and_utc_offset() {
        let n = now();
        assert!(n.ends_with("+00:00"), "{n}");
        assert_eq!(n.len(), "2026-01-08T02:07:59+00:00".len());
    }

    #[test]
    fn garbage_is_not_a_timestamp() {
        assert_eq!(parse("yesterday"), None);
        assert_eq!(parse(""), None);
    }
}
