//! `ensure_schema` on real SQLite files: idempotent, additive, and refusing
//! anything that would lose or reinterpret data (changing nothing when it does).

use plasma::error::SchemaError;
use plasma::exec::rusqlite::Connection;
use plasma::sql::migrate::SchemaChange;
use plasma::{ExecError, Schema, SqliteExecutor};

/// Version 1 of an `items` table.
mod v1 {
    #[plasma::table(name = "items")]
    pub struct Item {
        #[plasma(id)]
        pub id: String,
        pub name: String,
        pub qty: i64,
    }
    pub static SCHEMA: plasma::Schema = plasma::schema![Item];
}

/// v1 plus a nullable column, a defaulted column, an index, and a new table.
mod v2 {
    #[plasma::table(name = "items")]
    pub struct Item {
        #[plasma(id)]
        pub id: String,
        pub name: String,
        #[plasma(index)]
        pub qty: i64,
        pub note: Option<String>,
        #[plasma(default = "gray")]
        pub color: String,
    }
    #[plasma::table(name = "tags")]
    pub struct Tag {
        #[plasma(id)]
        pub id: String,
    }
    pub static SCHEMA: plasma::Schema = plasma::schema![Item, Tag];
}

mod dropped_column {
    #[plasma::table(name = "items")]
    pub struct Item {
        #[plasma(id)]
        pub id: String,
        pub name: String,
    }
    /// Also adds a table, which must not be created when the plan is refused.
    #[plasma::table(name = "never")]
    pub struct Never {
        #[plasma(id)]
        pub id: String,
    }
    pub static SCHEMA: plasma::Schema = plasma::schema![Never, Item];
}

mod changed_type {
    #[plasma::table(name = "items")]
    pub struct Item {
        #[plasma(id)]
        pub id: String,
        pub name: String,
        pub qty: f64,
    }
    pub static SCHEMA: plasma::Schema = plasma::schema![Item];
}

mod reinterpreted_as_bool {
    #[plasma::table(name = "items")]
    pub struct Item {
        #[plasma(id)]
        pub id: String,
        pub name: String,
        pub qty: bool,
    }
    pub static SCHEMA: plasma::Schema = plasma::schema![Item];
}

mod changed_pk {
    #[plasma::table(name = "items")]
    pub struct Item {
        pub id: String,
        #[plasma(id)]
        pub name: String,
        pub qty: i64,
    }
    pub static SCHEMA: plasma::Schema = plasma::schema![Item];
}

mod new_not_null {
    #[plasma::table(name = "items")]
    pub struct Item {
        #[plasma(id)]
        pub id: String,
        pub name: String,
        pub qty: i64,
        pub required: String,
    }
    pub static SCHEMA: plasma::Schema = plasma::schema![Item];
}

mod made_nullable {
    #[plasma::table(name = "items")]
    pub struct Item {
        #[plasma(id)]
        pub id: String,
        pub name: Option<String>,
        pub qty: i64,
    }
    pub static SCHEMA: plasma::Schema = plasma::schema![Item];
}

fn open(dir: &tempfile::TempDir) -> SqliteExecutor {
    SqliteExecutor::open(dir.path().join("app.db")).expect("open")
}

fn dump(conn: &Connection) -> Vec<String> {
    let mut stmt = conn
        .prepare("SELECT type || ' ' || name || ': ' || coalesce(sql, '') FROM sqlite_schema ORDER BY type, name")
        .expect("prepare");
    let rows = stmt.query_map([], |r| r.get::<_, String>(0)).expect("query");
    rows.collect::<Result<_, _>>().expect("rows")
}

fn seeded_v1(dir: &tempfile::TempDir) -> SqliteExecutor {
    let db = open(dir);
    db.ensure_schema(&v1::SCHEMA).expect("v1");
    db.connection().execute("INSERT INTO items (id, name, qty) VALUES ('a', 'apple', 3)", []).expect("seed");
    db
}

#[test]
fn creates_tables_triggers_and_bookkeeping_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open(&dir);
    let first = db.ensure_schema(&v1::SCHEMA).expect("first run");
    assert_eq!(first, vec![SchemaChange::CreateTable { table: "items".into() }]);
    let after_first = dump(db.connection());
    for name in [
        "table _plasma_changes",
        "table _plasma_client_groups",
        "table _plasma_clients",
        "table _plasma_columns",
        "table _plasma_meta",
        "table _plasma_old_rows",
        "table _plasma_synced",
        "table items",
        "trigger _plasma_trg2_items_insert",
        "trigger _plasma_trg2_items_update",
        "trigger _plasma_trg2_items_delete",
    ] {
        assert!(after_first.iter().any(|s| s.starts_with(name)), "missing {name} in {after_first:#?}");
    }
    let second = db.ensure_schema(&v1::SCHEMA).expect("second run");
    assert!(second.is_empty(), "{second:?}");
    assert_eq!(dump(db.connection()), after_first, "a second run changes nothing");
}

