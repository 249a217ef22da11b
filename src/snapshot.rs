//! The immutable in-memory view of every mapping and the blocked set (behaviour B13).
//!
//! Readers share one `Arc<Snapshot>`; writers build a new one. Keys are `Arc<str>` so that a
//! copy-on-write after one upsert clones reference counts, not strings.

use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Utc};

use crate::db::RowRef;
use crate::model::Mapping;
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
    /// The resolution JSON of a hit on this entry, made by the first resolve that needs it
    /// (`resolve::hit_json`).
    pub json: OnceLock<Box<str>>,
    /// [`fingerprint`] of the models it names.
    models: u64,
}

/// Two bits of a 64-bit word per model name: a blocked-list change looks only at the slots
/// whose word has the changed models' bits, without reading any mapping (the mappings are
/// spread over megabytes; the words sit in the shards).
fn fingerprint<'a>(models: impl IntoIterator<Item = &'a str>) -> u64 {
    use std::hash::BuildHasher;
    let hasher = foldhash::fast::FixedState::with_seed(0x6d6d_5f62_6c6f_636b);
    models.into_iter().fold(0, |acc, m| {
        let h = hasher.hash_one(m);
        acc | 1 << (h & 63) | 1 << ((h >> 6) & 63)
    })
}

impl Entry {
    fn new(mapping: Arc<Mapping>, row: RowRef, blocked: &Blocked) -> Entry {
        let updated = mapping.updated_at.as_deref().and_then(timestamp::parse);
        let endpoint = mapping.preferred_endpoint_id();
        let picked = mapping.walk().find(|m| !blocked.contains(m)).map(Box::from);
        let models = fingerprint(mapping.walk());
        Entry {
            active: mapping.is_active,
            mapping,
            row,
            updated,
            endpoint,
            picked,
            json: OnceLock::new(),
            models,
        }
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
    /// The union of its rows' model [`fingerprint`]s.
    models: u64,
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
            models: entry.models,
            winner: Arc::new(entry),
            shadowed: Vec::new(),
        }
    }

    fn add(&mut self, entry: Entry) {
        self.models |= entry.models;
        let entry = Arc::new(entry);
        if beats(&entry, &self.winner) {
            let old = std::mem::replace(&mut self.winner, entry);
            self.shadowed.push(old);
        } else {
            self.shadowed.push(entry);
        }
    }

    /// The slot of `entries` (any order), or `None` when there are none. The winner is the
    /// one [`beats`] all others, so a slot built row by row in table order and one rebuilt
    /// after a change agree.
    fn of(mut entries: Vec<Arc<Entry>>) -> Option<Slot> {
        let best = (0..entries.len()).reduce(|a, b| {
            if beats(&entries[b], &entries[a]) {
                b
            } else {
                a
            }
        })?;
        let winner = entries.swap_remove(best);
        let models = entries.iter().fold(winner.models, |acc, e| acc | e.models);
        Some(Slot {
            winner,
            shadowed: entries,
            models,
        })
    }
}

