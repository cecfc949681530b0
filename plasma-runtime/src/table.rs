//! The [`Table`] trait that `#[plasma::table]` implements, and the dynamic [`Row`].

use crate::error::DecodeError;
use crate::schema::TableDef;
use crate::value::Value;

/// One row as cells in the table's column order: the dynamic form every
/// backend and the wire share.
#[derive(Debug, Clone, PartialEq)]
pub struct Row(pub Vec<Value>);

impl Row {
    /// The cell at column `index`.
    pub fn get(&self, index: usize) -> &Value {
        &self.0[index]
    }

    /// The cells.
    pub fn values(&self) -> &[Value] {
        &self.0
    }

    /// The primary key of this row in `table` (always text).
    pub fn pk<'r>(&'r self, table: &TableDef) -> Option<&'r str> {
        match self.0.get(table.primary_key) {
            Some(Value::Text(s)) => Some(s),
            _ => None,
        }
    }
}

/// A struct declared with `#[plasma::table]`. Implemented by the macro; not
/// meant to be implemented by hand.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a plasma table",
    label = "declare it with `#[plasma::table]`"
)]
pub trait Table: Sized + 'static {
    /// The table's metadata.
    const DEF: &'static TableDef;

    /// Struct to dynamic row.
    fn to_row(&self) -> Row;

    /// Dynamic row to struct.
    fn from_row(row: Row) -> Result<Self, DecodeError>;
}

/// Decodes the next cell of a row being turned into a struct. Called by
/// generated code, one call per field, so a short row names its column. The
/// codec comes as `<C as ColumnType>::decode`, so an unsupported field type is
/// reported once, at the field.
#[doc(hidden)]
pub fn decode_cell<R>(
    cells: &mut std::vec::IntoIter<Value>,
    table: &'static TableDef,
    column: usize,
    decode: fn(Value) -> Result<R, crate::error::ValueError>,
) -> Result<R, DecodeError> {
    let name = table.columns[column].name;
    let cell = cells.next().unwrap_or(Value::Null);
    decode(cell).map_err(|error| DecodeError { table: table.name, column: name, error })
}

/// The only primary-key type: text. `#[plasma::table]` requires it of the
/// `#[plasma(id)]` field's type (through aliases, too).
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "the primary key must be a `String`, not `{Self}`: plasma ids are text",
    label = "not a `String`"
)]
pub trait PrimaryKey {}
impl PrimaryKey for String {}

/// Compiles only for a `String` primary key. Called by `#[plasma::table]`.
#[doc(hidden)]
pub const fn primary_key<T: PrimaryKey>() {}

/// A `#[plasma(default = ..)]` literal as written, for a field type the macro
/// cannot read (an alias): checked against the column's kind at compile time.
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
pub enum DefaultLiteral {
    /// `true` / `false`.
    Bool(bool),
    /// An integer literal (possibly negated).
    Integer(i64),
    /// A float literal.
    Real(f64),
    /// A string literal.
    Text(&'static str),
    /// A byte string literal.
    Blob(&'static [u8]),
}

/// The stored default of a column of `kind`; panics (a compile error, as this
/// runs in a `const`) if the literal does not fit the kind.
#[doc(hidden)]
pub const fn default_for(kind: crate::schema::ColumnKind, literal: DefaultLiteral) -> crate::value::Literal {
    use crate::schema::ColumnKind as K;
    use crate::value::Literal as L;
    match (kind, literal) {
        (K::Text, DefaultLiteral::Text(t)) => L::Text(t),
        (K::Bool, DefaultLiteral::Bool(b)) => L::Integer(b as i64),
        (K::Integer, DefaultLiteral::Integer(i)) => L::Integer(i),
        (K::Real, DefaultLiteral::Real(r)) => L::Real(r),
        (K::Real, DefaultLiteral::Integer(i)) => L::Real(i as f64),
        (K::Blob, DefaultLiteral::Blob(b)) => L::Blob(b),
        _ => panic!("#[plasma(default = ..)] does not match the column's type"),
    }
}
