//! The dialect-free query tree. Typed builders produce it; each backend renders
//! or evaluates it (SQLite SQL in `sql::render`, memory in `eval`), so one query
//! value means the same thing everywhere.
//!
//! Columns are referred to by their position in the table's [`TableDef`].

use crate::error::QueryError;
use crate::schema::{ColumnDef, ColumnKind, TableDef};
use crate::value::Value;

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `=`
    Eq,
    /// `<>`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

/// A boolean filter over one row, with SQL's three-valued logic.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// `column <op> value`.
    Cmp {
        /// Column position.
        column: usize,
        /// Operator.
        op: CmpOp,
        /// Right-hand side, always a bound parameter.
        value: Value,
    },
    /// `column IN (values...)`.
    In {
        /// Column position.
        column: usize,
        /// Candidate values.
        values: Vec<Value>,
    },
    /// `column IS NULL`.
    IsNull {
        /// Column position.
        column: usize,
    },
    /// `column LIKE pattern ESCAPE '\'` (SQLite semantics: `%`, `_`, ASCII case-insensitive).
    Like {
        /// Column position.
        column: usize,
        /// The pattern.
        pattern: String,
    },
    /// The text in `column` begins with `prefix` (case-sensitive).
    StartsWith {
        /// Column position.
        column: usize,
        /// The prefix.
        prefix: String,
    },
    /// All of these hold (true when empty).
    And(Vec<Expr>),
    /// Any of these holds (false when empty).
    Or(Vec<Expr>),
    /// Negation.
    Not(Box<Expr>),
    /// `column IN (SELECT out FROM table WHERE filter)`: reads another table
    /// (one level: the inner filter holds no `InSelect`). SQL renders it as
    /// a subquery; the other executors run the inner select first and
    /// evaluate the [`Expr::In`] it becomes ([`Expr::resolve_sub_selects`]),
    /// with the same three-valued answer.
    InSelect {
        /// Column position in the outer table.
        column: usize,
        /// The inner select.
        sub: Box<SubSelect>,
    },
}

/// The inner select of [`Expr::InSelect`]: one column of the rows of a
/// table matching a filter.
#[derive(Debug, Clone, PartialEq)]
pub struct SubSelect {
    /// The table read.
    pub table: &'static TableDef,
    /// The column whose values the outer column is compared with.
    pub out: usize,
    /// Optional filter on the inner table (no `InSelect` inside).
    pub filter: Option<Expr>,
}

impl SubSelect {
    /// The inner rows as a [`SelectQuery`] (every column; callers take `out`).
    pub fn query(&self) -> SelectQuery {
        SelectQuery { filter: self.filter.clone(), ..SelectQuery::all(self.table) }
    }
}

impl Expr {
    /// Visits every column position the filter reads.
    pub fn columns(&self, out: &mut Vec<usize>) {
        match self {
            Expr::Cmp { column, .. }
            | Expr::In { column, .. }
            | Expr::IsNull { column }
            | Expr::Like { column, .. }
            | Expr::StartsWith { column, .. } => out.push(*column),
            Expr::And(es) | Expr::Or(es) => es.iter().for_each(|e| e.columns(out)),
            Expr::Not(e) => e.columns(out),
            Expr::InSelect { column, .. } => out.push(*column),
        }
    }

    /// Visits every inner select, outermost first.
    pub fn sub_selects<'a>(&'a self, out: &mut Vec<&'a SubSelect>) {
        match self {
            Expr::InSelect { sub, .. } => out.push(sub),
            Expr::And(es) | Expr::Or(es) => es.iter().for_each(|e| e.sub_selects(out)),
            Expr::Not(e) => e.sub_selects(out),
            _ => {}
        }
    }

    /// Whether the filter reads another table (holds an `InSelect`).
    pub fn has_sub_select(&self) -> bool {
        let mut subs = Vec::new();
        self.sub_selects(&mut subs);
        !subs.is_empty()
    }

    /// The same filter with every `InSelect` replaced by the `In` of the
    /// values `lookup` returns for its inner select: how executors that
    /// evaluate rows in memory answer it exactly as SQL's subquery does.
    pub fn resolve_sub_selects<E>(
        &self,
        lookup: &mut impl FnMut(&SubSelect) -> Result<Vec<Value>, E>,
    ) -> Result<Expr, E> {
        Ok(match self {
            Expr::InSelect { column, sub } => Expr::In { column: *column, values: lookup(sub)? },
            Expr::And(es) => Expr::And(es.iter().map(|e| e.resolve_sub_selects(lookup)).collect::<Result<_, _>>()?),
            Expr::Or(es) => Expr::Or(es.iter().map(|e| e.resolve_sub_selects(lookup)).collect::<Result<_, _>>()?),
            Expr::Not(e) => Expr::Not(Box::new(e.resolve_sub_selects(lookup)?)),
            other => other.clone(),
        })
    }
}

