//! The checked model: everything `expand` needs, with every rule enforced.
//! All problems are collected so the user sees them in one compile.

use heck::{ToShoutySnakeCase, ToSnakeCase};
use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::spanned::Spanned;

use super::parse::{Errors, FieldArgs, Parsed};
use super::types::{self, BaseType};

pub struct TableModel {
    /// The struct with `#[plasma(...)]` field attributes removed.
    pub item: syn::DeriveInput,
    pub name: String,
    pub columns: Vec<ColumnModel>,
    pub primary_key: usize,
}

pub struct ColumnModel {
    /// The field as written (possibly a raw identifier).
    pub field: syn::Ident,
    /// The column handle: the field name in SCREAMING_SNAKE_CASE (`Todo::UPDATED_AT`).
    pub handle: syn::Ident,
    pub vis: syn::Visibility,
    /// Column name in storage and on the wire (`r#type` is `type`).
    pub name: String,
    /// The field's doc comments.
    pub docs: Vec<syn::Attribute>,
    /// The field type as written.
    pub ty: syn::Type,
    /// The handle's column type: the field type, or `Json<T>` / `Option<Json<T>>`.
    pub column_type: syn::Type,
    /// `#[plasma(json)]`: the serde type and whether the field is an `Option` of it.
    pub json: Option<(syn::Type, bool)>,
    pub default: Option<ColumnDefault>,
    /// The primary key, when its type is not spelled `String` (an alias): checked by a bound.
    pub check_id: bool,
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

pub struct ColumnDefault {
    pub value: DefaultValue,
    /// Checked by the macro against a recognised type; otherwise (an alias)
    /// checked against the column's kind at compile time by `default_for`.
    pub checked: bool,
    pub span: Span,
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
            let name = input.ident.unraw().to_string().to_snake_case();
            check_reserved(&mut errors, &name, input.ident.span());
            name
        }
    };

    let mut columns = Vec::with_capacity(fields.len());
    let mut primary_key: Option<(usize, &FieldArgs)> = None;
    for (position, field) in fields.iter().enumerate() {
        let Some(ident) = field.ident.clone() else { continue };
        let unraw = ident.unraw().to_string();
        let handle = syn::Ident::new(&unraw.to_shouty_snake_case(), ident.span());
        if handle == "DEF" {
            errors.error(
                &ident,
                format_args!(
                    "a column field cannot be named `{unraw}`: its handle `{table}::DEF` would hide `<{table} as plasma::Table>::DEF`; \
                     name the field otherwise and keep the column name with #[plasma(rename = \"{unraw}\")]",
                    table = input.ident
                ),
            );
        }
        if let Some(prev) = columns.iter().find(|c: &&ColumnModel| c.handle == handle) {
            errors.error(
                &ident,
                format_args!(
                    "fields `{}` and `{unraw}` would both have the column handle `{handle}`",
                    prev.field.unraw()
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
            None => unraw.clone(),
        };
        let name_span = field.rename.as_ref().map_or(ident.span(), |r| r.span());
        if let Some(prev) = columns.iter().find(|c: &&ColumnModel| c.name == column_name) {
            errors.push(syn::Error::new(
                name_span,
                format_args!("duplicate column name `{column_name}`: field `{}` already uses it", prev.field.unraw()),
            ));
        }

        let (column_type, json) = column_type(field);
        let mut check_id = false;
        if field.id.is_present() {
            match primary_key {
                Some((_, first)) => errors.push(syn::Error::new(
                    field.id.span(),
                    format_args!(
                        "table `{name}` already has a primary key (`{}`); exactly one field may carry #[plasma(id)]",
                        first.ident.as_ref().map(|i| i.unraw().to_string()).unwrap_or_default()
                    ),
                )),
                None => primary_key = Some((position, field)),
            }
            check_id = check_id_field(&mut errors, field);
        }
        let default = field.default.as_ref().and_then(|expr| check_default(&mut errors, field, &expr.0));
        columns.push(ColumnModel {
            field: ident,
            handle,
            vis: syn::Visibility::Inherited,
            name: column_name,
            docs: field.attrs.iter().filter(|a| a.path().is_ident("doc")).cloned().collect(),
            ty: field.ty.clone(),
            column_type,
            json,
            default,
            check_id,
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

/// The handle's column type, and the serde type of a JSON column. Whether a
/// plain field type can be stored is left to the `ColumnType` bound (so aliases
/// work), which reports an unsupported type at the field's type.
fn column_type(field: &FieldArgs) -> (syn::Type, Option<(syn::Type, bool)>) {
    let ty = &field.ty;
    if field.json.is_present() {
        if let Some(inner) = types::generic_arg(ty, "Option") {
            let column = syn::parse_quote_spanned!(ty.span()=> ::core::option::Option<::plasma::Json<#inner>>);
            return (column, Some((inner.clone(), true)));
        }
        return (syn::parse_quote_spanned!(ty.span()=> ::plasma::Json<#ty>), Some((ty.clone(), false)));
    }
    (ty.clone(), None)
}

/// Checks the primary key's attributes; returns whether its type must be
/// checked by a bound (it is not spelled `String`, e.g. an alias).
fn check_id_field(errors: &mut Errors, field: &FieldArgs) -> bool {
    let classified = types::classify(&field.ty);
    let is_string = matches!(&classified, Some(t) if t.base == BaseType::Text && !t.nullable);
    if (classified.is_some() && !is_string) || field.json.is_present() {
        errors.error(&field.ty, "the primary key must be a `String`: plasma ids are text");
    }
    if let Some(default) = &field.default {
        errors.error(&default.0, "the primary key cannot have a default: every row needs its own id");
    }
    if field.index.is_present() {
        errors.push(syn::Error::new(field.index.span(), "the primary key is already indexed; remove #[plasma(index)]"));
    }
    classified.is_none() && !field.json.is_present()
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

fn check_default(errors: &mut Errors, field: &FieldArgs, expr: &syn::Expr) -> Option<ColumnDefault> {
    if field.json.is_present() {
        errors.error(expr, "JSON columns cannot have a default");
        return None;
    }
    let span = expr.span();
    let Some(ty) = types::classify(&field.ty) else {
        // A type the macro cannot read (an alias): take the literal as written;
        // `default_for` checks it against the column's kind at compile time.
        let value = match literal(expr) {
            Some((false, syn::Lit::Str(s))) => Some(DefaultValue::Text(s.value())),
            Some((false, syn::Lit::Bool(b))) => Some(DefaultValue::Bool(b.value())),
            Some((false, syn::Lit::ByteStr(b))) => Some(DefaultValue::Blob(b.value())),
            Some((neg, syn::Lit::Float(f))) => f
                .base10_parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .map(|v| DefaultValue::Real(if neg { -v } else { v })),
            Some((neg, syn::Lit::Int(i))) => {
                i.base10_parse::<i64>().ok().map(|v| DefaultValue::Integer(if neg { -v } else { v }))
            }
            _ => None,
        };
        if value.is_none() {
            errors.error(
                expr,
                "invalid default: expected a literal (`false`, `0`, `-1`, `1.5`, `\"text\"`, `b\"bytes\"`)",
            );
        }
        return value.map(|value| ColumnDefault { value, checked: false, span });
    };
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
    value.map(|value| ColumnDefault { value, checked: true, span })
}

pub fn strip_field_attributes(input: &mut syn::DeriveInput) {
    if let syn::Data::Struct(data) = &mut input.data {
        for field in data.fields.iter_mut() {
            field.attrs.retain(|a| !a.path().is_ident("plasma"));
        }
    }
}
