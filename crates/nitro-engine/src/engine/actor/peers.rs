//! The actor's side of the mesh: telling neighbors who we are connected
//! to, dialing the peers they know, carrying offers and answers for others,
//! and, for a joiner, reaching the host again after losing it.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use url::Url;

use super::Actor;
use crate::engine::{Leaving, handshake};
use crate::link;
use crate::protocol::limits::MAX_PENDING_LINKS;
use crate::protocol::wire::{PeerEntry, PeersMsg, Relay, RelayKind};
use crate::protocol::{Invite, PeerId, StateMsg};
use crate::signal::client;

/// How often neighbors are told our connections even when nothing changed,
/// and missing connections are dialed.
pub(super) const GOSSIP_EVERY: Duration = Duration::from_secs(2);
/// Pause between attempts to reach the host again.
const REJOIN_EVERY: Duration = Duration::from_secs(3);

/// How a joiner reaches the host's signaling again.
pub struct Rejoin {
    pub invite: Invite,
    pub signal: Url,
    pub host: Option<PeerId>,
    pub attempt: Option<tokio::task::JoinHandle<()>>,
    pub last: Option<Instant>,
}

impl Rejoin {
    pub fn new(invite: Invite, signal: Url) -> Self {
        Self { invite, signal, host: None, attempt: None, last: None }
    }
}

impl Actor {
    /// The name each peer is shown under: the one it said hello with (its
    /// id is proven by its certificate), else the roster's. A name that two
    /// peers use is followed by the first digits of each one's id, so that
    /// no peer can pass as another.
    pub(super) fn shown_names(&self) -> HashMap<PeerId, String> {
        let mut names: HashMap<PeerId, String> = self.ws.roster().into_iter().map(|(id, m)| (id, m.name)).collect();
        names.insert(self.me.clone(), self.name.clone());
        names.extend(self.links.greeted().map(|(_, p, n)| (p.clone(), n.to_owned())));
        let mut uses: HashMap<String, usize> = HashMap::new();
        for name in names.values() {
            *uses.entry(name.clone()).or_default() += 1;
        }
        for (peer, name) in &mut names {
            if uses.get(name.as_str()).is_some_and(|n| *n > 1) {
                *name = format!("{name} ({})", &peer.as_str()[..4]);
            }
        }
        names
    }

    pub(super) fn connected_peers(&self) -> HashSet<PeerId> {
        self.links.greeted().map(|(_, p, _)| p.clone()).collect()
    }

    /// Sends every neighbor the list of our other connections.
    pub(super) fn gossip(&mut self) {
        self.last_gossip = Instant::now();
        let all: Vec<PeerEntry> = self.links.greeted().map(|(_, peer, name)| PeerEntry { peer: peer.clone(), name: name.to_owned() }).collect();
        let ids = self.links.greeted_ids();
        for id in ids {
            let Some(to) = self.links.peer(id).cloned() else {
                continue;
            };
            let peers = all.iter().filter(|e| e.peer != to).cloned().collect();
            self.send(id, &StateMsg::Peers(PeersMsg { peers }));
            let nonce = rand::random();
            if let Some(slot) = self.links.get_mut(id) {
                slot.ping = Some((nonce, Instant::now()));
            }
            self.send(id, &StateMsg::Ping(nonce));
        }
    }

    pub(super) fn on_peers(&mut self, from: PeerId, msg: PeersMsg) {
        self.mesh.heard(from, msg.peers);
        self.dial_missing();
    }