#[test]
fn applies_only_the_additions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = seeded_v1(&dir);
    let changes = db.ensure_schema(&v2::SCHEMA).expect("v2");
    assert_eq!(
        changes,
        vec![
            SchemaChange::CreateIndex { table: "items".into(), column: "qty".into() },
            SchemaChange::AddColumn { table: "items".into(), column: "note".into() },
            SchemaChange::AddColumn { table: "items".into(), column: "color".into() },
            SchemaChange::CreateTable { table: "tags".into() },
        ]
    );
    let row: (String, Option<String>, String) = db
        .connection()
        .query_row("SELECT name, note, color FROM items WHERE id = 'a'", [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("existing row kept");
    assert_eq!(row, ("apple".into(), None, "gray".into()));
    assert!(dump(db.connection()).iter().any(|s| s.starts_with("index _plasma_idx_items_qty")));
    assert!(db.ensure_schema(&v2::SCHEMA).expect("again").is_empty());
    // Going back to v1 would drop columns: refused.
    let err = db.ensure_schema(&v1::SCHEMA).unwrap_err();
    assert!(matches!(err, ExecError::Schema(SchemaError::DroppedColumn { .. })), "{err}");
}

fn refused(schema: &Schema) -> SchemaError {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = seeded_v1(&dir);
    let before = dump(db.connection());
    let err = match db.ensure_schema(schema) {
        Err(ExecError::Schema(e)) => e,
        other => panic!("expected a schema refusal, got {other:?}"),
    };
    assert_eq!(dump(db.connection()), before, "a refused plan changes nothing");
    let kept: String = db.connection().query_row("SELECT name FROM items", [], |r| r.get(0)).expect("row kept");
    assert_eq!(kept, "apple");
    err
}

#[test]
fn refuses_dropped_column_and_creates_nothing() {
    let err = refused(&dropped_column::SCHEMA);
    assert_eq!(err, SchemaError::DroppedColumn { table: "items".into(), column: "qty".into() });
    assert!(err.to_string().contains("items") && err.to_string().contains("qty"));
}

#[test]
fn refuses_changed_type() {
    let err = refused(&changed_type::SCHEMA);
    assert_eq!(
        err,
        SchemaError::ChangedType {
            table: "items".into(),
            column: "qty".into(),
            from: "integer".into(),
            to: "real".into()
        }
    );
}

#[test]
fn refuses_reinterpretation_with_the_same_storage_class() {
    let err = refused(&reinterpreted_as_bool::SCHEMA);
    assert!(matches!(err, SchemaError::ChangedType { ref column, .. } if column == "qty"), "{err}");
}

#[test]
fn refuses_changed_primary_key() {
    let err = refused(&changed_pk::SCHEMA);
    assert_eq!(err, SchemaError::ChangedPrimaryKey { table: "items".into(), from: "id".into(), to: "name".into() });
}

#[test]
fn refuses_new_not_null_column_without_default() {
    let err = refused(&new_not_null::SCHEMA);
    assert_eq!(err, SchemaError::NotNullWithoutDefault { table: "items".into(), column: "required".into() });
}

#[test]
fn refuses_changed_nullability() {
    let err = refused(&made_nullable::SCHEMA);
    assert!(matches!(err, SchemaError::ChangedNullability { ref column, .. } if column == "name"), "{err}");
}

#[test]
fn refuses_reserved_and_duplicate_table_names_at_runtime() {
    static RESERVED: plasma::TableDef = plasma::TableDef {
        name: "_plasma_mine",
        columns: &[plasma::ColumnDef {
            name: "id",
            field: "id",
            kind: plasma::ColumnKind::Text,
            nullable: false,
            default: None,
            indexed: false,
        }],
        primary_key: 0,
    };
    static WITH_RESERVED: Schema = Schema::new(&[&RESERVED]);
    let db = SqliteExecutor::open_in_memory().expect("open");
    let err = db.ensure_schema(&WITH_RESERVED).unwrap_err();
    assert!(matches!(err, ExecError::Schema(SchemaError::InvalidTable { .. })), "{err}");
    // `plasma::schema!` refuses this at compile time; the planner checks hand-built schemas too.
    static TWICE: Schema = Schema::new(&[<v1::Item as plasma::Table>::DEF, <v1::Item as plasma::Table>::DEF]);
    let err = db.ensure_schema(&TWICE).unwrap_err();
    assert!(matches!(err, ExecError::Schema(SchemaError::InvalidTable { .. })), "{err}");
}

#[test]
fn triggers_log_every_insert_update_and_delete() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = seeded_v1(&dir);
    let conn = db.connection();
    conn.execute("UPDATE items SET qty = 4 WHERE id = 'a'", []).expect("update");
    conn.execute("UPDATE items SET id = 'b' WHERE id = 'a'", []).expect("re-key");
    conn.execute("DELETE FROM items WHERE id = 'b'", []).expect("delete");
    let mut stmt = conn.prepare("SELECT tbl, pk, op FROM _plasma_changes ORDER BY seq").expect("prepare");
    let log: Vec<(String, String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    let expect = |pk: &str, op: &str| ("items".to_owned(), pk.to_owned(), op.to_owned());
    assert_eq!(
        log,
        vec![expect("a", "put"), expect("a", "put"), expect("a", "del"), expect("b", "put"), expect("b", "del")]
    );
}
