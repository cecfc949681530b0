//! Error types, one enum per layer.
//!
//! Errors that wrap a lower layer's failure (SQLite, serde, HTTP) keep it as
//! their [`source`](std::error::Error::source) in an [`ErrorSource`], so the
//! cause is never reduced to text. Public error enums are `#[non_exhaustive]`.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

/// The underlying error of a plasma error, shared so that errors carrying
/// one stay `Clone`. `Error::source()` of the plasma error returns the
/// wrapped error itself, so it can be downcast (to `rusqlite::Error`, say).
/// Two sources compare equal when their messages do.
#[derive(Clone)]
pub struct ErrorSource(Arc<dyn std::error::Error + Send + Sync + 'static>);

impl ErrorSource {
    /// Wraps `error`.
    pub fn new(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        ErrorSource(Arc::new(error))
    }
}

impl Deref for ErrorSource {
    type Target = dyn std::error::Error + Send + Sync + 'static;

    fn deref(&self) -> &Self::Target {
        &*self.0
    }
}

impl fmt::Debug for ErrorSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for ErrorSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&*self.0, f)
    }
}

impl PartialEq for ErrorSource {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_string() == other.0.to_string()
    }
}

impl Eq for ErrorSource {}

/// A cell could not be turned into the field's Rust type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValueError {
    /// The cell holds another storage class than the column's.
    #[error("expected {expected}, found {found}")]
    WrongType {
        /// Expected storage class.
        expected: &'static str,
        /// Storage class found.
        found: &'static str,
    },
    /// An integer does not fit the field's smaller integer type.
    #[error("{value} does not fit in {target}")]
    OutOfRange {
        /// The stored integer.
        value: i64,
        /// The Rust type it had to fit.
        target: &'static str,
    },
    /// A JSON column holds text that does not decode to the field's type.
    #[error("invalid JSON: {0}")]
    Json(String),
}

/// A row could not be decoded into a table struct or from a wire object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("column `{table}.{column}`: {error}")]
pub struct DecodeError {
    /// Table name.
    pub table: &'static str,
    /// Column name.
    pub column: &'static str,
    /// What went wrong.
    #[source]
    pub error: ValueError,
}

/// A row could not be encoded for the wire.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The row does not have one cell per column of its table.
    #[error("a row of `{table}` has {cells} cells, the table has {columns} columns")]
    Width {
        /// Table name.
        table: &'static str,
        /// Cells in the row.
        cells: usize,
        /// Columns of the table.
        columns: usize,
    },
    /// The JSON encoder failed.
    #[error("a row of `{table}` did not encode as JSON: {message}")]
    Json {
        /// Table name.
        table: &'static str,
        /// What failed.
        message: String,
        /// The encoder's error.
        #[source]
        source: Option<ErrorSource>,
    },
}

/// A query is invalid for its table, whatever backend runs it. Checked before
/// any backend sees the query, so SQLite and the in-memory executor agree.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// An insert omits a column that is neither nullable nor defaulted.
    #[error("insert into `{table}` must set column `{column}` (it is NOT NULL and has no default)")]
    MissingColumn {
        /// Table name.
        table: &'static str,
        /// Column name.
        column: &'static str,
    },
    /// NULL given for a NOT NULL column.
    #[error("column `{table}.{column}` is NOT NULL")]
    NullValue {
        /// Table name.
        table: &'static str,
        /// Column name.
        column: &'static str,
    },
    /// A value of the wrong storage class for its column.
    #[error("column `{table}.{column}` holds {expected}, got {found}")]
    WrongType {
        /// Table name.
        table: &'static str,
        /// Column name.
        column: &'static str,
        /// Expected storage class.
        expected: &'static str,
        /// Storage class given.
        found: &'static str,
    },
    /// Updates may not change a row's primary key; delete and insert instead.
    #[error("update of `{table}` may not change the primary key `{column}`")]
    PrimaryKeyUpdate {
        /// Table name.
        table: &'static str,
        /// Primary-key column.
        column: &'static str,
    },
    /// A column index outside the table (only reachable through hand-built trees).
    #[error("table `{table}` has no column #{index}")]
    UnknownColumn {
        /// Table name.
        table: &'static str,
        /// Offending index.
        index: usize,
    },
    /// The same column is assigned twice in one insert or update.
    #[error("column `{table}.{column}` is assigned twice")]
    DuplicateColumn {
        /// Table name.
        table: &'static str,
        /// Column name.
        column: &'static str,
    },
    /// An insert with no rows, or rows of different widths.
    #[error("insert into `{table}` has malformed rows")]
    MalformedInsert {
        /// Table name.
        table: &'static str,
    },
    /// An inner select whose own filter reads yet another table: one level only.
    #[error("the inner select on `{table}` reads another table: `in_select` nests one level only")]
    NestedSubSelect {
        /// The inner select's table.
        table: &'static str,
    },
    /// A live query whose filter reads another table: live queries follow
    /// one table's changes, so they cannot keep such a result current.
    #[error("a live query on `{table}` cannot read another table (`in_select`): fetch it, or filter by values")]
    LiveSubSelect {
        /// The live query's table.
        table: &'static str,
    },
}

