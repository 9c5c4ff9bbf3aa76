//! The actor's side of shared terminals: commands from the handle, terminal
//! messages from peers, and the shells' output events, routed to the
//! [`Terminals`] registry; metadata changes go into the document.

use super::Actor;
use crate::engine::{EngineError, EngineEvent};
use crate::link::LinkId;
use crate::protocol::{PeerId, StateMsg, TermId, TermMsg};
use crate::term::pty::PtyEvent;
use crate::term::{TermError, TermInfo};

/// What a terminal command from the handle asks.
pub enum TermCommand {
    Open { cols: u16, rows: u16 },
    Input { term: TermId, bytes: Vec<u8> },
    Resize { term: TermId, cols: u16, rows: u16 },
    Close { term: TermId },
    Grant { term: TermId, peer: PeerId, write: bool },
}

impl Actor {
    /// Runs a terminal command; `Open` answers with the new terminal's id.
    pub(super) fn terminal_command(&mut self, cmd: TermCommand) -> Result<Option<TermId>, EngineError> {
        match cmd {
            TermCommand::Open { cols, rows } => {
                let info = self.terms.open(cols, rows, self.links.terminal_peers().into_iter())?;
                if let Err(e) = self.publish_terminal(&info) {
                    // Nobody could see it: no shell runs unlisted.
                    let _ = self.terms.close(info.id);
                    return Err(e);
                }
                Ok(Some(info.id))
            }
            TermCommand::Input { term, bytes } => {
                if self.terms.owns(term) {
                    self.terms.input_here(term, bytes)?;
                } else {
                    let link = self.owner_link(term)?;
                    // Keystrokes are not worth a resync: say they did not leave.
                    let sent = self.links.get(link).is_some_and(|s| s.link.send_state(&StateMsg::Term(TermMsg::Input { term, bytes })).is_ok());
                    if !sent {
                        return Err(TermError::OwnerBusy(term).into());
                    }
                }
                Ok(None)
            }
            TermCommand::Resize { term, cols, rows } => {
                if self.terms.owns(term) {
                    let info = self.terms.resize(term, None, cols, rows)?;
                    self.publish_terminal(&info)?;
                } else {
                    let link = self.owner_link(term)?;
                    self.send(link, &StateMsg::Term(TermMsg::Resize { term, cols, rows }));
                }
                Ok(None)
            }
            TermCommand::Close { term } => {
                self.terms.close(term)?;
                self.ws.doc().remove_terminal(term)?;
                let _ = self.events.send(EngineEvent::Terminals);
                Ok(None)
            }
            TermCommand::Grant { term, peer, write } => {
                if write && !self.members.access(&peer).may_edit() {
                    return Err(EngineError::Viewer(peer));
                }
                let info = self.terms.grant(term, peer, write)?;
                self.publish_terminal(&info)?;
                Ok(None)
            }
        }
    }

    /// The link to the owner of another peer's terminal, as the document
    /// lists it.
    fn owner_link(&mut self, term: TermId) -> Result<LinkId, TermError> {
        let owner = self.ws.doc().terminals().into_iter().find(|t| t.id == term).map(|t| t.owner).ok_or(TermError::Unknown(term))?;
        let link = self.links.to_peer(&owner, None);
        link.ok_or(TermError::OwnerAway(term))
    }

    fn publish_terminal(&mut self, info: &TermInfo) -> Result<(), EngineError> {
        self.ws.doc().set_terminal(info)?;
        let _ = self.events.send(EngineEvent::Terminals);
        Ok(())
    }

    pub(super) fn on_pty(&mut self, ev: PtyEvent) {
        match ev {
            PtyEvent::Output(id) => self.pump_terminals(Some(id)),
            PtyEvent::Exited(id, code) => {
                self.terms.exited(id, code);
                self.pump_terminals(Some(id));
            }
        }
    }

    /// Sends pending terminal output (of one terminal, or all) to every peer
    /// with room on its link.
    pub(super) fn pump_terminals(&mut self, only: Option<TermId>) {
        let peers = self.links.terminal_peers();
        let changed = self.terms.pump(only, &peers);
        for info in changed {
            if let Err(e) = self.publish_terminal(&info) {
                tracing::warn!(term = %info.id, error = %e, "could not record a terminal's title or exit");
            }
        }
    }

    pub(super) fn on_term_msg(&mut self, link: LinkId, from: PeerId, msg: TermMsg) {
        // Whatever grant it holds, a peer the host does not let edit types into no shell.
        if let TermMsg::Input { term, .. } | TermMsg::Resize { term, .. } = &msg
            && !self.members.access(&from).may_edit()
        {
            let reason = "that peer has a read-only role in this session".to_owned();
            tracing::info!(peer = %from, %term, %reason, "refused terminal input");
            self.send(link, &StateMsg::Term(TermMsg::Refused { term: *term, reason }));
            return;
        }
        match msg {
            TermMsg::Output { term, offset, bytes } => self.terms.mirror_output(&from, term, offset, &bytes),
            TermMsg::Input { term, bytes } => {
                if let Err(reason) = self.terms.input_from(&from, term, bytes) {
                    tracing::info!(peer = %from, %term, %reason, "refused terminal input");
                    self.send(link, &StateMsg::Term(TermMsg::Refused { term, reason }));
                }
            }
            TermMsg::Resize { term, cols, rows } => match self.terms.resize(term, Some(&from), cols, rows) {
                Ok(info) => {
                    if let Err(e) = self.publish_terminal(&info) {
                        tracing::debug!(error = %e, "could not record a terminal size");
                    }
                }
                Err(e) => self.send(link, &StateMsg::Term(TermMsg::Refused { term, reason: e.to_string() })),
            },
            TermMsg::Refused { term, reason } => {
                let _ = self.events.send(EngineEvent::TerminalRefused { term, reason });
            }
        }
    }

    /// The document's terminals changed (or were loaded): mirrors follow it,
    /// and what it says wrongly about ours is put right.
    pub(super) fn reconcile_terminals(&mut self) {
        let listed = self.ws.doc().terminals();
        let (fix, stale) = self.terms.reconcile(&listed);
        if !self.may_edit_here() {
            // Its changes count nowhere: the document stays as the others have it.
            let _ = self.events.send(EngineEvent::Terminals);
            return;
        }
        let result = (|| -> Result<(), EngineError> {
            for info in &fix {
                self.ws.doc().set_terminal(info)?;
            }
            for id in stale {
                self.ws.doc().remove_terminal(id)?;
            }
            Ok(())
        })();
        if let Err(e) = result {
            tracing::warn!(error = %e, "could not update terminal metadata");
        }
        let _ = self.events.send(EngineEvent::Terminals);
    }

    /// Stalled peers stop holding shells back, and exits held for them
    /// are published.
    pub(super) fn on_term_tick(&mut self) {
        self.pump_terminals(None);
    }

    /// Ends our shells and takes them out of the document (the engine stops).
    pub(super) fn close_terminals(&mut self) {
        for id in self.terms.close_all() {
            if let Err(e) = self.ws.doc().remove_terminal(id) {
                tracing::debug!(error = %e, "could not remove a terminal");
            }
        }
    }
}
