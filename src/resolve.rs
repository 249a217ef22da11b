//! Pure resolution over a [`Snapshot`] (behaviour B8, B9): no I/O, no locks, no clock.

use std::borrow::Cow;
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use crate::model::{self, Mapping, Metadata};
use crate::normalize::{self, MappingId};
use crate::snapshot::{Entry, Slot, Snapshot, BARE_SCOPES};

/// The answer to `resolve_model_key` (behaviour B8).
///
/// A hit shares the snapshot's entry (one reference count) and a miss borrows the key it
/// passes through, so resolving allocates nothing; [`Resolution::into_owned`] detaches it from
/// the key.
#[derive(Debug, Clone)]
pub struct Resolution<'k>(Found<'k>);

#[derive(Debug, Clone)]
enum Found<'k> {
    /// A blank key.
    Blank,
    /// No mapping matched: the (trimmed) key is the model.
    Miss(Cow<'k, str>),
    Hit(Arc<Entry>),
}

impl<'k> Resolution<'k> {
    /// The model to call upstream; `None` for a blank key or when every model is blocked.
    pub fn resolved_model(&self) -> Option<&str> {
        match &self.0 {
            Found::Blank => None,
            Found::Miss(key) => Some(key),
            Found::Hit(entry) => entry.picked.as_deref(),
        }
    }

    /// Whether a mapping matched.
    pub fn hit(&self) -> bool {
        matches!(self.0, Found::Hit(_))
    }

    /// The mapping that matched, if any.
    pub fn mapping(&self) -> Option<&Arc<Mapping>> {
        match &self.0 {
            Found::Hit(entry) => Some(&entry.mapping),
            _ => None,
        }
    }

    /// From the matched mapping's metadata.
    pub fn preferred_endpoint_id(&self) -> Option<i64> {
        match &self.0 {
            Found::Hit(entry) => entry.endpoint,
            _ => None,
        }
    }

    /// The same answer, owning its text.
    pub fn into_owned(self) -> Resolution<'static> {
        Resolution(match self.0 {
            Found::Blank => Found::Blank,
            Found::Miss(key) => Found::Miss(Cow::Owned(key.into_owned())),
            Found::Hit(entry) => Found::Hit(entry),
        })
    }

    /// The answer as the JSON object of behaviour B8. A hit's text is made once per snapshot entry
    /// and then copied: the C ABI returns it on every resolve.
    pub fn to_json(&self) -> String {
        match &self.0 {
            Found::Hit(entry) => resolution_json(entry).to_owned(),
            _ => serde_json::to_string(self).expect("a resolution always serialises"),
        }
    }

    fn of(entry: &Arc<Entry>) -> Resolution<'k> {
        Resolution(Found::Hit(Arc::clone(entry)))
    }
}

impl PartialEq for Resolution<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.resolved_model() == other.resolved_model()
            && self.mapping() == other.mapping()
            && self.preferred_endpoint_id() == other.preferred_endpoint_id()
    }
}

/// The B8 object of a hit, in its key order.
#[derive(Serialize)]
struct HitView<'a> {
    resolved_model: Option<&'a str>,
    hit: bool,
    mapping_id: &'a str,
    scope_type: &'a str,
    scope_key: &'a str,
    metadata: &'a Metadata,
    preferred_endpoint_id: Option<i64>,
}

impl<'a> HitView<'a> {
    fn of(entry: &'a Entry) -> HitView<'a> {
        let m = &entry.mapping;
        HitView {
            resolved_model: entry.picked.as_deref(),
            hit: true,
            mapping_id: &m.id,
            scope_type: &m.scope_type,
            scope_key: &m.scope_key,
            metadata: &m.metadata,
            preferred_endpoint_id: entry.endpoint,
        }
    }
}

/// The B8 object of a blank key or a miss.
#[derive(Serialize)]
struct MissView<'a> {
    resolved_model: Option<&'a str>,
    hit: bool,
}

/// The JSON text of a hit on `entry` (what [`Entry`] keeps once made).
/// The JSON object a resolve that hits `entry` returns (behaviour B8), made once per entry.
fn resolution_json(entry: &Entry) -> &str {
    entry.json.get_or_init(|| hit_json(entry).into_boxed_str())
}

pub(crate) fn hit_json(entry: &Entry) -> String {
    serde_json::to_string(&HitView::of(entry)).expect("a resolution always serialises")
}

impl Serialize for Resolution<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.0 {
            Found::Hit(entry) => HitView::of(entry).serialize(s),
            _ => MissView {
                resolved_model: self.resolved_model(),
                hit: false,
            }
            .serialize(s),
        }
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

/// Resolves the model key a client sent (behaviour B8).
pub fn resolve_model_key<'k>(snap: &Snapshot, key: &'k str) -> Resolution<'k> {
    let key = normalize::trim(key);
    if key.is_empty() {
        return Resolution(Found::Blank);
    }
    let found = match target(key) {
        Some(Target::Id(ty, k)) => snap.active(&ty, k),
        Some(Target::Bare(k)) => snap.bare(k),
        None => None,
    };
    match found {
        Some(entry) => Resolution::of(entry),
        None => Resolution(Found::Miss(Cow::Borrowed(key))),
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

/// `resolve_model_key` plus the reasons (behaviour B8 `explain`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Explanation {
    /// The same result `resolve_model_key` gives.
    #[serde(flatten)]
    pub resolution: Resolution<'static>,
    /// Every mapping that matched the key, with why it won or lost.
    pub considered: Vec<Considered>,
    /// Each model of the chosen mapping with its fate.
    pub candidates: Vec<CandidateFate>,
}

/// Resolves like [`resolve_model_key`] and says why.
pub fn explain(snap: &Snapshot, key: &str) -> Explanation {
    let resolution = resolve_model_key(snap, key).into_owned();
    let trimmed = key.trim();
    let slots: Vec<&Slot> = match (trimmed.is_empty(), target(trimmed)) {
        (true, _) | (_, None) => Vec::new(),
        (false, Some(Target::Id(ty, k))) => snap.slot(&ty, k).into_iter().collect(),
        (false, Some(Target::Bare(k))) => BARE_SCOPES
            .iter()
            .filter_map(|ty| snap.slot(ty, k))
            .collect(),
    };
    let chosen = resolution.mapping();
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

/// The inputs of `resolve_for_message` (behaviour B9).
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

/// The selection for one chat request (behaviour B9).
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

/// Picks the model for one chat request (behaviour B9).
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
            // A host-kept prompt mapping, read as tolerantly as rows written by others.
            ("prompt", Some(v)) if !v.is_null() => v.as_object().map(|o| {
                let id = MappingId {
                    scope_type: "prompt".to_owned(),
                    scope_key: scope_key.clone(),
                };
                Candidate::from_mapping(&model::host_mapping(o, id))
            }),
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
