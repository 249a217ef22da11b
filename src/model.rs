//! The mapping record (behaviour B3), the upsert payload (behaviour B2) and values derived from metadata.

use serde::de::MapAccess;
use serde::ser::{Serialize, SerializeStruct, Serializer};
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::members::{FromMembers, Key, Obj, Skip};
use crate::normalize::{self, MappingId, MAX_CANDIDATES, MAX_METADATA_BYTES, MAX_NAME_CHARS};
use crate::timestamp;

/// JSON object type used for metadata.
pub type Metadata = Map<String, Value>;

/// One stored mapping. Serialises to the B3 shape, keys in contract order, `source: "sqlite"`.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapping {
    /// `<scope_type>:<scope_key>`, normalised.
    pub id: String,
    /// Normalised scope type (`tenant` already mapped to `mapping`).
    pub scope_type: String,
    /// Trimmed scope key.
    pub scope_key: String,
    /// Display name.
    pub name: Option<String>,
    /// The model tried first.
    pub default_model: Option<String>,
    /// Ordered fallbacks; holds the default model too (behaviour B2).
    pub candidates: Vec<String>,
    /// Inactive mappings never match a resolution.
    pub is_active: bool,
    /// RFC 3339, UTC; `None` for rows written without one.
    pub updated_at: Option<String>,
    /// Free-form object: `preferred_endpoint_id`, `temperature`, `required_tier`, ...
    pub metadata: Metadata,
}

impl Mapping {
    /// The same mapping apart from when it was written (`updated_at`).
    pub fn same_content(&self, other: &Mapping) -> bool {
        self.id == other.id
            && self.name == other.name
            && self.default_model == other.default_model
            && self.candidates == other.candidates
            && self.is_active == other.is_active
            && self.metadata == other.metadata
    }

    /// The value of the B3 `source` field for rows held in SQLite.
    pub const SOURCE: &'static str = "sqlite";

    /// `[default_model] + candidates`, each model once, in the order resolution walks them.
    pub fn walk(&self) -> impl Iterator<Item = &str> + '_ {
        let default = self.default_model.as_deref();
        default.into_iter().chain(
            self.candidates
                .iter()
                .map(String::as_str)
                .filter(move |c| Some(*c) != default),
        )
    }

    /// `metadata.temperature` when it is a number (not a bool), as a float (behaviour B9).
    pub fn temperature(&self) -> Option<f64> {
        temperature(&self.metadata)
    }

    /// The endpoint to call, from metadata (behaviour B8).
    pub fn preferred_endpoint_id(&self) -> Option<i64> {
        preferred_endpoint_id(&self.metadata)
    }

    /// The B3 JSON value of this mapping.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

impl Serialize for Mapping {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Mapping", 10)?;
        st.serialize_field("id", &self.id)?;
        st.serialize_field("scope_type", &self.scope_type)?;
        st.serialize_field("scope_key", &self.scope_key)?;
        st.serialize_field("name", &self.name)?;
        st.serialize_field("default_model", &self.default_model)?;
        st.serialize_field("candidates", &self.candidates)?;
        st.serialize_field("is_active", &self.is_active)?;
        st.serialize_field("updated_at", &self.updated_at)?;
        st.serialize_field("source", Mapping::SOURCE)?;
        st.serialize_field("metadata", &self.metadata)?;
        st.end()
    }
}

/// A create-or-replace request (behaviour B2). Build one directly or parse it with
/// [`MappingInput::from_json`]; [`MappingInput::validate`] normalises and checks the limits.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MappingInput {
    /// Raw scope type (normalised on validation).
    pub scope_type: String,
    /// Raw scope key (trimmed on validation).
    pub scope_key: String,
    /// Display name; empty or blank is kept as given, `None` is null.
    pub name: Option<String>,
    /// Default model; blank means none.
    pub default_model: Option<String>,
    /// Candidate models, normalised on validation.
    pub candidates: Vec<String>,
    /// Whether the mapping takes part in resolution.
    pub is_active: bool,
    /// Metadata object.
    pub metadata: Metadata,
    /// A carried timestamp, kept by imports and snapshots; upserts stamp now.
    pub updated_at: Option<String>,
}

