//! The immutable in-memory view of every mapping and the blocked set (behaviour B13).
//!
//! Readers share one `Arc<Snapshot>`; writers build a new one. Keys are `Arc<str>` so that a
//! copy-on-write after one upsert clones reference counts, not strings.

use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Utc};

use crate::db::RowRef;
use crate::model::Mapping;
use crate::normalize::MappingId;
use crate::timestamp;

/// One mapping with the values resolution needs, computed once per snapshot.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub mapping: Arc<Mapping>,
    /// Where the row lives in the table.
    pub row: RowRef,
    /// `mapping.is_active`, here so a lookup decides without reading the mapping.
    pub active: bool,
    pub updated: Option<DateTime<Utc>>,
    pub endpoint: Option<i64>,
    /// The first model of [`Mapping::walk`] not blocked; `None` when all are.
    pub picked: Option<Box<str>>,
    /// The resolution JSON of a hit on this entry, made on the first resolve that needs it.
    json: OnceLock<Box<str>>,
}

impl Entry {
    fn new(mapping: Arc<Mapping>, row: RowRef, blocked: &Blocked) -> Entry {
        let updated = mapping.updated_at.as_deref().and_then(timestamp::parse);
        let endpoint = mapping.preferred_endpoint_id();
        let picked = mapping.walk().find(|m| !blocked.contains(m)).map(Box::from);
        Entry {
            active: mapping.is_active,
            mapping,
            row,
            updated,
            endpoint,
            picked,
            json: OnceLock::new(),
        }
    }

    /// The JSON object a resolve that hits this entry returns (behaviour B8).
    pub fn resolution_json(&self) -> &str {
        self.json
            .get_or_init(|| crate::resolve::hit_json(self).into_boxed_str())
    }
}

/// Every stored row that normalises to one id. Normally one; rows written by others with SQL
/// (`tenant:x` beside `mapping:x`) can collide until the next open rewrites them (behaviour B11).
#[derive(Debug, Clone)]
pub(crate) struct Slot {
    /// The row that represents the id: the newest active one, else the newest.
    pub winner: Arc<Entry>,
    /// The other rows, kept so `explain` can say why they lost.
    pub shadowed: Vec<Arc<Entry>>,
}

/// Newest first; rows without a timestamp last.
fn newer(a: &Entry, b: &Entry) -> bool {
    match (a.updated, b.updated) {
        (Some(x), Some(y)) => x > y,
        (Some(_), None) => true,
        _ => false,
    }
}

impl Slot {
    /// Every row of the id: the winner, then the shadowed ones.
    pub(crate) fn rows(&self) -> impl Iterator<Item = &Arc<Entry>> + '_ {
        std::iter::once(&self.winner).chain(&self.shadowed)
    }

    fn single(entry: Entry) -> Slot {
        Slot {
            winner: Arc::new(entry),
            shadowed: Vec::new(),
        }
    }

    fn add(&mut self, entry: Entry) {
        let entry = Arc::new(entry);
        let better = match (entry.active, self.winner.active) {
            (true, false) => true,
            (false, true) => false,
            _ => newer(&entry, &self.winner),
        };
        if better {
            let old = std::mem::replace(&mut self.winner, entry);
            self.shadowed.push(old);
        } else {
            self.shadowed.push(entry);
        }
    }
}

type KeyMap = ShardedMap<Slot>;

/// The scope type most keys resolve in (bare keys, `mapping:` and `tenant:` ids).
const MAPPING: &str = "mapping";

/// Scope type → its keys. `mapping` has a field of its own, so the usual lookup compares no
/// type name; the few others sit in a short vector, where a linear scan beats hashing.
#[derive(Debug, Clone, Default)]
struct ScopeMap {
    mapping: KeyMap,
    others: Vec<(Arc<str>, KeyMap)>,
}

impl ScopeMap {
    fn get(&self, scope_type: &str) -> Option<&KeyMap> {
        if scope_type == MAPPING {
            return Some(&self.mapping);
        }
        self.others
            .iter()
            .find(|(t, _)| &**t == scope_type)
            .map(|(_, k)| k)
    }

