//! One running session: the engine, and the task that turns its events into
//! [`UiEvent`]s for the window.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use nitro_engine::engine::{EngineEvent, EngineHandle};
use nitro_engine::protocol::TermId;
use tauri::async_runtime::JoinHandle;
use tokio::sync::broadcast::error::RecvError;

use crate::ui::Ui;
use crate::views::{ConnectionState, PeerView, SelectionView, SessionInfo, TermView, UiEvent};

/// Presence moves at up to 60 Hz per peer: the peers list goes to the window
/// at most this often.
const PEERS_EVERY: Duration = Duration::from_millis(33);

pub struct Session {
    pub engine: Arc<EngineHandle>,
    pub info: SessionInfo,
    forwarder: JoinHandle<()>,
    /// Terminal output streams open in the window, with their tokens.
    pub attached: HashMap<TermId, (u64, JoinHandle<()>)>,
    pub next_token: u64,
}

impl Session {
    pub fn start(engine: EngineHandle, info: SessionInfo, ui: Ui) -> Self {
        let engine = Arc::new(engine);
        let forwarder = tauri::async_runtime::spawn(forward(engine.clone(), ui));
        Self { engine, info, forwarder, attached: HashMap::new(), next_token: 0 }
    }

    /// Stops the streams and the engine (it says goodbye to the peers).
    pub async fn stop(self) {
        self.forwarder.abort();
        // Its copy of the engine is dropped only once it has stopped.
        let _ = self.forwarder.await;
        for (_, (_, t)) in self.attached {
            t.abort();
        }
        match Arc::try_unwrap(self.engine) {
            Ok(engine) => {
                if let Err(e) = engine.shutdown().await {
                    tracing::warn!(error = %e, "the engine did not stop cleanly");
                }
            }
            Err(_) => tracing::warn!("the engine is still in use; it stops with the app"),
        }
    }
}

/// Everyone in the roster and everyone connected, with where they are.
pub async fn peer_views(engine: &EngineHandle) -> Vec<PeerView> {
    let (Ok(members), Ok(connected), Ok(presence)) = (engine.members().await, engine.peers().await, engine.presence().await) else {
        return Vec::new();
    };
    let mut views: Vec<PeerView> = members
        .into_iter()
        .map(|m| {
            let link = connected.iter().find(|c| c.peer == m.peer);
            let here = presence.iter().find(|p| p.peer == m.peer);
            PeerView {
                peer: m.peer.to_string(),
                name: here.map_or(m.name, |p| p.name.clone()),
                color: m.color,
                role: m.access,
                connected: link.is_some() || &m.peer == engine.me(),
                rtt_ms: link.and_then(|l| l.rtt).map(|d| d.as_millis() as u64),
                file: here.and_then(|p| p.file.as_ref().map(ToString::to_string)),
                selections: here.map_or_else(Vec::new, |p| p.selections.iter().map(|s| SelectionView { anchor: s.anchor, head: s.head }).collect()),
                typing: here.is_some_and(|p| p.typing),
                viewport_top: here.and_then(|p| p.viewport_top),
                shares_languages: link.is_some_and(|l| l.shares_languages),
            }
        })
        .collect();
    views.sort_by(|a, b| (!a.connected, &a.name).cmp(&(!b.connected, &b.name)));
    views
}

pub async fn term_views(engine: &EngineHandle) -> Vec<TermView> {
    let (Ok(terminals), Ok(members)) = (engine.terminals().await, engine.members().await) else {
        return Vec::new();
    };
    let me = engine.me();
    terminals
        .into_iter()
        .map(|t| TermView {
            id: t.id.to_string(),
            owner_name: members.iter().find(|m| m.peer == t.owner).map_or_else(|| "someone".to_owned(), |m| m.name.clone()),
            title: t.title,
            cols: t.cols,
            rows: t.rows,
            running: t.exit.is_none(),
            exit_code: t.exit,
            can_write: &t.owner == me || t.writers.contains(me),
            mine: &t.owner == me,
            writers: t.writers.iter().map(ToString::to_string).collect(),
            owner: t.owner.to_string(),
        })
        .collect()
}