impl MappingInput {
    /// A minimal active mapping for `id` with a default model.
    ///
    /// # Errors
    ///
    /// `InvalidMappingId` when `id` has no `:` or an empty side, `InvalidMappingScope` when its
    /// scope type is malformed (behaviour B1).
    ///
    /// ```
    /// use model_mapping::MappingInput;
    ///
    /// let input = MappingInput::new(" Tenant:xai ", Some("grok-4")).unwrap();
    /// assert_eq!((input.scope_type.as_str(), input.scope_key.as_str()), ("mapping", "xai"));
    /// assert!(MappingInput::new("no-colon", None).is_err());
    /// ```
    pub fn new(id: &str, default_model: Option<&str>) -> Result<MappingInput> {
        let parsed = MappingId::parse(id)?;
        Ok(MappingInput {
            scope_type: parsed.scope_type,
            scope_key: parsed.scope_key,
            default_model: default_model.map(str::to_owned),
            is_active: true,
            ..MappingInput::default()
        })
    }

    /// Parses a loose JSON payload: `scope_type` + `scope_key`, or `id` standing for both.
    pub fn from_json(value: &Value) -> Result<MappingInput> {
        Payload::of(value)?.into_input()
    }

    /// The instant the payload carried in `updated_at`, if it is a readable timestamp. A
    /// payload without one is stamped "now" when validated, which must not make it count as
    /// newer than a stored row (imports, collisions, snapshots).
    pub fn carried_instant(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.updated_at.as_deref().and_then(timestamp::parse)
    }

    /// Normalises and checks every rule of behaviour B2, stamping `updated_at` (the carried one when
    /// `keep_timestamp` and it parses, else now).
    pub fn validate(&self, keep_timestamp: bool) -> Result<Mapping> {
        let kept = self.kept_timestamp(keep_timestamp);
        self.checked(kept, self.name.clone(), self.metadata.clone())
    }

    /// [`MappingInput::validate`] without copying the name and metadata.
    pub fn into_mapping(self, keep_timestamp: bool) -> Result<Mapping> {
        let kept = self.kept_timestamp(keep_timestamp);
        self.into_checked(kept)
    }

    /// [`MappingInput::into_mapping`] keeping the carried timestamp, with the instant it names
    /// ([`MappingInput::carried_instant`]), from one parse of it.
    pub(crate) fn into_carried_mapping(
        self,
    ) -> Result<(Option<chrono::DateTime<chrono::Utc>>, Mapping)> {
        let (kept, instant) = match self
            .updated_at
            .as_deref()
            .and_then(timestamp::normalize_instant)
        {
            Some((text, instant)) => (Some(text), Some(instant)),
            None => (None, None),
        };
        Ok((instant, self.into_checked(kept)?))
    }

    /// [`MappingInput::checked`], moving the name and metadata instead of copying them.
    fn into_checked(mut self, kept: Option<String>) -> Result<Mapping> {
        let name = self.name.take();
        let metadata = std::mem::take(&mut self.metadata);
        self.checked(kept, name, metadata)
    }

    /// The carried `updated_at` in the stored form, when kept and readable.
    fn kept_timestamp(&self, keep: bool) -> Option<String> {
        keep.then(|| self.updated_at.as_deref().and_then(timestamp::normalize))
            .flatten()
    }

