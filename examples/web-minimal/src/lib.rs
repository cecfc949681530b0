//! The smallest browser app on plasma (wasm32 only): the todo app's schema
//! and mutators, a client on IndexedDB syncing with the todo server, and one
//! live query whose count is written into the page.
//!
//! Build: `cargo build --release --target wasm32-unknown-unknown -p web-minimal`,
//! then `wasm-bindgen --target web`. It is the README's browser example,
//! compiled.

#[cfg(target_arch = "wasm32")]
mod app {
    use plasma::client::platform::web::{FetchTransport, WebPlatform};
    use plasma::client::{Client, IndexedDbStore};
    use todo::{CreateTodo, Ctx, SCHEMA, Todo, TodoMutators, USER_HEADER, create_todo};
    use wasm_bindgen::prelude::*;

    /// Starts the app: `endpoint` is the sync server (`/sync` when it serves
    /// the page too), `user` who is signed in.
    #[wasm_bindgen]
    pub async fn start(endpoint: String, user: String) -> Result<(), JsError> {
        let group = format!("{user}-browser");
        // Pending mutations and the last server state survive reloads.
        let store = IndexedDbStore::open("todo", &group).await?;
        let transport = FetchTransport::new(&endpoint)?.header(USER_HEADER, user.clone());
        let client = Client::<TodoMutators>::builder(&SCHEMA, group)
            .context(move || Ctx::client(user.clone()))
            .store(store)
            .pokes(true)
            .build(transport, WebPlatform::new())
            .await?;
        client.start();

        let open = client.live(&Todo::select().filter(Todo::DONE.eq(false)))?;
        let render = |count: usize| {
            if let Some(body) = web_sys::window().and_then(|w| w.document()).and_then(|d| d.body()) {
                body.set_text_content(Some(&format!("{count} open todos")));
            }
        };
        render(open.rows()?.len());
        let rows = std::cell::RefCell::new(open.rows()?);
        open.on_change(move |diff| {
            let mut rows = rows.borrow_mut();
            diff.apply(&mut rows);
            render(rows.len());
        });
        // Visible at once, before the server answers.
        let id = client.new_id();
        let _answer = client.mutate::<create_todo>(CreateTodo {
            id,
            title: "Try plasma".into(),
            updated_at: 0,
            list_id: None,
        })?;
        // The app lives as long as the page: keep the client and the query.
        std::mem::forget((client, open));
        Ok(())
    }
}
