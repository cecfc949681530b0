//! `plasma::mutators!` and `plasma::schema!`: lists of mutators and tables.
//! Parse -> checked model (duplicates found syntactically) -> expand (the
//! checks only the type system can make: is it a mutator, same context, same
//! wire or table name).

mod expand;
mod model;

use proc_macro2::TokenStream;

/// `plasma::mutators! { pub struct AppMutators { a, b } }` on token streams.
pub fn mutators(input: TokenStream) -> TokenStream {
    match syn::parse2::<model::MutatorsInput>(input) {
        Ok(input) => {
            let (model, errors) = model::check_mutators(input);
            let mut out = expand::mutators(&model);
            if let Err(errors) = errors.finish() {
                out.extend(errors.to_compile_error());
            }
            out
        }
        Err(error) => error.to_compile_error(),
    }
}

/// `plasma::schema![A, B]` on token streams.
pub fn schema(input: TokenStream) -> TokenStream {
    match syn::parse2::<model::SchemaInput>(input) {
        Ok(input) => {
            let (model, errors) = model::check_schema(input);
            let out = expand::schema(&model);
            match errors.finish() {
                Ok(()) => out,
                Err(errors) => {
                    let errors = errors.to_compile_error();
                    quote::quote!({ #errors #out })
                }
            }
        }
        Err(error) => error.to_compile_error(),
    }
}

#[cfg(test)]
mod tests;
