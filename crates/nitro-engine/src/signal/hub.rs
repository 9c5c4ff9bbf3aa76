//! A y-webrtc compatible signaling server, run by the host.
//!
//! It speaks exactly the protocol of y-webrtc's `bin/server.js`, so any
//! client of that server can use it. The host's own engine subscribes
//! in-process with [`Hub::local`], without a socket.
//!
//! Anyone who reaches the port can connect, so everything a client can make
//! it hold is bounded (`protocol::limits`): clients at once and per
//! address, the handshake's and a silent client's time, topics, message
//! size, publishes per second, and the messages queued for a client (one
//! that does not read them is closed). Browsers are let in only from pages
//! of this machine or of the server's own host (the `Origin` header).
//!
//! A client earns its place by publishing an envelope the host vouches for
//! (one sealed with the session's key): when the server or an address is
//! full, the oldest client that has not done so within
//! [`SIGNAL_VOUCH_GRACE`] gives its place to the newcomer, so sockets held
//! open by someone without the secret never keep a joiner out.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use super::{Envelope, SignalConn, SignalError, YMessage};
use crate::protocol::limits::{
    SIGNAL_CLIENTS, SIGNAL_CLIENTS_PER_ADDRESS, SIGNAL_HANDSHAKE, SIGNAL_IDLE, SIGNAL_MESSAGE, SIGNAL_PUBLISH_RATE, SIGNAL_QUEUE,
    SIGNAL_TOPICS_PER_CLIENT, SIGNAL_VOUCH_GRACE,
};
use crate::rate::{Rate, Verdict};
use crate::tasks::Tasks;

/// One subscriber: its queue, and how to close it when the queue is full
/// (none for the host's own, which drops the message instead).
#[derive(Clone)]
struct Sub {
    tx: mpsc::Sender<String>,
    kick: Option<Arc<Notify>>,
}

type Subscribers = HashMap<String, HashMap<u64, Sub>>;

#[derive(Default)]
struct Topics {
    subs: Subscribers,
    next_id: u64,
}

/// Whether a published envelope shows that its sender holds the session's
/// secret (the host opens it with one of its keys).
pub type Vouch = Arc<dyn Fn(&Envelope) -> bool + Send + Sync>;

/// One connected client, as the server's places see it.
struct Client {
    ip: IpAddr,
    since: Instant,
    vouched: bool,
    evict: Arc<Notify>,
}

/// The server's places: who holds one, and who gives theirs up.
#[derive(Default)]
struct Places {
    clients: HashMap<u64, Client>,
    next: u64,
}

impl Places {
    /// A place for a client from `ip`, making room if a full scope (the
    /// server, or that address) holds a client past its grace that no
    /// envelope vouched for. `None`: no room.
    fn take(&mut self, ip: IpAddr, now: Instant) -> Option<(u64, Arc<Notify>)> {
        if self.clients.values().filter(|c| c.ip == ip).count() >= SIGNAL_CLIENTS_PER_ADDRESS {
            self.evict_one(now, |c| c.ip == ip)?;
        }
        if self.clients.len() >= SIGNAL_CLIENTS {
            self.evict_one(now, |_| true)?;
        }
        self.next += 1;
        let evict = Arc::new(Notify::new());
        self.clients.insert(self.next, Client { ip, since: now, vouched: false, evict: evict.clone() });
        Some((self.next, evict))
    }

    /// Closes the oldest client in scope that has had its grace and earned nothing.
    fn evict_one(&mut self, now: Instant, in_scope: impl Fn(&Client) -> bool) -> Option<()> {
        let (&id, _) = self
            .clients
            .iter()
            .filter(|(_, c)| in_scope(c) && !c.vouched && now.duration_since(c.since) >= SIGNAL_VOUCH_GRACE)
            // The oldest, and of those that came at once the first.
            .min_by_key(|(id, c)| (c.since, **id))?;
        let gone = self.clients.remove(&id)?;
        tracing::debug!(ip = %gone.ip, "closed a signaling client that showed no session's secret, to make room");
        gone.evict.notify_one();
        Some(())
    }
}

/// The running server. Its tasks (accepting, one per client) belong to
/// the [`Tasks`] it was bound with: stopping those stops the server.
#[derive(Clone)]
pub struct Hub {
    topics: Arc<Mutex<Topics>>,
    tasks: Tasks,
}

