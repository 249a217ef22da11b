//! Identity and normalisation rules (behaviour B1, B2): every input path goes through here, so
//! `tenant:xai`, `Tenant:xai` and `mapping:xai` name the same row.

use std::borrow::Cow;

use crate::error::{Error, Result};

/// Scope types the backend knows; other well-formed types are stored too.
pub const KNOWN_SCOPE_TYPES: [&str; 6] = [
    "prompt",
    "user",
    "premium_user",
    "mapping",
    "global",
    "module",
];

/// Longest accepted scope key, model name or mapping name, in characters.
pub const MAX_NAME_CHARS: usize = 256;
/// Most candidates one mapping may hold.
pub const MAX_CANDIDATES: usize = 512;
/// Largest metadata object, serialised, in bytes.
pub const MAX_METADATA_BYTES: usize = 64 * 1024;

/// The legacy name of the `mapping` scope type.
pub const LEGACY_TENANT: &str = "tenant";

/// Normalises a scope type: trimmed, lower-cased, `tenant` → `mapping`, `[a-z0-9_-]+`.
pub fn scope_type(raw: &str) -> Result<String> {
    match scope_type_fast(raw) {
        Some(t) => Ok(t.into_owned()),
        None if raw.trim().is_empty() => {
            Err(Error::InvalidMappingScope("scope_type is empty".into()))
        }
        None => Err(Error::InvalidMappingScope(
            "scope_type may only hold [a-z0-9_-]".into(),
        )),
    }
}

/// `str::trim`, with a shortcut for the usual case of nothing to trim: both ends are ASCII and
/// not white space (every ASCII white-space byte is at most `b' '`). Keeps the resolve path
/// free of Unicode decoding.
#[inline]
pub(crate) fn trim(s: &str) -> &str {
    match (s.as_bytes().first(), s.as_bytes().last()) {
        (Some(&a), Some(&b)) if (b'!'..0x80).contains(&a) && (b'!'..0x80).contains(&b) => s,
        _ => s.trim(),
    }
}

/// [`scope_type`] in one pass over the bytes, no allocation unless upper case must be lowered, and no error
/// value: resolution calls this for every key with a `:` and treats `None` as "not an id".
pub(crate) fn scope_type_fast(raw: &str) -> Option<Cow<'_, str>> {
    // The spellings clients send, as sent: nothing to trim, fold or check.
    match raw {
        "mapping" | "tenant" => return Some(Cow::Borrowed("mapping")),
        "global" | "user" | "prompt" => return Some(Cow::Borrowed(raw)),
        _ => {}
    }
    let trimmed = trim(raw);
    if trimmed.is_empty() {
        return None;
    }
    let mut upper = false;
    for b in trimmed.bytes() {
        match b {
            b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' => {}
            b'A'..=b'Z' => upper = true,
            _ => return None,
        }
    }
    if trimmed.eq_ignore_ascii_case(LEGACY_TENANT) {
        return Some(Cow::Borrowed("mapping"));
    }
    Some(if upper {
        Cow::Owned(trimmed.to_ascii_lowercase())
    } else {
        Cow::Borrowed(trimmed)
    })
}

/// The trimmed scope key when it is valid (non-empty, at most 256 characters).
pub(crate) fn scope_key_fast(raw: &str) -> Option<&str> {
    let trimmed = trim(raw);
    // Byte length bounds the character count, so the count is needed only for long keys.
    let ok = !trimmed.is_empty()
        && (trimmed.len() <= MAX_NAME_CHARS || trimmed.chars().count() <= MAX_NAME_CHARS);
    ok.then_some(trimmed)
}

/// Splits at the first `:` without checking the sides.
pub(crate) fn split_colon(raw: &str) -> Option<(&str, &str)> {
    let i = raw.bytes().position(|b| b == b':')?;
    Some((&raw[..i], &raw[i + 1..]))
}

/// Whether a raw scope type is the legacy `tenant` spelling (for the alias-retirement counter).
pub fn is_legacy_tenant(raw: &str) -> bool {
    raw.trim().eq_ignore_ascii_case(LEGACY_TENANT)
}

/// Whether a raw id or key starts with the legacy `tenant:` scope (any case, blanks allowed).
/// Looks at the first few bytes only: it runs on every resolve.
pub fn has_legacy_tenant_prefix(raw: &str) -> bool {
    let b = raw.as_bytes();
    if b.starts_with(b"tenant:") {
        return true;
    }
    // Fast exit for the usual key: it does not start with `t`, `T` or white space.
    if b.first()
        .is_some_and(|c| !matches!(c, b't' | b'T') && c.is_ascii_graphic())
    {
        return false;
    }
    let t = raw.trim_start().as_bytes();
    if t.len() < 7 || !t[..6].eq_ignore_ascii_case(LEGACY_TENANT.as_bytes()) {
        return false;
    }
    t[6..].iter().find(|b| !b.is_ascii_whitespace()) == Some(&b':')
}

/// Normalises a scope key: trimmed, non-empty, at most 256 characters.
pub fn scope_key(raw: &str) -> Result<String> {
    match scope_key_fast(raw) {
        Some(k) => Ok(k.to_owned()),
        None if raw.trim().is_empty() => Err(Error::InvalidMappingId("scope_key is empty".into())),
        None => Err(Error::InvalidMappingId(format!(
            "scope_key is longer than {MAX_NAME_CHARS} characters"
        ))),
    }
}

