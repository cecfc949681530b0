//! One todo row: toggle, title (inline rename), delete.

use leptos::html::{Button, Input};
use leptos::prelude::*;
use todo::{DeleteTodo, MarkDone, RenameTodo, Todo};

use crate::app::{Actions, now_ms};

/// A row of the list, for the todo `id` whose current state is `todo`
/// (`None` for the instant between its removal and the row's). Double-click
/// the title or press Edit to rename: Enter saves, Escape cancels (both
/// return focus to Edit), leaving the field saves.
#[component]
pub fn TodoItem(id: String, todo: Memo<Option<Todo>>) -> impl IntoView {
    let actions = expect_context::<Actions>();
    let title = move || todo.with(|t| t.as_ref().map(|t| t.title.clone()).unwrap_or_default());
    let done = move || todo.with(|t| t.as_ref().is_some_and(|t| t.done));
    let editing = RwSignal::new(false);
    let draft = RwSignal::new(String::new());
    let field = NodeRef::<Input>::new();
    let check = NodeRef::<Input>::new();
    let edit_button = NodeRef::<Button>::new();

    // Focus the field when it appears.
    Effect::new(move |_| {
        if let Some(field) = field.get() {
            let _ = field.focus();
            field.select();
        }
    });

    let start_edit = move || {
        draft.set(title());
        editing.set(true);
    };
    let save = {
        let id = id.clone();
        move || {
            // Leaving the field after Enter or Escape finds editing over.
            if !editing.get_untracked() {
                return;
            }
            editing.set(false);
            let text = draft.get_untracked().trim().to_owned();
            if !text.is_empty()
                && text != todo.with_untracked(|t| t.as_ref().map(|t| t.title.clone())).unwrap_or_default()
            {
                actions.rename.mutate(RenameTodo { id: id.clone(), title: text, updated_at: now_ms() });
            }
        }
    };
    // After the row is redrawn (a rename moves it: its `updatedAt` changed).
    let focus_edit = move || {
        request_animation_frame(move || {
            if let Some(button) = edit_button.get_untracked() {
                let _ = button.focus();
            }
        })
    };
    let toggle = {
        let id = id.clone();
        move |_| {
            let args = MarkDone { id: id.clone(), updated_at: now_ms() };
            if done() {
                actions.undone.mutate(args)
            } else {
                actions.done.mutate(args)
            }
            // The row moves between the open and the done part: keep focus on it.
            request_animation_frame(move || {
                if let Some(check) = check.get_untracked() {
                    let _ = check.focus();
                }
            });
        }
    };
    let delete = {
        let id = id.clone();
        move |_| actions.delete.mutate(DeleteTodo { id: id.clone() })
    };
    let on_key = {
        let save = save.clone();
        move |ev: leptos::ev::KeyboardEvent| match ev.key().as_str() {
            "Enter" => {
                ev.prevent_default();
                save();
                focus_edit();
            }
            "Escape" => {
                ev.prevent_default();
                editing.set(false);
                focus_edit();
            }
            _ => {}
        }
    };

    view! {
        <li data-testid="todo" data-id=id data-done=move || done().to_string() class="todo" class:done=done>
            <input
                type="checkbox"
                data-testid="toggle"
                aria-label=move || format!("Done: {}", title())
                node_ref=check
                prop:checked=done
                on:change=toggle
            />
            <Show
                when=move || editing.get()
                fallback=move || {
                    view! {
                        <span data-testid="title" class="title" on:dblclick=move |_| start_edit()>
                            {title}
                        </span>
                    }
                }
            >
                <input
                    data-testid="edit-input"
                    class="edit"
                    aria-label="Rename todo"
                    node_ref=field
                    bind:value=draft
                    on:keydown=on_key.clone()
                    on:blur={
                        let save = save.clone();
                        move |_| save()
                    }
                />
            </Show>
            <div class="actions">
                <button
                    type="button"
                    data-testid="edit"
                    class="ghost"
                    node_ref=edit_button
                    on:click=move |_| start_edit()
                    aria-label=move || format!("Edit: {}", title())
                >
                    "Edit"
                </button>
                <button
                    type="button"
                    data-testid="delete"
                    class="ghost danger"
                    on:click=delete
                    aria-label=move || format!("Delete: {}", title())
                >
                    "Delete"
                </button>
            </div>
        </li>
    }
}
