//! Reading a `/v2` JSON request body into its typed request, strictly.
//!
//! serde's derived `Deserialize` accepts a JSON array where a struct is expected (the fields in
//! order), so `"recurrence": []` used to read as a recurrence with every field left out and
//! `"user_info": ["a@b.test"]` as a user. Zoom refuses a value of the wrong type, and so do we:
//! the body is parsed to a `serde_json::Value`, then deserialized through [`Strict`], which hands
//! a struct only a JSON object (everything else behaves exactly as serde_json does), with the path
//! of the field at fault (serde_path_to_error) for Zoom's `errors[]`. Every request body is a JSON
//! object at the top. A request type must not use `#[serde(flatten)]`: serde reads flattened
//! fields from a buffer of its own, where this strictness cannot reach (read the parts one by one,
//! as `CreateMeetingRequest` does).

use serde::de::{self, DeserializeOwned, Deserializer, Visitor};
use serde_json::{Map, Value};

use super::access::ApiDenial;
use crate::errors::ApiError;

/// The typed request of a JSON body, or Zoom's validation error (400, code 300) naming the field.
pub fn json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiDenial> {
    let value: Value = serde_json::from_slice(body).map_err(bad_body)?;
    if !value.is_object() {
        return Err(bad_body("the body must be a JSON object"));
    }
    serde_path_to_error::deserialize(Strict(&value)).map_err(|error| {
        let field = error.path().to_string();
        let message = error.into_inner().to_string();
        if field == "." {
            bad_body(message)
        } else {
            ApiError::validation(field, message).into()
        }
    })
}

/// 400, code 300: the body cannot be read as the request.
pub(crate) fn bad_body(error: impl std::fmt::Display) -> ApiDenial {
    ApiError::new(
        axum::http::StatusCode::BAD_REQUEST,
        crate::errors::VALIDATION_CODE,
        format!("Invalid request body: {error}"),
    )
    .into()
}

/// A JSON value that deserializes like serde_json's own, except that a struct accepts only an
/// object.
struct Strict<'de>(&'de Value);

impl<'de> Deserializer<'de> for Strict<'de> {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Number(n) => {
                if let Some(u) = n.as_u64() {
                    visitor.visit_u64(u)
                } else if let Some(i) = n.as_i64() {
                    visitor.visit_i64(i)
                } else {
                    visitor.visit_f64(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            Value::String(s) => visitor.visit_borrowed_str(s),
            Value::Array(items) => visitor.visit_seq(Items(items.iter())),
            Value::Object(fields) => visitor.visit_map(Fields::new(fields)),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Object(fields) => visitor.visit_map(Fields::new(fields)),
            other => Err(de::Error::invalid_type(unexpected(other), &visitor)),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        // No request body has an enum today; serde_json's own reading keeps them correct.
        self.0.clone().deserialize_enum(name, variants, visitor)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf unit
        unit_struct seq tuple tuple_struct map identifier ignored_any
    }
}

fn unexpected(value: &Value) -> de::Unexpected<'_> {
    match value {
        Value::Null => de::Unexpected::Unit,
        Value::Bool(b) => de::Unexpected::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => de::Unexpected::Signed(i),
            None => de::Unexpected::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => de::Unexpected::Str(s),
        Value::Array(_) => de::Unexpected::Seq,
        Value::Object(_) => de::Unexpected::Map,
    }
}

struct Items<'de>(std::slice::Iter<'de, Value>);

impl<'de> de::SeqAccess<'de> for Items<'de> {
    type Error = serde_json::Error;

    fn next_element_seed<T: de::DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Self::Error> {
        self.0
            .next()
            .map(|item| seed.deserialize(Strict(item)))
            .transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

struct Fields<'de> {
    entries: serde_json::map::Iter<'de>,
    value: Option<&'de Value>,
}

impl<'de> Fields<'de> {
    fn new(map: &'de Map<String, Value>) -> Self {
        Fields {
            entries: map.iter(),
            value: None,
        }
    }
}

impl<'de> de::MapAccess<'de> for Fields<'de> {
    type Error = serde_json::Error;

    fn next_key_seed<K: de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        match self.entries.next() {
            Some((key, value)) => {
                self.value = Some(value);
                let key = de::value::BorrowedStrDeserializer::<serde_json::Error>::new(key);
                seed.deserialize(key).map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: de::DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Self::Error> {
        match self.value.take() {
            Some(value) => seed.deserialize(Strict(value)),
            None => Err(de::Error::custom("a value was read before its key")),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

#[cfg(test)]
mod tests {
    use accord_core::meetings::MeetingDraft;
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Outer {
        name: String,
        #[serde(default)]
        inner: Option<Inner>,
        #[serde(default)]
        list: Vec<Inner>,
        count: Option<i64>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Inner {
        #[serde(default)]
        id: Option<String>,
    }

    fn field_of(denial: ApiDenial) -> (String, String) {
        match denial {
            ApiDenial::Error(error) => match error.errors.first() {
                Some(field) => (field.field.clone(), field.message.clone()),
                None => (String::new(), error.message),
            },
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn well_typed_bodies_read_as_serde_json_reads_them() {
        let body = br#"{"name": "a", "inner": {"id": "x"}, "list": [{"id": "y"}, {}], "count": 3}"#;
        let outer: Outer = json(body).unwrap();
        assert_eq!(
            outer.inner,
            Some(Inner {
                id: Some("x".into())
            })
        );
        assert_eq!(outer.list.len(), 2);
        assert_eq!(outer.count, Some(3));
        let nulls: Outer = json(br#"{"name": "a", "inner": null, "count": null}"#).unwrap();
        assert_eq!((nulls.inner, nulls.count), (None, None));
    }

    #[test]
    fn an_array_where_an_object_belongs_is_refused_with_its_field() {
        let (field, message) =
            field_of(json::<Outer>(br#"{"name": "a", "inner": []}"#).unwrap_err());
        assert_eq!(field, "inner");
        assert!(message.contains("expected struct Inner"), "{message}");
        let (field, _) = field_of(json::<Outer>(br#"{"name": "a", "list": [["y"]]}"#).unwrap_err());
        assert_eq!(field, "list[0]");
        let (field, _) = field_of(json::<MeetingDraft>(br#"{"recurrence": []}"#).unwrap_err());
        assert_eq!(field, "recurrence");
        let (field, _) = field_of(json::<MeetingDraft>(br#"{"settings": [true]}"#).unwrap_err());
        assert_eq!(field, "settings");
    }

    #[test]
    fn other_wrong_types_and_shapes_are_refused() {
        let (field, _) = field_of(json::<Outer>(br#"{"name": 5}"#).unwrap_err());
        assert_eq!(field, "name");
        let (field, _) = field_of(json::<Outer>(br#"{"name": "a", "count": 1.5}"#).unwrap_err());
        assert_eq!(field, "count");
        let (_, message) = field_of(json::<Outer>(br#"["a"]"#).unwrap_err());
        assert!(message.contains("JSON object"), "{message}");
        let (_, message) = field_of(json::<Outer>(b"{").unwrap_err());
        assert!(message.starts_with("Invalid request body"), "{message}");
    }
}
