//! Building the client: who the user is, and where state lives.

use plasma::client::platform::web::{FetchTransport, WebPlatform};
use plasma::client::{Client, ClientError, IndexedDbStore};
use todo::{Ctx, SCHEMA, TodoMutators, USER_HEADER};

/// The user the page URL names (`?user=NAME`), `alice` when it names none.
pub fn user_from_url() -> String {
    web_sys::window()
        .and_then(|w| w.location().search().ok())
        .and_then(|search| web_sys::UrlSearchParams::new_with_str(&search).ok())
        .and_then(|params| params.get("user"))
        .map(|u| u.trim().to_owned())
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "alice".to_owned())
}

/// A started client for `user`: client group `todo-{user}` (one per user per
/// browser profile), state in IndexedDB, syncing with `/sync` on this origin.
pub async fn connect(user: &str) -> Result<Client<TodoMutators>, ClientError> {
    let group = format!("todo-{user}");
    // Pending mutations and the last server state survive reloads.
    let store = IndexedDbStore::open("todo", &group).await?;
    let transport = FetchTransport::new("/sync")?.header(USER_HEADER, user.to_owned());
    let user = user.to_owned();
    let client = Client::<TodoMutators>::builder(&SCHEMA, group)
        // Optimistic runs: server-only checks (see `todo::Ctx`) are skipped.
        .context(move || Ctx::client(user.clone()))
        .store(store)
        .pokes(true)
        .build(transport, WebPlatform::new())
        .await?;
    client.start();
    Ok(client)
}