/// Splits an id at its first `:` (a scope key may itself contain `:`), without normalising.
pub fn split_id(raw: &str) -> Result<(&str, &str)> {
    let (ty, key) = split_colon(raw).ok_or_else(|| {
        Error::InvalidMappingId("id must look like <scope_type>:<scope_key>".into())
    })?;
    if ty.trim().is_empty() || key.trim().is_empty() {
        return Err(Error::InvalidMappingId(
            "id must have a non-empty scope_type and scope_key".into(),
        ));
    }
    Ok((ty, key))
}

/// A normalised `(scope_type, scope_key)` pair with its id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MappingId {
    /// Normalised scope type.
    pub scope_type: String,
    /// Normalised scope key.
    pub scope_key: String,
}

impl MappingId {
    /// Builds a normalised id from its two parts.
    pub fn new(scope_type_raw: &str, scope_key_raw: &str) -> Result<MappingId> {
        Ok(MappingId {
            scope_type: scope_type(scope_type_raw)?,
            scope_key: scope_key(scope_key_raw)?,
        })
    }

    /// Parses and normalises `<scope_type>:<scope_key>`.
    pub fn parse(raw: &str) -> Result<MappingId> {
        let (ty, key) = split_id(raw)?;
        MappingId::new(ty, key)
    }

    /// `<scope_type>:<scope_key>`.
    pub fn id(&self) -> String {
        joined(&self.scope_type, ":", &self.scope_key)
    }
}

/// `a + sep + b` in one allocation. Ids, labels and timestamps are made this way once per row
/// when a table loads or a file imports, where `format!`'s machinery cost about 6% of an import.
pub(crate) fn joined(a: &str, sep: &str, b: &str) -> String {
    let mut s = String::with_capacity(a.len() + sep.len() + b.len());
    s.push_str(a);
    s.push_str(sep);
    s.push_str(b);
    s
}

/// Normalises a mapping id string, e.g. `" Tenant:xai "` → `"mapping:xai"`.
pub fn mapping_id(raw: &str) -> Result<String> {
    MappingId::parse(raw.trim()).map(|m| m.id())
}

/// Trims a model name; empty means none.
pub fn model_name(raw: &str) -> Option<&str> {
    let t = raw.trim();
    (!t.is_empty()).then_some(t)
}

/// Candidates: trimmed, empties dropped, duplicates dropped keeping the first, then a
/// non-empty default appended when absent (behaviour B2).
pub fn candidates<'a, I>(raw: I, default_model: Option<&str>) -> Vec<String>
where
    I: IntoIterator<Item = &'a str>,
{
    let raw = raw.into_iter();
    // Sized once: the default is usually appended after the candidates.
    let mut out: Vec<String> = Vec::with_capacity(raw.size_hint().0 + 1);
    for c in raw {
        if let Some(c) = model_name(c) {
            if !out.iter().any(|seen| seen == c) {
                out.push(c.to_owned());
            }
        }
    }
    if let Some(d) = default_model.and_then(model_name) {
        if !out.iter().any(|seen| seen == d) {
            out.push(d.to_owned());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_and_case_variants_meet_in_mapping() {
        assert_eq!(mapping_id("tenant:xai").unwrap(), "mapping:xai");
        assert_eq!(mapping_id("Tenant:xai").unwrap(), "mapping:xai");
        assert_eq!(mapping_id(" MAPPING : xai ").unwrap(), "mapping:xai");
    }

    #[test]
    fn id_splits_at_first_colon() {
        let id = MappingId::parse("mapping:a:b").unwrap();
        assert_eq!(id.scope_key, "a:b");
    }

    #[test]
    fn malformed_ids_are_invalid_mapping_id() {
        for raw in ["xai", ":xai", "mapping:", " : "] {
            assert_eq!(
                mapping_id(raw).unwrap_err().code(),
                "invalid_mapping_id",
                "{raw}"
            );
        }
    }

    #[test]
    fn bad_scope_type_is_invalid_mapping_scope() {
        assert_eq!(
            mapping_id("open/ai:x").unwrap_err().code(),
            "invalid_mapping_scope"
        );
        assert_eq!(scope_type("custom_1").unwrap(), "custom_1");
    }

    #[test]
    fn legacy_tenant_prefix_is_recognised_in_any_case() {
        assert!(has_legacy_tenant_prefix("tenant:xai"));
        assert!(has_legacy_tenant_prefix(" Tenant :xai"));
        assert!(!has_legacy_tenant_prefix("tenants:xai"));
        assert!(!has_legacy_tenant_prefix("mapping:tenant"));
        assert!(!has_legacy_tenant_prefix("tenant"));
    }

    #[test]
    fn fast_trim_agrees_with_str_trim() {
        for s in [
            "",
            " ",
            "a",
            " a",
            "a ",
            "\ta\n",
            "\u{a0}x",
            "x\u{3000}",
            "é",
            "mapping",
            "~!",
        ] {
            assert_eq!(trim(s), s.trim(), "{s:?}");
        }
    }

    #[test]
    fn scope_key_longer_than_256_is_rejected() {
        assert!(scope_key(&"k".repeat(256)).is_ok());
        assert!(scope_key(&"k".repeat(257)).is_err());
    }

    #[test]
    fn candidates_are_trimmed_deduplicated_and_get_the_default() {
        let c = candidates([" a ", "", "b", "a", "  "], Some(" c "));
        assert_eq!(c, ["a", "b", "c"]);
        let c = candidates(["a", "b"], Some("b"));
        assert_eq!(c, ["a", "b"]);
        let c = candidates(["a"], Some("   "));
        assert_eq!(c, ["a"]);
    }
}