    /// The mapping, stamped with `kept` (else now).
    fn checked(
        &self,
        kept: Option<String>,
        name: Option<String>,
        metadata: Metadata,
    ) -> Result<Mapping> {
        let id = MappingId::new(&self.scope_type, &self.scope_key)?;
        if let Some(name) = &name {
            check_len("name", name)?;
        }
        let default_model = self
            .default_model
            .as_deref()
            .and_then(normalize::model_name)
            .map(str::to_owned);
        if let Some(d) = &default_model {
            check_len("default_model", d)?;
        }
        let candidates = normalize::candidates(
            self.candidates.iter().map(String::as_str),
            default_model.as_deref(),
        );
        if candidates.len() > MAX_CANDIDATES {
            return Err(Error::payload(
                "candidates",
                format!(
                    "at most {MAX_CANDIDATES} candidates, got {}",
                    candidates.len()
                ),
            ));
        }
        for c in &candidates {
            check_len("candidates", c)?;
        }
        let meta_len = serialized_len(&metadata);
        if meta_len > MAX_METADATA_BYTES {
            return Err(Error::payload(
                "metadata",
                format!(
                    "serialised metadata is {meta_len} bytes, the limit is {MAX_METADATA_BYTES}"
                ),
            ));
        }
        let updated_at = kept.unwrap_or_else(timestamp::now);
        Ok(Mapping {
            id: id.id(),
            scope_type: id.scope_type,
            scope_key: id.scope_key,
            name,
            default_model,
            candidates,
            is_active: self.is_active,
            updated_at: Some(updated_at),
            metadata,
        })
    }
}

/// Bytes of `value` as JSON, counted without building the text.
fn serialized_len(value: &impl Serialize) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    match serde_json::to_writer(&mut count, value) {
        Ok(()) => count.0,
        Err(_) => usize::MAX,
    }
}

fn check_len(field: &str, value: &str) -> Result<()> {
    if value.chars().count() > MAX_NAME_CHARS {
        return Err(Error::payload(
            field,
            format!("longer than {MAX_NAME_CHARS} characters"),
        ));
    }
    Ok(())
}

/// The scope named by a loose item: `scope_type` + `scope_key` when given, else `id`.
/// `Ok(None)` when neither is there (the import's `missing_scope`).
pub(crate) fn scope_of(obj: &Map<String, Value>) -> Result<Option<MappingId>> {
    scope_from(obj.get("scope_type"), obj.get("scope_key"), obj.get("id"))
}

/// [`scope_of`] from the three members, each as given.
fn scope_from(
    scope_type: Option<&Value>,
    scope_key: Option<&Value>,
    id: Option<&Value>,
) -> Result<Option<MappingId>> {
    fn text(v: Option<&Value>) -> Option<&str> {
        match v {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.as_str()),
            _ => None,
        }
    }
    match (text(scope_type), text(scope_key), text(id)) {
        (Some(t), Some(k), _) => MappingId::new(t, k).map(Some),
        (_, _, Some(id)) => MappingId::parse(id).map(Some),
        (Some(_), None, None) | (None, Some(_), None) => Err(Error::InvalidMappingId(
            "both scope_type and scope_key are required".into(),
        )),
        (None, None, None) => Ok(None),
    }
}

/// How `fields_of` reads `is_active`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IsActive {
    /// A boolean (or 0/1); null or absent is true; anything else is `invalid_payload`.
    Strict,
    /// The backend's `bool(mapping.get("is_active", True))`: never an error. The legacy
    /// import reads its files this way rather than skip (and lose) an entry.
    PythonTruthy,
}

/// Everything but the scope, from a loose JSON object, with errors naming the field.
pub(crate) fn fields_of(obj: &Map<String, Value>, active: IsActive) -> Result<MappingInput> {
    Fields::of(obj).into_input(active)
}

/// The members of a loose mapping object that make a [`MappingInput`], as given (`None`:
/// absent). [`fields_of`] copies them out of a parsed object; the legacy import parses its
/// entries straight into this, skipping everything else unparsed.
#[derive(Debug, Default)]
pub(crate) struct Fields {
    pub name: Option<Value>,
    pub default_model: Option<Value>,
    pub candidates: Option<Value>,
    pub is_active: Option<Value>,
    pub metadata: Option<Value>,
    pub updated_at: Option<Value>,
}

impl Fields {
    fn of(obj: &Map<String, Value>) -> Fields {
        Fields {
            name: obj.get("name").cloned(),
            default_model: obj.get("default_model").cloned(),
            candidates: obj.get("candidates").cloned(),
            is_active: obj.get("is_active").cloned(),
            metadata: obj.get("metadata").cloned(),
            updated_at: obj.get("updated_at").cloned(),
        }
    }

