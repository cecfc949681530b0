//! Opening a database and applying an additive upgrade.
//!
//! The stored schema lives in the `_plasma_meta` store as a column catalogue
//! (the same rows SQLite keeps in its catalogue table), so
//! [`migrate::plan`](crate::sql::migrate::plan) decides exactly as it does for
//! SQLite: new tables, columns and indexes are applied, anything destructive
//! is refused with the same [`SchemaError`](crate::SchemaError) and nothing is
//! touched. Structure changes (object stores, indexes) need a version change,
//! so the database is reopened at version + 1 with an `upgradeneeded` handler
//! that creates whatever is missing; nothing is ever deleted.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::Array;
use serde_json::json;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{DomStringList, Event, IdbDatabase, IdbFactory, IdbOpenDbRequest, IdbTransactionMode};

use crate::error::{ExecError, SchemaError};
use crate::exec::indexeddb::codec;
use crate::exec::indexeddb::request::{self, IdbError, Request, storage, thrown};
use crate::schema::{Schema, TableDef};
use crate::sql::migrate::CatalogColumn;

/// plasma's bookkeeping store: the column catalogue under [`CATALOG_KEY`].
pub const META_STORE: &str = "_plasma_meta";
/// Key of the catalogue (JSON) in [`META_STORE`].
const CATALOG_KEY: &str = "catalog";

/// The browser's `indexedDB` (window or worker).
pub(crate) fn factory() -> Result<IdbFactory, ExecError> {
    js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str("indexedDB"))
        .ok()
        .and_then(|f| f.dyn_into::<IdbFactory>().ok())
        .ok_or_else(|| ExecError::storage("IndexedDB is not available in this context"))
}

/// Opens `name` (at `version`, or its current version), creating whatever
/// `schema` needs that is missing when an upgrade runs.
pub(crate) async fn open_db(name: &str, version: Option<u32>, schema: &Schema) -> Result<IdbDatabase, ExecError> {
    let factory = factory()?;
    let opening: IdbOpenDbRequest = match version {
        Some(v) => factory.open_with_u32(name, v),
        None => factory.open(name),
    }
    .map_err(thrown("open"))?;
    let failure: Rc<RefCell<Option<ExecError>>> = Rc::default();
    let failed = failure.clone();
    let tables = schema.tables;
    let target = opening.clone();
    let on_upgrade = Closure::<dyn FnMut(Event)>::new(move |_: Event| {
        if let Err(e) = create_missing(&target, tables) {
            *failed.borrow_mut() = Some(e);
            if let Some(tx) = target.transaction() {
                let _ = tx.abort();
            }
        }
    });
    opening.set_onupgradeneeded(Some(on_upgrade.as_ref().unchecked_ref()));
    let mut answer = Request::new(opening.clone().unchecked_into());
    let result = answer.next().await;
    opening.set_onupgradeneeded(None);
    drop(on_upgrade);
    if let Some(e) = failure.borrow_mut().take() {
        return Err(e);
    }
    let db = result.map_err(|e| storage("open", e))?;
    db.dyn_into::<IdbDatabase>().map_err(|_| ExecError::storage("IndexedDB open returned no database"))
}

/// The `upgradeneeded` step: creates the meta store, one store per table and
/// one index per indexed column, skipping those that exist.
fn create_missing(opening: &IdbOpenDbRequest, tables: &[&TableDef]) -> Result<(), ExecError> {
    let db: IdbDatabase = opening.result().map_err(thrown("upgrade"))?.unchecked_into();
    let upgrade = opening.transaction().ok_or_else(|| ExecError::storage("IndexedDB upgrade without a transaction"))?;
    let names = db.object_store_names();
    let create = thrown("creating an object store");
    if !names.contains(META_STORE) {
        db.create_object_store(META_STORE).map_err(&create)?;
    }
    for table in tables {
        let store = if names.contains(table.name) {
            upgrade.object_store(table.name).map_err(&create)?
        } else {
            db.create_object_store(table.name).map_err(&create)?
        };
        let indexes: DomStringList = store.index_names();
        for column in table.columns.iter().filter(|c| c.indexed) {
            let index = table.index_name(column);
            if !indexes.contains(&index) {
                store
                    .create_index_with_str(&index, &codec::key_field(column.name))
                    .map_err(thrown("creating an index"))?;
            }
        }
    }
    Ok(())
}

