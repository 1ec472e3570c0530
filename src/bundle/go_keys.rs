//! config.json's object keys matched as runc's decoder (Go's
//! encoding/json) matches them: a key names a field when it is the
//! field's name exactly or, failing that, the same name in another case
//! (`pagesize` is `pageSize`, `nonewprivileges` is `noNewPrivileges`);
//! of several keys naming one field, the last in the document wins. A
//! key another runtime honours must not be dropped here in silence: some
//! of them confine the container.
//!
//! A serde `Deserializer` over a parsed `serde_json::Value`: only the
//! keys of objects read as structs are matched (a struct tells its field
//! names); maps (annotations, sysctls) keep their keys as written.
//! Ref: Go's encoding/json `Unmarshal` ("preferring an exact match but
//! also accepting a case-insensitive match").

use serde::de::value::BorrowedStrDeserializer;
use serde::de::{self, DeserializeSeed, Visitor};
use serde::Deserializer;
use serde_json::{Error, Map, Value};

/// `T` from `v`, struct keys matched as Go matches them.
pub fn from_value<'de, T: de::Deserialize<'de>>(v: &'de Value) -> Result<T, Error> {
    T::deserialize(GoKeys(v))
}

/// What a JSON pointer (`/linux/resources/pids`) names as the decoder
/// reads it: at each step the last key that is the step's name in any
/// case (the one the decoder keeps).
pub fn pointer<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('/').skip(1).try_fold(v, |v, step| match v {
        Value::Object(m) => m
            .iter()
            .rfind(|(k, _)| k.eq_ignore_ascii_case(step))
            .map(|(_, v)| v),
        _ => None,
    })
}

struct GoKeys<'de>(&'de Value);

/// The field `key` names among `fields`: its exact name, else the first
/// that differs only in case, else none (the key is kept, and ignored or
/// refused as the type says).
fn field_for<'de>(key: &'de str, fields: &'static [&'static str]) -> &'de str {
    if fields.contains(&key) {
        return key;
    }
    fields
        .iter()
        .find(|f| f.eq_ignore_ascii_case(key))
        .copied()
        .unwrap_or(key)
}

/// The object's entries under the field names they fill, in document
/// order; a later key for the same field replaces an earlier one.
fn struct_entries<'de>(
    m: &'de Map<String, Value>,
    fields: &'static [&'static str],
) -> Vec<(&'de str, &'de Value)> {
    let mut out: Vec<(&'de str, &'de Value)> = Vec::with_capacity(m.len());
    for (k, v) in m {
        let f = field_for(k, fields);
        match out.iter_mut().find(|(name, _)| *name == f) {
            Some(slot) => slot.1 = v,
            None => out.push((f, v)),
        }
    }
    out
}

macro_rules! delegate {
    ($($method:ident)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
                self.0.$method(visitor)
            }
        )*
    };
}

impl<'de> Deserializer<'de> for GoKeys<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Array(a) => visitor.visit_seq(Seq(a.iter())),
            Value::Object(m) => visitor.visit_map(Entries {
                iter: m
                    .iter()
                    .map(|(k, v)| (k.as_str(), v))
                    .collect::<Vec<_>>()
                    .into_iter(),
                value: None,
            }),
            other => other.deserialize_any(visitor),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.0 {
            Value::Object(m) => visitor.visit_map(Entries {
                iter: struct_entries(m, fields).into_iter(),
                value: None,
            }),
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.0 {
            // {"Variant": content}: the content's keys are matched too.
            Value::Object(m) if m.len() == 1 => {
                let (k, v) = m.iter().next().expect("one entry");
                visitor.visit_enum(Variant { name: k, value: v })
            }
            other => other.deserialize_enum(name, variants, visitor),
        }
    }

    serde::forward_to_deserialize_any! { seq tuple tuple_struct map }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.0.deserialize_unit_struct(name, visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    delegate! {
        deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
        deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64
        deserialize_u128 deserialize_f32 deserialize_f64 deserialize_char deserialize_str
        deserialize_string deserialize_bytes deserialize_byte_buf deserialize_unit
        deserialize_identifier
    }
}

struct Seq<'de>(std::slice::Iter<'de, Value>);