/// `connected`, or, with nobody connected, `alone` for a host and
/// `reconnecting` for a guest (its engine keeps trying to reach the host).
pub fn status(hosting: bool, peers: &[PeerView], me: &str) -> UiEvent {
    let others = peers.iter().filter(|p| p.connected && p.peer != me).count();
    let state = match (others, hosting) {
        (0, true) => ConnectionState::Alone,
        (0, false) => ConnectionState::Reconnecting,
        _ => ConnectionState::Connected,
    };
    let message = (state == ConnectionState::Reconnecting).then(|| "The host is not reachable; trying again".to_owned());
    UiEvent::Status { state, message }
}

async fn forward(engine: Arc<EngineHandle>, ui: Ui) {
    let mut events = engine.subscribe();
    let hosting = engine.invite().is_some();
    let me = engine.me().to_string();
    let mut tick = tokio::time::interval(PEERS_EVERY);
    let mut peers_due = true;
    let mut last_status = String::new();
    loop {
        tokio::select! {
            ev = events.recv() => match ev {
                Ok(ev) => {
                    peers_due |= matches!(
                        ev,
                        EngineEvent::Presence(_) | EngineEvent::PresenceGone { .. } | EngineEvent::PeerJoined { .. } | EngineEvent::PeerLeft { .. } | EngineEvent::Membership
                    );
                    if let Some(out) = translate(&engine, ev).await {
                        ui.send(out);
                    }
                }
                Err(RecvError::Lagged(_)) => peers_due = true,
                Err(RecvError::Closed) => {
                    ui.send(UiEvent::Status { state: ConnectionState::Stopped, message: Some("The session has ended".into()) });
                    return;
                }
            },
            _ = tick.tick(), if peers_due => {
                peers_due = false;
                let peers = peer_views(&engine).await;
                let status = status(hosting, &peers, &me);
                let key = format!("{status:?}");
                if key != last_status {
                    last_status = key;
                    ui.send(status);
                }
                ui.send(UiEvent::Peers { peers });
            }
        }
    }
}

async fn translate(engine: &EngineHandle, ev: EngineEvent) -> Option<UiEvent> {
    Some(match ev {
        EngineEvent::PeerJoined { peer, name } => UiEvent::PeerJoined { peer: peer.to_string(), name },
        EngineEvent::PeerLeft { peer, name, why } => UiEvent::PeerLeft { peer: peer.to_string(), name, why: why.to_string() },
        EngineEvent::FilesChanged { paths, tree } => UiEvent::FilesChanged { paths: paths.iter().map(ToString::to_string).collect(), tree },
        EngineEvent::Intake { left } => UiEvent::Intake { left },
        EngineEvent::EditRejected { path, reason } => UiEvent::EditRejected { path: path.to_string(), reason },
        EngineEvent::Terminals => UiEvent::Terminals { terminals: term_views(engine).await },
        EngineEvent::TerminalRefused { term, reason } => UiEvent::TerminalRefused { id: term.to_string(), reason },
        EngineEvent::Sync(s) => UiEvent::Sync(s.into()),
        EngineEvent::JoinRequest(r) => UiEvent::JoinRequest { peer: r.peer.to_string(), name: r.name, link: r.link },
        EngineEvent::JoinWithdrawn { peer } => UiEvent::JoinWithdrawn { peer: peer.to_string() },
        EngineEvent::Membership => UiEvent::Access { access: engine.access().await.ok()? },
        EngineEvent::Diagnostics { path, diagnostics } => UiEvent::Diagnostics { path: path.to_string(), diagnostics },
        EngineEvent::LanguageServer { language, state, message } => UiEvent::LanguageServer { language, state, message },
        EngineEvent::LinksReplaced => {
            let links = engine.invites()?;
            UiEvent::Invites { edit: links.edit.to_link(), view: links.view.to_link() }
        }
        EngineEvent::WriteUndone { path, kept } => UiEvent::WriteUndone { path: path.to_string(), kept: kept.map(|k| k.display().to_string()) },
        EngineEvent::Presence(_) | EngineEvent::PresenceGone { .. } => return None,
    })
}
