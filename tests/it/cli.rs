//! The binary's command line: migrations, and clear failures (exit code ≠ 0 with a message).

use crate::support::process::run as hookrelay;

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
        .block_on(crate::support::add_future_migration(&format!(
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
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg("ulimit -S -n 256 && exec \"$0\" serve --listen=127.0.0.1:0 --data-dir=$1")
        .arg(env!("CARGO_BIN_EXE_hookrelay"))
        .arg(dir.path())
        .env("HOOKRELAY_ADMIN_TOKEN", crate::support::ADMIN_TOKEN)
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let pid = child.id().to_string();
    let (_, hard) = open_files_limit("self");
    // The limit is raised before the server listens: wait until it says so, then look.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let log_path = dir.path().join("server.log");
    while crate::support::process::listening_addr(
        &std::fs::read_to_string(&log_path).unwrap_or_default(),
    )
    .is_none()
    {
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

/// A first start that fails (here: the port is taken) creates no owner token, so the next
/// start still prints one instead of leaving a database nobody can use.
#[test]
fn a_first_start_that_cannot_listen_keeps_no_owner_token() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let data = format!("--data-dir={}", dir.path().display());
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let listen = format!("--listen={}", taken.local_addr().unwrap());
    let (ok, out) = hookrelay(&["serve", &listen, &data]);
    assert!(!ok);
    assert!(out.contains("listening on"), "{out}");
    assert!(!out.contains("created an owner API token"), "{out}");

    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_hookrelay"))
        .args(["serve", "--listen=127.0.0.1:0", &data])
        .env_remove("HOOKRELAY_ADMIN_TOKEN")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let token = stdout
        .lines()
        .map_while(Result::ok)
        .find_map(|line| line.trim().strip_prefix("hr_").map(str::to_owned));
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        token.is_some_and(|t| t.len() > 20),
        "the second start prints the token"
    );
}

/// Logs on request as one JSON object a line, and never with colour codes into a file.
#[test]
fn logs_can_be_json_and_carry_no_colour_codes_into_files() {
    let dir = tempfile::tempdir().unwrap();
    let data = format!("--data-dir={}", dir.path().display());
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let listen = format!("--listen={}", taken.local_addr().unwrap());
    let (ok, out) = hookrelay(&["serve", "--log-format=json", &listen, &data]);
    assert!(!ok);
    let applied = out
        .lines()
        .find(|l| l.contains("applied migration"))
        .expect("a log line");
    let line: serde_json::Value = serde_json::from_str(applied).expect("a JSON object");
    assert_eq!(line["level"], "INFO");
    let (_, text) = hookrelay(&[
        "migrate",
        &format!("--data-dir={}", dir.path().join("b").display()),
    ]);
    assert!(!text.contains('\u{1b}'), "no ANSI escapes: {text}");
}

/// `--config FILE`: the file sets what neither a flag nor an environment variable sets, and
/// `config check` shows the outcome (secrets hidden) or says what is wrong.
#[test]
fn a_config_file_ranks_below_flags_and_environment() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hookrelay.toml");
    std::fs::write(
        &file,
        "listen = \"127.0.0.1:9999\"\nretry_schedule = \"1s,1m\"\nmax-jobs = 3\n\
         database-url = \"postgres://u:topsecret@db:5432/h\"\n",
    )
    .unwrap();
    let config = format!("--config={}", file.display());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hookrelay"))
        .args(["config", "check", &config, "--listen=127.0.0.1:7777"])
        .env("HOOKRELAY_RETRY_SCHEDULE", "9s")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("listen = 127.0.0.1:7777"),
        "the flag wins: {text}"
    );
    assert!(
        text.contains("retry-schedule = 9s"),
        "then the environment: {text}"
    );
    assert!(text.contains("max-jobs = 3"), "then the file: {text}");
    assert!(text.contains("lease = 2m"), "then the default: {text}");
    assert!(!text.contains("topsecret"), "{text}");

    std::fs::write(&file, "lisen = \"x\"\n").unwrap();
    let (ok, out) = hookrelay(&["config", "check", &config]);
    assert!(!ok);
    assert!(out.contains("unknown setting `lisen`"), "{out}");
    std::fs::write(&file, "max-jobs = 0\n").unwrap();
    let (ok, out) = hookrelay(&["config", "check", &config]);
    assert!(!ok);
    assert!(out.contains("--max-jobs must be at least 1"), "{out}");
}
