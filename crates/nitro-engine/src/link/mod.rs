//! One WebRTC peer connection to another peer, carrying two pre-negotiated
//! data channels:
//!
//! - `state` (id 0): ordered, reliable. Chunked [`StateMsg`]s.
//! - `presence` (id 1): `ordered: false`, `max_retransmits: 0`. Ephemeral
//!   datagrams that may be lost.
//!
//! A link reports everything that happens to it as a [`LinkEvent`] on the
//! engine's inbox, tagged with its [`LinkId`]; the engine learns which peer
//! is behind a link from that peer's `Hello`.

pub mod identity;
pub mod memory;
pub mod transport;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::BytesMut;
use tokio::sync::{Notify, mpsc, watch};
use webrtc::data_channel::{DataChannel, DataChannelEvent, RTCDataChannelInit};
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCConfigurationBuilder, RTCIceGatheringState, RTCIceServer,
    RTCIceTransportPolicy, RTCPeerConnectionState, RTCSessionDescription, SettingEngineBuilder,
};

pub use identity::Identity;
pub use transport::{Conn, Transport};

use crate::protocol::frame::{self, Reassembler};
use crate::protocol::{StateMsg, WireError};
use crate::tasks::Tasks;

/// Bytes a channel may buffer before `send` waits: the back-pressure that
/// keeps a slow peer from growing our memory.
const SEND_BUFFER: usize = 1024 * 1024;
/// Encoded state messages queued for a link before the engine must treat the
/// peer as behind.
pub const OUTBOX: usize = 512;
/// ICE consent checks every 50 ms: besides noticing a vanished peer quickly,
/// the steady inbound traffic avoids a webrtc-rs stall after receive bursts.
const KEEPALIVE: Duration = Duration::from_millis(50);
const DISCONNECTED_AFTER: Duration = Duration::from_secs(2);
const FAILED_AFTER: Duration = Duration::from_secs(4);
const GATHER_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("WebRTC: {0}")]
    WebRtc(#[from] webrtc::error::Error),
    #[error("certificate: {0}")]
    Certificate(String),
    #[error("ICE candidate gathering did not finish")]
    Gathering,
    #[error("the peer's certificate does not match the invite link: this is not the host you were invited by")]
    FingerprintMismatch,
    #[error("the engine stopped")]
    EngineGone,
    #[error("the connection did not open within {0:?}")]
    OpenTimeout(Duration),
    #[error("the peer could not be reached")]
    Unreachable,
}

/// Identifies one peer connection for the lifetime of the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkId(pub u64);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    State,
    Presence,
}

#[derive(Debug)]
pub enum LinkEventKind {
    /// A new link, announced as soon as it exists.
    Added(Conn),
    /// A channel is open.
    Open(Channel),
    State(StateMsg),
    Presence(Vec<u8>),
    /// The peer sent bytes that are not a valid message.
    Malformed(WireError),
    /// The connection is gone (closed, failed, or its peer vanished).
    Closed,
}

#[derive(Debug)]
pub struct LinkEvent {
    pub link: LinkId,
    pub kind: LinkEventKind,
}

/// A STUN or TURN server.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct IceServer {
    /// `stun:host:port` or `turn:host:port?transport=udp`.
    pub urls: Vec<String>,
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub credential: String,
}

/// NAT traversal: the servers ICE may use, and whether it must relay.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct IceConfig {
    #[serde(default, rename = "ice_servers")]
    pub servers: Vec<IceServer>,
    /// Use only TURN relay candidates: peers never see each other's addresses.
    #[serde(default)]
    pub relay_only: bool,
}

/// Bytes carried by the `state` channels of all links of one peer.
#[derive(Debug, Default)]
pub struct Traffic {
    pub sent: AtomicU64,
    pub received: AtomicU64,
}

/// Where and how links are made.
#[derive(Debug, Clone)]
pub struct LinkConfig {
    /// Local UDP addresses ICE gathers candidates on, such as `127.0.0.1:0`.
    pub udp_addrs: Vec<String>,
    pub identity: Identity,
    pub ice: IceConfig,
    /// Shared by every link made with this config.
    pub traffic: Arc<Traffic>,
    /// Woken whenever a link has handed a queued state message to its
    /// channel: there may be room for more.
    pub drained: Arc<Notify>,
    /// The engine's tasks, which each link's own belong to.
    pub tasks: Tasks,
    /// Links are made on this network in memory instead of over WebRTC.
    pub net: Option<memory::MemNet>,
}

