//! A full disk is answered "507: the disk is full" (nothing half-stored), and `/readyz`
//! goes red while the process stays up. The database lives on a small tmpfs made for the
//! test: its SQLite file, or (on PostgreSQL) a tablespace holding the test's database.

use std::path::Path;
use std::process::Command;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::{backend, TestServer};

/// A tmpfs of `megabytes` mounted on a fresh directory, unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(megabytes: u32) -> SmallDisk {
        // SAFETY: geteuid only reads the process's credentials.
        assert_eq!(
            unsafe { libc::geteuid() },
            0,
            "this test mounts a small tmpfs: run it as root (scripts/test.sh is run so)"
        );
        let dir = tempfile::Builder::new()
            .prefix("hookrelay-full-")
            .tempdir()
            .unwrap();
        let mounted = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={megabytes}m,mode=0755"),
                "tmpfs",
            ])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(mounted.success(), "mount -t tmpfs failed");
        SmallDisk { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// On PostgreSQL: a database whose tables live on `disk` (a tablespace there), dropped
/// with its tablespace before the disk is unmounted (PostgreSQL must not lose files it
/// still has pages of).
struct DatabaseOnDisk {
    admin: String,
    name: String,
    url: String,
}

impl DatabaseOnDisk {
    async fn create(disk: &Path) -> DatabaseOnDisk {
        use sqlx::{Connection, Executor};
        let admin = std::env::var("HOOKRELAY_TEST_POSTGRES_URL").unwrap();
        let owner = Command::new("chown")
            .arg("postgres")
            .arg(disk)
            .status()
            .unwrap();
        assert!(owner.success());
        let name = format!("hr_full_{}", std::process::id());
        let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
        conn.execute(sqlx::AssertSqlSafe(format!(
            "CREATE TABLESPACE {name} LOCATION '{}'",
            disk.display()
        )))
        .await
        .unwrap();
        conn.execute(sqlx::AssertSqlSafe(format!(
            "CREATE DATABASE {name} TABLESPACE {name}"
        )))
        .await
        .unwrap();
        let (base, _) = admin.rsplit_once('/').unwrap();
        let url = format!("{base}/{name}");
        DatabaseOnDisk { admin, name, url }
    }
}

impl Drop for DatabaseOnDisk {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            tokio::runtime::Runtime::new()
                .unwrap()
                .block_on(async move {
                    use sqlx::{Connection, Executor};
                    let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
                    conn.execute(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE {name} WITH (FORCE)"
                    )))
                    .await
                    .unwrap();
                    conn.execute(sqlx::AssertSqlSafe(format!("DROP TABLESPACE {name}")))
                        .await
                        .unwrap();
                })
        })
        .join();
        if dropped.is_err() && !std::thread::panicking() {
            panic!("could not drop the test's tablespace");
        }
    }
}

/// Text that no storage engine can compress much (PostgreSQL compresses large values).
fn incompressible(bytes: usize) -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut random = vec![0u8; bytes * 3 / 4];
    rand::rng().fill_bytes(&mut random);
    base64::engine::general_purpose::STANDARD.encode(random)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_is_a_507_and_turns_readiness_red() {
    let disk = SmallDisk::mount(12);
    let database = match backend::is_postgres() {
        true => Some(DatabaseOnDisk::create(disk.path()).await),
        false => None,
    };
    let extra = match &database {
        Some(database) => format!("--database-url={}", database.url),
        None => format!("--data-dir={}", disk.path().display()),
    };
    let data = tempfile::tempdir().unwrap();
    let server = TestServer::start_in(data, &[&extra, "--min-free-disk-bytes=1048576"]).await;
    let site = server.create_site().await;
    let (status, ready) = server.get("/readyz").await;
    assert_eq!(status, StatusCode::OK, "{ready}");
    // Events of ~400 KB until the disk is full.
    let filler = incompressible(400_000);
    let mut full: Option<Value> = None;
    for i in 0..200 {
        let (status, answer) = server
            .post(
                &format!("/api/v1/sites/{site}/events"),
                json!({"entity_type": "item", "event_type": "update", "entity": {"id": i.to_string(), "filler": filler}}),
            )
            .await;
        match status {
            StatusCode::ACCEPTED => continue,
            StatusCode::INSUFFICIENT_STORAGE => {
                full = Some(answer);
                break;
            }
            other => panic!("unexpected {other}: {answer}"),
        }
    }
    let problem = full.expect("the disk filled up");
    assert_eq!(problem["status"], 507);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("the disk is full"),
        "{problem}"
    );
    let (status, ready) = server.get("/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{ready}");
    assert!(
        ready["detail"].as_str().unwrap().contains("disk is full"),
        "{ready}"
    );
    // Reads still work, and the process answers.
    let (status, _) = server.get("/healthz").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = server.get(&format!("/api/v1/sites/{site}")).await;
    assert_eq!(status, StatusCode::OK);
    server.stop().await;
}
