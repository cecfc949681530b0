//! Typed builders over the query tree. The type parameters carry the table and
//! column types, so a filter on another table's column or a wrongly typed value
//! fails to compile; the values built are plain [`tree`](super::tree) queries.

use std::marker::PhantomData;

use crate::column_type::{ColumnType, Comparable, IntoColumnValue, TextColumn};
use crate::error::ExecError;
use crate::exec::Transaction;
use crate::query::tree::{
    CmpOp, DeleteQuery, Expr, InsertQuery, OnConflict, OrderTerm, SelectQuery, SubSelect, UpdateQuery, WriteQuery,
};
use crate::schema::ColumnDef;
use crate::table::Table;
use crate::value::Value;

/// A typed handle on column `C` of table `T`, emitted by `#[plasma::table]` as
/// an associated constant named like the field (`Todo::DONE`).
pub struct Column<T, C> {
    index: usize,
    _types: PhantomData<fn() -> (T, C)>,
}

impl<T, C> Clone for Column<T, C> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T, C> Copy for Column<T, C> {}

impl<T: Table, C: ColumnType> std::fmt::Debug for Column<T, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", T::DEF.name, self.def().name)
    }
}

impl<T, C> Column<T, C> {
    /// The handle for the column at `index` of `T`'s definition. Used by generated code.
    #[doc(hidden)]
    pub const fn new(index: usize) -> Self {
        Column { index, _types: PhantomData }
    }

    /// Position of the column in its table.
    pub const fn index(self) -> usize {
        self.index
    }
}

impl<T: Table, C: ColumnType> Column<T, C> {
    /// The column's metadata.
    pub fn def(self) -> &'static ColumnDef {
        &T::DEF.columns[self.index]
    }

    fn cmp(self, op: CmpOp, value: Value) -> Filter<T> {
        Filter::new(Expr::Cmp { column: self.index, op, value })
    }

    /// `column = value`.
    pub fn eq(self, value: impl IntoColumnValue<C>) -> Filter<T> {
        self.cmp(CmpOp::Eq, value.into_column_value())
    }
    /// `column <> value`.
    pub fn ne(self, value: impl IntoColumnValue<C>) -> Filter<T> {
        self.cmp(CmpOp::Ne, value.into_column_value())
    }
    /// `column < value`.
    pub fn lt(self, value: impl IntoColumnValue<C>) -> Filter<T> {
        self.cmp(CmpOp::Lt, value.into_column_value())
    }
    /// `column <= value`.
    pub fn le(self, value: impl IntoColumnValue<C>) -> Filter<T> {
        self.cmp(CmpOp::Le, value.into_column_value())
    }
    /// `column > value`.
    pub fn gt(self, value: impl IntoColumnValue<C>) -> Filter<T> {
        self.cmp(CmpOp::Gt, value.into_column_value())
    }
    /// `column >= value`.
    pub fn ge(self, value: impl IntoColumnValue<C>) -> Filter<T> {
        self.cmp(CmpOp::Ge, value.into_column_value())
    }
    /// `column IN (values...)`; an empty list matches nothing.
    pub fn is_in<V: IntoColumnValue<C>>(self, values: impl IntoIterator<Item = V>) -> Filter<T> {
        let values = values.into_iter().map(IntoColumnValue::into_column_value).collect();
        Filter::new(Expr::In { column: self.index, values })
    }
    /// `column IN (SELECT out FROM U WHERE filter)`: the column's value is
    /// among `out`'s values in the rows of another table `U` matching
    /// `filter` (for example the lists a user belongs to). One level: the
    /// inner filter may not read a third table (a [`QueryError`](crate::QueryError)
    /// when run). Live queries cannot follow such a filter; scope rules and
    /// fetches can.
    pub fn in_select<U: Table, D: ColumnType>(self, out: Column<U, D>, filter: Filter<U>) -> Filter<T>
    where
        C: Comparable<D>,
    {
        Filter::new(Expr::InSelect {
            column: self.index,
            sub: Box::new(SubSelect { table: U::DEF, out: out.index, filter: Some(filter.expr) }),
        })
    }
    /// `column IS NULL`.
    pub fn is_null(self) -> Filter<T> {
        Filter::new(Expr::IsNull { column: self.index })
    }
    /// `column IS NOT NULL`.
    pub fn is_not_null(self) -> Filter<T> {
        !self.is_null()
    }
    /// Ascending order on this column (NULLs first, as in SQLite).
    pub fn asc(self) -> Order<T> {
        Order { term: OrderTerm { column: self.index, descending: false }, _table: PhantomData }
    }
    /// Descending order on this column (NULLs last).
    pub fn desc(self) -> Order<T> {
        Order { term: OrderTerm { column: self.index, descending: true }, _table: PhantomData }
    }
}

impl<T: Table, C: TextColumn> Column<T, C> {
    /// SQL `LIKE`: `%` matches any run, `_` one character, `\` escapes; ASCII
    /// letters match case-insensitively (SQLite's default).
    pub fn like(self, pattern: impl Into<String>) -> Filter<T> {
        Filter::new(Expr::Like { column: self.index, pattern: pattern.into() })
    }
    /// The text begins with `prefix` (case-sensitive).
    pub fn starts_with(self, prefix: impl Into<String>) -> Filter<T> {
        Filter::new(Expr::StartsWith { column: self.index, prefix: prefix.into() })
    }
}

