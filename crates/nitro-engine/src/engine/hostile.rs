//! A member that does not play by the rules: a peer in the test's own
//! process that joins a real host over real WebRTC on loopback (or, to
//! meet other peers in the same batch, over an in-memory connection),
//! speaks the protocol, and sends what an honest peer never would.

use tokio::sync::mpsc;

use super::handshake::{self, LinkIds, Local};
use super::{Engine, EngineConfig, EngineError, EngineHandle};
use crate::doc::{Content, DocKey, FileId, SyncState, WorkspaceDoc};
use std::sync::Arc;

use crate::link::{Conn, IceConfig, Identity, LinkConfig, LinkEvent, LinkEventKind, LinkId, memory};
use crate::protocol::limits::MAX_LOOSE_DOCS;
use crate::protocol::{Hello, Invite, PROTOCOL_VERSION, PeerId, Secret, SessionId, StateMsg};
use crate::signal::{client, crypto, hub::Hub};

mod door;

/// Far longer than a host takes to drop a link (it pings every 2 s).
const KEPT_FOR: std::time::Duration = std::time::Duration::from_secs(60);

struct Hostile {
    link: Conn,
    /// State messages from the host; closed when the host closes the link.
    states: mpsc::UnboundedReceiver<StateMsg>,
    me: PeerId,
}

impl Hostile {
    /// Joins `invite` under the id `claim`, or its certificate's own.
    async fn join(invite: &Invite, claim: Option<PeerId>) -> Result<Self, EngineError> {
        Self::join_as(invite, claim, "mallory").await
    }

    async fn join_as(invite: &Invite, claim: Option<PeerId>, name: &str) -> Result<Self, EngineError> {
        let identity = Identity::generate()?;
        let me = claim.unwrap_or_else(|| PeerId::of_certificate(&identity.fingerprint));
        let (local, events) = local_on_loopback(me.clone(), name, identity);
        let signal = client::connect(&invite.signal, &crypto::topic(&invite.session), &Default::default()).await?;
        let link = handshake::join(&local, invite, signal, &tokio::sync::watch::channel(false).0).await?;
        let hello = Hello { protocol: PROTOCOL_VERSION, peer: me.clone(), name: name.into(), workspace: invite.session.to_hex() };
        let _ = link.send_state(&StateMsg::Hello(hello));
        Ok(Self { states: answer_pings(link.clone(), events), link, me })
    }

    /// Connects through memory to `host`, a host in this process, as the
    /// holder of a certificate with this `fingerprint`.
    async fn in_memory(host: &MemoryHost, fingerprint: [u8; 32]) -> Self {
        let me = PeerId::of_certificate(&fingerprint);
        // Let in as an editor, as the host's door would.
        host.handle.set_role(me.clone(), crate::protocol::membership::Role::Editor).await.expect("let in");
        let (inbox, events) = mpsc::channel(super::actor::INBOX);
        let n = host.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (ours, theirs) = memory::pair(
            memory::Side { id: LinkId(n), fingerprint, inbox },
            memory::Side { id: LinkId(1_000 + n), fingerprint: [0; 32], inbox: host.inbox.clone() },
        );
        let theirs: Conn = Arc::new(theirs);
        host.inbox.send(LinkEvent { link: theirs.id(), kind: LinkEventKind::Added(theirs) }).await.expect("the host runs");
        let link: Conn = Arc::new(ours);
        let hello = Hello { protocol: PROTOCOL_VERSION, peer: me.clone(), name: "mallory".into(), workspace: host.session.to_hex() };
        let _ = link.send_state(&StateMsg::Hello(hello));
        Self { states: answer_pings(link.clone(), events), link, me }
    }

    fn send(&self, msg: StateMsg) {
        assert!(self.link.send_state(&msg).is_ok(), "the hostile peer's outbox is full");
    }

    /// The next state message; `None` once the host closed the link.
    async fn next(&mut self) -> Option<StateMsg> {
        self.states.recv().await
    }

    /// Waits until the host drops this link; returns its goodbye, if any.
    /// A host that keeps the link fails the test instead of hanging it.
    async fn dropped(&mut self) -> Option<String> {
        let mut bye = None;
        let wait = async {
            while let Some(msg) = self.next().await {
                if let StateMsg::Bye(reason) = msg {
                    bye = Some(reason);
                }
            }
        };
        tokio::time::timeout(KEPT_FOR, wait).await.expect("the host kept the link of a peer it should have dropped");
        bye
    }

