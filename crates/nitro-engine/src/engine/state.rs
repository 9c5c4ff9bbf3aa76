//! What a peer keeps in its state folder (`.nitro/` inside the workspace,
//! never shared), so it can stop and come back as the same peer:
//!
//! - `session.json`: session id, role, this peer's id; for the host also the
//!   secrets of its links (and of links it replaced) and the signaling port,
//!   so its invite links survive restarts.
//! - `membership`: the host's newest signed word on members and roles.
//! - `identity.pem`: the host's DTLS certificate and key (pinned by invites).
//! - `document.automerge` and `document.changes`: the workspace document, as a
//!   snapshot and the changes appended since.
//! - `files.json` and `files.log`: for each entry this peer has on disk, its
//!   path, the hash of the text written there and the document version of
//!   that text; a snapshot and the records appended since.
//!
//! - `ignores.json`: the `.gitignore` texts this peer's user stands behind
//!   (kept by `fs::ignore_rules`).
//!
//! Both logs are appended *before* a file is written, so after a crash the
//! peer knows which version each file on disk holds, and tells an edit made
//! while it was down from a write of its own that it did not record.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::EngineError;
use super::admission::Secrets;
use crate::doc::{FileId, WorkspaceDoc};
use crate::fs::Sandbox;
use crate::link::Identity;
use crate::path::RelPath;
use crate::protocol::{PeerId, Secret, SessionId};

const SESSION: &str = "session.json";
const IDENTITY: &str = "identity.pem";
const DOCUMENT: &str = "document.automerge";
const CHANGES: &str = "document.changes";
const FILES: &str = "files.json";
const FILES_LOG: &str = "files.log";

/// Whether this folder hosts its session or joined one.
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
    /// The host's read-only link's secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub view_secret: Option<String>,
    /// Secrets of links the host replaced: members may still come back with them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retired: Vec<String>,
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

    /// The host's secrets; a session saved before read-only links existed
    /// gets its read-only secret now.
    pub fn secrets(&self) -> Result<Secrets, EngineError> {
        let view = match self.view_secret.as_deref() {
            Some(s) => Secret::from_base64(s).ok_or_else(|| EngineError::State("the read-only secret in session.json is malformed".into()))?,
            None => Secret::random(),
        };
        let retired = self.retired.iter().filter_map(|s| Secret::from_base64(s)).collect();
        Ok(Secrets { edit: self.secret()?, view, retired })
    }

    /// Keeps `secrets` as the host's.
    pub fn set_secrets(&mut self, secrets: &Secrets) {
        self.secret = Some(secrets.edit.to_base64());
        self.view_secret = Some(secrets.view.to_base64());
        self.retired = secrets.retired.iter().map(Secret::to_base64).collect();
    }
}

pub fn load_session(sb: &Sandbox) -> Result<Option<SavedSession>, EngineError> {
    match sb.read_state(SESSION)? {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| EngineError::State(format!("{SESSION}: {e}"))),
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

/// What this peer last wrote to (or read from) one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    pub path: RelPath,
    /// SHA-256 of the text, hex; empty for a folder.
    pub hash: String,
    /// The document version of that text.
    pub version: Vec<String>,
}

/// A file's last record, and the one before it (for a write that may not
/// have happened).
pub type Records = BTreeMap<FileId, (Option<FileRecord>, FileRecord)>;

#[derive(Serialize, Deserialize)]
struct LogLine {
    id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    record: Option<FileRecord>,
}

/// The saved document and file records; `None` when nothing was saved.
pub fn load_document(sb: &Sandbox, session: &str) -> Result<Option<(WorkspaceDoc, Records)>, EngineError> {
    let Some(bytes) = sb.read_state(DOCUMENT)? else {
        return Ok(None);
    };
    let mut doc = WorkspaceDoc::load(&bytes, Some(session))?;
    if let Some(changes) = sb.read_state(CHANGES)?
        && let Err(e) = doc.load_incremental(&changes)
    {
        tracing::warn!(error = %e, "the end of {CHANGES} is damaged; the peers resend what it missed");
    }
    let mut records = Records::new();
    if let Some(json) = sb.read_state(FILES)? {
        let raw: BTreeMap<String, FileRecord> = serde_json::from_slice(&json).map_err(|e| EngineError::State(format!("{FILES}: {e}")))?;
        for (id, rec) in raw {
            if let Some(id) = FileId::parse(&id) {
                records.insert(id, (None, rec));
            }
        }
    }
    if let Some(log) = sb.read_state(FILES_LOG)? {
        // A torn last line (a crash mid-append) does not parse and is skipped.
        for line in log.split(|b| *b == b'\n').filter_map(|l| serde_json::from_slice::<LogLine>(l).ok()) {
            let Some(id) = FileId::parse(&line.id) else {
                continue;
            };
            match line.record {
                Some(rec) => {
                    let prev = records.remove(&id).map(|(_, last)| last);
                    records.insert(id, (prev, rec));
                }
                None => {
                    records.remove(&id);
                }
            }
        }
    }
    Ok(Some((doc, records)))
}

/// Writes fresh snapshots of the document and the file records, and empties
/// both logs.
pub fn save_document(sb: &Sandbox, doc: &mut WorkspaceDoc, records: &BTreeMap<FileId, FileRecord>) -> Result<(), EngineError> {
    sb.write_state(DOCUMENT, &doc.save())?;
    sb.write_state(CHANGES, b"")?;
    let raw: BTreeMap<&str, &FileRecord> = records.iter().map(|(id, r)| (id.as_str(), r)).collect();
    let json = serde_json::to_vec(&raw).map_err(|e| EngineError::State(e.to_string()))?;
    sb.write_state(FILES, &json)?;
    Ok(sb.write_state(FILES_LOG, b"")?)
}

/// Appends changes from [`WorkspaceDoc::save_incremental`] to the log.
pub fn append_changes(sb: &Sandbox, bytes: &[u8]) -> Result<(), crate::fs::FsError> {
    sb.append_state(CHANGES, bytes)
}

/// Appends a file's new record (`None`: it is no longer on this disk).
pub fn append_record(sb: &Sandbox, id: &FileId, record: Option<&FileRecord>) -> Result<(), crate::fs::FsError> {
    let line = LogLine { id: id.as_str().to_owned(), record: record.cloned() };
    let mut bytes = serde_json::to_vec(&line).unwrap_or_default();
    bytes.push(b'\n');
    sb.append_state(FILES_LOG, &bytes)
}
