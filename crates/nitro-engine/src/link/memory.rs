//! Connections between engines in one process, without a network.
//!
//! A [`MemNet`] stands in for WebRTC: an engine started with one
//! ([`crate::engine::EngineConfig::net`]) makes its links there, through
//! the same offers, answers, signaling, encoding, chunking and reassembly,
//! so that whole sessions of engines run in one test process in
//! milliseconds. The net can delay messages, lose presence datagrams, cut
//! two peers apart and put them back, and take a peer off it at once (a
//! crash, as the others see it). [`pair`] joins two ends directly, for
//! tests that play a peer by hand.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::sync::{mpsc, watch};

use super::transport::Transport;
use super::{LinkConfig, LinkError, LinkEvent, LinkEventKind, LinkId, OUTBOX};
use crate::protocol::frame::{self, Reassembler};
use crate::protocol::{PeerId, StateMsg};
use crate::tasks::Tasks;

/// A network in memory that engines make their links on.
#[derive(Debug, Clone, Default)]
pub struct MemNet(Arc<Mutex<Net>>);

#[derive(Debug, Default)]
struct Net {
    next: u64,
    /// Ends that made an offer or an answer, by the token in it.
    ends: HashMap<u64, Weak<End>>,
    delay: Duration,
    /// The share of presence datagrams lost, 0 to 1.
    presence_loss: f64,
    /// Peers that cannot reach each other (each pair in order).
    cut: HashSet<(PeerId, PeerId)>,
    /// Peers taken off the net.
    gone: HashSet<PeerId>,
}

fn ordered<'a>(a: &'a PeerId, b: &'a PeerId) -> (PeerId, PeerId) {
    if a <= b { (a.clone(), b.clone()) } else { (b.clone(), a.clone()) }
}

impl Net {
    fn blocked(&self, a: &PeerId, b: &PeerId) -> bool {
        self.gone.contains(a) || self.gone.contains(b) || self.cut.contains(&ordered(a, b))
    }

    fn live(&mut self) -> Vec<Arc<End>> {
        self.ends.retain(|_, e| e.strong_count() > 0);
        self.ends.values().filter_map(Weak::upgrade).collect()
    }
}

impl MemNet {
    fn net(&self) -> std::sync::MutexGuard<'_, Net> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Every message takes this long to arrive (in order, on the state channel).
    pub fn set_delay(&self, delay: Duration) {
        self.net().delay = delay;
    }

    /// This share of presence datagrams (0 to 1) is lost on the way.
    pub fn set_presence_loss(&self, share: f64) {
        self.net().presence_loss = share.clamp(0.0, 1.0);
    }

    /// These two peers can no longer reach each other: their links fail,
    /// and new ones between them never open.
    pub fn cut(&self, a: &PeerId, b: &PeerId) {
        let ends = {
            let mut net = self.net();
            net.cut.insert(ordered(a, b));
            net.live()
        };
        for end in ends {
            if end.between(a, b) {
                end.fail();
            }
        }
    }

    /// Undoes every [`Self::cut`]: new links may open again.
    pub fn heal(&self) {
        self.net().cut.clear();
    }

    /// Takes this peer off the net at once, as a crash would: its links
    /// fail without a goodbye reaching anyone.
    pub fn remove(&self, peer: &PeerId) {
        let ends = {
            let mut net = self.net();
            net.gone.insert(peer.clone());
            net.live()
        };
        for end in ends.iter().filter(|e| e.peer == *peer || e.far().is_some_and(|f| f.peer == *peer)) {
            end.fail();
        }
    }

    /// Lets a peer [`Self::remove`]d come back (started again, say).
    pub fn restore(&self, peer: &PeerId) {
        self.net().gone.remove(peer);
    }

    /// A token no end on this net has had.
    fn token(&self) -> u64 {
        let mut net = self.net();
        net.next += 1;
        net.next
    }

    fn register(&self, end: &Arc<End>) {
        self.net().ends.insert(end.token, Arc::downgrade(end));
    }

    fn end(&self, token: u64) -> Option<Arc<End>> {
        self.net().ends.get(&token).and_then(Weak::upgrade)
    }
}

/// What an offer or answer on a [`MemNet`] says: the end's token, and the
/// certificate fingerprint as an SDP states it.
fn description(token: u64, fingerprint: &[u8; 32]) -> String {
    format!("x-nitro-memory {token}\r\n{}\r\n", super::identity::sdp_fingerprint_line(fingerprint))
}

