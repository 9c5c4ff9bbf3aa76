//! The actor's side of language intelligence: it opens documents in the
//! language servers and keeps their texts current after every edit, this
//! peer's or another's, and passes requests on in order after them.

use std::collections::HashMap;

use serde_json::Value;
use tokio::sync::oneshot;

use super::Actor;
use crate::doc::content_hash;
use crate::engine::{EngineError, EngineEvent};
use crate::lsp::{Languages, LspEvent};
use crate::path::RelPath;

/// Documents open in a language server, with the hash of the text it has.
pub(super) type Opened = HashMap<RelPath, String>;

impl Actor {
    /// Starts the language servers' task: the configured servers, then the
    /// defaults; what they report becomes engine events.
    pub fn serve_languages(&mut self, configured: &[crate::lsp::ServerConfig]) -> Result<(), EngineError> {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        self.lsp_servers = crate::lsp::servers::merged(configured);
        self.lsp = Some(Languages::start(self.ws.sandbox().root(), self.lsp_servers.clone(), tx)?);
        let events = self.events.clone();
        tokio::spawn(async move {
            while let Some(ev) = rx.recv().await {
                let _ = events.send(match ev {
                    LspEvent::Diagnostics { path, diagnostics } => EngineEvent::Diagnostics { path, diagnostics },
                    LspEvent::Status { language, state, message } => EngineEvent::LanguageServer { language, state, message },
                });
            }
        });
        Ok(())
    }

    /// An editor opened `path`: its server gets it. False when no server is
    /// configured for its language.
    pub(super) fn lsp_open(&mut self, path: RelPath) -> Result<bool, EngineError> {
        let Some(lsp) = &self.lsp else { return Ok(false) };
        if !Languages::serves(&self.lsp_servers, &path) {
            return Ok(false);
        }
        let (text, _) = self.ws.text(&path)?;
        self.lsp_opened.insert(path.clone(), content_hash(&text));
        lsp.open(path, text);
        Ok(true)
    }

    /// Sends the servers the new text of every open document among `paths`
    /// (all of them when `None`) whose text changed.
    pub(super) fn lsp_sync(&mut self, paths: Option<&[RelPath]>) {
        let Some(lsp) = self.lsp.clone() else { return };
        let open: Vec<RelPath> = match paths {
            Some(p) => p.iter().filter(|p| self.lsp_opened.contains_key(*p)).cloned().collect(),
            None => self.lsp_opened.keys().cloned().collect(),
        };
        for path in open {
            let Ok((text, _)) = self.ws.text(&path) else {
                self.lsp_opened.remove(&path);
                continue;
            };
            let hash = content_hash(&text);
            if self.lsp_opened.get(&path) != Some(&hash) {
                self.lsp_opened.insert(path.clone(), hash);
                lsp.change(path, text);
            }
        }
    }

    /// A request about `path`: the server has its current text first.
    pub(super) fn lsp_request(&mut self, path: RelPath, method: String, params: Value, reply: oneshot::Sender<Result<Value, EngineError>>) {
        let Some(lsp) = self.lsp.clone() else {
            let _ = reply.send(Err(crate::lsp::LspError::NoServer(path.to_string()).into()));
            return;
        };
        self.lsp_sync(Some(std::slice::from_ref(&path)));
        tokio::spawn(async move {
            let _ = reply.send(lsp.request(path, method, params).await.map_err(EngineError::from));
        });
    }
}