    /// Where the member named `key` goes, if it is one of them.
    pub fn slot(&mut self, key: &str) -> Option<&mut Option<Value>> {
        Some(match key {
            "name" => &mut self.name,
            "default_model" => &mut self.default_model,
            "candidates" => &mut self.candidates,
            "is_active" => &mut self.is_active,
            "metadata" => &mut self.metadata,
            "updated_at" => &mut self.updated_at,
            _ => return None,
        })
    }

    /// Checks the types, field by field in a fixed order (the first bad one is the error), and
    /// moves the values into a [`MappingInput`] without a scope.
    pub fn into_input(self, active: IsActive) -> Result<MappingInput> {
        let opt_string = |field: &str, v: Option<Value>| -> Result<Option<String>> {
            match v {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s)),
                Some(_) => Err(Error::payload(field, "must be a string or null")),
            }
        };
        let name = opt_string("name", self.name)?;
        let default_model = opt_string("default_model", self.default_model)?;
        let candidates = match self.candidates {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.into_iter().enumerate() {
                    match item {
                        Value::String(s) => out.push(s),
                        Value::Number(n) => out.push(n.to_string()),
                        Value::Null => {}
                        _ => {
                            return Err(Error::payload(
                                "candidates",
                                format!("item {i} must be a string"),
                            ))
                        }
                    }
                }
                out
            }
            Some(_) => return Err(Error::payload("candidates", "must be a list of strings")),
        };
        let is_active = match self.is_active {
            None => true,
            Some(v) if active == IsActive::PythonTruthy => python_truthy(&v),
            Some(Value::Null) => true,
            Some(Value::Bool(b)) => b,
            Some(Value::Number(n)) if n.as_i64() == Some(0) || n.as_i64() == Some(1) => {
                n.as_i64() == Some(1)
            }
            Some(_) => return Err(Error::payload("is_active", "must be a boolean")),
        };
        let metadata = match self.metadata {
            None | Some(Value::Null) => Metadata::new(),
            Some(Value::Object(m)) => m,
            Some(_) => return Err(Error::payload("metadata", "must be a JSON object")),
        };
        let updated_at = match self.updated_at {
            Some(Value::String(s)) => Some(s),
            _ => None,
        };
        Ok(MappingInput {
            scope_type: String::new(),
            scope_key: String::new(),
            name,
            default_model,
            candidates,
            is_active,
            metadata,
            updated_at,
        })
    }
}

/// Reads an object's members into the slots `slot` names in `target`, skipping the others
/// unparsed; a repeated member keeps its last value.
fn read_slots<'de, A: MapAccess<'de>, T>(
    mut map: A,
    mut target: T,
    slot: for<'t> fn(&'t mut T, &str) -> Option<&'t mut Option<Value>>,
) -> std::result::Result<T, A::Error> {
    while let Some(Key(key)) = map.next_key::<Key>()? {
        match slot(&mut target, &key) {
            Some(slot) => *slot = Some(map.next_value::<Value>()?),
            None => {
                map.next_value::<Skip>()?;
            }
        }
    }
    Ok(target)
}

/// The legacy import and the C ABI parse mapping objects straight into [`Fields`].
impl<'de> FromMembers<'de> for Fields {
    fn from_members<A: MapAccess<'de>>(map: A) -> std::result::Result<Self, A::Error> {
        read_slots(map, Fields::default(), Fields::slot)
    }
}

/// An upsert payload as the C ABI reads it: the scope members and the [`Fields`], parsed
/// straight from the text (no JSON tree of the whole payload to build and copy out of).
#[derive(Debug, Default)]
pub(crate) struct Payload {
    pub scope_type: Option<Value>,
    pub scope_key: Option<Value>,
    pub id: Option<Value>,
    pub fields: Fields,
    /// The first member that is not one of [`MAPPING_KEYS`], if any.
    pub unknown: Option<String>,
}

