//! The host's door: which offers arriving over signaling get an answer.
//!
//! An offer opens with the key of the edit link, of the read-only link, or
//! of a link the host replaced. Members come back with whatever link they
//! hold, in the role the host gave them; a removed member is denied; a
//! newcomer gets the role of its link, at once or once the host's user
//! lets it in. Everything else the host says (refused, waiting, denied) is
//! signed, so nobody else can end or hold up a join.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::membership::{Access, Membership};
use crate::link::Identity;
use crate::link::identity::sdp_fingerprint;
use crate::protocol::limits::{MAX_MEMBERS, MAX_WAITING, NEWCOMER_RATE, REFUSAL_RATE};
use crate::protocol::membership::Role;
use crate::protocol::{PeerId, Secret, SessionId};
use crate::rate::{Rate, Verdict as RateVerdict};
use crate::signal::crypto::{Plain, SignalKey};
use crate::signal::{Envelope, Kind, refusal};

/// A joiner waiting for the host's user hears `waiting` this often.
const WAITING_EVERY: Duration = Duration::from_secs(2);
/// A joiner that stopped sending its offer for this long gave up.
const GAVE_UP_AFTER: Duration = Duration::from_secs(10);
/// Replaced links whose members may still come back with them.
const MAX_RETIRED: usize = 32;
/// Offers remembered as handled; forgotten all at once beyond this.
const MAX_SEEN_OFFERS: usize = 4096;

/// Which of the host's links an offer came with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkKind {
    Edit,
    View,
}

impl LinkKind {
    fn role(self) -> Role {
        match self {
            LinkKind::Edit => Role::Editor,
            LinkKind::View => Role::Viewer,
        }
    }
}

/// Someone with a valid link asks to come in, and the host's user decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinRequest {
    pub peer: PeerId,
    pub name: String,
    pub link: LinkKind,
}

/// What to do about one offer.
pub enum Door {
    Ignore,
    /// Publish this signed word (refused or denied).
    Say(Envelope),
    /// Answer it; `role` is new when the host's word must name the peer first.
    Answer {
        plain: Plain,
        key: SignalKey,
        role: Option<Role>,
    },
    /// Ask the host's user ([`super::EngineEvent::JoinRequest`]).
    Ask(JoinRequest),
}

struct Pending {
    offer: Envelope,
    plain: Plain,
    key: SignalKey,
    link: LinkKind,
    seen: Instant,
    waiting: Option<(Envelope, Instant)>,
}

/// The current secrets of both links.
#[derive(Debug, Clone)]
pub struct Secrets {
    pub edit: Secret,
    pub view: Secret,
    /// Replaced secrets, newest last.
    pub retired: Vec<Secret>,
}

pub struct Admission {
    session: SessionId,
    secrets: Secrets,
    edit: SignalKey,
    view: SignalKey,
    retired: Vec<SignalKey>,
    /// Whether newcomers wait for the host's user.
    pub approve: bool,
    pending: HashMap<PeerId, Pending>,
    seen: std::collections::HashSet<(PeerId, String)>,
    refusals: Rate,
    newcomers: Rate,
}

impl Admission {
    pub fn new(session: SessionId, secrets: Secrets, approve: bool) -> Self {
        let key = |s: &Secret| SignalKey::derive(s, &session);
        Self {
            session,
            edit: key(&secrets.edit),
            view: key(&secrets.view),
            retired: secrets.retired.iter().map(key).collect(),
            secrets,
            approve,
            pending: HashMap::new(),
            seen: Default::default(),
            refusals: Rate::new(REFUSAL_RATE, Instant::now()),
            newcomers: Rate::new(NEWCOMER_RATE, Instant::now()),
        }
    }

    pub fn secrets(&self) -> &Secrets {
        &self.secrets
    }

    /// New secrets for the edit link, the read-only link or both; the old
    /// ones still let members back in. Returns the joiners that were
    /// waiting with a replaced link: they are no longer asked about.
    pub fn replace_links(&mut self, edit: bool, view: bool) -> Vec<PeerId> {
        if edit {
            let old = std::mem::replace(&mut self.secrets.edit, Secret::random());
            self.secrets.retired.push(old);
        }
        if view {
            let old = std::mem::replace(&mut self.secrets.view, Secret::random());
            self.secrets.retired.push(old);
        }
        let excess = self.secrets.retired.len().saturating_sub(MAX_RETIRED);
        self.secrets.retired.drain(..excess);
        let key = |s: &Secret| SignalKey::derive(s, &self.session);
        (self.edit, self.view) = (key(&self.secrets.edit), key(&self.secrets.view));
        self.retired = self.secrets.retired.iter().map(key).collect();
        let replaced = |p: &Pending| (p.link == LinkKind::Edit && edit) || (p.link == LinkKind::View && view);
        let withdrawn: Vec<PeerId> = self.pending.iter().filter(|(_, p)| replaced(p)).map(|(id, _)| id.clone()).collect();
        self.pending.retain(|_, p| !replaced(p));
        withdrawn
    }

