//! The binary's command line: migrations, and clear failures (exit code ≠ 0 with a message).

mod common;

use common::process::run as hookrelay;

#[test]
fn migrate_brings_a_new_database_to_the_current_schema_and_is_repeatable() {
    let dir = tempfile::tempdir().unwrap();
    let data = format!("--data-dir={}", dir.path().display());
    let (ok, out) = hookrelay(&["migrate", &data]);
    assert!(ok, "{out}");
    assert!(out.contains("current schema"), "{out}");
    assert!(dir.path().join("hookrelay.db").exists());
    let (ok, out) = hookrelay(&["migrate", &data]);
    assert!(ok, "a second run finds nothing to do: {out}");
}

#[test]
fn a_database_newer_than_the_binary_stops_the_server_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let data = format!("--data-dir={}", dir.path().display());
    assert!(hookrelay(&["migrate", &data]).0);
    let db = dir.path().join("hookrelay.db");
    // A newer binary's migration, as it would leave the database.
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(common::add_future_migration(&format!(
            "sqlite://{}",
            db.display()
        )));
    let (ok, out) = hookrelay(&["migrate", &data]);
    assert!(!ok);
    assert!(
        out.contains("schema is at version 999, newer than this binary"),
        "{out}"
    );
}

#[test]
fn bad_settings_fail_fast_with_a_message() {
    let (ok, out) = hookrelay(&["serve", "--retry-schedule=5s,soon"]);
    assert!(!ok);
    assert!(out.contains("`soon` is not a duration"), "{out}");
    let (ok, out) = hookrelay(&["serve", "--listen=nowhere"]);
    assert!(!ok);
    assert!(out.contains("--listen"), "{out}");
    let (ok, out) = hookrelay(&["serve", "--database-url=mysql://x/y"]);
    assert!(!ok);
    assert!(out.contains("unsupported database URL"), "{out}");
    let (ok, out) = hookrelay(&["serve", "--worker-threads=0"]);
    assert!(!ok);
    assert!(out.contains("--worker-threads"), "{out}");
}
