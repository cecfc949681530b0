//! Procedural macros for plasma. Use them through the `plasma` crate
//! (`#[plasma::table]`, `#[plasma::mutator]`, `plasma::mutators!`,
//! `plasma::schema!`); generated code refers to `::plasma::...` only.
//!
//! Each macro is a thin entry point over three steps: parse (darling reads the
//! attributes), model (checks everything and collects every error with
//! `syn::Error::combine`), expand (emits code from the checked model).

mod mutator;
mod registry;
mod table;

use proc_macro::TokenStream;

/// Declares a table. The full attribute reference is on `plasma::table` (the
/// re-export): `#[plasma::table(name = "...")]` on a struct with named fields,
/// and `#[plasma(id)]`, `#[plasma(default = ...)]`, `#[plasma(index)]`,
/// `#[plasma(rename = "...")]`, `#[plasma(json)]` on its fields.
#[proc_macro_attribute]
pub fn table(args: TokenStream, item: TokenStream) -> TokenStream {
    table::table(args.into(), item.into()).into()
}

/// Declares a mutator: a named, typed `async fn` run optimistically on clients
/// and canonically on the server. The full reference is on `plasma::mutator`. Shape:
/// `async fn name(tx: &mut impl plasma::Transaction, ctx: &Ctx, args: Args) -> Result<(), plasma::MutatorError>`.
/// `#[plasma::mutator(name = "...")]` sets the wire name (default: the function name).
#[proc_macro_attribute]
pub fn mutator(args: TokenStream, item: TokenStream) -> TokenStream {
    mutator::mutator(args.into(), item.into()).into()
}

/// Collects mutators into a registry: `plasma::mutators! { pub struct AppMutators { a, b } }`.
/// See the `plasma` crate documentation.
#[proc_macro]
pub fn mutators(input: TokenStream) -> TokenStream {
    registry::mutators(input.into()).into()
}

/// Collects tables into a schema: `plasma::schema![Todo, Tag]`. See the `plasma` crate documentation.
#[proc_macro]
pub fn schema(input: TokenStream) -> TokenStream {
    registry::schema(input.into()).into()
}
