//! The offer/answer exchange over signaling, for both sides.
//!
//! The joiner publishes a sealed offer to the session's topic (again every
//! few seconds until answered); the host's admission decides, and the host
//! answers with a sealed answer addressed to the joiner, or with a signed
//! `refused`, `waiting` or `denied`. The joiner only accepts an answer whose
//! DTLS fingerprint is the one pinned in the invite.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use super::EngineError;
use crate::link::{self, Conn, LinkConfig, LinkEvent, LinkId};
use crate::protocol::{Invite, PeerId};
use crate::signal::crypto::{Plain, SignalKey};
use crate::signal::{Envelope, Kind, SignalConn, refusal};

const REPUBLISH_EVERY: Duration = Duration::from_secs(2);
const ANSWER_TIMEOUT: Duration = Duration::from_secs(20);
pub const OPEN_TIMEOUT: Duration = Duration::from_secs(20);
/// A joiner the host said it waits for gives up when the host has been
/// silent this long (it says so every 2 s).
const WAITING_GRACE: Duration = Duration::from_secs(10);

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
/// While the host's user decides whether to let this peer in, `waiting`
/// says so.
pub async fn join(local: &Local, invite: &Invite, mut signal: SignalConn, waiting: &watch::Sender<bool>) -> Result<Conn, EngineError> {
    let key = SignalKey::derive(&invite.secret, &invite.session);
    let (link, sdp) = link::offer(&local.links, local.ids.next(), local.inbox.clone()).await?;
    let offer = key.seal(Kind::Offer, &local.me, None, &Plain { sdp, peer: local.me.clone(), name: local.name.clone() });
    let result = async {
        let mut deadline = tokio::time::Instant::now() + ANSWER_TIMEOUT;
        let mut waited = false;
        let mut republish = tokio::time::interval(REPUBLISH_EVERY);
        loop {
            // A host that said it asks its user and is gone did not let us in.
            let gone = || if waited { EngineError::HostGone } else { EngineError::HostUnreachable };
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => return Err(gone()),
                _ = republish.tick() => {
                    signal.tx.send(offer.clone()).map_err(|_| gone())?;
                }
                env = signal.rx.recv() => {
                    let Some(env) = env else { return Err(gone()) };
                    if env.to.as_ref() != Some(&local.me) {
                        continue;
                    }
                    match env.kind {
                        Kind::Refused if refusal::is_genuine(&env, &offer, &invite.fingerprint) => return Err(EngineError::WrongSecret),
                        Kind::Waiting | Kind::Denied => match refusal::verdict_reason(&env, &offer, &invite.fingerprint) {
                            Some(reason) if env.kind == Kind::Denied => return Err(EngineError::Denied(reason)),
                            Some(_) => {
                                // The host is there and asks its user: wait as long as it keeps saying so.
                                deadline = tokio::time::Instant::now() + WAITING_GRACE;
                                waited = true;
                                waiting.send_replace(true);
                            }
                            None => tracing::warn!("ignoring a word about this join that the host did not sign"),
                        },
                        Kind::Refused => tracing::warn!("ignoring a refusal that the host did not sign"),
                        Kind::Answer => {
                            let Ok(plain) = key.open(&env) else {
                                tracing::warn!("ignoring an answer that does not open with this invite's key");
                                continue;
                            };
                            link::accept_pinned(&link, plain.sdp, &invite.fingerprint).await?;
                            break;
                        }
                        Kind::Offer => {}
                    }
                }
            }
        }
        waiting.send_replace(false);
        link.wait_open(OPEN_TIMEOUT).await?;
        Ok(())
    }
    .await;
    match result {
        Ok(()) => Ok(link),
        Err(e) => {
            waiting.send_replace(false);
            link.close().await;
            Err(e)
        }
    }
}

/// Hands the host every offer published on `signal` (its own and those
/// addressed elsewhere left out); the actor's [`super::admission`] decides.
/// Offers beyond what the actor has room for are dropped: joiners send
/// theirs again.
pub async fn accept(me: PeerId, mut signal: mpsc::UnboundedReceiver<Envelope>, offers: mpsc::Sender<Envelope>) {
    while let Some(env) = signal.recv().await {
        if env.kind != Kind::Offer || env.from == me || env.to.as_ref().is_some_and(|to| to != &me) {
            continue;
        }
        if let Err(mpsc::error::TrySendError::Closed(_)) = offers.try_send(env) {
            return;
        }
    }
}

/// Answers an offer the host let in, with the key it came with.
pub async fn answer(local: &Local, key: &SignalKey, tx: &mpsc::UnboundedSender<Envelope>, offer: Plain) -> Result<(), EngineError> {
    let (link, sdp) = link::answer(&local.links, local.ids.next(), local.inbox.clone(), offer.sdp).await?;
    let reply = key.seal(Kind::Answer, &local.me, Some(&offer.peer), &Plain { sdp, peer: local.me.clone(), name: local.name.clone() });
    tx.send(reply).map_err(|_| EngineError::Stopped)?;
    if let Err(e) = link.wait_open(OPEN_TIMEOUT).await {
        link.close().await;
        return Err(e.into());
    }
    Ok(())
}
