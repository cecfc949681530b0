//! Recognises the field types a column can have, by their spelling.
//!
//! The runtime's `ColumnType` trait is the real contract, and the generated
//! code checks every field through it (so `type Id = String` works, and an
//! unsupported type is reported at the field). Recognising the plain spellings
//! here as well lets the macro check defaults (kind and range) and the primary
//! key's type before any type checking.

use syn::{GenericArgument, PathArguments, Type};

/// The storage a field type maps to, with what a default must look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BaseType {
    Text,
    Bool,
    Blob,
    Real,
    /// An integer type with its inclusive range.
    Integer {
        min: i128,
        max: i128,
    },
}

/// A recognised field type.
#[derive(Debug, Clone)]
pub struct FieldType {
    pub base: BaseType,
    pub nullable: bool,
}

/// The single generic argument of `Name<Arg>` if the last path segment is `name`.
pub fn generic_arg<'t>(ty: &'t Type, name: &str) -> Option<&'t Type> {
    let Type::Path(path) = ty else { return None };
    if path.qself.is_some() {
        return None;
    }
    let last = path.path.segments.last()?;
    if last.ident != name {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else { return None };
    if args.args.len() != 1 {
        return None;
    }
    match args.args.first()? {
        GenericArgument::Type(inner) => Some(inner),
        _ => None,
    }
}

/// The generic type arguments of `Name<A, B, ..>` if the last path segment is `name`.
pub fn generic_args<'t>(ty: &'t Type, name: &str) -> Option<Vec<&'t Type>> {
    let Type::Path(path) = ty else { return None };
    let last = path.path.segments.last()?;
    if path.qself.is_some() || last.ident != name {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else { return None };
    Some(
        args.args
            .iter()
            .filter_map(|a| match a {
                GenericArgument::Type(t) => Some(t),
                _ => None,
            })
            .collect(),
    )
}

fn plain_ident(ty: &Type) -> Option<String> {
    let Type::Path(path) = ty else { return None };
    if path.qself.is_some() {
        return None;
    }
    let last = path.path.segments.last()?;
    matches!(last.arguments, PathArguments::None).then(|| last.ident.to_string())
}

fn base(ty: &Type) -> Option<BaseType> {
    if let Some(inner) = generic_arg(ty, "Vec") {
        return (plain_ident(inner)? == "u8").then_some(BaseType::Blob);
    }
    Some(match plain_ident(ty)?.as_str() {
        "String" => BaseType::Text,
        "bool" => BaseType::Bool,
        "f32" | "f64" => BaseType::Real,
        "i8" => BaseType::Integer { min: i8::MIN.into(), max: i8::MAX.into() },
        "i16" => BaseType::Integer { min: i16::MIN.into(), max: i16::MAX.into() },
        "i32" => BaseType::Integer { min: i32::MIN.into(), max: i32::MAX.into() },
        "i64" => BaseType::Integer { min: i64::MIN.into(), max: i64::MAX.into() },
        "u8" => BaseType::Integer { min: 0, max: u8::MAX.into() },
        "u16" => BaseType::Integer { min: 0, max: u16::MAX.into() },
        "u32" => BaseType::Integer { min: 0, max: u32::MAX.into() },
        _ => return None,
    })
}

/// Classifies a field type; `None` if it cannot be stored without `#[plasma(json)]`.
pub fn classify(ty: &Type) -> Option<FieldType> {
    if let Some(inner) = generic_arg(ty, "Option") {
        return Some(FieldType { base: base(inner)?, nullable: true });
    }
    Some(FieldType { base: base(ty)?, nullable: false })
}
