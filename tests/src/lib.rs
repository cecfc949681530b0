//! Fixtures shared by plasma's integration tests: a table with every column
//! type, and helpers to run one scenario on every executor.

#![deny(missing_docs)]

pub mod harness;

use plasma::exec::run_ready;
use plasma::{ExecError, Executor, MemoryExecutor, SqliteExecutor};
use serde::{Deserialize, Serialize};

/// A serde value stored in a JSON column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    /// Free-form tags.
    pub tags: Vec<String>,
    /// A nested number.
    pub weight: u32,
}

/// A table using every supported column type.
#[plasma::table(name = "kitchen")]
#[derive(Debug, Clone, PartialEq)]
pub struct Kitchen {
    /// Text id.
    #[plasma(id)]
    pub id: String,
    /// Required text.
    pub name: String,
    /// Nullable text.
    pub note: Option<String>,
    /// 64-bit integer with an index.
    #[plasma(index)]
    pub score: i64,
    /// Small integer with a negative default.
    #[plasma(default = -1)]
    pub level: i16,
    /// Unsigned small integer.
    pub count: u32,
    /// Float.
    #[plasma(default = 0.5)]
    pub ratio: f64,
    /// Nullable float.
    pub weight: Option<f64>,
    /// Boolean with a default.
    #[plasma(default = true)]
    pub active: bool,
    /// Bytes.
    pub data: Vec<u8>,
    /// JSON document.
    #[plasma(json)]
    pub meta: Meta,
    /// Nullable JSON document.
    #[plasma(json, rename = "extraMeta")]
    pub extra: Option<Vec<i32>>,
}

/// A second table, to show tables cannot be mixed up.
#[plasma::table]
#[derive(Debug, Clone, PartialEq)]
pub struct Shelf {
    /// Text id.
    #[plasma(id)]
    pub id: String,
    /// Label.
    pub label: String,
}

/// Both tables.
pub static SCHEMA: plasma::Schema = plasma::schema![Kitchen, Shelf];

/// A kitchen row with every field set from `n`.
pub fn kitchen(n: i64) -> Kitchen {
    Kitchen {
        id: format!("k{n:04}"),
        name: format!("name {n}"),
        note: (n % 2 == 0).then(|| format!("note {n}")),
        score: n * 10,
        level: (n % 5) as i16,
        count: n as u32,
        ratio: n as f64 / 4.0,
        weight: (n % 3 == 0).then_some(n as f64 * 1.5),
        active: n % 2 == 1,
        data: vec![n as u8, 0, 255],
        meta: Meta { tags: vec![format!("t{n}")], weight: n as u32 },
        extra: (n % 2 == 0).then(|| vec![n as i32, -1]),
    }
}

/// A fresh SQLite database (in memory) with the schema applied.
pub fn sqlite() -> SqliteExecutor {
    let db = SqliteExecutor::open_in_memory().expect("open in-memory SQLite");
    db.ensure_schema(&SCHEMA).expect("ensure_schema");
    db
}

/// A fresh in-memory executor for the schema.
pub fn memory() -> MemoryExecutor {
    MemoryExecutor::new(&SCHEMA)
}

/// Runs `body` in one transaction on `exec` and commits it if it succeeds.
pub fn in_tx<E, T>(exec: &E, body: impl AsyncFnOnce(&mut E::Tx<'_>) -> Result<T, ExecError>) -> Result<T, ExecError>
where
    E: Executor,
{
    run_ready(async {
        let mut tx = exec.begin().await?;
        let out = body(&mut tx).await?;
        E::commit(tx).await?;
        Ok(out)
    })?
}

/// The README's Rust examples, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
