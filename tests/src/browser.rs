//! A minimal W3C WebDriver client for headless Chromium (chromium-driver): enough to
//! sign in, type, click, read the page and take screenshots.

use crate::free_port;
use std::io::Read as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{json, Value};

/// The key W3C WebDriver uses for element references.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

#[derive(Debug)]
pub struct Browser {
    driver: Child,
    base: String,
    session: String,
}

fn call(method: &str, url: &str, body: Option<Value>) -> Result<Value, String> {
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(60))
        .build();
    let request = agent.request(method, url);
    let result = match body {
        Some(body) => request.send_json(body),
        None => request.call(),
    };
    let response = match result {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => return Err(e.to_string()),
    };
    let mut text = String::new();
    response
        .into_reader()
        .take(64 * 1024 * 1024)
        .read_to_string(&mut text)
        .map_err(|e| e.to_string())?;
    let value: Value = serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))?;
    if let Some(error) = value["value"]["error"].as_str() {
        return Err(format!("{error}: {}", value["value"]["message"]));
    }
    Ok(value["value"].clone())
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session. Fails (it does not skip)
    /// when they are missing: `.ci/run` installs them.
    pub fn start() -> Browser {
        let port = free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver runs (Debian packages chromium and chromium-driver)");
        let base = format!("http://127.0.0.1:{port}");
        crate::wait_for("chromedriver to answer", Duration::from_secs(30), || {
            call("GET", &format!("{base}/status"), None)
                .ok()
                .filter(|s| s["ready"] == json!(true))
        });
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless", "--no-sandbox", "--disable-gpu",
                         "--disable-background-networking", "--disable-dev-shm-usage",
                         "--window-size=1280,1000"]
            }
        }}});
        let session = call("POST", &format!("{base}/session"), Some(capabilities))
            .expect("a browser session");
        Browser {
            driver,
            session: session["sessionId"]
                .as_str()
                .expect("session id")
                .to_string(),
            base,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/session/{}{path}", self.base, self.session)
    }

    pub fn goto(&self, url: &str) {
        call("POST", &self.url("/url"), Some(json!({ "url": url }))).expect("navigates");
    }

    /// Runs `script` in the page (its `arguments` are `args`) and returns its result.
    pub fn run(&self, script: &str, args: Value) -> Value {
        call(
            "POST",
            &self.url("/execute/sync"),
            Some(json!({ "script": script, "args": args })),
        )
        .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    fn element(&self, css: &str) -> String {
        let found = call(
            "POST",
            &self.url("/element"),
            Some(json!({"using": "css selector", "value": css})),
        )
        .unwrap_or_else(|e| panic!("no element {css}: {e}"));
        match found[ELEMENT_KEY].as_str() {
            Some(id) => id.to_string(),
            None => panic!("no element {css}: {found}"),
        }
    }

    pub fn click(&self, css: &str) {
        let id = self.element(css);
        call(
            "POST",
            &self.url(&format!("/element/{id}/click")),
            Some(json!({})),
        )
        .unwrap_or_else(|e| panic!("cannot click {css}: {e}"));
    }

    /// Clicks the first element matching `css` if there is one, in the page itself:
    /// no element reference is held across a re-render (a list the live feed
    /// redraws). Returns whether it clicked.
    pub fn click_first(&self, css: &str) -> bool {
        self.run(
            "const e = document.querySelector(arguments[0]); if (!e) return false; e.click(); return true;",
            json!([css]),
        ) == json!(true)
    }

    /// Types into a field, as a keyboard would (after clearing it).
    pub fn type_into(&self, css: &str, text: &str) {
        let id = self.element(css);
        call(
            "POST",
            &self.url(&format!("/element/{id}/clear")),
            Some(json!({})),
        )
        .unwrap_or_else(|e| panic!("cannot clear {css}: {e}"));
        call(
            "POST",
            &self.url(&format!("/element/{id}/value")),
            Some(json!({ "text": text })),
        )
        .unwrap_or_else(|e| panic!("cannot type into {css}: {e}"));
    }

    /// Chooses a local file in a file input, as the file picker would.
    pub fn choose_file(&self, css: &str, path: &std::path::Path) {
        let id = self.element(css);
        call(
            "POST",
            &self.url(&format!("/element/{id}/value")),
            Some(json!({ "text": path.to_str().expect("utf-8 path") })),
        )
        .unwrap_or_else(|e| panic!("cannot choose {} in {css}: {e}", path.display()));
    }

    /// Fills the alert form with the sample alert, typing where an officer types.
    pub fn fill_alert_form(&self, reference: &str, container: &str) {
        self.type_into("#a-reference", reference);
        self.set("#a-category", "drugs");
        self.set("#a-severity", "high");
        self.type_into("#a-hs", "080390");
        self.type_into("#a-description", "Cocaine concealed in banana boxes");
        self.type_into("#a-amount", "125.5");
        self.set("#a-unit", "KGM");
        self.set("#a-detected", "2026-11-20");
        self.type_into("#a-unlocode", "NLRTM");
        self.set("#a-place", "seaport");
        self.set("#a-method", "xray");
        self.set("#a-concealment", "in_cargo");
        self.set("#a-mode", "sea");
        self.type_into("#a-containers", container);
        self.type_into("#a-imo", "9074729");
        self.set("#a-origin", "EC");
        self.type_into("#a-transit", "PA");
        self.set("#a-destination", "NL");
        self.type_into(
            "#a-indicators",
            "reefer container\nfirst shipment of a new consignee",
        );
        self.set("#a-valid", "2027-05-20");
    }

    /// Sets a select's or date input's value and fires its input and change events.
    pub fn set(&self, css: &str, value: &str) {
        let done = self.run(
            "const e = document.querySelector(arguments[0]); if (!e) return false;
             e.value = arguments[1];
             e.dispatchEvent(new Event('input', {bubbles: true}));
             e.dispatchEvent(new Event('change', {bubbles: true}));
             return e.value === arguments[1];",
            json!([css, value]),
        );
        assert_eq!(done, json!(true), "cannot set {css} to {value:?}");
    }

    /// The visible text of the first element matching `css` ("" when none).
    pub fn text(&self, css: &str) -> String {
        self.run(
            "const e = document.querySelector(arguments[0]); return e ? e.innerText : '';",
            json!([css]),
        )
        .as_str()
        .unwrap_or_default()
        .to_string()
    }

    pub fn visible(&self, css: &str) -> bool {
        self.run(
            "const e = document.querySelector(arguments[0]);
             return !!e && !e.closest('[hidden]') && e.getClientRects().length > 0;",
            json!([css]),
        ) == json!(true)
    }

    /// Waits until `condition` holds, or fails naming `what` after `timeout`; a
    /// failure saves a screenshot (`failed-...png`) and shows the page's text.
    pub fn wait(&self, what: &str, timeout: Duration, mut condition: impl FnMut(&Browser) -> bool) {
        let deadline = std::time::Instant::now() + timeout;
        while !condition(self) {
            if std::time::Instant::now() >= deadline {
                let shot = self.screenshot(&format!("failed-{}", what.replace(' ', "-")));
                panic!(
                    "timed out after {timeout:?} waiting for {what}; screenshot {}; page:\n{}",
                    shot.display(),
                    self.text("body")
                );
            }
            std::thread::park_timeout(crate::cluster::POLL_INTERVAL * 5);
        }
    }

    /// The accessibility audit of axe-core (Deque's engine, vendored in
    /// tests/fixtures/axe-core) on the page as it is: the violations of impact
    /// serious or critical, each as `rule (impact): help; targets`.
    pub fn audit(&self) -> Vec<String> {
        const AXE: &str = include_str!("../fixtures/axe-core/axe.min.js");
        if self.run("return typeof window.axe;", json!([])) != json!("object") {
            self.run(&format!("{AXE}\nreturn true;"), json!([]));
        }
        self.run(
            "window.__audit = null;
             axe.run(document, {resultTypes: ['violations']})
               .then((r) => { window.__audit = r.violations; })
               .catch((e) => { window.__audit = [{id: 'axe-failed', impact: 'critical', help: String(e), nodes: []}]; });
             return true;",
            json!([]),
        );
        let mut violations = Value::Null;
        self.wait("the accessibility audit", Duration::from_secs(60), |b| {
            violations = b.run("return window.__audit;", json!([]));
            !violations.is_null()
        });
        violations
            .as_array()
            .into_iter()
            .flatten()
            .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
            .map(|v| {
                let targets: Vec<String> = v["nodes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|n| n["target"].to_string())
                    .take(5)
                    .collect();
                format!(
                    "{} ({}): {}; {}",
                    v["id"].as_str().unwrap_or("?"),
                    v["impact"].as_str().unwrap_or("?"),
                    v["help"].as_str().unwrap_or(""),
                    targets.join(" ")
                )
            })
            .collect()
    }

    /// Renders the page for `media` ("print", or "" for the screen again), through
    /// Chromium's DevTools protocol, as printing would.
    pub fn emulate_media(&self, media: &str) {
        call(
            "POST",
            &self.url("/goog/cdp/execute"),
            Some(json!({"cmd": "Emulation.setEmulatedMedia", "params": {"media": media}})),
        )
        .unwrap_or_else(|e| panic!("cannot emulate media {media:?}: {e}"));
    }

    /// Saves a PNG of the page as target/console-screenshots/NAME.png.
    pub fn screenshot(&self, name: &str) -> PathBuf {
        let data = call("GET", &self.url("/screenshot"), None).expect("screenshot");
        let png = base64::engine::general_purpose::STANDARD
            .decode(data.as_str().expect("base64"))
            .expect("png");
        let dir = target_dir().join("console-screenshots");
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("screenshot written");
        path
    }
}

/// target/, from the test executable's path (target/<profile>/deps/<test>).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    exe.ancestors()
        .nth(3)
        .expect("target/<profile>/deps/<test>")
        .to_path_buf()
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = call("DELETE", &self.url(""), None);
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
