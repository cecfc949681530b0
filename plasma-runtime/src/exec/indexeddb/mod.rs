//! The IndexedDB executor: the browser's durable store (wasm32, feature `web`).
//!
//! Driven by the same [`TableDef`]s `#[plasma::table]` emits:
//!
//! - one object store per table, named after it, keyed by the row's id;
//! - one IndexedDB index per `#[plasma(index)]` column, named
//!   [`TableDef::index_name`];
//! - plasma's bookkeeping store [`META_STORE`] holding the column catalogue,
//!   so [`IndexedDbExecutor::open`] upgrades additively under the same rules
//!   as SQLite's `ensure_schema` (see [`open`]).
//!
//! Rows are stored as JSON text plus their index keys ([`codec`] says why);
//! index keys are encoded so NULL, booleans and SQLite's text order all work
//! ([`keys`]). Queries run with exactly the memory executor's semantics: an
//! access path fetches candidate rows (`get` by id, an index range, an ordered
//! index walk for `ORDER BY indexed LIMIT n`, or a full scan) and
//! `query::eval` filters, orders and pages them.
//!
//! Transactions: one readwrite IndexedDB transaction per plasma transaction
//! over every table's store. Dropping it without commit aborts it. **Do not
//! await anything but plasma operations inside a transaction**: IndexedDB
//! commits a transaction on its own once the event loop goes idle with no
//! request pending (see [`IndexedDbTx`]).

mod codec;
mod keys;
mod open;
mod request;
mod tx;

use js_sys::Array;
use wasm_bindgen::JsValue;
use web_sys::{IdbDatabase, IdbTransactionMode};

pub use open::META_STORE;
pub use request::IdbError;
pub use tx::IndexedDbTx;

use crate::error::ExecError;
use crate::exec::Executor;
use crate::schema::{Schema, TableDef};
use crate::sql::migrate::{self, SchemaChange};

/// An open IndexedDB database holding a schema's tables. Closes the
/// connection when dropped.
#[derive(Debug)]
pub struct IndexedDbExecutor {
    db: IdbDatabase,
    name: String,
    tables: Vec<&'static TableDef>,
    store_names: Array,
    changes: Vec<SchemaChange>,
}

impl IndexedDbExecutor {
    /// Opens (creating if needed) the database `name` and additively upgrades
    /// it to `schema`: new tables and indexes are created by a version
    /// change; a destructive change (dropped column or table, changed kind,
    /// nullability or primary key) is refused with
    /// [`ExecError::Schema`] and nothing is changed. If another connection
    /// holds the database open at an older version, the upgrade waits until
    /// it closes.
    pub async fn open(name: &str, schema: &Schema) -> Result<Self, ExecError> {
        let db = open::open_db(name, None, schema).await?;
        // Built first so that its drop closes the connection on every error path.
        let mut exec = IndexedDbExecutor {
            db,
            name: name.to_owned(),
            tables: schema.tables.to_vec(),
            store_names: schema.tables.iter().map(|t| JsValue::from_str(t.name)).collect(),
            changes: Vec::new(),
        };
        let stored = open::read_catalog(&exec.db).await?;
        let plan = migrate::plan(schema, &stored)?;
        if !open::structure_complete(&exec.db, schema)? {
            let next = exec.db.version() as u32 + 1;
            exec.db.close();
            exec.db = open::open_db(name, Some(next), schema).await?;
        }
        // Rows written before an index or column existed lack its key field;
        // rewrite them before recording the new catalogue, so a crash in
        // between repeats the rewrite on the next open.
        for table in schema.tables {
            let grew = plan.changes.iter().any(|c| match c {
                SchemaChange::AddColumn { table: t, .. } | SchemaChange::CreateIndex { table: t, .. } => {
                    t == table.name
                }
                _ => false,
            });
            if grew {
                open::rewrite_rows(&exec.db, table).await?;
            }
        }
        if !plan.catalog.is_empty() {
            open::write_catalog(&exec.db, stored, &plan.catalog).await?;
        }
        exec.changes = plan.changes;
        Ok(exec)
    }

    /// What opening changed (empty when the database already matched).
    pub fn changes(&self) -> &[SchemaChange] {
        &self.changes
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Deletes the database `name` (close every connection to it first).
    pub async fn delete(name: &str) -> Result<(), ExecError> {
        let factory = open::factory()?;
        request::call("deleteDatabase", || factory.delete_database(name).map(Into::into)).await.map(|_| ())
    }

    fn check_table(&self, table: &TableDef) -> Result<(), ExecError> {
        if self.tables.iter().any(|t| t.name == table.name) {
            Ok(())
        } else {
            Err(ExecError::UnknownTable(table.name.to_owned()))
        }
    }
}

impl Drop for IndexedDbExecutor {
    fn drop(&mut self) {
        self.db.close();
    }
}

impl Executor for IndexedDbExecutor {
    type Tx<'a> = IndexedDbTx<'a>;

    async fn begin(&self) -> Result<IndexedDbTx<'_>, ExecError> {
        let tx = self
            .db
            .transaction_with_str_sequence_and_mode(&self.store_names, IdbTransactionMode::Readwrite)
            .map_err(request::thrown("transaction"))?;
        Ok(IndexedDbTx::new(self, tx))
    }

    async fn commit<'a>(tx: IndexedDbTx<'a>) -> Result<(), ExecError>
    where
        Self: 'a,
    {
        tx.commit().await
    }
}
