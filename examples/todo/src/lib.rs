//! The todo app's shared schema: the one definition both the server and every
//! client compile.

#![deny(missing_docs)]

/// A todo item.
#[plasma::table(name = "todos")]
#[derive(Debug, Clone, PartialEq)]
pub struct Todo {
    /// Client-generated id.
    #[plasma(id)]
    pub id: String,
    /// What to do.
    pub title: String,
    /// Done yet? New todos are open.
    #[plasma(default = false, index)]
    pub done: bool,
    /// Last change, milliseconds since the Unix epoch.
    #[plasma(rename = "updatedAt", index)]
    pub updated_at: i64,
}

/// Every table of the app.
pub static SCHEMA: plasma::Schema = plasma::schema![Todo];

/// The app's schema version; clients with another version are told to update.
pub const SCHEMA_VERSION: &str = "todos-v1";
