//! A headless Chromium driven over WebDriver (chromedriver), for the web pages' tests and the
//! display page's bench.
//!
//! [`Browser::start`] returns `None` (after printing why) when Chromium or chromedriver is
//! not installed, except under CI (`CI` set), where `.ci/run` installs both and a missing
//! browser is a failure.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long a page may take to show what a test waits for.
pub const PAGE_WAIT: Duration = Duration::from_secs(15);

/// How to start a [`Browser`].
#[derive(Debug, Clone)]
pub struct BrowserOptions {
    width: u32,
    height: u32,
    args: Vec<String>,
}

impl Default for BrowserOptions {
    fn default() -> Self {
        BrowserOptions {
            width: 1366,
            height: 768,
            args: Vec::new(),
        }
    }
}

impl BrowserOptions {
    /// A 1366×768 viewport and Chromium's own policies.
    pub fn new() -> BrowserOptions {
        BrowserOptions::default()
    }

    /// The size of the page's viewport.
    pub fn viewport(mut self, width: u32, height: u32) -> BrowserOptions {
        self.width = width;
        self.height = height;
        self
    }

    /// One more Chromium command-line argument.
    pub fn arg(mut self, arg: &str) -> BrowserOptions {
        self.args.push(arg.to_owned());
        self
    }
}

