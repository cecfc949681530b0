//! Emits code from a checked [`TableModel`]. Every path is absolute
//! (`::plasma`, `::core`, `::std`), so the output compiles with no imports.
//! Uses of a field's type carry the field type's span, so an unsupported type
//! (`ColumnType` not implemented) is reported once, at the field's type: the
//! generated expressions about a field begin at the type's first token and end
//! at its last, so rustc gives every such error the same span and shows it once.

use proc_macro2::{Delimiter, Group, Literal, Span, TokenStream, TokenTree};
use quote::{ToTokens, quote, quote_spanned};

use super::model::{ColumnModel, DefaultValue, TableModel};

pub fn expand(model: &TableModel) -> TokenStream {
    let item = &model.item;
    let ident = &item.ident;
    let vis = &item.vis;
    let name = &model.name;
    let pk = Literal::usize_unsuffixed(model.primary_key);

    let handles = model.columns.iter().enumerate().map(|(i, c)| column_handle(model, i, c));
    let defs = model.columns.iter().map(column_def);
    let encodes = model.columns.iter().map(encode);
    let decodes = model.columns.iter().enumerate().map(|(i, c)| decode(i, c));
    let id_checks = model.columns.iter().filter(|c| c.check_id).map(|c| {
        let ty = &c.ty;
        quote_spanned!(c.span=> const _: () = ::plasma::__private::primary_key::<#ty>();)
    });
    let doc_select = format!(" A typed `SELECT` on table `{name}`.");
    let doc_insert = format!(" A typed `INSERT` into table `{name}`; nullable and defaulted columns may be omitted.");
    let doc_upsert = format!(" A typed insert into `{name}` that updates the given columns when the id exists.");
    let doc_update = format!(" A typed `UPDATE` of table `{name}`.");
    let doc_delete = format!(" A typed `DELETE` from table `{name}`.");

    quote! {
        #item

        #[automatically_derived]
        impl #ident {
            #(#handles)*

            #[doc = #doc_select]
            #vis fn select() -> ::plasma::Select<Self> {
                ::plasma::Select::new()
            }

            #[doc = #doc_insert]
            #vis fn insert() -> ::plasma::Insert<Self> {
                ::plasma::Insert::new()
            }

            #[doc = #doc_upsert]
            #vis fn upsert() -> ::plasma::Insert<Self> {
                ::plasma::Insert::upsert()
            }

            #[doc = #doc_update]
            #vis fn update() -> ::plasma::Update<Self> {
                ::plasma::Update::new()
            }

            #[doc = #doc_delete]
            #vis fn delete() -> ::plasma::Delete<Self> {
                ::plasma::Delete::new()
            }
        }

        #[automatically_derived]
        impl ::plasma::Table for #ident {
            const DEF: &'static ::plasma::TableDef = &::plasma::TableDef {
                name: #name,
                columns: &[#(#defs),*],
                primary_key: #pk,
            };

            fn to_row(&self) -> ::plasma::Row {
                ::plasma::Row(::std::vec::Vec::from([#(#encodes),*]))
            }

            fn from_row(row: ::plasma::Row) -> ::core::result::Result<Self, ::plasma::DecodeError> {
                let mut cells = row.0.into_iter();
                ::core::result::Result::Ok(Self {
                    #(#decodes),*
                })
            }
        }

        #(#id_checks)*
    }
}

/// The spans of the first and last tokens of a field's type.
fn type_spans(ty: &syn::Type) -> (Span, Span) {
    let tokens: Vec<TokenTree> = ty.to_token_stream().into_iter().collect();
    let span = |t: &TokenTree, open: bool| match t {
        TokenTree::Group(g) if open => g.span_open(),
        TokenTree::Group(g) => g.span_close(),
        other => other.span(),
    };
    match (tokens.first(), tokens.last()) {
        (Some(first), Some(last)) => (span(first, true), span(last, false)),
        _ => (Span::call_site(), Span::call_site()),
    }
}

/// `(tokens)` whose delimiters carry `span`.
fn parenthesized(tokens: TokenStream, span: Span) -> Group {
    let mut group = Group::new(Delimiter::Parenthesis, tokens);
    group.set_span(span);
    group
}

