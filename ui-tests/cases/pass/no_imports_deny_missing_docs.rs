//! Generated code compiles with no `use` at all and under `deny(missing_docs)`.
#![deny(missing_docs)]

/// A JSON payload.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Payload {
    /// Tags.
    pub tags: Vec<String>,
}

/// Every column type, default, index and rename.
#[plasma::table(name = "everything")]
pub struct Everything {
    /// Id.
    #[plasma(id)]
    pub id: String,
    /// Text.
    #[plasma(default = "untitled", index)]
    pub title: String,
    /// Nullable text.
    pub note: Option<String>,
    /// i64.
    #[plasma(rename = "bigNumber")]
    pub big: i64,
    /// i32.
    #[plasma(default = -5)]
    pub medium: i32,
    /// i16.
    pub small: i16,
    /// i8.
    pub tiny: i8,
    /// u32.
    pub unsigned: u32,
    /// u16.
    pub unsigned_small: u16,
    /// u8.
    #[plasma(default = 255)]
    pub byte: u8,
    /// f64.
    #[plasma(default = 0.25)]
    pub ratio: f64,
    /// f32.
    pub ratio32: f32,
    /// bool.
    #[plasma(default = true)]
    pub flag: bool,
    /// Bytes.
    #[plasma(default = b"\x00\x01")]
    pub blob: Vec<u8>,
    /// Nullable number.
    pub maybe: Option<i64>,
    /// JSON.
    #[plasma(json)]
    pub payload: Payload,
    /// Nullable JSON.
    #[plasma(json)]
    pub extra: Option<Vec<u32>>,
}

/// The schema.
pub static SCHEMA: plasma::Schema = plasma::schema![Everything];

/// Builds one query of every kind with fully qualified paths.
pub fn queries() -> (plasma::Select<Everything>, plasma::Insert<Everything>, plasma::Update<Everything>, plasma::Delete<Everything>) {
    let select = Everything::select()
        .filter(Everything::BIG.ge(1).and(Everything::NOTE.is_null()))
        .order_by(Everything::RATIO.desc())
        .limit(10)
        .offset(2);
    let insert = Everything::upsert()
        .value(Everything::ID, "a")
        .value(Everything::PAYLOAD, Payload { tags: Vec::new() })
        .value(Everything::EXTRA, Some(vec![1u32]));
    let update = Everything::update().set(Everything::FLAG, false).filter(Everything::ID.eq("a"));
    let delete = Everything::delete().filter(Everything::TINY.lt(3i8));
    (select, insert, update, delete)
}

fn main() {
    let _ = queries();
    let _ = &SCHEMA;
}
