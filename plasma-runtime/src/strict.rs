//! Strict decoding of protocol requests: every struct must be a JSON object.
//!
//! serde's derived `Deserialize` for a struct also accepts the positional
//! (sequence) form, so `[1, "v1", "g1", []]` would decode as a push. The
//! protocol has exactly one spelling per request (PROTOCOL.md, "A strict
//! wire"), so the server decodes requests through [`Strict`], and the request
//! types route their nested structs through the field helpers below.

use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};

/// A `T` that was written as a JSON object (never as an array).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Strict<T>(pub T);

impl<T> Strict<T> {
    /// The decoded value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

struct ObjectVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        T::deserialize(MapAccessDeserializer::new(map))
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Strict<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(ObjectVisitor(PhantomData)).map(Strict)
    }
}

/// `#[serde(deserialize_with)]` helper: a struct field that must be an object.
pub fn object<'de, D: Deserializer<'de>, T: Deserialize<'de>>(deserializer: D) -> Result<T, D::Error> {
    Strict::<T>::deserialize(deserializer).map(Strict::into_inner)
}

/// `#[serde(deserialize_with)]` helper: `null` or an object. The field stays
/// required unless it also has `#[serde(default)]`.
pub fn option_object<'de, D: Deserializer<'de>, T: Deserialize<'de>>(deserializer: D) -> Result<Option<T>, D::Error> {
    Option::<Strict<T>>::deserialize(deserializer).map(|o| o.map(Strict::into_inner))
}

/// `#[serde(deserialize_with)]` helper: an array of objects.
pub fn vec_of_objects<'de, D: Deserializer<'de>, T: Deserialize<'de>>(deserializer: D) -> Result<Vec<T>, D::Error> {
    Vec::<Strict<T>>::deserialize(deserializer).map(|v| v.into_iter().map(Strict::into_inner).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{PullRequest, PushRequest};

    #[test]
    fn objects_decode_and_arrays_are_refused_at_every_level() {
        let push = r#"{"protocolVersion":1,"schemaVersion":"v1","clientGroupId":"g1","mutations":[
            {"clientId":"c1","id":1,"name":"m","args":{"a":[1,2]},"timestamp":5}]}"#;
        let decoded: Strict<PushRequest> = serde_json::from_str(push).expect("object form decodes");
        assert_eq!(decoded.0.mutations[0].args.get(), r#"{"a":[1,2]}"#, "raw args survive");
        for bad in [
            r#"[1,"v1","g1",[]]"#,
            r#"{"protocolVersion":1,"schemaVersion":"v1","clientGroupId":"g1","mutations":[["c1",1,"m",{},5]]}"#,
        ] {
            assert!(serde_json::from_str::<Strict<PushRequest>>(bad).is_err(), "{bad}");
        }
        let pull = r#"{"protocolVersion":1,"schemaVersion":"v1","clientGroupId":"g1","cookie":{"order":3,"resetAfter":{"table":"t","id":"x"}}}"#;
        assert!(serde_json::from_str::<Strict<PullRequest>>(pull).is_ok());
        for bad in [
            r#"[1,"v1","g1",null]"#,
            r#"{"protocolVersion":1,"schemaVersion":"v1","clientGroupId":"g1","cookie":[3]}"#,
            r#"{"protocolVersion":1,"schemaVersion":"v1","clientGroupId":"g1","cookie":{"order":3,"resetAfter":["t","x"]}}"#,
            r#"{"protocolVersion":1,"schemaVersion":"v1","clientGroupId":"g1"}"#,
        ] {
            assert!(serde_json::from_str::<Strict<PullRequest>>(bad).is_err(), "{bad}");
        }
    }
}
