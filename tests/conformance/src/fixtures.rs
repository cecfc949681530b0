//! The fixture tables every backend's scenarios use: a table with every
//! column type, and a second table to show tables cannot be mixed up.

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
