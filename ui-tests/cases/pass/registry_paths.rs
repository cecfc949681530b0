//! `mutators!` entries as paths: a name of the module, a glob-imported name,
//! `self::`, `super::`, `crate::` and a module path; registries in nested modules.
#![deny(unused)]

use plasma::{MutatorError, Registry, Transaction};

/// Who is asking.
pub struct Ctx;

/// No arguments.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Args {}

/// Mutators in a module.
pub mod todos {
    use super::{Args, Ctx};
    use plasma::{MutatorError, Transaction};

    /// Creates.
    #[plasma::mutator(name = "todos.create")]
    pub async fn create(_tx: &mut impl Transaction, _ctx: &Ctx, _args: Args) -> Result<(), MutatorError> {
        Ok(())
    }

    /// Archives.
    #[plasma::mutator(name = "todos.archive")]
    pub async fn archive(_tx: &mut impl Transaction, _ctx: &Ctx, _args: Args) -> Result<(), MutatorError> {
        Ok(())
    }
}

/// Renames.
#[plasma::mutator]
pub async fn rename(_tx: &mut impl Transaction, _ctx: &Ctx, _args: Args) -> Result<(), MutatorError> {
    Ok(())
}

plasma::mutators! {
    /// By path, by name, and through `self::` and `crate::`.
    pub struct Paths { todos::create, rename, crate::todos::archive }
}

/// A nested module that glob-imports its parent, as test modules do.
pub mod nested {
    use super::*;

    plasma::mutators! {
        /// Through a glob import and `super::`.
        pub struct Nested { rename, super::todos::create, self::Local::clear }
    }

    /// A module named like a type, to check `self::` paths.
    #[allow(non_snake_case)]
    pub mod Local {
        use super::super::{Args, Ctx};
        use plasma::{MutatorError, Transaction};

        /// Clears.
        #[plasma::mutator]
        pub async fn clear(_tx: &mut impl Transaction, _ctx: &Ctx, _args: Args) -> Result<(), MutatorError> {
            Ok(())
        }
    }
}

fn main() {
    assert_eq!(Paths::NAMES, &["todos.create", "rename", "todos.archive"]);
    assert_eq!(nested::Nested::NAMES, &["rename", "todos.create", "clear"]);
    fn registered<R: Registry, M: plasma::InRegistry<R>>() {}
    registered::<Paths, todos::archive>();
    registered::<nested::Nested, nested::Local::clear>();
}