impl Hub {
    /// Listens on `addr` (port 0: any free port) and returns the bound
    /// address. Any envelope earns a client its place.
    pub async fn bind(addr: SocketAddr) -> Result<(Self, SocketAddr), SignalError> {
        Self::bind_vouching(addr, Arc::new(|_: &Envelope| true), &Tasks::new()).await
    }

    /// As [`Hub::bind`], with places kept for clients that publish an
    /// envelope `vouch` accepts.
    pub async fn bind_vouching(addr: SocketAddr, vouch: Vouch, tasks: &Tasks) -> Result<(Self, SocketAddr), SignalError> {
        let err = |source| SignalError::Listen { addr: addr.to_string(), source };
        let listener = TcpListener::bind(addr).await.map_err(err)?;
        let local = listener.local_addr().map_err(err)?;
        let topics = Arc::new(Mutex::new(Topics::default()));
        tasks.spawn(accept_loop(listener, topics.clone(), vouch, tasks.clone()));
        Ok((Self { topics, tasks: tasks.clone() }, local))
    }

    /// Subscribes this process to `topic`.
    pub fn local(&self, topic: &str) -> SignalConn {
        let (tx, mut raw_rx) = mpsc::channel(SIGNAL_QUEUE);
        let id = {
            let mut t = lock(&self.topics);
            t.next_id += 1;
            let id = t.next_id;
            t.subs.entry(topic.to_owned()).or_default().insert(id, Sub { tx, kick: None });
            id
        };
        let (in_tx, in_rx) = mpsc::unbounded_channel();
        let (out_tx, mut out_rx) = mpsc::unbounded_channel::<Envelope>();
        self.tasks.spawn(async move {
            while let Some(text) = raw_rx.recv().await {
                if let Some(env) = envelope_of(&text)
                    && in_tx.send(env).is_err()
                {
                    break;
                }
            }
        });
        let hub = self.clone();
        let topic = topic.to_owned();
        self.tasks.spawn(async move {
            while let Some(env) = out_rx.recv().await {
                let data = serde_json::to_value(&env).unwrap_or_default();
                publish(&hub.topics, &topic, data);
            }
            unsubscribe(&hub.topics, id, &[topic]);
        });
        SignalConn { tx: out_tx, rx: in_rx }
    }
}

pub(crate) fn envelope_of(text: &str) -> Option<Envelope> {
    match serde_json::from_str::<YMessage>(text).ok()? {
        YMessage::Publish { data, .. } => serde_json::from_value(data).ok(),
        _ => None,
    }
}

