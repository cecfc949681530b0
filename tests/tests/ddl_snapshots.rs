//! The SQL plasma generates for the example schema, pinned with insta so any
//! change to DDL, triggers or rendered queries shows up in review.

use plasma::Table;
use plasma::sql::{ddl, render};
use todo::Todo;

#[test]
fn todo_schema_ddl_and_triggers() {
    let mut sql = ddl::internal_tables();
    sql.extend(ddl::synced_tables("main"));
    for table in todo::SCHEMA.tables {
        sql.extend(ddl::create_table_all(table));
    }
    insta::assert_snapshot!(sql.join(";\n\n"));
}

#[test]
fn kitchen_table_ddl_covers_every_column_type() {
    insta::assert_snapshot!(ddl::create_table_all(<plasma_tests::Kitchen as Table>::DEF).join(";\n\n"));
}

#[test]
fn rendered_queries_bind_every_value() {
    let select = Todo::select()
        .filter(Todo::DONE.eq(false) & (Todo::TITLE.like("%'; DROP TABLE todos; --%") | !Todo::ID.is_in(["a", "b"])))
        .order_by(Todo::UPDATED_AT.desc())
        .limit(50)
        .offset(10);
    let upsert = Todo::upsert()
        .value(Todo::ID, "x")
        .value(Todo::TITLE, "Robert'); DROP TABLE todos;--")
        .value(Todo::UPDATED_AT, 1);
    let update = Todo::update().set(Todo::DONE, true).filter(Todo::TITLE.starts_with("a\"b"));
    let delete = Todo::delete().filter(Todo::UPDATED_AT.lt(5));
    let shown = [
        render::select(select.query()),
        render::write(&upsert.into_query()),
        render::write(&update.into_query()),
        render::write(&delete.into_query()),
    ]
    .map(|r| format!("{}\n  params: {:?}", r.sql, r.params));
    for rendered in &shown {
        assert!(!rendered.lines().next().unwrap_or_default().contains("DROP"), "values never reach SQL text");
    }
    insta::assert_snapshot!(shown.join("\n\n"));
}
