//! The commands the window invokes. Each is a thin call into the engine; the
//! shapes are those of `ui/src/backend.ts`.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};

use nitro_engine::doc::Kind;
use nitro_engine::doc::Version;
use nitro_engine::engine::membership::Access;
use nitro_engine::engine::presence::{LocalPresence, Selection};
use nitro_engine::engine::{Engine, EngineConfig, EngineError, EngineHandle, FileOp};
use nitro_engine::path::{PathError, RelPath};
use nitro_engine::protocol::membership::Role;
use nitro_engine::protocol::{Invite, PeerId, TermId};
use serde::Serializer;
use tauri::State;
use tauri::ipc::{Channel, InvokeResponseBody};

use crate::AppState;
use crate::session::{Session, peer_views, term_views};
use crate::views::{
    EntryKind, FileEntry, GitView, InviteInfo, InvitesView, OpenedFile, PeerView, Pulled, SearchRequest, SearchView, SelectionView, SessionInfo,
    Side, SpliceView, SyncView, TermView, UiEvent,
};

/// Bytes of terminal output per message to the window.
const TERM_CHUNK: usize = 256 * 1024;
/// Pause after a full chunk: at most ~25 MB/s go to the window (more than
/// xterm.js renders), so a flood cannot pile up in the IPC queue; a window
/// that falls behind the ring skips ahead instead.
const TERM_PACE: std::time::Duration = std::time::Duration::from_millis(10);
/// First byte of a terminal message: the bytes follow on from the last ones,
/// or older output was skipped and the screen starts over.
const TERM_DATA: u8 = 0;
const TERM_RESET: u8 = 1;

