//! plasma: a local-first sync engine. Declare tables with `#[plasma::table]`;
//! query and write them with typed builders that run unchanged on SQLite, in
//! memory, and (next) on IndexedDB and D1.
//!
//! ```
//! use plasma::exec::{Executor, memory::MemoryExecutor, run_ready};
//!
//! /// A todo item.
//! #[plasma::table(name = "todos")]
//! pub struct Todo {
//!     /// Text id.
//!     #[plasma(id)]
//!     pub id: String,
//!     /// What to do.
//!     pub title: String,
//!     /// Done yet?
//!     #[plasma(default = false, index)]
//!     pub done: bool,
//! }
//!
//! static SCHEMA: plasma::Schema = plasma::schema![Todo];
//!
//! let store = MemoryExecutor::new(&SCHEMA);
//! run_ready(async {
//!     let mut tx = store.begin().await?;
//!     Todo::insert().value(Todo::id, "a").value(Todo::title, "Try plasma").run(&mut tx).await?;
//!     let open = Todo::select().filter(Todo::done.eq(false)).fetch(&mut tx).await?;
//!     assert_eq!(open[0].title, "Try plasma");
//!     MemoryExecutor::commit(tx).await
//! })??;
//! # Ok::<(), plasma::ExecError>(())
//! ```

#![warn(missing_docs)]

// Lets this crate's own tests and doctests use the `::plasma::...` paths the
// macros emit.
extern crate self as plasma;

pub mod client;
pub mod column_type;
pub mod error;
pub mod exec;
pub mod live;
pub mod mutator;
pub mod protocol;
pub mod query;
pub mod schema;
#[cfg(feature = "server")]
pub mod server;
pub mod sql;
pub mod strict;
pub mod table;
pub mod value;
pub mod wire;

pub use column_type::{ColumnType, IntoColumnValue, Json};
pub use error::{DecodeError, ExecError, QueryError, SchemaError, ValueError};
pub use exec::{Executor, Transaction};
pub use mutator::{DispatchError, Mutator, MutatorError, Registry};
pub use plasma_macros::{mutator, table};
pub use query::typed::{Column, Delete, Filter, Insert, Order, Select, Update, not};
pub use schema::{ColumnDef, ColumnKind, Schema, TableDef};
pub use table::{Row, Table};
pub use value::{Literal, Value};

pub use exec::memory::MemoryExecutor;
#[cfg(feature = "sqlite")]
pub use exec::sqlite::SqliteExecutor;

/// Items generated code refers to. Not a stable API.
#[doc(hidden)]
pub mod __private {
    pub use crate::mutator::{dispatch_one, same_context};
    pub use crate::table::decode_cell;
    pub use serde_json;
}
