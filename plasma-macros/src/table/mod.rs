//! `#[plasma::table]`: parse -> checked model -> expand.

mod expand;
mod model;
mod parse;
mod types;

pub use parse::Errors;
use proc_macro2::TokenStream;
pub use types::generic_args;

/// The whole macro on token streams, so tests and snapshots can call it.
pub fn table(args: TokenStream, item: TokenStream) -> TokenStream {
    match parse::parse(args, item).and_then(model::check) {
        Ok(model) => expand::expand(&model),
        Err(error) => error.to_compile_error(),
    }
}

#[cfg(test)]
mod tests;
