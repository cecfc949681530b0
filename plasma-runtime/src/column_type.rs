//! Rust types that can live in a column, and which Rust values a column accepts.
//!
//! [`ColumnType`] is the codec between a field and a [`Value`]; [`IntoColumnValue`]
//! is what makes `Todo::DONE.eq("yes")` a compile error instead of a runtime one.

use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::ValueError;
use crate::schema::ColumnKind;
use crate::value::Value;

/// A Rust type that can be stored in a plasma column.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be stored in a plasma column",
    note = "supported: String, i8, i16, i32, i64, u8, u16, u32, f32, f64, bool, Vec<u8>, and Option<_> of those",
    note = "store any serde type as JSON with `#[plasma(json)]`"
)]
pub trait ColumnType: 'static {
    /// The field type this column decodes to (differs from `Self` only for [`Json`]).
    type Rust;
    /// Logical kind, recorded in the schema.
    const KIND: ColumnKind;
    /// Whether the column admits NULL.
    const NULLABLE: bool;
    /// Field value to cell.
    fn encode(value: &Self::Rust) -> Value;
    /// Cell to field value.
    fn decode(value: Value) -> Result<Self::Rust, ValueError>;
}

/// Marker for a JSON column holding a `T` (the field carries `#[plasma(json)]`).
pub struct Json<T>(PhantomData<fn() -> T>);

/// Column types whose values are text, so `like` and `starts_with` apply.
#[diagnostic::on_unimplemented(message = "`like` and `starts_with` need a text column, but this column holds `{Self}`")]
pub trait TextColumn: ColumnType {}
impl TextColumn for String {}
impl TextColumn for Option<String> {}

fn mismatch(expected: &'static str, found: &Value) -> ValueError {
    ValueError::WrongType { expected, found: found.type_name() }
}

impl ColumnType for String {
    type Rust = String;
    const KIND: ColumnKind = ColumnKind::Text;
    const NULLABLE: bool = false;
    fn encode(value: &String) -> Value {
        Value::Text(value.clone())
    }
    fn decode(value: Value) -> Result<String, ValueError> {
        match value {
            Value::Text(s) => Ok(s),
            other => Err(mismatch("text", &other)),
        }
    }
}

impl ColumnType for bool {
    type Rust = bool;
    const KIND: ColumnKind = ColumnKind::Bool;
    const NULLABLE: bool = false;
    fn encode(value: &bool) -> Value {
        Value::Integer(i64::from(*value))
    }
    fn decode(value: Value) -> Result<bool, ValueError> {
        match value {
            Value::Integer(i) => Ok(i != 0),
            other => Err(mismatch("integer", &other)),
        }
    }
}

impl ColumnType for Vec<u8> {
    type Rust = Vec<u8>;
    const KIND: ColumnKind = ColumnKind::Blob;
    const NULLABLE: bool = false;
    fn encode(value: &Vec<u8>) -> Value {
        Value::Blob(value.clone())
    }
    fn decode(value: Value) -> Result<Vec<u8>, ValueError> {
        match value {
            Value::Blob(b) => Ok(b),
            other => Err(mismatch("blob", &other)),
        }
    }
}

macro_rules! integer_column {
    ($($t:ty),*) => {$(
        impl ColumnType for $t {
            type Rust = $t;
            const KIND: ColumnKind = ColumnKind::Integer;
            const NULLABLE: bool = false;
            fn encode(value: &$t) -> Value {
                Value::Integer(i64::from(*value))
            }
            fn decode(value: Value) -> Result<$t, ValueError> {
                match value {
                    Value::Integer(i) => <$t>::try_from(i).map_err(|_| ValueError::OutOfRange {
                        value: i,
                        target: stringify!($t),
                    }),
                    other => Err(mismatch("integer", &other)),
                }
            }
        }
    )*};
}
integer_column!(i8, i16, i32, i64, u8, u16, u32);

