//! Rows as JSON objects keyed by column name: the form rows take in the sync
//! protocol and in IndexedDB. Blobs travel as standard base64 text; JSON
//! columns as their JSON text; booleans as 0/1 integers.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Number, Value as Json};

use crate::error::{DecodeError, ValueError};
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