/// Whether every store and index `schema` needs exists.
pub(crate) fn structure_complete(db: &IdbDatabase, schema: &Schema) -> Result<bool, ExecError> {
    let names = db.object_store_names();
    if !names.contains(META_STORE) || schema.tables.iter().any(|t| !names.contains(t.name)) {
        return Ok(false);
    }
    let all: Array = schema.tables.iter().map(|t| JsValue::from_str(t.name)).collect();
    if all.length() == 0 {
        return Ok(true);
    }
    let tx = db.transaction_with_str_sequence(&all).map_err(thrown("transaction"))?;
    for table in schema.tables {
        let indexes = tx.object_store(table.name).map_err(thrown("object store"))?.index_names();
        if table.columns.iter().any(|c| c.indexed && !indexes.contains(&table.index_name(c))) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Reads the stored column catalogue (empty for a new database).
pub(crate) async fn read_catalog(db: &IdbDatabase) -> Result<Vec<CatalogColumn>, ExecError> {
    let tx = db.transaction_with_str(META_STORE).map_err(thrown("transaction"))?;
    let store = tx.object_store(META_STORE).map_err(thrown("object store"))?;
    let stored = request::call("reading the catalogue", || store.get(&JsValue::from_str(CATALOG_KEY))).await?;
    if stored.is_undefined() {
        return Ok(Vec::new());
    }
    let text = stored.as_string().ok_or_else(|| SchemaError::CorruptMetadata("catalogue is not text".to_owned()))?;
    let rows: Vec<serde_json::Value> =
        serde_json::from_str(&text).map_err(|e| SchemaError::CorruptMetadata(e.to_string()))?;
    rows.iter()
        .map(catalog_row)
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| SchemaError::CorruptMetadata("catalogue row with missing fields".to_owned()).into())
}

fn catalog_row(v: &serde_json::Value) -> Option<CatalogColumn> {
    Some(CatalogColumn {
        table: v.get("table")?.as_str()?.to_owned(),
        column: v.get("column")?.as_str()?.to_owned(),
        position: v.get("position")?.as_i64()?,
        kind: v.get("kind")?.as_str()?.to_owned(),
        nullable: v.get("nullable")?.as_bool()?,
        pk: v.get("pk")?.as_bool()?,
        indexed: v.get("indexed")?.as_bool()?,
    })
}

/// Writes `stored` with `updates` upserted (by table and column).
pub(crate) async fn write_catalog(
    db: &IdbDatabase,
    mut stored: Vec<CatalogColumn>,
    updates: &[CatalogColumn],
) -> Result<(), ExecError> {
    for u in updates {
        match stored.iter_mut().find(|c| c.table == u.table && c.column == u.column) {
            Some(c) => *c = u.clone(),
            None => stored.push(u.clone()),
        }
    }
    let rows: Vec<serde_json::Value> = stored
        .iter()
        .map(|c| {
            json!({"table": c.table, "column": c.column, "position": c.position, "kind": c.kind,
                   "nullable": c.nullable, "pk": c.pk, "indexed": c.indexed})
        })
        .collect();
    let text = serde_json::Value::Array(rows).to_string();
    let tx =
        db.transaction_with_str_and_mode(META_STORE, IdbTransactionMode::Readwrite).map_err(thrown("transaction"))?;
    let mut done = request::Done::watch(&tx);
    let store = tx.object_store(META_STORE).map_err(thrown("object store"))?;
    request::call("writing the catalogue", || {
        store.put_with_key(&JsValue::from_str(&text), &JsValue::from_str(CATALOG_KEY))
    })
    .await?;
    // `commit()` is standard (Chrome 76+, Firefox 74+, Safari 15); web-sys
    // marks it deprecated, after an old spec draft.
    #[allow(deprecated)]
    let committed = tx.commit().map_err(thrown("commit"));
    committed?;
    done.wait().await.map_err(|e: IdbError| storage("commit", e))
}

/// Rewrites every row of `table` in the current format (index keys included),
/// in one transaction.
pub(crate) async fn rewrite_rows(db: &IdbDatabase, table: &TableDef) -> Result<(), ExecError> {
    let tx =
        db.transaction_with_str_and_mode(table.name, IdbTransactionMode::Readwrite).map_err(thrown("transaction"))?;
    let mut done = request::Done::watch(&tx);
    let store = tx.object_store(table.name).map_err(thrown("object store"))?;
    let records = request::call("reading rows to reindex", || store.get_all()).await?;
    let records: Array = records.dyn_into().map_err(|_| ExecError::storage("IndexedDB getAll returned no array"))?;
    let mut pending = Vec::with_capacity(records.length() as usize);
    for record in records.iter() {
        let Some(row) = codec::decode(table, &record)? else { continue };
        let id = row
            .pk(table)
            .ok_or_else(|| ExecError::storage(format!("IndexedDB: row of `{}` without id", table.name)))?;
        let put = store.put_with_key(&codec::record(table, &row)?, &JsValue::from_str(id)).map_err(thrown("put"))?;
        pending.push(Request::new(put));
    }
    for mut p in pending {
        p.next().await.map_err(|e| storage("reindexing", e))?;
    }
    // `commit()` is standard; web-sys marks it deprecated after an old spec draft.
    #[allow(deprecated)]
    let committed = tx.commit().map_err(thrown("commit"));
    committed?;
    done.wait().await.map_err(|e| storage("commit", e))
}