/// A chromedriver process and one browser session; both end on drop.
pub struct Browser {
    client: Option<Client>,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium at 1366×768, or returns `None` (after
    /// printing why) when they are not installed outside CI.
    ///
    /// # Panics
    ///
    /// When they are installed but do not start, or are missing under CI.
    pub async fn start() -> Option<Browser> {
        Browser::start_with(BrowserOptions::new()).await
    }

    /// [`Browser::start`] with options.
    ///
    /// # Panics
    ///
    /// As [`Browser::start`].
    pub async fn start_with(options: BrowserOptions) -> Option<Browser> {
        let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER]
            .into_iter()
            .filter(|p| !Path::new(p).exists())
            .collect();
        if !missing.is_empty() {
            assert!(
                std::env::var_os("CI").is_none(),
                "browser tests must run in CI, but {missing:?} is not installed"
            );
            eprintln!(
                "skipping browser test: {missing:?} not installed (apt-get install chromium chromium-driver)"
            );
            return None;
        }
        let port = free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start chromedriver");
        let profile = tempfile::Builder::new()
            .prefix("luot-chromium-")
            .tempdir()
            .expect("cannot create a browser profile directory");
        let mut args: Vec<String> = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--lang=vi",
        ]
        .into_iter()
        .map(str::to_owned)
        .collect();
        args.push(format!(
            "--window-size={},{}",
            options.width, options.height
        ));
        args.push(format!("--user-data-dir={}", profile.path().display()));
        args.extend(options.args.iter().cloned());
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({ "binary": CHROMIUM, "args": args }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(c) => break c,
                Err(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("cannot start a browser session: {e}"),
            }
        };
        let browser = Browser {
            client: Some(client),
            driver,
            _profile: profile,
        };
        browser.set_viewport(options.width, options.height).await;
        Some(browser)
    }

    /// The WebDriver session.
    ///
    /// # Panics
    ///
    /// Never while the browser lives.
    pub fn client(&self) -> &Client {
        self.client.as_ref().expect("the session lives until drop")
    }

    /// Resizes the window so that the page's viewport (not the window) is `width`×`height`.
    ///
    /// # Panics
    ///
    /// When the browser refuses.
    pub async fn set_viewport(&self, width: u32, height: u32) {
        for _ in 0..3 {
            let frame = self
                .js("return [window.outerWidth - window.innerWidth, window.outerHeight - window.innerHeight, window.innerWidth, window.innerHeight];")
                .await;
            let at = |i: usize| u32::try_from(frame[i].as_u64().unwrap_or(0)).unwrap_or(0);
            if at(2) == width && at(3) == height {
                return;
            }
            self.client()
                .set_window_size(width + at(0), height + at(1))
                .await
                .expect("cannot resize the window");
        }
    }

    /// Opens `url`.
    ///
    /// # Panics
    ///
    /// When the browser cannot.
    pub async fn goto(&self, url: &str) {
        self.client()
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("cannot open {url}: {e}"));
    }

    /// Runs a script (a function body: `return …;`) and returns its value.
    ///
    /// # Panics
    ///
    /// When the script throws.
    pub async fn js(&self, script: &str) -> Value {
        self.client()
            .execute(script, vec![])
            .await
            .unwrap_or_else(|e| panic!("script failed ({e}): {script}"))
    }

    /// Evaluates a JavaScript expression until it is truthy, failing after [`PAGE_WAIT`].
    ///
    /// # Panics
    ///
    /// When it does not become true in time; the panic shows the page's text.
    pub async fn wait_js(&self, what: &str, expr: &str) {
        self.wait_js_for(PAGE_WAIT, what, expr).await;
    }

    /// [`Browser::wait_js`] with its own limit.
    ///
    /// # Panics
    ///
    /// As [`Browser::wait_js`].
    pub async fn wait_js_for(&self, limit: Duration, what: &str, expr: &str) {
        let deadline = Instant::now() + limit;
        let script = format!("try {{ return !!({expr}); }} catch (e) {{ return false; }}");
        loop {
            if self.js(&script).await.as_bool() == Some(true) {
                return;
            }
            if Instant::now() > deadline {
                let text = self.text("body").await;
                panic!("waited {limit:?} for {what}; the page says:\n{text}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The visible text of the first element matching `css`, or "" when there is none.
    pub async fn text(&self, css: &str) -> String {
        match self.client().find(Locator::Css(css)).await {
            Ok(e) => e.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// Replaces the value of the input matching `css`.
    ///
    /// # Panics
    ///
    /// When there is no such input.
    pub async fn fill(&self, css: &str, value: &str) {
        let e = self
            .client()
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"));
        e.clear().await.expect("cannot clear the input");
        e.send_keys(value).await.expect("cannot type");
    }

    /// Clicks the element matching `css`.
    ///
    /// # Panics
    ///
    /// When there is no such element or it cannot be clicked.
    pub async fn click(&self, css: &str) {
        self.client()
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("cannot click {css}: {e}"));
    }

    /// Logs in through the login page and waits until it has left it.
    pub async fn login(&self, base: &str, next: &str, user: &str, password: &str) {
        self.goto(&format!("{base}/login?next={next}")).await;
        self.fill("#username", user).await;
        self.fill("#password", password).await;
        self.click("button[type=submit]").await;
        self.wait_js("the login to finish", "location.pathname !== '/login'")
            .await;
    }

    /// Sends a Chrome DevTools Protocol command through chromedriver (`goog/cdp/execute`),
    /// e.g. `Emulation.setEmulatedMedia` to lay the page out as printed.
    ///
    /// # Panics
    ///
    /// When the browser refuses the command.
    pub async fn cdp(&self, cmd: &str, params: Value) -> Value {
        self.client()
            .issue_cmd(Cdp {
                cmd: cmd.to_owned(),
                params,
            })
            .await
            .unwrap_or_else(|e| panic!("CDP {cmd} failed: {e}"))
    }

    /// The page printed to PDF on A4 portrait with backgrounds, as the print dialog would.
    ///
    /// # Panics
    ///
    /// When the browser cannot print.
    pub async fn print_pdf(&self) -> Vec<u8> {
        let config = fantoccini::wd::PrintConfiguration::builder()
            .background(true)
            .build()
            .expect("a valid print configuration");
        self.client().print(config).await.expect("cannot print")
    }

    /// Writes a PNG of the viewport to `target/screenshots/{name}` and returns its path.
    ///
    /// # Panics
    ///
    /// When the browser or the disk refuses.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client().screenshot().await.expect("cannot screenshot");
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).expect("cannot create the screenshot directory");
        let path = dir.join(name);
        std::fs::write(&path, png).expect("cannot write the screenshot");
        eprintln!("screenshot: {}", path.display());
        path
    }
}

/// What an axe-core audit of a page found at the impacts that fail a test ("critical" and
/// "serious"): one entry per rule, with the nodes it flagged.
#[derive(Debug, Clone)]
pub struct AxeViolation {
    /// The rule's id, e.g. `label` or `color-contrast`.
    pub rule: String,
    /// `critical` or `serious`.
    pub impact: String,
    /// What the rule asks for.
    pub help: String,
    /// One line per flagged node: its CSS selector and axe's summary of what is wrong.
    pub nodes: Vec<String>,
}

impl std::fmt::Display for AxeViolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "[{}] {}: {}", self.impact, self.rule, self.help)?;
        for node in &self.nodes {
            writeln!(f, "    {node}")?;
        }
        Ok(())
    }
}

/// The WCAG 2.x A/AA and best-practice rule sets every audit runs.
pub const AXE_TAGS: [&str; 6] = [
    "wcag2a",
    "wcag2aa",
    "wcag21a",
    "wcag21aa",
    "wcag22aa",
    "best-practice",
];

