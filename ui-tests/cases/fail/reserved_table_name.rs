#[plasma::table(name = "_plasma_changes")]
pub struct Changes {
    #[plasma(id)]
    pub id: String,
}

#[plasma::table(name = "sqlite_master_copy")]
pub struct Master {
    #[plasma(id)]
    pub id: String,
}

fn main() {}
