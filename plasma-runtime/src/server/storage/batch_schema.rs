//! `ensure_schema` on a [`BatchDb`] (D1): the same additive rules
//! ([`migrate::plan`]), tables, indexes, change-log triggers and bookkeeping
//! as [`SqliteExecutor::ensure_schema`](crate::exec::sqlite::SqliteExecutor::ensure_schema),
//! plus the guard's tables a batch backend commits through.
//!
//! D1 has no interactive transactions, so the catalogue is read with single
//! statements and the plan committed as one guarded batch: if another
//! isolate applied a schema (or anything committed) meanwhile, the batch
//! fails whole and the plan is made again from the newer catalogue.

use crate::error::SchemaError;
use crate::protocol::ErrorCode;
use crate::schema::Schema;
use crate::server::error::ServerError;
use crate::server::storage::batch::{BatchDb, CommitError, Statement, commit_guarded, guard_tables, read_version};
use crate::sql::ddl::{self, COLUMNS_TABLE, META_TABLE};
use crate::sql::migrate::{self, CatalogColumn, SchemaChange};
use crate::value::Value;

/// How many times a plan overtaken by another commit is made again.
const RETRIES: usize = 8;

/// Creates or additively upgrades `schema` on `db`. Idempotent; refuses
/// (changing nothing) what would drop or reinterpret data, with the same
/// [`SchemaError`] as SQLite (as an `internal` server error carrying it).
pub async fn ensure_schema(db: &impl BatchDb, schema: &Schema) -> Result<Vec<SchemaChange>, ServerError> {
    // Idempotent statements first (bookkeeping tables, guard): the version
    // row the guarded commit below needs must exist before it is read.
    let mut setup: Vec<Statement> = ddl::internal_tables()
        .into_iter()
        .chain(ddl::synced_tables("main"))
        .map(|sql| Statement::new(sql, Vec::new()))
        .collect();
    setup.extend(guard_tables());
    db.batch(&setup).await?;
    let mut tries = 0;
    loop {
        let seen = read_version(db).await?;
        let stored = read_catalog(db).await?;
        let plan = migrate::plan(schema, &stored).map_err(schema_error)?;
        if plan.statements.is_empty()
            && plan.catalog.is_empty()
            && internal_version(db).await? == Some(ddl::INTERNAL_SCHEMA_VERSION)
        {
            return Ok(plan.changes);
        }
        let mut body: Vec<Statement> = plan.statements.into_iter().map(|sql| Statement::new(sql, Vec::new())).collect();
        body.extend(plan.catalog.iter().map(upsert_column));
        body.push(Statement::new(
            format!(
                "INSERT OR REPLACE INTO \"{META_TABLE}\" (\"key\", \"value\") VALUES ('internal_schema_version', ?)"
            ),
            vec![Value::Text(ddl::INTERNAL_SCHEMA_VERSION.to_string())],
        ));
        match commit_guarded(db, seen, body).await {
            Ok(()) => return Ok(plan.changes),
            Err(CommitError::Conflict) if tries < RETRIES => tries += 1,
            Err(CommitError::Conflict) => {
                return Err(ServerError::new(ErrorCode::Busy, "the schema kept changing while it was applied"));
            }
            Err(CommitError::Failed(e)) => return Err(e.into()),
        }
    }
}

fn schema_error(e: SchemaError) -> ServerError {
    tracing::error!(error = %e, "ensure_schema refused");
    ServerError::new(ErrorCode::Internal, format!("the database schema cannot be upgraded: {e}"))
}

async fn internal_version(db: &impl BatchDb) -> Result<Option<i64>, ServerError> {
    let rows = db
        .query(&Statement::new(
            format!("SELECT \"value\" FROM \"{META_TABLE}\" WHERE \"key\" = 'internal_schema_version'"),
            Vec::new(),
        ))
        .await?;
    Ok(match rows.first().and_then(|r| r.first()) {
        Some(Value::Text(v)) => v.parse().ok(),
        Some(Value::Integer(v)) => Some(*v),
        _ => None,
    })
}

fn upsert_column(c: &CatalogColumn) -> Statement {
    Statement::new(
        format!(
            "INSERT OR REPLACE INTO \"{COLUMNS_TABLE}\" \
             (\"tbl\", \"col\", \"position\", \"kind\", \"nullable\", \"pk\", \"indexed\") VALUES (?, ?, ?, ?, ?, ?, ?)"
        ),
        vec![
            Value::Text(c.table.clone()),
            Value::Text(c.column.clone()),
            Value::Integer(c.position),
            Value::Text(c.kind.clone()),
            Value::Integer(i64::from(c.nullable)),
            Value::Integer(i64::from(c.pk)),
            Value::Integer(i64::from(c.indexed)),
        ],
    )
}

async fn read_catalog(db: &impl BatchDb) -> Result<Vec<CatalogColumn>, ServerError> {
    let rows = db
        .query(&Statement::new(
            format!(
                "SELECT \"tbl\", \"col\", \"position\", \"kind\", \"nullable\", \"pk\", \"indexed\" \
                 FROM \"{COLUMNS_TABLE}\" ORDER BY \"tbl\", \"position\""
            ),
            Vec::new(),
        ))
        .await?;
    rows.into_iter().map(catalog_row).collect()
}

fn catalog_row(row: Vec<Value>) -> Result<CatalogColumn, ServerError> {
    let corrupt = || schema_error(SchemaError::CorruptMetadata(format!("bad row in {COLUMNS_TABLE}")));
    let text = |v: &Value| match v {
        Value::Text(s) => Ok(s.clone()),
        _ => Err(corrupt()),
    };
    let int = |v: &Value| match v {
        Value::Integer(i) => Ok(*i),
        _ => Err(corrupt()),
    };
    let [tbl, col, position, kind, nullable, pk, indexed] = row.as_slice() else { return Err(corrupt()) };
    Ok(CatalogColumn {
        table: text(tbl)?,
        column: text(col)?,
        position: int(position)?,
        kind: text(kind)?,
        nullable: int(nullable)? != 0,
        pk: int(pk)? != 0,
        indexed: int(indexed)? != 0,
    })
}
