//! Mutators: named, typed, async functions that write through a [`Transaction`].
//!
//! `#[plasma::mutator]` implements [`Mutator`] for a marker type named like the
//! function; [`mutators!`](crate::mutators!) collects an app's mutators into a
//! [`Registry`] that dispatches by name. No linker tricks: the registry is an
//! explicit list, so it works on wasm32 and a missing mutator is a compile error.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::ExecError;
use crate::exec::Transaction;

/// Why a mutator failed.
#[derive(Debug, thiserror::Error)]
pub enum MutatorError {
    /// The app refused the mutation; the message reaches the client that sent it.
    #[error("{0}")]
    App(String),
    /// A query inside the mutator failed.
    #[error(transparent)]
    Exec(#[from] ExecError),
}

impl MutatorError {
    /// An app error with a message for the client.
    pub fn app(message: impl Into<String>) -> Self {
        MutatorError::App(message.into())
    }

    /// Whether retrying the same mutation later may succeed (database busy).
    /// Transient failures must not consume the mutation id.
    pub fn is_transient(&self) -> bool {
        matches!(self, MutatorError::Exec(e) if e.is_transient())
    }
}

/// A mutator declared with `#[plasma::mutator]`. Implemented on a marker type
/// named like the function (`create_todo`), which is how clients name it:
/// `client.mutate::<create_todo>(args)`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a plasma mutator",
    label = "declare it with `#[plasma::mutator]` on an `async fn`"
)]
#[allow(async_fn_in_trait)] // not Send on purpose: mutators also run on wasm32 stores
pub trait Mutator: 'static {
    /// The name on the wire.
    const NAME: &'static str;
    /// The typed arguments.
    type Args: Serialize + DeserializeOwned;
    /// The app's context type (who is asking), from the auth hook or the client.
    type Context;

    /// Runs the mutator in `tx`.
    async fn run<T: Transaction>(tx: &mut T, ctx: &Self::Context, args: Self::Args) -> Result<(), MutatorError>;
}

/// Why a dispatch by name failed.
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    /// No mutator of that name is registered.
    #[error("unknown mutator `{0}`")]
    UnknownMutator(String),
    /// The JSON arguments do not match the mutator's argument type.
    #[error("invalid arguments for `{name}`: {message}")]
    BadArgs {
        /// The mutator.
        name: &'static str,
        /// What serde said.
        message: String,
    },
    /// The mutator ran and failed.
    #[error(transparent)]
    Mutator(#[from] MutatorError),
}

impl DispatchError {
    /// Whether retrying later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, DispatchError::Mutator(e) if e.is_transient())
    }
}

/// An app's mutators, dispatched by name. Build one with [`mutators!`](crate::mutators!).
#[allow(async_fn_in_trait)]
pub trait Registry: 'static {
    /// The context every mutator of the app receives.
    type Context;
    /// Every registered name, in declaration order.
    const NAMES: &'static [&'static str];

    /// Runs the mutator called `name` with `args` as JSON text.
    async fn dispatch<T: Transaction>(
        tx: &mut T,
        ctx: &Self::Context,
        name: &str,
        args: &str,
    ) -> Result<(), DispatchError>;

    /// Whether a mutator of this name exists.
    fn contains(name: &str) -> bool {
        Self::NAMES.contains(&name)
    }
}

/// Compiles only if `M` takes context `C`. Called by `mutators!`.
#[doc(hidden)]
pub fn same_context<M: Mutator<Context = C>, C>() {}

/// Decodes the arguments and runs one mutator. Called by `mutators!`.
#[doc(hidden)]
pub async fn dispatch_one<M: Mutator, T: Transaction>(
    tx: &mut T,
    ctx: &M::Context,
    args: &str,
) -> Result<(), DispatchError> {
    let args: M::Args =
        serde_json::from_str(args).map_err(|e| DispatchError::BadArgs { name: M::NAME, message: e.to_string() })?;
    M::run(tx, ctx, args).await.map_err(DispatchError::from)
}

/// Collects mutators into a [`Registry`]. All of them must take the same
/// context type (a mismatch is a type error on the offending mutator).
///
/// ```
/// # use plasma::{MutatorError, Transaction};
/// # #[plasma::table] pub struct Note { #[plasma(id)] pub id: String, pub body: String }
/// /// Who is asking.
/// pub struct Ctx { pub user: String }
///
/// #[derive(serde::Serialize, serde::Deserialize)]
/// pub struct AddNote { pub id: String, pub body: String }
///
/// #[plasma::mutator]
/// pub async fn add_note(tx: &mut impl Transaction, _ctx: &Ctx, args: AddNote) -> Result<(), MutatorError> {
///     Note::insert().value(Note::id, args.id).value(Note::body, args.body).run(tx).await?;
///     Ok(())
/// }
///
/// plasma::mutators! {
///     /// The app's mutators.
///     pub struct AppMutators { add_note }
/// }
/// use plasma::Registry;
/// assert_eq!(AppMutators::NAMES, &["add_note"]);
/// ```
#[macro_export]
macro_rules! mutators {
    ($(#[$meta:meta])* $vis:vis struct $name:ident { $first:path $(, $rest:path)* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, Default)]
        $vis struct $name;

        // Every mutator must take the first one's context; a mismatch is
        // reported at the offending mutator's name.
        const _: fn() = || {
            $( $crate::__private::same_context::<$rest, <$first as $crate::Mutator>::Context>(); )*
        };

        impl $crate::Registry for $name {
            type Context = <$first as $crate::Mutator>::Context;
            const NAMES: &'static [&'static str] =
                &[<$first as $crate::Mutator>::NAME $(, <$rest as $crate::Mutator>::NAME)*];

            async fn dispatch<T: $crate::Transaction>(
                tx: &mut T,
                ctx: &Self::Context,
                name: &str,
                args: &str,
            ) -> ::core::result::Result<(), $crate::DispatchError> {
                if name == <$first as $crate::Mutator>::NAME {
                    return $crate::__private::dispatch_one::<$first, T>(tx, ctx, args).await;
                }
                $(
                    if name == <$rest as $crate::Mutator>::NAME {
                        return $crate::__private::dispatch_one::<$rest, T>(tx, ctx, args).await;
                    }
                )*
                ::core::result::Result::Err($crate::DispatchError::UnknownMutator(name.to_owned()))
            }
        }
    };
}
