//! The [`Table`] trait that `#[plasma::table]` implements, and the dynamic [`Row`].

use crate::column_type::ColumnType;
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
/// generated code, one call per field, so a short row names its column.
#[doc(hidden)]
pub fn decode_cell<C: ColumnType>(
    cells: &mut std::vec::IntoIter<Value>,
    table: &'static TableDef,
    column: usize,
) -> Result<C::Rust, DecodeError> {
    let name = table.columns[column].name;
    let cell = cells.next().unwrap_or(Value::Null);
    C::decode(cell).map_err(|error| DecodeError { table: table.name, column: name, error })
}
