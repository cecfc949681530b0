//! Reads and checks a mutator function. Every problem is collected; the
//! function itself is kept so a mistake does not cascade (see `mod.rs`).

use darling::FromMeta;
use darling::util::SpannedValue;
use proc_macro2::TokenStream;
use syn::ext::IdentExt;

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
    /// `Ctx` of `ctx: &Ctx`, if it could be read.
    pub context: Option<syn::Type>,
    /// `Args` of `args: Args`, if it could be read.
    pub args: Option<syn::Type>,
    /// The declared return type, where conversion errors point.
    pub output: Option<syn::Type>,
    /// A method (`self`, `Self`): it sits in an `impl` block, where no marker type can go.
    pub in_impl: bool,
}

const SHAPE: &str = "a plasma mutator has the shape \
    `async fn name(tx: &mut impl plasma::Transaction, ctx: &Ctx, args: Args) -> Result<(), plasma::MutatorError>`";

/// Parses the function; `Err` only if it is not a function at all.
pub fn parse(args: TokenStream, item: TokenStream) -> syn::Result<(MutatorModel, Errors)> {
    let function: syn::ItemFn = syn::parse2(item)
        .map_err(|e| syn::Error::new(e.span(), format_args!("#[plasma::mutator] applies to an `async fn`; {SHAPE}")))?;
    let mut errors = Errors::default();
    let args = match darling::ast::NestedMeta::parse_meta_list(args) {
        Ok(list) => errors.take(MutatorArgs::from_list(&list).map_err(syn::Error::from)),
        Err(e) => errors.take(Err(e)),
    }
    .unwrap_or_default();

    let sig = &function.sig;
    let ident = sig.ident.unraw();
    if sig.asyncness.is_none() {
        errors.error(&sig.fn_token, format_args!("`{ident}` must be an `async fn`; {SHAPE}"));
    }
    if !sig.generics.params.is_empty() {
        errors.error(
            &sig.generics,
            format_args!(
                "`{ident}` cannot have generic parameters: write the transaction as `tx: &mut impl plasma::Transaction`"
            ),
        );
    }
    let output = check_output(&mut errors, sig, &ident);
    let name = match &args.name {
        Some(name) if name.is_empty() => {
            errors.push(syn::Error::new(name.span(), "mutator name cannot be empty"));
            String::new()
        }
        Some(name) => name.as_str().to_owned(),
        None => ident.to_string(),
    };

    let in_impl = sig.receiver().is_some() || mentions_self(sig);
    if in_impl {
        errors.error(
            &sig.ident,
            format_args!(
                "`{ident}` is inside an `impl` block: a mutator is a free function; \
                 move it to module level (its marker type `{ident}` must be a module item)"
            ),
        );
    }
    let typed: Vec<&syn::PatType> = sig
        .inputs
        .iter()
        .filter_map(|arg| match arg {
            syn::FnArg::Typed(t) => Some(t),
            syn::FnArg::Receiver(_) => None,
        })
        .collect();
    let (mut context, mut mutator_args) = (None, None);
    if typed.len() != 3 {
        if !in_impl {
            errors.error(&sig.inputs, format_args!("`{ident}` takes {} parameter(s); {SHAPE}", sig.inputs.len()));
        }
    } else if is_transaction(&typed[1].ty) && !is_transaction(&typed[0].ty) {
        let (first, second) = (typed[0], typed[1]);
        errors.error(
            &quote::quote!(#first, #second),
            format_args!("the parameters of `{ident}` are swapped: the transaction comes first; {SHAPE}"),
        );
    } else {
        if !is_mut_ref(&typed[0].ty) {
            errors.error(&typed[0].ty, "the first parameter is the transaction, taken by mutable reference: `tx: &mut impl plasma::Transaction`");
        }
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
    Ok((MutatorModel { function, name, context, args: mutator_args, output, in_impl }, errors))
}

/// The return type must be `Result<(), E>` (E converts into `plasma::MutatorError`),
/// or a `Result<()>` alias.
fn check_output(errors: &mut Errors, sig: &syn::Signature, ident: &syn::Ident) -> Option<syn::Type> {
    let wanted =
        "must return `Result<(), plasma::MutatorError>` (or `Result<(), E>` with an error that converts into it)";
    let ty = match &sig.output {
        syn::ReturnType::Default => {
            errors.error(&sig.ident, format_args!("`{ident}` {wanted}"));
            return None;
        }
        syn::ReturnType::Type(_, ty) => &**ty,
    };
    let ok = crate::table::generic_args(ty, "Result").is_some_and(|args| match args.as_slice() {
        [ok] | [ok, _] => matches!(ok, syn::Type::Tuple(t) if t.elems.is_empty()),
        _ => false,
    });
    if !ok {
        errors.error(ty, format_args!("`{ident}` {wanted}"));
    }
    Some(ty.clone())
}

fn is_mut_ref(ty: &syn::Type) -> bool {
    matches!(ty, syn::Type::Reference(r) if r.mutability.is_some())
}

/// `&mut impl Transaction` or `&mut impl plasma::Transaction` (or another `&mut impl ..`).
fn is_transaction(ty: &syn::Type) -> bool {
    matches!(ty, syn::Type::Reference(r) if r.mutability.is_some() && matches!(*r.elem, syn::Type::ImplTrait(_)))
}

/// Whether `Self` appears in the signature: the function sits in an `impl`.
fn mentions_self(sig: &syn::Signature) -> bool {
    fn walk(tokens: TokenStream) -> bool {
        tokens.into_iter().any(|t| match t {
            proc_macro2::TokenTree::Ident(i) => i == "Self",
            proc_macro2::TokenTree::Group(g) => walk(g.stream()),
            _ => false,
        })
    }
    walk(quote::ToTokens::to_token_stream(&sig.inputs)) || walk(quote::ToTokens::to_token_stream(&sig.output))
}