    /// Runs the sync protocol with the host until this peer holds its tree.
    async fn sync(&mut self, doc: &mut WorkspaceDoc) {
        let mut state = SyncState::default();
        while !doc.is_initialized() || doc.tree().entries.is_empty() {
            let Some(msg) = self.next().await else { panic!("the host dropped an honest sync") };
            if let StateMsg::Sync(items) = msg {
                for (key, m) in items {
                    let key = DocKey::from_wire(&key).expect("key");
                    doc.receive_sync(&mut state, &key, &m).expect("sync");
                }
                let out: Vec<(String, Vec<u8>)> = doc.generate_sync(&mut state).into_iter().map(|(k, m)| (k.to_wire().to_owned(), m)).collect();
                if !out.is_empty() {
                    self.send(StateMsg::Sync(out));
                }
            }
        }
    }
}

/// Waits until `host` drops `peer` (it reports that peer leaving).
async fn left(events: &mut tokio::sync::broadcast::Receiver<super::EngineEvent>, peer: &PeerId) {
    let wait = async {
        loop {
            match events.recv().await {
                Ok(super::EngineEvent::PeerLeft { peer: p, .. }) if p == *peer => return,
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("the host stopped: {e}"),
            }
        }
    };
    tokio::time::timeout(KEPT_FOR, wait).await.expect("the host kept the link of a peer it should have dropped");
}

/// A peer's side of handshakes on loopback, and where its links report.
fn local_on_loopback(me: PeerId, name: &str, identity: Identity) -> (Local, mpsc::Receiver<LinkEvent>) {
    let (inbox, events) = mpsc::channel(super::actor::INBOX);
    let links = LinkConfig {
        udp_addrs: vec!["127.0.0.1:0".into()],
        identity,
        ice: IceConfig::default(),
        traffic: Default::default(),
        drained: Default::default(),
        tasks: Default::default(),
        net: None,
    };
    (Local { me, name: name.into(), links, ids: LinkIds::default(), inbox }, events)
}

/// Answers the host's pings as they come, so that a host drops a hostile
/// peer for what it sent, never for going silent; hands on the rest.
fn answer_pings(link: Conn, mut events: mpsc::Receiver<LinkEvent>) -> mpsc::UnboundedReceiver<StateMsg> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(ev) = events.recv().await {
            match ev.kind {
                LinkEventKind::State(StateMsg::Ping(n)) => {
                    let _ = link.send_state(&StateMsg::Pong(n));
                }
                LinkEventKind::State(msg) => {
                    let _ = tx.send(msg);
                }
                LinkEventKind::Closed => return,
                _ => {}
            }
        }
    });
    rx
}

/// A host engine in this process that meets its peers through memory only.
struct MemoryHost {
    dir: tempfile::TempDir,
    handle: EngineHandle,
    inbox: mpsc::Sender<LinkEvent>,
    session: SessionId,
    next: std::sync::atomic::AtomicU64,
}

impl MemoryHost {
    async fn start(files: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        for (p, text) in files {
            std::fs::write(dir.path().join(p), text).expect("write");
        }
        let session = SessionId::random();
        let sandbox = crate::fs::Sandbox::open(dir.path(), super::DEFAULT_MAX_FILE_SIZE).expect("sandbox");
        let doc = WorkspaceDoc::new_workspace(&session.to_hex()).expect("doc");
        let mut ws = super::workspace::Workspace::open(sandbox, doc, &Default::default()).expect("workspace");
        ws.rescan().expect("scan");
        let (watcher, changes) = crate::fs::watcher::Watcher::spawn(dir.path()).expect("watcher");
        let identity = Identity::generate().expect("identity");
        let members = super::membership::Membership::load(ws.sandbox(), session, identity.fingerprint);
        let (local, events) = local_on_loopback(PeerId::of_certificate(&identity.fingerprint), "host", identity);
        let inbox = local.inbox.clone();
        let mut actor = super::actor::Actor::new(ws, local, session, events, members);
        actor.enroll(super::membership::Access::Host).expect("enroll");
        actor.watch(watcher, changes);
        Self { dir, handle: actor.spawn(None), inbox, session, next: 1.into() }
    }
}

async fn host(files: &[(&str, &str)]) -> (tempfile::TempDir, EngineHandle, Invite) {
    host_approving(files, false).await
}

