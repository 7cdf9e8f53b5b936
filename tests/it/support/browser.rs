//! A real Chromium driven over WebDriver (Debian's `chromium` and `chromium-driver`, which
//! scripts/test.sh installs when missing). Every page a test visits is saved as a PNG
//! under `target/screenshots/`.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

/// How long a page may take to show what a test waits for. A bound against hangs, not a
/// measurement: the waits return as soon as the element appears.
const PATIENCE: Duration = Duration::from_secs(30);

pub struct Browser {
    pub client: Client,
    pub base: String,
    /// Screenshot file names start with it.
    name: String,
    shots: AtomicUsize,
    driver: std::process::Child,
    _profile: tempfile::TempDir,
}

fn executable(candidates: &[&str]) -> Option<String> {
    candidates
        .iter()
        .find(|path| std::path::Path::new(path).exists())
        .map(|path| path.to_string())
}

pub fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("screenshots")
}

/// The port chromedriver reports it listens on; its output is drained afterwards, so a
/// full pipe never blocks it.
async fn driver_port(driver: &mut std::process::Child) -> Option<u16> {
    use std::io::BufRead;
    let stdout = driver.stdout.take()?;
    let (port_tx, port_rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut port_tx = Some(port_tx);
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let port = line
                .strip_prefix("ChromeDriver was started successfully on port ")
                .and_then(|rest| rest.trim_end_matches('.').parse::<u16>().ok());
            if let Some(port) = port {
                if let Some(tx) = port_tx.take() {
                    let _ = tx.send(port);
                }
            }
        }
    });
    port_rx.await.ok()
}

impl Browser {
    /// Starts chromedriver on a loopback port of its choosing and opens a headless Chromium session.
    pub async fn start(base: &str, name: &str) -> Browser {
        let driver_path = executable(&["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"])
            .expect("chromedriver not found: run scripts/test.sh, which installs Debian's chromium and chromium-driver");
        let chromium = executable(&["/usr/bin/chromium", "/usr/lib/chromium/chromium"])
            .expect("chromium not found: run scripts/test.sh, which installs it");
        use std::os::unix::process::CommandExt;
        // Port 0: chromedriver binds a free port itself and says which. (A port picked
        // here first could be taken by a parallel test before chromedriver binds it.)
        let mut driver = Command::new(driver_path)
            .arg("--port=0")
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            // Its own process group, so Drop can end chromium with it.
            .process_group(0)
            .spawn()
            .expect("chromedriver starts");
        let port = tokio::time::timeout(PATIENCE, driver_port(&mut driver))
            .await
            .expect("chromedriver says its port within 30 s")
            .expect("chromedriver started");
        let profile = tempfile::tempdir().expect("profile dir");
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            },
        });
        let mut builder =
            ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
        builder.capabilities(capabilities.as_object().cloned().unwrap_or_default());
        let webdriver = format!("http://127.0.0.1:{port}");
        let deadline = tokio::time::Instant::now() + PATIENCE;
        let client = loop {
            match builder.connect(&webdriver).await {
                Ok(client) => break client,
                // chromedriver is still starting: its port is not open yet.
                Err(e) if tokio::time::Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("cannot start a Chromium session: {e}"),
            }
        };
        std::fs::create_dir_all(screenshot_dir()).expect("screenshot dir");
        Browser {
            client,
            base: base.to_owned(),
            name: name.to_owned(),
            shots: AtomicUsize::new(0),
            driver,
            _profile: profile,
        }
    }

    /// Saves what the browser shows as `target/screenshots/<test>-<n>-<label>.png`.
    pub async fn snap(&self, label: &str) {
        let n = self.shots.fetch_add(1, Ordering::Relaxed) + 1;
        let png = self.client.screenshot().await.expect("screenshot");
        let path = screenshot_dir().join(format!("{}-{n:02}-{label}.png", self.name));
        std::fs::write(&path, png).expect("screenshot written");
    }

    /// Runs `script` in the page and returns what it returns (a number here).
    pub async fn script(&self, script: &str) -> i64 {
        self.client
            .execute(script, vec![])
            .await
            .expect("script runs")
            .as_i64()
            .unwrap_or_default()
    }

    /// Resizes the window, as a phone (390) or a laptop (1280) would show pages.
    pub async fn set_width(&self, width: u32) {
        self.client
            .set_window_size(width, 900)
            .await
            .expect("window resized");
    }

    /// Opens `path` of the server and saves a screenshot of it.
    pub async fn visit(&self, path: &str, label: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .expect("page loads");
        self.snap(label).await;
    }

    /// Scrolls the element matching `css` into view (for a screenshot of it).
    pub async fn scroll_to(&self, css: &str) {
        let element = self.find(css).await;
        let argument = serde_json::to_value(&element).expect("an element is JSON");
        self.client
            .execute("arguments[0].scrollIntoView()", vec![argument])
            .await
            .expect("scrolls");
    }

    pub async fn find(&self, css: &str) -> Element {
        self.client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no `{css}` on the page: {e}"))
    }

    /// Waits until the element matching `css` contains `text` (re-read as the page
    /// changes by itself: live regions, streamed logs).
    pub async fn wait_text(&self, css: &str, text: &str) -> Element {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            if let Ok(element) = self.client.find(Locator::Css(css)).await {
                if element.text().await.unwrap_or_default().contains(text) {
                    return element;
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "`{css}` never showed `{text}`"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn fill(&self, css: &str, value: &str) {
        let field = self.find(css).await;
        field.clear().await.expect("field clears");
        field.send_keys(value).await.expect("typing works");
    }

    /// Picks the option with `value` in the `<select>` matching `css`.
    pub async fn select(&self, css: &str, value: &str) {
        self.find(css)
            .await
            .select_by_value(value)
            .await
            .unwrap_or_else(|e| panic!("`{css}` has no option `{value}`: {e}"));
    }

    /// What the field matching `css` holds (a read-only URL to copy, say).
    pub async fn value(&self, css: &str) -> String {
        self.find(css)
            .await
            .prop("value")
            .await
            .expect("value readable")
            .unwrap_or_default()
    }

    pub async fn click(&self, css: &str) {
        self.find(css).await.click().await.expect("click works");
    }

    /// Whether something matching `css` is on the page now.
    pub async fn has(&self, css: &str) -> bool {
        self.count(css).await > 0
    }

    /// How many elements match `css` now.
    pub async fn count(&self, css: &str) -> usize {
        self.client
            .find_all(Locator::Css(css))
            .await
            .expect("query works")
            .len()
    }

    pub async fn page_text(&self) -> String {
        self.find("body").await.text().await.expect("text")
    }

    /// Signs in through the form with `token`.
    pub async fn sign_in(&self, token: &str) {
        self.visit("/sign-in", "sign-in").await;
        self.fill("#token", token).await;
        self.click("button[type=submit]").await;
        self.find("header.top").await;
    }

    /// The session cookie's value, for requests made beside the browser.
    pub async fn session_cookie(&self) -> String {
        self.client
            .get_named_cookie("hr_session")
            .await
            .expect("signed in")
            .value()
            .to_owned()
    }

    /// Ends the WebDriver session (Drop then stops chromedriver).
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // SAFETY: signals the process group chromedriver leads (it and its Chromium).
        unsafe {
            libc::kill(-(self.driver.id() as i32), libc::SIGKILL);
        }
        let _ = self.driver.wait();
    }
}
