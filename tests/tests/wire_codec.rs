//! Row codecs: struct <-> dynamic row <-> JSON object (the wire and IndexedDB
//! form) <-> SQLite, losslessly, with typed errors naming the column.

use plasma::exec::run_ready;
use plasma::wire::{row_from_json, row_to_json};
use plasma::{Executor, Row, SqliteExecutor, Table, Transaction};
use plasma_tests::{Kitchen, kitchen, sqlite};
use serde_json::json;

#[test]
fn struct_row_json_round_trip_is_lossless() {
    for n in 0..8 {
        let original = kitchen(n);
        let row = original.to_row();
        let object = row_to_json(Kitchen::DEF, &row);
        let back = row_from_json(Kitchen::DEF, &object).expect("decode");
        assert_eq!(back, row);
        assert_eq!(Kitchen::from_row(back).expect("struct"), original);
    }
}

#[test]
fn json_encoding_is_the_documented_one() {
    let object = row_to_json(Kitchen::DEF, &kitchen(2).to_row());
    assert_eq!(object["id"], json!("k0002"));
    assert_eq!(object["active"], json!(0), "bools are 0/1");
    assert_eq!(object["data"], json!("AgD/"), "blobs are base64");
    assert_eq!(object["meta"], json!(r#"{"tags":["t2"],"weight":2}"#), "JSON columns are text");
    assert_eq!(object["extraMeta"], json!("[2,-1]"), "renamed columns use the column name");
    assert_eq!(object["weight"], json!(null));
}

#[test]
fn rows_read_from_sqlite_match_the_struct() {
    let db: SqliteExecutor = sqlite();
    let rows: Vec<Row> = run_ready(async {
        let mut tx = db.begin().await?;
        Kitchen::insert().row(&kitchen(3)).run(&mut tx).await?;
        let rows = tx.select(Kitchen::select().query()).await?;
        SqliteExecutor::commit(tx).await?;
        Ok::<_, plasma::ExecError>(rows)
    })
    .expect("ready")
    .expect("sqlite");
    assert_eq!(rows, vec![kitchen(3).to_row()]);
}

#[test]
fn bad_json_rows_name_their_column() {
    let mut object = row_to_json(Kitchen::DEF, &kitchen(1).to_row());
    object.insert("score".into(), json!("ten"));
    let err = row_from_json(Kitchen::DEF, &object).expect_err("text in an integer column");
    assert_eq!((err.table, err.column), ("kitchen", "score"));

    let mut object = row_to_json(Kitchen::DEF, &kitchen(1).to_row());
    object.remove("name");
    let err = row_from_json(Kitchen::DEF, &object).expect_err("missing NOT NULL column");
    assert_eq!(err.column, "name");

    let mut object = row_to_json(Kitchen::DEF, &kitchen(1).to_row());
    object.insert("data".into(), json!("not base64!"));
    assert_eq!(row_from_json(Kitchen::DEF, &object).expect_err("bad blob").column, "data");

    let mut object = row_to_json(Kitchen::DEF, &kitchen(1).to_row());
    object.insert("level".into(), json!(1.5));
    assert_eq!(row_from_json(Kitchen::DEF, &object).expect_err("real in an integer column").column, "level");
}

#[test]
fn struct_decoding_rejects_out_of_range_and_bad_json() {
    let mut row = kitchen(1).to_row();
    row.0[4] = plasma::Value::Integer(70_000); // level is an i16
    let err = Kitchen::from_row(row).expect_err("out of range");
    assert_eq!(err.column, "level");
    let mut row = kitchen(1).to_row();
    row.0[10] = plasma::Value::Text("{not json".into());
    assert_eq!(Kitchen::from_row(row).expect_err("bad json").column, "meta");
}

/// The streaming text codec (the pull path) agrees with the tree codec on
/// every value and every error.
#[test]
fn text_codec_matches_the_tree_codec() {
    use plasma::wire::{row_from_json_text, row_to_json_text};
    use serde_json::value::RawValue;
    let text = |object: &serde_json::Map<String, serde_json::Value>| {
        RawValue::from_string(serde_json::to_string(object).expect("encode")).expect("raw")
    };
    for n in 0..8 {
        let row = kitchen(n).to_row();
        let encoded = row_to_json_text(Kitchen::DEF, &row).expect("encode");
        let tree: serde_json::Value = serde_json::from_str(encoded.get()).expect("valid JSON");
        assert_eq!(tree, serde_json::Value::Object(row_to_json(Kitchen::DEF, &row)), "same JSON as the tree encoder");
        assert_eq!(row_from_json_text(Kitchen::DEF, &encoded).expect("decode"), row);
    }
    let edits: Vec<(&str, Option<serde_json::Value>)> = vec![
        ("score", Some(json!("ten"))),
        ("name", None),
        ("data", Some(json!("not base64!"))),
        ("level", Some(json!(1.5))),
        ("level", Some(json!(u64::MAX))),
        ("active", Some(json!(true))),
        ("name", Some(json!([1, 2]))),
        ("meta", Some(json!({"a": 1}))),
        ("unknownColumn", Some(json!("ignored"))),
        ("weight", Some(json!(3))),
    ];
    for (column, value) in edits {
        let mut object = row_to_json(Kitchen::DEF, &kitchen(1).to_row());
        match value {
            Some(v) => object.insert(column.into(), v),
            None => object.remove(column),
        };
        let tree = row_from_json(Kitchen::DEF, &object);
        let streamed = row_from_json_text(Kitchen::DEF, &text(&object));
        assert_eq!(streamed, tree, "column {column}");
    }
}

/// A row that does not fit its table is an error, never a partial or empty object.
#[test]
fn the_text_encoder_refuses_a_row_of_the_wrong_width() {
    use plasma::EncodeError;
    use plasma::wire::row_to_json_text;
    let columns = Kitchen::DEF.columns.len();
    let empty = row_to_json_text(Kitchen::DEF, &Row(Vec::new()));
    assert!(matches!(empty, Err(EncodeError::Width { cells: 0, .. })), "{empty:?}");
    let mut cells = kitchen(1).to_row().0;
    cells.pop();
    let short = row_to_json_text(Kitchen::DEF, &Row(cells));
    assert!(matches!(short, Err(EncodeError::Width { cells, .. }) if cells == columns - 1), "{short:?}");
}
