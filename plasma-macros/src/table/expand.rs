//! Emits code from a checked [`TableModel`]. Every path is absolute
//! (`::plasma`, `::core`, `::std`), so the output compiles with no imports.

use proc_macro2::{Literal, TokenStream};
use quote::{quote, quote_spanned};

use super::model::{ColumnModel, DefaultValue, TableModel};

pub fn expand(model: &TableModel) -> TokenStream {
    let item = &model.item;
    let ident = &item.ident;
    let vis = &item.vis;
    let name = &model.name;
    let pk = Literal::usize_unsuffixed(model.primary_key);

    let handles = model.columns.iter().enumerate().map(|(i, c)| column_handle(model, i, c));
    let defs = model.columns.iter().map(column_def);
    let encodes = model.columns.iter().map(|c| {
        let (field, ty) = (&c.field, &c.column_type);
        quote_spanned!(c.span=> <#ty as ::plasma::ColumnType>::encode(&self.#field))
    });
    let decodes = model.columns.iter().enumerate().map(|(i, c)| {
        let (field, ty, i) = (&c.field, &c.column_type, Literal::usize_unsuffixed(i));
        quote_spanned!(c.span=> #field: ::plasma::__private::decode_cell::<#ty>(&mut cells, Self::DEF, #i)?)
    });
    let doc_select = format!(" A typed `SELECT` on table `{name}`.");
    let doc_insert = format!(" A typed `INSERT` into table `{name}`; nullable and defaulted columns may be omitted.");
    let doc_upsert = format!(" A typed insert into `{name}` that updates the given columns when the id exists.");
    let doc_update = format!(" A typed `UPDATE` of table `{name}`.");
    let doc_delete = format!(" A typed `DELETE` from table `{name}`.");

    quote! {
        #item

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
    }
}

fn column_handle(model: &TableModel, index: usize, c: &ColumnModel) -> TokenStream {
    let (table, field, vis, ty) = (&model.item.ident, &c.field, &c.vis, &c.column_type);
    let role = if index == model.primary_key { " (primary key)" } else { "" };
    let doc = format!(" Column `{}` of table `{}`{role}.", c.name, model.name);
    let index = Literal::usize_unsuffixed(index);
    quote! {
        #[doc = #doc]
        #[allow(non_upper_case_globals)]
        #vis const #field: ::plasma::Column<#table, #ty> = ::plasma::Column::new(#index);
    }
}

fn column_def(c: &ColumnModel) -> TokenStream {
    let (name, field, ty) = (&c.name, c.field.to_string(), &c.column_type);
    let indexed = c.indexed;
    let default = match &c.default {
        None => quote!(::core::option::Option::None),
        Some(d) => {
            let literal = match d {
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
    quote_spanned! {c.span=>
        ::plasma::ColumnDef {
            name: #name,
            field: #field,
            kind: <#ty as ::plasma::ColumnType>::KIND,
            nullable: <#ty as ::plasma::ColumnType>::NULLABLE,
            default: #default,
            indexed: #indexed,
        }
    }
}