fn lock<T>(t: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding this lock cannot leave the map half-updated.
    t.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Sends a publish to every subscriber of the topic, the sender included, with
/// the number of receivers in `clients` as y-webrtc's server does.
fn publish(topics: &Mutex<Topics>, topic: &str, data: serde_json::Value) {
    let t = lock(topics);
    let Some(subs) = t.subs.get(topic) else {
        return;
    };
    let msg = YMessage::Publish { topic: topic.to_owned(), data, clients: Some(subs.len()) };
    let text = serde_json::to_string(&msg).unwrap_or_default();
    for sub in subs.values() {
        if let Err(mpsc::error::TrySendError::Full(_)) = sub.tx.try_send(text.clone()) {
            match &sub.kick {
                Some(kick) => kick.notify_one(),
                None => tracing::debug!("dropped a signaling message: this peer is not keeping up"),
            }
        }
    }
}

fn unsubscribe(topics: &Mutex<Topics>, id: u64, names: &[String]) {
    let mut t = lock(topics);
    for name in names {
        if let Some(subs) = t.subs.get_mut(name) {
            subs.remove(&id);
            if subs.is_empty() {
                t.subs.remove(name);
            }
        }
    }
}

async fn accept_loop(listener: TcpListener, topics: Arc<Mutex<Topics>>, vouch: Vouch, tasks: Tasks) {
    let places: Arc<Mutex<Places>> = Arc::default();
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let Some((id, evict)) = lock(&places).take(peer.ip(), Instant::now()) else {
                    tracing::debug!(%peer, "refused a signaling client: no room, and none to make");
                    continue;
                };
                let client = Served { topics: topics.clone(), places: places.clone(), vouch: vouch.clone(), id };
                tasks.spawn(async move {
                    let ended = tokio::select! {
                        ended = serve_client(stream, &client) => ended,
                        () = evict.notified() => Err(Ended::Evicted),
                    };
                    if let Err(e) = ended {
                        tracing::debug!(%peer, error = %e, "signaling client ended");
                    }
                    lock(&client.places).clients.remove(&id);
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "signaling accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

/// What serving one client needs of the server.
struct Served {
    topics: Arc<Mutex<Topics>>,
    places: Arc<Mutex<Places>>,
    vouch: Vouch,
    id: u64,
}

impl Served {
    /// A publish of this client's: once one carries an envelope the host
    /// vouches for, its place is kept.
    fn vouch_for(&self, data: &serde_json::Value) {
        if lock(&self.places).clients.get(&self.id).is_none_or(|c| c.vouched) {
            return;
        }
        if let Ok(env) = serde_json::from_value::<Envelope>(data.clone())
            && (self.vouch)(&env)
            && let Some(c) = lock(&self.places).clients.get_mut(&self.id)
        {
            c.vouched = true;
        }
    }
}

/// Why a client was closed, for the debug log.
#[derive(Debug, thiserror::Error)]
enum Ended {
    #[error(transparent)]
    WebSocket(#[from] tokio_tungstenite::tungstenite::Error),
    #[error("no handshake within {0:?}")]
    Handshake(std::time::Duration),
    #[error("silent for {0:?}")]
    Idle(std::time::Duration),
    #[error("did not read what it was sent")]
    Slow,
    #[error("published too fast")]
    Flood,
    #[error("gave its place to a newcomer: it showed no session's secret")]
    Evicted,
}

async fn serve_client(stream: TcpStream, client: &Served) -> Result<(), Ended> {
    let topics = &client.topics;
    let config = WebSocketConfig::default().max_message_size(Some(SIGNAL_MESSAGE)).max_frame_size(Some(SIGNAL_MESSAGE));
    let handshake = tokio_tungstenite::accept_hdr_async_with_config(stream, check_origin, Some(config));
    let ws = tokio::time::timeout(SIGNAL_HANDSHAKE, handshake).await.map_err(|_| Ended::Handshake(SIGNAL_HANDSHAKE))??;
    let (mut sink, mut stream) = ws.split();
    let (tx, mut rx) = mpsc::channel::<String>(SIGNAL_QUEUE);
    let kick = Arc::new(Notify::new());
    let id = {
        let mut t = lock(topics);
        t.next_id += 1;
        t.next_id
    };
    let mut mine: Vec<String> = Vec::new();
    let mut publishes = Rate::new(SIGNAL_PUBLISH_RATE, Instant::now());
    let result = loop {
        let idle = tokio::time::sleep(SIGNAL_IDLE);
        tokio::select! {
            () = idle => break Err(Ended::Idle(SIGNAL_IDLE)),
            () = kick.notified() => break Err(Ended::Slow),
            out = rx.recv() => {
                let Some(text) = out else { break Ok(()) };
                // A client that does not read blocks this send: its queue
                // fills meanwhile, and the kick ends the wait.
                tokio::select! {
                    sent = sink.send(Message::text(text)) => if let Err(e) = sent {
                        break Err(e.into());
                    },
                    () = kick.notified() => break Err(Ended::Slow),
                }
                continue;
            }
            msg = stream.next() => {
                let text = match msg {
                    None => break Ok(()),
                    Some(Err(e)) => break Err(e.into()),
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Close(_))) => break Ok(()),
                    Some(Ok(_)) => continue,
                };
                match serde_json::from_str::<YMessage>(&text) {
                    Ok(YMessage::Subscribe { topics: names }) => {
                        let mut t = lock(topics);
                        for name in names {
                            if mine.len() >= SIGNAL_TOPICS_PER_CLIENT || mine.contains(&name) {
                                continue;
                            }
                            t.subs.entry(name.clone()).or_default().insert(id, Sub { tx: tx.clone(), kick: Some(kick.clone()) });
                            mine.push(name);
                        }
                    }
                    Ok(YMessage::Unsubscribe { topics: names }) => {
                        unsubscribe(topics, id, &names);
                        mine.retain(|m| !names.contains(m));
                    }
                    Ok(YMessage::Publish { topic, data, .. }) => match publishes.check(Instant::now()) {
                        Verdict::Take => {
                            client.vouch_for(&data);
                            publish(topics, &topic, data);
                        }
                        Verdict::Skip => {}
                        Verdict::Flood => break Err(Ended::Flood),
                    },
                    Ok(YMessage::Ping) => {
                        if tx.try_send(serde_json::to_string(&YMessage::Pong).unwrap_or_default()).is_err() {
                            break Err(Ended::Slow);
                        }
                    }
                    Ok(YMessage::Pong) | Err(_) => {}
                }
            }
        }
    };
    unsubscribe(topics, id, &mine);
    result
}

/// Lets in clients that are not browsers (no `Origin`), and browser pages
/// of this machine or of the host the client connected to; a page of any
/// other site is refused, so that a web page the host's user visits cannot
/// use this server.
#[allow(clippy::result_large_err, reason = "the signature of tungstenite's handshake callback")]
fn check_origin(req: &Request, resp: Response) -> Result<Response, ErrorResponse> {
    let Some(origin) = req.headers().get("origin") else {
        return Ok(resp);
    };
    let host = req.headers().get("host").and_then(|h| h.to_str().ok()).map(|h| h.rsplit_once(':').map_or(h, |(h, _)| h));
    let origin_host = origin.to_str().ok().and_then(|o| url::Url::parse(o).ok()).and_then(|u| u.host_str().map(str::to_owned));
    let allowed = match origin_host.as_deref() {
        Some("localhost" | "127.0.0.1" | "[::1]" | "tauri.localhost") => true,
        Some(h) => Some(h) == host,
        None => origin.as_bytes() == b"null" || origin.as_bytes().starts_with(b"tauri://"),
    };
    if allowed {
        return Ok(resp);
    }
    let mut refused = ErrorResponse::new(Some("this signaling server serves NitroIDE peers, not other web pages".into()));
    *refused.status_mut() = StatusCode::FORBIDDEN;
    Err(refused)
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncReadExt;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    use super::*;
    use crate::protocol::PeerId;
    use crate::signal::Kind;

    async fn hub() -> (Hub, SocketAddr) {
        Hub::bind((std::net::Ipv4Addr::LOCALHOST, 0).into()).await.expect("bind")
    }

    /// True once the server has closed the raw connection.
    async fn closed(stream: &mut TcpStream) -> bool {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return true,
                Ok(_) => {}
            }
        }
    }

    #[test]
    fn a_full_server_makes_room_only_from_clients_that_showed_no_secret_in_time() {
        let t0 = Instant::now();
        let ip = |i: u8| IpAddr::from([127, 0, 0, i]);
        let mut places = Places::default();
        let held = (2..=18).flat_map(|a| (0..SIGNAL_CLIENTS_PER_ADDRESS).map(move |_| a)).filter(|a| places.take(ip(*a), t0).is_some()).count();
        assert_eq!(held, SIGNAL_CLIENTS, "17 addresses, 16 each, fill the server");
        assert!(places.take(ip(1), t0 + SIGNAL_VOUCH_GRACE / 2).is_none(), "nobody gives way within their grace");

        let later = t0 + SIGNAL_VOUCH_GRACE;
        let (joiner, _) = places.take(ip(1), later).expect("an idle client gives way to a newcomer");
        assert_eq!(places.clients.len(), SIGNAL_CLIENTS);
        // A full address makes room from its own clients, not another's
        // (the joiner's place came from the first client of 127.0.0.2, so
        // 127.0.0.3 is the full one).
        let at = |places: &Places, a: u8| places.clients.values().filter(|c| c.ip == ip(a)).count();
        assert_eq!((at(&places, 2), at(&places, 3)), (SIGNAL_CLIENTS_PER_ADDRESS - 1, SIGNAL_CLIENTS_PER_ADDRESS));
        assert!(places.take(ip(3), later).is_some());
        assert_eq!(at(&places, 3), SIGNAL_CLIENTS_PER_ADDRESS);
        assert_eq!(at(&places, 2), SIGNAL_CLIENTS_PER_ADDRESS - 1);
        // Clients that showed the secret keep their places, the newest too.
        for c in places.clients.values_mut() {
            c.vouched = true;
        }
        assert!(places.take(ip(1), later + SIGNAL_VOUCH_GRACE).is_none());
        assert!(places.clients.contains_key(&joiner));
    }

    #[tokio::test]
    async fn an_address_holding_half_open_connections_gets_only_its_share() {
        let (_hub, addr) = hub().await;
        let mut held = Vec::new();
        for _ in 0..SIGNAL_CLIENTS_PER_ADDRESS {
            held.push(TcpStream::connect(addr).await.expect("connect"));
        }
        let mut one_more = TcpStream::connect(addr).await.expect("connect");
        assert!(closed(&mut one_more).await);
        // The ones held without a handshake are closed when its time is up.
        assert!(closed(&mut held[0]).await);
    }

    #[tokio::test]
    async fn a_web_page_of_another_site_is_refused() {
        let (_hub, addr) = hub().await;
        let mut req = format!("ws://{addr}").into_client_request().expect("request");
        req.headers_mut().insert("origin", "https://evil.example".parse().expect("header"));
        let refused = tokio_tungstenite::connect_async(req).await.expect_err("refused");
        assert!(refused.to_string().contains("403"), "{refused}");
        for ok in ["http://localhost:5173", "null", "tauri://localhost"] {
            let mut req = format!("ws://{addr}").into_client_request().expect("request");
            req.headers_mut().insert("origin", ok.parse().expect("header"));
            assert!(tokio_tungstenite::connect_async(req).await.is_ok(), "{ok}");
        }
        let mut req = format!("ws://{addr}").into_client_request().expect("request");
        req.headers_mut().insert("origin", format!("http://{}:8000", addr.ip()).parse().expect("header"));
        assert!(tokio_tungstenite::connect_async(req).await.is_ok(), "a page of the server's own host");
    }

    #[tokio::test]
    async fn a_client_that_does_not_read_is_closed_and_the_others_go_on() {
        let (hub, addr) = hub().await;
        let (mut slow, _) = tokio_tungstenite::connect_async(format!("ws://{addr}")).await.expect("connect");
        slow.send(Message::text(r#"{"type":"subscribe","topics":["t"]}"#)).await.expect("subscribe");
        let mut quick =
            crate::signal::client::connect(&url::Url::parse(&format!("ws://{addr}")).expect("url"), "t", &Default::default()).await.expect("connect");
        let host = hub.local("t");
        // A ping answered proves both subscriptions are in.
        slow.send(Message::text(r#"{"type":"ping"}"#)).await.expect("ping");
        assert!(matches!(slow.next().await, Some(Ok(Message::Text(t))) if t.contains("pong")));
        let big = "x".repeat(SIGNAL_MESSAGE / 2);
        let env = |i: u32| Envelope { nitro: 1, kind: Kind::Offer, from: PeerId::random(), to: None, sealed: Some(format!("{i}{big}")) };
        let mut got = 0;
        for i in 0..(4 * SIGNAL_QUEUE as u32) {
            host.tx.send(env(i)).expect("publish");
            // The reading client keeps up (and so keeps the test in step).
            if quick.rx.recv().await.is_some() {
                got += 1;
            }
        }
        assert_eq!(got, 4 * SIGNAL_QUEUE);
        // The one that never read was closed: what it has is all it gets.
        let mut drained = 0;
        while let Some(Ok(_)) = slow.next().await {
            drained += 1;
        }
        assert!(drained < 4 * SIGNAL_QUEUE, "{drained}");
    }

    #[tokio::test]
    async fn a_client_that_publishes_without_pause_is_closed() {
        let (_hub, addr) = hub().await;
        let (mut flood, _) = tokio_tungstenite::connect_async(format!("ws://{addr}")).await.expect("connect");
        let publish = r#"{"type":"publish","topic":"t","data":{}}"#;
        let limit = SIGNAL_PUBLISH_RATE;
        let mut refused = false;
        for _ in 0..(12.0 * limit.burst) as usize {
            if flood.send(Message::text(publish)).await.is_err() {
                refused = true;
                break;
            }
        }
        // Closed by the server: the stream ends (well before a minute).
        let end = async { while let Some(Ok(_)) = flood.next().await {} };
        tokio::time::timeout(std::time::Duration::from_secs(60), end).await.expect("the server closed the flooding client");
        assert!(refused || flood.send(Message::text(publish)).await.is_err());
    }
}
