//! The offer/answer exchange over signaling, for both sides.
//!
//! The joiner publishes a sealed offer to the session's topic (again every
//! few seconds until answered); the host opens it, answers with a sealed
//! answer addressed to the joiner, or, when the box does not open, with a
//! `refused` envelope. The joiner only accepts an answer whose DTLS
//! fingerprint is the one pinned in the invite.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;

use super::EngineError;
use crate::link::{Link, LinkConfig, LinkEvent, LinkId};
use crate::protocol::{Invite, PeerId};
use crate::signal::crypto::{Plain, SignalKey};
use crate::signal::{Kind, SignalConn};

const REPUBLISH_EVERY: Duration = Duration::from_secs(2);
const ANSWER_TIMEOUT: Duration = Duration::from_secs(20);
pub const OPEN_TIMEOUT: Duration = Duration::from_secs(20);

/// Hands out link ids; shared by every handshake of one engine.
#[derive(Debug, Default, Clone)]
pub struct LinkIds(Arc<AtomicU64>);

impl LinkIds {
    pub fn next(&self) -> LinkId {
        LinkId(self.0.fetch_add(1, Ordering::Relaxed) + 1)
    }
}

/// Who is shaking hands, and where links report.
#[derive(Clone)]
pub struct Local {
    pub me: PeerId,
    pub name: String,
    pub links: LinkConfig,
    pub ids: LinkIds,
    pub inbox: mpsc::Sender<LinkEvent>,
}

/// Joins through `signal`: returns once the link to the host is open.
pub async fn join(local: &Local, invite: &Invite, mut signal: SignalConn) -> Result<Link, EngineError> {
    let key = SignalKey::derive(&invite.secret, &invite.session);
    let (link, sdp) = Link::offer(&local.links, local.ids.next(), local.inbox.clone()).await?;
    let offer = key.seal(Kind::Offer, &local.me, None, &Plain { sdp, peer: local.me.clone(), name: local.name.clone() });
    let result = async {
        let deadline = tokio::time::Instant::now() + ANSWER_TIMEOUT;
        let mut republish = tokio::time::interval(REPUBLISH_EVERY);
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => return Err(EngineError::HostUnreachable),
                _ = republish.tick() => {
                    signal.tx.send(offer.clone()).map_err(|_| EngineError::HostUnreachable)?;
                }
                env = signal.rx.recv() => {
                    let Some(env) = env else { return Err(EngineError::HostUnreachable) };
                    if env.to.as_ref() != Some(&local.me) {
                        continue;
                    }
                    match env.kind {
                        Kind::Refused => return Err(EngineError::WrongSecret),
                        Kind::Answer => {
                            let Ok(plain) = key.open(&env) else {
                                tracing::warn!("ignoring an answer that does not open with this invite's key");
                                continue;
                            };
                            link.accept_answer(plain.sdp, &invite.fingerprint).await?;
                            break;
                        }
                        Kind::Offer => {}
                    }
                }
            }
        }
        link.wait_open(OPEN_TIMEOUT).await?;
        Ok(())
    }
    .await;
    match result {
        Ok(()) => Ok(link),
        Err(e) => {
            link.close().await;
            Err(e)
        }
    }
}

/// Answers every offer on `signal` for as long as it lives (the host side).
pub async fn accept(local: Local, key: SignalKey, mut signal: SignalConn) {
    let mut seen: HashSet<(PeerId, String)> = HashSet::new();
    while let Some(env) = signal.rx.recv().await {
        if env.kind != Kind::Offer || env.from == local.me || env.to.as_ref().is_some_and(|to| to != &local.me) {
            continue;
        }
        let plain = match key.open(&env) {
            Ok(p) if p.peer == env.from => p,
            _ => {
                tracing::warn!(peer = %env.from, "refused a joiner: its invite secret is wrong");
                let refusal =
                    crate::signal::Envelope { nitro: 1, kind: Kind::Refused, from: local.me.clone(), to: Some(env.from.clone()), sealed: None };
                let _ = signal.tx.send(refusal);
                continue;
            }
        };
        // Joiners publish their offer again until answered: answer each once.
        if !seen.insert((plain.peer.clone(), plain.sdp.clone())) {
            continue;
        }
        let local = local.clone();
        let key = key.clone();
        let tx = signal.tx.clone();
        tokio::spawn(async move {
            let peer = plain.peer.clone();
            if let Err(e) = answer(&local, &key, &tx, plain).await {
                tracing::warn!(%peer, error = %e, "could not connect to a joiner");
            }
        });
    }
}

async fn answer(local: &Local, key: &SignalKey, tx: &mpsc::UnboundedSender<crate::signal::Envelope>, offer: Plain) -> Result<(), EngineError> {
    let (link, sdp) = Link::answer(&local.links, local.ids.next(), local.inbox.clone(), offer.sdp).await?;
    let reply = key.seal(Kind::Answer, &local.me, Some(&offer.peer), &Plain { sdp, peer: local.me.clone(), name: local.name.clone() });
    tx.send(reply).map_err(|_| EngineError::Stopped)?;
    if let Err(e) = link.wait_open(OPEN_TIMEOUT).await {
        link.close().await;
        return Err(e.into());
    }
    Ok(())
}