/// One `ORDER BY` term.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OrderTerm {
    /// Column position.
    pub column: usize,
    /// `DESC` when true.
    pub descending: bool,
}

/// `SELECT * FROM table WHERE filter ORDER BY order LIMIT limit OFFSET offset`.
#[derive(Debug, Clone, PartialEq)]
pub struct SelectQuery {
    /// The table read.
    pub table: &'static TableDef,
    /// Optional filter.
    pub filter: Option<Expr>,
    /// Sort order as given; see [`SelectQuery::total_order`].
    pub order: Vec<OrderTerm>,
    /// Maximum number of rows.
    pub limit: Option<u64>,
    /// Rows skipped before the first returned.
    pub offset: u64,
}

impl SelectQuery {
    /// All rows of `table`.
    pub fn all(table: &'static TableDef) -> Self {
        SelectQuery { table, filter: None, order: Vec::new(), limit: None, offset: 0 }
    }

    /// The row of `table` whose id is `id` (none or one).
    pub fn by_id(table: &'static TableDef, id: &str) -> Self {
        SelectQuery {
            filter: Some(Expr::Cmp { column: table.primary_key, op: CmpOp::Eq, value: Value::Text(id.to_owned()) }),
            ..SelectQuery::all(table)
        }
    }

    /// The order actually applied: the given terms, then the primary key
    /// ascending unless already present, so every result order is total and
    /// every backend returns ties in the same order.
    pub fn total_order(&self) -> Vec<OrderTerm> {
        let mut order = self.order.clone();
        let pk = self.table.primary_key;
        if !order.iter().any(|t| t.column == pk) {
            order.push(OrderTerm { column: pk, descending: false });
        }
        order
    }

    /// Checks column positions against the table.
    pub fn validate(&self) -> Result<(), QueryError> {
        let mut cols: Vec<usize> = self.order.iter().map(|t| t.column).collect();
        if let Some(f) = &self.filter {
            f.columns(&mut cols);
        }
        for c in cols {
            column(self.table, c)?;
        }
        validate_sub_selects(self.filter.as_ref())
    }
}

/// Checks the inner selects of a filter: columns exist, no nesting.
fn validate_sub_selects(filter: Option<&Expr>) -> Result<(), QueryError> {
    let mut subs = Vec::new();
    if let Some(f) = filter {
        f.sub_selects(&mut subs);
    }
    for sub in subs {
        column(sub.table, sub.out)?;
        if let Some(inner) = &sub.filter {
            if inner.has_sub_select() {
                return Err(QueryError::NestedSubSelect { table: sub.table.name });
            }
            let mut cols = Vec::new();
            inner.columns(&mut cols);
            for c in cols {
                column(sub.table, c)?;
            }
        }
    }
    Ok(())
}

/// What an insert does when the primary key already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnConflict {
    /// Fail with a constraint error.
    Fail,
    /// Update the given non-key columns of the existing row (upsert).
    Update,
}

/// `INSERT INTO table (columns) VALUES (row), ...`.
#[derive(Debug, Clone, PartialEq)]
pub struct InsertQuery {
    /// The table written.
    pub table: &'static TableDef,
    /// Positions of the columns given; omitted columns take their default or NULL.
    pub columns: Vec<usize>,
    /// One entry per row, each as wide as `columns`.
    pub rows: Vec<Vec<Value>>,
    /// Conflict behaviour.
    pub on_conflict: OnConflict,
}

/// `UPDATE table SET assignments WHERE filter`.
#[derive(Debug, Clone, PartialEq)]
pub struct UpdateQuery {
    /// The table written.
    pub table: &'static TableDef,
    /// `(column position, new value)` pairs.
    pub set: Vec<(usize, Value)>,
    /// Optional filter; no filter updates every row.
    pub filter: Option<Expr>,
}

