#![deny(unused_imports)]
use plasma::{MutatorError, Transaction};

pub struct Ctx;

#[derive(serde::Serialize, serde::Deserialize)]
pub struct Args {}

// One mistake (not async) gives one error: the function, its marker type and
// its `Mutator` impl are still emitted, so the registry, the client call and
// the direct call below compile, and the imports stay used.
#[plasma::mutator]
pub fn create(_tx: &mut impl Transaction, _ctx: &Ctx, _args: Args) -> Result<(), MutatorError> {
    Ok(())
}

plasma::mutators! {
    pub struct AppMutators { create }
}

pub fn call(client: &plasma::client::Client<AppMutators>, tx: &mut impl Transaction) {
    let _ = client.mutate::<create>(Args {});
    let _ = create(tx, &Ctx, Args {});
}

fn main() {}