/// Where `.ci/run` (`npm ci` in `tests/`) installs axe-core.
pub fn axe_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("node_modules/axe-core/axe.min.js")
}

/// axe-core's script, or `None` (after printing why) when `npm ci` has not been run in
/// `tests/` outside CI.
///
/// # Panics
///
/// When it is missing under CI (`CI` set), where `.ci/run` installs it.
pub fn axe_source() -> Option<String> {
    let path = axe_path();
    match std::fs::read_to_string(&path) {
        Ok(source) => Some(source),
        Err(e) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "accessibility tests must run in CI, but {} cannot be read: {e}",
                path.display()
            );
            eprintln!(
                "skipping accessibility test: {} cannot be read ({e}); run `npm ci` in tests/",
                path.display()
            );
            None
        }
    }
}

impl Browser {
    /// Runs axe-core (`source`, from [`axe_source`]) on the page as it is now and returns
    /// its critical and serious violations. The script is handed over by WebDriver, which
    /// the page's Content-Security-Policy does not govern; the page itself is unchanged.
    ///
    /// # Panics
    ///
    /// When the browser cannot run the audit.
    pub async fn axe(&self, source: &str) -> Vec<AxeViolation> {
        let loaded = self.js("return typeof window.axe === 'object';").await;
        if loaded.as_bool() != Some(true) {
            self.client()
                .execute(&format!("{source}\n;return typeof window.axe;"), vec![])
                .await
                .unwrap_or_else(|e| panic!("cannot load axe-core into the page: {e}"));
        }
        let result = self
            .client()
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 window.axe.run(document, { runOnly: { type: 'tag', values: arguments[0] }, resultTypes: ['violations'] })
                   .then((r) => done({ ok: r.violations.filter((v) => v.impact === 'critical' || v.impact === 'serious')
                       .map((v) => ({ rule: v.id, impact: v.impact, help: v.help,
                         nodes: v.nodes.map((n) => n.target.join(' ') + ' — ' + (n.failureSummary || '').replace(/\\s+/g, ' ')) })) }),
                         (e) => done({ error: String(e) }));",
                vec![json!(AXE_TAGS)],
            )
            .await
            .unwrap_or_else(|e| panic!("axe-core did not run: {e}"));
        if let Some(error) = result.get("error") {
            panic!("axe-core failed: {error}");
        }
        let list = result["ok"].as_array().cloned().unwrap_or_default();
        list.into_iter()
            .map(|v| AxeViolation {
                rule: v["rule"].as_str().unwrap_or_default().to_owned(),
                impact: v["impact"].as_str().unwrap_or_default().to_owned(),
                help: v["help"].as_str().unwrap_or_default().to_owned(),
                nodes: v["nodes"]
                    .as_array()
                    .map(|n| {
                        n.iter()
                            .filter_map(|x| x.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default(),
            })
            .collect()
    }

    /// How much wider than the viewport the document is (0 when it fits): the page's
    /// `scrollWidth` less `innerWidth`.
    ///
    /// # Panics
    ///
    /// When the browser cannot say.
    pub async fn horizontal_overflow(&self) -> i64 {
        self.js("return Math.max(document.documentElement.scrollWidth, document.body.scrollWidth) - window.innerWidth;")
            .await
            .as_i64()
            .expect("a width")
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            // Best effort: the session ends with chromedriver anyway.
            let _ = close_session(client);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn close_session(client: Client) -> Option<()> {
    let handle = tokio::runtime::Handle::try_current().ok()?;
    tokio::task::block_in_place(|| handle.block_on(client.close()).ok())
}

/// `POST /session/{id}/goog/cdp/execute`: chromedriver's door to the DevTools Protocol.
#[derive(Debug)]
struct Cdp {
    cmd: String,
    params: Value,
}

impl fantoccini::wd::WebDriverCompatibleCommand for Cdp {
    fn endpoint(
        &self,
        base_url: &reqwest::Url,
        session_id: Option<&str>,
    ) -> Result<reqwest::Url, <reqwest::Url as std::str::FromStr>::Err> {
        base_url.join(&format!(
            "session/{}/goog/cdp/execute",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &reqwest::Url) -> (reqwest::Method, Option<String>) {
        let body = json!({ "cmd": self.cmd, "params": self.params });
        (reqwest::Method::POST, Some(body.to_string()))
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("cannot find a free port")
}

/// `target/screenshots/`, under `CARGO_TARGET_DIR` when set.
pub fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("screenshots")
}