/// A host on loopback whose user is asked about newcomers when `approve`.
async fn host_approving(files: &[(&str, &str)], approve: bool) -> (tempfile::TempDir, EngineHandle, Invite) {
    let dir = tempfile::tempdir().expect("tempdir");
    for (p, text) in files {
        std::fs::write(dir.path().join(p), text).expect("write");
    }
    let mut cfg = EngineConfig::new(dir.path(), "host");
    cfg.bind = Some(std::net::Ipv4Addr::LOCALHOST.into());
    cfg.approve = approve;
    let handle = Engine::host(cfg).await.expect("host");
    let invite = handle.invite().expect("invite").clone();
    (dir, handle, invite)
}

#[tokio::test]
async fn a_peer_claiming_another_peers_id_is_refused_and_its_own_is_accepted() {
    let (_dir, host, invite) = host(&[("a.txt", "a")]).await;
    let victim = PeerId::of_certificate(&Identity::generate().expect("identity").fingerprint);
    // Its offer names its own certificate: the host's door says no.
    let refused = Hostile::join(&invite, Some(victim)).await.err().expect("denied");
    assert!(matches!(&refused, EngineError::Denied(r) if r.contains("refusing an impersonation")), "{refused}");
    assert!(host.peers().await.expect("peers").is_empty());
    let mut honest = Hostile::join(&invite, None).await.expect("connects");
    let mut doc = WorkspaceDoc::empty();
    honest.sync(&mut doc).await;
    assert_eq!(host.peers().await.expect("peers").iter().map(|p| &p.peer).collect::<Vec<_>>(), [&honest.me]);
    host.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_peer_that_floods_documents_is_dropped_and_the_host_goes_on() {
    let (_dir, host, invite) = host(&[("a.txt", "a")]).await;
    let mut events = host.subscribe();
    let mut mallory = Hostile::join(&invite, None).await.expect("connects");
    let mut doc = WorkspaceDoc::empty();
    mallory.sync(&mut doc).await;
    let forged: Vec<(String, Vec<u8>)> = (0..=MAX_LOOSE_DOCS)
        .map(|i| {
            let mut junk = WorkspaceDoc::new_workspace(&format!("junk{i}")).expect("doc");
            let id = junk.create(None, "x", &Content::Dir).expect("entry");
            let (_, bytes) = junk.take_changes().expect("change").remove(0);
            (FileId::to_string(&id), bytes)
        })
        .collect();
    mallory.send(StateMsg::Changes(forged));
    left(&mut events, &mallory.me).await;
    assert!(host.peers().await.expect("peers").is_empty());
    // The host still shares its files with the next peer.
    let mut honest = Hostile::join(&invite, None).await.expect("a new peer connects");
    let mut doc = WorkspaceDoc::empty();
    honest.sync(&mut doc).await;
    let names: Vec<String> = doc.tree().by_path.keys().map(|p| p.to_string()).collect();
    assert!(names.contains(&"a.txt".to_owned()), "{names:?}");
    host.shutdown().await.expect("shutdown");
}

/// The tree's root replaced over the wire: the host's files stay listed
/// and on its disk.
#[tokio::test]
async fn a_peer_replacing_the_root_of_the_tree_deletes_nothing() {
    let (dir, host, invite) = host(&[("a.txt", "a"), ("b.txt", "b")]).await;
    let mut mallory = Hostile::join(&invite, None).await.expect("connects");
    let mut doc = WorkspaceDoc::empty();
    mallory.sync(&mut doc).await;
    let change = doc.replace_root_for_test();
    mallory.send(StateMsg::Changes(vec![(String::new(), change)]));
    // The peer stays: replacing the root is allowed, and ignored.
    mallory.send(StateMsg::Ping(7));
    while let Some(msg) = mallory.next().await {
        if msg == StateMsg::Pong(7) {
            break;
        }
    }
    let files: Vec<String> = host.files().await.expect("files").into_iter().map(|f| f.path.to_string()).collect();
    assert_eq!(files, ["a.txt", "b.txt"]);
    assert_eq!(std::fs::read_to_string(dir.path().join("a.txt")).expect("a.txt"), "a");
    host.shutdown().await.expect("shutdown");
}

/// A host of another protocol version: the joiner says so at once, rather
/// than waiting minutes for a workspace that never comes.
#[tokio::test]
async fn a_joiner_facing_a_host_of_another_version_says_so_at_once() {
    let (hub, addr) = Hub::bind((std::net::Ipv4Addr::LOCALHOST, 0).into()).await.expect("hub");
    let (session, secret, identity) = (SessionId::random(), Secret::random(), Identity::generate().expect("identity"));
    let fingerprint = identity.fingerprint;
    let me = PeerId::of_certificate(&fingerprint);
    let (local, mut events) = local_on_loopback(me.clone(), "old", identity);
    let key = crypto::SignalKey::derive(&secret, &session);
    let conn = hub.local(&crypto::topic(&session));
    let (offers_tx, mut offers) = mpsc::channel(8);
    let (publish, me_too) = (conn.tx.clone(), me.clone());
    let accept = tokio::spawn(async move {
        let forward = tokio::spawn(handshake::accept(me_too, conn.rx, offers_tx));
        while let Some(env) = offers.recv().await {
            if let Ok(plain) = key.open(&env) {
                let _ = handshake::answer(&local, &key, &publish, plain).await;
            }
        }
        forward.abort();
    });
    let old = tokio::spawn(async move {
        while let Some(ev) = events.recv().await {
            if let LinkEventKind::Added(link) = ev.kind {
                let hello = Hello { protocol: PROTOCOL_VERSION - 1, peer: me.clone(), name: "old".into(), workspace: session.to_hex() };
                let _ = link.send_state(&StateMsg::Hello(hello));
            }
        }
    });
    let signal = url::Url::parse(&format!("ws://{addr}")).expect("url");
    let invite = Invite { session, secret, signal, fingerprint, host_name: "old".into(), view: false };
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = EngineConfig::new(dir.path().join("ws"), "bob");
    cfg.bind = Some(std::net::Ipv4Addr::LOCALHOST.into());
    let joined = tokio::time::timeout(KEPT_FOR, Engine::join(cfg, invite)).await.expect("an answer well before the workspace timeout");
    let err = joined.err().expect("refused");
    assert!(matches!(err, EngineError::CannotJoin(_)), "{err}");
    assert!(err.to_string().contains(&format!("protocol version {}", PROTOCOL_VERSION - 1)), "{err}");
    accept.abort();
    old.abort();
}

#[tokio::test]
async fn a_peer_flooding_presence_or_requests_for_texts_is_dropped() {
    let (_dir, host, invite) = host(&[("a.txt", "a")]).await;
    let mut events = host.subscribe();
    let mut mallory = Hostile::join(&invite, None).await.expect("connects");
    mallory.sync(&mut WorkspaceDoc::empty()).await;
    let presence = crate::protocol::presence::PresenceMsg::default().encode();
    let link = mallory.link.clone();
    // 10,000 a second, for as long as the host takes it.
    let flood = tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_millis(10));
        loop {
            every.tick().await;
            for _ in 0..100 {
                link.send_presence(presence.clone());
                // Lets the link's writer send each one (it sends only the newest).
                tokio::task::yield_now().await;
            }
        }
    });
    left(&mut events, &mallory.me).await;
    flood.abort();
    let mut mallory = Hostile::join(&invite, None).await.expect("connects");
    mallory.sync(&mut WorkspaceDoc::empty()).await;
    let limit = crate::protocol::limits::WANT_RATE;
    for _ in 0..(limit.burst + limit.per_second) as usize {
        mallory.send(StateMsg::Want(vec!["00".repeat(32)]));
    }
    left(&mut events, &mallory.me).await;
    assert!(host.peers().await.expect("peers").is_empty());
    host.shutdown().await.expect("shutdown");
}

