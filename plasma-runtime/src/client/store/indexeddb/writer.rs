//! Batched write transactions. Each write is *issued* at once, in call
//! order: it joins the transaction opened by an earlier write if that one is
//! still active (same task: the browser commits it when the task ends), or
//! opens a new one. [`Writer::flush`] waits for the `complete` event of every
//! transaction opened so far, so it resolves only once their writes are
//! durable. A transaction that aborts fails that flush and every later write
//! and flush: the store can no longer vouch for what it holds.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Array, Promise};
use wasm_bindgen::JsValue;
use web_sys::{IdbDatabase, IdbTransaction, IdbTransactionMode};

use super::error::IdbError;
use super::layout::ALL;
use super::request::{committed, wait_committed};
use crate::client::store::StoreError;

/// Issues writes into batched transactions and waits for their commits.
#[derive(Debug)]
pub(super) struct Writer {
    db: IdbDatabase,
    name: String,
    /// The transaction later writes join while it is active.
    current: RefCell<Option<IdbTransaction>>,
    /// Completion of every transaction not yet seen to commit, oldest
    /// first, numbered (so concurrent flushes each wait for all of them).
    outstanding: RefCell<Vec<(u64, Promise)>>,
    /// Number of the next transaction.
    next: std::cell::Cell<u64>,
    /// The first failure; sticky. Shared with callbacks that write after a
    /// read inside a transaction, so their error is the one reported.
    failed: Rc<RefCell<Option<StoreError>>>,
}

impl Writer {
    pub(super) fn new(db: IdbDatabase, name: String) -> Self {
        Writer {
            db,
            name,
            current: RefCell::new(None),
            outstanding: RefCell::new(Vec::new()),
            next: std::cell::Cell::new(0),
            failed: Rc::default(),
        }
    }

    /// Where a callback records why it aborted its transaction.
    pub(super) fn failure_slot(&self) -> Rc<RefCell<Option<StoreError>>> {
        Rc::clone(&self.failed)
    }

    /// The database written to.
    pub(super) fn db(&self) -> &IdbDatabase {
        &self.db
    }

    /// Issues `ops` (`what` names them in errors) into the current
    /// transaction, or a new one if it is no longer active. `ops` may be
    /// called twice: again on a new transaction if the first refused its
    /// first request as inactive (then it issued nothing).
    pub(super) fn write(
        &self,
        what: &str,
        ops: impl Fn(&IdbTransaction) -> Result<(), JsValue>,
    ) -> Result<(), StoreError> {
        self.write_in(what, false, ops)
    }

    /// Like [`write`](Self::write), but always in a new transaction (which
    /// later writes join). For writes that read first: IndexedDB runs
    /// overlapping read-write transactions one after the other, so what they
    /// read includes every earlier write.
    pub(super) fn write_alone(
        &self,
        what: &str,
        ops: impl Fn(&IdbTransaction) -> Result<(), JsValue>,
    ) -> Result<(), StoreError> {
        self.write_in(what, true, ops)
    }

    fn write_in(
        &self,
        what: &str,
        fresh: bool,
        ops: impl Fn(&IdbTransaction) -> Result<(), JsValue>,
    ) -> Result<(), StoreError> {
        if let Some(failed) = self.failed.borrow().as_ref() {
            return Err(failed.clone());
        }
        let context = || format!("{what} in database {}", self.name);
        let current = if fresh { None } else { self.current.borrow().clone() };
        if let Some(tx) = current {
            match ops(&tx) {
                Ok(()) => return Ok(()),
                Err(e) => {
                    let error = IdbError::from_js(context(), &e);
                    if !error.is_inactive() {
                        return Err(self.fail(&tx, error));
                    }
                }
            }
        }
        let tx = self.begin().map_err(|e| self.sticky(IdbError::from_js(context(), &e).into()))?;
        let number = self.next.get();
        self.next.set(number + 1);
        self.outstanding.borrow_mut().push((number, committed(&tx)));
        *self.current.borrow_mut() = Some(tx.clone());
        ops(&tx).map_err(|e| self.fail(&tx, IdbError::from_js(context(), &e)))
    }

    fn begin(&self) -> Result<IdbTransaction, JsValue> {
        let names: Array = ALL.iter().map(|s| JsValue::from_str(s)).collect();
        self.db.transaction_with_str_sequence_and_mode(&names, IdbTransactionMode::Readwrite)
    }

    /// Aborts `tx` (so a half-issued write never commits) and fails the store.
    fn fail(&self, tx: &IdbTransaction, error: IdbError) -> StoreError {
        // Aborting a transaction that already finished throws; it then holds nothing to undo.
        let _ = tx.abort();
        self.sticky(error.into())
    }

    fn sticky(&self, error: StoreError) -> StoreError {
        self.failed.borrow_mut().get_or_insert(error).clone()
    }

    /// Completes once every transaction opened so far has committed.
    pub(super) async fn flush(&self) -> Result<(), StoreError> {
        // Later writes go to a new transaction. This one is not committed
        // explicitly: a write that reads first still has requests to issue
        // from its callbacks; it commits by itself once none is left.
        self.current.borrow_mut().take();
        let waiting: Vec<(u64, Promise)> = self.outstanding.borrow().clone();
        let context = format!("committing a write to database {}", self.name);
        for (number, done) in waiting {
            if let Err(e) = wait_committed(&context, done).await {
                return Err(self.sticky(e.into()));
            }
            self.outstanding.borrow_mut().retain(|(n, _)| *n > number);
        }
        match self.failed.borrow().as_ref() {
            Some(failed) => Err(failed.clone()),
            None => Ok(()),
        }
    }
}
