//! `updated_at` timestamps: RFC 3339 in UTC with seconds and `+00:00` (SPEC B2).

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

/// Normalises a carried timestamp to the stored form; `None` when it cannot be parsed.
pub fn normalize(text: &str) -> Option<String> {
    parse(text).map(format)
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
