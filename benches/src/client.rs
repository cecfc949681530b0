//! Client benchmark setup: a transport that never answers (to time local work
//! alone) and one that serves a pre-encoded paged pull from memory (to time
//! the client's side of an initial sync, JSON parsing included).

use std::sync::Arc;

use plasma::Table;
use plasma::client::{BoxFuture, ClientCore, Transport, TransportError};
use plasma::protocol::{Cookie, PatchOp, PullRequest, PullResponse, PushRequest, PushResponse};
use plasma::wire::row_to_json_text;
use todo::{CreateTodo, Ctx, SCHEMA, Todo, TodoMutators, create_todo};

use crate::todo;

/// Push and pull never complete: the client works offline.
#[derive(Debug, Clone, Copy)]
pub struct Unreachable;

impl Transport for Unreachable {
    fn push(&self, _: PushRequest) -> BoxFuture<'static, Result<PushResponse, TransportError>> {
        Box::pin(std::future::pending())
    }
    fn pull(&self, _: PullRequest) -> BoxFuture<'static, Result<PullResponse, TransportError>> {
        Box::pin(std::future::pending())
    }
}

/// Serves one paged pull from JSON bytes; page `i` answers cookie order `i`.
#[derive(Debug, Clone)]
pub struct PagesTransport {
    pages: Arc<Vec<Vec<u8>>>,
}

impl PagesTransport {
    /// Serves these encoded `PullResponse` pages.
    pub fn new(pages: Vec<Vec<u8>>) -> Self {
        PagesTransport { pages: Arc::new(pages) }
    }
}

impl Transport for PagesTransport {
    fn push(&self, _: PushRequest) -> BoxFuture<'static, Result<PushResponse, TransportError>> {
        Box::pin(async { Ok(PushResponse { last_mutation_ids: Default::default() }) })
    }
    fn pull(&self, request: PullRequest) -> BoxFuture<'static, Result<PullResponse, TransportError>> {
        let index = request.cookie.map_or(0, |c| c.order as usize).min(self.pages.len().saturating_sub(1));
        let pages = Arc::clone(&self.pages);
        Box::pin(async move { serde_json::from_slice(&pages[index]).map_err(|e| TransportError::network_from("", e)) })
    }
}

fn put(row: &Todo) -> PatchOp {
    PatchOp::Put {
        table: Todo::DEF.name.to_owned(),
        row: row_to_json_text(Todo::DEF, &row.to_row()).expect("a todo encodes"),
    }
}

/// `rows` todos (ids `b{batch}-...`) as pull pages of `per_page` operations,
/// the last page's cookie at `order = pages`.
pub fn pull_pages(batch: u64, rows: u64, per_page: u64) -> Vec<PullResponse> {
    let all: Vec<Todo> = (0..rows).map(|i| todo(batch, i)).collect();
    let chunks: Vec<&[Todo]> = all.chunks(per_page.max(1) as usize).collect();
    let count = chunks.len();
    chunks
        .into_iter()
        .enumerate()
        .map(|(i, chunk)| PullResponse {
            cookie: Cookie::at(i as i64 + 1),
            last_mutation_id_changes: Default::default(),
            patch: chunk.iter().map(put).collect(),
            mutation_errors: Vec::new(),
            more: i + 1 < count,
            limits: None,
        })
        .collect()
}

/// The same pages as a server sends a first pull (a reset: the first page
/// starts with `clear`), JSON-encoded.
pub fn encoded_pull_pages(batch: u64, rows: u64, per_page: u64) -> Vec<Vec<u8>> {
    let mut pages = pull_pages(batch, rows, per_page);
    if let Some(first) = pages.first_mut() {
        first.patch.insert(0, PatchOp::Clear);
    }
    pages.iter().map(|p| serde_json::to_vec(p).expect("encode page")).collect()
}

/// The context the benchmarks' clients run mutators with.
pub fn ctx() -> Ctx {
    Ctx::client("bench")
}

/// A client core with `n` pending createTodo mutations and no server state.
pub fn core_with_pending(n: u64) -> ClientCore<TodoMutators> {
    let mut core = ClientCore::<TodoMutators>::new(&SCHEMA, "bench".into(), "c1".into());
    let ctx = ctx();
    for i in 0..n {
        let args = CreateTodo {
            id: format!("pending-{i:06}"),
            title: format!("pending {i}"),
            updated_at: i as i64,
            list_id: None,
        };
        let _queued = core.mutate::<create_todo>(&ctx, args, 0).expect("mutate");
    }
    core
}
