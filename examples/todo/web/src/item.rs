//! One todo row: toggle, title (inline rename), delete.

use leptos::html::Input;
use leptos::prelude::*;
use todo::{DeleteTodo, MarkDone, RenameTodo, Todo};

use crate::app::{Actions, now_ms};

/// A row of the list. Double-click the title or press Edit to rename: Enter
/// (or leaving the field) saves, Escape cancels.
#[component]
pub fn TodoItem(todo: Todo) -> impl IntoView {
    let actions = expect_context::<Actions>();
    let Todo { id, title, done, .. } = todo;
    let editing = RwSignal::new(false);
    let draft = RwSignal::new(title.clone());
    let input = NodeRef::<Input>::new();

    // Focus the field when it appears.
    Effect::new(move |_| {
        if let Some(field) = input.get() {
            let _ = field.focus();
            field.select();
        }
    });

    let start_edit = {
        let title = title.clone();
        move || {
            draft.set(title.clone());
            editing.set(true);
        }
    };
    let save = {
        let (id, title) = (id.clone(), title.clone());
        move || {
            // Leaving the field after Enter or Escape finds editing over.
            if !editing.get_untracked() {
                return;
            }
            editing.set(false);
            let text = draft.get_untracked().trim().to_owned();
            if !text.is_empty() && text != title {
                actions.rename.mutate(RenameTodo { id: id.clone(), title: text, updated_at: now_ms() });
            }
        }
    };
    let toggle = {
        let id = id.clone();
        move |_| {
            let args = MarkDone { id: id.clone(), updated_at: now_ms() };
            if done { actions.undone.mutate(args) } else { actions.done.mutate(args) }
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
            }
            "Escape" => {
                ev.prevent_default();
                editing.set(false);
            }
            _ => {}
        }
    };
    let on_blur = move |_| save();
    let edit_click = {
        let start_edit = start_edit.clone();
        move |_| start_edit()
    };
    let title_view = title.clone();

    view! {
        <li data-testid="todo" data-id=id.clone() data-done=done.to_string() class="todo" class:done=done>
            <input
                type="checkbox"
                data-testid="toggle"
                aria-label=format!("Done: {title}")
                prop:checked=done
                on:change=toggle
            />
            <Show
                when=move || editing.get()
                fallback=move || {
                    let start_edit = start_edit.clone();
                    view! {
                        <span data-testid="title" class="title" on:dblclick=move |_| start_edit()>
                            {title_view.clone()}
                        </span>
                    }
                }
            >
                <input
                    data-testid="edit-input"
                    class="edit"
                    aria-label="Rename todo"
                    node_ref=input
                    bind:value=draft
                    on:keydown=on_key.clone()
                    on:blur=on_blur.clone()
                />
            </Show>
            <div class="actions">
                <button type="button" data-testid="edit" class="ghost" on:click=edit_click.clone()>"Edit"</button>
                <button type="button" data-testid="delete" class="ghost danger" on:click=delete.clone()
                    aria-label=format!("Delete: {title}")>"Delete"</button>
            </div>
        </li>
    }
}
