//! The native client's durable store: one SQLite file holding the server
//! snapshot in the app's own tables (no triggers, no indexes: reads are served
//! from memory), the pending queue, and the client's meta.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, OptionalExtension, params};

use crate::client::store::{Change, ClientMeta};
use crate::client::platform::BoxFuture;
use crate::client::store::{Persisted, PullCommit, Store, StoreError};
use crate::exec::sqlite::value_from_ref;
use crate::protocol::MutationRecord;
use crate::schema::{Schema, TableDef};
use crate::sql::ddl::{create_table, create_table_named};
use crate::sql::render::ident;
use crate::table::Row;

const META: &str = "_plasma_client_meta";
const PENDING: &str = "_plasma_client_pending";

/// A client store in a SQLite file.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Mutex<Connection>,
}

fn io(e: rusqlite::Error) -> StoreError {
    StoreError::io_from(e)
}

fn corrupt(e: serde_json::Error) -> StoreError {
    StoreError::corrupt_from(e)
}

impl SqliteStore {
    /// Opens (creating if needed) a store file. WAL with `synchronous=NORMAL`:
    /// a killed process loses nothing committed; a power cut may lose the last
    /// few commits, as with any WAL database in that mode.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::configure(Connection::open(path).map_err(io)?, true)
    }

    /// A store in a private in-memory database (for tests and benchmarks).
    pub fn open_in_memory() -> Result<Self, StoreError> {
        Self::configure(Connection::open_in_memory().map_err(io)?, false)
    }

    fn configure(conn: Connection, file: bool) -> Result<Self, StoreError> {
        if file {
            conn.pragma_update(None, "journal_mode", "WAL").map_err(io)?;
            conn.pragma_update(None, "synchronous", "NORMAL").map_err(io)?;
        }
        conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(io)?;
        conn.set_prepared_statement_cache_capacity(64);
        conn.execute_batch(&format!(
            "CREATE TABLE IF NOT EXISTS {META} (key TEXT NOT NULL PRIMARY KEY, value TEXT NOT NULL) STRICT;
             CREATE TABLE IF NOT EXISTS {PENDING} (client_id TEXT NOT NULL, id INTEGER NOT NULL, record TEXT NOT NULL,
                PRIMARY KEY (client_id, id)) STRICT;"
        ))
        .map_err(io)?;
        Ok(SqliteStore { conn: Mutex::new(conn) })
    }

    fn conn(&self) -> Result<MutexGuard<'_, Connection>, StoreError> {
        self.conn.lock().map_err(|_| StoreError::io("store connection poisoned"))
    }

    fn load_now(
        &self,
        schema: &'static Schema,
        client_group_id: &str,
        schema_version: &str,
    ) -> Result<Option<Persisted>, StoreError> {
        let mut conn = self.conn()?;
        let get = |conn: &Connection, key: &str| -> Result<Option<String>, StoreError> {
            conn.query_row(&format!("SELECT value FROM {META} WHERE key = ?1"), [key], |r| r.get(0))
                .optional()
                .map_err(io)
        };
        let stored_group = get(&conn, "client_group_id")?;
        let stored_version = get(&conn, "schema_version")?;
        let meta = get(&conn, "meta")?;
        let pending: i64 = conn.query_row(&format!("SELECT count(*) FROM {PENDING}"), [], |r| r.get(0)).map_err(io)?;
        let pending = usize::try_from(pending).unwrap_or(usize::MAX);
        let matches =
            stored_group.as_deref() == Some(client_group_id) && stored_version.as_deref() == Some(schema_version);
        let Some(meta) = meta.filter(|_| matches) else {
            if pending > 0 {
                return Err(StoreError::Incompatible {
                    stored_group: stored_group.unwrap_or_default(),
                    stored_version: stored_version.unwrap_or_default(),
                    pending,
                });
            }
            wipe(&mut conn, schema)?;
            return Ok(None);
        };
        let meta: ClientMeta = serde_json::from_str(&meta).map_err(corrupt)?;
        let mut rows = Vec::new();
        for table in schema.tables {
            let columns: Vec<String> = table.columns.iter().map(|c| ident(c.name)).collect();
            let sql = format!("SELECT {} FROM {}", columns.join(", "), ident(table.name));
            let mut stmt = conn.prepare(&sql).map_err(io)?;
            let mut cursor = stmt.query([]).map_err(io)?;
            while let Some(row) = cursor.next().map_err(io)? {
                let mut cells = Vec::with_capacity(columns.len());
                for i in 0..columns.len() {
                    cells.push(value_from_ref(row.get_ref(i).map_err(io)?));
                }
                rows.push((*table, Row(cells)));
            }
        }
        let mut stmt = conn.prepare(&format!("SELECT record FROM {PENDING} ORDER BY id")).map_err(io)?;
        let records = stmt.query_map([], |r| r.get::<_, String>(0)).map_err(io)?;
        let mut queue = Vec::new();
        for record in records {
            queue.push(serde_json::from_str::<MutationRecord>(&record.map_err(io)?).map_err(corrupt)?);
        }
        Ok(Some(Persisted {
            client_group_id: client_group_id.to_owned(),
            schema_version: schema_version.to_owned(),
            meta,
            rows,
            pending: queue,
        }))
    }
}

