//! Batched write transactions. Each write is *issued* in call order: it
//! joins the transaction opened by an earlier write if that one is still
//! active (same task: the browser commits it when the task ends), or opens a
//! new one. [`Writer::flush`] waits for the `complete` event of every
//! transaction opened so far, so it resolves only once their writes are
//! durable. A transaction that aborts fails that flush and every later write
//! and flush: the store can no longer vouch for what it holds.
//!
//! Queued mutations are the hot path: an app may queue a thousand in one
//! task. Their puts are *deferred* ([`Writer::write_deferred`]) to a task of
//! their own (a zero-delay timer), issued together there, with the client's
//! meta put once per batch rather than once per mutation. Nothing is lost by
//! waiting: any other write, `flush` (which every push awaits first) and
//! dropping the store issue the deferred puts before anything else, so call
//! order and the durability promise are unchanged. An IndexedDB error in a
//! deferred put surfaces at the next write or flush (as a commit's does).

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use js_sys::{Array, Promise};
use wasm_bindgen::JsValue;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen_futures::JsFuture;
use web_sys::{IdbDatabase, IdbTransaction, IdbTransactionMode};

use super::error::IdbError;
use super::layout::ALL;
use super::request::{committed, wait_committed};
use crate::client::store::StoreError;

#[wasm_bindgen]
extern "C" {
    /// The global `setTimeout(handler, ms)` (pages and workers).
    #[wasm_bindgen(js_name = setTimeout, catch)]
    fn set_timeout(handler: &js_sys::Function, ms: i32) -> Result<JsValue, JsValue>;
}

/// Issues requests into a transaction.
type Op = Box<dyn Fn(&IdbTransaction) -> Result<(), JsValue>>;

/// A put waiting for its batch: blind (it reads nothing), so only the order
/// of puts to the same key matters, and only the last of those.
struct Deferred {
    what: &'static str,
    /// Puts with the same key replace each other in the queue.
    key: Option<String>,
    op: Op,
}

/// Issues writes into batched transactions and waits for their commits.
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
    /// Puts deferred to the next batch, in call order.
    deferred: RefCell<Vec<Deferred>>,
    /// A batch task is scheduled.
    scheduled: Cell<bool>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("name", &self.name)
            .field("deferred", &self.deferred.borrow().len())
            .finish_non_exhaustive()
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Issued now, they commit by themselves after the store is gone.
        self.issue_deferred();
    }
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
            deferred: RefCell::new(Vec::new()),
            scheduled: Cell::new(false),
        }
    }

    /// Queues a blind put for the next batch (see the module docs). `key`:
    /// a later put with the same key replaces this one.
    pub(super) fn write_deferred(
        self: &Rc<Self>,
        what: &'static str,
        key: Option<String>,
        op: impl Fn(&IdbTransaction) -> Result<(), JsValue> + 'static,
    ) -> Result<(), StoreError> {
        self.check()?;
        {
            let mut deferred = self.deferred.borrow_mut();
            if let Some(key) = &key {
                deferred.retain(|d| d.key.as_ref() != Some(key));
            }
            deferred.push(Deferred { what, key, op: Box::new(op) });
        }
        if !self.scheduled.replace(true) {
            let writer: Weak<Writer> = Rc::downgrade(self);
            let tick = Promise::new(&mut |resolve, _reject| {
                // Without a timer the batch still goes out with the next
                // write, flush or drop.
                let _ = set_timeout(&resolve, 0);
            });
            wasm_bindgen_futures::spawn_local(async move {
                let _ = JsFuture::from(tick).await;
                if let Some(writer) = writer.upgrade() {
                    writer.issue_deferred();
                }
            });
        }
        Ok(())
    }

    /// The sticky failure, if a write or commit failed.
    pub(super) fn check(&self) -> Result<(), StoreError> {
        match self.failed.borrow().as_ref() {
            Some(failed) => Err(failed.clone()),
            None => Ok(()),
        }
    }

    /// Issues every deferred put, in order (failures become the sticky error).
    fn issue_deferred(&self) {
        self.scheduled.set(false);
        let batch = std::mem::take(&mut *self.deferred.borrow_mut());
        for Deferred { what, op, .. } in batch {
            if self.write_in(what, false, op).is_err() {
                // Sticky: reported by the next write or flush.
                break;
            }
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
        self.issue_deferred_first();
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
        self.issue_deferred_first();
        self.write_in(what, true, ops)
    }

    fn issue_deferred_first(&self) {
        if !self.deferred.borrow().is_empty() {
            self.issue_deferred();
        }
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
        self.issue_deferred();
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
        self.check()
    }
}