/// A member that takes the host's name: both are shown with their ids.
#[tokio::test]
async fn a_peer_cannot_appear_under_another_peers_name() {
    let (_dir, host, invite) = host(&[("a.txt", "a")]).await;
    let mut mallory = Hostile::join_as(&invite, None, "host").await.expect("connects");
    mallory.sync(&mut WorkspaceDoc::empty()).await;
    let peers = host.peers().await.expect("peers");
    assert_eq!(peers.len(), 1);
    assert_eq!(peers[0].name, format!("host ({})", &mallory.me.as_str()[..4]));
    // The host's own entry is told apart from the newcomer too.
    let mut shown: Vec<String> = host.members().await.expect("members").into_iter().map(|m| m.name).collect();
    shown.sort();
    let mut want = [format!("host ({})", &host.me().as_str()[..4]), format!("host ({})", &mallory.me.as_str()[..4])];
    want.sort();
    assert_eq!(shown, want);
    host.shutdown().await.expect("shutdown");
}

/// A member writes the host's roster entry (the host's certificate
/// copied, a new name, a higher number) and one for a peer id nobody
/// holds: no peer believes either, and the host writes its own entry again.
#[tokio::test]
async fn a_peer_cannot_write_another_members_roster_entry() {
    let (_dir, host, invite) = host(&[("a.txt", "a")]).await;
    let session = invite.session.to_hex();
    let mut mallory = Hostile::join(&invite, None).await.expect("connects");
    let mut doc = WorkspaceDoc::empty().for_session(&session).expect("session");
    mallory.sync(&mut doc).await;
    let me = host.me().clone();
    let mut forged = doc.enrollments()[me.as_str()][0].clone();
    forged.member.name = "admin".into();
    forged.seq += 5;
    doc.set_member(me.as_str(), &forged).expect("forge");
    doc.set_member("0000000000000001", &forged).expect("forge");
    let changes = doc.take_changes().expect("changes").into_iter().map(|(k, c)| (k.to_wire().to_owned(), c)).collect();
    mallory.send(StateMsg::Changes(changes));

    let restored = async {
        loop {
            match mallory.next().await {
                Some(StateMsg::Changes(items)) => {
                    let items = items.into_iter().map(|(k, c)| (DocKey::from_wire(&k).expect("key"), c)).collect();
                    doc.apply_changes(items).expect("the host's changes apply");
                    let ours = &doc.enrollments()[me.as_str()];
                    if ours.len() == 1 && ours[0].member.name == "host" {
                        return;
                    }
                }
                Some(_) => {}
                None => panic!("the host dropped a member that only wrote the roster"),
            }
        }
    };
    tokio::time::timeout(KEPT_FOR, restored).await.expect("the host writes its entry again");
    let mut roster = super::roster::Roster::new(&session);
    roster.refresh(doc.enrollments());
    assert_eq!(roster.members().into_keys().collect::<Vec<_>>(), vec![me.clone()], "the host's entry is proven, the ghost's is not");
    // Members are the host and mallory, each under its own name; no ghost, no "admin".
    let mut shown: Vec<(PeerId, String)> = host.members().await.expect("members").into_iter().map(|m| (m.peer, m.name)).collect();
    shown.sort();
    let mut want = vec![(me, "host".to_owned()), (mallory.me.clone(), "mallory".to_owned())];
    want.sort();
    assert_eq!(shown, want);
    host.shutdown().await.expect("shutdown");
}

