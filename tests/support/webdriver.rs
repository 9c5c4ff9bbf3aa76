//! The desktop app under test: a private X display (Xvfb), `tauri-driver`
//! with WebKitWebDriver, and a minimal W3C WebDriver client for one session.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::free_port;

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Xvfb, tauri-driver and a WebDriver session on the app; all stopped when
/// dropped.
pub struct App {
    base: String,
    session: String,
    display: Child,
    driver: Child,
}

impl App {
    /// Starts the app binary at `app` on a new virtual display.
    pub fn start(app: &Path, log: &Path) -> Result<Self> {
        Self::start_with(app, log, &[])
    }

    /// [`Self::start`], the app's process getting these environment variables.
    pub fn start_with(app: &Path, log: &Path, env: &[(&str, String)]) -> Result<Self> {
        let n = (100..200).find(|n| display_free(*n)).context("no free X display number")?;
        let display = Command::new("Xvfb")
            .args([format!(":{n}").as_str(), "-screen", "0", "1280x800x24", "-nolisten", "tcp"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting Xvfb (Debian package xvfb)")?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while !Path::new(&format!("/tmp/.X11-unix/X{n}")).exists() {
            if Instant::now() > deadline {
                bail!("Xvfb did not start");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let (port, native) = (free_port()?, free_port()?);
        // A process group of its own: WebKitWebDriver, which it starts,
        // is stopped along with it.
        let driver = Command::new(tauri_driver())
            .process_group(0)
            .args(["--port", &port.to_string(), "--native-port", &native.to_string()])
            .env("DISPLAY", format!(":{n}"))
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(std::fs::File::create(log)?)
            .stderr(std::fs::File::create(log.with_extension("err"))?)
            .spawn()
            .context("starting tauri-driver (cargo install tauri-driver)")?;
        let base = format!("http://127.0.0.1:{port}");
        let caps = json!({"capabilities": {"alwaysMatch": {"tauri:options": {"application": app}}}});
        let deadline = Instant::now() + Duration::from_secs(30);
        let session = loop {
            match ureq::post(&format!("{base}/session")).send_json(caps.clone()) {
                Ok(r) => {
                    let v: Value = r.into_json()?;
                    break v["value"]["sessionId"].as_str().context("no session id")?.to_owned();
                }
                // tauri-driver is still starting.
                Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(200)),
                Err(e) => bail!("no WebDriver session: {e}"),
            }
        };
        Ok(Self { base, session, display, driver })
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value> {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let response = match body {
            Some(b) => ureq::request(method, &url).send_json(b),
            None => ureq::request(method, &url).call(),
        };
        match response {
            Ok(r) => Ok(r.into_json::<Value>()?["value"].clone()),
            Err(ureq::Error::Status(code, r)) => bail!("WebDriver {method} {path}: {code} {}", r.into_string().unwrap_or_default()),
            Err(e) => Err(e.into()),
        }
    }

    /// Runs `script` in the window and returns its value.
    pub fn eval(&self, script: &str) -> Result<Value> {
        self.call("POST", "/execute/sync", Some(json!({"script": script, "args": []})))
    }

    /// Runs an async function body (it may `await`) and returns its value.
    pub fn eval_async(&self, body: &str) -> Result<Value> {
        let script = format!(
            "const done = arguments[arguments.length - 1]; (async () => {{ {body} }})().then(v => done({{ok: v}}), e => done({{err: String(e)}}));"
        );
        let v = self.call("POST", "/execute/async", Some(json!({"script": script, "args": []})))?;
        match v.get("err") {
            Some(e) => bail!("script failed: {e}"),
            None => Ok(v["ok"].clone()),
        }
    }

    /// Waits for an element matching `css`, and returns its id.
    pub fn find(&self, css: &str, limit: Duration) -> Result<String> {
        let deadline = Instant::now() + limit;
        loop {
            match self.call("POST", "/element", Some(json!({"using": "css selector", "value": css}))) {
                Ok(v) => {
                    return v[ELEMENT].as_str().map(str::to_owned).context("no element id");
                }
                Err(e) if Instant::now() > deadline => {
                    return Err(e.context(format!("no element {css}")));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    pub fn click(&self, element: &str) -> Result<()> {
        self.call("POST", &format!("/element/{element}/click"), Some(json!({}))).map(drop)
    }

    /// Types `text` as key presses into whatever has focus.
    pub fn type_text(&self, text: &str) -> Result<()> {
        let mut actions = Vec::new();
        for c in text.chars() {
            let key = if c == '\n' { "\u{E007}".to_owned() } else { c.to_string() };
            actions.push(json!({"type": "keyDown", "value": key}));
            actions.push(json!({"type": "keyUp", "value": key}));
        }
        self.call("POST", "/actions", Some(json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]}))).map(drop)
    }

    /// Presses `keys` together (modifiers first, such as `\u{E009}` for
    /// Control), then lets them go in reverse order.
    pub fn chord(&self, keys: &[&str]) -> Result<()> {
        let mut actions: Vec<Value> = keys.iter().map(|k| json!({"type": "keyDown", "value": k})).collect();
        actions.extend(keys.iter().rev().map(|k| json!({"type": "keyUp", "value": k})));
        self.call("POST", "/actions", Some(json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]}))).map(drop)
    }

    /// Waits until `script` (an expression) is truthy.
    pub fn wait_until(&self, what: &str, script: &str, limit: Duration) -> Result<()> {
        let deadline = Instant::now() + limit;
        loop {
            if self.eval(&format!("return !!({script});"))?.as_bool() == Some(true) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("the window never showed {what}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A PNG of the window.
    pub fn screenshot(&self) -> Result<Vec<u8>> {
        use base64::Engine;
        let v = self.call("GET", "/screenshot", None)?;
        Ok(base64::engine::general_purpose::STANDARD.decode(v.as_str().context("screenshot")?)?)
    }
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = ureq::delete(&format!("{}/session/{}", self.base, self.session)).call();
        let _ = Command::new("kill").arg("--").arg(format!("-{}", self.driver.id())).status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        // Asked to stop, Xvfb removes its socket and lock; killed, it would leave them.
        let _ = Command::new("kill").arg("-TERM").arg(self.display.id().to_string()).status();
        let _ = self.display.wait();
    }
}

/// Whether X display `n` is free: no server holds it. A lock whose process
/// is gone (an Xvfb that was killed) is stale: it and its socket are removed.
fn display_free(n: u32) -> bool {
    let (lock, socket) = (format!("/tmp/.X{n}-lock"), format!("/tmp/.X11-unix/X{n}"));
    let holder = std::fs::read_to_string(&lock).ok().and_then(|pid| pid.trim().parse::<u32>().ok());
    match holder {
        Some(pid) if Path::new(&format!("/proc/{pid}")).exists() => false,
        Some(_) => std::fs::remove_file(&lock).is_ok() && (std::fs::remove_file(&socket).is_ok() || !Path::new(&socket).exists()),
        // No lock: free unless a socket without one is in the way.
        None => !Path::new(&socket).exists() || std::fs::remove_file(&socket).is_ok(),
    }
}

/// tauri-driver from PATH, or where `cargo install` puts it.
fn tauri_driver() -> std::path::PathBuf {
    let cargo_bin = std::env::var_os("CARGO_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")))
        .map(|d| d.join("bin/tauri-driver"));
    match cargo_bin {
        Some(p) if p.exists() => p,
        _ => "tauri-driver".into(),
    }
}
