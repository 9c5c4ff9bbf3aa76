//! What a peer keeps in its state folder (`.nitro/` inside the workspace,
//! never shared), so it can stop and come back as the same peer:
//!
//! - `session.json`: session id, role, this peer's id; for the host also the
//!   invite secret and signaling port, so its invite link survives restarts.
//! - `identity.pem`: the host's DTLS certificate and key (pinned by invites).
//! - `document.automerge`: the workspace document.
//! - `files.json`: which entries this peer has on disk, and where.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::EngineError;
use crate::doc::{FileId, WorkspaceDoc};
use crate::fs::Sandbox;
use crate::link::Identity;
use crate::path::RelPath;
use crate::protocol::{PeerId, Secret, SessionId};

const SESSION: &str = "session.json";
const IDENTITY: &str = "identity.pem";
const DOCUMENT: &str = "document.automerge";
const FILES: &str = "files.json";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Host,
    Guest,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedSession {
    pub session: String,
    pub role: Role,
    pub peer: PeerId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// The host's signaling port, reused at restart so invites keep working.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
}

impl SavedSession {
    pub fn session_id(&self) -> Result<SessionId, EngineError> {
        SessionId::from_hex(&self.session).ok_or_else(|| EngineError::State("session id in session.json is malformed".into()))
    }

    pub fn secret(&self) -> Result<Secret, EngineError> {
        self.secret
            .as_deref()
            .and_then(Secret::from_base64)
            .ok_or_else(|| EngineError::State("the secret in session.json is missing or malformed".into()))
    }
}

pub fn load_session(sb: &Sandbox) -> Result<Option<SavedSession>, EngineError> {
    match sb.read_state(SESSION)? {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| EngineError::State(format!("{SESSION}: {e}"))),
    }
}

pub fn save_session(sb: &Sandbox, s: &SavedSession) -> Result<(), EngineError> {
    let json = serde_json::to_vec_pretty(s).map_err(|e| EngineError::State(e.to_string()))?;
    Ok(sb.write_state(SESSION, &json)?)
}

pub fn load_identity(sb: &Sandbox) -> Result<Option<Identity>, EngineError> {
    match sb.read_state(IDENTITY)? {
        None => Ok(None),
        Some(pem) => {
            let pem = String::from_utf8(pem).map_err(|_| EngineError::State(format!("{IDENTITY} is not text")))?;
            Ok(Some(Identity::from_pem(&pem)?))
        }
    }
}

pub fn save_identity(sb: &Sandbox, id: &Identity) -> Result<(), EngineError> {
    Ok(sb.write_state(IDENTITY, id.to_pem()?.as_bytes())?)
}

/// The saved document and the entries on disk; `None` when nothing was saved.
pub fn load_document(sb: &Sandbox) -> Result<Option<(WorkspaceDoc, BTreeMap<FileId, RelPath>)>, EngineError> {
    let Some(bytes) = sb.read_state(DOCUMENT)? else { return Ok(None) };
    let doc = WorkspaceDoc::load(&bytes)?;
    let mut files = BTreeMap::new();
    if let Some(json) = sb.read_state(FILES)? {
        let raw: BTreeMap<String, String> =
            serde_json::from_slice(&json).map_err(|e| EngineError::State(format!("{FILES}: {e}")))?;
        for (id, path) in raw {
            if let (Some(id), Ok(path)) = (FileId::parse(&id), RelPath::new(&path)) {
                files.insert(id, path);
            }
        }
    }
    Ok(Some((doc, files)))
}

pub fn save_document(sb: &Sandbox, doc: &mut WorkspaceDoc, files: &BTreeMap<FileId, RelPath>) -> Result<(), EngineError> {
    sb.write_state(DOCUMENT, &doc.save())?;
    let raw: BTreeMap<&str, &str> = files.iter().map(|(id, p)| (id.as_str(), p.as_str())).collect();
    let json = serde_json::to_vec(&raw).map_err(|e| EngineError::State(e.to_string()))?;
    Ok(sb.write_state(FILES, &json)?)
}