macro_rules! real_column {
    ($($t:ty),*) => {$(
        impl ColumnType for $t {
            type Rust = $t;
            const KIND: ColumnKind = ColumnKind::Real;
            const NULLABLE: bool = false;
            fn encode(value: &$t) -> Value {
                Value::Real(f64::from(*value))
            }
            fn decode(value: Value) -> Result<$t, ValueError> {
                match value {
                    // Narrowing f64 -> f32 is the documented lossy step of an f32 field.
                    Value::Real(r) => Ok(r as $t),
                    Value::Integer(i) => Ok(i as $t),
                    other => Err(mismatch("real", &other)),
                }
            }
        }
    )*};
}
real_column!(f32, f64);

/// A type a `#[plasma(json)]` column can hold: serde both ways. Implemented for
/// every such type; the macro requires it of the field, so a type without serde
/// gets this one message instead of serde's two.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be stored as JSON: it needs serde's `Serialize` and `Deserialize`",
    label = "used with #[plasma(json)]",
    note = "add `#[derive(serde::Serialize, serde::Deserialize)]` to it, or drop #[plasma(json)] if it is a plain column type"
)]
pub trait JsonValue: Sized + 'static {
    /// Field to cell. Called by generated code.
    #[doc(hidden)]
    fn __encode(value: &Self) -> Value;
    /// Cell to field. Called by generated code.
    #[doc(hidden)]
    fn __decode(value: Value) -> Result<Self, ValueError>;
    /// Nullable field to cell. Called by generated code.
    #[doc(hidden)]
    fn __encode_option(value: &Option<Self>) -> Value;
    /// Cell to nullable field. Called by generated code.
    #[doc(hidden)]
    fn __decode_option(value: Value) -> Result<Option<Self>, ValueError>;
}

impl<T: Serialize + DeserializeOwned + 'static> JsonValue for T {
    fn __encode(value: &Self) -> Value {
        <Json<Self> as ColumnType>::encode(value)
    }
    fn __decode(value: Value) -> Result<Self, ValueError> {
        <Json<Self> as ColumnType>::decode(value)
    }
    fn __encode_option(value: &Option<Self>) -> Value {
        <Option<Json<Self>> as ColumnType>::encode(value)
    }
    fn __decode_option(value: Value) -> Result<Option<Self>, ValueError> {
        <Option<Json<Self>> as ColumnType>::decode(value)
    }
}

impl<T: Serialize + DeserializeOwned + 'static> ColumnType for Json<T> {
    type Rust = T;
    const KIND: ColumnKind = ColumnKind::Json;
    const NULLABLE: bool = false;
    fn encode(value: &T) -> Value {
        // Serializing plain data to a String only fails for maps with non-string
        // keys or failing Serialize impls; store JSON null rather than panic.
        Value::Text(serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned()))
    }
    fn decode(value: Value) -> Result<T, ValueError> {
        match value {
            Value::Text(s) => serde_json::from_str(&s).map_err(|e| ValueError::Json(e.to_string())),
            other => Err(mismatch("text", &other)),
        }
    }
}

impl<C: ColumnType> ColumnType for Option<C>
where
    C: NotOption,
{
    type Rust = Option<C::Rust>;
    const KIND: ColumnKind = C::KIND;
    const NULLABLE: bool = true;
    fn encode(value: &Option<C::Rust>) -> Value {
        match value {
            Some(v) => C::encode(v),
            None => Value::Null,
        }
    }
    fn decode(value: Value) -> Result<Option<C::Rust>, ValueError> {
        match value {
            Value::Null => Ok(None),
            v => C::decode(v).map(Some),
        }
    }
}

/// Column types that are not themselves nullable (no `Option<Option<T>>` columns).
#[diagnostic::on_unimplemented(message = "`Option<{Self}>` is not a column type: nested options cannot be stored")]
pub trait NotOption {}
impl NotOption for String {}
impl NotOption for bool {}
impl NotOption for Vec<u8> {}
impl NotOption for i8 {}
impl NotOption for i16 {}
impl NotOption for i32 {}
impl NotOption for i64 {}
impl NotOption for u8 {}
impl NotOption for u16 {}
impl NotOption for u32 {}
impl NotOption for f32 {}
impl NotOption for f64 {}
impl<T> NotOption for Json<T> {}