    /// Offers a connection to every peer a neighbor knows and we do not.
    /// The host never dials: everyone reaches it through its signaling.
    pub(super) fn dial_missing(&mut self) {
        // Joiners reach the host through its signaling (see `maybe_rejoin`);
        // dialing it through the mesh as well would make two connections.
        let Some(host) = self.rejoin.as_ref().and_then(|r| r.host.clone()) else {
            return;
        };
        let now = Instant::now();
        let mut skip = self.connected_peers();
        skip.insert(host);
        let (dial, expired) = self.mesh.due(&skip, now);
        for link in expired {
            self.drop_link(link, Leaving::Dropped("did not connect in time".into()));
        }
        for (peer, via) in dial {
            let id = self.local.ids.next();
            self.mesh.dialing(peer.clone(), id, now);
            let (local, relay_tx) = (self.local.clone(), self.relay_tx.clone());
            self.tasks().spawn(async move {
                match link::offer(&local.links, id, local.inbox.clone()).await {
                    Ok((_, sdp)) => {
                        let _ = relay_tx.send((via, Relay { from: local.me.clone(), to: peer, kind: RelayKind::Offer, sdp }));
                    }
                    Err(e) => tracing::warn!(%peer, error = %e, "could not make an offer"),
                }
            });
        }
    }

    /// An offer or answer from `neighbor`: for us, or to pass on.
    pub(super) fn on_relay(&mut self, neighbor: PeerId, relay: Relay) {
        if relay.to != self.me {
            // One hop only, and only a neighbor's own offers and answers.
            if relay.from == neighbor {
                self.send_to_peer(&relay.to.clone(), &StateMsg::Relay(relay));
            }
            return;
        }
        match relay.kind {
            RelayKind::Offer => {
                // A member that floods offers must not make this peer build
                // connections without end.
                let now = Instant::now();
                if self.links.pending() + self.mesh.answers_pending(now) >= MAX_PENDING_LINKS {
                    tracing::warn!(from = %relay.from, "ignored an offer: too many connections are still being set up");
                    return;
                }
                let id = self.local.ids.next();
                self.mesh.answering(id, now);
                let (local, relay_tx) = (self.local.clone(), self.relay_tx.clone());
                self.tasks().spawn(async move {
                    let peer = relay.from;
                    match link::answer(&local.links, id, local.inbox.clone(), relay.sdp).await {
                        Ok((_, sdp)) => {
                            let _ = relay_tx.send((neighbor, Relay { from: local.me.clone(), to: peer, kind: RelayKind::Answer, sdp }));
                        }
                        Err(e) => tracing::warn!(%peer, error = %e, "could not answer an offer"),
                    }
                });
            }
            RelayKind::Answer => {
                let Some(link) = self.mesh.answer_for(&relay.from).and_then(|id| self.links.get(id)).map(|s| s.link.clone()) else {
                    return;
                };
                self.tasks().spawn(async move {
                    // The session's members are trusted to carry answers; DTLS
                    // then holds the peer to the certificate in this one.
                    if let Err(e) = link.accept_answer(relay.sdp).await {
                        tracing::warn!(peer = %relay.from, error = %e, "could not accept an answer");
                    }
                });
            }
        }
    }

    /// Sends to the link of a connected peer, if there is one.
    pub(super) fn send_to_peer(&mut self, peer: &PeerId, msg: &StateMsg) {
        let link = self.links.to_peer(peer, None);
        if let Some(l) = link {
            self.send(l, msg);
        }
    }

    /// For a joiner that lost the host: tries the invite's signaling again.
    pub(super) fn maybe_rejoin(&mut self) {
        let connected = self.connected_peers();
        let Some(r) = &mut self.rejoin else { return };
        let Some(host) = &r.host else { return };
        if connected.contains(host) || r.attempt.as_ref().is_some_and(|a| !a.is_finished()) || r.last.is_some_and(|t| t.elapsed() < REJOIN_EVERY) {
            return;
        }
        r.last = Some(Instant::now());
        let (local, invite, url) = (self.local.clone(), r.invite.clone(), r.signal.clone());
        r.attempt = Some(local.links.tasks.clone().spawn(async move {
            let topic = crate::signal::crypto::topic(&invite.session);
            let result = match client::connect(&url, &topic, &local.links.tasks).await {
                Ok(signal) => handshake::join(&local, &invite, signal, &tokio::sync::watch::channel(false).0).await.map(|_| ()),
                Err(e) => Err(e.into()),
            };
            match result {
                Ok(()) => tracing::info!("reconnected to the host"),
                Err(e) => tracing::debug!(error = %e, "the host is not reachable yet"),
            }
        }));
    }
}