/// Someone on the signaling topic (another joiner, the server itself)
/// answers every offer with "refused": the join goes on.
#[tokio::test]
async fn a_forged_refusal_does_not_end_a_join() {
    let (_dir, host, invite) = host(&[("a.txt", "a")]).await;
    let mut spy = client::connect(&invite.signal, &crypto::topic(&invite.session), &Default::default()).await.expect("subscribes");
    let eve = Identity::generate().expect("identity");
    let host_id = host.me().clone();
    let forger = tokio::spawn(async move {
        while let Some(env) = spy.rx.recv().await {
            if env.kind != crate::signal::Kind::Offer {
                continue;
            }
            let bare = crate::signal::Envelope {
                nitro: 1,
                kind: crate::signal::Kind::Refused,
                from: host_id.clone(),
                to: Some(env.from.clone()),
                sealed: None,
            };
            let signed_by_eve = crate::signal::refusal::refuse(&eve, &host_id, &env).expect("refusal");
            let _ = spy.tx.send(bare);
            let _ = spy.tx.send(signed_by_eve);
        }
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = EngineConfig::new(dir.path().join("ws"), "bob");
    cfg.bind = Some(std::net::Ipv4Addr::LOCALHOST.into());
    let bob = Engine::join(cfg, invite).await.expect("joins despite the forged refusals");
    assert_eq!(std::fs::read_to_string(dir.path().join("ws/a.txt")).expect("a.txt"), "a");
    forger.abort();
    bob.shutdown().await.expect("shutdown");
    host.shutdown().await.expect("shutdown");
}

/// Changes from an honest peer and a bad one that arrive together: the bad
/// one is dropped, and the honest edits still land on the host's disk.
#[tokio::test]
async fn one_bad_change_costs_only_its_sender() {
    let host = MemoryHost::start(&[("a.txt", "a")]).await;
    let mut events = host.handle.subscribe();
    let mut honest = Hostile::in_memory(&host, [1; 32]).await;
    let mut bad = Hostile::in_memory(&host, [2; 32]).await;
    let mut doc = WorkspaceDoc::empty();
    honest.sync(&mut doc).await;
    bad.sync(&mut WorkspaceDoc::empty()).await;
    doc.create(None, "honest.txt", &Content::Dir).expect("entry");
    let (key, good) = doc.take_changes().expect("change").remove(0);
    let mut junk = good.clone();
    let last = junk.len() - 1;
    junk[last] ^= 0xff;
    // Delivered into the host's inbox back to back: one batch.
    bad.send(StateMsg::Changes(vec![(key.to_wire().to_owned(), junk)]));
    honest.send(StateMsg::Changes(vec![(key.to_wire().to_owned(), good)]));
    left(&mut events, &bad.me).await;
    let on_disk = async {
        while !host.dir.path().join("honest.txt").is_dir() {
            match events.recv().await {
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("the host stopped: {e}"),
            }
        }
    };
    tokio::time::timeout(KEPT_FOR, on_disk).await.expect("the honest edit reached the host's disk");
    let peers: Vec<PeerId> = host.handle.peers().await.expect("peers").into_iter().map(|p| p.peer).collect();
    assert_eq!(peers, [honest.me.clone()]);
    host.handle.shutdown().await.expect("shutdown");
}

/// A member whose first message is Changes, not Hello: the host drops it
/// (it used to take such a message up again and again, and hang: on two
/// threads, so that a hung host fails the test instead of stopping it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_sends_changes_before_hello_is_dropped_and_the_host_goes_on() {
    let host = MemoryHost::start(&[("a.txt", "a")]).await;
    let (inbox, _events) = mpsc::channel(super::actor::INBOX);
    let (ours, theirs) = memory::pair(
        memory::Side { id: LinkId(1), fingerprint: [5; 32], inbox },
        memory::Side { id: LinkId(999), fingerprint: [0; 32], inbox: host.inbox.clone() },
    );
    let theirs: Conn = Arc::new(theirs);
    host.inbox.send(LinkEvent { link: theirs.id(), kind: LinkEventKind::Added(theirs) }).await.expect("the host runs");
    let mut junk = WorkspaceDoc::new_workspace("junk").expect("doc");
    junk.create(None, "x", &Content::Dir).expect("entry");
    let changes = junk.take_changes().expect("changes").into_iter().map(|(k, b)| (k.to_wire().to_owned(), b)).collect();
    assert!(crate::link::Transport::send_state(&ours, &StateMsg::Changes(changes)).is_ok());
    // The host still answers, and still lets an honest peer in.
    let mut honest = Hostile::in_memory(&host, [6; 32]).await;
    let mut doc = WorkspaceDoc::empty();
    tokio::time::timeout(KEPT_FOR, honest.sync(&mut doc)).await.expect("the host goes on");
    let peers: Vec<PeerId> = host.handle.peers().await.expect("peers").into_iter().map(|p| p.peer).collect();
    assert_eq!(peers, [honest.me.clone()]);
    host.handle.shutdown().await.expect("shutdown");
}

/// A viewer whose program ignores its read-only role: what it sends, in a
/// Changes message or inside a sync round, changes nothing on the host's
/// disk; a membership it signs itself gets it dropped.
#[tokio::test]
async fn a_modified_viewer_changes_nothing_on_the_hosts_disk() {
    let (dir, host, invite) = host(&[("a.txt", "a")]).await;
    let view = host.invites().expect("links").view;
    let mut vic = Hostile::join(&view, None).await.expect("connects");
    let mut doc = WorkspaceDoc::empty().for_session(&invite.session.to_hex()).expect("session");
    vic.sync(&mut doc).await;
    let a = doc.tree().by_path.get(&crate::path::RelPath::new("a.txt").expect("path")).cloned().expect("a.txt is listed");
    let wire = |items: Vec<(DocKey, Vec<u8>)>| items.into_iter().map(|(k, c)| (k.to_wire().to_owned(), c)).collect::<Vec<_>>();

    doc.create(None, "evil.txt", &Content::Text("evil".into())).expect("create");
    vic.send(StateMsg::Changes(wire(doc.take_changes().expect("changes"))));
    // A "base change" made from a text other than the one a.txt's entry
    // names: built like a real one, it would replace the file for everyone.
    let mut other = WorkspaceDoc::empty().for_session(&invite.session.to_hex()).expect("session");
    other.ensure_content(&a, "replaced by a viewer").expect("a base change of another text");
    vic.send(StateMsg::Changes(wire(other.take_changes().expect("changes"))));
    doc.rename(&a, None, "renamed.txt").expect("rename");
    let (key, change) = doc.take_changes().expect("changes").remove(0);
    let msg = automerge::sync::Message {
        heads: Vec::new(),
        need: Vec::new(),
        have: Vec::new(),
        changes: vec![change].into(),
        flags: None,
        version: automerge::sync::MessageVersion::V1,
    };
    vic.send(StateMsg::Sync(vec![(key.to_wire().to_owned(), msg.encode())]));
    // The host handles a peer's messages in order: its pong comes after them.
    vic.send(StateMsg::Ping(77));
    let pong = async {
        while let Some(msg) = vic.next().await {
            if msg == StateMsg::Pong(77) {
                return;
            }
        }
        panic!("the host dropped a viewer for sending changes");
    };
    tokio::time::timeout(KEPT_FOR, pong).await.expect("a pong");
    assert!(dir.path().join("a.txt").exists() && !dir.path().join("evil.txt").exists() && !dir.path().join("renamed.txt").exists());
    assert_eq!(host.text(crate::path::RelPath::new("a.txt").expect("path")).await.expect("text").0, "a");
    assert_eq!(std::fs::read_to_string(dir.path().join("a.txt")).expect("a.txt"), "a");
    let files: Vec<String> = host.files().await.expect("files").into_iter().map(|f| f.path.to_string()).collect();
    assert_eq!(files, ["a.txt"]);

    // Its own word on who may edit: signed by the wrong key.
    let mine = Identity::generate().expect("identity");
    let roles = crate::protocol::membership::Roles {
        session: invite.session.to_hex(),
        seq: 1_000,
        members: [(vic.me.clone(), crate::protocol::membership::Role::Editor)].into(),
    };
    let forged = crate::protocol::membership::SignedRoles::sign(&mine, roles).expect("signed");
    vic.send(StateMsg::Membership(forged.as_bytes().to_vec()));
    vic.dropped().await;
    assert_eq!(host.access().await.expect("access"), super::membership::Access::Host);
    host.shutdown().await.expect("shutdown");
}

/// A member the host does not share its language servers with asks one
/// anyway: a clear refusal, and nothing runs.
#[tokio::test]
async fn a_peer_not_allowed_gets_no_language_server_answer() {
    let (_dir, host, invite) = host(&[("a.ts", "let a = 1;\n")]).await;
    let mut mallory = Hostile::join(&invite, None).await.expect("connects");
    let path = crate::path::RelPath::new("a.ts").expect("path");
    let request = crate::protocol::lsp::LspMsg::Request { id: 5, path, method: "textDocument/hover".into(), params: serde_json::json!({}) };
    mallory.send(StateMsg::Lsp(request));
    let answer = async {
        while let Some(msg) = mallory.next().await {
            if let StateMsg::Lsp(crate::protocol::lsp::LspMsg::Response { id: 5, result }) = msg {
                return result;
            }
        }
        panic!("the host dropped the link instead of answering");
    };
    let result = tokio::time::timeout(KEPT_FOR, answer).await.expect("an answer");
    assert!(result.is_err_and(|e| e.contains("does not share")));
    host.shutdown().await.expect("shutdown");
}

/// A member a host serves its language servers to asks them to run a
/// command, or names files outside what the host shares: refused, each.
#[tokio::test]
async fn a_served_peer_can_only_ask_about_shared_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("a.ts"), "let a = 1;\n").expect("write");
    std::fs::write(dir.path().join(".env"), "TOKEN=secret\n").expect("write");
    let mut cfg = EngineConfig::new(dir.path(), "host");
    cfg.bind = Some(std::net::Ipv4Addr::LOCALHOST.into());
    cfg.serve_lsp = true;
    let host = Engine::host(cfg).await.expect("host");
    let invite = host.invite().expect("invite");
    let mut mallory = Hostile::join(&invite, None).await.expect("connects");
    let a = crate::path::RelPath::new("a.ts").expect("path");
    let position = serde_json::json!({"line": 0, "character": 0});
    let asks = [
        ("workspace/executeCommand", serde_json::json!({"command": "gopls.generate", "arguments": []})),
        ("textDocument/hover", serde_json::json!({"textDocument": {"uri": "nitro:/..%5C..%5Cetc%5Cpasswd"}, "position": position})),
        ("textDocument/hover", serde_json::json!({"textDocument": {"uri": "File:///etc/passwd"}, "position": position})),
        ("textDocument/hover", serde_json::json!({"textDocument": {"uri": "nitro:/.env"}, "position": position})),
    ];
    for (n, (method, params)) in asks.iter().enumerate() {
        let request = crate::protocol::lsp::LspMsg::Request { id: n as u64, path: a.clone(), method: (*method).into(), params: params.clone() };
        mallory.send(StateMsg::Lsp(request));
    }
    let answers = async {
        let mut refused = Vec::new();
        while let Some(msg) = mallory.next().await {
            if let StateMsg::Lsp(crate::protocol::lsp::LspMsg::Response { id, result: Err(e) }) = msg {
                refused.push((id, e));
                if refused.len() == asks.len() {
                    return refused;
                }
            }
        }
        panic!("the host dropped the link instead of answering");
    };
    let mut refused = tokio::time::timeout(KEPT_FOR, answers).await.expect("answers");
    refused.sort();
    assert!(refused[0].1.contains("not a request NitroIDE passes on"), "{refused:?}");
    for (_, why) in &refused[1..] {
        assert!(why.contains("not a document of this workspace"), "{refused:?}");
    }
    host.shutdown().await.expect("shutdown");
}

