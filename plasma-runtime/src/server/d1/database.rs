//! Cloudflare D1 as a [`BatchDb`]: single prepared statements, and
//! `batch()` (one transaction, all or nothing).
//!
//! D1 speaks JavaScript values. Bound: `Value::Integer` becomes a JS number,
//! so only integers of at most 53 bits bind exactly; a larger one is refused
//! rather than rounded. Read: numbers that are safe integers come back as
//! `Value::Integer`, other numbers as `Value::Real` (a REAL column holding
//! 3.0 reads as `Integer(3)`, which every typed decoder accepts), strings as
//! `Text`, arrays and buffers of bytes as `Blob`.

use worker::js_sys::{self, Array, Number, Uint8Array};
use worker::wasm_bindgen::{JsCast, JsValue};

use crate::server::storage::batch::{BatchDb, BatchLimits, DbError, Statement};
use crate::value::Value;

/// Largest integer a JS number holds exactly.
const MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

/// A D1 database binding as a [`BatchDb`].
pub struct D1Db {
    db: worker::D1Database,
}

impl D1Db {
    /// Wraps a D1 binding (`env.d1("DB")?`).
    pub fn new(db: worker::D1Database) -> Self {
        D1Db { db }
    }

    fn prepare(&self, statement: &Statement) -> Result<worker::D1PreparedStatement, DbError> {
        let params = statement.params.iter().map(bind).collect::<Result<Vec<_>, _>>()?;
        self.db.prepare(&statement.sql).bind(&params).map_err(db_error)
    }
}

fn bind(value: &Value) -> Result<JsValue, DbError> {
    Ok(match value {
        Value::Null => JsValue::NULL,
        Value::Integer(i) if i.unsigned_abs() <= MAX_SAFE_INTEGER as u64 => JsValue::from_f64(*i as f64),
        Value::Integer(i) => {
            return Err(DbError {
                message: format!("integer {i} is beyond what D1 binds exactly (53 bits)"),
                transient: false,
            });
        }
        Value::Real(f) => JsValue::from_f64(*f),
        Value::Text(s) => JsValue::from_str(s),
        Value::Blob(b) => Uint8Array::from(b.as_slice()).buffer().into(),
    })
}

fn cell(value: JsValue) -> Result<Value, DbError> {
    if value.is_null() || value.is_undefined() {
        return Ok(Value::Null);
    }
    if let Some(s) = value.as_string() {
        return Ok(Value::Text(s));
    }
    if let Some(f) = value.as_f64() {
        return Ok(if Number::is_safe_integer(&value) { Value::Integer(f as i64) } else { Value::Real(f) });
    }
    if let Some(b) = value.as_bool() {
        return Ok(Value::Integer(i64::from(b)));
    }
    if value.is_instance_of::<js_sys::ArrayBuffer>() || value.is_instance_of::<Uint8Array>() || Array::is_array(&value)
    {
        return Ok(Value::Blob(Uint8Array::new(&value).to_vec()));
    }
    Err(DbError { message: format!("D1 returned a value plasma cannot read: {value:?}"), transient: false })
}

fn row(value: JsValue) -> Result<Vec<Value>, DbError> {
    let cells = value
        .dyn_into::<Array>()
        .map_err(|v| DbError { message: format!("D1 returned a row that is no array: {v:?}"), transient: false })?;
    cells.iter().map(cell).collect()
}

/// D1's failures, with the cause's text (the guard's conflict is recognised
/// by its constraint name in it).
fn db_error(e: worker::Error) -> DbError {
    let message = match &e {
        worker::Error::D1(d1) => {
            let error: &js_sys::Error = d1.as_ref();
            format!("{}: {}", String::from(error.message()), d1.cause())
        }
        other => other.to_string(),
    };
    // D1 documents these as safe to retry.
    let transient = [
        "Network connection lost",
        "transient",
        "overloaded",
        "reset because its code was updated",
        "storage caused object to be reset",
    ]
    .iter()
    .any(|m| message.contains(m));
    DbError { message, transient }
}

impl BatchDb for D1Db {
    fn limits(&self) -> BatchLimits {
        BatchLimits::D1
    }

    async fn query(&self, statement: &Statement) -> Result<Vec<Vec<Value>>, DbError> {
        let rows = self.prepare(statement)?.raw_js_value().await.map_err(db_error)?;
        rows.into_iter().map(row).collect()
    }

    async fn batch(&self, statements: &[Statement]) -> Result<(), DbError> {
        if statements.is_empty() {
            return Ok(());
        }
        let prepared = statements.iter().map(|s| self.prepare(s)).collect::<Result<Vec<_>, _>>()?;
        self.db.batch(prepared).await.map_err(db_error)?;
        Ok(())
    }
}