/// A filter on rows of `T`. Combine with [`and`](Filter::and), [`or`](Filter::or),
/// `!`, `&` and `|`.
pub struct Filter<T> {
    expr: Expr,
    _table: PhantomData<fn() -> T>,
}

impl<T> Clone for Filter<T> {
    fn clone(&self) -> Self {
        Filter::new(self.expr.clone())
    }
}

impl<T> std::fmt::Debug for Filter<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.expr.fmt(f)
    }
}

impl<T> Filter<T> {
    fn new(expr: Expr) -> Self {
        Filter { expr, _table: PhantomData }
    }
    /// Both hold.
    pub fn and(self, other: Filter<T>) -> Filter<T> {
        Filter::new(match self.expr {
            Expr::And(mut all) => {
                all.push(other.expr);
                Expr::And(all)
            }
            first => Expr::And(vec![first, other.expr]),
        })
    }
    /// Either holds.
    pub fn or(self, other: Filter<T>) -> Filter<T> {
        Filter::new(match self.expr {
            Expr::Or(mut any) => {
                any.push(other.expr);
                Expr::Or(any)
            }
            first => Expr::Or(vec![first, other.expr]),
        })
    }
    /// The tree node.
    pub fn into_expr(self) -> Expr {
        self.expr
    }
}

impl<T> std::ops::Not for Filter<T> {
    type Output = Filter<T>;
    fn not(self) -> Filter<T> {
        Filter::new(Expr::Not(Box::new(self.expr)))
    }
}
impl<T> std::ops::BitAnd for Filter<T> {
    type Output = Filter<T>;
    fn bitand(self, rhs: Filter<T>) -> Filter<T> {
        self.and(rhs)
    }
}
impl<T> std::ops::BitOr for Filter<T> {
    type Output = Filter<T>;
    fn bitor(self, rhs: Filter<T>) -> Filter<T> {
        self.or(rhs)
    }
}

/// Negation as a function, for those who prefer `not(f)` to `!f`.
pub fn not<T>(filter: Filter<T>) -> Filter<T> {
    !filter
}

/// A sort term on a column of `T`.
pub struct Order<T> {
    term: OrderTerm,
    _table: PhantomData<fn() -> T>,
}

fn and_into(slot: &mut Option<Expr>, expr: Expr) {
    *slot = Some(match slot.take() {
        None => expr,
        Some(Expr::And(mut all)) => {
            all.push(expr);
            Expr::And(all)
        }
        Some(prev) => Expr::And(vec![prev, expr]),
    });
}

/// A typed `SELECT` on `T`: `Todo::select().filter(..).order_by(..).limit(..)`.
#[must_use = "a `Select` does nothing until `.fetch(tx)` or `.first(tx)` runs it"]
pub struct Select<T> {
    query: SelectQuery,
    _table: PhantomData<fn() -> T>,
}

impl<T> Clone for Select<T> {
    fn clone(&self) -> Self {
        Select { query: self.query.clone(), _table: PhantomData }
    }
}

impl<T> std::fmt::Debug for Select<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.query.fmt(f)
    }
}

impl<T: Table> Default for Select<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Table> Select<T> {
    /// Every row of `T`.
    pub fn new() -> Self {
        Select { query: SelectQuery::all(T::DEF), _table: PhantomData }
    }
    /// Keeps rows matching `filter`; several calls combine with AND.
    pub fn filter(mut self, filter: Filter<T>) -> Self {
        and_into(&mut self.query.filter, filter.expr);
        self
    }
    /// Appends a sort term; the primary key always breaks remaining ties.
    pub fn order_by(mut self, order: Order<T>) -> Self {
        self.query.order.push(order.term);
        self
    }
    /// At most `n` rows.
    pub fn limit(mut self, n: u64) -> Self {
        self.query.limit = Some(n);
        self
    }
    /// Skips the first `n` rows.
    pub fn offset(mut self, n: u64) -> Self {
        self.query.offset = n;
        self
    }
    /// The dialect-free query.
    pub fn query(&self) -> &SelectQuery {
        &self.query
    }
    /// Runs the query and decodes the rows.
    pub async fn fetch(&self, tx: &mut impl Transaction) -> Result<Vec<T>, ExecError> {
        let rows = tx.select(&self.query).await?;
        rows.into_iter().map(|r| T::from_row(r).map_err(ExecError::from)).collect()
    }
    /// The first row in order, if any.
    pub async fn first(self, tx: &mut impl Transaction) -> Result<Option<T>, ExecError> {
        let mut rows = self.limit(1).fetch(tx).await?;
        Ok(rows.pop())
    }
}

/// A typed `INSERT` (or upsert) into `T`. Columns that are nullable or have a
/// default may be omitted.
#[must_use = "an `Insert` does nothing until `.run(tx)` runs it"]
pub struct Insert<T> {
    query: InsertQuery,
    _table: PhantomData<fn() -> T>,
}

