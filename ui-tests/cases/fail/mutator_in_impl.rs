pub struct Ctx;

#[derive(serde::Serialize, serde::Deserialize)]
pub struct Args {}

pub struct Todos;

impl Todos {
    #[plasma::mutator]
    pub async fn create(&self, tx: &mut impl plasma::Transaction, args: Args) -> Result<(), plasma::MutatorError> {
        let _ = (tx, args);
        Ok(())
    }

    #[plasma::mutator]
    pub async fn archive(_tx: &mut impl plasma::Transaction, _ctx: &Ctx, _args: Args) -> Result<(), plasma::MutatorError> {
        Ok(())
    }
}

fn main() {}
