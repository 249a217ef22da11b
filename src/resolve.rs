//! Pure resolution over a [`Snapshot`] (SPEC B8, B9): no I/O, no locks, no clock.

use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use crate::model::{self, Mapping, Metadata};
use crate::normalize;
use crate::snapshot::{Entry, Slot, Snapshot, BARE_SCOPES};

/// The answer to `resolve_model_key` (SPEC B8).
#[derive(Debug, Clone, PartialEq)]
pub struct Resolution {
    /// The model to call upstream; `None` for a blank key or when every model is blocked.
    pub resolved_model: Option<Arc<str>>,
    /// The mapping that matched, if any (`hit` is `mapping.is_some()`).
    pub mapping: Option<Arc<Mapping>>,
    /// From the matched mapping's metadata.
    pub preferred_endpoint_id: Option<i64>,
}

impl Resolution {
    /// Whether a mapping matched.
    pub fn hit(&self) -> bool {
        self.mapping.is_some()
    }

    fn miss(model: Option<&str>) -> Resolution {
        Resolution {
            resolved_model: model.map(Arc::from),
            mapping: None,
            preferred_endpoint_id: None,
        }
    }

    fn of(entry: &Entry) -> Resolution {
        Resolution {
            resolved_model: entry.picked.clone(),
            mapping: Some(Arc::clone(&entry.mapping)),
            preferred_endpoint_id: entry.endpoint,
        }
    }
}

impl Serialize for Resolution {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("resolved_model", &self.resolved_model)?;
        m.serialize_entry("hit", &self.hit())?;
        if let Some(mapping) = &self.mapping {
            m.serialize_entry("mapping_id", &mapping.id)?;
            m.serialize_entry("scope_type", &mapping.scope_type)?;
            m.serialize_entry("scope_key", &mapping.scope_key)?;
            m.serialize_entry("metadata", &mapping.metadata)?;
            m.serialize_entry("preferred_endpoint_id", &self.preferred_endpoint_id)?;
        }
        m.end()
    }
}

/// Where a key points: an exact id, or the bare-key scopes. `None`: it cannot match anything.
enum Target<'k> {
    Id(std::borrow::Cow<'k, str>, &'k str),
    Bare(&'k str),
}

fn target(key: &str) -> Option<Target<'_>> {
    let Some((ty, k)) = normalize::split_colon(key) else {
        return Some(Target::Bare(key));
    };
    // A key that cannot be an id (`openai/gpt-4o:free`) is a model name: it passes through.
    let ty = normalize::scope_type_fast(ty)?;
    let k = normalize::scope_key_fast(k)?;
    Some(Target::Id(ty, k))
}

fn active<'s>(snap: &'s Snapshot, scope_type: &str, key: &str) -> Option<&'s Arc<Entry>> {
    snap.slot(scope_type, key)
        .map(|s| &s.winner)
        .filter(|e| e.mapping.is_active)
}

/// Resolves the model key a client sent (SPEC B8).
pub fn resolve_model_key(snap: &Snapshot, key: &str) -> Resolution {
    let key = normalize::trim(key);
    if key.is_empty() {
        return Resolution::miss(None);
    }
    let found = match target(key) {
        Some(Target::Id(ty, k)) => active(snap, &ty, k),
        Some(Target::Bare(k)) => snap.bare(k),
        None => None,
    };
    match found {
        Some(entry) => Resolution::of(entry),
        None => Resolution::miss(Some(key)),
    }
}

/// Why a mapping that matched the key won or lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// It decided the resolution.
    Chosen,
    /// Inactive mappings never match.
    Inactive,
    /// A higher-priority scope type (`mapping` over `global`) matched.
    LowerPriorityScope,
    /// A newer row of the same id and scope type won.
    Older,
}

/// One mapping that matched the key, and its outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Considered {
    /// The mapping's id.
    pub mapping_id: String,
    /// Its scope type.
    pub scope_type: String,
    /// Its scope key.
    pub scope_key: String,
    /// Whether it is active.
    pub is_active: bool,
    /// Its timestamp.
    pub updated_at: Option<String>,
    /// Why it won or lost.
    pub outcome: Outcome,
}

/// What happened to one model of the chosen mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Fate {
    /// The resolved model.
    Chosen,
    /// Skipped: it is blocked.
    Blocked,
    /// After the chosen model; never looked at.
    NotReached,
}