/// Drops the app tables of whatever schema wrote this file, and the meta.
fn wipe(conn: &mut Connection, schema: &Schema) -> Result<(), StoreError> {
    let tx = conn.transaction().map_err(io)?;
    let tables: Vec<String> = {
        let mut stmt = tx
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND (name NOT LIKE '\\_plasma%' ESCAPE '\\' OR name LIKE '\\_plasma\\_stage\\_%' ESCAPE '\\')")
            .map_err(io)?;
        let names = stmt.query_map([], |r| r.get::<_, String>(0)).map_err(io)?;
        names.collect::<Result<_, _>>().map_err(io)?
    };
    for table in tables {
        tx.execute(&format!("DROP TABLE {}", ident(&table)), []).map_err(io)?;
    }
    tx.execute(&format!("DELETE FROM {META}"), []).map_err(io)?;
    tx.execute(&format!("DELETE FROM {PENDING}"), []).map_err(io)?;
    for table in schema.tables {
        tx.execute(&create_table(table), []).map_err(io)?;
    }
    tx.commit().map_err(io)
}

fn put_meta(conn: &Connection, key: &str, value: &str) -> Result<(), StoreError> {
    conn.prepare_cached(&format!("INSERT OR REPLACE INTO {META} (key, value) VALUES (?1, ?2)"))
        .and_then(|mut s| s.execute(params![key, value]))
        .map_err(io)?;
    Ok(())
}

fn upsert_sql(table: &TableDef, name: &str) -> String {
    let columns: Vec<String> = table.columns.iter().map(|c| ident(c.name)).collect();
    let marks: Vec<String> = (1..=columns.len()).map(|i| format!("?{i}")).collect();
    format!("INSERT OR REPLACE INTO {} ({}) VALUES ({})", ident(name), columns.join(", "), marks.join(", "))
}

fn delete_sql(table: &TableDef, name: &str) -> String {
    format!("DELETE FROM {} WHERE {} = ?1", ident(name), ident(table.pk().name))
}

/// Where a reset of `table` is staged until its commit renames it into place.
fn stage_name(table: &TableDef) -> String {
    format!("_plasma_stage_{}", table.name)
}

/// Writes `changes` in order into the tables `name` gives for each table of
/// `schema` (the snapshot's own, or the stage's).
fn write_changes<'a>(
    tx: &Connection,
    schema: &Schema,
    changes: impl Iterator<Item = &'a Change>,
    name: impl Fn(&TableDef) -> String,
) -> Result<(), StoreError> {
    // One prepared statement per table and kind for the whole batch.
    let mut upserts = Vec::with_capacity(schema.tables.len());
    let mut deletes = Vec::with_capacity(schema.tables.len());
    for table in schema.tables {
        upserts.push(tx.prepare_cached(&upsert_sql(table, &name(table))).map_err(io)?);
        deletes.push(tx.prepare_cached(&delete_sql(table, &name(table))).map_err(io)?);
    }
    let position = |table: &TableDef| {
        schema
            .tables
            .iter()
            .position(|t| t.name == table.name)
            .ok_or_else(|| StoreError::io(format!("table `{}` is not in the schema", table.name)))
    };
    for change in changes {
        match change {
            Change::Clear => {
                for table in schema.tables {
                    tx.execute(&format!("DELETE FROM {}", ident(&name(table))), []).map_err(io)?;
                }
            }
            Change::Put(table, row) => {
                upserts[position(table)?].execute(rusqlite::params_from_iter(row.0.iter())).map_err(io)?;
            }
            Change::Del(table, id) => {
                deletes[position(table)?].execute([id]).map_err(io)?;
            }
        }
    }
    Ok(())
}