/// The offering side of a new link: the link, and the offer to send.
pub async fn offer(cfg: &LinkConfig, id: LinkId, events: mpsc::Sender<LinkEvent>) -> Result<(Conn, String), LinkError> {
    Ok(match &cfg.net {
        Some(net) => memory::offer(net, cfg, id, events).await.map(|(l, sdp)| (Arc::new(l) as Conn, sdp))?,
        None => Link::offer(cfg, id, events).await.map(|(l, sdp)| (Arc::new(l) as Conn, sdp))?,
    })
}

/// The answering side of a new link, for `offer`: the link, and the answer.
pub async fn answer(cfg: &LinkConfig, id: LinkId, events: mpsc::Sender<LinkEvent>, offer: String) -> Result<(Conn, String), LinkError> {
    Ok(match &cfg.net {
        Some(net) => memory::answer(net, cfg, id, events, offer).await.map(|(l, sdp)| (Arc::new(l) as Conn, sdp))?,
        None => Link::answer(cfg, id, events, offer).await.map(|(l, sdp)| (Arc::new(l) as Conn, sdp))?,
    })
}

/// Completes an offer with the answer, after checking that the answering
/// peer's certificate is the pinned one.
pub async fn accept_pinned(link: &Conn, sdp: String, pinned: &[u8; 32]) -> Result<(), LinkError> {
    if identity::sdp_fingerprint(&sdp).as_ref() != Some(pinned) {
        return Err(LinkError::FingerprintMismatch);
    }
    link.accept_answer(sdp).await
}

/// The engine's handle on a link.
#[derive(Clone)]
pub struct Link {
    pub id: LinkId,
    pc: Arc<dyn PeerConnection>,
    /// The state channel, asked at shutdown whether the peer has all of it.
    state: Arc<dyn DataChannel>,
    state_out: mpsc::Sender<Vec<u8>>,
    /// Bytes queued in `state_out`.
    queued: Arc<AtomicUsize>,
    /// The newest presence datagram; older unsent ones are simply replaced.
    presence_out: Arc<watch::Sender<Vec<u8>>>,
    open: watch::Receiver<u8>,
    /// The peer's DTLS certificate fingerprint, from its offer or answer
    /// (DTLS then proves the peer holds that certificate's key).
    remote_fp: Arc<std::sync::OnceLock<[u8; 32]>>,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link").field("id", &self.id).finish_non_exhaustive()
    }
}

struct Handler {
    link: LinkId,
    gathered: watch::Sender<bool>,
    events: mpsc::Sender<LinkEvent>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            let _ = self.gathered.send(true);
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        tracing::debug!(link = self.link.0, ?state, "connection state");
        if matches!(state, RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed) {
            // Never block the driver: if the inbox is full the engine is
            // already busy with this link's events and will see the close.
            let _ = self.events.try_send(LinkEvent { link: self.link, kind: LinkEventKind::Closed });
        }
    }
}

