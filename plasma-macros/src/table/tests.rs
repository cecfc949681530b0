//! Snapshots of the expansion (what `cargo expand` shows) for representative tables.

use quote::quote;

fn pretty(tokens: proc_macro2::TokenStream) -> String {
    match syn::parse2::<syn::File>(tokens.clone()) {
        Ok(file) => prettyplease::unparse(&file),
        Err(_) => tokens.to_string(),
    }
}

#[test]
fn expands_todo_with_default_index_and_rename() {
    let out = super::table(
        quote!(name = "todos"),
        quote! {
            /// A todo item.
            #[derive(Debug, Clone, PartialEq)]
            pub struct Todo {
                /// Text id.
                #[plasma(id)]
                pub id: String,
                /// What to do.
                pub title: String,
                /// Done yet?
                #[plasma(default = false, index)]
                pub done: bool,
                /// Last change, ms since the epoch.
                #[plasma(rename = "updatedAt", index)]
                pub updated_at: i64,
            }
        },
    );
    insta::assert_snapshot!(pretty(out));
}

#[test]
fn expands_nullable_json_and_blob_columns() {
    let out = super::table(
        quote!(),
        quote! {
            pub struct UserProfile {
                #[plasma(id)]
                pub user_id: String,
                pub nickname: Option<String>,
                #[plasma(json)]
                pub tags: Vec<String>,
                #[plasma(json)]
                pub settings: Option<std::collections::BTreeMap<String, String>>,
                pub avatar: Vec<u8>,
                #[plasma(default = 1.5)]
                pub score: f64,
            }
        },
    );
    insta::assert_snapshot!(pretty(out));
}

#[test]
fn expands_small_integers_and_private_fields() {
    let out = super::table(
        quote!(name = "inventory_items"),
        quote! {
            pub(crate) struct Item {
                #[plasma(id)]
                id: String,
                #[plasma(default = -1)]
                shelf: i32,
                count: u16,
                #[plasma(default = b"\x00")]
                flags: Vec<u8>,
                note: Option<String>,
            }
        },
    );
    insta::assert_snapshot!(pretty(out));
}

#[test]
fn reports_every_error_in_one_pass() {
    let out = super::table(
        quote!(),
        quote! {
            struct Broken {
                a: std::time::Instant,
                #[plasma(default = "x")]
                b: i64,
            }
        },
    )
    .to_string();
    assert!(out.contains("invalid default"), "{out}");
    assert!(out.contains("no primary key"), "{out}");
    assert!(out.starts_with("struct Broken"), "the struct is still emitted: {out}");
}

#[test]
fn expands_raw_identifiers_aliases_docs_and_getters() {
    let out = super::table(
        quote!(),
        quote! {
            pub struct Event {
                /// Text id.
                #[plasma(id)]
                id: EventId,
                /// What happened.
                ///
                /// Free text.
                r#type: String,
                #[plasma(default = 3)]
                priority: Priority,
                #[plasma(json)]
                payload: Option<Payload>,
            }
        },
    );
    insta::assert_snapshot!(pretty(out));
}
