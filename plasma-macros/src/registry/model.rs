//! Reads the two list macros and finds duplicate entries by their tokens.

use proc_macro2::Span;
use quote::ToTokens;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;

use crate::table::Errors;

/// `$(#[attr])* vis struct Name { path, ... }`
pub struct MutatorsInput {
    pub attrs: Vec<syn::Attribute>,
    pub vis: syn::Visibility,
    pub ident: syn::Ident,
    pub brace: syn::token::Brace,
    pub entries: Punctuated<syn::Path, syn::Token![,]>,
}

impl Parse for MutatorsInput {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let attrs = input.call(syn::Attribute::parse_outer)?;
        let vis = input.parse()?;
        input.parse::<syn::Token![struct]>().map_err(|e| {
            syn::Error::new(e.span(), "expected `struct`: plasma::mutators! { pub struct AppMutators { a, b } }")
        })?;
        let ident = input.parse()?;
        let content;
        let brace = syn::braced!(content in input);
        let entries = content.parse_terminated(syn::Path::parse_mod_style, syn::Token![,])?;
        Ok(MutatorsInput { attrs, vis, ident, brace, entries })
    }
}

/// `version = "v1"; A, B, ...` (the version part is optional).
pub struct SchemaInput {
    pub version: Option<syn::Expr>,
    pub tables: Punctuated<syn::Type, syn::Token![,]>,
}

impl Parse for SchemaInput {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let version = if input.peek(syn::Ident) && input.peek2(syn::Token![=]) {
            let key: syn::Ident = input.parse()?;
            if key != "version" {
                return Err(syn::Error::new(key.span(), "expected `version = \"...\";` or a list of tables"));
            }
            input.parse::<syn::Token![=]>()?;
            // A literal, or a `const` path, so a test or a raw request can
            // name the same value the schema carries.
            let version: syn::Expr = input.parse()?;
            if let syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(lit), .. }) = &version
                && lit.value().is_empty()
            {
                return Err(syn::Error::new(lit.span(), "the schema version must not be empty"));
            }
            input.parse::<syn::Token![;]>()?;
            Some(version)
        } else {
            None
        };
        Ok(SchemaInput { version, tables: Punctuated::parse_terminated(input)? })
    }
}

/// One mutator of the registry.
pub struct Entry {
    pub path: syn::Path,
    /// Where every use of the entry points: the user's tokens.
    pub span: Span,
    /// How to refer to it inside the registry's module (a child of the caller's).
    pub inner: syn::Path,
    /// The last segment, if it is imported by name into the registry's module;
    /// then a plain function of that name resolves to a stand-in type that
    /// reports "not a plasma mutator" instead of E0573.
    pub imported: Option<syn::Ident>,
    /// The entry as written, for messages.
    pub written: String,
}

pub struct MutatorsModel {
    pub attrs: Vec<syn::Attribute>,
    pub vis: syn::Visibility,
    pub ident: syn::Ident,
    pub entries: Vec<Entry>,
}

fn spelled(tokens: &impl ToTokens) -> String {
    tokens.to_token_stream().to_string().replace(' ', "")
}

/// The same path as seen from a module one level down.
fn from_child(path: &syn::Path) -> syn::Path {
    let mut inner = path.clone();
    if path.leading_colon.is_some() {
        return inner;
    }
    let first = &path.segments[0].ident;
    if first == "self" {
        inner.segments[0].ident = syn::Ident::new("super", first.span());
    } else if first == "super" {
        inner.segments.insert(0, syn::PathSegment::from(syn::Ident::new("super", first.span())));
    } else if path.segments.len() == 1 {
        // A name of the caller's module: import it explicitly.
        inner.segments.insert(0, syn::PathSegment::from(syn::Ident::new("super", first.span())));
    }
    // `crate::..` and `other::..` (a module of the caller, through `use super::*`,
    // or an extern crate) read the same from the child.
    inner
}

pub fn check_mutators(input: MutatorsInput) -> (MutatorsModel, Errors) {
    let mut errors = Errors::default();
    let mut entries: Vec<Entry> = Vec::new();
    for path in input.entries {
        let written = spelled(&path);
        if entries.iter().any(|e| e.written == written) {
            errors.error(&path, format_args!("`{written}` is listed twice in `{}`: remove the duplicate", input.ident));
            continue;
        }
        let span = path.span();
        let inner = from_child(&path);
        entries.push(Entry { imported: None, inner, path, span, written });
    }
    if entries.is_empty() {
        errors.push(syn::Error::new(
            input.brace.span.join(),
            format_args!("`{}` lists no mutators: a registry needs at least one", input.ident),
        ));
    }
    // Import by name the entries whose last segment no other entry shares.
    let last = |e: &Entry| e.path.segments.last().map(|s| s.ident.clone());
    let names: Vec<Option<syn::Ident>> = entries.iter().map(last).collect();
    for (i, entry) in entries.iter_mut().enumerate() {
        let Some(name) = &names[i] else { continue };
        let unique = names.iter().filter(|n| n.as_ref() == Some(name)).count() == 1;
        let plain = entry.path.segments.last().is_some_and(|s| s.arguments.is_none());
        if unique && plain && name != "self" && name != "super" && name != "crate" {
            entry.imported = Some(name.clone());
        }
    }
    let model = MutatorsModel { attrs: input.attrs, vis: input.vis, ident: input.ident, entries };
    (model, errors)
}

pub struct SchemaModel {
    /// `version = ...`, if given.
    pub version: Option<syn::Expr>,
    /// Each table type with the span of the user's tokens.
    pub tables: Vec<(syn::Type, Span, String)>,
}

pub fn check_schema(input: SchemaInput) -> (SchemaModel, Errors) {
    let mut errors = Errors::default();
    let mut tables: Vec<(syn::Type, Span, String)> = Vec::new();
    let version = input.version;
    for ty in input.tables {
        let written = spelled(&ty);
        if tables.iter().any(|(_, _, w)| *w == written) {
            errors.error(&ty, format_args!("`{written}` is listed twice in plasma::schema!: remove the duplicate"));
            continue;
        }
        let span = ty.span();
        tables.push((ty, span, written));
    }
    (SchemaModel { version, tables }, errors)
}
