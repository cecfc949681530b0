//! `#[plasma::mutator]`: parse -> checked model -> expand.

mod expand;
mod model;

use proc_macro2::TokenStream;

/// The whole macro on token streams, so tests and snapshots can call it.
///
/// On errors the function is still emitted as written, with its marker type
/// (implementing `Mutator` when the context and argument types could be
/// read), so one mistake does not cascade into "cannot find function",
/// "not a plasma mutator" in `mutators!`, or unused-import warnings.
pub fn mutator(args: TokenStream, item: TokenStream) -> TokenStream {
    match model::parse(args, item) {
        Ok((model, errors)) => match errors.finish() {
            Ok(()) => expand::expand(&model),
            Err(errors) => {
                let mut out = expand::fallback(&model);
                out.extend(errors.to_compile_error());
                out
            }
        },
        Err(error) => error.to_compile_error(),
    }
}

#[cfg(test)]
mod tests;
