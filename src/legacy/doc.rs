//! `model_mappings.json` read for planning, in one pass and without building a JSON tree:
//! scope types and their entries in file order, each entry reduced to the members planning
//! reads ([`Fields`] and its `name`), everything else skipped unparsed.
//!
//! An object that repeats a key keeps the first place and the last value, as Python's `json`
//! (which wrote and read these files) and serde_json's ordered maps do. Any JSON value is
//! accepted where an object is expected; planning reports it (`entry_not_object`, ...).

use std::collections::HashMap;
use std::fmt;
use std::hash::BuildHasher;
use std::marker::PhantomData;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use crate::model::Fields;

/// A value read only when it is a JSON object.
pub(crate) enum Obj<T> {
    Object(T),
    /// Any other value (skipped unparsed).
    Other,
}

impl<T> Obj<T> {
    pub(crate) fn object(self) -> Option<T> {
        match self {
            Obj::Object(t) => Some(t),
            Obj::Other => None,
        }
    }
}

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

/// Reads the members of an object into `Self`.
trait FromMembers<'de>: Sized {
    fn from_members<A: MapAccess<'de>>(map: A) -> Result<Self, A::Error>;
}

impl<'de, T: FromMembers<'de>> Deserialize<'de> for Obj<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ObjVisitor(PhantomData))
    }
}

struct ObjVisitor<T>(PhantomData<T>);

impl<'de, T: FromMembers<'de>> Visitor<'de> for ObjVisitor<T> {
    type Value = Obj<T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Obj<T>, A::Error> {
        T::from_members(map).map(Obj::Object)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Obj<T>, A::Error> {
        while seq.next_element::<Skip>()?.is_some() {}
        Ok(Obj::Other)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Obj<T>, E> {
        Ok(Obj::Other)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Obj<T>, E> {
        Ok(Obj::Other)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Obj<T>, E> {
        Ok(Obj::Other)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Obj<T>, E> {
        Ok(Obj::Other)
    }

    fn visit_str<E>(self, _: &str) -> Result<Obj<T>, E> {
        Ok(Obj::Other)
    }

    fn visit_unit<E>(self) -> Result<Obj<T>, E> {
        Ok(Obj::Other)
    }
}

/// Any JSON value, read and dropped. Through `deserialize_any`, so nested arrays and objects
/// count toward serde_json's depth limit as they do in a parsed tree: a file nested too deep
/// still fails (serde's `IgnoredAny` would skip it).
struct Skip;

impl<'de> Deserialize<'de> for Skip {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(SkipVisitor)
    }
}

struct SkipVisitor;

impl<'de> Visitor<'de> for SkipVisitor {
    type Value = Skip;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Skip, A::Error> {
        while map.next_key::<Skip>()?.is_some() {
            map.next_value::<Skip>()?;
        }
        Ok(Skip)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Skip, A::Error> {
        while seq.next_element::<Skip>()?.is_some() {}
        Ok(Skip)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Skip, E> {
        Ok(Skip)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Skip, E> {
        Ok(Skip)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Skip, E> {
        Ok(Skip)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Skip, E> {
        Ok(Skip)
    }

    fn visit_str<E>(self, _: &str) -> Result<Skip, E> {
        Ok(Skip)
    }

    fn visit_unit<E>(self) -> Result<Skip, E> {
        Ok(Skip)
    }
}

/// A member's key, borrowed from the text when it has no escapes.
struct Key<'de>(std::borrow::Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }

            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(s.into()))
            }

            fn visit_str<E>(self, s: &str) -> Result<Key<'de>, E> {
                Ok(Key(s.to_owned().into()))
            }

            fn visit_string<E>(self, s: String) -> Result<Key<'de>, E> {
                Ok(Key(s.into()))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
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

impl<'de> FromMembers<'de> for Fields {
    fn from_members<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let mut fields = Fields::default();
        while let Some(Key(key)) = map.next_key::<Key>()? {
            match fields.slot(&key) {
                Some(slot) => *slot = Some(map.next_value()?),
                None => {
                    map.next_value::<Skip>()?;
                }
            }
        }
        Ok(fields)
    }
}
