//! JSON objects read strictly: a key repeated at any depth is an error, not a
//! silent "last one wins" (a second `aud` or `exp` is an attack, not a choice).

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// Why a JSON text was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrictJsonError {
    /// Not valid JSON, or nesting deeper than serde_json allows.
    Invalid,
    /// An object repeats a key.
    RepeatedKey,
    /// A number too large for a double (`1e400`).
    NumberOutOfRange,
    /// Valid JSON, but not an object.
    NotAnObject,
}

/// The message the visitor refuses a repeated key with.
const REPEATED_KEY: &str = "repeated key";

/// Parses `bytes` as one JSON object whose objects repeat no key.
pub fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, StrictJsonError> {
    let strict: Strict = serde_json::from_slice(bytes).map_err(|error| {
        let said = error.to_string();
        if said.starts_with(REPEATED_KEY) {
            StrictJsonError::RepeatedKey
        } else if said.starts_with("number out of range") {
            StrictJsonError::NumberOutOfRange
        } else {
            StrictJsonError::Invalid
        }
    })?;
    match strict.0 {
        Value::Object(map) => Ok(map),
        _ => Err(StrictJsonError::NotAnObject),
    }
}

/// A `Value` whose deserialisation refuses repeated object keys.
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value without repeated keys")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            if map.contains_key(&key) {
                return Err(de::Error::custom(REPEATED_KEY));
            }
            let Strict(value) = access.next_value()?;
            map.insert(key, value);
        }
        Ok(Value::Object(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_a_plain_object() {
        let map = parse_object(br#"{"a":1,"b":{"c":[1,"x",null,true,1.5]}}"#).unwrap();
        assert_eq!(map.len(), 2);
    }

    #[test]
    fn refuses_a_repeated_top_level_key() {
        assert_eq!(
            parse_object(br#"{"aud":"a","aud":"b"}"#),
            Err(StrictJsonError::RepeatedKey)
        );
    }

    #[test]
    fn refuses_a_repeated_nested_key() {
        assert_eq!(
            parse_object(br#"{"x":[{"k":1,"k":2}]}"#),
            Err(StrictJsonError::RepeatedKey)
        );
    }

    #[test]
    fn refuses_non_objects_and_garbage() {
        assert_eq!(parse_object(b"[1]"), Err(StrictJsonError::NotAnObject));
        assert_eq!(parse_object(b"{"), Err(StrictJsonError::Invalid));
        assert_eq!(parse_object(b"{} x"), Err(StrictJsonError::Invalid));
        assert_eq!(
            parse_object(br#"{"exp":1e400}"#),
            Err(StrictJsonError::NumberOutOfRange)
        );
    }
}
