//! [`PushStorage`] over a [`BatchDb`] (Cloudflare D1, or its SQLite model):
//! a push attempt reads as it goes (bookkeeping with single statements, the
//! mutators through an [`OverlayTx`] over the database), buffers every write,
//! and commits them as one guarded batch. See ARCHITECTURE.md, "Server
//! backends without interactive transactions".

use crate::error::ExecError;
use crate::exec::Transaction;
use crate::exec::overlay::{Mark, OverlayBase, OverlayTx};
use crate::protocol::ErrorCode;
use crate::query::tree::{SelectQuery, WriteQuery};
use crate::server::error::ServerError;
use crate::server::statements::{self, CLIENT_KIND};
use crate::server::storage::batch::{BatchDb, CommitError, DbError, Statement, commit_guarded, read_version};
use crate::server::storage::{PushStorage, PushTx};
use crate::sql::render;
use crate::table::Row;
use crate::value::Value;

/// A batch database as push storage.
#[derive(Debug)]
pub struct BatchStorage<B> {
    db: B,
}

impl<B: BatchDb> BatchStorage<B> {
    /// Push storage on `db` (its schema applied, with the guard's tables).
    pub fn new(db: B) -> Self {
        BatchStorage { db }
    }

    /// The database.
    pub fn db(&self) -> &B {
        &self.db
    }
}

/// The database as what the overlay reads from.
pub struct DbBase<'a, B> {
    db: &'a B,
}

impl<B: BatchDb> OverlayBase for DbBase<'_, B> {
    async fn select(&mut self, query: &SelectQuery) -> Result<Vec<Row>, ExecError> {
        query.validate()?;
        let rendered = render::select(query);
        let rows = self.db.query(&Statement::new(rendered.sql, rendered.params)).await.map_err(exec_error)?;
        Ok(rows.into_iter().map(Row).collect())
    }
}

fn exec_error(e: DbError) -> ExecError {
    if e.transient { ExecError::Busy { message: e.message, source: None } } else { ExecError::storage(e.message) }
}

/// One push attempt on a batch database.
pub struct BatchPushTx<'a, B> {
    db: &'a B,
    /// The write version read before the attempt's first read.
    seen: i64,
    overlay: OverlayTx<DbBase<'a, B>>,
    /// Bookkeeping writes, in order; committed after the row writes, so an
    /// LMID is never logged before the changes it confirms.
    statements: Vec<Statement>,
    savepoint: Option<(Mark, usize)>,
}

impl<B: BatchDb> BatchPushTx<'_, B> {
    async fn query(&self, sql: String, params: Vec<Value>) -> Result<Vec<Vec<Value>>, ServerError> {
        Ok(self.db.query(&Statement::new(sql, params)).await?)
    }

    fn then(&mut self, sql: String, params: Vec<Value>) {
        self.statements.push(Statement::new(sql, params));
    }
}

fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

fn id_value(id: u64) -> Result<Value, ServerError> {
    i64::try_from(id)
        .map(Value::Integer)
        .map_err(|_| ServerError::new(ErrorCode::BadRequest, format!("mutation id {id} is out of range")))
}

impl<B: BatchDb> Transaction for BatchPushTx<'_, B> {
    async fn select(&mut self, query: &SelectQuery) -> Result<Vec<Row>, ExecError> {
        self.overlay.select(query).await
    }

    async fn write(&mut self, query: WriteQuery) -> Result<u64, ExecError> {
        self.overlay.write(query).await
    }
}

