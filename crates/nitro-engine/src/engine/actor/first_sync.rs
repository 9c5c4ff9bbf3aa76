//! A fresh joiner's wait for the workspace: from the first peer that says
//! hello (its host) until every file is on disk. Until then nothing is
//! written or saved, and a refusal or the host's leaving ends the join with
//! its reason.

use tokio::sync::oneshot;

use super::{Actor, Rejoin};
use crate::engine::EngineError;
use crate::engine::membership::Access;
use crate::engine::state::{self, SavedSession};
use crate::fs::watcher::Watcher;
use crate::link::LinkId;
use crate::protocol::PeerId;

pub(super) struct FirstSync {
    done: oneshot::Sender<Result<(), EngineError>>,
    session: SavedSession,
    /// The link the workspace comes from: the first that said hello.
    pub host: Option<LinkId>,
    /// It holds the tree and the documents: files are being written.
    ready: bool,
}

impl FirstSync {
    /// Whether the workspace is awaited from link `id`: it is the host's,
    /// or no link has said hello yet.
    pub fn awaits(&self, id: LinkId) -> bool {
        self.host.is_none_or(|h| h == id)
    }
}

impl Actor {
    /// For a joiner: `done` is told when the workspace has arrived (or why
    /// not); `session` is saved then. `rejoin` is how to reach the host
    /// again whenever its link is lost.
    pub fn on_first_sync(&mut self, done: oneshot::Sender<Result<(), EngineError>>, session: SavedSession, rejoin: Rejoin) {
        if !self.ws.doc().is_initialized() {
            self.saving.hold();
        }
        self.first_sync = Some(FirstSync { done, session, host: None, ready: false });
        self.rejoin = Some(rejoin);
    }

    /// A fresh joiner writes the workspace to disk once it holds everything
    /// the host had when they connected.
    pub(super) fn check_first_sync(&mut self, id: LinkId) {
        let ready = match (&self.first_sync, self.links.get(id)) {
            (Some(f), Some(slot)) if f.host == Some(id) => {
                let sync = &slot.sync;
                let doc = self.ws.doc();
                doc.is_initialized() && doc.workspace().as_deref() == Some(self.session.to_hex().as_str()) && doc.caught_up(sync)
            }
            _ => false,
        };
        if !ready {
            return;
        }
        if self.first_sync.as_ref().is_none_or(|f| f.ready) {
            return;
        }
        let result = (|| {
            if self.fs.is_none() {
                self.ws.rescan()?;
                self.enroll(Access::Editor)?;
                let (w, rx) = Watcher::spawn(self.ws.sandbox().root())?;
                self.fs = Some((w, rx));
            }
            Ok(())
        })();
        match result {
            Ok(()) => {
                if let Some(f) = self.first_sync.as_mut() {
                    f.ready = true;
                }
                self.refresh_wanted();
            }
            Err(e) => {
                tracing::error!(error = %e, "could not write the workspace");
                if let Some(first) = self.first_sync.take() {
                    let _ = first.done.send(Err(e));
                }
            }
        }
    }

    /// A fresh joiner is done once every file is on its disk: it saves the
    /// session and says so.
    pub(super) fn finish_first_sync(&mut self) {
        if !self.first_sync.as_ref().is_some_and(|f| f.ready) {
            return;
        }
        let Some(first) = self.first_sync.take() else {
            return;
        };
        let result = (|| {
            state::save_session(self.ws.sandbox(), &first.session)?;
            state::save_identity(self.ws.sandbox(), &self.local.links.identity)?;
            self.saving.start();
            self.save()
        })();
        if let Err(e) = &result {
            tracing::error!(error = %e, "could not write the workspace");
        }
        let _ = first.done.send(result);
    }

    /// The first peer that says hello is the one the workspace comes from.
    pub(super) fn first_sync_greeted(&mut self, id: LinkId, peer: &PeerId) {
        if let Some(first) = &mut self.first_sync {
            first.host.get_or_insert(id);
            if let Some(r) = &mut self.rejoin {
                r.host.get_or_insert(peer.clone());
            }
        }
    }

    /// Ends the wait with `err`, if there is one and `cond` holds for it.
    pub(super) fn end_first_sync_if(&mut self, cond: impl FnOnce(&FirstSync) -> bool, err: EngineError) {
        if self.first_sync.as_ref().is_some_and(cond)
            && let Some(first) = self.first_sync.take()
        {
            let _ = first.done.send(Err(err));
        }
    }
}