    fn get_mut(&mut self, scope_type: &str) -> Option<&mut KeyMap> {
        if scope_type == MAPPING {
            return Some(&mut self.mapping);
        }
        self.others
            .iter_mut()
            .find(|(t, _)| &**t == scope_type)
            .map(|(_, k)| k)
    }

    fn entry(&mut self, scope_type: &str) -> &mut KeyMap {
        if scope_type == MAPPING {
            return &mut self.mapping;
        }
        let i = match self.others.iter().position(|(t, _)| &**t == scope_type) {
            Some(i) => i,
            None => {
                self.others.push((Arc::from(scope_type), KeyMap::default()));
                self.others.len() - 1
            }
        };
        &mut self.others[i].1
    }

    fn values(&self) -> impl Iterator<Item = &KeyMap> + '_ {
        std::iter::once(&self.mapping).chain(self.others.iter().map(|(_, k)| k))
    }
}

/// Children per node of a [`ShardedMap`]: 16 × 16 × 16 = 4,096 shards.
const FANOUT: usize = 16;
#[cfg(test)]
const SHARDS: usize = FANOUT * FANOUT * FANOUT;

/// A shard's keys with their hashes, unordered: two or three of them in a 10,000-key map, so
/// a scan comparing hashes is quicker than a hash table, and the one hash of a lookup serves
/// both the path and the scan.
type Shard<V> = Vec<(u64, Arc<str>, V)>;
type Node<T> = Arc<[T; FANOUT]>;
/// 16 shards.
type Twig<V> = Node<Arc<Shard<V>>>;
/// 16 twigs.
type Branch<V> = Node<Twig<V>>;

/// A string-keyed map in 4,096 shards under a three-level tree of `Arc`s, copied on write like
/// a persistent map. Cloning it touches one reference count; changing a key copies three
/// nodes of 16 pointers and one shard (two or three entries of a 10,000-key map) instead of
/// the whole map. Every pointer copied is a reference count touched now and again when the
/// old copy is freed, and the shards' entries are spread over megabytes, so each is a cache
/// miss, and after a write has slept in fsync even the nodes' are: small shards keep the
/// misses of an upsert to a few dozen. A lookup costs one extra hash and three pointer hops.
#[derive(Debug, Clone)]
pub(crate) struct ShardedMap<V> {
    root: Node<Branch<V>>,
}

impl<V> Default for ShardedMap<V> {
    fn default() -> Self {
        // One shared empty shard, twig and branch: a path is copied on its first write anyway.
        let shard = Arc::new(Vec::new());
        let twig: Twig<V> = Arc::new(std::array::from_fn(|_| Arc::clone(&shard)));
        let branch: Branch<V> = Arc::new(std::array::from_fn(|_| Arc::clone(&twig)));
        ShardedMap {
            root: Arc::new(std::array::from_fn(|_| Arc::clone(&branch))),
        }
    }
}

impl<V: Clone> ShardedMap<V> {
    /// A key's hash: its top 12 bits choose the path, all 64 are compared in the shard. The
    /// seed is random per process, so keys chosen by whoever writes mappings cannot be made to
    /// pile into one shard (a shard is scanned).
    fn hash(key: &str) -> u64 {
        use std::hash::{BuildHasher, Hasher};
        static SEED: OnceLock<u64> = OnceLock::new();
        let seed = *SEED.get_or_init(|| {
            std::collections::hash_map::RandomState::new()
                .build_hasher()
                .finish()
        });
        foldhash::fast::FixedState::with_seed(seed).hash_one(key)
    }

    /// (branch, twig, shard) of a hash.
    fn path(h: u64) -> (usize, usize, usize) {
        let nibble = |shift: u32| ((h >> shift) & 0xf) as usize;
        (nibble(60), nibble(56), nibble(52))
    }

    fn shard(&self, h: u64) -> &Shard<V> {
        let (b, t, s) = Self::path(h);
        &self.root[b][t][s]
    }

