//! Reading a JSON object straight into the members a caller needs, in one pass and without
//! building a JSON tree: members it does not name are skipped unparsed (their nesting still
//! counts toward serde_json's depth limit), and any value is accepted where an object is
//! expected, for the caller to report.

use std::fmt;
use std::marker::PhantomData;

use serde::de::value::{BorrowedStrDeserializer, StringDeserializer};
use serde::de::{Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

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

/// Reads the members of an object into `Self`.
pub(crate) trait FromMembers<'de>: Sized {
    fn from_members<A: MapAccess<'de>>(map: A) -> Result<Self, A::Error>;
}

/// Visitor methods that take any JSON scalar (`null`, a boolean, a number, a string) as `$v`.
macro_rules! scalars_are {
    ($v:expr) => {
        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            Ok($v)
        }

        fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
            Ok($v)
        }

        fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
            Ok($v)
        }

        fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
            Ok($v)
        }

        // A `serde_json::Value` holding an integer beyond 64 bits (`arbitrary_precision`).
        fn visit_i128<E>(self, _: i128) -> Result<Self::Value, E> {
            Ok($v)
        }

        fn visit_u128<E>(self, _: u128) -> Result<Self::Value, E> {
            Ok($v)
        }

        fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
            Ok($v)
        }

        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok($v)
        }
    };
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

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Obj<T>, A::Error> {
        let Some(first) = map.next_key::<Key>()? else {
            return T::from_members(map).map(Obj::Object);
        };
        if first.0 == NUMBER_TOKEN {
            map.next_value::<Skip>()?;
            return Ok(Obj::Other);
        }
        T::from_members(Replay {
            first: Some(first),
            map,
        })
        .map(Obj::Object)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Obj<T>, A::Error> {
        SkipVisitor.visit_seq(seq).map(|_| Obj::Other)
    }

    scalars_are!(Obj::Other);
}

/// With serde_json's `arbitrary_precision` (numbers kept exactly as written), a number reaches
/// `deserialize_any` as a map whose one key is this: it is a number, not an object.
const NUMBER_TOKEN: &str = "$serde_json::private::Number";

/// A map whose first key was already read (to tell a number from an object), handing that key
/// out again first.
struct Replay<'de, A> {
    first: Option<Key<'de>>,
    map: A,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Replay<'de, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        match self.first.take() {
            Some(Key(std::borrow::Cow::Borrowed(k))) => {
                seed.deserialize(BorrowedStrDeserializer::new(k)).map(Some)
            }
            Some(Key(std::borrow::Cow::Owned(k))) => {
                seed.deserialize(StringDeserializer::new(k)).map(Some)
            }
            None => self.map.next_key_seed(seed),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        self.map.next_value_seed(seed)
    }

    fn size_hint(&self) -> Option<usize> {
        self.map.size_hint()
    }
}

/// Any JSON value, read and dropped. Through `deserialize_any`, so nested arrays and objects
/// count toward serde_json's depth limit as they do in a parsed tree: a file nested too deep
/// still fails (serde's `IgnoredAny` would skip it).
pub(crate) struct Skip;

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

    scalars_are!(Skip);
}

/// A member's key, borrowed from the text when it has no escapes.
pub(crate) struct Key<'de>(pub std::borrow::Cow<'de, str>);

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

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads any object's member names.
    struct Names(Vec<String>);

    impl<'de> FromMembers<'de> for Names {
        fn from_members<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
            let mut names = Vec::new();
            while let Some(Key(k)) = map.next_key::<Key>()? {
                map.next_value::<Skip>()?;
                names.push(k.into_owned());
            }
            Ok(Names(names))
        }
    }

    fn read(text: &str) -> Option<Vec<String>> {
        let from_text = serde_json::from_str::<Obj<Names>>(text).unwrap().object();
        let value: serde_json::Value = serde_json::from_str(text).unwrap();
        let from_value = Obj::<Names>::deserialize(&value).unwrap().object();
        assert_eq!(
            from_text.as_ref().map(|n| &n.0),
            from_value.as_ref().map(|n| &n.0)
        );
        from_text.map(|n| n.0)
    }

    #[test]
    fn only_an_object_is_read_as_one_and_a_number_of_any_size_is_another_value() {
        for other in [
            "42",
            "-1",
            "0.5",
            "1e400",
            "12345678901234567890123",
            "-12345678901234567890123",
            "1234567890123456789012345678901234567890123",
            "\"x\"",
            "null",
            "true",
            "[1, {}]",
        ] {
            assert_eq!(read(other), None, "{other}");
        }
        assert_eq!(read("{}"), Some(vec![]));
        assert_eq!(
            read(r#"{"a": 1, "b": {"c": 12345678901234567890123}}"#),
            Some(vec!["a".to_owned(), "b".to_owned()])
        );
    }
}
