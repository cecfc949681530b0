//! The page: header with the sync state, the new-todo form, the list, and
//! the error banner.

use leptos::prelude::*;
use plasma_leptos::{Mutation, PlasmaProvider, use_live_query, use_mutation, use_plasma};
use todo::{CreateTodo, Todo, TodoMutators, create_todo, delete_todo, mark_done, mark_undone, rename_todo};

use crate::connect::{connect, user_from_url};
use crate::item::TodoItem;
use crate::status::SyncState;

/// Every mutation the page runs, shared by the rows through context.
#[derive(Clone, Copy)]
pub struct Actions {
    /// `createTodo`.
    pub create: Mutation<TodoMutators, create_todo>,
    /// `markDone`.
    pub done: Mutation<TodoMutators, mark_done>,
    /// `markUndone`.
    pub undone: Mutation<TodoMutators, mark_undone>,
    /// `renameTodo`.
    pub rename: Mutation<TodoMutators, rename_todo>,
    /// `deleteTodo`.
    pub delete: Mutation<TodoMutators, delete_todo>,
}

impl Actions {
    fn errors(&self) -> [Signal<Option<String>>; 5] {
        [self.create.error(), self.done.error(), self.undone.error(), self.rename.error(), self.delete.error()]
    }

    fn clear_errors(&self) {
        self.create.clear_error();
        self.done.clear_error();
        self.undone.clear_error();
        self.rename.clear_error();
        self.delete.clear_error();
    }
}

/// Milliseconds since the Unix epoch, the mutators' `updated_at`.
pub fn now_ms() -> i64 {
    js_sys::Date::now() as i64
}

/// Connects, then mounts the app (or says why it cannot start).
pub async fn run() {
    let user = user_from_url();
    let loading = web_sys::window().and_then(|w| w.document()).and_then(|d| d.get_element_by_id("loading"));
    match connect(&user).await {
        Ok(client) => {
            if let Some(loading) = loading {
                loading.remove();
            }
            leptos::mount::mount_to_body(move || {
                view! { <PlasmaProvider client=client><App user=user/></PlasmaProvider> }
            });
        }
        Err(e) => {
            if let Some(loading) = loading {
                loading.set_text_content(Some(&format!("Cannot start: {e}")));
                let _ = loading.set_attribute("role", "alert");
            }
        }
    }
}

/// The todo app for `user`.
#[component]
fn App(user: String) -> impl IntoView {
    let actions = Actions {
        create: use_mutation(),
        done: use_mutation(),
        undone: use_mutation(),
        rename: use_mutation(),
        delete: use_mutation(),
    };
    provide_context(actions);

    // The newest error of any mutation, until dismissed.
    let alert = RwSignal::new(None::<String>);
    for error in actions.errors() {
        Effect::new(move |_| {
            if let Some(message) = error.get() {
                alert.set(Some(message));
            }
        });
    }
    let dismiss = move |_| {
        alert.set(None);
        actions.clear_errors();
    };

    view! {
        <div class="app">
            <header class="top">
                <h1>"Todos"</h1>
                <p class="user">"Signed in as " <strong>{user}</strong></p>
                <SyncState/>
            </header>
            <Show when=move || alert.with(Option::is_some)>
                <div role="alert" data-testid="error" class="alert">
                    <span class="alert-text">{move || alert.get().unwrap_or_default()}</span>
                    <button type="button" class="icon" aria-label="Dismiss error" on:click=dismiss>"×"</button>
                </div>
            </Show>
            <NewTodo/>
            <TodoList/>
        </div>
    }
}

/// The input that adds a todo (Enter or the Add button).
#[component]
fn NewTodo() -> impl IntoView {
    let actions = expect_context::<Actions>();
    let client = use_plasma::<TodoMutators>();
    let title = RwSignal::new(String::new());
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let text = title.get_untracked();
        if text.trim().is_empty() {
            return;
        }
        actions.create.mutate(CreateTodo {
            id: client.new_id(),
            title: text.trim().to_owned(),
            updated_at: now_ms(),
            list_id: None,
        });
        title.set(String::new());
    };
    view! {
        <form class="new" on:submit=submit>
            <label for="new-todo" class="visually-hidden">"New todo"</label>
            <input
                id="new-todo"
                data-testid="new-todo"
                aria-label="New todo"
                placeholder="What needs doing?"
                autocomplete="off"
                autofocus
                bind:value=title
            />
            <button type="submit" data-testid="add" class="primary">"Add"</button>
        </form>
    }
}

/// Open todos oldest change first, then done ones: two live queries, each
/// kept current by diffs.
#[component]
fn TodoList() -> impl IntoView {
    let open = use_live_query::<TodoMutators, _>(|| {
        Todo::select().filter(Todo::DONE.eq(false)).order_by(Todo::UPDATED_AT.asc())
    });
    let done = use_live_query::<TodoMutators, _>(|| {
        Todo::select().filter(Todo::DONE.eq(true)).order_by(Todo::UPDATED_AT.asc())
    });
    let all = Memo::new(move |_| open.get().into_iter().chain(done.get()).collect::<Vec<_>>());
    let left = move || open.with(Vec::len);
    view! {
        <section class="list" aria-label="Todos">
            <ul>
                // Keyed by id: a renamed or toggled todo keeps its row (and focus).
                <For each=move || all.get() key=|t| t.id.clone() let:todo>
                    {
                        let id = todo.id.clone();
                        let current = {
                            let id = id.clone();
                            Memo::new(move |_| all.with(|rows| rows.iter().find(|t| t.id == id).cloned()))
                        };
                        view! { <TodoItem id todo=current/> }
                    }
                </For>
            </ul>
            <Show when=move || open.with(Vec::is_empty) && done.with(Vec::is_empty)>
                <p class="empty">"Nothing to do. Add a todo above."</p>
            </Show>
            <p class="count">{move || match left() { 1 => "1 open todo".to_owned(), n => format!("{n} open todos") }}</p>
        </section>
    }
}