impl Link {
    /// Creates the peer connection and its channels. Events start flowing
    /// into `events` at once; nothing is sent until an offer or answer is made.
    async fn create(cfg: &LinkConfig, id: LinkId, events: mpsc::Sender<LinkEvent>) -> Result<(Self, watch::Receiver<bool>), LinkError> {
        let (gathered_tx, gathered_rx) = watch::channel(false);
        let handler = Arc::new(Handler { link: id, gathered: gathered_tx, events: events.clone() });
        let settings = SettingEngineBuilder::new()
            .with_multicast_dns_mode(rtc::ice::mdns::MulticastDnsMode::Disabled)
            .with_ice_timeouts(Some(DISCONNECTED_AFTER), Some(FAILED_AFTER), Some(KEEPALIVE))
            .build();
        let servers = cfg
            .ice
            .servers
            .iter()
            .map(|s| RTCIceServer { urls: s.urls.clone(), username: s.username.clone(), credential: s.credential.clone() })
            .collect();
        let policy = if cfg.ice.relay_only { RTCIceTransportPolicy::Relay } else { RTCIceTransportPolicy::All };
        let config = RTCConfigurationBuilder::new()
            .with_certificates(vec![cfg.identity.cert.clone()])
            .with_ice_servers(servers)
            .with_ice_transport_policy(policy)
            .build();
        let pc = PeerConnectionBuilder::new()
            .with_configuration(config)
            .with_setting_engine(settings)
            .with_handler(handler)
            .with_udp_addrs(cfg.udp_addrs.clone())
            .with_data_channel_send_buffer_limit(SEND_BUFFER)
            .build()
            .await?;
        let pc: Arc<dyn PeerConnection> = Arc::new(pc);
        let state = pc.create_data_channel("state", Some(RTCDataChannelInit { negotiated: Some(0), ..Default::default() })).await?;
        let presence = pc
            .create_data_channel(
                "presence",
                Some(RTCDataChannelInit { ordered: false, max_retransmits: Some(0), negotiated: Some(1), ..Default::default() }),
            )
            .await?;
        let (open_tx, open_rx) = watch::channel(0u8);
        let open_tx = Arc::new(open_tx);
        cfg.tasks.spawn(poll_channel(id, Channel::State, state.clone(), events.clone(), open_tx.clone(), cfg.traffic.clone()));
        cfg.tasks.spawn(poll_channel(id, Channel::Presence, presence.clone(), events.clone(), open_tx, cfg.traffic.clone()));
        let (state_out, out_rx) = mpsc::channel(OUTBOX);
        let queued = Arc::new(AtomicUsize::new(0));
        let out = Outbox { rx: out_rx, queued: queued.clone(), drained: cfg.drained.clone() };
        cfg.tasks.spawn(write_state(id, state.clone(), out, open_rx.clone(), cfg.traffic.clone()));
        let (presence_out, presence_rx) = watch::channel(Vec::new());
        cfg.tasks.spawn(write_presence(presence, presence_rx, open_rx.clone()));
        let link = Self { id, pc, state, state_out, queued, presence_out: Arc::new(presence_out), open: open_rx, remote_fp: Arc::default() };
        // Announced before any description is set: once the remote side has
        // ours, data can arrive, and the engine must know the link by then.
        events.send(LinkEvent { link: id, kind: LinkEventKind::Added(Arc::new(link.clone())) }).await.map_err(|_| LinkError::EngineGone)?;
        Ok((link, gathered_rx))
    }

    /// The offering side: returns the link and the complete offer SDP.
    pub async fn offer(cfg: &LinkConfig, id: LinkId, events: mpsc::Sender<LinkEvent>) -> Result<(Self, String), LinkError> {
        let (link, gathered) = Self::create(cfg, id, events).await?;
        let offer = link.pc.create_offer(None).await?;
        link.pc.set_local_description(offer).await?;
        let sdp = link.local_sdp(gathered).await?;
        Ok((link, sdp))
    }

    /// Completes an offer with an answer that came through a trusted peer.
    pub async fn accept_remote(&self, sdp: String) -> Result<(), LinkError> {
        self.note_fingerprint(&sdp)?;
        self.pc.set_remote_description(RTCSessionDescription::answer(sdp)?).await?;
        Ok(())
    }

    fn note_fingerprint(&self, sdp: &str) -> Result<(), LinkError> {
        let fp = identity::sdp_fingerprint(sdp).ok_or_else(|| LinkError::Certificate("the peer's description has no SHA-256 fingerprint".into()))?;
        let _ = self.remote_fp.set(fp);
        Ok(())
    }

    /// The certificate fingerprint the peer connects with.
    pub fn remote_fingerprint(&self) -> Option<[u8; 32]> {
        self.remote_fp.get().copied()
    }

    /// The answering side: returns the link and the complete answer SDP.
    pub async fn answer(cfg: &LinkConfig, id: LinkId, events: mpsc::Sender<LinkEvent>, offer: String) -> Result<(Self, String), LinkError> {
        let (link, gathered) = Self::create(cfg, id, events).await?;
        link.note_fingerprint(&offer)?;
        link.pc.set_remote_description(RTCSessionDescription::offer(offer)?).await?;
        let answer = link.pc.create_answer(None).await?;
        link.pc.set_local_description(answer).await?;
        let sdp = link.local_sdp(gathered).await?;
        Ok((link, sdp))
    }

    async fn local_sdp(&self, mut gathered: watch::Receiver<bool>) -> Result<String, LinkError> {
        tokio::time::timeout(GATHER_TIMEOUT, gathered.wait_for(|done| *done))
            .await
            .map_err(|_| LinkError::Gathering)?
            .map_err(|_| LinkError::Gathering)?;
        self.pc.local_description().await.map(|d| d.sdp).ok_or(LinkError::Gathering)
    }