impl<T: Table> Insert<T> {
    /// An insert that fails on a duplicate primary key.
    pub fn new() -> Self {
        Self::with(OnConflict::Fail)
    }
    /// An insert that updates the given columns of an existing row with the same key.
    pub fn upsert() -> Self {
        Self::with(OnConflict::Update)
    }
    fn with(on_conflict: OnConflict) -> Self {
        Insert {
            query: InsertQuery { table: T::DEF, columns: Vec::new(), rows: vec![Vec::new()], on_conflict },
            _table: PhantomData,
        }
    }
    /// Sets one column of the row being inserted.
    pub fn value<C: ColumnType>(mut self, column: Column<T, C>, value: impl IntoColumnValue<C>) -> Self {
        let value = value.into_column_value();
        match self.query.columns.iter().position(|c| *c == column.index) {
            Some(i) => self.query.rows[0][i] = value,
            None => {
                self.query.columns.push(column.index);
                self.query.rows[0].push(value);
            }
        }
        self
    }
    /// Sets every column from a whole row struct.
    pub fn row(mut self, row: &T) -> Self {
        self.query.columns = (0..T::DEF.columns.len()).collect();
        self.query.rows = vec![row.to_row().0];
        self
    }
    /// The dialect-free query.
    pub fn into_query(self) -> WriteQuery {
        WriteQuery::Insert(self.query)
    }
    /// Runs the insert; returns the number of rows written.
    pub async fn run(self, tx: &mut impl Transaction) -> Result<u64, ExecError> {
        tx.write(self.into_query()).await
    }
    /// Runs the insert without the server's read-scope check (see
    /// [`Transaction::write_outside_scope`]): for rows the writer may
    /// write but not (yet) read.
    pub async fn run_outside_scope(self, tx: &mut impl Transaction) -> Result<u64, ExecError> {
        tx.write_outside_scope(self.into_query()).await
    }
}

impl<T: Table> Default for Insert<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// A typed `UPDATE` of `T`.
#[must_use = "an `Update` does nothing until `.run(tx)` runs it"]
pub struct Update<T> {
    query: UpdateQuery,
    _table: PhantomData<fn() -> T>,
}

impl<T: Table> Default for Update<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Table> Update<T> {
    /// An update of every row, narrowed with [`filter`](Update::filter).
    pub fn new() -> Self {
        Update { query: UpdateQuery { table: T::DEF, set: Vec::new(), filter: None }, _table: PhantomData }
    }
    /// Assigns a column.
    pub fn set<C: ColumnType>(mut self, column: Column<T, C>, value: impl IntoColumnValue<C>) -> Self {
        let value = value.into_column_value();
        match self.query.set.iter_mut().find(|(c, _)| *c == column.index) {
            Some(slot) => slot.1 = value,
            None => self.query.set.push((column.index, value)),
        }
        self
    }
    /// Only rows matching `filter`; several calls combine with AND.
    pub fn filter(mut self, filter: Filter<T>) -> Self {
        and_into(&mut self.query.filter, filter.expr);
        self
    }
    /// The dialect-free query.
    pub fn into_query(self) -> WriteQuery {
        WriteQuery::Update(self.query)
    }
    /// Runs the update; returns the number of rows changed.
    pub async fn run(self, tx: &mut impl Transaction) -> Result<u64, ExecError> {
        tx.write(self.into_query()).await
    }
    /// Runs the update without the server's read-scope check (see
    /// [`Transaction::write_outside_scope`]).
    pub async fn run_outside_scope(self, tx: &mut impl Transaction) -> Result<u64, ExecError> {
        tx.write_outside_scope(self.into_query()).await
    }
}

/// A typed `DELETE` from `T`.
#[must_use = "a `Delete` does nothing until `.run(tx)` runs it"]
pub struct Delete<T> {
    query: DeleteQuery,
    _table: PhantomData<fn() -> T>,
}

impl<T: Table> Default for Delete<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Table> Delete<T> {
    /// A delete of every row, narrowed with [`filter`](Delete::filter).
    pub fn new() -> Self {
        Delete { query: DeleteQuery { table: T::DEF, filter: None }, _table: PhantomData }
    }
    /// Only rows matching `filter`; several calls combine with AND.
    pub fn filter(mut self, filter: Filter<T>) -> Self {
        and_into(&mut self.query.filter, filter.expr);
        self
    }
    /// The dialect-free query.
    pub fn into_query(self) -> WriteQuery {
        WriteQuery::Delete(self.query)
    }
    /// Runs the delete; returns the number of rows removed.
    pub async fn run(self, tx: &mut impl Transaction) -> Result<u64, ExecError> {
        tx.write(self.into_query()).await
    }
    /// Runs the delete without the server's read-scope check (see
    /// [`Transaction::write_outside_scope`]).
    pub async fn run_outside_scope(self, tx: &mut impl Transaction) -> Result<u64, ExecError> {
        tx.write_outside_scope(self.into_query()).await
    }
}