    /// The shard of hash `h`, copied along its path when shared.
    fn shard_mut(&mut self, h: u64) -> &mut Shard<V> {
        let (b, t, s) = Self::path(h);
        let branch = &mut Arc::make_mut(&mut self.root)[b];
        let twig = &mut Arc::make_mut(branch)[t];
        Arc::make_mut(&mut Arc::make_mut(twig)[s])
    }

    fn position(shard: &Shard<V>, h: u64, key: &str) -> Option<usize> {
        shard.iter().position(|(eh, k, _)| *eh == h && **k == *key)
    }

    pub(crate) fn get(&self, key: &str) -> Option<&V> {
        let h = Self::hash(key);
        let shard = self.shard(h);
        Self::position(shard, h, key).map(|at| &shard[at].2)
    }

    fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        let h = Self::hash(key);
        // Don't copy a shared path for a miss.
        let at = Self::position(self.shard(h), h, key)?;
        Some(&mut self.shard_mut(h)[at].2)
    }

    fn insert(&mut self, key: Arc<str>, value: V) -> Option<V> {
        let h = Self::hash(&key);
        let shard = self.shard_mut(h);
        match Self::position(shard, h, &key) {
            Some(at) => Some(std::mem::replace(&mut shard[at].2, value)),
            None => {
                shard.push((h, key, value));
                None
            }
        }
    }

    fn remove(&mut self, key: &str) -> Option<V> {
        let h = Self::hash(key);
        let at = Self::position(self.shard(h), h, key)?;
        Some(self.shard_mut(h).swap_remove(at).2)
    }

    fn shards(&self) -> impl Iterator<Item = &Arc<Shard<V>>> + '_ {
        self.root
            .iter()
            .flat_map(|b| b.iter())
            .flat_map(|t| t.iter())
    }

    fn values(&self) -> impl Iterator<Item = &V> + '_ {
        self.shards().flat_map(|s| s.iter()).map(|(_, _, v)| v)
    }

    fn len(&self) -> usize {
        self.shards().map(|s| s.len()).sum()
    }
}

/// The blocked models, sorted and unique: one copy serves both the sorted listing (behaviour B7)
/// and membership tests (a binary search over a list that holds tens of names).
#[derive(Debug, Clone, Default)]
struct Blocked(Arc<Vec<String>>);

impl Blocked {
    fn new(models: impl IntoIterator<Item = String>) -> Blocked {
        let mut sorted: Vec<String> = models.into_iter().collect();
        sorted.sort();
        sorted.dedup();
        Blocked(Arc::new(sorted))
    }

    fn contains(&self, model: &str) -> bool {
        self.0.binary_search_by(|m| m.as_str().cmp(model)).is_ok()
    }
}

/// Scope types a bare key (no `:`) may match, highest priority first (behaviour B8).
pub(crate) const BARE_SCOPES: [&str; 2] = ["mapping", "global"];

/// An immutable view of all mappings and blocked models.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// A bare key (no `:`) is served from here too, by [`Snapshot::bare`], rather than from an
    /// index of its own: a write then copies one path of one map, and the cold cache lines an
    /// upsert touches after its fsync are what a durable upsert pays for most.
    by_scope: ScopeMap,
    blocked: Blocked,
}

impl Snapshot {
    /// Builds a snapshot from the table's rows, remembering where each lives (a load adds rows
    /// one by one with [`Snapshot::add_row`]; the legacy import builds its cache on another
    /// thread from the same mappings it inserts).
    pub(crate) fn from_rows(
        rows: impl IntoIterator<Item = (Arc<Mapping>, RowRef)>,
        blocked: impl IntoIterator<Item = String>,
    ) -> Snapshot {
        Snapshot::build(rows.into_iter(), Blocked::new(blocked))
    }

    fn build(rows: impl Iterator<Item = (Arc<Mapping>, RowRef)>, blocked: Blocked) -> Snapshot {
        let mut snap = Snapshot {
            by_scope: ScopeMap::default(),
            blocked,
        };
        for (mapping, row) in rows {
            snap.insert_row(mapping, row, false);
        }
        snap
    }

    /// Adds one table row while building.
    pub(crate) fn add_row(&mut self, row: RowRef, mapping: Mapping) {
        self.insert_row(Arc::new(mapping), row, false);
    }