fn token_of(sdp: &str) -> Result<u64, LinkError> {
    sdp.lines()
        .find_map(|l| l.strip_prefix("x-nitro-memory "))
        .and_then(|t| t.trim().parse().ok())
        .ok_or_else(|| LinkError::Certificate("not a description of this in-memory network".into()))
}

/// The offering side of a link on `net`: the link, and its offer.
pub async fn offer(net: &MemNet, cfg: &LinkConfig, id: LinkId, events: mpsc::Sender<LinkEvent>) -> Result<(MemLink, String), LinkError> {
    let link = MemLink::create(net, cfg, id, events).await?;
    let sdp = description(link.0.token, &link.0.mine);
    Ok((link, sdp))
}

/// The answering side: the link, and its answer. The link opens once the
/// offering side takes the answer, as on a real connection.
pub async fn answer(
    net: &MemNet,
    cfg: &LinkConfig,
    id: LinkId,
    events: mpsc::Sender<LinkEvent>,
    offer: String,
) -> Result<(MemLink, String), LinkError> {
    let theirs = net.end(token_of(&offer)?).ok_or_else(|| LinkError::Certificate("the offering side is gone".into()))?;
    let link = MemLink::create(net, cfg, id, events).await?;
    let _ = link.0.far.set(Arc::downgrade(&theirs));
    let sdp = description(link.0.token, &link.0.mine);
    Ok((link, sdp))
}

/// One end of a connection. The state channel keeps order and loses
/// nothing; presence may be lost.
#[derive(Debug, Clone)]
pub struct MemLink(Arc<End>);

#[derive(Debug)]
struct End {
    id: LinkId,
    mine: [u8; 32],
    /// The peer that holds this end.
    peer: PeerId,
    net: Option<MemNet>,
    /// What offers and answers name this end by (0 for a [`pair`]'s).
    token: u64,
    /// The other end, once known.
    far: OnceLock<Weak<End>>,
    /// Where this end's engine takes its events.
    events: mpsc::Sender<LinkEvent>,
    /// Messages on their way out, delivered in order by a task of the
    /// sending engine (absent for [`pair`], which delivers at once).
    out: Option<mpsc::Sender<Sent>>,
    queued: Arc<AtomicUsize>,
    phase: watch::Sender<Phase>,
    closed: AtomicBool,
}

/// Where a link is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Pending,
    Open,
    /// Closed, or never to open.
    Failed,
}

impl End {
    fn far(&self) -> Option<Arc<End>> {
        self.far.get().and_then(Weak::upgrade)
    }

    fn theirs(&self) -> Option<[u8; 32]> {
        self.far().map(|f| f.mine)
    }

    fn between(&self, a: &PeerId, b: &PeerId) -> bool {
        self.far().is_some_and(|f| ordered(&self.peer, &f.peer) == ordered(a, b))
    }

    /// The connection failed: both engines hear that it closed.
    fn fail(&self) {
        for end in std::iter::once(self).chain(self.far().as_deref()) {
            if !end.closed.swap(true, Ordering::AcqRel) {
                end.phase.send_replace(Phase::Failed);
                let _ = end.events.try_send(LinkEvent { link: end.id, kind: LinkEventKind::Closed });
            }
        }
    }

    /// Hands `kind` to the other end's engine, at once.
    fn deliver(&self, kind: LinkEventKind) -> bool {
        let Some(far) = self.far() else { return false };
        !self.closed.load(Ordering::Acquire) && !far.closed.load(Ordering::Acquire) && far.events.try_send(LinkEvent { link: far.id, kind }).is_ok()
    }

    fn opened(&self) {
        self.phase.send_replace(Phase::Open);
        for channel in [super::Channel::State, super::Channel::Presence] {
            let _ = self.events.try_send(LinkEvent { link: self.id, kind: LinkEventKind::Open(channel) });
        }
    }
}

