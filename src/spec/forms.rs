//! serde forms shared by several sections of the spec: ordered maps, "one or a list",
//! strict strings (versions) and "absent vs explicit null".

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};

use super::error::mismatch;

/// A YAML mapping read as `Vec<(key, value)>`, keeping the author's order (parameter order is
/// the emulator's input order) and refusing a repeated key.
pub(crate) mod ordered_map {
    use super::*;

    pub fn serialize<S: Serializer, T: Serialize>(entries: &[(String, T)], s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(entries.len()))?;
        for (key, value) in entries {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }

    pub fn deserialize<'de, D, T>(d: D) -> Result<Vec<(String, T)>, D::Error>
    where
        D: Deserializer<'de>,
        T: Deserialize<'de>,
    {
        d.deserialize_map(OrderedMapVisitor(PhantomData))
    }

    struct OrderedMapVisitor<T>(PhantomData<T>);

    impl<'de, T: Deserialize<'de>> Visitor<'de> for OrderedMapVisitor<T> {
        type Value = Vec<(String, T)>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a mapping")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut entries: Vec<(String, T)> = Vec::new();
            // A set, not a scan of `entries`: a mapping of many keys stays linear.
            let mut seen = std::collections::HashSet::new();
            while let Some(key) = map.next_key::<String>()? {
                if !seen.insert(key.clone()) {
                    return Err(mismatch(format!("`{key}` a second time"), "each key at most once"));
                }
                let value = map.next_value()?;
                entries.push((key, value));
            }
            Ok(entries)
        }
    }
}

/// A keyword or a list of keywords (`method: box` or `method: [box, mahalanobis]`), written
/// back as a single keyword when there is one.
pub(crate) mod one_or_many {
    use super::*;

    pub fn serialize<S: Serializer, T: Serialize>(items: &[T], s: S) -> Result<S::Ok, S::Error> {
        match items {
            [single] => single.serialize(s),
            _ => items.serialize(s),
        }
    }

    pub fn deserialize<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
    where
        D: Deserializer<'de>,
        T: Deserialize<'de>,
    {
        d.deserialize_any(OneOrManyVisitor(PhantomData))
    }

    struct OneOrManyVisitor<T>(PhantomData<T>);

    impl<'de, T: Deserialize<'de>> Visitor<'de> for OneOrManyVisitor<T> {
        type Value = Vec<T>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a keyword or a list of keywords")
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
            let one = T::deserialize(de::value::StrDeserializer::<E>::new(text))?;
            Ok(vec![one])
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut items = Vec::new();
            while let Some(item) = seq.next_element()? {
                items.push(item);
            }
            Ok(items)
        }
    }
}

/// A string that must be written as a string: a version like `2.0` is a YAML number (and
/// `2.10` would silently become 2.1), so it is refused with a hint to quote it.
pub(crate) mod strict_string {
    use super::*;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        d.deserialize_any(StrictStringVisitor)
    }

    struct StrictStringVisitor;

    fn number<E: de::Error>(shown: String) -> E {
        mismatch(
            format!("the number {shown} (YAML reads an unquoted {shown} as a number)"),
            format!("a string: quote it, e.g. \"{shown}\""),
        )
    }

    impl Visitor<'_> for StrictStringVisitor {
        type Value = String;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a string")
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<String, E> {
            Ok(text.to_string())
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
            Err(number(v.to_string()))
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
            Err(number(v.to_string()))
        }

        fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
            Err(number(format!("{v:?}")))
        }
    }
}

/// `Option<Option<T>>`: `None` when the key is absent, `Some(None)` for an explicit `null`.
/// Use with `#[serde(default, skip_serializing_if = "Option::is_none")]`.
pub(crate) mod explicit_null {
    use super::*;

    pub fn deserialize<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
    where
        D: Deserializer<'de>,
        T: Deserialize<'de>,
    {
        Option::<T>::deserialize(d).map(Some)
    }
}
