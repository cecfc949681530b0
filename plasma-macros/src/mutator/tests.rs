//! Snapshot of a mutator expansion.

use quote::quote;

#[test]
fn expands_a_mutator() {
    let out = super::mutator(
        quote!(name = "createTodo"),
        quote! {
            /// Creates a todo.
            pub async fn create_todo(tx: &mut impl ::plasma::Transaction, ctx: &Ctx, args: CreateTodo) -> Result<(), ::plasma::MutatorError> {
                Todo::insert().value(Todo::ID, args.id).run(tx).await?;
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

#[test]
fn names_swapped_parameters_and_a_bad_return_type() {
    let out = super::mutator(
        quote!(),
        quote!(
            async fn swapped(ctx: &Ctx, tx: &mut impl plasma::Transaction, args: Args) -> u32 {}
        ),
    )
    .to_string();
    assert!(out.contains("parameters of `swapped` are swapped: the transaction comes first"), "{out}");
    assert!(out.contains("must return `Result<(), plasma::MutatorError>`"), "{out}");
}

#[test]
fn keeps_the_function_when_it_reports_errors() {
    let out = super::mutator(
        quote!(),
        quote!(
            pub fn not_async(tx: &mut impl plasma::Transaction, ctx: &Ctx, args: Args) -> Result<(), E> {}
        ),
    )
    .to_string();
    assert!(out.contains("must be an `async fn`"), "{out}");
    assert!(out.contains("pub fn not_async"), "the function is still emitted: {out}");
    assert!(out.contains("impl :: plasma :: Mutator for not_async"), "the marker still implements Mutator: {out}");
}

#[test]
fn a_method_is_reported_as_inside_an_impl() {
    let out = super::mutator(
        quote!(),
        quote!(
            async fn method(&self, tx: &mut impl plasma::Transaction, args: Args) -> Result<(), E> {}
        ),
    )
    .to_string();
    assert!(out.contains("inside an `impl` block"), "{out}");
}

#[test]
fn a_raw_identifier_is_named_without_its_prefix() {
    let out = super::mutator(
        quote!(),
        quote!(
            async fn r#move(tx: &mut impl plasma::Transaction, ctx: &Ctx, args: Args) -> Result<(), E> {}
        ),
    )
    .to_string();
    assert!(out.contains("const NAME : & 'static str = \"move\""), "{out}");
}