/// A command's failure, as the message the window shows.
#[derive(Debug, thiserror::Error)]
pub enum CmdError {
    #[error(transparent)]
    Engine(#[from] Box<EngineError>),
    #[error(transparent)]
    Path(#[from] PathError),
    #[error("{0}")]
    Invalid(String),
    #[error("no session is running")]
    NoSession,
    #[error("a session is already running or starting; leave it first")]
    Busy,
}

impl From<EngineError> for CmdError {
    fn from(e: EngineError) -> Self {
        Self::Engine(Box::new(e))
    }
}

impl serde::Serialize for CmdError {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

pub type Result<T> = std::result::Result<T, CmdError>;

async fn engine(state: &State<'_, AppState>) -> Result<Arc<EngineHandle>> {
    state.session.lock().await.as_ref().map(|s| s.engine.clone()).ok_or(CmdError::NoSession)
}

fn version(heads: &[String]) -> Result<Version> {
    Version::parse(heads).ok_or_else(|| CmdError::Invalid("malformed version".into()))
}

fn term_id(id: &str) -> Result<TermId> {
    TermId::parse(id).ok_or_else(|| CmdError::Invalid(format!("{id:?} is not a terminal id")))
}

#[tauri::command]
pub fn default_name() -> String {
    std::env::var("USER").or_else(|_| std::env::var("USERNAME")).unwrap_or_else(|_| "anonymous".into())
}

#[tauri::command]
pub fn subscribe(state: State<'_, AppState>, events: Channel<UiEvent>) {
    state.ui.subscribe(events);
}

#[tauri::command]
pub async fn session(state: State<'_, AppState>) -> Result<Option<SessionInfo>> {
    Ok(state.session.lock().await.as_ref().map(|s| s.info.clone()))
}

#[tauri::command]
pub fn inspect_invite(link: String) -> Result<InviteInfo> {
    let invite = Invite::parse(link.trim()).map_err(|e| CmdError::Invalid(format!("This is not a valid invite link: {e}")))?;
    Ok(InviteInfo { host_name: invite.host_name.clone(), session: invite.session.to_hex(), signal: invite.signal.to_string(), view: invite.view })
}

#[tauri::command]
pub async fn start_host(state: State<'_, AppState>, path: PathBuf, name: String, approve: Option<bool>) -> Result<SessionInfo> {
    let _starting = Starting::claim(&state).await?;
    let mut cfg = EngineConfig::new(&path, name.trim());
    cfg.approve = approve.unwrap_or(false);
    crate::settings::network()?.apply(&mut cfg);
    let scan = cfg.scan.clone();
    *state.scan.lock().unwrap_or_else(PoisonError::into_inner) = Some(scan.clone());
    // The window shows how far reading the folder got.
    let ui = state.ui.clone();
    let ticker = tauri::async_runtime::spawn(async move {
        loop {
            tokio::time::sleep(SCAN_REPORT_EVERY).await;
            ui.send(UiEvent::Scanning { found: scan.found.load(Ordering::Relaxed), read: scan.read.load(Ordering::Relaxed) });
        }
    });
    let engine = Engine::host(cfg).await;
    ticker.abort();
    *state.scan.lock().unwrap_or_else(PoisonError::into_inner) = None;
    let engine = engine?;
    let session = engine.invite().map(|i| i.session.to_hex()).unwrap_or_default();
    let info = session_info(&engine, Joined { role: Side::Host, session, host_name: name.trim() }, &path, name.trim()).await;
    *state.session.lock().await = Some(Session::start(engine, info.clone(), state.ui.clone()));
    Ok(info)
}

/// Stops a host that is still reading its folder.
#[tauri::command]
pub fn cancel_start(state: State<'_, AppState>) {
    if let Some(scan) = state.scan.lock().unwrap_or_else(PoisonError::into_inner).as_ref() {
        scan.cancel();
    }
}

#[tauri::command]
pub async fn join_session(state: State<'_, AppState>, link: String, path: PathBuf, name: String) -> Result<SessionInfo> {
    let invite = Invite::parse(link.trim()).map_err(|e| CmdError::Invalid(format!("This is not a valid invite link: {e}")))?;
    let _starting = Starting::claim(&state).await?;
    let (host_name, session) = (invite.host_name.clone(), invite.session.to_hex());
    let mut cfg = EngineConfig::new(&path, name.trim());
    crate::settings::network()?.apply(&mut cfg);
    // The window says so while the host's user decides.
    let (mut waiting, ui) = (cfg.waiting.subscribe(), state.ui.clone());
    let tell = tauri::async_runtime::spawn(async move {
        while waiting.changed().await.is_ok() {
            let waiting = *waiting.borrow();
            ui.send(UiEvent::Waiting { waiting });
        }
    });
    let engine = Engine::join(cfg, invite).await;
    tell.abort();
    let engine = engine?;
    let info = session_info(&engine, Joined { role: Side::Guest, session, host_name: &host_name }, &path, name.trim()).await;
    *state.session.lock().await = Some(Session::start(engine, info.clone(), state.ui.clone()));
    Ok(info)
}

/// How often a host reading its folder tells the window how far it got.
const SCAN_REPORT_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

/// A session being started: at most one at a time, and the session lock is
/// not held meanwhile (a join can wait minutes for the workspace), so other
/// commands and quitting the app are not held up.
struct Starting<'a>(&'a std::sync::atomic::AtomicBool);

impl<'a> Starting<'a> {
    async fn claim(state: &'a State<'_, AppState>) -> Result<Starting<'a>> {
        let session = state.session.lock().await;
        if session.is_some() || state.starting.swap(true, std::sync::atomic::Ordering::AcqRel) {
            return Err(CmdError::Busy);
        }
        Ok(Starting(&state.starting))
    }
}

impl Drop for Starting<'_> {
    fn drop(&mut self) {
        self.0.store(false, std::sync::atomic::Ordering::Release);
    }
}

/// The session a window shows, as it was started.
struct Joined<'a> {
    role: Side,
    session: String,
    host_name: &'a str,
}