/// Whether `a` represents its id rather than `b`: active before inactive, then newer, then
/// the row stored first (a full load adds rows in rowid order).
fn beats(a: &Entry, b: &Entry) -> bool {
    match (a.active, b.active) {
        (true, false) => true,
        (false, true) => false,
        _ if newer(a, b) => true,
        _ if newer(b, a) => false,
        _ => a.row.rowid < b.row.rowid,
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

    /// Every scope type with its keys.
    fn iter(&self) -> impl Iterator<Item = (&Arc<str>, &KeyMap)> + '_ {
        static MAPPING_NAME: OnceLock<Arc<str>> = OnceLock::new();
        let mapping = MAPPING_NAME.get_or_init(|| Arc::from(MAPPING));
        std::iter::once((mapping, &self.mapping)).chain(self.others.iter().map(|(t, k)| (t, k)))
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

    fn entries(&self) -> impl Iterator<Item = (&Arc<str>, &V)> + '_ {
        self.shards().flat_map(|s| s.iter()).map(|(_, k, v)| (k, v))
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

/// Where a snapshot stands in the change feed (behaviour B13): the last change it reflects and the
/// schema it was read under (a schema change means the table may have been rebuilt behind
/// the feed's back).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Position {
    /// The feed's counter: the `seq` of the last change in `mm_changes`.
    pub seq: i64,
    /// `PRAGMA schema_version`.
    pub schema: i64,
    /// The feed's triggers were all in place: without them, changes go unrecorded and a
    /// moved `data_version` must mean a full reload.
    pub triggers: bool,
    /// A fingerprint of the log entry `seq` (0 when there is none): a log emptied by someone
    /// and counted up again holds another entry under the same number.
    pub tip: u64,
    /// How many times this store found the log started over (its counter below a snapshot's,
    /// or another entry at a snapshot's `seq`). Counters of different starts do not compare:
    /// [`Position::supersedes`] orders by this first.
    pub restarts: u32,
}

impl Position {
    /// Whether a snapshot standing here reflects a later state of the database than one
    /// standing at `other` (each of `seq` and `schema` only grows between restarts).
    pub(crate) fn supersedes(&self, other: &Position) -> bool {
        (self.restarts, self.seq, self.schema) > (other.restarts, other.seq, other.schema)
    }
}

/// The names in exactly one of two sorted, unique lists, sorted.
fn symmetric_difference<'a>(a: &'a [String], b: &'a [String]) -> Vec<&'a str> {
    let mut out: Vec<&str> = a
        .iter()
        .filter(|m| b.binary_search(m).is_err())
        .chain(b.iter().filter(|m| a.binary_search(m).is_err()))
        .map(String::as_str)
        .collect();
    out.sort_unstable();
    out
}

/// Scope types a bare key (no `:`) may match, highest priority first (behaviour B8).
pub(crate) const BARE_SCOPES: [&str; 2] = ["mapping", "global"];

/// An immutable view of all mappings and blocked models.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Where in the database's change feed this view stands.
    pos: Position,
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

    /// A snapshot of mappings and a blocked list the caller hands over rather than stored
    /// ones (e.g. what a host's own `list_mappings` returned: [`crate::model::host_mappings`]),
    /// so the same pure resolves run over them.
    pub fn from_mappings(
        mappings: impl IntoIterator<Item = Mapping>,
        blocked: impl IntoIterator<Item = String>,
    ) -> Snapshot {
        // Not in any table: the row reference is never used to write.
        let unstored = RowRef {
            rowid: 0,
            normal: false,
        };
        Snapshot::from_rows(
            mappings.into_iter().map(|m| (Arc::new(m), unstored)),
            blocked,
        )
    }

    fn build(rows: impl Iterator<Item = (Arc<Mapping>, RowRef)>, blocked: Blocked) -> Snapshot {
        let mut snap = Snapshot {
            pos: Position::default(),
            by_scope: ScopeMap::default(),
            blocked,
        };
        for (mapping, row) in rows {
            snap.insert_row(mapping, row);
        }
        snap
    }

    /// Adds one table row while building.
    pub(crate) fn add_row(&mut self, row: RowRef, mapping: Mapping) {
        self.insert_row(Arc::new(mapping), row);
    }

    fn insert_row(&mut self, mapping: Arc<Mapping>, row: RowRef) {
        let entry = Entry::new(mapping, row, &self.blocked);
        let keys = self.by_scope.entry(&entry.mapping.scope_type);
        match keys.get_mut(entry.mapping.scope_key.as_str()) {
            Some(slot) => slot.add(entry),
            None => {
                keys.insert(
                    Arc::from(entry.mapping.scope_key.as_str()),
                    Slot::single(entry),
                );
            }
        }
    }

    /// Where this view stands in the change feed.
    pub(crate) fn position(&self) -> Position {
        self.pos
    }

    /// This view, standing at `pos`.
    pub(crate) fn at(mut self, pos: Position) -> Snapshot {
        self.pos = pos;
        self
    }

    /// A copy after rows changed: each `(scope_type, scope_key, rowid)` of `gone` leaves its
    /// slot, then each row of `now` (as the table holds it) takes the place of any entry of
    /// the same rowid. Only the shards these ids fall in are copied.
    pub(crate) fn with_rows(
        &self,
        gone: &[(String, String, i64)],
        now: impl IntoIterator<Item = (Arc<Mapping>, RowRef)>,
        pos: Position,
    ) -> Snapshot {
        let mut next = self.clone();
        next.pos = pos;
        for (ty, key, rowid) in gone {
            next.remove_row(ty, key, *rowid);
        }
        for (m, row) in now {
            next.remove_row(&m.scope_type, &m.scope_key, row.rowid);
            next.insert_row(m, row);
        }
        next
    }

    fn remove_row(&mut self, scope_type: &str, scope_key: &str, rowid: i64) {
        let Some(keys) = self.by_scope.get_mut(scope_type) else {
            return;
        };
        let Some(slot) = keys.get(scope_key) else {
            return;
        };
        if !slot.rows().any(|e| e.row.rowid == rowid) {
            return;
        }
        let rest: Vec<Arc<Entry>> = slot
            .rows()
            .filter(|e| e.row.rowid != rowid)
            .cloned()
            .collect();
        match Slot::of(rest) {
            Some(slot) => {
                keys.insert(Arc::from(scope_key), slot);
            }
            None => {
                keys.remove(scope_key);
            }
        }
    }

    /// A copy with another blocked set: the picks of the mappings that name a model whose
    /// fate changed are recomputed; every other entry is shared with this snapshot.
    pub(crate) fn with_blocked(&self, blocked: impl IntoIterator<Item = String>) -> Snapshot {
        let blocked = Blocked::new(blocked);
        let mut next = self.clone();
        next.blocked = blocked.clone();
        let changed: Vec<&str> = symmetric_difference(&self.blocked.0, &blocked.0);
        if changed.is_empty() {
            return next;
        }
        let names = |e: &Entry| e.mapping.walk().any(|m| changed.binary_search(&m).is_ok());
        // A slot may name a changed model only if its word has some changed model's two bits;
        // the mappings themselves are read only for those.
        let bits: Vec<u64> = changed.iter().map(|m| fingerprint([*m])).collect();
        let maybe = |slot: &Slot| bits.iter().any(|b| slot.models & b == *b);
        let touched: Vec<(Arc<str>, Arc<str>)> = self
            .by_scope
            .iter()
            .flat_map(|(ty, keys)| {
                keys.entries()
                    .filter(|(_, slot)| maybe(slot) && slot.rows().any(|e| names(e)))
                    .map(move |(key, _)| (Arc::clone(ty), Arc::clone(key)))
            })
            .collect();
        for (ty, key) in touched {
            let keys = next.by_scope.entry(&ty);
            let Some(slot) = keys.get(&key) else { continue };
            let rebuilt: Vec<Arc<Entry>> = slot
                .rows()
                .map(|e| Arc::new(Entry::new(Arc::clone(&e.mapping), e.row, &next.blocked)))
                .collect();
            if let Some(slot) = Slot::of(rebuilt) {
                keys.insert(key, slot);
            }
        }
        next
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
        let after = before.with_rows(
            &[("mapping".into(), "k8".into(), 9)],
            [
                (Arc::new(mapping("mapping:k7", "new")), row(8)),
                (Arc::new(mapping("global:k9999", "g")), row(501)),
            ],
            Position::default(),
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
    fn a_row_that_moved_to_another_id_leaves_its_old_slot() {
        let before = snapshot(
            vec![mapping("mapping:a", "m"), mapping("mapping:b", "n")],
            &[],
        );
        // Row 1 (mapping:a) now holds scope key c.
        let after = before.with_rows(
            &[("mapping".into(), "a".into(), 1)],
            [(Arc::new(mapping("mapping:c", "m")), row(1))],
            Position::default(),
        );
        assert!(after.get("mapping", "a").is_none());
        assert_eq!(after.bare("c").unwrap().row.rowid, 1);
        assert_eq!(after.len(), 2);
    }

    #[test]
    fn a_rebuilt_slot_picks_the_winner_a_full_load_picks() {
        let mut old = mapping("tenant:x", "old");
        old.updated_at = Some("2026-01-01T00:00:00+00:00".into());
        let mut new = mapping("mapping:x", "new");
        new.updated_at = Some("2026-02-01T00:00:00+00:00".into());
        let mut tie = mapping("mapping:x", "tie");
        tie.updated_at = new.updated_at.clone();
        let full = snapshot(vec![old.clone(), new.clone(), tie.clone()], &[]);
        assert_eq!(full.bare("x").unwrap().row.rowid, 2);
        // The same rows arriving in another order, then the winner removed and put back.
        let other = Snapshot::from_rows(
            [
                (Arc::new(tie), row(3)),
                (Arc::new(new.clone()), row(2)),
                (Arc::new(old), row(1)),
            ],
            Vec::<String>::new(),
        );
        assert_eq!(other.bare("x").unwrap().row.rowid, 2);
        let again = other.with_rows(
            &[("mapping".into(), "x".into(), 2)],
            [(Arc::new(new), row(2))],
            Position::default(),
        );
        assert_eq!(again.bare("x").unwrap().row.rowid, 2);
        assert_eq!(again.slot("mapping", "x").unwrap().rows().count(), 3);
    }

    #[test]
    fn a_blocked_change_rebuilds_only_the_entries_that_name_the_model() {
        let mut rows: Vec<Mapping> = (0..100)
            .map(|i| mapping(&format!("mapping:k{i}"), "common"))
            .collect();
        rows[7].candidates.push("rare".into());
        let before = snapshot(rows, &[]);
        let after = before.with_blocked(["rare".to_string()]);
        assert!(!Arc::ptr_eq(
            before.bare("k7").unwrap(),
            after.bare("k7").unwrap()
        ));
        assert!(Arc::ptr_eq(
            before.bare("k8").unwrap(),
            after.bare("k8").unwrap()
        ));
        let blocked_common = after.with_blocked(["common".to_string(), "rare".to_string()]);
        assert_eq!(blocked_common.bare("k8").unwrap().picked, None);
        assert_eq!(blocked_common.bare("k7").unwrap().picked, None);
        assert_eq!(after.bare("k7").unwrap().picked.as_deref(), Some("common"));
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
        let after = before.with_rows(
            &[],
            [(Arc::new(mapping("mapping:k1", "x")), row(2))],
            Position::default(),
        );
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
