//! The checked model: everything `expand` needs, with every rule enforced.
//! All problems are collected so the user sees them in one compile.

use heck::ToSnakeCase;
use proc_macro2::Span;
use quote::quote;
use syn::spanned::Spanned;

use super::parse::{Errors, FieldArgs, Parsed};
use super::types::{self, BaseType, SUPPORTED};

/// Names of generated associated functions; a column handle may not shadow them.
const GENERATED_METHODS: &[&str] = &["select", "insert", "upsert", "update", "delete"];

pub struct TableModel {
    /// The struct with `#[plasma(...)]` field attributes removed.
    pub item: syn::DeriveInput,
    pub name: String,
    pub columns: Vec<ColumnModel>,
    pub primary_key: usize,
}

pub struct ColumnModel {
    pub field: syn::Ident,
    pub vis: syn::Visibility,
    pub name: String,
    /// The runtime `ColumnType` implementor: the field type, or `Json<T>` / `Option<Json<T>>`.
    pub column_type: syn::Type,
    pub default: Option<DefaultValue>,
    pub indexed: bool,
    pub span: Span,
}

pub enum DefaultValue {
    Integer(i64),
    Real(f64),
    Text(String),
    Bool(bool),
    Blob(Vec<u8>),
}

pub fn check(parsed: Parsed) -> syn::Result<TableModel> {
    let Parsed { args, mut input, fields } = parsed;
    let mut errors = Errors::default();

    match &input.data {
        syn::Data::Struct(data) => match &data.fields {
            syn::Fields::Named(_) => {}
            syn::Fields::Unnamed(f) => {
                errors.error(f, "a plasma table needs named fields; tuple structs cannot be tables")
            }
            syn::Fields::Unit => {
                errors.error(&input.ident, "a plasma table needs named fields; unit structs cannot be tables")
            }
        },
        syn::Data::Enum(e) => {
            errors.error(&e.enum_token, "#[plasma::table] applies to structs with named fields, not enums")
        }
        syn::Data::Union(u) => {
            errors.error(&u.union_token, "#[plasma::table] applies to structs with named fields, not unions")
        }
    }
    if !input.generics.params.is_empty() || input.generics.where_clause.is_some() {
        errors.error(&input.generics, "a plasma table cannot be generic: its columns must have fixed types");
    }

    let name = match &args.name {
        Some(name) => {
            if name.is_empty() {
                errors.push(syn::Error::new(name.span(), "table name cannot be empty"));
            }
            check_reserved(&mut errors, name, name.span());
            name.as_str().to_owned()
        }
        None => {
            let name = input.ident.to_string().to_snake_case();
            check_reserved(&mut errors, &name, input.ident.span());
            name
        }
    };

    let mut columns = Vec::with_capacity(fields.len());
    let mut primary_key: Option<(usize, &FieldArgs)> = None;
    for (position, field) in fields.iter().enumerate() {
        let Some(ident) = field.ident.clone() else { continue };
        if GENERATED_METHODS.contains(&ident.to_string().as_str()) && field.rename.is_none() {
            errors.error(
                &ident,
                format_args!(
                    "a column field cannot be named `{ident}`: it would clash with the generated `{}::{ident}()`; \
                     rename the field and keep the column name with #[plasma(rename = \"{ident}\")]",
                    input.ident
                ),
            );
        }
        let column_name = match &field.rename {
            Some(rename) => {
                if rename.is_empty() {
                    errors.push(syn::Error::new(rename.span(), "column name cannot be empty"));
                }
                rename.as_str().to_owned()
            }
            None => ident.to_string(),
        };
        let name_span = field.rename.as_ref().map_or(ident.span(), |r| r.span());
        if let Some(prev) = columns.iter().find(|c: &&ColumnModel| c.name == column_name) {
            errors.push(syn::Error::new(
                name_span,
                format_args!("duplicate column name `{column_name}`: field `{}` already uses it", prev.field),
            ));
        }

        let column_type = column_type(&mut errors, field);
        if field.id.is_present() {
            match primary_key {
                Some((_, first)) => errors.push(syn::Error::new(
                    field.id.span(),
                    format_args!(
                        "table `{name}` already has a primary key (`{}`); exactly one field may carry #[plasma(id)]",
                        first.ident.as_ref().map(ToString::to_string).unwrap_or_default()
                    ),
                )),
                None => primary_key = Some((position, field)),
            }
            check_id(&mut errors, field);
        }
        let default = field.default.as_ref().and_then(|expr| check_default(&mut errors, field, &expr.0));
        columns.push(ColumnModel {
            field: ident,
            vis: syn::Visibility::Inherited,
            name: column_name,
            column_type,
            default,
            indexed: field.index.is_present(),
            span: field.ty.span(),
        });
    }
    if let syn::Data::Struct(syn::DataStruct { fields: syn::Fields::Named(named), .. }) = &input.data {
        for (column, field) in columns.iter_mut().zip(&named.named) {
            column.vis = field.vis.clone();
        }
    }
    if primary_key.is_none() && matches!(&input.data, syn::Data::Struct(s) if matches!(s.fields, syn::Fields::Named(_)))
    {
        errors.error(
            &input.ident,
            format_args!("table `{name}` has no primary key: mark one `String` field with #[plasma(id)]"),
        );
    }
    errors.finish()?;

    strip_field_attributes(&mut input);
    Ok(TableModel { item: input, name, columns, primary_key: primary_key.map_or(0, |(i, _)| i) })
}