async fn session_info(engine: &EngineHandle, joined: Joined<'_>, root: &std::path::Path, name: &str) -> SessionInfo {
    let Joined { role, session, host_name } = joined;
    let invites = engine.invites();
    let color =
        engine.members().await.ok().and_then(|m| m.into_iter().find(|m| &m.peer == engine.me()).map(|m| m.color)).unwrap_or_else(|| "#4fc1ff".into());
    let withheld = engine.withheld_secrets().await.unwrap_or_default().iter().map(ToString::to_string).collect();
    SessionInfo {
        withheld,
        role,
        session,
        root: root.display().to_string(),
        me: engine.me().to_string(),
        name: name.to_owned(),
        color,
        invite: invites.as_ref().map(|i| i.edit.to_link()),
        view_invite: invites.as_ref().map(|i| i.view.to_link()),
        access: engine.access().await.unwrap_or(Access::Viewer),
        host_name: host_name.to_owned(),
    }
}

/// For a host: lets a waiting joiner in, or turns it away.
#[tauri::command]
pub async fn answer_join(state: State<'_, AppState>, peer: String, allow: bool) -> Result<()> {
    Ok(engine(&state).await?.answer_join(peer_id(&peer)?, allow).await?)
}

/// Turns away everyone waiting to join; returns how many there were.
#[tauri::command]
pub async fn deny_waiting(state: State<'_, AppState>) -> Result<usize> {
    Ok(engine(&state).await?.deny_waiting().await?.len())
}

/// For a host: `editor`, `viewer` or `removed`.
#[tauri::command]
pub async fn set_role(state: State<'_, AppState>, peer: String, role: Role) -> Result<()> {
    Ok(engine(&state).await?.set_role(peer_id(&peer)?, role).await?)
}

/// For a host: replaces both invite links.
#[tauri::command]
pub async fn new_links(state: State<'_, AppState>) -> Result<InvitesView> {
    let links = engine(&state).await?.new_links().await?;
    Ok(InvitesView { edit: links.edit.to_link(), view: links.view.to_link() })
}

fn peer_id(id: &str) -> Result<PeerId> {
    PeerId::try_from(id.to_owned()).map_err(|_| CmdError::Invalid(format!("{id:?} is not a peer id")))
}

#[tauri::command]
pub async fn leave_session(state: State<'_, AppState>) -> Result<()> {
    let session = state.session.lock().await.take();
    if let Some(s) = session {
        s.stop().await;
    }
    Ok(())
}

/// The workspace's git branch and changed files (none without a repository).
#[tauri::command]
pub async fn git_status(state: State<'_, AppState>) -> Result<GitView> {
    let root = state.session.lock().await.as_ref().map(|s| PathBuf::from(&s.info.root)).ok_or(CmdError::NoSession)?;
    let status = tokio::task::spawn_blocking(move || nitro_engine::fs::git::status(&root)).await.map_err(|e| CmdError::Invalid(e.to_string()))?;
    Ok(status.map(GitView::from).unwrap_or_default())
}

/// Find in files: the engine searches the shared texts as they are now.
#[tauri::command]
pub async fn search(state: State<'_, AppState>, query: SearchRequest) -> Result<SearchView> {
    let found = engine(&state).await?.search(query.into()).await?;
    Ok(found.into())
}

#[tauri::command]
pub async fn list_files(state: State<'_, AppState>) -> Result<Vec<FileEntry>> {
    let files = engine(&state).await?.files().await?;
    Ok(files
        .into_iter()
        .map(|f| FileEntry {
            id: f.id.to_string(),
            path: f.path.to_string(),
            kind: if f.kind == Kind::Dir { EntryKind::Dir } else { EntryKind::File },
            shared: matches!(f.kind, Kind::Dir | Kind::Text),
            note: match f.kind {
                Kind::Binary => Some("binary".into()),
                Kind::TooLarge => Some(format!("too large to share ({:.1} MB)", f.size.unwrap_or(0) as f64 / 1e6)),
                Kind::Dir | Kind::Text => None,
            },
        })
        .collect())
}

