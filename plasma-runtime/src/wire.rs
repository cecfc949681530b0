//! Rows as JSON objects keyed by column name: the form rows take in the sync
//! protocol and in IndexedDB. Blobs travel as standard base64 text; JSON
//! columns as their JSON text; booleans as 0/1 integers.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::de::{DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Number, Value as Json};

use crate::error::{DecodeError, EncodeError, ErrorSource, ValueError};
use crate::query::tree::check_value;
use crate::schema::{ColumnKind, TableDef};
use crate::table::Row;
use crate::value::Value;

/// Encodes a row of `table` as a JSON object.
pub fn row_to_json(table: &TableDef, row: &Row) -> Map<String, Json> {
    let mut out = Map::with_capacity(table.columns.len());
    for (def, cell) in table.columns.iter().zip(row.values()) {
        let json = match cell {
            Value::Null => Json::Null,
            Value::Integer(i) => Json::Number((*i).into()),
            // Non-finite reals never reach storage (they bind as NULL).
            Value::Real(r) => Number::from_f64(*r).map_or(Json::Null, Json::Number),
            Value::Text(s) => Json::String(s.clone()),
            Value::Blob(b) => Json::String(BASE64.encode(b)),
        };
        out.insert(def.name.to_owned(), json);
    }
    out
}

/// Decodes a JSON object into a row of `table`, checking every cell against its
/// column. Missing keys are NULL; unknown keys are ignored.
pub fn row_from_json(table: &'static TableDef, object: &Map<String, Json>) -> Result<Row, DecodeError> {
    let mut cells = Vec::with_capacity(table.columns.len());
    for def in table.columns {
        let fail = |error| DecodeError { table: table.name, column: def.name, error };
        let json = object.get(def.name).unwrap_or(&Json::Null);
        let mut cell = match (def.kind, json) {
            (_, Json::Null) => Value::Null,
            (ColumnKind::Integer | ColumnKind::Bool, Json::Number(n)) => Value::Integer(
                n.as_i64().ok_or_else(|| fail(ValueError::WrongType { expected: "integer", found: "real" }))?,
            ),
            (ColumnKind::Real, Json::Number(n)) => Value::Real(n.as_f64().unwrap_or(f64::NAN)),
            (ColumnKind::Text | ColumnKind::Json, Json::String(s)) => Value::Text(s.clone()),
            (ColumnKind::Blob, Json::String(s)) => {
                Value::Blob(BASE64.decode(s).map_err(|e| fail(ValueError::Json(format!("bad base64: {e}"))))?)
            }
            (kind, other) => {
                return Err(fail(ValueError::WrongType { expected: kind.sql_type(), found: json_type(other) }));
            }
        };
        check_value(table, def, &mut cell)
            .map_err(|_| fail(ValueError::WrongType { expected: def.kind.sql_type(), found: cell.type_name() }))?;
        cells.push(cell);
    }
    Ok(Row(cells))
}

/// Encodes a row of `table` as JSON object text, without building a tree
/// (the server's pull path). Fails, rather than sending a partial or empty
/// object, if the row does not have one cell per column.
pub fn row_to_json_text(table: &TableDef, row: &Row) -> Result<Box<RawValue>, EncodeError> {
    let cells = row.values();
    if cells.len() != table.columns.len() {
        return Err(EncodeError::Width { table: table.name, cells: cells.len(), columns: table.columns.len() });
    }
    let json_error = |e: serde_json::Error| EncodeError::Json {
        table: table.name,
        message: e.to_string(),
        source: Some(ErrorSource::new(e)),
    };
    let mut out = String::with_capacity(16 * table.columns.len());
    out.push('{');
    for (i, (def, cell)) in table.columns.iter().zip(cells).enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_json_string(&mut out, def.name).map_err(json_error)?;
        out.push(':');
        match cell {
            Value::Null => out.push_str("null"),
            Value::Integer(n) => out.push_str(&n.to_string()),
            // Non-finite reals never reach storage (they bind as NULL).
            Value::Real(r) => match Number::from_f64(*r) {
                Some(n) => out.push_str(&n.to_string()),
                None => out.push_str("null"),
            },
            Value::Text(s) => push_json_string(&mut out, s).map_err(json_error)?,
            Value::Blob(b) => push_json_string(&mut out, &BASE64.encode(b)).map_err(json_error)?,
        }
    }
    out.push('}');
    RawValue::from_string(out).map_err(json_error)
}

fn push_json_string(out: &mut String, s: &str) -> Result<(), serde_json::Error> {
    // serde_json's escaping, written straight into the buffer.
    out.push_str(&serde_json::to_string(s)?);
    Ok(())
}

