//! `#[plasma::mutator]`: parse -> checked model -> expand.

mod expand;
mod model;

use proc_macro2::TokenStream;

/// The whole macro on token streams, so tests and snapshots can call it.
pub fn mutator(args: TokenStream, item: TokenStream) -> TokenStream {
    match model::parse_and_check(args, item) {
        Ok(model) => expand::expand(&model),
        Err(error) => error.to_compile_error(),
    }
}

#[cfg(test)]
mod tests;