    /// Waits until both channels are open.
    pub async fn wait_open(&self, timeout: Duration) -> Result<(), LinkError> {
        let mut open = self.open.clone();
        tokio::time::timeout(timeout, open.wait_for(|n| *n >= 2))
            .await
            .map_err(|_| LinkError::OpenTimeout(timeout))?
            .map_err(|_| LinkError::OpenTimeout(timeout))?;
        Ok(())
    }

    /// Queues a state message. Fails at once when the outbox is full (the
    /// peer is not keeping up) or the link is gone; nothing waits.
    pub fn send_state(&self, msg: &StateMsg) -> Result<(), StateMsg> {
        let bytes = msg.encode();
        let len = bytes.len();
        // Counted before the writer can see it, so the count never underflows.
        self.queued.fetch_add(len, Ordering::AcqRel);
        self.state_out.try_send(bytes).map_err(|_| {
            self.queued.fetch_sub(len, Ordering::AcqRel);
            msg.clone()
        })
    }

    /// Bytes of state messages queued and not yet handed to the channel.
    pub fn backlog(&self) -> usize {
        self.queued.load(Ordering::Acquire)
    }

    /// Room left in the outbox.
    pub fn outbox_room(&self) -> usize {
        self.state_out.capacity()
    }

    /// Sends a presence datagram. If the previous one has not left yet, this
    /// one replaces it: only the newest presence matters.
    pub fn send_presence(&self, bytes: Vec<u8>) {
        self.presence_out.send_replace(bytes);
    }

    /// Resolves once the peer has acknowledged every state byte handed to
    /// the channel (wait for [`Self::backlog`] to empty first): a goodbye
    /// then arrives before the connection closes. SCTP says nothing when
    /// the peer acknowledges, so its count is looked at once per millisecond.
    pub async fn delivered(&self) {
        let mut look = tokio::time::interval(Duration::from_millis(1));
        while self.state.outstanding_bytes().await.unwrap_or(0) > 0 {
            look.tick().await;
        }
    }

    pub async fn close(&self) {
        if let Err(e) = self.pc.close().await {
            tracing::debug!(link = self.id.0, error = %e, "closing link");
        }
    }
}

/// Drains one channel for as long as it lives. Every handle must be polled:
/// an unpolled channel stalls the whole association in webrtc-rs.
async fn poll_channel(
    link: LinkId,
    channel: Channel,
    dc: Arc<dyn DataChannel>,
    events: mpsc::Sender<LinkEvent>,
    open: Arc<watch::Sender<u8>>,
    traffic: Arc<Traffic>,
) {
    let mut chunks = Reassembler::default();
    while let Some(ev) = dc.poll().await {
        let kind = match ev {
            DataChannelEvent::OnOpen => {
                tracing::debug!(link = link.0, ?channel, "channel open");
                open.send_modify(|n| *n += 1);
                LinkEventKind::Open(channel)
            }
            DataChannelEvent::OnClose => {
                tracing::debug!(link = link.0, ?channel, "channel closed");
                LinkEventKind::Closed
            }
            DataChannelEvent::OnMessage(msg) => match channel {
                Channel::Presence => match events.try_send(LinkEvent { link, kind: LinkEventKind::Presence(msg.data.to_vec()) }) {
                    // Presence is lossy by design: drop it rather than wait.
                    Ok(()) | Err(mpsc::error::TrySendError::Full(_)) => continue,
                    Err(mpsc::error::TrySendError::Closed(_)) => return,
                },
                Channel::State => {
                    traffic.received.fetch_add(msg.data.len() as u64, Ordering::Relaxed);
                    match chunks.push(&msg.data).and_then(|m| m.map(|m| StateMsg::decode(&m)).transpose()) {
                        Ok(Some(m)) => LinkEventKind::State(m),
                        Ok(None) => continue,
                        Err(e) => LinkEventKind::Malformed(e),
                    }
                }
            },
            _ => continue,
        };
        let closed = matches!(kind, LinkEventKind::Closed);
        if events.send(LinkEvent { link, kind }).await.is_err() || closed {
            return;
        }
    }
}

/// Sends the newest presence datagram whenever it changes; one that cannot
/// leave at once is dropped, as the channel itself may drop it.
async fn write_presence(dc: Arc<dyn DataChannel>, mut rx: watch::Receiver<Vec<u8>>, mut open: watch::Receiver<u8>) {
    if open.wait_for(|n| *n >= 2).await.is_err() {
        return;
    }
    while rx.changed().await.is_ok() {
        let bytes = rx.borrow_and_update().clone();
        let _ = dc.try_send(BytesMut::from(&bytes[..])).await;
    }
}

