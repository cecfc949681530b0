//! Plans `ensure_schema`: compares the declared schema with the stored column
//! catalogue and produces only additive DDL, or refuses.
//!
//! Pure, so every SQL backend applies the same rules. The executor reads the
//! catalogue, runs the plan and writes the new catalogue rows in one transaction.

use crate::error::SchemaError;
use crate::schema::{ColumnKind, RESERVED_PREFIX, Schema, TableDef};
use crate::sql::ddl;

/// One row of plasma's column catalogue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogColumn {
    /// Table name.
    pub table: String,
    /// Column name.
    pub column: String,
    /// Position in the declaring struct.
    pub position: i64,
    /// [`ColumnKind::name`].
    pub kind: String,
    /// Whether NULL is allowed.
    pub nullable: bool,
    /// Whether it is the primary key.
    pub pk: bool,
    /// Whether plasma created an index on it.
    pub indexed: bool,
}

/// What a plan changes, for reports and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaChange {
    /// A new table (with its indexes and triggers).
    CreateTable {
        /// Table name.
        table: String,
    },
    /// A new nullable or defaulted column.
    AddColumn {
        /// Table name.
        table: String,
        /// Column name.
        column: String,
    },
    /// A new index on an existing column.
    CreateIndex {
        /// Table name.
        table: String,
        /// Column name.
        column: String,
    },
}

/// The statements to run and the catalogue rows to upsert afterwards.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// DDL, in order.
    pub statements: Vec<String>,
    /// Catalogue rows to insert or replace.
    pub catalog: Vec<CatalogColumn>,
    /// What changes (empty when the database already matches).
    pub changes: Vec<SchemaChange>,
}

/// Whether a user table may take this name.
pub fn is_reserved_table_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.starts_with(RESERVED_PREFIX) || lower.starts_with("sqlite_")
}

fn catalog_row(table: &TableDef, index: usize) -> CatalogColumn {
    let c = &table.columns[index];
    CatalogColumn {
        table: table.name.to_owned(),
        column: c.name.to_owned(),
        position: index as i64,
        kind: c.kind.name().to_owned(),
        nullable: c.nullable,
        pk: index == table.primary_key,
        indexed: c.indexed,
    }
}

/// Plans the move from `stored` (the catalogue as read) to `schema`.
pub fn plan(schema: &Schema, stored: &[CatalogColumn]) -> Result<Plan, SchemaError> {
    let mut plan = Plan::default();
    for (i, table) in schema.tables.iter().enumerate() {
        if is_reserved_table_name(table.name) {
            return Err(SchemaError::InvalidTable {
                table: table.name.to_owned(),
                reason: format!("names starting with `{RESERVED_PREFIX}` or `sqlite_` are reserved"),
            });
        }
        if schema.tables[..i].iter().any(|t| t.name.eq_ignore_ascii_case(table.name)) {
            return Err(SchemaError::InvalidTable {
                table: table.name.to_owned(),
                reason: "declared twice in the schema".to_owned(),
            });
        }
        let existing: Vec<&CatalogColumn> = stored.iter().filter(|c| c.table == table.name).collect();
        if existing.is_empty() {
            plan.statements.extend(ddl::create_table_all(table));
            plan.catalog.extend((0..table.columns.len()).map(|c| catalog_row(table, c)));
            plan.changes.push(SchemaChange::CreateTable { table: table.name.to_owned() });
        } else {
            plan_existing(table, &existing, &mut plan)?;
        }
    }
    Ok(plan)
}

fn plan_existing(table: &TableDef, existing: &[&CatalogColumn], plan: &mut Plan) -> Result<(), SchemaError> {
    let name = || table.name.to_owned();
    let stored_pk = existing.iter().find(|c| c.pk).map(|c| c.column.as_str()).unwrap_or("");
    if stored_pk != table.pk().name {
        return Err(SchemaError::ChangedPrimaryKey {
            table: name(),
            from: stored_pk.to_owned(),
            to: table.pk().name.to_owned(),
        });
    }
    for stored in existing {
        let Some(declared) = table.columns.iter().find(|c| c.name == stored.column) else {
            return Err(SchemaError::DroppedColumn { table: name(), column: stored.column.clone() });
        };
        let stored_kind = ColumnKind::from_name(&stored.kind)
            .ok_or_else(|| SchemaError::CorruptMetadata(format!("unknown kind `{}`", stored.kind)))?;
        if stored_kind != declared.kind {
            return Err(SchemaError::ChangedType {
                table: name(),
                column: stored.column.clone(),
                from: stored.kind.clone(),
                to: declared.kind.name().to_owned(),
            });
        }
        if stored.nullable != declared.nullable {
            return Err(SchemaError::ChangedNullability {
                table: name(),
                column: stored.column.clone(),
                stored_nullable: stored.nullable,
            });
        }
    }
    let mut statements = Vec::new();
    for (i, column) in table.columns.iter().enumerate() {
        let stored = existing.iter().find(|c| c.column == column.name);
        match stored {
            None => {
                if !column.has_implicit_value() {
                    return Err(SchemaError::NotNullWithoutDefault { table: name(), column: column.name.to_owned() });
                }
                statements.push(format!(
                    "ALTER TABLE {} ADD COLUMN {}",
                    crate::sql::render::ident(table.name),
                    ddl::column_sql(table, column)
                ));
                plan.changes.push(SchemaChange::AddColumn { table: name(), column: column.name.to_owned() });
                plan.catalog.push(catalog_row(table, i));
            }
            Some(stored) if column.indexed && !stored.indexed => {
                plan.changes.push(SchemaChange::CreateIndex { table: name(), column: column.name.to_owned() });
                plan.catalog.push(catalog_row(table, i));
            }
            Some(_) => {}
        }
    }
    // New columns: the triggers' old rows must spell them too.
    if !statements.is_empty() {
        plan.statements.extend(ddl::drop_triggers(table));
    }
    plan.statements.extend(statements);
    // Idempotent: covers indexes added above and any trigger a newer plasma adds.
    plan.statements.extend(ddl::create_indexes(table));
    plan.statements.extend(ddl::create_triggers(table));
    Ok(())
}
