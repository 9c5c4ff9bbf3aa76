//! The offer/answer exchange over signaling, for both sides.
//!
//! The joiner publishes a sealed offer to the session's topic (again every
//! few seconds until answered); the host opens it, answers with a sealed
//! answer addressed to the joiner, or, when the box does not open, with a
//! `refused` envelope. The joiner only accepts an answer whose DTLS
//! fingerprint is the one pinned in the invite.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;

use super::EngineError;
use crate::link::{Link, LinkConfig, LinkEvent, LinkId};
use crate::protocol::limits::{MAX_PENDING_LINKS, REFUSAL_RATE};
use crate::protocol::{Invite, PeerId};
use crate::rate::{Rate, Verdict};
use crate::signal::crypto::{Plain, SignalKey};
use crate::signal::{Kind, SignalConn, refusal};

const REPUBLISH_EVERY: Duration = Duration::from_secs(2);
const ANSWER_TIMEOUT: Duration = Duration::from_secs(20);
pub const OPEN_TIMEOUT: Duration = Duration::from_secs(20);
/// Offers remembered as answered; forgotten all at once beyond this.
const MAX_SEEN_OFFERS: usize = 4096;

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
                        Kind::Refused if refusal::is_genuine(&env, &offer, &invite.fingerprint) => return Err(EngineError::WrongSecret),
                        Kind::Refused => tracing::warn!("ignoring a refusal that the host did not sign"),
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
/// Refusals (each costs a signature) and connections being set up are
/// limited, whoever floods the topic with offers.
pub async fn accept(local: Local, key: SignalKey, mut signal: SignalConn) {
    let mut seen: HashSet<(PeerId, String)> = HashSet::new();
    let mut refusals = Rate::new(REFUSAL_RATE, std::time::Instant::now());
    let setting_up = Arc::new(AtomicUsize::new(0));
    while let Some(env) = signal.rx.recv().await {
        if env.kind != Kind::Offer || env.from == local.me || env.to.as_ref().is_some_and(|to| to != &local.me) {
            continue;
        }
        let plain = match key.open(&env) {
            Ok(p) if p.peer == env.from => p,
            _ => {
                if refusals.check(std::time::Instant::now()) != Verdict::Take {
                    continue;
                }
                tracing::warn!(peer = %env.from, "refused a joiner: its invite secret is wrong");
                match refusal::refuse(&local.links.identity, &local.me, &env) {
                    Ok(r) => {
                        let _ = signal.tx.send(r);
                    }
                    Err(e) => tracing::warn!(error = %e, "could not sign a refusal"),
                }
                continue;
            }
        };
        // Joiners publish their offer again until answered: answer each
        // once. One ignored while too many connections are being set up is
        // not remembered, so its next copy is answered.
        if setting_up.load(Ordering::Relaxed) >= MAX_PENDING_LINKS {
            tracing::warn!(peer = %plain.peer, "ignored an offer for now: too many connections are still being set up");
            continue;
        }
        if seen.len() >= MAX_SEEN_OFFERS {
            seen.clear();
        }
        if !seen.insert((plain.peer.clone(), plain.sdp.clone())) {
            continue;
        }
        setting_up.fetch_add(1, Ordering::Relaxed);
        let local = local.clone();
        let key = key.clone();
        let tx = signal.tx.clone();
        let setting_up = setting_up.clone();
        tokio::spawn(async move {
            let peer = plain.peer.clone();
            if let Err(e) = answer(&local, &key, &tx, plain).await {
                tracing::warn!(%peer, error = %e, "could not connect to a joiner");
            }
            setting_up.fetch_sub(1, Ordering::Relaxed);
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
