//! Shapes users write just work: a raw-identifier field, getters named like
//! fields, fields named like the generated methods, type aliases of supported
//! types (also for the id and with a default), and a JSON column.
#![deny(missing_docs, unused)]

use plasma::Table;

/// An id is text.
pub type Id = String;
/// A small count.
pub type Count = i32;

/// Something that happened.
#[plasma::table]
pub struct Event {
    /// Text id.
    #[plasma(id)]
    id: Id,
    /// What kind of event.
    r#type: String,
    /// How many times.
    #[plasma(default = 1, index)]
    count: Count,
    /// A field named like a generated method.
    select: bool,
    /// Free-form details.
    #[plasma(json)]
    details: Option<Vec<String>>,
}

impl Event {
    /// A getter named like the `id` field.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// A getter named like the `type` field.
    pub fn r#type(&self) -> &str {
        &self.r#type
    }

    /// A getter named like the `count` field.
    pub fn count(&self) -> Count {
        self.count
    }
}

fn main() {
    let def = <Event as Table>::DEF;
    let names: Vec<&str> = def.columns.iter().map(|c| c.name).collect();
    assert_eq!(names, ["id", "type", "count", "select", "details"]);
    assert_eq!(def.columns[2].default, Some(plasma::Literal::Integer(1)));
    assert_eq!(def.columns[4].kind, plasma::ColumnKind::Json);
    assert!(plasma::sql::ddl::create_table(def).contains("\"type\" TEXT NOT NULL"), "{}", plasma::sql::ddl::create_table(def));

    let event = Event { id: "e1".into(), r#type: "click".into(), count: 2, select: true, details: Some(vec!["x".into()]) };
    let json = plasma::wire::row_to_json(def, &event.to_row());
    assert_eq!(json["type"], "click");
    let back = Event::from_row(plasma::wire::row_from_json(def, &json).expect("decode")).expect("row");
    assert_eq!((back.id(), back.r#type(), back.count(), back.select), ("e1", "click", 2, true));
    assert_eq!(back.details, Some(vec!["x".to_owned()]));

    // Handles are SCREAMING_CASE associated consts: no clash with the getters.
    let _query = Event::select().filter(Event::TYPE.eq("click").and(Event::SELECT.eq(true))).order_by(Event::COUNT.desc());
    let _ = Event::ID;
    let _ = Event::DETAILS;
}
