//! Lists: the picker ("My todos" and every list the user can see), the form
//! that creates a list, and the selected list's members with the form that
//! shares it.

use leptos::prelude::*;
use plasma_leptos::{use_live_query, use_plasma};
use todo::{CreateList, ListMember, ShareList, TodoMutators};

use crate::app::{Actions, Selection};

/// One toggle button per list, "My todos" first; the one shown is pressed.
/// Below them, the form that creates a list (and shows it).
#[component]
pub fn ListPicker() -> impl IntoView {
    let selection = expect_context::<Selection>();
    let mine = move || selection.list.with(Option::is_none);
    view! {
        <div class="lists">
            <nav aria-label="Lists">
                <ul class="tabs">
                    <li>
                        <button
                            type="button"
                            class="tab"
                            data-testid="list-mine"
                            aria-pressed=move || mine().to_string()
                            on:click=move |_| selection.list.set(None)
                        >
                            "My todos"
                        </button>
                    </li>
                    <For each=move || selection.lists.get() key=|l| (l.id.clone(), l.name.clone()) let:list>
                        {
                            let pressed = {
                                let id = list.id.clone();
                                move || selection.list.with(|shown| shown.as_deref() == Some(id.as_str()))
                            };
                            let pick = {
                                let id = list.id.clone();
                                move |_| selection.list.set(Some(id.clone()))
                            };
                            let text = list.name.clone();
                            view! {
                                <li>
                                    <button
                                        type="button"
                                        class="tab"
                                        data-testid="list-tab"
                                        data-list-id=list.id
                                        data-list-name=list.name
                                        aria-pressed=move || pressed().to_string()
                                        on:click=pick
                                    >
                                        {text}
                                    </button>
                                </li>
                            }
                        }
                    </For>
                </ul>
            </nav>
            <NewList/>
        </div>
    }
}

/// The input that creates a list (Enter or the Create button) and shows it.
#[component]
fn NewList() -> impl IntoView {
    let actions = expect_context::<Actions>();
    let selection = expect_context::<Selection>();
    let client = use_plasma::<TodoMutators>();
    let name = RwSignal::new(String::new());
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let text = name.get_untracked().trim().to_owned();
        if text.is_empty() {
            return;
        }
        let id = client.new_id();
        actions.create_list.mutate(CreateList { id: id.clone(), name: text });
        selection.list.set(Some(id));
        name.set(String::new());
    };
    view! {
        <form class="new-list" on:submit=submit>
            <label for="new-list" class="visually-hidden">"New list"</label>
            <input
                id="new-list"
                data-testid="new-list"
                placeholder="New list name"
                autocomplete="off"
                bind:value=name
            />
            <button type="submit" data-testid="create-list" class="ghost">"Create list"</button>
        </form>
    }
}

/// The list `id`'s members (each with a Remove button) and the form that
/// shares it with another user.
#[component]
pub fn ListPanel(id: String) -> impl IntoView {
    let actions = expect_context::<Actions>();
    let selection = expect_context::<Selection>();
    let me = selection.user.get_value();
    let list_id = StoredValue::new(id.clone());
    let name = {
        let id = id.clone();
        Memo::new(move |_| {
            selection.lists.with(|lists| lists.iter().find(|l| l.id == id).map(|l| l.name.clone()).unwrap_or_default())
        })
    };
    let members = use_live_query::<TodoMutators, _>(move || {
        ListMember::select().filter(ListMember::LIST_ID.eq(id.clone())).order_by(ListMember::USER_ID.asc())
    });
    let user = RwSignal::new(String::new());
    let share = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let who = user.get_untracked().trim().to_owned();
        if who.is_empty() {
            return;
        }
        actions.share.mutate(ShareList { list_id: list_id.get_value(), user_id: who });
        user.set(String::new());
    };
    view! {
        <section class="panel" data-testid="list-panel" aria-labelledby="list-heading">
            <h2 id="list-heading" data-testid="list-heading">{move || name.get()}</h2>
            <p class="shared-label" id="members-label">"Shared with"</p>
            <ul class="members" aria-labelledby="members-label">
                <For each=move || members.get() key=|m| m.id.clone() let:member>
                    {
                        let who = member.user_id.clone();
                        let you = who == me;
                        let remove = {
                            let who = who.clone();
                            move |_| {
                                actions.unshare.mutate(ShareList { list_id: list_id.get_value(), user_id: who.clone() })
                            }
                        };
                        let label = {
                            let who = who.clone();
                            move || {
                                if you { format!("Leave {}", name.get()) } else { format!("Remove {who} from {}", name.get()) }
                            }
                        };
                        let shown = format!("{who}{}", if you { " (you)" } else { "" });
                        view! {
                            <li class="member" data-testid="member" data-user=who>
                                <span class="member-name">{shown}</span>
                                <button
                                    type="button"
                                    data-testid="unshare"
                                    class="icon danger"
                                    aria-label=label.clone()
                                    title=label
                                    on:click=remove
                                >
                                    "×"
                                </button>
                            </li>
                        }
                    }
                </For>
            </ul>
            <form class="share" on:submit=share>
                <label for="share-user" class="visually-hidden">"Share with user"</label>
                <input
                    id="share-user"
                    data-testid="share-user"
                    placeholder="Share with (user name)"
                    autocomplete="off"
                    bind:value=user
                />
                <button type="submit" data-testid="share" class="ghost">"Share"</button>
            </form>
        </section>
    }
}
