//! How a row is stored: one JS object per row,
//! `{ r: "<row as JSON>", x<hex of column name>: <index key>, ... }`.
//!
//! Why JSON text rather than one JS property per cell: building or reading a JS
//! object costs one wasm/JS boundary crossing per property, while a JSON string
//! crosses once per row and is encoded and parsed in Rust. It is also exact
//! where JS values are not: 64-bit integers stay integers (a JS number holds
//! only 53 bits), reals keep their bits, blobs are base64. Only the indexed
//! columns are also written as JS keys, because IndexedDB can only index what
//! it can see (see [`keys`](super::keys)).
//!
//! The JSON is an object keyed by column name, so a column added by an
//! additive upgrade reads as its default (or NULL) in older rows, as SQLite's
//! `ALTER TABLE ADD COLUMN` does. Cells: `null`, an integer, a string,
//! `{"f": <f64 bits>}` for a real, `{"b": "<base64>"}` for a blob.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value as Json};
use wasm_bindgen::JsValue;

use crate::error::ExecError;
use crate::exec::indexeddb::keys;
use crate::schema::TableDef;
use crate::table::Row;
use crate::value::Value;

/// Property holding the row's JSON.
const ROW_FIELD: &str = "r";

/// The property an indexed column's key is stored under: `x` + the column
/// name in hex, always a valid IndexedDB key path whatever the name.
pub(crate) fn key_field(column: &str) -> String {
    let mut field = String::with_capacity(1 + 2 * column.len());
    field.push('x');
    for b in column.bytes() {
        field.push_str(&format!("{b:02x}"));
    }
    field
}

/// The row's JSON text.
pub(crate) fn row_json(table: &TableDef, row: &Row) -> String {
    let mut out = String::with_capacity(16 * table.columns.len());
    out.push('{');
    for (i, (col, cell)) in table.columns.iter().zip(row.values()).enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_json_string(&mut out, col.name);
        out.push(':');
        match cell {
            Value::Null => out.push_str("null"),
            Value::Integer(n) => out.push_str(&n.to_string()),
            Value::Real(r) => {
                out.push_str("{\"f\":");
                out.push_str(&r.to_bits().to_string());
                out.push('}');
            }
            Value::Text(s) => push_json_string(&mut out, s),
            Value::Blob(b) => {
                out.push_str("{\"b\":\"");
                out.push_str(&BASE64.encode(b));
                out.push_str("\"}");
            }
        }
    }
    out.push('}');
    out
}

fn push_json_string(out: &mut String, s: &str) {
    // Serialising a &str to a String cannot fail.
    out.push_str(&serde_json::to_string(s).unwrap_or_default());
}

/// The JS object stored for `row`: its JSON plus one key per indexed column.
pub(crate) fn record(table: &TableDef, row: &Row) -> Result<JsValue, ExecError> {
    let obj = js_sys::Object::new();
    set(&obj, ROW_FIELD, &JsValue::from_str(&row_json(table, row)))?;
    for (col, cell) in table.columns.iter().zip(row.values()) {
        if col.indexed {
            set(&obj, &key_field(col.name), &keys::index_key(cell))?;
        }
    }
    Ok(obj.into())
}

fn set(obj: &js_sys::Object, field: &str, value: &JsValue) -> Result<(), ExecError> {
    js_sys::Reflect::set(obj, &JsValue::from_str(field), value)
        .map(|_| ())
        .map_err(super::request::thrown("building a record"))
}

/// Decodes a stored record (`undefined` for a missing key gives `None`).
pub(crate) fn decode(table: &TableDef, record: &JsValue) -> Result<Option<Row>, ExecError> {
    if record.is_undefined() || record.is_null() {
        return Ok(None);
    }
    let json = js_sys::Reflect::get(record, &JsValue::from_str(ROW_FIELD))
        .ok()
        .and_then(|v| v.as_string())
        .ok_or_else(|| corrupt(table, "record without row JSON"))?;
    parse_row(table, &json).map(Some)
}

/// Parses a row's JSON text (see the module docs).
pub(crate) fn parse_row(table: &TableDef, json: &str) -> Result<Row, ExecError> {
    let mut cells: Map<String, Json> =
        serde_json::from_str(json).map_err(|e| corrupt(table, &format!("row JSON: {e}")))?;
    let mut row = Vec::with_capacity(table.columns.len());
    for col in table.columns {
        let cell = match cells.remove(col.name) {
            None => col.default.map_or(Value::Null, |d| d.to_value()),
            Some(json) => cell(&json).ok_or_else(|| corrupt(table, &format!("cell `{}`: {json}", col.name)))?,
        };
        row.push(cell);
    }
    Ok(Row(row))
}

fn cell(json: &Json) -> Option<Value> {
    Some(match json {
        Json::Null => Value::Null,
        Json::Number(n) => Value::Integer(n.as_i64()?),
        Json::String(s) => Value::Text(s.clone()),
        Json::Object(o) => match (o.get("f"), o.get("b")) {
            (Some(bits), None) => Value::Real(f64::from_bits(bits.as_u64()?)),
            (None, Some(Json::String(b))) => Value::Blob(BASE64.decode(b).ok()?),
            _ => return None,
        },
        _ => return None,
    })
}

fn corrupt(table: &TableDef, what: &str) -> ExecError {
    ExecError::storage(format!("IndexedDB: corrupt row in `{}`: {what}", table.name))
}
