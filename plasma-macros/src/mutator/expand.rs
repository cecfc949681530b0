//! Emits the function unchanged plus a marker type implementing `::plasma::Mutator`.
//! Types and calls carry the spans of the user's tokens, so a type error
//! (arguments not serde, an error type that does not convert) points there.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use super::model::MutatorModel;

fn marker(model: &MutatorModel) -> TokenStream {
    let function = &model.function;
    let ident = &function.sig.ident;
    let vis = &function.vis;
    let name = &model.name;
    let doc = format!(
        " The mutator `{name}`: names `{ident}` in `plasma::mutators!` and for clients \
         (`client.mutate::<{ident}>(args)`)."
    );
    quote_spanned! {ident.span()=>
        #[doc = #doc]
        #[allow(non_camel_case_types)]
        #vis struct #ident {}
    }
}

pub fn expand(model: &MutatorModel) -> TokenStream {
    let function = &model.function;
    let ident = &function.sig.ident;
    let name = &model.name;
    let (Some(context), Some(args)) = (&model.context, &model.args) else {
        return fallback(model);
    };
    let marker = marker(model);
    let output_span = model.output.as_ref().map_or(ident.span(), Spanned::span);
    let args_ty = quote_spanned!(args.span()=> type Args = #args;);
    let context_ty = quote_spanned!(context.span()=> type Context = #context;);
    let call = quote_spanned! {output_span=>
        ::core::result::Result::map_err(#ident(tx, ctx, args).await, ::core::convert::Into::into)
    };
    let implementation = quote_spanned! {ident.span()=>
        #[automatically_derived]
        impl ::plasma::Mutator for #ident {
            const NAME: &'static str = #name;
            #args_ty
            #context_ty

            async fn run<T: ::plasma::Transaction>(
                tx: &mut T,
                ctx: &Self::Context,
                args: Self::Args,
            ) -> ::core::result::Result<(), ::plasma::MutatorError> {
                #call
            }
        }
    };
    quote! {
        #function

        #marker

        #implementation
    }
}

/// The function as written and its marker type, for a mutator with errors:
/// `Mutator` is implemented (with a body that never runs, as the crate does
/// not compile) when its types are known, so registries and clients naming it
/// report nothing more.
pub fn fallback(model: &MutatorModel) -> TokenStream {
    let function = &model.function;
    let ident = &function.sig.ident;
    let name = &model.name;
    if model.in_impl {
        return quote!(#function);
    }
    let marker = marker(model);
    let implementation = match (&model.context, &model.args) {
        (Some(context), Some(args)) => quote_spanned! {ident.span()=>
            #[automatically_derived]
            impl ::plasma::Mutator for #ident {
                const NAME: &'static str = #name;
                type Args = #args;
                type Context = #context;

                async fn run<T: ::plasma::Transaction>(
                    _: &mut T,
                    _: &Self::Context,
                    _: Self::Args,
                ) -> ::core::result::Result<(), ::plasma::MutatorError> {
                    ::core::unreachable!("a mutator with compile errors")
                }
            }
        },
        _ => TokenStream::new(),
    };
    quote! {
        #function

        #marker

        #implementation
    }
}
