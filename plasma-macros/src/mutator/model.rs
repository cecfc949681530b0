//! Reads and checks a mutator function. Every problem is collected.

use darling::FromMeta;
use darling::util::SpannedValue;
use proc_macro2::TokenStream;
use syn::spanned::Spanned;

use crate::table::Errors;

/// `#[plasma::mutator(...)]` arguments.
#[derive(Debug, Default, FromMeta)]
struct MutatorArgs {
    /// Name on the wire; defaults to the function name.
    name: Option<SpannedValue<String>>,
}

pub struct MutatorModel {
    pub function: syn::ItemFn,
    pub name: String,
    pub context: syn::Type,
    pub args: syn::Type,
}

const SHAPE: &str = "a plasma mutator has the shape \
    `async fn name(tx: &mut impl plasma::Transaction, ctx: &Ctx, args: Args) -> Result<(), plasma::MutatorError>`";

pub fn parse_and_check(args: TokenStream, item: TokenStream) -> syn::Result<MutatorModel> {
    let function: syn::ItemFn = syn::parse2(item)?;
    let mut errors = Errors::default();
    let args = match darling::ast::NestedMeta::parse_meta_list(args) {
        Ok(list) => errors.take(MutatorArgs::from_list(&list).map_err(syn::Error::from)),
        Err(e) => errors.take(Err(e)),
    }
    .unwrap_or_default();

    let sig = &function.sig;
    if sig.asyncness.is_none() {
        errors.error(&sig.fn_token, format_args!("`{}` must be an `async fn`; {SHAPE}", sig.ident));
    }
    if let syn::ReturnType::Default = sig.output {
        errors.error(&sig.ident, format_args!("`{}` must return `Result<(), plasma::MutatorError>`", sig.ident));
    }
    let name = match &args.name {
        Some(name) if name.is_empty() => {
            errors.push(syn::Error::new(name.span(), "mutator name cannot be empty"));
            String::new()
        }
        Some(name) => name.as_str().to_owned(),
        None => sig.ident.to_string(),
    };

    let typed: Vec<&syn::PatType> = sig
        .inputs
        .iter()
        .filter_map(|arg| match arg {
            syn::FnArg::Typed(t) => Some(t),
            syn::FnArg::Receiver(r) => {
                errors.error(r, "a mutator is a free function, not a method");
                None
            }
        })
        .collect();
    let mut context = None;
    let mut mutator_args = None;
    if sig.inputs.len() != 3 {
        errors.error(&sig.inputs, format_args!("`{}` takes {} parameter(s); {SHAPE}", sig.ident, sig.inputs.len()));
    } else if typed.len() == 3 {
        match &*typed[1].ty {
            syn::Type::Reference(r) if r.mutability.is_none() => context = Some((*r.elem).clone()),
            other => {
                errors.error(other, "the second parameter is the app context, taken by shared reference: `ctx: &Ctx`")
            }
        }
        match &*typed[2].ty {
            syn::Type::Reference(r) => errors
                .error(r, "the third parameter is the arguments, taken by value (they are deserialized for each run)"),
            syn::Type::ImplTrait(t) => errors.error(t, "mutator arguments need a concrete serde type"),
            other => mutator_args = Some(other.clone()),
        }
    }
    errors.finish()?;
    match (context, mutator_args) {
        (Some(context), Some(args)) => Ok(MutatorModel { name, context, args, function }),
        _ => Err(syn::Error::new(function.sig.span(), SHAPE)),
    }
}
