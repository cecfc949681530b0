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
#[cfg(feature = "server-core")]
pub mod server;
pub mod sql;
pub mod strict;
pub mod table;
pub mod value;
pub mod wire;

pub use column_type::{ColumnType, Comparable, IntoColumnValue, Json, JsonValue};
pub use error::{DecodeError, EncodeError, ErrorSource, ExecError, QueryError, SchemaError, ValueError};
pub use exec::{Executor, Transaction};
pub use mutator::{DispatchError, InRegistry, Mutator, MutatorError, Registry};
/// Declares a mutator: a named, typed `async fn` that runs optimistically on clients and
/// canonically on the server.
///
/// ```
/// use plasma::{MutatorError, Transaction};
/// # #[plasma::table] pub struct Note { #[plasma(id)] pub id: String, pub body: String }
///
/// /// Who is asking.
/// pub struct Ctx { pub user: String }
///
/// #[derive(serde::Serialize, serde::Deserialize)]
/// pub struct AddNote { pub id: String, pub body: String }
///
/// /// Adds a note.
/// #[plasma::mutator(name = "addNote")]
/// pub async fn add_note(tx: &mut impl Transaction, ctx: &Ctx, args: AddNote) -> Result<(), MutatorError> {
///     if ctx.user.is_empty() {
///         return Err(MutatorError::app("sign in first"));
///     }
///     Note::insert().value(Note::ID, args.id).value(Note::BODY, args.body).run(tx).await?;
///     Ok(())
/// }
/// # fn main() { use plasma::Mutator; assert_eq!(<add_note as Mutator>::NAME, "addNote"); }
/// ```
///
/// # Shape and attributes
///
/// `async fn name(tx: &mut impl plasma::Transaction, ctx: &Ctx, args: Args) -> Result<(), E>`:
/// the transaction first, the app's context by shared reference, the arguments by value (a serde
/// type: they travel as JSON), and a `Result<(), E>` whose error converts into [`MutatorError`].
/// It is a free function at module level, not a method.
///
/// | attribute | meaning |
/// |---|---|
/// | `#[plasma::mutator]` | the wire name is the function's name (`r#move` is `move`) |
/// | `#[plasma::mutator(name = "addNote")]` | the wire name clients and the server agree on |
///
/// # What it generates
///
/// The function as written, plus a marker type of the same name (a braced struct lives only in
/// the type namespace, so it does not clash with the function) implementing [`Mutator`]: list it
/// in [`mutators!`] and call `client.mutate::<add_note>(args)`. Mistakes in the shape are reported
/// at the parameter or type at fault ("the parameters are swapped: the transaction comes
/// first"); the function and its marker are still emitted, so nothing else fails as well.
pub use plasma_macros::mutator;
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
/// // Versioned by the tables' fingerprint: a changed table is a new version.
/// assert!(SCHEMA.version().starts_with("tables-"));
///
/// // Or explicitly, when mutators change meaning but the tables do not.
/// pub static V2: plasma::Schema = plasma::schema![version = "todos-v2"; Todo];
/// assert_eq!(V2.version(), "todos-v2");
///
/// // A `const` works too, for code that needs the version as a `&str`.
/// pub const VERSION: &str = "todos-v3";
/// pub static V3: plasma::Schema = plasma::schema![version = VERSION; Todo];
/// assert_eq!(V3.version(), VERSION);
/// ```
///
/// The version is what clients and server compare (`schemaVersion` on the wire): both
/// builders read it from this one value, so a client and a server built from the same
/// schema always agree.
pub use plasma_macros::schema;
/// Declares a table: `#[plasma::table]` on a struct with named fields.
///
/// ```
/// /// Something to do.
/// #[plasma::table(name = "todos")]
/// pub struct Todo {
///     /// Client-generated id.
///     #[plasma(id)]
///     pub id: String,
///     /// What to do.
///     pub title: String,
///     /// Done yet? New todos are open.
///     #[plasma(default = false, index)]
///     pub done: bool,
///     /// Last change, milliseconds since the Unix epoch.
///     #[plasma(rename = "updatedAt", index)]
///     pub updated_at: i64,
///     /// Free-form labels, stored as JSON text.
///     #[plasma(json)]
///     pub labels: Option<Vec<String>>,
/// }
///
/// let open = Todo::select().filter(Todo::DONE.eq(false)).order_by(Todo::UPDATED_AT.desc());
/// # let _ = open;
/// ```
///
/// # Attributes
///
/// | attribute | meaning |
/// |---|---|
/// | `#[plasma::table]` | the table is named after the struct in snake_case (`TodoItem` → `todo_item`) |
/// | `#[plasma::table(name = "todos")]` | the table's name in storage and on the wire |
/// | `#[plasma(id)]` | the primary key: exactly one field, of type `String` (or an alias of it) |
/// | `#[plasma(default = <literal>)]` | used when an insert omits the column: `false`, `0`, `-1`, `1.5`, `"text"`, `b"bytes"`, checked against the type (range included) |
/// | `#[plasma(index)]` | a secondary index on the column |
/// | `#[plasma(rename = "col")]` | the column's name differs from the field's |
/// | `#[plasma(json)]` | store any serde type (`Serialize + Deserialize`) as JSON text; `Option<T>` makes it nullable |
///
/// Column types: `String`, `i8`–`i64`, `u8`–`u32`, `f32`, `f64`, `bool`, `Vec<u8>`, `Option<T>` of
/// those (nullable), type aliases of any of them, and JSON. Names starting with `_plasma` or
/// `sqlite_` are reserved. A raw identifier (`r#type`) is the column `type`.
///
/// # What it generates
///
/// - The struct as written (minus the `#[plasma(..)]` attributes).
/// - A column handle per field, an associated const named like the field in
///   SCREAMING_SNAKE_CASE: `Todo::DONE: Column<Todo, bool>`, carrying the field's doc comment.
///   Methods named like fields (getters such as `fn id(&self)`) therefore never clash with them.
/// - `Todo::select()`, `insert()`, `upsert()`, `update()`, `delete()`: typed query builders.
/// - `impl plasma::Table for Todo`: the `const` [`TableDef`] and the row codecs.
///
/// Every mistake is reported at the field, attribute or literal that causes it, all in one
/// compile; the struct is still emitted, so code using it does not fail as well.
pub use plasma_macros::table;
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