/// The members a mapping object may have: the B3 shape's, so a mapping read back may be
/// written again (`source` is ignored, `updated_at` is kept only by imports). The plain APIs
/// reject any other top-level key (behaviour B19), so a misspelt `defualt_model` never silently
/// replaces a row with an empty default.
pub const MAPPING_KEYS: [&str; 10] = [
    "id",
    "scope_type",
    "scope_key",
    "name",
    "default_model",
    "candidates",
    "is_active",
    "updated_at",
    "source",
    "metadata",
];

/// A payload that is not a JSON object.
fn not_an_object() -> Error {
    Error::payload("payload", "must be a JSON object")
}

impl Payload {
    /// The members of a parsed payload; anything but an object is `invalid_payload`.
    pub fn of(value: &Value) -> Result<Payload> {
        let obj = value.as_object().ok_or_else(not_an_object)?;
        Ok(Payload {
            scope_type: obj.get("scope_type").cloned(),
            scope_key: obj.get("scope_key").cloned(),
            id: obj.get("id").cloned(),
            fields: Fields::of(obj),
            unknown: obj
                .keys()
                .find(|k| !MAPPING_KEYS.contains(&k.as_str()))
                .cloned(),
        })
    }

    /// Where the member named `key` goes, if it is one of them.
    fn slot(&mut self, key: &str) -> Option<&mut Option<Value>> {
        match key {
            "scope_type" => Some(&mut self.scope_type),
            "scope_key" => Some(&mut self.scope_key),
            "id" => Some(&mut self.id),
            other => self.fields.slot(other),
        }
    }

    /// Parses JSON text: bad JSON is `invalid_json`, anything but an object `invalid_payload`.
    pub fn parse(text: &str) -> Result<Payload> {
        match serde_json::from_str::<Obj<Payload>>(text) {
            Ok(Obj::Object(p)) => Ok(p),
            Ok(Obj::Other) => Err(not_an_object()),
            Err(e) => Err(Error::from_json(&e)),
        }
    }

    /// The scope (`scope_type` + `scope_key`, or `id`), then the fields, as an input. An
    /// unknown member is the first error.
    pub fn into_input(self) -> Result<MappingInput> {
        if let Some(key) = self.unknown {
            return Err(Error::payload(
                &key,
                format!("unknown field; a mapping has {}", MAPPING_KEYS.join(", ")),
            ));
        }
        let scope = scope_from(
            self.scope_type.as_ref(),
            self.scope_key.as_ref(),
            self.id.as_ref(),
        )?
        .ok_or_else(|| {
            Error::InvalidMappingScope("scope_type and scope_key, or id, are required".into())
        })?;
        let mut input = self.fields.into_input(IsActive::Strict)?;
        input.scope_type = scope.scope_type;
        input.scope_key = scope.scope_key;
        Ok(input)
    }
}

impl<'de> FromMembers<'de> for Payload {
    fn from_members<A: MapAccess<'de>>(mut map: A) -> std::result::Result<Self, A::Error> {
        let mut payload = Payload::default();
        while let Some(Key(key)) = map.next_key::<Key>()? {
            match payload.slot(&key) {
                Some(slot) => *slot = Some(map.next_value::<Value>()?),
                None => {
                    map.next_value::<Skip>()?;
                    if payload.unknown.is_none() && !MAPPING_KEYS.contains(&&*key) {
                        payload.unknown = Some(key.into_owned());
                    }
                }
            }
        }
        Ok(payload)
    }
}

/// Validates a mapping without storing it (behaviour B2): the mapping an upsert of `text` would
/// store, stamped now. With `host_kept`, the object is read as a host keeps its own mappings
/// (as tolerantly as rows written by others, behaviour B11: `host_mapping`) and only the limits
/// are checked; otherwise as a strict payload, unknown members rejected.
pub fn validate_json_text(text: &str, host_kept: bool) -> Result<Mapping> {
    if !host_kept {
        return Payload::parse(text)?.into_input()?.into_mapping(false);
    }
    let value: Value = serde_json::from_str(text).map_err(|e| Error::from_json(&e))?;
    let obj = value.as_object().ok_or_else(not_an_object)?;
    let id = scope_of(obj)?.ok_or_else(|| {
        Error::InvalidMappingScope("scope_type and scope_key, or id, are required".into())
    })?;
    let m = host_mapping(obj, id);
    MappingInput {
        scope_type: m.scope_type,
        scope_key: m.scope_key,
        name: m.name,
        default_model: m.default_model,
        candidates: m.candidates,
        is_active: m.is_active,
        metadata: m.metadata,
        updated_at: None,
    }
    .into_mapping(false)
}

