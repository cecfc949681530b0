//! Snapshot of a mutator expansion.

use quote::quote;

#[test]
fn expands_a_mutator() {
    let out = super::mutator(
        quote!(name = "createTodo"),
        quote! {
            /// Creates a todo.
            pub async fn create_todo(tx: &mut impl ::plasma::Transaction, ctx: &Ctx, args: CreateTodo) -> Result<(), ::plasma::MutatorError> {
                Todo::insert().value(Todo::id, args.id).run(tx).await?;
                Ok(())
            }
        },
    );
    let file: syn::File = syn::parse2(out).expect("valid Rust");
    insta::assert_snapshot!(prettyplease::unparse(&file));
}

#[test]
fn reports_every_shape_error() {
    let out = super::mutator(
        quote!(),
        quote!(
            fn bad(tx: u8, ctx: Ctx, args: &Args) {}
        ),
    )
    .to_string();
    assert!(out.contains("must be an `async fn`"), "{out}");
    assert!(out.contains("must return"), "{out}");
    assert!(out.contains("shared reference"), "{out}");
    assert!(out.contains("taken by value"), "{out}");
}
