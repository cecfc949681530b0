//! Reads the macro input with darling. No validation beyond attribute syntax
//! happens here; `model` checks meaning.

use darling::util::{Flag, PreservedStrExpr, SpannedValue};
use darling::{FromField, FromMeta};
use proc_macro2::TokenStream;

/// `#[plasma::table(...)]` arguments.
#[derive(Debug, Default, FromMeta)]
pub struct TableArgs {
    /// Table name; defaults to the struct name in snake_case.
    pub name: Option<SpannedValue<String>>,
}

/// `#[plasma(...)]` on a field.
#[derive(Debug, FromField)]
#[darling(attributes(plasma), forward_attrs(doc))]
pub struct FieldArgs {
    pub ident: Option<syn::Ident>,
    /// The field's doc comments, carried onto its column handle.
    pub attrs: Vec<syn::Attribute>,
    pub ty: syn::Type,
    pub id: Flag,
    pub index: Flag,
    pub json: Flag,
    /// Kept verbatim: darling would otherwise parse a string literal's contents as an expression.
    pub default: Option<PreservedStrExpr>,
    pub rename: Option<SpannedValue<String>>,
}

/// The parsed input: the struct as written plus its parsed attributes.
pub struct Parsed {
    pub args: TableArgs,
    pub input: syn::DeriveInput,
    /// One entry per named field, in order (empty for non-structs).
    pub fields: Vec<FieldArgs>,
}

pub fn parse(args: TokenStream, item: TokenStream) -> syn::Result<Parsed> {
    let input: syn::DeriveInput = syn::parse2(item)?;
    let mut errors = Errors::default();
    let args = match darling::ast::NestedMeta::parse_meta_list(args) {
        Ok(list) => errors.take(TableArgs::from_list(&list).map_err(syn::Error::from)),
        Err(e) => errors.take(Err(e)),
    }
    .unwrap_or_default();
    let mut fields = Vec::new();
    if let syn::Data::Struct(syn::DataStruct { fields: syn::Fields::Named(named), .. }) = &input.data {
        for field in &named.named {
            if let Some(parsed) = errors.take(FieldArgs::from_field(field).map_err(syn::Error::from)) {
                fields.push(parsed);
            }
        }
    }
    errors.finish()?;
    Ok(Parsed { args, input, fields })
}

/// Collects errors so one compile shows every problem, not just the first.
#[derive(Default)]
pub struct Errors(Option<syn::Error>);

impl Errors {
    pub fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(error),
            None => self.0 = Some(error),
        }
    }

    /// An error covering all of `tokens` (first to last token, also on stable).
    pub fn error(&mut self, tokens: &impl quote::ToTokens, message: impl std::fmt::Display) {
        self.push(syn::Error::new_spanned(tokens, message));
    }

    pub fn take<T>(&mut self, result: syn::Result<T>) -> Option<T> {
        result.map_err(|e| self.push(e)).ok()
    }

    pub fn finish(self) -> syn::Result<()> {
        self.0.map_or(Ok(()), Err)
    }
}