/// A mapping object as a host keeps it — an item its `list_mappings` returned, a prompt
/// record's mapping, a remote row — read as tolerantly as rows written by others (behaviour B11):
/// a non-string default is none, candidates are stringified and trimmed, `is_active` is
/// Python's truth of the value (absent: true), metadata that is not an object is `{}`, a
/// `name` or `updated_at` that is not a string is none. No limit is checked: nothing is
/// stored.
pub(crate) fn host_mapping(obj: &Map<String, Value>, id: MappingId) -> Mapping {
    let default_model = obj
        .get("default_model")
        .and_then(Value::as_str)
        .and_then(normalize::model_name)
        .map(str::to_owned);
    let raw: Vec<String> = match obj.get("candidates") {
        Some(Value::Array(items)) => items.iter().filter_map(stringify_candidate).collect(),
        _ => Vec::new(),
    };
    let candidates =
        normalize::candidates(raw.iter().map(String::as_str), default_model.as_deref());
    let text = |k: &str| obj.get(k).and_then(Value::as_str).map(str::to_owned);
    Mapping {
        id: id.id(),
        scope_type: id.scope_type,
        scope_key: id.scope_key,
        name: text("name"),
        default_model,
        candidates,
        // The backend's `bool(mapping.get("is_active", True))`.
        is_active: obj.get("is_active").is_none_or(python_truthy),
        updated_at: text("updated_at"),
        metadata: obj
            .get("metadata")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default(),
    }
}

/// `host_mapping` of each item that is an object naming a valid scope (`scope_type` +
/// `scope_key`, else `id`); the others can match no key and are left out.
pub fn host_mappings(items: &[Value]) -> Vec<Mapping> {
    items
        .iter()
        .filter_map(Value::as_object)
        .filter_map(|obj| Some(host_mapping(obj, scope_of(obj).ok()??)))
        .collect()
}

/// Blocked-list changes from `[{"model": ..., "blocked": ...}]`, read strictly for the plain
/// APIs: a list of objects, each with a non-blank `model` string and an optional boolean
/// `blocked` (default true), nothing else; any other shape is `invalid_payload` naming the item
/// and field, so `"grok-4"`, `["grok-3"]` or `{"modle": ...}` never pass as "no change".
pub fn blocked_updates(items: &Value) -> Result<Vec<(String, bool)>> {
    let items = items.as_array().ok_or_else(|| {
        Error::payload(
            "items",
            "must be a list of {\"model\": name, \"blocked\": true|false}",
        )
    })?;
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let obj = item.as_object().ok_or_else(|| {
                Error::payload(
                    &format!("items[{i}]"),
                    "must be an object {\"model\": name, \"blocked\": true|false}",
                )
            })?;
            if let Some(k) = obj
                .keys()
                .find(|k| !matches!(k.as_str(), "model" | "blocked"))
            {
                return Err(Error::payload(
                    &format!("items[{i}].{k}"),
                    "unknown field; an item has model and blocked",
                ));
            }
            let model = match obj.get("model") {
                Some(Value::String(m)) if !m.trim().is_empty() => m.clone(),
                Some(Value::String(_)) => {
                    return Err(Error::payload(&format!("items[{i}].model"), "is blank"))
                }
                Some(_) => {
                    return Err(Error::payload(
                        &format!("items[{i}].model"),
                        "must be a string",
                    ))
                }
                None => return Err(Error::payload(&format!("items[{i}].model"), "is missing")),
            };
            let blocked = match obj.get("blocked") {
                None => true,
                Some(Value::Bool(b)) => *b,
                Some(_) => {
                    return Err(Error::payload(
                        &format!("items[{i}].blocked"),
                        "must be true or false",
                    ))
                }
            };
            Ok((model, blocked))
        })
        .collect()
}

