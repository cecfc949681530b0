pub struct Settings {
    pub theme: String,
}

#[plasma::table]
pub struct Profile {
    #[plasma(id)]
    pub id: String,
    #[plasma(json)]
    pub settings: Settings,
}

fn main() {}