/// Decodes JSON object text into a row of `table` straight from the text,
/// with the same checks and results as [`row_from_json`].
pub fn row_from_json_text(table: &'static TableDef, text: &RawValue) -> Result<Row, DecodeError> {
    let mut de = serde_json::Deserializer::from_str(text.get());
    let cells = RowSeed(table).deserialize(&mut de).map_err(|e| DecodeError {
        table: table.name,
        column: table.pk().name,
        error: ValueError::Json(e.to_string()),
    })?;
    let mut out = Vec::with_capacity(cells.len());
    for (def, cell) in table.columns.iter().zip(cells) {
        let fail = |error| DecodeError { table: table.name, column: def.name, error };
        let mut cell = cell.map_err(fail)?;
        check_value(table, def, &mut cell)
            .map_err(|_| fail(ValueError::WrongType { expected: def.kind.sql_type(), found: cell.type_name() }))?;
        out.push(cell);
    }
    Ok(Row(out))
}

/// Reads one row object into cells in column order (missing keys are NULL).
struct RowSeed(&'static TableDef);

impl<'de> DeserializeSeed<'de> for RowSeed {
    type Value = Vec<Result<Value, ValueError>>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RowSeed {
    type Value = Vec<Result<Value, ValueError>>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "a row of `{}` as a JSON object", self.0.name)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let columns = self.0.columns;
        let mut cells: Vec<Result<Value, ValueError>> = vec![Ok(Value::Null); columns.len()];
        while let Some(position) = map.next_key_seed(ColumnIndex(self.0))? {
            match position {
                Some(i) => cells[i] = map.next_value_seed(CellSeed(columns[i].kind))?,
                // Unknown keys are ignored, as in `row_from_json`.
                None => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        Ok(cells)
    }
}

/// Reads a key as the position of the column it names, without allocating.
struct ColumnIndex(&'static TableDef);

impl<'de> DeserializeSeed<'de> for ColumnIndex {
    type Value = Option<usize>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for ColumnIndex {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a column name")
    }

    fn visit_str<E>(self, key: &str) -> Result<Self::Value, E> {
        Ok(self.0.columns.iter().position(|c| c.name == key))
    }
}

/// Reads one cell of a column of `kind`; a mismatch is a value error, not a parse error.
struct CellSeed(ColumnKind);

impl<'de> DeserializeSeed<'de> for CellSeed {
    type Value = Result<Value, ValueError>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

/// The error [`row_from_json`] gives for a number that is not an `i64`.
fn not_an_integer() -> Result<Value, ValueError> {
    Err(ValueError::WrongType { expected: "integer", found: "real" })
}

impl CellSeed {
    fn wrong(&self, found: &'static str) -> Result<Value, ValueError> {
        Err(ValueError::WrongType { expected: self.0.sql_type(), found })
    }
}

impl<'de> Visitor<'de> for CellSeed {
    type Value = Result<Value, ValueError>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "a {} cell", self.0.sql_type())
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Ok(Value::Null))
    }

    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(Ok(Value::Null))
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(self.wrong("boolean"))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Self::Value, E> {
        Ok(match self.0 {
            ColumnKind::Integer | ColumnKind::Bool => Ok(Value::Integer(n)),
            ColumnKind::Real => Ok(Value::Real(n as f64)),
            _ => self.wrong("number"),
        })
    }

    fn visit_u64<E>(self, n: u64) -> Result<Self::Value, E> {
        Ok(match (self.0, i64::try_from(n)) {
            (ColumnKind::Integer | ColumnKind::Bool, Ok(n)) => Ok(Value::Integer(n)),
            (ColumnKind::Integer | ColumnKind::Bool, Err(_)) => not_an_integer(),
            (ColumnKind::Real, _) => Ok(Value::Real(n as f64)),
            _ => self.wrong("number"),
        })
    }

    fn visit_f64<E>(self, r: f64) -> Result<Self::Value, E> {
        Ok(match self.0 {
            ColumnKind::Real => Ok(Value::Real(r)),
            ColumnKind::Integer | ColumnKind::Bool => not_an_integer(),
            _ => self.wrong("number"),
        })
    }

    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Self::Value, E> {
        self.visit_string(s.to_owned())
    }

    fn visit_string<E>(self, s: String) -> Result<Self::Value, E> {
        Ok(match self.0 {
            ColumnKind::Text | ColumnKind::Json => Ok(Value::Text(s)),
            ColumnKind::Blob => {
                BASE64.decode(&s).map(Value::Blob).map_err(|e| ValueError::Json(format!("bad base64: {e}")))
            }
            _ => self.wrong("string"),
        })
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
        Ok(self.wrong("array"))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?.is_some() {}
        Ok(self.wrong("object"))
    }
}

fn json_type(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "boolean",
        Json::Number(_) => "number",
        Json::String(_) => "string",
        Json::Array(_) => "array",
        Json::Object(_) => "object",
    }
}
