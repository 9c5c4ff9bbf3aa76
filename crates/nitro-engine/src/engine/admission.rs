//! The host's door: which offers arriving over signaling get an answer.
//!
//! An offer opens with the key of the edit link, of the read-only link, or
//! of a link the host replaced. Members come back with whatever link they
//! hold, in the role the host gave them; a removed member is denied; a
//! newcomer gets the role of its link, at once or once the host's user
//! lets it in. Everything else the host says (refused, waiting, denied) is
//! signed, so nobody else can end or hold up a join.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use super::membership::{Access, Membership};
use crate::link::Identity;
use crate::link::identity::sdp_fingerprint;
use crate::protocol::limits::{MAX_MEMBERS, MAX_WAIT, MAX_WAITING, NEWCOMER_RATE, REFUSAL_EVERY, REFUSAL_RATE};
use crate::protocol::membership::Role;
use crate::protocol::{PeerId, Secret, SessionId};
use crate::rate::Rate;
use crate::signal::crypto::{Plain, SignalKey};
use crate::signal::hub::Vouch;
use crate::signal::{Envelope, Kind, refusal};

/// A joiner waiting for the host's user hears `waiting` this often.
const WAITING_EVERY: Duration = Duration::from_secs(2);
/// A joiner that stopped sending its offer for this long gave up.
const GAVE_UP_AFTER: Duration = Duration::from_secs(10);
/// Replaced links whose members may still come back with them.
const MAX_RETIRED: usize = 32;
/// Offers remembered as handled, and senders remembered as refused or
/// turned away; the oldest are forgotten beyond this.
const MAX_REMEMBERED: usize = 4096;
/// What a joiner the host's user turned away is told.
const NOT_LET_IN: &str = "the host did not let you in";
/// A joiner the host's user turned away is not asked about again for this long.
const TURNED_AWAY_FOR: Duration = Duration::from_secs(600);

/// Which of the host's links an offer came with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
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
    /// When its offer last came.
    seen: Instant,
    /// When the host's user was first asked.
    asked: Instant,
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
    /// Every key above, for the host's signaling server to tell who holds a link.
    ring: Arc<RwLock<Vec<SignalKey>>>,
    /// Whether newcomers wait for the host's user.
    pub approve: bool,
    pending: HashMap<PeerId, Pending>,
    /// Offers decided (each is published again until answered).
    seen: HashMap<(PeerId, String), Instant>,
    /// Joiners the host's user turned away, or that waited too long.
    turned_away: HashMap<PeerId, Instant>,
    /// When each sender was last refused or denied.
    refused: HashMap<PeerId, Instant>,
    refusals: Rate,
    newcomers: Rate,
}

impl Admission {
    pub fn new(session: SessionId, secrets: Secrets, approve: bool) -> Self {
        let key = |s: &Secret| SignalKey::derive(s, &session);
        let mut admission = Self {
            session,
            edit: key(&secrets.edit),
            view: key(&secrets.view),
            retired: secrets.retired.iter().map(key).collect(),
            ring: Arc::default(),
            secrets,
            approve,
            pending: HashMap::new(),
            seen: HashMap::new(),
            turned_away: HashMap::new(),
            refused: HashMap::new(),
            refusals: Rate::new(REFUSAL_RATE, Instant::now()),
            newcomers: Rate::new(NEWCOMER_RATE, Instant::now()),
        };
        admission.fill_ring();
        admission
    }

    /// Whether an envelope is sealed with one of this session's keys: what
    /// earns a client of the host's signaling server its place.
    pub fn vouch(&self) -> Vouch {
        let ring = self.ring.clone();
        Arc::new(move |env: &Envelope| ring.read().unwrap_or_else(std::sync::PoisonError::into_inner).iter().any(|k| k.open(env).is_ok()))
    }

    fn fill_ring(&mut self) {
        let keys = [&self.edit, &self.view].into_iter().chain(&self.retired).cloned().collect();
        *self.ring.write().unwrap_or_else(std::sync::PoisonError::into_inner) = keys;
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
        self.fill_ring();
        let replaced = |p: &Pending| (p.link == LinkKind::Edit && edit) || (p.link == LinkKind::View && view);
        let withdrawn: Vec<PeerId> = self.pending.iter().filter(|(_, p)| replaced(p)).map(|(id, _)| id.clone()).collect();
        self.pending.retain(|_, p| !replaced(p));
        withdrawn
    }