#[tauri::command]
pub async fn open_file(state: State<'_, AppState>, path: String) -> Result<OpenedFile> {
    let (text, version) = engine(&state).await?.text(RelPath::new(&path)?).await?;
    Ok(OpenedFile { path, text, version: version.to_strings() })
}

/// The language server for `path` follows it from now on; false when its
/// language has none configured.
#[tauri::command]
pub async fn lsp_open(state: State<'_, AppState>, path: String) -> Result<bool> {
    Ok(engine(&state).await?.lsp_open(RelPath::new(&path)?).await?)
}

/// A Language Server Protocol request about `path` (documents named `nitro:/<path>`).
#[tauri::command]
pub async fn lsp_request(state: State<'_, AppState>, path: String, method: String, params: serde_json::Value) -> Result<serde_json::Value> {
    Ok(engine(&state).await?.lsp_request(RelPath::new(&path)?, method, params).await?)
}

/// Lets a peer use this peer's language servers, or stops it.
#[tauri::command]
pub async fn share_languages(state: State<'_, AppState>, peer: String, allow: bool) -> Result<()> {
    Ok(engine(&state).await?.share_languages(peer_id(&peer)?, allow).await?)
}

#[tauri::command]
pub async fn edit(state: State<'_, AppState>, path: String, base: Vec<String>, splices: Vec<SpliceView>) -> Result<Vec<String>> {
    let made =
        engine(&state).await?.edit_versioned(RelPath::new(&path)?, Some(version(&base)?), splices.into_iter().map(Into::into).collect()).await?;
    Ok(made.to_strings())
}

#[tauri::command]
pub async fn pull(state: State<'_, AppState>, path: String, since: Vec<String>) -> Result<Pulled> {
    let (splices, now) = engine(&state).await?.pull(RelPath::new(&path)?, version(&since)?).await?;
    Ok(Pulled { splices: splices.into_iter().map(Into::into).collect(), version: now.to_strings() })
}

async fn file_op(state: &State<'_, AppState>, op: FileOp) -> Result<()> {
    Ok(engine(state).await?.file_op(op).await?)
}

#[tauri::command]
pub async fn save_file(state: State<'_, AppState>, path: String) -> Result<()> {
    file_op(&state, FileOp::Save(RelPath::new(&path)?)).await
}

#[tauri::command]
pub async fn create_file(state: State<'_, AppState>, path: String) -> Result<()> {
    file_op(&state, FileOp::CreateFile(RelPath::new(&path)?)).await
}

#[tauri::command]
pub async fn create_dir(state: State<'_, AppState>, path: String) -> Result<()> {
    file_op(&state, FileOp::CreateDir(RelPath::new(&path)?)).await
}

#[tauri::command]
pub async fn rename_path(state: State<'_, AppState>, from: String, to: String) -> Result<()> {
    file_op(&state, FileOp::Rename(RelPath::new(&from)?, RelPath::new(&to)?)).await
}

#[tauri::command]
pub async fn delete_path(state: State<'_, AppState>, path: String) -> Result<()> {
    file_op(&state, FileOp::Delete(RelPath::new(&path)?)).await
}

#[tauri::command]
pub async fn set_presence(
    state: State<'_, AppState>,
    file: Option<String>,
    selections: Vec<SelectionView>,
    typing: bool,
    viewport_top: Option<u32>,
    base: Option<Vec<String>>,
) -> Result<()> {
    let presence = LocalPresence {
        file: file.as_deref().map(RelPath::new).transpose()?,
        selections: selections.iter().map(|s| Selection { anchor: s.anchor, head: s.head }).collect(),
        typing,
        viewport_top,
    };
    let base = base.as_deref().map(version).transpose()?;
    Ok(engine(&state).await?.set_presence(presence, base).await?)
}

#[tauri::command]
pub async fn peers(state: State<'_, AppState>) -> Result<Vec<PeerView>> {
    Ok(peer_views(&*engine(&state).await?).await)
}