/// One model of the chosen mapping's walk and its fate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CandidateFate {
    /// The model name.
    pub model: String,
    /// What happened to it.
    pub fate: Fate,
}

/// `resolve_model_key` plus the reasons (SPEC B8 `explain`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Explanation {
    /// The same result `resolve_model_key` gives.
    #[serde(flatten)]
    pub resolution: Resolution,
    /// Every mapping that matched the key, with why it won or lost.
    pub considered: Vec<Considered>,
    /// Each model of the chosen mapping with its fate.
    pub candidates: Vec<CandidateFate>,
}

/// Resolves like [`resolve_model_key`] and says why.
pub fn explain(snap: &Snapshot, key: &str) -> Explanation {
    let resolution = resolve_model_key(snap, key);
    let trimmed = key.trim();
    let slots: Vec<&Slot> = match (trimmed.is_empty(), target(trimmed)) {
        (true, _) | (_, None) => Vec::new(),
        (false, Some(Target::Id(ty, k))) => snap.slot(&ty, k).into_iter().collect(),
        (false, Some(Target::Bare(k))) => BARE_SCOPES
            .iter()
            .filter_map(|ty| snap.slot(ty, k))
            .collect(),
    };
    let chosen = resolution.mapping.as_ref();
    let mut considered = Vec::new();
    for slot in slots {
        for entry in std::iter::once(&slot.winner).chain(slot.shadowed.iter()) {
            let m = &entry.mapping;
            let outcome = if chosen.is_some_and(|c| Arc::ptr_eq(c, m)) {
                Outcome::Chosen
            } else if !m.is_active {
                Outcome::Inactive
            } else if chosen.is_some_and(|c| c.scope_type != m.scope_type) {
                Outcome::LowerPriorityScope
            } else {
                Outcome::Older
            };
            considered.push(Considered {
                mapping_id: m.id.clone(),
                scope_type: m.scope_type.clone(),
                scope_key: m.scope_key.clone(),
                is_active: m.is_active,
                updated_at: m.updated_at.clone(),
                outcome,
            });
        }
    }
    let mut candidates = Vec::new();
    if let Some(m) = chosen {
        let mut reached = false;
        for model in m.walk() {
            let fate = if reached {
                Fate::NotReached
            } else if snap.is_blocked(model) {
                Fate::Blocked
            } else {
                reached = true;
                Fate::Chosen
            };
            candidates.push(CandidateFate {
                model: model.to_owned(),
                fate,
            });
        }
    }
    Explanation {
        resolution,
        considered,
        candidates,
    }
}

/// The inputs of `resolve_for_message` (SPEC B9).
#[derive(Debug, Clone, Default)]
pub struct MessageRequest<'a> {
    /// The requesting user; the `user:<id>` step is tried when not blank.
    pub user_id: Option<&'a str>,
    /// The business key (`tenant_id` in older callers); `mapping:`/`tenant:` prefixes accepted.
    pub mapping_key: Option<&'a str>,
    /// The prompt; the `prompt:<id>` step is tried when not blank.
    pub prompt_id: Option<&'a str>,
    /// The prompt's mapping as the host keeps it; when `None` a stored `prompt:` row is used.
    pub prompt_mapping: Option<&'a Value>,
}

/// One step of the chain.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChainStep {
    /// Scope type tried.
    pub scope_type: String,
    /// Scope key tried.
    pub scope_key: String,
    /// `"prompt"` for the prompt step, `"fallback"` for the others.
    pub source: &'static str,
    /// Whether a mapping exists for this step.
    pub found: bool,
    /// Whether it is active.
    pub active: bool,
}

/// The step that decided.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MessageHit {
    /// Scope type of the deciding mapping.
    pub scope_type: String,
    /// Scope key of the deciding mapping.
    pub scope_key: String,
    /// `"prompt"` or `"fallback"`.
    pub source: &'static str,
    /// `"default_model"` or `"first_candidate"`; absent when no model was usable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub picked_from: Option<&'static str>,
}

/// The selection for one chat request (SPEC B9).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MessageSelection {
    /// The model to use, or `None` (see `reason`).
    pub model: Option<String>,
    /// `metadata.temperature` of the deciding mapping when numeric.
    pub temperature: Option<f64>,
    /// The deciding step, `None` when nothing was found.
    pub hit: Option<MessageHit>,
    /// Every step tried.
    pub chain: Vec<ChainStep>,
    /// `None` on success, else `"mapping_empty_or_blocked"` or `"mapping_not_found"`.
    pub reason: Option<&'static str>,
}