    /// Decides about an offer published on the session's topic.
    pub fn offer(&mut self, env: Envelope, members: &Membership, host: &Identity, me: &PeerId, now: Instant) -> Door {
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
        // Joiners publish their offer again until answered: one decision each.
        let decided = (peer.clone(), plain.sdp.clone());
        if self.seen.contains_key(&decided) {
            return Door::Ignore;
        }
        let door = match (members.access(&peer), kind) {
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
            (Access::Stranger, Some(_)) if self.turned_away.get(&peer).is_some_and(|at| now.duration_since(*at) < TURNED_AWAY_FOR) => {
                self.say(now, || refusal::verdict(host, me, &env, Kind::Denied, NOT_LET_IN), &env, "it was turned away")
            }
            // Asking costs the host's user a look, not a connection: every
            // newcomer is asked about at once while its link has places, so
            // identities made up on one link keep nobody else waiting unasked.
            (Access::Stranger, Some(link)) if self.approve => {
                if let Some(p) = self.pending.get_mut(&peer) {
                    // A new offer of one already asked about (it started
                    // again): answered with this one, not asked about again,
                    // and its time to wait is not renewed.
                    let asked = p.asked;
                    *p = Pending { offer: env, plain, key, link, seen: now, asked, waiting: None };
                    remember(&mut self.seen, decided, now);
                    return Door::Ignore;
                }
                if self.waiting(link) >= MAX_WAITING {
                    tracing::warn!(%peer, "ignored a joiner for now: too many are waiting to be let in with its link");
                    return Door::Ignore;
                }
                let request = JoinRequest {
                    peer: peer.clone(),
                    name: crate::protocol::printable::printable(&plain.name, crate::protocol::limits::MAX_NAME),
                    link,
                };
                self.pending.insert(peer, Pending { offer: env, plain, key, link, seen: now, asked: now, waiting: None });
                Door::Ask(request)
            }
            // Newcomers are let in at a pace: one holding a link cannot make
            // the host set up a connection for every identity it makes up.
            (Access::Stranger, Some(_)) if !self.newcomers.admit(now) => Door::Ignore,
            (Access::Stranger, Some(link)) => Door::Answer { plain, key, role: Some(link.role()) },
        };
        // An offer left undecided (no place, no token) is decided on a later copy.
        if !matches!(door, Door::Ignore) {
            remember(&mut self.seen, decided, now);
        }
        door
    }

    /// How many joiners wait for the host's user with `link`.
    pub fn waiting(&self, link: LinkKind) -> usize {
        self.pending.values().filter(|p| p.link == link).count()
    }

    /// The host's user let `peer` in, or not. `None` when it is not waiting.
    pub fn decide(&mut self, peer: &PeerId, allow: bool, host: &Identity, me: &PeerId, now: Instant) -> Option<Door> {
        let p = self.pending.remove(peer)?;
        if allow {
            return Some(Door::Answer { plain: p.plain, key: p.key, role: Some(p.link.role()) });
        }
        Some(self.turn_away(p, NOT_LET_IN, host, me, now))
    }

    /// The host's user turns away everyone waiting; returns who they were
    /// and the signed denials to publish.
    pub fn deny_all(&mut self, host: &Identity, me: &PeerId, now: Instant) -> (Vec<PeerId>, Vec<Door>) {
        let waiting: Vec<(PeerId, Pending)> = self.pending.drain().collect();
        let peers = waiting.iter().map(|(peer, _)| peer.clone()).collect();
        let doors = waiting.into_iter().map(|(_, p)| self.turn_away(p, NOT_LET_IN, host, me, now)).collect();
        (peers, doors)
    }

    fn turn_away(&mut self, p: Pending, why: &str, host: &Identity, me: &PeerId, now: Instant) -> Door {
        remember(&mut self.turned_away, p.plain.peer.clone(), now);
        remember(&mut self.refused, p.plain.peer.clone(), now);
        match refusal::verdict(host, me, &p.offer, Kind::Denied, why) {
            Ok(env) => Door::Say(env),
            Err(e) => {
                tracing::warn!(error = %e, "could not sign a denial");
                Door::Ignore
            }
        }
    }