/// A member the owner granted its shell asks for a 65535×65535 terminal:
/// refused, and the real PTY keeps its size (`stty size` says so).
#[tokio::test]
async fn a_granted_peer_cannot_resize_the_owners_shell_beyond_the_bounds() {
    use crate::protocol::wire::TermMsg;
    let host = MemoryHost::start(&[("a.txt", "a")]).await;
    let mut mallory = Hostile::in_memory(&host, [3; 32]).await;
    mallory.sync(&mut WorkspaceDoc::empty()).await;
    let term = host.handle.open_terminal(80, 24).await.expect("a shell starts");
    host.handle.grant_terminal(term, mallory.me.clone(), true).await.expect("grant");

    mallory.send(StateMsg::Term(TermMsg::Resize { term, cols: u16::MAX, rows: u16::MAX }));
    let refused = async {
        loop {
            match mallory.next().await {
                Some(StateMsg::Term(TermMsg::Refused { term: t, reason })) if t == term => return reason,
                Some(_) => {}
                None => panic!("the host dropped the link instead of refusing"),
            }
        }
    };
    let reason = tokio::time::timeout(KEPT_FOR, refused).await.expect("the owner refuses the size");
    assert!(reason.contains("1000 columns"), "{reason}");
    let listed = host.handle.terminals().await.expect("terminals");
    let info = listed.iter().find(|t| t.id == term).expect("listed");
    assert_eq!((info.cols, info.rows), (80, 24));

    // In bounds, a granted peer's size applies; the PTY itself says which it has.
    mallory.send(StateMsg::Term(TermMsg::Resize { term, cols: 100, rows: 30 }));
    mallory.send(StateMsg::Term(TermMsg::Resize { term, cols: 0, rows: 40 }));
    mallory.send(StateMsg::Term(TermMsg::Input { term, bytes: b"stty size; echo si$((6*7))ze\n".to_vec() }));
    let mut view = host.handle.terminal_view(term).await.expect("view").expect("our terminal");
    let shown = view.shown_until("si42ze").await;
    assert!(shown.contains("30 100"), "the shell's size: {shown}");
    assert!(!shown.contains("65535"), "{shown}");
    host.handle.shutdown().await.expect("shutdown");
}