impl Store for SqliteStore {
    fn load(
        &self,
        schema: &'static Schema,
        client_group_id: &str,
        schema_version: &str,
    ) -> BoxFuture<'_, Result<Option<Persisted>, StoreError>> {
        let result = self.load_now(schema, client_group_id, schema_version);
        Box::pin(async move { result })
    }

    fn init(&self, client_group_id: &str, schema_version: &str, meta: &ClientMeta) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        let tx = conn.transaction().map_err(io)?;
        put_meta(&tx, "client_group_id", client_group_id)?;
        put_meta(&tx, "schema_version", schema_version)?;
        put_meta(&tx, "meta", &serde_json::to_string(meta).map_err(corrupt)?)?;
        tx.commit().map_err(io)
    }

    fn append_pending(&self, meta: &ClientMeta, record: &MutationRecord) -> Result<(), StoreError> {
        let json = serde_json::to_string(record).map_err(corrupt)?;
        let mut conn = self.conn()?;
        let tx = conn.transaction().map_err(io)?;
        tx.prepare_cached(&format!("INSERT OR REPLACE INTO {PENDING} (client_id, id, record) VALUES (?1, ?2, ?3)"))
            .and_then(|mut s| s.execute(params![record.client_id, record.id as i64, json]))
            .map_err(io)?;
        put_meta(&tx, "meta", &serde_json::to_string(meta).map_err(corrupt)?)?;
        tx.commit().map_err(io)
    }

    fn replace_pending(&self, record: &MutationRecord) -> Result<(), StoreError> {
        let json = serde_json::to_string(record).map_err(corrupt)?;
        let conn = self.conn()?;
        conn.prepare_cached(&format!("UPDATE {PENDING} SET record = ?3 WHERE client_id = ?1 AND id = ?2"))
            .and_then(|mut s| s.execute(params![record.client_id, record.id as i64, json]))
            .map_err(io)?;
        Ok(())
    }

    fn begin_stage(&self, schema: &'static Schema) -> Result<bool, StoreError> {
        let mut conn = self.conn()?;
        let tx = conn.transaction().map_err(io)?;
        for table in schema.tables {
            tx.execute(&format!("DROP TABLE IF EXISTS {}", ident(&stage_name(table))), []).map_err(io)?;
            tx.execute(&create_table_named(table, &stage_name(table)), []).map_err(io)?;
        }
        tx.commit().map_err(io)?;
        Ok(true)
    }

    fn stage(&self, schema: &'static Schema, changes: &[Change]) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        let tx = conn.transaction().map_err(io)?;
        write_changes(&tx, schema, changes.iter(), stage_name)?;
        tx.commit().map_err(io)
    }

    fn commit_pull(&self, commit: PullCommit<'_>) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        let tx = conn.transaction().map_err(io)?;
        if commit.staged {
            // The staged tables hold the whole new snapshot: swap them in.
            for table in commit.schema.tables {
                tx.execute(&format!("DROP TABLE IF EXISTS {}", ident(table.name)), []).map_err(io)?;
                tx.execute(&format!("ALTER TABLE {} RENAME TO {}", ident(&stage_name(table)), ident(table.name)), [])
                    .map_err(io)?;
            }
        } else {
            write_changes(&tx, commit.schema, commit.changes.iter().flat_map(|c| c.iter()), |t| t.name.to_owned())?;
        }
        let meta = commit.meta;
        tx.prepare_cached(&format!("DELETE FROM {PENDING} WHERE client_id != ?1 OR id <= ?2"))
            .and_then(|mut s| s.execute(params![meta.client_id, meta.last_mutation_id as i64]))
            .map_err(io)?;
        put_meta(&tx, "meta", &serde_json::to_string(meta).map_err(corrupt)?)?;
        tx.commit().map_err(io)
    }
}