/// Column types whose values an `in_select` may compare: the same type,
/// nullable or not (`Option<String>` against `String`).
#[diagnostic::on_unimplemented(message = "a `{Self}` column cannot be compared with a `{Other}` column")]
pub trait Comparable<Other: ColumnType>: ColumnType {}
impl<C: ColumnType> Comparable<C> for C {}
impl<C: ColumnType + NotOption> Comparable<Option<C>> for C {}
impl<C: ColumnType + NotOption> Comparable<C> for Option<C> {}

/// A Rust value accepted where a column of type `C` expects one: in comparisons
/// (`eq`, `lt`, `is_in`, ...) and in `set`/`value` of writes.
#[diagnostic::on_unimplemented(
    message = "a `{Self}` cannot be used as a value for a column of type `{C}`",
    label = "expected a value for a `{C}` column"
)]
pub trait IntoColumnValue<C: ColumnType> {
    /// The cell value.
    fn into_column_value(self) -> Value;
}

macro_rules! accepts {
    ($col:ty => $($src:ty),*) => {
        // Only the column's own `Option` type, so a bare `None` infers.
        impl IntoColumnValue<Option<$col>> for Option<$col> {
            fn into_column_value(self) -> Value {
                self.map_or(Value::Null, Value::from)
            }
        }
        $(
            impl IntoColumnValue<$col> for $src {
                fn into_column_value(self) -> Value {
                    Value::from(self)
                }
            }
            impl IntoColumnValue<Option<$col>> for $src {
                fn into_column_value(self) -> Value {
                    Value::from(self)
                }
            }
        )*
    };
}
accepts!(String => String, &str, &String);
accepts!(bool => bool);
accepts!(Vec<u8> => Vec<u8>, &[u8], &Vec<u8>);
accepts!(i64 => i64, i32, i16, i8, u32, u16, u8);
accepts!(i32 => i32, i16, i8, u16, u8);
accepts!(i16 => i16, i8, u8);
accepts!(i8 => i8);
accepts!(u32 => u32, u16, u8);
accepts!(u16 => u16, u8);
accepts!(u8 => u8);
accepts!(f64 => f64, f32);
accepts!(f32 => f32);

impl<T: Serialize + DeserializeOwned + 'static> IntoColumnValue<Json<T>> for T {
    fn into_column_value(self) -> Value {
        <Json<T> as ColumnType>::encode(&self)
    }
}
impl<T: Serialize + DeserializeOwned + 'static> IntoColumnValue<Json<T>> for &T {
    fn into_column_value(self) -> Value {
        <Json<T> as ColumnType>::encode(self)
    }
}
impl<T: Serialize + DeserializeOwned + 'static> IntoColumnValue<Option<Json<T>>> for Option<T> {
    fn into_column_value(self) -> Value {
        <Option<Json<T>> as ColumnType>::encode(&self)
    }
}

macro_rules! value_from {
    ($($t:ty => $variant:ident via $conv:expr),* $(,)?) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Value {
                Value::$variant($conv(v))
            }
        }
    )*};
}
value_from!(
    String => Text via |s| s,
    &str => Text via str::to_owned,
    &String => Text via String::clone,
    bool => Integer via i64::from,
    i64 => Integer via |i| i,
    i32 => Integer via i64::from,
    i16 => Integer via i64::from,
    i8 => Integer via i64::from,
    u32 => Integer via i64::from,
    u16 => Integer via i64::from,
    u8 => Integer via i64::from,
    f64 => Real via |r| r,
    f32 => Real via f64::from,
    Vec<u8> => Blob via |b| b,
    &[u8] => Blob via <[u8]>::to_vec,
    &Vec<u8> => Blob via Vec::clone,
);
