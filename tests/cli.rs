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

/// "Max open files" of a process: (soft, hard), from /proc.
fn open_files_limit(pid: &str) -> (String, String) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap()
        .to_owned();
    let mut fields = line["Max open files".len()..].split_whitespace();
    (
        fields.next().unwrap().to_owned(),
        fields.next().unwrap().to_owned(),
    )
}

/// Each delivery in flight holds a socket: a low soft limit on open files is lifted to the
/// hard one at start, and a limit still short of what the settings need is warned about.
#[test]
fn serve_lifts_a_low_open_files_limit() {
    let dir = tempfile::tempdir().unwrap();
    let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
    let port = common::process::free_port();
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg("ulimit -S -n 256 && exec \"$0\" serve --listen=127.0.0.1:$1 --data-dir=$2")
        .arg(env!("CARGO_BIN_EXE_hookrelay"))
        .arg(port.to_string())
        .arg(dir.path())
        .env("HOOKRELAY_ADMIN_TOKEN", common::ADMIN_TOKEN)
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let pid = child.id().to_string();
    let (_, hard) = open_files_limit("self");
    // The limit is raised before the server listens: wait for the port, then look.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "the server never listened"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let (soft, _) = open_files_limit(&pid);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(soft, hard, "the soft limit is raised to the hard one");
    let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap();
    let short = hard.parse::<u64>().is_ok_and(|hard| hard < 2 * 512 + 256);
    assert_eq!(log.contains("open-files limit is low"), short, "{log}");
}