/// Sends queued state messages in order, chunked, waiting while the
/// channel's send buffer is full. Messages queued before the connection is
/// open wait for it, so a peer's hello is always its first message.
struct Outbox {
    rx: mpsc::Receiver<Vec<u8>>,
    queued: Arc<AtomicUsize>,
    drained: Arc<Notify>,
}

async fn write_state(link: LinkId, dc: Arc<dyn DataChannel>, mut out: Outbox, mut open: watch::Receiver<u8>, traffic: Arc<Traffic>) {
    if open.wait_for(|n| *n >= 2).await.is_err() {
        return;
    }
    let mut deflater = frame::Deflater::default();
    while let Some(msg) = out.rx.recv().await {
        let len = msg.len();
        // Deflating a large message takes milliseconds: not on a thread
        // the engine's other tasks wait for.
        let chunks = if len >= frame::DEFLATE_FROM {
            match tokio::task::spawn_blocking(move || {
                let chunks = deflater.split(&msg);
                (deflater, chunks)
            })
            .await
            {
                Ok((d, chunks)) => {
                    deflater = d;
                    chunks
                }
                Err(_) => return,
            }
        } else {
            deflater.split(&msg)
        };
        for chunk in chunks {
            traffic.sent.fetch_add(chunk.len() as u64, Ordering::Relaxed);
            if let Err(e) = dc.send(BytesMut::from(&chunk[..])).await {
                tracing::debug!(link = link.0, error = %e, "state channel send failed");
                return;
            }
        }
        out.queued.fetch_sub(len, Ordering::AcqRel);
        out.drained.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> LinkConfig {
        LinkConfig {
            udp_addrs: vec!["127.0.0.1:0".into()],
            identity: Identity::generate().expect("identity"),
            ice: IceConfig::default(),
            traffic: Arc::default(),
            drained: Arc::default(),
            tasks: Tasks::new(),
            net: None,
        }
    }

    async fn next_state(rx: &mut mpsc::Receiver<LinkEvent>) -> StateMsg {
        loop {
            let ev = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.expect("in time").expect("open");
            match ev.kind {
                LinkEventKind::State(m) => return m,
                LinkEventKind::Added(_) | LinkEventKind::Open(_) | LinkEventKind::Presence(_) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_links_exchange_large_state_messages_and_presence() {
        let (a_cfg, b_cfg) = (cfg(), cfg());
        let (a_tx, mut a_rx) = mpsc::channel(1024);
        let (b_tx, mut b_rx) = mpsc::channel(1024);
        let (a, offer) = super::offer(&a_cfg, LinkId(1), a_tx).await.expect("offer");
        let (b, answer) = super::answer(&b_cfg, LinkId(2), b_tx, offer).await.expect("answer");
        assert!(matches!(accept_pinned(&a, answer.clone(), &a_cfg.identity.fingerprint).await, Err(LinkError::FingerprintMismatch)));
        accept_pinned(&a, answer, &b_cfg.identity.fingerprint).await.expect("accept");
        a.wait_open(Duration::from_secs(10)).await.expect("a open");
        b.wait_open(Duration::from_secs(10)).await.expect("b open");

        let big = StateMsg::Sync(vec![(String::new(), (0..1_000_000u32).map(|i| (i % 253) as u8).collect())]);
        a.send_state(&big).expect("queued");
        a.send_state(&StateMsg::Bye("done".into())).expect("queued");
        assert_eq!(next_state(&mut b_rx).await, big);
        assert_eq!(next_state(&mut b_rx).await, StateMsg::Bye("done".into()));

        b.send_presence(vec![1, 2, 3]);
        loop {
            let ev = tokio::time::timeout(Duration::from_secs(10), a_rx.recv()).await.expect("in time").expect("open");
            if let LinkEventKind::Presence(p) = ev.kind {
                assert_eq!(p, vec![1, 2, 3]);
                break;
            }
        }
        b.close().await;
        loop {
            let ev = tokio::time::timeout(Duration::from_secs(15), a_rx.recv()).await.expect("close noticed").expect("open");
            if matches!(ev.kind, LinkEventKind::Closed) {
                break;
            }
        }
        a.close().await;
    }
}