    fn insert_row(&mut self, mapping: Arc<Mapping>, row: RowRef, replace: bool) {
        let entry = Entry::new(mapping, row, &self.blocked);
        let keys = self.by_scope.entry(&entry.mapping.scope_type);
        match keys.get_mut(entry.mapping.scope_key.as_str()) {
            Some(slot) if !replace => slot.add(entry),
            Some(slot) => *slot = Slot::single(entry),
            None => {
                keys.insert(
                    Arc::from(entry.mapping.scope_key.as_str()),
                    Slot::single(entry),
                );
            }
        }
    }

    /// A copy after a committed write: each mapping (with the row it was written to)
    /// replaces every row of its id, then each removed id is gone. Only the shards these ids
    /// fall in are copied.
    pub(crate) fn with_changes(
        &self,
        upserts: impl IntoIterator<Item = (Arc<Mapping>, RowRef)>,
        removals: &[MappingId],
    ) -> Snapshot {
        let mut next = self.clone();
        for (m, row) in upserts {
            next.insert_row(m, row, true);
        }
        for id in removals {
            if let Some(keys) = next.by_scope.get_mut(&id.scope_type) {
                keys.remove(&id.scope_key);
            }
        }
        next
    }

    /// A copy with another blocked set: every pick is recomputed over the same mappings.
    pub(crate) fn with_blocked(&self, blocked: impl IntoIterator<Item = String>) -> Snapshot {
        let rows = self
            .slots()
            .flat_map(Slot::rows)
            .map(|e| (Arc::clone(&e.mapping), e.row));
        Snapshot::build(rows, Blocked::new(blocked))
    }

    /// The entry a bare key (no `:`) resolves to: the active `mapping` row, else the active
    /// `global` row (behaviour B8).
    pub(crate) fn bare(&self, key: &str) -> Option<&Arc<Entry>> {
        BARE_SCOPES.iter().find_map(|t| self.active(t, key))
    }

    /// The winning row of an id when it is active.
    pub(crate) fn active(&self, scope_type: &str, scope_key: &str) -> Option<&Arc<Entry>> {
        self.slot(scope_type, scope_key)
            .map(|s| &s.winner)
            .filter(|e| e.active)
    }

    pub(crate) fn slot(&self, scope_type: &str, scope_key: &str) -> Option<&Slot> {
        self.by_scope.get(scope_type)?.get(scope_key)
    }

