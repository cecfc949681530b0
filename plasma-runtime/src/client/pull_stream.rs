//! A pull's pages as they arrive.
//!
//! A reset that spans several pages (an initial sync) is decoded page by page
//! as it arrives, and each page's rows go to the store's stage on a second
//! thread while later pages are still being fetched: the store's writes
//! overlap the network and the decoding, and committing the pull is then a
//! rename. Anything else is kept raw and decoded once complete (on two
//! threads natively, for a large pull). Nothing is visible before the commit
//! either way: a stage is invisible until `commit_pull` puts it in place.

use std::marker::PhantomData;
use std::sync::Arc;

use crate::client::core::{ClientCore, DecodedPage};
use crate::client::store::PageChanges;
use crate::client::error::ClientError;
use crate::client::store::{PullCommit, Store, StoreError};
use crate::mutator::Registry;
use crate::protocol::{PatchOp, PullResponse};
use crate::schema::Schema;

/// The pages of one pull, collected as they arrive.
pub(crate) struct PullPages<R: Registry> {
    schema: &'static Schema,
    store: Arc<dyn Store>,
    raw: Vec<PullResponse>,
    decoded: Vec<DecodedPage>,
    stage: Option<Stage>,
    _registry: PhantomData<fn() -> R>,
}

impl<R: Registry> PullPages<R> {
    pub(crate) fn new(schema: &'static Schema, store: Arc<dyn Store>) -> Self {
        PullPages { schema, store, raw: Vec::new(), decoded: Vec::new(), stage: None, _registry: PhantomData }
    }

    /// Takes the next page. The first decides: a reset with more pages to
    /// come is streamed into the store's stage, if the store stages.
    pub(crate) fn push(&mut self, page: PullResponse) -> Result<(), ClientError> {
        let first = self.raw.is_empty() && self.decoded.is_empty();
        if first
            && page.more
            && matches!(page.patch.first(), Some(PatchOp::Clear))
            && self.store.begin_stage(self.schema)?
        {
            self.stage = Some(Stage::start(Arc::clone(&self.store), self.schema));
        }
        match &mut self.stage {
            Some(stage) => {
                let decoded = DecodedPage { staged: true, ..ClientCore::<R>::decode_page(self.schema, &page)? };
                drop(page);
                stage.write(Arc::clone(&decoded.changes));
                self.decoded.push(decoded);
            }
            None => self.raw.push(page),
        }
        Ok(())
    }

    /// Every page decoded, and how to persist them: through the stage (once
    /// it has written everything) or whole.
    pub(crate) fn finish(self) -> Result<(Vec<DecodedPage>, Persist), ClientError> {
        let persist = Persist { store: self.store, stage: self.stage };
        if persist.stage.is_some() {
            return Ok((self.decoded, persist));
        }
        Ok((ClientCore::<R>::decode_pages(self.schema, self.raw)?, persist))
    }
}

/// Persists a pull's commit: a staged one waits for its stage, then swaps it in.
pub(crate) struct Persist {
    store: Arc<dyn Store>,
    stage: Option<Stage>,
}

impl Persist {
    pub(crate) fn commit(self, commit: PullCommit<'_>) -> Result<(), StoreError> {
        match self.stage {
            Some(stage) => {
                stage.wait()?;
                self.store.commit_pull(commit)
            }
            None => self.store.commit_pull(commit),
        }
    }
}

/// Writes pages to the store's stage in order, on a thread of its own.
#[cfg(not(target_arch = "wasm32"))]
struct Stage {
    pages: Option<std::sync::mpsc::Sender<PageChanges>>,
    writer: Option<std::thread::JoinHandle<Result<(), StoreError>>>,
}

#[cfg(not(target_arch = "wasm32"))]
impl Stage {
    fn start(store: Arc<dyn Store>, schema: &'static Schema) -> Self {
        let (pages, receiver) = std::sync::mpsc::channel::<PageChanges>();
        let writer = std::thread::Builder::new().name("plasma-stage".into()).spawn(move || {
            // The first failure is kept; the pages after it are only drained.
            let mut result = Ok(());
            for changes in receiver {
                if result.is_ok() {
                    result = store.stage(schema, &changes);
                }
            }
            result
        });
        match writer {
            Ok(writer) => Stage { pages: Some(pages), writer: Some(writer) },
            // No thread: report it when the commit waits, and the pull is retried.
            Err(_) => Stage { pages: None, writer: None },
        }
    }

    fn write(&mut self, changes: PageChanges) {
        if let Some(pages) = &self.pages
            && pages.send(changes).is_err()
        {
            // The writer is gone; `wait` reports why.
            self.pages = None;
        }
    }

    fn wait(mut self) -> Result<(), StoreError> {
        self.pages = None;
        match self.writer.take().map(std::thread::JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(StoreError::io("the stage writer panicked")),
            None => Err(StoreError::io("could not start the stage writer")),
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl Drop for Stage {
    /// A pull given up (failed, stale) still waits for its writer, so the
    /// next pull's stage never receives this one's rows.
    fn drop(&mut self) {
        self.pages = None;
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

/// Writes pages to the store's stage in order, as they come (no threads).
#[cfg(target_arch = "wasm32")]
struct Stage {
    store: Arc<dyn Store>,
    schema: &'static Schema,
    result: Result<(), StoreError>,
}

#[cfg(target_arch = "wasm32")]
impl Stage {
    fn start(store: Arc<dyn Store>, schema: &'static Schema) -> Self {
        Stage { store, schema, result: Ok(()) }
    }

    fn write(&mut self, changes: PageChanges) {
        if self.result.is_ok() {
            self.result = self.store.stage(self.schema, &changes);
        }
    }

    fn wait(self) -> Result<(), StoreError> {
        self.result
    }
}