impl<B: BatchDb> PushTx for BatchPushTx<'_, B> {
    async fn group_owner(&mut self, group: &str) -> Result<Option<String>, ServerError> {
        let rows = self.query(statements::group_owner(), vec![text(group)]).await?;
        Ok(rows.into_iter().next().and_then(|r| r.into_iter().next()).and_then(|v| match v {
            Value::Text(owner) => Some(owner),
            _ => None,
        }))
    }

    async fn create_group(&mut self, group: &str, user_id: &str, now_ms: i64) -> Result<(), ServerError> {
        let params = vec![text(group), text(user_id), Value::Integer(now_ms), Value::Integer(now_ms)];
        self.then(statements::create_group(), params);
        Ok(())
    }

    async fn touch_group(&mut self, group: &str, now_ms: i64) -> Result<(), ServerError> {
        self.then(statements::touch_group(), vec![Value::Integer(now_ms), text(group)]);
        Ok(())
    }

    async fn client(&mut self, client: &str) -> Result<Option<(String, u64)>, ServerError> {
        let rows = self.query(statements::client(), vec![text(client)]).await?;
        match rows.into_iter().next().as_deref() {
            None => Ok(None),
            Some([Value::Text(group), Value::Integer(lmid)]) => Ok(Some((group.clone(), (*lmid).max(0) as u64))),
            Some(other) => Err(ServerError::new(ErrorCode::Internal, format!("a client row is malformed: {other:?}"))),
        }
    }

    async fn client_forgotten(&mut self, client: &str) -> Result<bool, ServerError> {
        let rows = self.query(statements::tombstone(), vec![text(CLIENT_KIND), text(client)]).await?;
        Ok(matches!(rows.first().and_then(|r| r.first()), Some(Value::Integer(at)) if *at > 0))
    }

    async fn create_client(&mut self, client: &str, group: &str, now_ms: i64) -> Result<(), ServerError> {
        self.then(statements::create_client(), vec![text(client), text(group), Value::Integer(now_ms)]);
        Ok(())
    }

    async fn drop_errors_through(&mut self, group: &str, client: &str, through: u64) -> Result<(), ServerError> {
        let through = Value::Integer(i64::try_from(through).unwrap_or(i64::MAX));
        self.then(statements::drop_errors_through(), vec![text(client), through, text(group)]);
        Ok(())
    }

    async fn record_error(&mut self, client: &str, id: u64, message: &str) -> Result<(), ServerError> {
        self.then(statements::log_error(), vec![text(client)]);
        self.then(statements::record_error_at_last_log(), vec![text(client), id_value(id)?, text(message)]);
        Ok(())
    }

    async fn set_lmid(&mut self, client: &str, lmid: u64, now_ms: i64) -> Result<(), ServerError> {
        self.then(statements::set_lmid(), vec![id_value(lmid)?, Value::Integer(now_ms), text(client)]);
        self.then(statements::log_lmid(), vec![text(client)]);
        Ok(())
    }

    async fn savepoint(&mut self) -> Result<(), ServerError> {
        self.savepoint = Some((self.overlay.savepoint(), self.statements.len()));
        Ok(())
    }

    async fn release_savepoint(&mut self) -> Result<(), ServerError> {
        self.savepoint = None;
        Ok(())
    }

    async fn rollback_to_savepoint(&mut self) -> Result<(), ServerError> {
        if let Some((mark, len)) = self.savepoint.take() {
            self.overlay.rollback_to(mark);
            self.statements.truncate(len);
        }
        Ok(())
    }

    async fn changed_user_rows(&mut self) -> Result<bool, ServerError> {
        Ok(self.overlay.has_changes())
    }
}

impl<B: BatchDb> PushStorage for BatchStorage<B> {
    type Tx<'a>
        = BatchPushTx<'a, B>
    where
        B: 'a;

    /// Conflicting attempts are retried: each retry reads a newer state.
    const RETRIES: usize = 8;

    async fn begin_push(&self) -> Result<BatchPushTx<'_, B>, ServerError> {
        let seen = read_version(&self.db).await?;
        Ok(BatchPushTx {
            db: &self.db,
            seen,
            overlay: OverlayTx::new(DbBase { db: &self.db }),
            statements: Vec::new(),
            savepoint: None,
        })
    }

    async fn commit_push<'a>(tx: BatchPushTx<'a, B>) -> Result<(), ServerError>
    where
        Self: 'a,
    {
        let BatchPushTx { db, seen, overlay, statements, .. } = tx;
        let mut batch: Vec<Statement> = overlay
            .into_changes()
            .into_iter()
            .map(|change| {
                let rendered = render::write(&change.into_write());
                Statement::new(rendered.sql, rendered.params)
            })
            .collect();
        batch.extend(statements);
        match commit_guarded(db, seen, batch).await {
            Ok(()) => Ok(()),
            Err(CommitError::Conflict) => {
                Err(ServerError::new(ErrorCode::Busy, "another push committed meanwhile: retry the push"))
            }
            Err(CommitError::Failed(e)) => Err(e.into()),
        }
    }
}