/// The codec of a column: `<T as ColumnType>` or, for JSON, `<T as JsonValue>`.
fn codec(c: &ColumnModel, first: Span) -> (TokenStream, &'static str, &'static str) {
    match &c.json {
        Some((inner, false)) => (quote_spanned!(first=> <#inner as ::plasma::JsonValue>), "__encode", "__decode"),
        Some((inner, true)) => {
            (quote_spanned!(first=> <#inner as ::plasma::JsonValue>), "__encode_option", "__decode_option")
        }
        None => {
            let ty = &c.ty;
            (quote_spanned!(first=> <#ty as ::plasma::ColumnType>), "encode", "decode")
        }
    }
}

/// `<T as ColumnType>::encode(&self.field)`, spanning the field's type.
fn encode(c: &ColumnModel) -> TokenStream {
    let (first, last) = type_spans(c.json.as_ref().map_or(&c.ty, |(inner, _)| inner));
    let (codec, encode, _) = codec(c, first);
    let encode = syn::Ident::new(encode, last);
    let mut field = c.field.clone();
    field.set_span(last);
    let args = parenthesized(quote_spanned!(first=> &self.#field), last);
    quote_spanned!(first=> #codec::#encode #args)
}

/// `field: decode_cell(&mut cells, DEF, i, <T as ColumnType>::decode)?`, spanning the field's type.
fn decode(index: usize, c: &ColumnModel) -> TokenStream {
    let (first, last) = type_spans(c.json.as_ref().map_or(&c.ty, |(inner, _)| inner));
    let (codec, _, decode) = codec(c, first);
    let decode = syn::Ident::new(decode, last);
    let index = Literal::usize_unsuffixed(index);
    let mut field = c.field.clone();
    field.set_span(first);
    let args = parenthesized(
        quote_spanned!(first=> &mut cells, <Self as ::plasma::Table>::DEF, #index, #codec::#decode),
        last,
    );
    let question = quote_spanned!(last=> ?);
    quote_spanned!(first=> #field: ::plasma::__private::decode_cell #args #question)
}

fn column_handle(model: &TableModel, index: usize, c: &ColumnModel) -> TokenStream {
    let (table, handle, vis, ty) = (&model.item.ident, &c.handle, &c.vis, &c.column_type);
    let role = if index == model.primary_key { " (primary key)" } else { "" };
    let summary = format!(" Column `{}` of table `{}`{role}.", c.name, model.name);
    let docs = &c.docs;
    let separator = (!docs.is_empty()).then(|| quote!(#[doc = ""]));
    let index = Literal::usize_unsuffixed(index);
    quote! {
        #(#docs)*
        #separator
        #[doc = #summary]
        #vis const #handle: ::plasma::Column<#table, #ty> = ::plasma::Column::new(#index);
    }
}

fn column_def(c: &ColumnModel) -> TokenStream {
    let (name, field, ty) = (&c.name, syn::ext::IdentExt::unraw(&c.field).to_string(), &c.ty);
    let indexed = c.indexed;
    let (kind, nullable) = match &c.json {
        Some((_, nullable)) => (quote!(::plasma::ColumnKind::Json), quote!(#nullable)),
        None => {
            let (first, last) = type_spans(ty);
            let (kind, nullable) = (syn::Ident::new("KIND", last), syn::Ident::new("NULLABLE", last));
            (
                quote_spanned!(first=> <#ty as ::plasma::ColumnType>::#kind),
                quote_spanned!(first=> <#ty as ::plasma::ColumnType>::#nullable),
            )
        }
    };
    let default = match &c.default {
        None => quote!(::core::option::Option::None),
        Some(d) if !d.checked => {
            let literal = match &d.value {
                DefaultValue::Integer(i) => {
                    let i = Literal::i64_unsuffixed(*i);
                    quote!(::plasma::__private::DefaultLiteral::Integer(#i))
                }
                DefaultValue::Bool(b) => quote!(::plasma::__private::DefaultLiteral::Bool(#b)),
                DefaultValue::Real(r) => {
                    let r = Literal::f64_unsuffixed(*r);
                    quote!(::plasma::__private::DefaultLiteral::Real(#r))
                }
                DefaultValue::Text(t) => quote!(::plasma::__private::DefaultLiteral::Text(#t)),
                DefaultValue::Blob(b) => {
                    let b = Literal::byte_string(b);
                    quote!(::plasma::__private::DefaultLiteral::Blob(#b))
                }
            };
            quote_spanned! {d.span=>
                ::core::option::Option::Some(::plasma::__private::default_for(#kind, #literal))
            }
        }
        Some(d) => {
            let literal = match &d.value {
                DefaultValue::Integer(i) => {
                    let i = Literal::i64_unsuffixed(*i);
                    quote!(::plasma::Literal::Integer(#i))
                }
                DefaultValue::Bool(b) => {
                    let i = Literal::i64_unsuffixed(i64::from(*b));
                    quote!(::plasma::Literal::Integer(#i))
                }
                DefaultValue::Real(r) => {
                    let r = Literal::f64_unsuffixed(*r);
                    quote!(::plasma::Literal::Real(#r))
                }
                DefaultValue::Text(t) => quote!(::plasma::Literal::Text(#t)),
                DefaultValue::Blob(b) => {
                    let b = Literal::byte_string(b);
                    quote!(::plasma::Literal::Blob(#b))
                }
            };
            quote!(::core::option::Option::Some(#literal))
        }
    };
    quote! {
        ::plasma::ColumnDef {
            name: #name,
            field: #field,
            kind: #kind,
            nullable: #nullable,
            default: #default,
            indexed: #indexed,
        }
    }
}
