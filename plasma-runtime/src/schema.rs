//! Table and column metadata, emitted as `const` data by `#[plasma::table]`.
//!
//! This is the single description every backend renders from: SQLite DDL,
//! IndexedDB object stores, the wire codecs and the in-memory executor.

use crate::value::Literal;

/// Prefix of every name plasma creates for itself. User tables may not start with it.
pub const RESERVED_PREFIX: &str = "_plasma";

/// The logical type of a column. Two kinds may share a storage class (`Bool`
/// and `Integer`, `Json` and `Text`); migrations compare kinds, so switching
/// between them is refused as a reinterpretation of stored data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ColumnKind {
    /// UTF-8 text (`String`).
    Text,
    /// A signed integer (`i64` and the smaller integer types).
    Integer,
    /// A float (`f64`, `f32`).
    Real,
    /// A boolean stored as 0/1.
    Bool,
    /// Bytes (`Vec<u8>`).
    Blob,
    /// A serde value stored as JSON text.
    Json,
}

impl ColumnKind {
    /// The SQLite column type (STRICT tables accept exactly these).
    pub fn sql_type(self) -> &'static str {
        match self {
            ColumnKind::Text | ColumnKind::Json => "TEXT",
            ColumnKind::Integer | ColumnKind::Bool => "INTEGER",
            ColumnKind::Real => "REAL",
            ColumnKind::Blob => "BLOB",
        }
    }

    /// Stable lowercase name, stored in plasma's schema metadata.
    pub fn name(self) -> &'static str {
        match self {
            ColumnKind::Text => "text",
            ColumnKind::Integer => "integer",
            ColumnKind::Real => "real",
            ColumnKind::Bool => "bool",
            ColumnKind::Blob => "blob",
            ColumnKind::Json => "json",
        }
    }

    /// Inverse of [`ColumnKind::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "text" => ColumnKind::Text,
            "integer" => ColumnKind::Integer,
            "real" => ColumnKind::Real,
            "bool" => ColumnKind::Bool,
            "blob" => ColumnKind::Blob,
            "json" => ColumnKind::Json,
            _ => return None,
        })
    }
}

/// One column of a table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ColumnDef {
    /// Column name in storage and on the wire.
    pub name: &'static str,
    /// The Rust field it maps to (for error messages).
    pub field: &'static str,
    /// Logical type.
    pub kind: ColumnKind,
    /// Whether NULL is allowed (`Option<T>` fields).
    pub nullable: bool,
    /// `#[plasma(default = ...)]`, applied when an insert omits the column.
    pub default: Option<Literal>,
    /// `#[plasma(index)]`: a secondary index on this column.
    pub indexed: bool,
}

impl ColumnDef {
    /// Whether an insert may omit this column.
    pub fn has_implicit_value(&self) -> bool {
        self.nullable || self.default.is_some()
    }
}

/// One table: what `#[plasma::table]` emits as `<T as Table>::DEF`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TableDef {
    /// Table name (`#[plasma::table(name = "...")]`, default: the struct name in snake_case).
    pub name: &'static str,
    /// Columns in field order.
    pub columns: &'static [ColumnDef],
    /// Index of the primary-key column in `columns` (always a text id).
    pub primary_key: usize,
}

impl TableDef {
    /// The primary-key column.
    pub fn pk(&self) -> &'static ColumnDef {
        &self.columns[self.primary_key]
    }

    /// Position of the column called `name`.
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// Name of the index plasma creates for an indexed column.
    pub fn index_name(&self, column: &ColumnDef) -> String {
        format!("{RESERVED_PREFIX}_idx_{}_{}", self.name, column.name)
    }
}

/// All tables of an app, and the version clients and server must agree on.
/// Build it with [`schema!`](crate::schema!).
///
/// The version lives here, not in the client's or the server's builder, so
/// both sides read it from the one definition they share.
#[derive(Debug, Clone, Copy)]
pub struct Schema {
    /// The tables, in declaration order.
    pub tables: &'static [&'static TableDef],
    /// The version set with `schema![version = "..."; ...]`, if any.
    pub explicit_version: Option<&'static str>,
}