impl<'de> de::SeqAccess<'de> for Seq<'de> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        self.0
            .next()
            .map(|v| seed.deserialize(GoKeys(v)))
            .transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

struct Entries<'de> {
    iter: std::vec::IntoIter<(&'de str, &'de Value)>,
    value: Option<&'de Value>,
}

impl<'de> de::MapAccess<'de> for Entries<'de> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        match self.iter.next() {
            Some((k, v)) => {
                self.value = Some(v);
                seed.deserialize(BorrowedStrDeserializer::new(k)).map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let v = self
            .value
            .take()
            .ok_or_else(|| de::Error::custom("a map value before its key"))?;
        seed.deserialize(GoKeys(v))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

struct Variant<'de> {
    name: &'de str,
    value: &'de Value,
}

impl<'de> de::EnumAccess<'de> for Variant<'de> {
    type Error = Error;
    type Variant = Self;

    fn variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<(S::Value, Self), Error> {
        let name = BorrowedStrDeserializer::<Error>::new(self.name);
        Ok((seed.deserialize(name)?, self))
    }
}

impl<'de> de::VariantAccess<'de> for Variant<'de> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        de::Deserialize::deserialize(GoKeys(self.value))
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        seed.deserialize(GoKeys(self.value))
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Error> {
        GoKeys(self.value).deserialize_any(visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        GoKeys(self.value).deserialize_struct("", fields, visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[derive(serde::Deserialize, Debug, PartialEq)]
    #[serde(rename_all = "camelCase")]
    struct Limit {
        page_size: String,
        #[serde(default)]
        limit: u64,
    }

    #[derive(serde::Deserialize, Debug, PartialEq)]
    #[serde(rename_all = "camelCase")]
    struct Outer {
        limits: Vec<Limit>,
        #[serde(default)]
        labels: HashMap<String, String>,
        inner: Option<Limit>,
    }

    fn parse<T: de::DeserializeOwned>(json: &str) -> Result<T, Error> {
        let v: Value = serde_json::from_str(json).unwrap();
        from_value(&v)
    }

    #[test]
    fn a_key_in_another_case_fills_its_field_at_any_depth() {
        let o: Outer =
            parse(r#"{"LIMITS":[{"pagesize":"2MB","Limit":1}],"inner":{"PageSize":"1GB"}}"#)
                .unwrap();
        assert_eq!(
            o.limits,
            [Limit {
                page_size: "2MB".into(),
                limit: 1
            }]
        );
        assert_eq!(o.inner.unwrap().page_size, "1GB");
    }

    #[test]
    fn map_keys_stay_as_written() {
        let o: Outer = parse(r#"{"limits":[],"labels":{"PageSize":"a","pagesize":"b"}}"#).unwrap();
        assert_eq!(o.labels.len(), 2);
        assert_eq!(o.labels["PageSize"], "a");
    }

    #[test]
    fn of_two_keys_for_one_field_the_last_wins() {
        let l: Limit = parse(r#"{"pageSize":"2MB","pagesize":"1GB"}"#).unwrap();
        assert_eq!(l.page_size, "1GB");
        let l: Limit = parse(r#"{"pagesize":"1GB","pageSize":"2MB"}"#).unwrap();
        assert_eq!(l.page_size, "2MB");
    }

    #[test]
    fn a_pointer_follows_keys_in_any_case() {
        let v: Value =
            serde_json::from_str(r#"{"Linux":{"resources":{"PIDS":{"limit":1,"Limit":0}}}}"#)
                .unwrap();
        assert_eq!(
            pointer(&v, "/linux/resources/pids/limit"),
            Some(&Value::from(0))
        );
        assert_eq!(pointer(&v, "/linux/resources/memory"), None);
        assert_eq!(pointer(&v, ""), Some(&v));
    }

    #[test]
    fn what_serde_json_refuses_is_still_refused() {
        assert!(parse::<Limit>(r#"{"pageSize":2}"#).is_err());
        assert!(parse::<Limit>(r#"{"limit":1}"#).is_err());
        assert!(parse::<Limit>(r#"{"pageSize":"2MB","limit":-1}"#).is_err());
    }
}
