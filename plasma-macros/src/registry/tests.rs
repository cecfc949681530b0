//! Snapshots of the list macros' expansions, and their syntactic checks.

use quote::quote;

fn pretty(tokens: proc_macro2::TokenStream) -> String {
    match syn::parse2::<syn::File>(tokens.clone()) {
        Ok(file) => prettyplease::unparse(&file),
        Err(_) => tokens.to_string(),
    }
}

#[test]
fn expands_a_registry() {
    let out = super::mutators(quote! {
        /// The app's mutators.
        pub struct AppMutators { create_todo, crate::todos::mark_done }
    });
    insta::assert_snapshot!(pretty(out));
}

#[test]
fn expands_a_schema() {
    let out = super::schema(quote!(Todo, tags::Tag));
    let expr: syn::Expr = syn::parse2(out).expect("an expression");
    let file: syn::File = syn::parse_quote!(static SCHEMA: ::plasma::Schema = #expr;);
    insta::assert_snapshot!(prettyplease::unparse(&file));
}

#[test]
fn expands_a_versioned_schema() {
    let out = super::schema(quote!(version = "todos-v2"; Todo)).to_string();
    assert!(out.contains(". with_version (\"todos-v2\")"), "{out}");
    let out = super::schema(quote!(version = ""; Todo)).to_string();
    assert!(out.contains("must not be empty"), "{out}");
    let out = super::schema(quote!(revision = "x"; Todo)).to_string();
    assert!(out.contains("expected `version"), "{out}");
}

#[test]
fn reports_duplicates_and_keeps_the_registry() {
    let out = super::mutators(quote!(pub struct R { a, b, a })).to_string();
    assert!(out.contains("`a` is listed twice in `R`"), "{out}");
    assert!(out.contains("pub struct R"), "{out}");
    let out = super::schema(quote!(A, B, A)).to_string();
    assert!(out.contains("`A` is listed twice"), "{out}");
}
