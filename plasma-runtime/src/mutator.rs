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
#[non_exhaustive]
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
    message = "`{Self}` is not a plasma mutator: add #[plasma::mutator]",
    label = "not a plasma mutator",
    note = "a mutator is an `async fn(tx: &mut impl plasma::Transaction, ctx: &Ctx, args: Args)` marked `#[plasma::mutator]`"
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
#[non_exhaustive]
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

/// A mutator listed in the registry `R` by [`mutators!`](crate::mutators!).
/// `Client<R>::mutate::<M>` requires it, so a mutator the server does not know
/// is a compile error rather than a client stopped as `UpdateNeeded`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not in the registry `{R}`: add it to plasma::mutators!",
    label = "not registered in `{R}`"
)]
pub trait InRegistry<R: Registry> {}

/// `Self` is `C`: `mutators!` requires it of every entry's context, so a
/// mutator with another context is reported at the entry, by type.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "this mutator takes `&{Self}`, but the registry's context is `&{C}`: every mutator in plasma::mutators! takes the same context",
    label = "takes `&{Self}`, not `&{C}`"
)]
pub trait SameContext<C> {
    /// The registry's context, as this mutator's (they are the same type).
    fn cast(ctx: &C) -> &Self;
}

impl<C> SameContext<C> for C {
    fn cast(ctx: &C) -> &C {
        ctx
    }
}

/// Decodes the arguments and runs one mutator. Called by `mutators!`.
#[doc(hidden)]
pub async fn dispatch_one<M, C, T>(tx: &mut T, ctx: &C, args: &str) -> Result<(), DispatchError>
where
    M: Mutator,
    M::Context: SameContext<C>,
    T: Transaction,
{
    let args: M::Args =
        serde_json::from_str(args).map_err(|e| DispatchError::BadArgs { name: M::NAME, message: e.to_string() })?;
    M::run(tx, <M::Context as SameContext<C>>::cast(ctx), args).await.map_err(DispatchError::from)
}

/// Byte equality of two strings in a `const` context: `mutators!` and `schema!`
/// compare wire and table names at compile time with it.
#[doc(hidden)]
pub const fn str_eq(a: &str, b: &str) -> bool {
    bytes_eq(a.as_bytes(), b.as_bytes(), false)
}

/// [`str_eq`] ignoring ASCII case: SQLite compares table names that way.
#[doc(hidden)]
pub const fn str_eq_ignore_ascii_case(a: &str, b: &str) -> bool {
    bytes_eq(a.as_bytes(), b.as_bytes(), true)
}

/// One loop for both comparisons (a `const fn` cannot take a closure).
const fn bytes_eq(a: &[u8], b: &[u8], ignore_ascii_case: bool) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        let same = if ignore_ascii_case { a[i].eq_ignore_ascii_case(&b[i]) } else { a[i] == b[i] };
        if !same {
            return false;
        }
        i += 1;
    }
    true
}