    /// Decides about an offer published on the session's topic.
    pub fn offer(&mut self, env: Envelope, members: &Membership, host: &Identity, me: &PeerId) -> Door {
        let now = Instant::now();
        let opened = [(&self.edit, Some(LinkKind::Edit)), (&self.view, Some(LinkKind::View))]
            .into_iter()
            .chain(self.retired.iter().map(|k| (k, None)))
            .find_map(|(key, kind)| key.open(&env).ok().map(|plain| (plain, key.clone(), kind)));
        let Some((plain, key, kind)) = opened else {
            return self.say(now, || refusal::refuse(host, me, &env), &env, "its invite secret is wrong");
        };
        // The certificate its offer names must be the one its id is made of,
        // or the host's user would be asked about someone it is not.
        if plain.peer != env.from || sdp_fingerprint(&plain.sdp).map(|fp| PeerId::of_certificate(&fp)) != Some(plain.peer.clone()) {
            let why = "its peer id is not the id of its certificate: refusing an impersonation";
            return self.say(now, || refusal::verdict(host, me, &env, Kind::Denied, why), &env, why);
        }
        let peer = plain.peer.clone();
        if let Some(p) = self.pending.get_mut(&peer) {
            p.seen = now;
        }
        if self.seen.len() >= MAX_SEEN_OFFERS {
            self.seen.clear();
        }
        // Joiners publish their offer again until answered: one decision each.
        if !self.seen.insert((peer.clone(), plain.sdp.clone())) {
            return Door::Ignore;
        }
        match (members.access(&peer), kind) {
            (Access::Removed, _) => {
                self.say(now, || refusal::verdict(host, me, &env, Kind::Denied, "the host removed you from this session"), &env, "it was removed")
            }
            (Access::Editor | Access::Viewer, _) => Door::Answer { plain, key, role: None },
            (Access::Host, _) => Door::Ignore,
            (Access::Stranger, None) => self.say(
                now,
                || refusal::verdict(host, me, &env, Kind::Denied, "the host replaced this invite link: ask for the new one"),
                &env,
                "its link was replaced",
            ),
            (Access::Stranger, Some(_)) if members.listed() >= MAX_MEMBERS => {
                self.say(now, || refusal::verdict(host, me, &env, Kind::Denied, "the session is full"), &env, "the session is full")
            }
            // Newcomers are let in at a pace: one holding a link cannot make
            // the host sign a new word for every identity it makes up.
            (Access::Stranger, Some(_)) if self.newcomers.check(now) != RateVerdict::Take => {
                self.seen.remove(&(peer, plain.sdp));
                Door::Ignore
            }
            (Access::Stranger, Some(link)) if self.approve => {
                if !self.pending.contains_key(&peer) && self.pending.len() >= MAX_WAITING {
                    tracing::warn!(%peer, "ignored a joiner for now: too many are waiting to be let in");
                    self.seen.remove(&(peer, plain.sdp));
                    return Door::Ignore;
                }
                let request = JoinRequest {
                    peer: peer.clone(),
                    name: crate::protocol::printable::printable(&plain.name, crate::protocol::limits::MAX_NAME),
                    link,
                };
                self.pending.insert(peer, Pending { offer: env, plain, key, link, seen: now, waiting: None });
                Door::Ask(request)
            }
            (Access::Stranger, Some(link)) => Door::Answer { plain, key, role: Some(link.role()) },
        }
    }

    /// The host's user let `peer` in, or not. `None` when it is not waiting.
    pub fn decide(&mut self, peer: &PeerId, allow: bool, host: &Identity, me: &PeerId) -> Option<Door> {
        let p = self.pending.remove(peer)?;
        if allow {
            return Some(Door::Answer { plain: p.plain, key: p.key, role: Some(p.link.role()) });
        }
        Some(match refusal::verdict(host, me, &p.offer, Kind::Denied, "the host did not let you in") {
            Ok(env) => Door::Say(env),
            Err(e) => {
                tracing::warn!(error = %e, "could not sign a denial");
                Door::Ignore
            }
        })
    }

    /// `waiting` for each joiner due one; joiners that gave up are
    /// forgotten and returned.
    pub fn tick(&mut self, host: &Identity, me: &PeerId, now: Instant) -> (Vec<Envelope>, Vec<PeerId>) {
        let gone: Vec<PeerId> = self.pending.iter().filter(|(_, p)| now.duration_since(p.seen) > GAVE_UP_AFTER).map(|(id, _)| id.clone()).collect();
        for peer in &gone {
            self.pending.remove(peer);
        }
        let mut say = Vec::new();
        for p in self.pending.values_mut() {
            if p.waiting.as_ref().is_some_and(|(_, at)| now.duration_since(*at) < WAITING_EVERY) {
                continue;
            }
            // Signed once per offer: the same words again after that.
            let env = match p.waiting.take() {
                Some((env, _)) => env,
                None => match refusal::verdict(host, me, &p.offer, Kind::Waiting, "") {
                    Ok(env) => env,
                    Err(e) => {
                        tracing::warn!(error = %e, "could not sign a waiting notice");
                        continue;
                    }
                },
            };
            say.push(env.clone());
            p.waiting = Some((env, now));
        }
        (say, gone)
    }

    /// Signs what `make` says about `env`, unless this host already signed
    /// too many such words this second.
    fn say(&mut self, now: Instant, make: impl FnOnce() -> Result<Envelope, crate::link::LinkError>, env: &Envelope, why: &str) -> Door {
        if self.refusals.check(now) != RateVerdict::Take {
            return Door::Ignore;
        }
        tracing::warn!(peer = %env.from, "refused a joiner: {why}");
        match make() {
            Ok(env) => Door::Say(env),
            Err(e) => {
                tracing::warn!(error = %e, "could not sign a refusal");
                Door::Ignore
            }
        }
    }
}
