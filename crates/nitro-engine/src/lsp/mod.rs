//! Language intelligence: real language servers, run by the engine (so a
//! headless peer serves too), fed every peer's edits as they happen.
//!
//! One task owns the servers. A server starts when a file of its language
//! is first opened, is started again if it exits (each time said as a
//! [`LspEvent::Status`]), and stops with the engine. Documents are synced
//! as whole texts with increasing versions; requests and results travel as
//! LSP JSON in which documents are `nitro:/<path>` ([`uris`]).

pub mod rpc;
pub mod servers;
pub mod uris;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot};

use crate::path::RelPath;
use crate::tasks::Tasks;
use rpc::Rpc;
pub use servers::ServerConfig;
use uris::Uris;

/// A server that does not answer `initialize` in this time is given up.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// A server that exits this often within [`CRASH_WINDOW`] is not started again.
const MAX_CRASHES: usize = 3;
const CRASH_WINDOW: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum LspError {
    #[error("language server: {0}")]
    Io(String),
    #[error("language server protocol: {0}")]
    Protocol(&'static str),
    #[error("the language server answered: {0}")]
    Server(String),
    #[error("the language server stopped")]
    Gone,
    #[error("{0} is not a document of this workspace")]
    Outside(String),
    #[error("no language server for {0}")]
    NoServer(String),
}

/// What the servers tell the engine's users.
#[derive(Debug, Clone, PartialEq)]
pub enum LspEvent {
    /// The problems a server sees in a file now (LSP `Diagnostic`s, with
    /// `nitro:/` names).
    Diagnostics { path: RelPath, diagnostics: Value },
    /// A server started, stopped or could not be found.
    Status { language: String, state: ServerState, message: String },
}

/// A language server's state, as the window shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum ServerState {
    Running,
    /// It exited and is being started again.
    Restarting,
    /// Not installed, or it failed too often: its language has no server here.
    Missing,
}

enum Cmd {
    Open { path: RelPath, text: String },
    Change { path: RelPath, text: String },
    Request { path: RelPath, method: String, params: Value, reply: oneshot::Sender<Result<Value, LspError>> },
    Notice { language: String, method: String, params: Value },
    Exited { language: String },
    Shutdown(oneshot::Sender<()>),
}

/// The engine's handle on the language servers' task.
#[derive(Clone)]
pub struct Languages {
    tx: mpsc::UnboundedSender<Cmd>,
}

impl Languages {
    /// Serves the workspace at `root` with `servers`; events go to `events`.
    pub fn start(root: &Path, servers: Vec<ServerConfig>, events: mpsc::UnboundedSender<LspEvent>, tasks: &Tasks) -> Result<Self, LspError> {
        let (tx, rx) = mpsc::unbounded_channel();
        let task = Task {
            root: root.to_path_buf(),
            uris: Uris::new(root)?,
            configs: servers,
            running: HashMap::new(),
            crashes: HashMap::new(),
            missing: Vec::new(),
            docs: HashMap::new(),
            events,
            tx: tx.clone(),
            tasks: tasks.clone(),
        };
        tasks.spawn(task.run(rx));
        Ok(Self { tx })
    }

    /// An editor opened `path`: its server (started if needed) gets its text.
    pub fn open(&self, path: RelPath, text: String) {
        let _ = self.tx.send(Cmd::Open { path, text });
    }

    /// The text of an open document changed (anyone's edit).
    pub fn change(&self, path: RelPath, text: String) {
        let _ = self.tx.send(Cmd::Change { path, text });
    }

    /// Stops every server (the engine stops); returns once they exited.
    pub async fn shutdown(&self) {
        let (done, stopped) = oneshot::channel();
        if self.tx.send(Cmd::Shutdown(done)).is_ok() {
            let _ = stopped.await;
        }
    }

    /// An LSP request about `path`, in `nitro:/` names; answers in them too.
    pub async fn request(&self, path: RelPath, method: String, params: Value) -> Result<Value, LspError> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(Cmd::Request { path, method, params, reply }).map_err(|_| LspError::Gone)?;
        rx.await.map_err(|_| LspError::Gone)?
    }
}

struct Running {
    rpc: Rpc,
    child: Child,
}

struct Doc {
    language: String,
    version: i64,
    text: String,
}

