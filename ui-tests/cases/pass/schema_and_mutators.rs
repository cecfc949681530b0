use plasma::{MutatorError, Registry, Transaction};

#[plasma::table]
pub(crate) struct Shelf {
    #[plasma(id)]
    id: String,
    label: String,
}

#[plasma::table(name = "books")]
pub struct Book {
    #[plasma(id)]
    pub id: String,
    pub shelf: String,
}

static SCHEMA: plasma::Schema = plasma::schema![Shelf, Book];

pub struct Ctx {
    pub user: String,
}

#[derive(serde::Serialize, serde::Deserialize)]
pub struct Shelve {
    pub book: String,
    pub shelf: String,
}

#[plasma::mutator(name = "shelveBook")]
pub async fn shelve(tx: &mut impl Transaction, ctx: &Ctx, args: Shelve) -> Result<(), MutatorError> {
    if ctx.user.is_empty() {
        return Err(MutatorError::app("anonymous"));
    }
    Book::upsert().value(Book::ID, args.book).value(Book::SHELF, args.shelf).run(tx).await?;
    Ok(())
}

#[plasma::mutator]
pub async fn clear_shelf(tx: &mut impl Transaction, _ctx: &Ctx, args: String) -> Result<(), MutatorError> {
    Book::delete().filter(Book::SHELF.eq(args)).run(tx).await?;
    Ok(())
}

plasma::mutators! {
    /// The app's mutators.
    pub struct Mutators { shelve, clear_shelf }
}

fn main() {
    assert_eq!(SCHEMA.tables.len(), 2);
    assert_eq!(<Shelf as plasma::Table>::DEF.name, "shelf");
    assert_eq!(Mutators::NAMES, &["shelveBook", "clear_shelf"]);
    let _ = Shelf::LABEL;
}