/// A schema change that `ensure_schema` refuses because it would lose or
/// reinterpret stored data. Nothing has been changed when this is returned.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SchemaError {
    /// The stored table has a column the schema no longer declares.
    #[error(
        "table `{table}`: column `{column}` exists in the database but not in the schema; plasma never drops columns"
    )]
    DroppedColumn {
        /// Table name.
        table: String,
        /// Column name.
        column: String,
    },
    /// A column's type changed.
    #[error("table `{table}`: column `{column}` changed type from {from} to {to}")]
    ChangedType {
        /// Table name.
        table: String,
        /// Column name.
        column: String,
        /// Stored kind.
        from: String,
        /// Declared kind.
        to: String,
    },
    /// A column's nullability changed.
    #[error("table `{table}`: column `{column}` changed nullability (stored nullable: {stored_nullable})")]
    ChangedNullability {
        /// Table name.
        table: String,
        /// Column name.
        column: String,
        /// Whether the stored column is nullable.
        stored_nullable: bool,
    },
    /// The primary key moved to another column.
    #[error("table `{table}`: primary key changed from `{from}` to `{to}`")]
    ChangedPrimaryKey {
        /// Table name.
        table: String,
        /// Stored primary-key column.
        from: String,
        /// Declared primary-key column.
        to: String,
    },
    /// A new column that existing rows could not fill.
    #[error(
        "table `{table}`: new column `{column}` is NOT NULL without a default, so existing rows cannot get a value"
    )]
    NotNullWithoutDefault {
        /// Table name.
        table: String,
        /// Column name.
        column: String,
    },
    /// A table name that is reserved or declared twice.
    #[error("table `{table}`: {reason}")]
    InvalidTable {
        /// Table name.
        table: String,
        /// Why it is invalid.
        reason: String,
    },
    /// The stored schema metadata is unreadable.
    #[error("plasma's schema metadata is corrupt: {0}")]
    CorruptMetadata(String),
}

/// Errors from running queries on an executor.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExecError {
    /// The query is invalid for its table.
    #[error(transparent)]
    Query(#[from] QueryError),
    /// A stored row does not decode to the table's struct.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// `ensure_schema` refused a change.
    #[error(transparent)]
    Schema(#[from] SchemaError),
    /// A uniqueness constraint failed (for example a duplicate primary key).
    #[error("constraint failed: {message}")]
    Constraint {
        /// What failed.
        message: String,
        /// The storage engine's error, if one reported it.
        #[source]
        source: Option<ErrorSource>,
    },
    /// The database is busy or locked; retrying later may succeed.
    #[error("database busy: {message}")]
    Busy {
        /// What was busy.
        message: String,
        /// The storage engine's error, if one reported it.
        #[source]
        source: Option<ErrorSource>,
    },
    /// The table is not part of this executor's schema.
    #[error("unknown table `{0}`")]
    UnknownTable(String),
    /// On the server: the write would leave (or overwrite) a row the
    /// writer may not read. The mutation fails with this message.
    #[error("write outside the writer's read scope: row `{id}` of `{table}`")]
    OutOfScope {
        /// The table written.
        table: &'static str,
        /// The row's id (empty when the write names none).
        id: String,
    },
    /// Any other storage failure.
    #[error("storage error: {message}")]
    Storage {
        /// What failed.
        message: String,
        /// The storage engine's error, if one reported it.
        #[source]
        source: Option<ErrorSource>,
    },
}

impl ExecError {
    /// Whether the same operation may succeed if retried (busy, locked).
    pub fn is_transient(&self) -> bool {
        matches!(self, ExecError::Busy { .. })
    }

    /// A constraint failure found by plasma itself (no underlying error).
    pub fn constraint(message: impl Into<String>) -> Self {
        ExecError::Constraint { message: message.into(), source: None }
    }

    /// A busy store found by plasma itself (no underlying error).
    pub fn busy(message: impl Into<String>) -> Self {
        ExecError::Busy { message: message.into(), source: None }
    }

    /// A storage failure found by plasma itself (no underlying error).
    pub fn storage(message: impl Into<String>) -> Self {
        ExecError::Storage { message: message.into(), source: None }
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("inner failure")]
    struct Inner;

    #[test]
    fn exec_error_keeps_its_source_downcastable() {
        let err = ExecError::Storage { message: "outer".to_owned(), source: Some(ErrorSource::new(Inner)) };
        assert_eq!(err.to_string(), "storage error: outer");
        let source = err.source().expect("the cause is kept");
        assert!(source.downcast_ref::<Inner>().is_some(), "source is the wrapped error itself: {source:?}");
        assert!(ExecError::storage("x").source().is_none());
    }
}