impl MemLink {
    async fn create(net: &MemNet, cfg: &LinkConfig, id: LinkId, events: mpsc::Sender<LinkEvent>) -> Result<Self, LinkError> {
        let (out, rx) = mpsc::channel(OUTBOX);
        let queued = Arc::new(AtomicUsize::new(0));
        let end = Arc::new(End {
            id,
            mine: cfg.identity.fingerprint,
            peer: PeerId::of_certificate(&cfg.identity.fingerprint),
            net: Some(net.clone()),
            token: net.token(),
            far: OnceLock::new(),
            events: events.clone(),
            out: Some(out),
            queued: queued.clone(),
            phase: watch::channel(Phase::Pending).0,
            closed: AtomicBool::new(false),
        });
        net.register(&end);
        let phase = end.phase.subscribe();
        spawn_delivery(&cfg.tasks, Arc::downgrade(&end), Outbox { rx, queued, phase, drained: cfg.drained.clone() });
        let link = Self(end);
        events.send(LinkEvent { link: id, kind: LinkEventKind::Added(Arc::new(link.clone())) }).await.map_err(|_| LinkError::EngineGone)?;
        Ok(link)
    }

    /// Connects this end (the offering one) with the end that answered.
    fn connect(&self, answer: &str) -> Result<(), LinkError> {
        let net = self.0.net.as_ref().ok_or(LinkError::EngineGone)?;
        let theirs = net.end(token_of(answer)?).ok_or_else(|| LinkError::Certificate("the answering side is gone".into()))?;
        let _ = self.0.far.set(Arc::downgrade(&theirs));
        // Like ICE between peers that cannot reach each other, a link
        // across a cut never opens.
        if net.net().blocked(&self.0.peer, &theirs.peer) {
            self.0.fail();
            return Ok(());
        }
        theirs.opened();
        self.0.opened();
        Ok(())
    }
}

/// A state message on its way, due at the other end at `due`.
struct Sent {
    due: tokio::time::Instant,
    size: usize,
    kind: LinkEventKind,
}

/// An end's messages on their way out.
struct Outbox {
    rx: mpsc::Receiver<Sent>,
    /// Bytes not yet delivered.
    queued: Arc<AtomicUsize>,
    phase: watch::Receiver<Phase>,
    /// Woken as messages are delivered: there is room for more.
    drained: Arc<tokio::sync::Notify>,
}

/// Carries one end's state messages to the other end's engine once the
/// link is open, each after the net's delay, in order; waits when that
/// engine's inbox is full.
fn spawn_delivery(tasks: &Tasks, end: Weak<End>, mut out: Outbox) {
    tasks.spawn(async move {
        if !matches!(out.phase.wait_for(|p| *p != Phase::Pending).await.map(|p| *p), Ok(Phase::Open)) {
            return;
        }
        while let Some(Sent { due, size, kind }) = out.rx.recv().await {
            tokio::time::sleep_until(due).await;
            let far = end.upgrade().filter(|e| !e.closed.load(Ordering::Acquire)).and_then(|e| e.far());
            if let Some(far) = far.filter(|f| !f.closed.load(Ordering::Acquire)) {
                let _ = far.events.send(LinkEvent { link: far.id, kind }).await;
            }
            out.queued.fetch_sub(size, Ordering::AcqRel);
            out.drained.notify_one();
        }
    });
}

/// The message as the other end decodes it, through chunking and
/// reassembly as on a data channel, and its size on the wire.
fn carried(msg: &StateMsg) -> Option<(usize, LinkEventKind)> {
    let bytes = msg.encode();
    let mut joined = Reassembler::default();
    let mut whole = None;
    for chunk in frame::split(&bytes) {
        whole = joined.push(&chunk).ok().flatten().or(whole);
    }
    let kind = match StateMsg::decode(&whole?) {
        Ok(decoded) => LinkEventKind::State(decoded),
        Err(e) => LinkEventKind::Malformed(e),
    };
    Some((bytes.len(), kind))
}

/// One side of a [`pair`]: its id for the connection, its certificate's
/// fingerprint, and where its engine takes link events.
pub struct Side {
    pub id: LinkId,
    pub fingerprint: [u8; 32],
    pub inbox: mpsc::Sender<LinkEvent>,
}

/// A connection between `a` and `b`, open at once, that delivers as it is
/// sent: the end `a` holds, and the end `b` holds.
pub fn pair(a: Side, b: Side) -> (MemLink, MemLink) {
    let end = |s: Side| {
        Arc::new(End {
            id: s.id,
            mine: s.fingerprint,
            peer: PeerId::of_certificate(&s.fingerprint),
            net: None,
            token: 0,
            far: OnceLock::new(),
            events: s.inbox,
            out: None,
            queued: Arc::default(),
            phase: watch::channel(Phase::Open).0,
            closed: AtomicBool::new(false),
        })
    };
    let (at_a, at_b) = (end(a), end(b));
    let _ = at_a.far.set(Arc::downgrade(&at_b));
    let _ = at_b.far.set(Arc::downgrade(&at_a));
    (MemLink(at_a), MemLink(at_b))
}