/// One Sync message naming 40,000 documents no entry names: refused as a
/// whole before any of it costs work, while another member's edits keep
/// arriving.
#[tokio::test]
async fn a_sync_naming_thousands_of_unknown_documents_is_refused_at_once() {
    let host = MemoryHost::start(&[("a.txt", "a")]).await;
    let mut events = host.handle.subscribe();
    let mut honest = Hostile::in_memory(&host, [4; 32]).await;
    let mut mallory = Hostile::in_memory(&host, [5; 32]).await;
    let mut doc = WorkspaceDoc::empty();
    honest.sync(&mut doc).await;
    mallory.sync(&mut WorkspaceDoc::empty()).await;
    use automerge::sync::SyncDoc as _;
    let round = automerge::Automerge::new().generate_sync_message(&mut automerge::sync::State::new()).expect("a first message").encode();
    let named: Vec<(String, Vec<u8>)> = (0..40_000u64).map(|i| (format!("{i:016x}"), round.clone())).collect();
    mallory.send(StateMsg::Sync(named));
    doc.create(None, "still-here", &Content::Dir).expect("entry");
    honest.send(StateMsg::Changes(doc.take_changes().expect("change").into_iter().map(|(k, c)| (k.to_wire().to_owned(), c)).collect()));
    left(&mut events, &mallory.me).await;
    let on_disk = async {
        while !host.dir.path().join("still-here").is_dir() {
            match events.recv().await {
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("the host stopped: {e}"),
            }
        }
    };
    tokio::time::timeout(KEPT_FOR, on_disk).await.expect("the honest member's edit reached the host's disk");
    assert_eq!(host.handle.peers().await.expect("peers").into_iter().map(|p| p.peer).collect::<Vec<_>>(), [honest.me.clone()]);
    host.handle.shutdown().await.expect("shutdown");
}