fn check_reserved(errors: &mut Errors, name: &str, span: Span) {
    let lower = name.to_ascii_lowercase();
    if lower.starts_with("_plasma") || lower.starts_with("sqlite_") {
        errors.push(syn::Error::new(
            span,
            format_args!("table name `{name}` is reserved: names starting with `_plasma` or `sqlite_` belong to plasma and SQLite"),
        ));
    }
}

fn column_type(errors: &mut Errors, field: &FieldArgs) -> syn::Type {
    let ty = &field.ty;
    if field.json.is_present() {
        if let Some(inner) = types::generic_arg(ty, "Option") {
            return syn::parse_quote_spanned!(ty.span()=> ::core::option::Option<::plasma::Json<#inner>>);
        }
        return syn::parse_quote_spanned!(ty.span()=> ::plasma::Json<#ty>);
    }
    if types::classify(ty).is_none() {
        let spelled = quote!(#ty).to_string().replace(' ', "");
        errors.error(
            ty,
            format_args!("unsupported column type `{spelled}`; supported: {SUPPORTED}; store serde types as JSON with #[plasma(json)]"),
        );
    }
    ty.clone()
}

fn check_id(errors: &mut Errors, field: &FieldArgs) {
    let is_string = matches!(types::classify(&field.ty), Some(t) if t.base == BaseType::Text && !t.nullable);
    if !is_string || field.json.is_present() {
        errors.error(&field.ty, "the primary key must be a `String`: plasma ids are text");
    }
    if let Some(default) = &field.default {
        errors.error(&default.0, "the primary key cannot have a default: every row needs its own id");
    }
    if field.index.is_present() {
        errors.push(syn::Error::new(field.index.span(), "the primary key is already indexed; remove #[plasma(index)]"));
    }
}

/// Reads a literal, allowing a leading minus on numbers.
fn literal(expr: &syn::Expr) -> Option<(bool, &syn::Lit)> {
    match expr {
        syn::Expr::Lit(l) => Some((false, &l.lit)),
        syn::Expr::Unary(syn::ExprUnary { op: syn::UnOp::Neg(_), expr, .. }) => match &**expr {
            syn::Expr::Lit(l) => Some((true, &l.lit)),
            _ => None,
        },
        syn::Expr::Group(g) => literal(&g.expr),
        _ => None,
    }
}

fn check_default(errors: &mut Errors, field: &FieldArgs, expr: &syn::Expr) -> Option<DefaultValue> {
    if field.json.is_present() {
        errors.error(expr, "JSON columns cannot have a default");
        return None;
    }
    // An unsupported type is reported once, at the type.
    let ty = types::classify(&field.ty)?;
    let expected = match ty.base {
        BaseType::Text => "a string literal",
        BaseType::Bool => "`true` or `false`",
        BaseType::Blob => "a byte string literal like b\"...\"",
        BaseType::Real => "a number literal",
        BaseType::Integer { .. } => "an integer literal",
    };
    let value = match (ty.base, literal(expr)) {
        (BaseType::Text, Some((false, syn::Lit::Str(s)))) => Some(DefaultValue::Text(s.value())),
        (BaseType::Bool, Some((false, syn::Lit::Bool(b)))) => Some(DefaultValue::Bool(b.value())),
        (BaseType::Blob, Some((false, syn::Lit::ByteStr(b)))) => Some(DefaultValue::Blob(b.value())),
        (BaseType::Real, Some((neg, syn::Lit::Float(f)))) => f
            .base10_parse::<f64>()
            .ok()
            .map(|v| if neg { -v } else { v })
            .filter(|v| v.is_finite())
            .map(DefaultValue::Real),
        (BaseType::Real, Some((neg, syn::Lit::Int(i)))) => {
            i.base10_parse::<i64>().ok().map(|v| DefaultValue::Real(if neg { -v as f64 } else { v as f64 }))
        }
        (BaseType::Integer { min, max }, Some((neg, syn::Lit::Int(i)))) => match i.base10_parse::<i128>() {
            Ok(v) => {
                let v = if neg { -v } else { v };
                if v < min || v > max {
                    errors.error(expr, format_args!("default {v} is out of range for this column ({min}..={max})"));
                    return None;
                }
                i64::try_from(v).ok().map(DefaultValue::Integer)
            }
            Err(e) => {
                errors.push(e);
                return None;
            }
        },
        _ => None,
    };
    if value.is_none() {
        errors.error(expr, format_args!("invalid default for this column: expected {expected}"));
    }
    value
}

fn strip_field_attributes(input: &mut syn::DeriveInput) {
    if let syn::Data::Struct(data) = &mut input.data {
        for field in data.fields.iter_mut() {
            field.attrs.retain(|a| !a.path().is_ident("plasma"));
        }
    }
}