impl Transport for MemLink {
    fn id(&self) -> LinkId {
        self.0.id
    }

    fn send_state(&self, msg: &StateMsg) -> Result<(), StateMsg> {
        let end = &self.0;
        if end.closed.load(Ordering::Acquire) {
            return Err(msg.clone());
        }
        let Some((size, kind)) = carried(msg) else { return Err(msg.clone()) };
        let Some(out) = &end.out else {
            return if end.deliver(kind) { Ok(()) } else { Err(msg.clone()) };
        };
        let due = tokio::time::Instant::now() + end.net.as_ref().map_or(Duration::ZERO, |n| n.net().delay);
        end.queued.fetch_add(size, Ordering::AcqRel);
        out.try_send(Sent { due, size, kind }).map_err(|_| {
            end.queued.fetch_sub(size, Ordering::AcqRel);
            msg.clone()
        })
    }

    fn send_presence(&self, bytes: Vec<u8>) {
        let lost = self.0.net.as_ref().is_some_and(|n| {
            let share = n.net().presence_loss;
            share > 0.0 && rand::random::<f64>() < share
        });
        if !lost && *self.0.phase.borrow() == Phase::Open {
            self.0.deliver(LinkEventKind::Presence(bytes));
        }
    }

    fn backlog(&self) -> usize {
        self.0.queued.load(Ordering::Acquire)
    }

    fn outbox_room(&self) -> usize {
        self.0.out.as_ref().map_or(OUTBOX, mpsc::Sender::capacity)
    }

    fn remote_fingerprint(&self) -> Option<[u8; 32]> {
        self.0.theirs()
    }