impl Schema {
    /// A schema over these tables, versioned by their fingerprint.
    pub const fn new(tables: &'static [&'static TableDef]) -> Self {
        Schema { tables, explicit_version: None }
    }

    /// The same schema with an explicit version. Set one when mutators change
    /// meaning without the tables changing: clients with another version are
    /// told to update (`version_mismatch`) instead of running old code.
    pub const fn with_version(self, version: &'static str) -> Self {
        Schema { tables: self.tables, explicit_version: Some(version) }
    }

    /// The version on the wire (`schemaVersion`): the explicit one, or else
    /// `tables-<fingerprint>` of every table's name and columns (name, kind,
    /// nullability, index, key), so a changed table means a new version
    /// without anyone remembering to bump it.
    pub fn version(&self) -> std::borrow::Cow<'static, str> {
        match self.explicit_version {
            Some(version) => std::borrow::Cow::Borrowed(version),
            None => std::borrow::Cow::Owned(format!("tables-{:016x}", self.fingerprint())),
        }
    }

    /// FNV-1a over a canonical description of the tables: the same on every
    /// platform and build, unlike `std`'s hashers.
    fn fingerprint(&self) -> u64 {
        let mut hash = Fnv1a::default();
        for table in self.tables {
            hash.write(table.name.as_bytes());
            hash.write(&[0xff, table.primary_key as u8]);
            for column in table.columns {
                hash.write(column.name.as_bytes());
                hash.write(&[0xfe]);
                hash.write(column.kind.name().as_bytes());
                hash.write(&[u8::from(column.nullable), u8::from(column.indexed), 0xfd]);
            }
        }
        hash.0
    }

    /// The table called `name`.
    pub fn table(&self, name: &str) -> Option<&'static TableDef> {
        self.tables.iter().copied().find(|t| t.name == name)
    }
}

/// The 64-bit FNV-1a hash.
struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Self {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv1a {
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn column(name: &'static str, kind: ColumnKind, indexed: bool) -> ColumnDef {
        ColumnDef { name, field: name, kind, nullable: false, default: None, indexed }
    }

    static TEXT_COLUMNS: [ColumnDef; 2] =
        [column("id", ColumnKind::Text, false), column("title", ColumnKind::Text, false)];
    static TEXT: TableDef = TableDef { name: "todos", columns: &TEXT_COLUMNS, primary_key: 0 };
    static JSON_COLUMNS: [ColumnDef; 2] =
        [column("id", ColumnKind::Text, false), column("title", ColumnKind::Json, false)];
    static JSON: TableDef = TableDef { name: "todos", columns: &JSON_COLUMNS, primary_key: 0 };
    static INDEXED_COLUMNS: [ColumnDef; 2] =
        [column("id", ColumnKind::Text, false), column("title", ColumnKind::Text, true)];
    static INDEXED: TableDef = TableDef { name: "todos", columns: &INDEXED_COLUMNS, primary_key: 0 };

    #[test]
    fn the_fingerprint_is_pinned_and_follows_every_table_change() {
        static BASE: Schema = Schema::new(&[&TEXT]);
        static CHANGED_KIND: Schema = Schema::new(&[&JSON]);
        static NEW_INDEX: Schema = Schema::new(&[&INDEXED]);
        static NEW_TABLE: Schema = Schema::new(&[&TEXT, &INDEXED]);
        static EXPLICIT: Schema = Schema::new(&[&TEXT]).with_version("v7");
        let base = BASE.version();
        // Pinned: a wasm client and a native server must compute the same
        // text, today and after any refactor of the hashing.
        assert_eq!(base, "tables-279a6a785f632562");
        assert_ne!(CHANGED_KIND.version(), base, "a changed kind is a new version");
        assert_ne!(NEW_INDEX.version(), base, "a new index is a new version");
        assert_ne!(NEW_TABLE.version(), base, "a new table is a new version");
        assert_eq!(EXPLICIT.version(), "v7", "explicit wins");
    }
}
