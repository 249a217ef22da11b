//! `model_mappings.json` read for planning, in one pass and without building a JSON tree:
//! scope types and their entries in file order, each entry reduced to the members planning
//! reads ([`Fields`] and its `name`), everything else skipped unparsed.
//!
//! An object that repeats a key keeps the first place and the last value, as Python's `json`
//! (which wrote and read these files) and serde_json's ordered maps do. Any JSON value is
//! accepted where an object is expected; planning reports it (`entry_not_object`, ...).

use std::collections::HashMap;
use std::hash::BuildHasher;

use serde::de::{Deserialize, MapAccess};
use serde_json::Value;

use crate::members::{FromMembers, Key, Obj, Skip};
use crate::model::Fields;

/// The top level: scope type → its entries.
pub(crate) type Doc = Obj<Members<Obj<Members<Obj<Entry>>>>>;

/// An object's members in file order, keys unique.
pub(crate) struct Members<T>(pub Vec<(String, T)>);

/// One entry: `{"name": ..., "mapping": {...}}`.
#[derive(Default)]
pub(crate) struct Entry {
    /// The entry's own `name`, when it has the key (a null one still wins over the mapping's).
    pub name: Option<Value>,
    /// `mapping` when it is an object.
    pub mapping: Option<Fields>,
}

impl<'de, T: Deserialize<'de>> FromMembers<'de> for Members<T> {
    fn from_members<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let mut items: Vec<(String, T)> = Vec::new();
        // Hash of a key → its first index; a rare collision of two keys falls back to a scan.
        let hasher = foldhash::fast::RandomState::default();
        let mut seen: HashMap<u64, usize, _> = HashMap::with_hasher(hasher);
        while let Some(Key(key)) = map.next_key::<Key>()? {
            let value = map.next_value::<T>()?;
            let h = hasher.hash_one(&*key);
            let at = match seen.get(&h) {
                Some(&i) if items[i].0 == key => Some(i),
                Some(_) => items.iter().position(|(k, _)| *k == key),
                None => None,
            };
            match at {
                Some(i) => items[i].1 = value,
                None => {
                    seen.entry(h).or_insert(items.len());
                    items.push((key.into_owned(), value));
                }
            }
        }
        Ok(Members(items))
    }
}

impl<'de> FromMembers<'de> for Entry {
    fn from_members<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let mut entry = Entry::default();
        while let Some(Key(key)) = map.next_key::<Key>()? {
            match &*key {
                "name" => entry.name = Some(map.next_value()?),
                "mapping" => entry.mapping = map.next_value::<Obj<Fields>>()?.object(),
                _ => {
                    map.next_value::<Skip>()?;
                }
            }
        }
        Ok(entry)
    }
}