    fn accept_answer(&self, sdp: String) -> BoxFuture<'_, Result<(), LinkError>> {
        Box::pin(async move { self.connect(&sdp) })
    }

    fn wait_open(&self, timeout: Duration) -> BoxFuture<'_, Result<(), LinkError>> {
        let mut phase = self.0.phase.subscribe();
        Box::pin(async move {
            let reached = tokio::time::timeout(timeout, phase.wait_for(|p| *p != Phase::Pending))
                .await
                .map_err(|_| LinkError::OpenTimeout(timeout))?
                .map(|p| *p == Phase::Open);
            if reached.unwrap_or(false) { Ok(()) } else { Err(LinkError::Unreachable) }
        })
    }

    /// Handed over is delivered: the net loses nothing it took.
    fn delivered(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        let end = &self.0;
        if !end.closed.swap(true, Ordering::AcqRel) {
            end.phase.send_replace(Phase::Failed);
            if let Some(far) = end.far()
                && !far.closed.swap(true, Ordering::AcqRel)
            {
                far.phase.send_replace(Phase::Failed);
                let _ = far.events.try_send(LinkEvent { link: far.id, kind: LinkEventKind::Closed });
            }
        }
        Box::pin(async {})
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::{Conn, Identity, accept_pinned};

    fn cfg(net: &MemNet) -> LinkConfig {
        LinkConfig {
            udp_addrs: Vec::new(),
            identity: Identity::generate().expect("identity"),
            ice: Default::default(),
            traffic: Arc::default(),
            drained: Arc::default(),
            tasks: Tasks::new(),
            net: Some(net.clone()),
        }
    }

    fn id(cfg: &LinkConfig) -> PeerId {
        PeerId::of_certificate(&cfg.identity.fingerprint)
    }

    /// Two engines' ends of a new link, as their inboxes see it.
    struct Ends {
        a: Conn,
        b: Conn,
        a_rx: mpsc::Receiver<LinkEvent>,
        b_rx: mpsc::Receiver<LinkEvent>,
    }

    async fn connect(a_cfg: &LinkConfig, b_cfg: &LinkConfig) -> Ends {
        let (a_tx, a_rx) = mpsc::channel(1024);
        let (b_tx, b_rx) = mpsc::channel(1024);
        let (a, offer) = crate::link::offer(a_cfg, LinkId(1), a_tx).await.expect("offer");
        let (b, answer) = crate::link::answer(b_cfg, LinkId(2), b_tx, offer).await.expect("answer");
        assert!(matches!(accept_pinned(&a, answer.clone(), &a_cfg.identity.fingerprint).await, Err(LinkError::FingerprintMismatch)));
        accept_pinned(&a, answer, &b_cfg.identity.fingerprint).await.expect("accept");
        Ends { a, b, a_rx, b_rx }
    }

    async fn next(rx: &mut mpsc::Receiver<LinkEvent>, want: impl Fn(&LinkEventKind) -> bool) -> LinkEventKind {
        loop {
            let ev = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.expect("in time").expect("inbox open");
            if want(&ev.kind) {
                return ev.kind;
            }
        }
    }

    #[tokio::test]
    async fn a_link_on_the_net_carries_state_in_order_after_the_delay_and_names_both_certificates() {
        let net = MemNet::default();
        net.set_delay(Duration::from_millis(5));
        let (a_cfg, b_cfg) = (cfg(&net), cfg(&net));
        let mut ends = connect(&a_cfg, &b_cfg).await;
        ends.a.wait_open(Duration::from_secs(10)).await.expect("a open");
        ends.b.wait_open(Duration::from_secs(10)).await.expect("b open");
        assert_eq!(ends.a.remote_fingerprint(), Some(b_cfg.identity.fingerprint));
        assert_eq!(ends.b.remote_fingerprint(), Some(a_cfg.identity.fingerprint));

        let big = StateMsg::Sync(vec![(String::new(), (0..200_000u32).map(|i| (i % 253) as u8).collect())]);
        ends.a.send_state(&big).expect("queued");
        for i in 0..50 {
            ends.a.send_state(&StateMsg::Ping(i)).expect("queued");
        }
        assert!(ends.a.backlog() > 0, "delayed messages wait in the sender's outbox");
        let state = |k: &LinkEventKind| matches!(k, LinkEventKind::State(_));
        assert!(matches!(next(&mut ends.b_rx, state).await, LinkEventKind::State(m) if m == big));
        for i in 0..50 {
            assert!(matches!(next(&mut ends.b_rx, state).await, LinkEventKind::State(StateMsg::Ping(n)) if n == i));
        }
        ends.b.send_presence(vec![7]);
        assert!(matches!(next(&mut ends.a_rx, |k| matches!(k, LinkEventKind::Presence(_))).await, LinkEventKind::Presence(p) if p == [7]));
        ends.b.close().await;
        next(&mut ends.a_rx, |k| matches!(k, LinkEventKind::Closed)).await;
        assert!(ends.b.send_state(&StateMsg::Ping(0)).is_err(), "a closed link takes nothing");
    }

    #[tokio::test]
    async fn a_cut_fails_the_links_between_two_peers_and_keeps_new_ones_shut_until_healed() {
        let net = MemNet::default();
        let (a_cfg, b_cfg) = (cfg(&net), cfg(&net));
        let mut ends = connect(&a_cfg, &b_cfg).await;
        ends.a.wait_open(Duration::from_secs(10)).await.expect("open");
        net.cut(&id(&a_cfg), &id(&b_cfg));
        let closed = |k: &LinkEventKind| matches!(k, LinkEventKind::Closed);
        next(&mut ends.a_rx, closed).await;
        next(&mut ends.b_rx, closed).await;

        let across = connect(&a_cfg, &b_cfg).await;
        assert!(matches!(across.a.wait_open(Duration::from_secs(10)).await, Err(LinkError::Unreachable)), "no link opens across a cut");
        assert!(matches!(across.b.wait_open(Duration::from_secs(10)).await, Err(LinkError::Unreachable)));
        net.heal();
        let healed = connect(&a_cfg, &b_cfg).await;
        healed.a.wait_open(Duration::from_secs(10)).await.expect("open again");
    }

    #[tokio::test]
    async fn a_peer_taken_off_the_net_leaves_without_a_goodbye() {
        let net = MemNet::default();
        let (a_cfg, b_cfg) = (cfg(&net), cfg(&net));
        let mut ends = connect(&a_cfg, &b_cfg).await;
        ends.a.wait_open(Duration::from_secs(10)).await.expect("open");
        net.remove(&id(&b_cfg));
        assert!(ends.b.send_state(&StateMsg::Bye("bye".into())).is_err(), "nothing leaves a crashed peer");
        next(&mut ends.a_rx, |k| matches!(k, LinkEventKind::Closed)).await;
        assert!(ends.a_rx.try_recv().is_err(), "no goodbye arrived");
        net.restore(&id(&b_cfg));
        let back = connect(&a_cfg, &b_cfg).await;
        back.b.wait_open(Duration::from_secs(10)).await.expect("back on the net");
    }
}