struct Task {
    root: PathBuf,
    uris: Uris,
    configs: Vec<ServerConfig>,
    running: HashMap<String, Running>,
    crashes: HashMap<String, Vec<Instant>>,
    /// Languages said to have no server, so that is said once.
    missing: Vec<String>,
    docs: HashMap<RelPath, Doc>,
    events: mpsc::UnboundedSender<LspEvent>,
    tx: mpsc::UnboundedSender<Cmd>,
    tasks: Tasks,
}

impl Task {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Cmd>) {
        let mut stopped = None;
        while let Some(cmd) = rx.recv().await {
            match cmd {
                Cmd::Open { path, text } => self.open(path, text).await,
                Cmd::Change { path, text } => self.change(&path, text),
                Cmd::Request { path, method, params, reply } => self.request(path, method, params, reply).await,
                Cmd::Notice { language, method, params } => self.notice(&language, &method, params),
                Cmd::Exited { language } => self.exited(language).await,
                Cmd::Shutdown(done) => {
                    stopped = Some(done);
                    break;
                }
            }
        }
        // The engine stopped: its servers stop with it (killed on drop if they linger).
        // A server that exits on its own takes its helpers (TypeScript's tsserver, say) with it.
        for (_, mut server) in self.running.drain() {
            let _ = tokio::time::timeout(Duration::from_secs(2), server.rpc.request("shutdown", Value::Null)).await;
            let _ = server.rpc.notify("exit", Value::Null);
            let _ = tokio::time::timeout(Duration::from_secs(2), server.child.wait()).await;
        }
        if let Some(done) = stopped {
            let _ = done.send(());
        }
    }

    async fn open(&mut self, path: RelPath, text: String) {
        let Some(config) = servers::for_path(&self.configs, &path).cloned() else { return };
        if self.docs.contains_key(&path) {
            self.change(&path, text);
            return;
        }
        if !self.ensure(&config).await {
            return;
        }
        let Some(server) = self.running.get(&config.language) else { return };
        let name = Uris::name(&path);
        let mut params = json!({"textDocument": {"uri": name, "languageId": servers::language_id(&config, &path), "version": 1, "text": text}});
        if self.uris.to_server(&mut params).is_ok() {
            let _ = server.rpc.notify("textDocument/didOpen", params);
        }
        self.docs.insert(path, Doc { language: config.language, version: 1, text });
    }

    fn change(&mut self, path: &RelPath, text: String) {
        let Some(doc) = self.docs.get_mut(path) else { return };
        if doc.text == text {
            return;
        }
        doc.version += 1;
        doc.text = text;
        let Some(server) = self.running.get(&doc.language) else { return };
        let mut params = json!({"textDocument": {"uri": Uris::name(path), "version": doc.version}, "contentChanges": [{"text": doc.text}]});
        if self.uris.to_server(&mut params).is_ok() {
            let _ = server.rpc.notify("textDocument/didChange", params);
        }
    }

    async fn request(&mut self, path: RelPath, method: String, mut params: Value, reply: oneshot::Sender<Result<Value, LspError>>) {
        let language = match servers::for_path(&self.configs, &path) {
            Some(c) if self.running.contains_key(&c.language) => c.language.clone(),
            _ => {
                let _ = reply.send(Err(LspError::NoServer(path.to_string())));
                return;
            }
        };
        if let Err(e) = self.uris.to_server(&mut params) {
            let _ = reply.send(Err(e));
            return;
        }
        let Some(rpc) = self.running.get(&language).map(|s| s.rpc.clone()) else { return };
        let uris = self.uris.clone();
        // Answers come while the task goes on with other documents.
        self.tasks.spawn(async move {
            let result = match rpc.request(&method, params).await {
                Ok(mut v) => {
                    uris.to_user(&mut v);
                    Ok(v)
                }
                Err(LspError::Server(e)) => Err(LspError::Server(uris.user_text(&e))),
                Err(e) => Err(e),
            };
            let _ = reply.send(result);
        });
    }

    fn notice(&mut self, language: &str, method: &str, mut params: Value) {
        if method != "textDocument/publishDiagnostics" {
            return;
        }
        self.uris.to_user(&mut params);
        let Some(path) = params.get("uri").and_then(Value::as_str).and_then(|u| Uris::path_of(u).ok()) else { return };
        if self.docs.get(&path).is_none_or(|d| d.language != language) {
            return;
        }
        let diagnostics = params.get("diagnostics").cloned().unwrap_or_else(|| json!([]));
        let _ = self.events.send(LspEvent::Diagnostics { path, diagnostics });
    }

    /// A server's output ended: it is started again with its documents,
    /// unless it keeps failing.
    async fn exited(&mut self, language: String) {
        if self.running.remove(&language).is_none() {
            return;
        }
        let now = Instant::now();
        let crashes = self.crashes.entry(language.clone()).or_default();
        crashes.retain(|at| now.duration_since(*at) < CRASH_WINDOW);
        crashes.push(now);
        if crashes.len() > MAX_CRASHES {
            self.status(&language, ServerState::Missing, format!("the {language} language server keeps stopping; it is not started again"));
            self.missing.push(language.clone());
            self.docs.retain(|_, d| d.language != language);
            return;
        }
        self.status(&language, ServerState::Restarting, format!("the {language} language server stopped; starting it again"));
        let Some(config) = self.configs.iter().find(|c| c.language == language).cloned() else { return };
        let reopen: Vec<(RelPath, String)> =
            self.docs.iter().filter(|(_, d)| d.language == language).map(|(p, d)| (p.clone(), d.text.clone())).collect();
        self.docs.retain(|_, d| d.language != language);
        if self.ensure(&config).await {
            for (path, text) in reopen {
                self.open(path, text).await;
            }
        }
    }

    /// Starts the server of `config` unless it runs; false when there is none.
    async fn ensure(&mut self, config: &ServerConfig) -> bool {
        if self.running.contains_key(&config.language) {
            return true;
        }
        if self.missing.contains(&config.language) {
            return false;
        }
        match self.spawn(config).await {
            Ok(server) => {
                self.running.insert(config.language.clone(), server);
                self.status(&config.language, ServerState::Running, format!("{} language server started", config.language));
                true
            }
            Err(e) => {
                self.missing.push(config.language.clone());
                self.status(&config.language, ServerState::Missing, format!("no {} language server: {e}", config.language));
                false
            }
        }
    }

    async fn spawn(&self, config: &ServerConfig) -> Result<Running, LspError> {
        let program = config
            .program()
            .ok_or_else(|| LspError::Io(format!("{} is not installed (or not on PATH)", config.command.first().map_or("", String::as_str))))?;
        let mut child = Command::new(program)
            .args(config.command.iter().skip(1))
            .current_dir(&self.root)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| LspError::Io(e.to_string()))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(LspError::Io("no pipes to the server".into()));
        };
        let (rpc, mut notices) = Rpc::start(stdout, stdin, &self.tasks);
        let (tx, language) = (self.tx.clone(), config.language.clone());
        self.tasks.spawn(async move {
            while let Some((method, params)) = notices.recv().await {
                // Diagnostics are all the task reads; log floods go no further.
                if method == "textDocument/publishDiagnostics" {
                    let _ = tx.send(Cmd::Notice { language: language.clone(), method, params });
                }
            }
            let _ = tx.send(Cmd::Exited { language });
        });
        let params = json!({
            "processId": std::process::id(),
            "rootUri": self.uris.root(),
            "workspaceFolders": [{"uri": self.uris.root(), "name": "workspace"}],
            "capabilities": {
                "textDocument": {
                    "synchronization": {"didSave": false, "dynamicRegistration": false},
                    "publishDiagnostics": {"relatedInformation": true},
                    "hover": {"contentFormat": ["markdown", "plaintext"]},
                    "completion": {"completionItem": {"snippetSupport": true, "documentationFormat": ["markdown", "plaintext"]}},
                    "signatureHelp": {"signatureInformation": {"documentationFormat": ["markdown", "plaintext"]}},
                    "definition": {"linkSupport": false},
                    "references": {},
                    "rename": {"prepareSupport": false},
                    "formatting": {},
                },
                "workspace": {"workspaceFolders": true, "applyEdit": false},
            },
        });
        tokio::time::timeout(START_TIMEOUT, rpc.request("initialize", params))
            .await
            .map_err(|_| LspError::Io("it did not start in time".into()))??;
        rpc.notify("initialized", json!({}))?;
        Ok(Running { rpc, child })
    }

    fn status(&self, language: &str, state: ServerState, message: String) {
        tracing::info!(%language, "{message}");
        let _ = self.events.send(LspEvent::Status { language: language.to_owned(), state, message });
    }
}
