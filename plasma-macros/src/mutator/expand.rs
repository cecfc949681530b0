//! Emits the function unchanged plus a marker type implementing `::plasma::Mutator`.

use proc_macro2::TokenStream;
use quote::quote;

use super::model::MutatorModel;

pub fn expand(model: &MutatorModel) -> TokenStream {
    let function = &model.function;
    let ident = &function.sig.ident;
    let vis = &function.vis;
    let (name, context, args) = (&model.name, &model.context, &model.args);
    let doc =
        format!(" The mutator `{name}`: names it for `mutators!` and for clients (`client.mutate::<{ident}>(args)`).");
    quote! {
        #function

        #[doc = #doc]
        #[allow(non_camel_case_types)]
        #vis struct #ident {}

        impl ::plasma::Mutator for #ident {
            const NAME: &'static str = #name;
            type Args = #args;
            type Context = #context;

            async fn run<T: ::plasma::Transaction>(
                tx: &mut T,
                ctx: &#context,
                args: #args,
            ) -> ::core::result::Result<(), ::plasma::MutatorError> {
                #ident(tx, ctx, args).await.map_err(::core::convert::Into::into)
            }
        }
    }
}
