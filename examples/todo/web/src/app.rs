//! The page: header with the sync state, the error banner, the list picker
//! (and, for a shared list, its members), the new-todo form and the todos of
//! the list shown.

use leptos::prelude::*;
use plasma::Filter;
use plasma_leptos::{Mutation, PlasmaProvider, use_live_query, use_mutation, use_plasma};
use todo::{
    CreateTodo, Todo, TodoList, TodoMutators, create_list, create_todo, delete_todo, mark_done, mark_undone,
    rename_todo, share_list, unshare_list,
};

use crate::connect::{connect, user_from_url};
use crate::item::TodoItem;
use crate::lists::{ListPanel, ListPicker};
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
    /// `createList`.
    pub create_list: Mutation<TodoMutators, create_list>,
    /// `shareList`.
    pub share: Mutation<TodoMutators, share_list>,
    /// `unshareList`.
    pub unshare: Mutation<TodoMutators, unshare_list>,
}

impl Actions {
    fn errors(&self) -> [Signal<Option<String>>; 8] {
        [
            self.create.error(),
            self.done.error(),
            self.undone.error(),
            self.rename.error(),
            self.delete.error(),
            self.create_list.error(),
            self.share.error(),
            self.unshare.error(),
        ]
    }

    fn clear_errors(&self) {
        self.create.clear_error();
        self.done.clear_error();
        self.undone.clear_error();
        self.rename.clear_error();
        self.delete.clear_error();
        self.create_list.clear_error();
        self.share.clear_error();
        self.unshare.clear_error();
    }
}

/// Which todos the page shows, shared through context.
#[derive(Clone, Copy)]
pub struct Selection {
    /// The list shown: `None` is "My todos" (the user's private todos, those
    /// in no list), `Some(id)` a shared list.
    pub list: RwSignal<Option<String>>,
    /// Every list the user can see (the server sends only those they are a
    /// member of), by name.
    pub lists: ReadSignal<Vec<TodoList>, LocalStorage>,
    /// The signed-in user.
    pub user: StoredValue<String>,
}

impl Selection {
    /// The todos of the list shown.
    fn todos(list: Option<String>) -> Filter<Todo> {
        match list {
            Some(id) => Todo::LIST_ID.eq(id),
            None => Todo::LIST_ID.is_null(),
        }
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
        create_list: use_mutation(),
        share: use_mutation(),
        unshare: use_mutation(),
    };
    provide_context(actions);

    // "My todos" first; lists by name, kept current by a live query.
    let selection = Selection {
        list: RwSignal::new(None),
        lists: use_live_query::<TodoMutators, _>(|| TodoList::select().order_by(TodoList::NAME.asc())),
        user: StoredValue::new(user.clone()),
    };
    provide_context(selection);
    // The list shown went away (the user was removed from it, or its
    // creation was refused): show "My todos". Only a list seen before and
    // then gone counts: a list just created may show a tick later.
    Effect::new(move |before: Option<(Option<String>, bool)>| {
        let list = selection.list.get();
        let known = list.as_ref().is_some_and(|id| selection.lists.with(|lists| lists.iter().any(|l| &l.id == id)));
        if list.is_some() && !known && before.is_some_and(|(was, was_known)| was_known && was == list) {
            selection.list.set(None);
        }
        (list, known)
    });

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
            <ListPicker/>
            {move || selection.list.get().map(|id| view! { <ListPanel id/> })}
            <NewTodo/>
            <Todos/>
        </div>
    }
}

/// The input that adds a todo (Enter or the Add button) to the list shown.
#[component]
fn NewTodo() -> impl IntoView {
    let actions = expect_context::<Actions>();
    let selection = expect_context::<Selection>();
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
            list_id: selection.list.get_untracked(),
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

/// The todos of the list shown, open ones oldest change first, then done
/// ones: two live queries, each kept current by diffs, and subscribed anew
/// when another list is picked.
#[component]
fn Todos() -> impl IntoView {
    let list = expect_context::<Selection>().list;
    let open = use_live_query::<TodoMutators, _>(move || {
        Todo::select()
            .filter(Selection::todos(list.get()))
            .filter(Todo::DONE.eq(false))
            .order_by(Todo::UPDATED_AT.asc())
    });
    let done = use_live_query::<TodoMutators, _>(move || {
        Todo::select().filter(Selection::todos(list.get())).filter(Todo::DONE.eq(true)).order_by(Todo::UPDATED_AT.asc())
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
