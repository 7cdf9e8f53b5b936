//! A real SMTP server on loopback (aiosmtpd, from Debian's python3-aiosmtpd, which
//! scripts/test.sh installs when missing) that requires AUTH and delivers into a Maildir
//! the test reads (tests/it/support/smtp_sink.py).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const SMTP_USER: &str = "hookrelay";
pub const SMTP_PASSWORD: &str = "smtp-secret";

pub struct SmtpServer {
    pub port: u16,
    maildir: tempfile::TempDir,
    child: Child,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl SmtpServer {
    pub async fn start() -> SmtpServer {
        let maildir = tempfile::tempdir().expect("maildir");
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/support/smtp_sink.py");
        let mut child = Command::new("/usr/bin/python3")
            .arg(script)
            .arg("127.0.0.1")
            // A path that does not exist yet, so the Maildir is made whole.
            .arg(maildir.path().join("mail"))
            .args([SMTP_USER, SMTP_PASSWORD])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("aiosmtpd starts: run scripts/test.sh, which installs python3-aiosmtpd");
        // Its first line is the port it bound, written once it accepts connections.
        let stdout = child.stdout.take().expect("piped");
        let first_line = tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line)
                .map(|_| line)
        });
        let port = tokio::time::timeout(Duration::from_secs(20), first_line)
            .await
            .expect("aiosmtpd says its port within 20 s")
            .expect("the reader ends")
            .ok()
            .and_then(|line| line.trim().parse::<u16>().ok())
            .expect(
                "aiosmtpd printed its port: run scripts/test.sh, which installs python3-aiosmtpd",
            );
        SmtpServer {
            port,
            maildir,
            child,
        }
    }

    /// Every message received so far (in no particular order: Maildir names do not sort
    /// by arrival), as RFC 5322 text with quoted-printable's soft line breaks joined (so a
    /// long line reads as one).
    pub fn messages(&self) -> Vec<String> {
        let new: PathBuf = self.maildir.path().join("mail").join("new");
        let mut files: Vec<_> = std::fs::read_dir(new)
            .map(|dir| dir.filter_map(Result::ok).map(|e| e.path()).collect())
            .unwrap_or_default();
        files.sort();
        files
            .iter()
            .map(|f| {
                std::fs::read_to_string(f)
                    .expect("message readable")
                    .replace("=\r\n", "")
                    .replace("=\n", "")
            })
            .collect()
    }
}