    pub(crate) fn slots(&self) -> impl Iterator<Item = &Slot> + '_ {
        self.by_scope.values().flat_map(|keys| keys.values())
    }

    /// The mapping stored under a normalised id.
    pub fn get(&self, scope_type: &str, scope_key: &str) -> Option<&Arc<Mapping>> {
        self.slot(scope_type, scope_key).map(|s| &s.winner.mapping)
    }

    /// Number of distinct mapping ids.
    pub fn len(&self) -> usize {
        self.by_scope.values().map(ShardedMap::len).sum()
    }

    /// Whether there are no mappings.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether resolution must skip `model`.
    pub fn is_blocked(&self, model: &str) -> bool {
        self.blocked.contains(model)
    }

    /// Blocked models, sorted and unique.
    pub fn blocked(&self) -> &[String] {
        &self.blocked.0
    }

    /// Mappings filtered by normalised scope type and key, ordered by behaviour B4: `updated_at`
    /// newest first, missing last, ties by id.
    pub fn list(&self, scope_type: Option<&str>, scope_key: Option<&str>) -> Vec<Arc<Mapping>> {
        let maps: Vec<&KeyMap> = match scope_type {
            Some(t) => self.by_scope.get(t).into_iter().collect(),
            None => self.by_scope.values().collect(),
        };
        let mut entries: Vec<&Arc<Entry>> = maps
            .into_iter()
            .flat_map(ShardedMap::values)
            .map(|slot| &slot.winner)
            .filter(|e| scope_key.is_none_or(|want| want == e.mapping.scope_key))
            .collect();
        entries.sort_by(|a, b| {
            b.updated
                .is_some()
                .cmp(&a.updated.is_some())
                .then_with(|| b.updated.cmp(&a.updated))
                .then_with(|| a.mapping.id.cmp(&b.mapping.id))
        });
        entries
            .into_iter()
            .map(|e| Arc::clone(&e.mapping))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::MappingInput;

    fn mapping(id: &str, model: &str) -> Mapping {
        MappingInput::new(id, Some(model))
            .unwrap()
            .validate(false)
            .unwrap()
    }

    /// A stand-in for where a row lives (these tests never touch a table).
    fn row(rowid: i64) -> RowRef {
        RowRef {
            rowid,
            normal: true,
        }
    }

    fn snapshot(rows: Vec<Mapping>, blocked: &[&str]) -> Snapshot {
        Snapshot::from_rows(
            rows.into_iter()
                .zip(1..)
                .map(|(m, i)| (Arc::new(m), row(i))),
            blocked.iter().map(|b| b.to_string()),
        )
    }

    #[test]
    fn a_derived_snapshot_never_changes_the_one_readers_hold() {
        let rows: Vec<Mapping> = (0..500)
            .map(|i| mapping(&format!("mapping:k{i}"), "old"))
            .collect();
        let before = snapshot(rows, &[]);
        let after = before.with_changes(
            [
                (Arc::new(mapping("mapping:k7", "new")), row(8)),
                (Arc::new(mapping("global:k9999", "g")), row(501)),
            ],
            &[MappingId::parse("mapping:k8").unwrap()],
        );
        assert_eq!(
            before
                .get("mapping", "k7")
                .unwrap()
                .default_model
                .as_deref(),
            Some("old")
        );
        assert!(before.get("mapping", "k8").is_some());
        assert!(before.bare("k9999").is_none());
        assert_eq!(before.len(), 500);
        assert_eq!(
            after.get("mapping", "k7").unwrap().default_model.as_deref(),
            Some("new")
        );
        assert!(after.get("mapping", "k8").is_none());
        assert_eq!(after.bare("k9999").unwrap().mapping.id, "global:k9999");
        assert_eq!(after.len(), 500);
        // Every key is still found through its shard in both.
        for i in (0..500).filter(|i| *i != 8) {
            assert!(after.bare(&format!("k{i}")).is_some(), "k{i}");
            assert!(before.bare(&format!("k{i}")).is_some(), "k{i}");
        }
    }

    #[test]
    fn a_new_blocked_set_recomputes_picks_over_the_same_mappings() {
        let mut m = mapping("mapping:x", "a");
        m.candidates.push("b".into());
        let before = snapshot(vec![m], &["z", "z"]);
        let after = before.with_blocked(["a".to_string()]);
        assert!(Arc::ptr_eq(
            before.get("mapping", "x").unwrap(),
            after.get("mapping", "x").unwrap()
        ));
        assert_eq!(before.bare("x").unwrap().picked.as_deref(), Some("a"));
        assert_eq!(after.bare("x").unwrap().picked.as_deref(), Some("b"));
        assert_eq!(before.blocked(), ["z"]);
        assert!(after.is_blocked("a") && !after.is_blocked("z"));
    }

    #[test]
    fn a_write_copies_one_shard_not_the_whole_map() {
        let rows: Vec<Mapping> = (0..1000)
            .map(|i| mapping(&format!("mapping:k{i}"), "m"))
            .collect();
        let before = snapshot(rows, &[]);
        let after = before.with_changes([(Arc::new(mapping("mapping:k1", "x")), row(2))], &[]);
        let (b, a) = (
            before.by_scope.get("mapping").unwrap(),
            after.by_scope.get("mapping").unwrap(),
        );
        let shared = b
            .shards()
            .zip(a.shards())
            .filter(|(x, y)| Arc::ptr_eq(x, y))
            .count();
        assert_eq!(shared, SHARDS - 1);
        // Of the 16 branches, only the one on the written path was copied.
        let branches = b
            .root
            .iter()
            .zip(a.root.iter())
            .filter(|(x, y)| Arc::ptr_eq(x, y))
            .count();
        assert_eq!(branches, FANOUT - 1);
    }
}