/// The sync status now: a window that reloads missed the last event.
#[tauri::command]
pub async fn sync_status(state: State<'_, AppState>) -> Result<SyncView> {
    Ok(engine(&state).await?.sync_status().await?.into())
}

#[tauri::command]
pub async fn terminals(state: State<'_, AppState>) -> Result<Vec<TermView>> {
    Ok(term_views(&*engine(&state).await?).await)
}

#[tauri::command]
pub async fn terminal_open(state: State<'_, AppState>, cols: u16, rows: u16) -> Result<String> {
    Ok(engine(&state).await?.open_terminal(cols, rows).await?.to_string())
}

/// Streams a terminal's output (its scrollback first) to the window until
/// detached. Returns a token for [`terminal_detach`], so a late detach of an
/// earlier stream never stops a newer one.
#[tauri::command]
pub async fn terminal_attach(state: State<'_, AppState>, id: String, output: Channel<InvokeResponseBody>) -> Result<u64> {
    let term = term_id(&id)?;
    let mut session = state.session.lock().await;
    let session = session.as_mut().ok_or(CmdError::NoSession)?;
    let mut view =
        session.engine.terminal_view(term).await?.ok_or_else(|| CmdError::Invalid(format!("no output of terminal {id} has reached this peer")))?;
    let task = tauri::async_runtime::spawn(async move {
        let mut offset = 0;
        loop {
            let chunk = view.read(offset, TERM_CHUNK);
            if chunk.bytes.is_empty() {
                if !view.changed().await {
                    return;
                }
                continue;
            }
            let full = chunk.bytes.len() == TERM_CHUNK;
            let mut msg = Vec::with_capacity(chunk.bytes.len() + 1);
            msg.push(if chunk.offset > offset && offset > 0 { TERM_RESET } else { TERM_DATA });
            msg.extend_from_slice(&chunk.bytes);
            offset = chunk.offset + chunk.bytes.len() as u64;
            if output.send(InvokeResponseBody::Raw(msg)).is_err() {
                return;
            }
            if full {
                tokio::time::sleep(TERM_PACE).await;
            }
        }
    });
    session.next_token += 1;
    let token = session.next_token;
    if let Some((_, old)) = session.attached.insert(term, (token, task)) {
        old.abort();
    }
    Ok(token)
}

/// Stops the stream `token` (from [`terminal_attach`]) of a terminal, if
/// it is still the current one.
#[tauri::command]
pub async fn terminal_detach(state: State<'_, AppState>, id: String, token: u64) -> Result<()> {
    let term = term_id(&id)?;
    let mut session = state.session.lock().await;
    let Some(session) = session.as_mut() else {
        return Ok(());
    };
    if session.attached.get(&term).is_some_and(|(t, _)| *t == token)
        && let Some((_, task)) = session.attached.remove(&term)
    {
        task.abort();
    }
    Ok(())
}

#[tauri::command]
pub async fn terminal_input(state: State<'_, AppState>, id: String, data: String) -> Result<()> {
    Ok(engine(&state).await?.terminal_input(term_id(&id)?, data.into_bytes()).await?)
}

#[tauri::command]
pub async fn terminal_resize(state: State<'_, AppState>, id: String, cols: u16, rows: u16) -> Result<()> {
    Ok(engine(&state).await?.resize_terminal(term_id(&id)?, cols, rows).await?)
}

#[tauri::command]
pub async fn terminal_close(state: State<'_, AppState>, id: String) -> Result<()> {
    Ok(engine(&state).await?.close_terminal(term_id(&id)?).await?)
}

#[tauri::command]
pub async fn terminal_grant(state: State<'_, AppState>, id: String, peer: String, write: bool) -> Result<()> {
    let peer = PeerId::try_from(peer).map_err(|e| CmdError::Invalid(e.to_string()))?;
    Ok(engine(&state).await?.grant_terminal(term_id(&id)?, peer, write).await?)
}