/// `DELETE FROM table WHERE filter`.
#[derive(Debug, Clone, PartialEq)]
pub struct DeleteQuery {
    /// The table written.
    pub table: &'static TableDef,
    /// Optional filter; no filter deletes every row.
    pub filter: Option<Expr>,
}

/// Any write.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteQuery {
    /// Insert or upsert.
    Insert(InsertQuery),
    /// Update.
    Update(UpdateQuery),
    /// Delete.
    Delete(DeleteQuery),
}

impl WriteQuery {
    /// The table written.
    pub fn table(&self) -> &'static TableDef {
        match self {
            WriteQuery::Insert(q) => q.table,
            WriteQuery::Update(q) => q.table,
            WriteQuery::Delete(q) => q.table,
        }
    }

    /// Checks the write against its table and normalises values (integers
    /// into REAL columns become reals, as STRICT SQLite tables store them).
    /// Every executor calls this first, so all of them reject the same writes.
    pub fn validate(&mut self) -> Result<(), QueryError> {
        match self {
            WriteQuery::Insert(q) => validate_insert(q),
            WriteQuery::Update(q) => {
                let table = q.table;
                let mut seen = Vec::with_capacity(q.set.len());
                for (c, v) in &mut q.set {
                    let def = column(table, *c)?;
                    if *c == table.primary_key {
                        return Err(QueryError::PrimaryKeyUpdate { table: table.name, column: def.name });
                    }
                    if seen.contains(c) {
                        return Err(QueryError::DuplicateColumn { table: table.name, column: def.name });
                    }
                    seen.push(*c);
                    check_value(table, def, v)?;
                }
                validate_filter(table, q.filter.as_ref())
            }
            WriteQuery::Delete(q) => validate_filter(q.table, q.filter.as_ref()),
        }
    }
}

fn validate_insert(q: &mut InsertQuery) -> Result<(), QueryError> {
    let table = q.table;
    if q.rows.is_empty() || q.rows.iter().any(|r| r.len() != q.columns.len()) {
        return Err(QueryError::MalformedInsert { table: table.name });
    }
    for (i, c) in q.columns.iter().enumerate() {
        let def = column(table, *c)?;
        if q.columns[..i].contains(c) {
            return Err(QueryError::DuplicateColumn { table: table.name, column: def.name });
        }
    }
    for (i, def) in table.columns.iter().enumerate() {
        if !def.has_implicit_value() && !q.columns.contains(&i) {
            return Err(QueryError::MissingColumn { table: table.name, column: def.name });
        }
    }
    for row in &mut q.rows {
        for (c, v) in q.columns.iter().zip(row.iter_mut()) {
            check_value(table, &table.columns[*c], v)?;
        }
    }
    Ok(())
}

fn validate_filter(table: &'static TableDef, filter: Option<&Expr>) -> Result<(), QueryError> {
    let mut cols = Vec::new();
    if let Some(f) = filter {
        f.columns(&mut cols);
    }
    cols.into_iter().try_for_each(|c| column(table, c).map(|_| ()))?;
    validate_sub_selects(filter)
}

fn column(table: &'static TableDef, index: usize) -> Result<&'static ColumnDef, QueryError> {
    table.columns.get(index).ok_or(QueryError::UnknownColumn { table: table.name, index })
}

/// Checks one value against its column, coercing integer -> real for REAL columns.
pub fn check_value(table: &'static TableDef, def: &ColumnDef, value: &mut Value) -> Result<(), QueryError> {
    let expected = def.kind.sql_type();
    if matches!(value, Value::Real(r) if r.is_nan()) {
        // SQLite binds NaN as NULL; do the same here so every backend agrees.
        *value = Value::Null;
    }
    let ok = match (def.kind, &*value) {
        (_, Value::Null) => {
            return if def.nullable {
                Ok(())
            } else {
                Err(QueryError::NullValue { table: table.name, column: def.name })
            };
        }
        (ColumnKind::Real, Value::Integer(i)) => {
            *value = Value::Real(*i as f64);
            true
        }
        (ColumnKind::Real, Value::Real(_)) => true,
        (ColumnKind::Integer | ColumnKind::Bool, Value::Integer(_)) => true,
        (ColumnKind::Text | ColumnKind::Json, Value::Text(_)) => true,
        (ColumnKind::Blob, Value::Blob(_)) => true,
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(QueryError::WrongType { table: table.name, column: def.name, expected, found: value.type_name() })
    }
}
