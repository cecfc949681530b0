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
//!     Todo::insert().value(Todo::ID, "a").value(Todo::TITLE, "Try plasma").run(&mut tx).await?;
//!     let open = Todo::select().filter(Todo::DONE.eq(false)).fetch(&mut tx).await?;
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

pub use column_type::{ColumnType, IntoColumnValue, Json, JsonValue};
pub use error::{DecodeError, ExecError, QueryError, SchemaError, ValueError};
pub use exec::{Executor, Transaction};
pub use mutator::{DispatchError, InRegistry, Mutator, MutatorError, Registry};
/// Collects mutators into a [`Registry`]: `plasma::mutators! { pub struct AppMutators { a, b } }`.
///
/// Every entry must be a `#[plasma::mutator]` taking the first one's context type, listed
/// once, with a wire name no other entry has; each of these mistakes is a compile error
/// spanned on the entry. The registry also implements [`InRegistry`] for each mutator, which
/// `Client<R>::mutate::<M>` requires.
///
/// ```
/// # use plasma::{MutatorError, Transaction};
/// # #[plasma::table] pub struct Note { #[plasma(id)] pub id: String, pub body: String }
/// /// Who is asking.
/// pub struct Ctx { pub user: String }
///
/// #[derive(serde::Serialize, serde::Deserialize)]
/// pub struct AddNote { pub id: String, pub body: String }
///
/// #[plasma::mutator]
/// pub async fn add_note(tx: &mut impl Transaction, _ctx: &Ctx, args: AddNote) -> Result<(), MutatorError> {
///     Note::insert().value(Note::ID, args.id).value(Note::BODY, args.body).run(tx).await?;
///     Ok(())
/// }
///
/// plasma::mutators! {
///     /// The app's mutators.
///     pub struct AppMutators { add_note }
/// }
///
/// fn main() {
///     use plasma::Registry;
///     assert_eq!(AppMutators::NAMES, &["add_note"]);
/// }
/// ```
///
/// Invoke it at module level (not inside a function body): it resolves each entry from a
/// generated child module, which is what lets it say "`foo` is not a plasma mutator" for a
/// plain function instead of rustc's "expected type, found function".
pub use plasma_macros::mutators;
/// Collects table types into a [`Schema`]. Listing a type twice, or two tables with the
/// same name, is a compile error at the duplicate:
///
/// ```
/// #[plasma::table(name = "todos")]
/// pub struct Todo {
///     #[plasma(id)]
///     pub id: String,
///     pub title: String,
/// }
/// pub static SCHEMA: plasma::Schema = plasma::schema![Todo];
/// assert_eq!(SCHEMA.tables[0].name, "todos");
/// ```
pub use plasma_macros::schema;
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
    pub use crate::mutator::{SameContext, dispatch_one, str_eq, str_eq_ignore_ascii_case};
    pub use crate::table::{DefaultLiteral, PrimaryKey, decode_cell, default_for, primary_key};
    pub use serde_json;
}