/// The parts of a mapping the chain needs, from a stored row or a host's prompt record.
struct Candidate {
    default_model: Option<String>,
    candidates: Vec<String>,
    is_active: bool,
    metadata: Metadata,
}

impl Candidate {
    fn from_mapping(m: &Mapping) -> Candidate {
        Candidate {
            default_model: m.default_model.clone(),
            candidates: m.candidates.clone(),
            is_active: m.is_active,
            metadata: m.metadata.clone(),
        }
    }

    /// A host-kept prompt mapping, read as tolerantly as rows written by others (SPEC B11).
    fn from_value(v: &Value) -> Option<Candidate> {
        let obj = v.as_object()?;
        let default_model = obj
            .get("default_model")
            .and_then(Value::as_str)
            .and_then(normalize::model_name)
            .map(str::to_owned);
        let raw: Vec<String> = match obj.get("candidates") {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(model::stringify_candidate)
                .collect(),
            _ => Vec::new(),
        };
        let candidates =
            normalize::candidates(raw.iter().map(String::as_str), default_model.as_deref());
        // The backend's `bool(mapping.get("is_active", True))`.
        let is_active = obj.get("is_active").is_none_or(model::python_truthy);
        let metadata = obj
            .get("metadata")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        Some(Candidate {
            default_model,
            candidates,
            is_active,
            metadata,
        })
    }
}

fn strip_mapping_prefix(key: &str) -> &str {
    match normalize::split_colon(key) {
        Some((ty, k))
            if !k.trim().is_empty()
                && normalize::scope_type_fast(ty).is_some_and(|t| t == "mapping") =>
        {
            k.trim()
        }
        _ => key,
    }
}

fn non_blank(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

/// Picks the model for one chat request (SPEC B9).
pub fn resolve_for_message(snap: &Snapshot, req: &MessageRequest<'_>) -> MessageSelection {
    let mut steps: Vec<(&'static str, String, &'static str)> = Vec::new();
    if let Some(p) = non_blank(req.prompt_id) {
        steps.push(("prompt", p.to_owned(), "prompt"));
    }
    if let Some(u) = non_blank(req.user_id) {
        steps.push(("user", u.to_owned(), "fallback"));
    }
    if let Some(k) = non_blank(req.mapping_key) {
        steps.push(("mapping", strip_mapping_prefix(k).to_owned(), "fallback"));
    }
    steps.push(("global", "global".to_owned(), "fallback"));

    let mut chain = Vec::with_capacity(steps.len());
    for (scope_type, scope_key, source) in steps {
        let found: Option<Candidate> = match (scope_type, req.prompt_mapping) {
            ("prompt", Some(v)) if !v.is_null() => Candidate::from_value(v),
            _ => snap
                .get(scope_type, &scope_key)
                .map(|m| Candidate::from_mapping(m)),
        };
        let active = found.as_ref().is_some_and(|c| c.is_active);
        chain.push(ChainStep {
            scope_type: scope_type.to_owned(),
            scope_key: scope_key.clone(),
            source,
            found: found.is_some(),
            active,
        });
        let Some(c) = found.filter(|c| c.is_active) else {
            continue;
        };
        let temperature = model::temperature(&c.metadata);
        let walk = c.default_model.iter().chain(
            c.candidates
                .iter()
                .filter(|m| Some(*m) != c.default_model.as_ref()),
        );
        let mut picked = None;
        for (i, m) in walk.enumerate() {
            if !snap.is_blocked(m) {
                let from = if i == 0 && c.default_model.is_some() {
                    "default_model"
                } else {
                    "first_candidate"
                };
                picked = Some((m.clone(), from));
                break;
            }
        }
        let (model, picked_from, reason) = match picked {
            Some((m, from)) => (Some(m), Some(from), None),
            None => (None, None, Some("mapping_empty_or_blocked")),
        };
        return MessageSelection {
            model,
            temperature,
            hit: Some(MessageHit {
                scope_type: scope_type.to_owned(),
                scope_key,
                source,
                picked_from,
            }),
            chain,
            reason,
        };
    }
    MessageSelection {
        model: None,
        temperature: None,
        hit: None,
        chain,
        reason: Some("mapping_not_found"),
    }
}