    /// `waiting` for each joiner due one; joiners that gave up are
    /// forgotten, and those the host's user left unanswered for
    /// [`MAX_WAIT`] turned away; both are returned.
    pub fn tick(&mut self, host: &Identity, me: &PeerId, now: Instant) -> (Vec<Envelope>, Vec<PeerId>) {
        let gone: Vec<PeerId> = self.pending.iter().filter(|(_, p)| now.duration_since(p.seen) > GAVE_UP_AFTER).map(|(id, _)| id.clone()).collect();
        for peer in &gone {
            self.pending.remove(peer);
        }
        let mut say = Vec::new();
        let stale: Vec<PeerId> = self.pending.iter().filter(|(_, p)| now.duration_since(p.asked) >= MAX_WAIT).map(|(id, _)| id.clone()).collect();
        for peer in &stale {
            if let Some(p) = self.pending.remove(peer)
                && let Door::Say(env) = self.turn_away(p, "the host's user did not answer in time: try again later", host, me, now)
            {
                say.push(env);
            }
        }
        let gone = gone.into_iter().chain(stale).collect();
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

    /// Signs what `make` says about `env`, unless this host told its sender
    /// so a moment ago or already signed too many such words this second.
    fn say(&mut self, now: Instant, make: impl FnOnce() -> Result<Envelope, crate::link::LinkError>, env: &Envelope, why: &str) -> Door {
        if self.refused.get(&env.from).is_some_and(|at| now.duration_since(*at) < REFUSAL_EVERY) || !self.refusals.admit(now) {
            return Door::Ignore;
        }
        remember(&mut self.refused, env.from.clone(), now);
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

/// Notes `key` as of `now`; beyond [`MAX_REMEMBERED`], the older half is forgotten.
fn remember<K: Hash + Eq>(map: &mut HashMap<K, Instant>, key: K, now: Instant) {
    if map.len() >= MAX_REMEMBERED {
        let mut times: Vec<Instant> = map.values().copied().collect();
        let (_, middle, _) = times.select_nth_unstable(MAX_REMEMBERED / 2);
        let middle = *middle;
        map.retain(|_, at| *at > middle);
    }
    map.insert(key, now);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::Sandbox;

    struct TestHost {
        admission: Admission,
        members: Membership,
        host: Identity,
        me: PeerId,
        _dir: tempfile::TempDir,
    }

    fn door(approve: bool) -> TestHost {
        let dir = tempfile::tempdir().expect("tempdir");
        let sb = Sandbox::open(dir.path(), 1 << 20).expect("sandbox");
        let host = Identity::generate().expect("identity");
        let session = SessionId::random();
        let members = Membership::load(&sb, session, host.fingerprint);
        let secrets = Secrets { edit: Secret::random(), view: Secret::random(), retired: Vec::new() };
        let me = PeerId::of_certificate(&host.fingerprint);
        TestHost { admission: Admission::new(session, secrets, approve), members, host, me, _dir: dir }
    }

    impl TestHost {
        fn key(&self, link: LinkKind) -> SignalKey {
            let secret = match link {
                LinkKind::Edit => &self.admission.secrets.edit,
                LinkKind::View => &self.admission.secrets.view,
            };
            SignalKey::derive(secret, &self.admission.session)
        }

        /// An offer as a joiner makes it, under a new identity (or `identity`'s).
        fn offer_of(&self, link: LinkKind, identity: &Identity, name: &str) -> Envelope {
            let peer = PeerId::of_certificate(&identity.fingerprint);
            let line = crate::link::identity::sdp_fingerprint_line(&identity.fingerprint);
            let sdp = format!("v=0\r\no=- {} 1 IN IP4 127.0.0.1\r\n{line}\r\n", rand::random::<u32>());
            self.key(link).seal(Kind::Offer, &peer, None, &Plain { sdp, peer: peer.clone(), name: name.into() })
        }

        fn offer(&mut self, env: Envelope, now: Instant) -> Door {
            self.admission.offer(env, &self.members, &self.host, &self.me, now)
        }
    }

    fn identity() -> Identity {
        Identity::generate().expect("identity")
    }

    #[test]
    fn made_up_identities_on_one_link_leave_every_newcomer_asked_about() {
        let mut d = door(true);
        let t0 = Instant::now();
        let fakes: Vec<Envelope> = (0..40).map(|i| d.offer_of(LinkKind::View, &identity(), &format!("fake{i}"))).collect();
        for env in &fakes {
            assert!(matches!(d.offer(env.clone(), t0), Door::Ask(_)));
        }
        // Their offers again, as joiners publish them every 2 s: nobody is asked twice.
        for env in &fakes {
            assert!(matches!(d.offer(env.clone(), t0), Door::Ignore));
        }
        for env in &fakes[..16] {
            assert!(matches!(d.admission.decide(&env.from, false, &d.host, &d.me, t0), Some(Door::Say(_))));
        }
        // A turned-away identity with a new offer is told so, not asked about.
        let eve = identity();
        assert!(matches!(d.offer(d.offer_of(LinkKind::View, &eve, "eve"), t0), Door::Ask(_)));
        assert!(matches!(d.admission.decide(&PeerId::of_certificate(&eve.fingerprint), false, &d.host, &d.me, t0), Some(Door::Say(_))));
        assert!(matches!(d.offer(d.offer_of(LinkKind::View, &eve, "eve"), t0 + REFUSAL_EVERY), Door::Say(env) if env.kind == Kind::Denied));

        // A real member with the same link is asked about at once, 24 waiting or not.
        assert!(matches!(d.offer(d.offer_of(LinkKind::View, &identity(), "bob"), t0), Door::Ask(r) if r.name == "bob"));
        // Filling the read-only link's places keeps no edit-link newcomer waiting unasked.
        while d.admission.waiting(LinkKind::View) < MAX_WAITING {
            assert!(matches!(d.offer(d.offer_of(LinkKind::View, &identity(), "more"), t0), Door::Ask(_)));
        }
        assert!(matches!(d.offer(d.offer_of(LinkKind::View, &identity(), "more"), t0), Door::Ignore));
        assert!(matches!(d.offer(d.offer_of(LinkKind::Edit, &identity(), "cyd"), t0), Door::Ask(r) if r.name == "cyd"));

        let (gone, denials) = d.admission.deny_all(&d.host, &d.me, t0);
        assert_eq!(gone.len(), MAX_WAITING + 1);
        assert!(denials.iter().all(|door| matches!(door, Door::Say(env) if env.kind == Kind::Denied)));
        assert_eq!(d.admission.waiting(LinkKind::View) + d.admission.waiting(LinkKind::Edit), 0);
    }

    #[test]
    fn a_joiner_nobody_answers_is_turned_away_in_the_end() {
        let mut d = door(true);
        let t0 = Instant::now();
        let ada = identity();
        let env = d.offer_of(LinkKind::Edit, &ada, "ada");
        assert!(matches!(d.offer(env.clone(), t0), Door::Ask(_)));
        // Started again with a new offer: not asked about twice, and its
        // wait is not renewed.
        assert!(matches!(d.offer(d.offer_of(LinkKind::Edit, &ada, "ada"), t0 + WAITING_EVERY), Door::Ignore));
        assert_eq!(d.admission.waiting(LinkKind::Edit), 1);
        // It keeps publishing its offer: it is waiting, not gone.
        let mut t = t0;
        while t < t0 + MAX_WAIT - WAITING_EVERY {
            t += WAITING_EVERY;
            assert!(matches!(d.offer(env.clone(), t), Door::Ignore));
            let (said, gone) = d.admission.tick(&d.host, &d.me, t);
            assert!(gone.is_empty() && said.iter().all(|e| e.kind == Kind::Waiting));
        }
        let (said, gone) = d.admission.tick(&d.host, &d.me, t0 + MAX_WAIT);
        assert_eq!(gone, vec![env.from.clone()]);
        assert!(said.iter().any(|e| e.kind == Kind::Denied));
        assert_eq!(d.admission.waiting(LinkKind::Edit), 0);
    }

    #[test]
    fn after_a_flood_of_wrong_secrets_the_next_one_is_refused() {
        let mut d = door(false);
        let t0 = Instant::now();
        let junk = || Envelope { nitro: 1, kind: Kind::Offer, from: PeerId::random(), to: None, sealed: Some("AAAA".repeat(40)) };
        let refused = (0..2_000).filter(|_| matches!(d.offer(junk(), t0), Door::Say(_))).count();
        assert_eq!(refused, REFUSAL_RATE.burst as usize, "a burst of refusals, then none");
        // The flood stops; a moment later a joiner with a wrong secret is told so.
        let later = t0 + Duration::from_secs_f64(1.0 / REFUSAL_RATE.per_second);
        let bob = PeerId::random();
        let wrong_key = SignalKey::derive(&Secret::random(), &d.admission.session);
        let wrong = wrong_key.seal(Kind::Offer, &bob, None, &Plain { sdp: String::new(), peer: bob.clone(), name: "bob".into() });
        assert!(matches!(d.offer(wrong.clone(), later), Door::Say(env) if env.kind == Kind::Refused));
        // One sender is not refused again and again.
        assert!(matches!(d.offer(wrong, later + Duration::from_secs(1)), Door::Ignore));
    }
}