/// The first of `preferred_endpoint_id`, `endpoint_id`, `endpointId` holding an integer, a float
/// (truncated toward zero) or a string holding an integer; booleans and junk are skipped.
pub fn preferred_endpoint_id(metadata: &Metadata) -> Option<i64> {
    ["preferred_endpoint_id", "endpoint_id", "endpointId"]
        .iter()
        .find_map(|k| match metadata.get(*k)? {
            Value::Number(n) => n.as_i64().or_else(|| {
                let f = n.as_f64()?;
                (f.is_finite() && f.abs() < 9.2e18).then(|| f.trunc() as i64)
            }),
            Value::String(s) => s.trim().parse::<i64>().ok(),
            _ => None,
        })
}

/// `metadata.temperature` when it is a number (bools are not numbers in JSON), as a float.
pub fn temperature(metadata: &Metadata) -> Option<f64> {
    metadata.get("temperature").and_then(Value::as_f64)
}

/// Python's truthiness of a JSON value (the backend's `bool(...)` on parsed JSON).
pub(crate) fn python_truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// Python's `str()` of a JSON scalar, for candidates that rows written by others hold as
/// non-strings (behaviour B11).
pub(crate) fn stringify_candidate(v: &Value) -> Option<String> {
    let s = match v {
        Value::Null => return None,
        Value::String(s) => s.trim().to_owned(),
        Value::Bool(true) => "True".to_owned(),
        Value::Bool(false) => "False".to_owned(),
        other => other.to_string(),
    };
    (!s.is_empty()).then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn meta(v: Value) -> Metadata {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn a_carried_mapping_keeps_what_into_mapping_keeps_and_the_instant_carried_instant_reads() {
        for carried in [
            Some("2026-01-08T02:07:59+00:00"),
            Some("2026-01-08T02:07:59Z"),
            Some("2026-01-08T04:07:59+02:00"),
            Some("2026-01-08T02:07:59.25"),
            Some(" 2026-01-08 02:07:59 "),
            Some("2025-02-29T00:00:00Z"),
            Some("yesterday"),
            None,
        ] {
            let mut input = MappingInput::new("tenant:k", Some("m")).unwrap();
            input.updated_at = carried.map(str::to_owned);
            let (instant, m) = input.clone().into_carried_mapping().unwrap();
            assert_eq!(instant, input.carried_instant(), "{carried:?}");
            if instant.is_some() {
                assert_eq!(m, input.into_mapping(true).unwrap(), "{carried:?}");
            } else {
                // Unreadable or absent: stamped now, as into_mapping does.
                assert!(m.updated_at.as_deref().and_then(timestamp::parse).is_some());
            }
        }
    }

    #[test]
    fn a_payload_read_from_text_gives_what_the_parsed_payload_gives() {
        let cases = [
            r#"{"id": "mapping:xai", "default_model": " grok ", "candidates": ["a", 1, null]}"#,
            r#"{"scope_type": "tenant", "scope_key": "k", "metadata": {"x": [1, {"y": 2}]}}"#,
            r#"{"scope_type": "mapping", "scope_key": " ", "id": "global:g"}"#,
            r#"{"scope_type": "mapping"}"#,
            r#"{"id": 5, "scope_type": ["x"]}"#,
            r#"{"default_model": "m"}"#,
            r#"{"id": "mapping:a", "id": "mapping:b", "name": "n", "name": null}"#,
            r#"{"id": "mapping:a", "is_active": 0, "extra": {"deep": [[[1]]]}, "updated_at": 3}"#,
            r#"{"id": "mapping:a", "is_active": "yes"}"#,
            r#"{"id": "mapping:a", "candidates": "m"}"#,
            r#"{"id": "mapping:a", "candidates": [["m"]]}"#,
            r#"{"id": "mapping:a", "metadata": [1]}"#,
            r#"{"id": "mapping:a", "name": 1}"#,
            r#"{"id": "bad id with no colon"}"#,
            r#"["id", "mapping:a"]"#,
            r#""mapping:a""#,
            r#"{"id": "mapping:a",}"#,
            r#"{"id": "mapping:a"} trailing"#,
            "",
        ];
        for text in cases {
            let typed = Payload::parse(text).and_then(Payload::into_input);
            let tree = serde_json::from_str::<Value>(text)
                .map_err(|e| Error::from_json(&e))
                .and_then(|v| MappingInput::from_json(&v));
            match (typed, tree) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "{text}"),
                (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{text}"),
                (a, b) => panic!("{text}: {a:?} against {b:?}"),
            }
        }
    }

    #[test]
    fn preferred_endpoint_id_accepts_int_float_and_numeric_string() {
        assert_eq!(
            preferred_endpoint_id(&meta(json!({"preferred_endpoint_id": 7}))),
            Some(7)
        );
        assert_eq!(
            preferred_endpoint_id(&meta(json!({"preferred_endpoint_id": 7.9}))),
            Some(7)
        );
        assert_eq!(
            preferred_endpoint_id(&meta(json!({"preferred_endpoint_id": -7.9}))),
            Some(-7)
        );
        assert_eq!(
            preferred_endpoint_id(&meta(json!({"endpoint_id": " 12 "}))),
            Some(12)
        );
    }

    #[test]
    fn preferred_endpoint_id_skips_bools_and_junk_for_the_next_key() {
        let m =
            meta(json!({"preferred_endpoint_id": true, "endpoint_id": "abc", "endpointId": "5"}));
        assert_eq!(preferred_endpoint_id(&m), Some(5));
        assert_eq!(
            preferred_endpoint_id(&meta(json!({"endpoint_id": [1]}))),
            None
        );
        assert_eq!(preferred_endpoint_id(&meta(json!({}))), None);
    }

    #[test]
    fn temperature_is_a_number_not_a_bool() {
        assert_eq!(temperature(&meta(json!({"temperature": 1}))), Some(1.0));
        assert_eq!(temperature(&meta(json!({"temperature": true}))), None);
        assert_eq!(temperature(&meta(json!({"temperature": "0.3"}))), None);
    }

    #[test]
    fn payload_errors_name_the_field() {
        let err =
            MappingInput::from_json(&json!({"id": "mapping:x", "candidates": "a"})).unwrap_err();
        assert_eq!(err.code(), "invalid_payload");
        assert!(err.to_string().contains("candidates"));
        let err = MappingInput::from_json(&json!({"id": "mapping:x", "metadata": []})).unwrap_err();
        assert!(err.to_string().contains("metadata"));
    }

    #[test]
    fn limits_are_enforced_with_the_field_named() {
        let mut input = MappingInput::new("mapping:x", Some("m")).unwrap();
        input.candidates = (0..513).map(|i| format!("m{i}")).collect();
        assert!(input
            .validate(false)
            .unwrap_err()
            .to_string()
            .contains("candidates"));
        let mut input = MappingInput::new("mapping:x", Some(&"m".repeat(257))).unwrap();
        assert!(input
            .validate(false)
            .unwrap_err()
            .to_string()
            .contains("default_model"));
        input.default_model = None;
        input
            .metadata
            .insert("big".into(), Value::String("x".repeat(70_000)));
        assert!(input
            .validate(false)
            .unwrap_err()
            .to_string()
            .contains("metadata"));
    }

    #[test]
    fn shape_has_contract_key_order() {
        let m = MappingInput::new("tenant:xai", Some("grok"))
            .unwrap()
            .validate(false)
            .unwrap();
        let text = serde_json::to_string(&m).unwrap();
        let keys: Vec<&str> = [
            "\"id\"",
            "\"scope_type\"",
            "\"scope_key\"",
            "\"name\"",
            "\"default_model\"",
            "\"candidates\"",
            "\"is_active\"",
            "\"updated_at\"",
            "\"source\"",
            "\"metadata\"",
        ]
        .to_vec();
        let positions: Vec<usize> = keys.iter().map(|k| text.find(k).unwrap()).collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");
        assert_eq!(m.id, "mapping:xai");
        assert_eq!(m.candidates, ["grok"]);
    }
}
