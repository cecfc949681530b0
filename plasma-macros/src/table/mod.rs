//! `#[plasma::table]`: parse -> checked model -> expand.

mod expand;
mod model;
mod parse;
mod types;

pub use parse::Errors;
use proc_macro2::TokenStream;
pub use types::generic_args;

/// The whole macro on token streams, so tests and snapshots can call it.
///
/// On errors the struct is still emitted (without its `#[plasma]` attributes),
/// so code naming the type does not fail too, and imports stay used.
pub fn table(args: TokenStream, item: TokenStream) -> TokenStream {
    let original = syn::parse2::<syn::DeriveInput>(item.clone()).ok();
    match parse::parse(args, item).and_then(model::check) {
        Ok(model) => expand::expand(&model),
        Err(error) => {
            let mut out = TokenStream::new();
            if let Some(mut original) = original {
                model::strip_field_attributes(&mut original);
                out.extend(quote::quote!(#original));
            }
            out.extend(error.to_compile_error());
            out
        }
    }
}

#[cfg(test)]
mod tests;
