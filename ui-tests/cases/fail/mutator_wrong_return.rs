pub struct Ctx;

#[derive(serde::Serialize, serde::Deserialize)]
pub struct Args {}

#[plasma::mutator]
pub async fn nothing(_tx: &mut impl plasma::Transaction, _ctx: &Ctx, _args: Args) {}

#[plasma::mutator]
pub async fn count(_tx: &mut impl plasma::Transaction, _ctx: &Ctx, _args: Args) -> Result<u32, plasma::MutatorError> {
    Ok(1)
}

pub struct MyError;

// The shape is right but `MyError` does not convert into `MutatorError`:
// the error points at the return type.
#[plasma::mutator]
pub async fn unconvertible(_tx: &mut impl plasma::Transaction, _ctx: &Ctx, _args: Args) -> Result<(), MyError> {
    Ok(())
}

fn main() {}
