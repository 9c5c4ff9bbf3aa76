//! A y-webrtc compatible signaling server, run by the host.
//!
//! It speaks exactly the protocol of y-webrtc's `bin/server.js`, so any
//! client of that server can use it. The host's own engine subscribes
//! in-process with [`Hub::local`], without a socket.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::AbortHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use super::{Envelope, SignalConn, SignalError, YMessage};

/// Concurrent WebSocket clients served; more wait for a free place.
const MAX_CLIENTS: usize = 256;
/// Largest signaling message accepted (an SDP with candidates is a few KB).
const MAX_MESSAGE: usize = 64 * 1024;
const MAX_TOPICS_PER_CLIENT: usize = 16;

type Subscribers = HashMap<String, HashMap<u64, mpsc::UnboundedSender<String>>>;

#[derive(Default)]
struct Topics {
    subs: Subscribers,
    next_id: u64,
}

/// The running server; dropping it stops accepting clients.
#[derive(Clone)]
pub struct Hub {
    topics: Arc<Mutex<Topics>>,
    _accept: Arc<AbortOnDrop>,
}

struct AbortOnDrop(AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Hub {
    /// Listens on `addr` (port 0: any free port) and returns the bound address.
    pub async fn bind(addr: SocketAddr) -> Result<(Self, SocketAddr), SignalError> {
        let err = |source| SignalError::Listen { addr: addr.to_string(), source };
        let listener = TcpListener::bind(addr).await.map_err(err)?;
        let local = listener.local_addr().map_err(err)?;
        let topics = Arc::new(Mutex::new(Topics::default()));
        let task = tokio::spawn(accept_loop(listener, topics.clone()));
        Ok((Self { topics, _accept: Arc::new(AbortOnDrop(task.abort_handle())) }, local))
    }

    /// Subscribes this process to `topic`.
    pub fn local(&self, topic: &str) -> SignalConn {
        let (id, mut raw_rx) = self.subscribe(topic);
        let (in_tx, in_rx) = mpsc::unbounded_channel();
        let (out_tx, mut out_rx) = mpsc::unbounded_channel::<Envelope>();
        tokio::spawn(async move {
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
        tokio::spawn(async move {
            while let Some(env) = out_rx.recv().await {
                let data = serde_json::to_value(&env).unwrap_or_default();
                publish(&hub.topics, &topic, data);
            }
            unsubscribe(&hub.topics, id, &[topic]);
        });
        SignalConn { tx: out_tx, rx: in_rx }
    }

    fn subscribe(&self, topic: &str) -> (u64, mpsc::UnboundedReceiver<String>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut t = lock(&self.topics);
        t.next_id += 1;
        let id = t.next_id;
        t.subs.entry(topic.to_owned()).or_default().insert(id, tx);
        (id, rx)
    }
}

fn envelope_of(text: &str) -> Option<Envelope> {
    match serde_json::from_str::<YMessage>(text).ok()? {
        YMessage::Publish { data, .. } => serde_json::from_value(data).ok(),
        _ => None,
    }
}

fn lock(t: &Mutex<Topics>) -> std::sync::MutexGuard<'_, Topics> {
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
    for tx in subs.values() {
        let _ = tx.send(text.clone());
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

async fn accept_loop(listener: TcpListener, topics: Arc<Mutex<Topics>>) {
    let places = Arc::new(Semaphore::new(MAX_CLIENTS));
    loop {
        let Ok(permit) = places.clone().acquire_owned().await else {
            return;
        };
        match listener.accept().await {
            Ok((stream, peer)) => {
                let topics = topics.clone();
                tokio::spawn(async move {
                    if let Err(e) = serve_client(stream, topics).await {
                        tracing::debug!(%peer, error = %e, "signaling client ended");
                    }
                    drop(permit);
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "signaling accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

async fn serve_client(stream: TcpStream, topics: Arc<Mutex<Topics>>) -> Result<(), tokio_tungstenite::tungstenite::Error> {
    let config = WebSocketConfig::default().max_message_size(Some(MAX_MESSAGE)).max_frame_size(Some(MAX_MESSAGE));
    let ws = tokio_tungstenite::accept_async_with_config(stream, Some(config)).await?;
    let (mut sink, mut stream) = ws.split();
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let id = {
        let mut t = lock(&topics);
        t.next_id += 1;
        t.next_id
    };
    let mut mine: Vec<String> = Vec::new();
    let result = loop {
        tokio::select! {
            out = rx.recv() => {
                let Some(text) = out else { break Ok(()) };
                if let Err(e) = sink.send(Message::text(text)).await {
                    break Err(e);
                }
            }
            msg = stream.next() => {
                let text = match msg {
                    None => break Ok(()),
                    Some(Err(e)) => break Err(e),
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Close(_))) => break Ok(()),
                    Some(Ok(_)) => continue,
                };
                match serde_json::from_str::<YMessage>(&text) {
                    Ok(YMessage::Subscribe { topics: names }) => {
                        let mut t = lock(&topics);
                        for name in names {
                            if mine.len() >= MAX_TOPICS_PER_CLIENT || mine.contains(&name) {
                                continue;
                            }
                            t.subs.entry(name.clone()).or_default().insert(id, tx.clone());
                            mine.push(name);
                        }
                    }
                    Ok(YMessage::Unsubscribe { topics: names }) => {
                        unsubscribe(&topics, id, &names);
                        mine.retain(|m| !names.contains(m));
                    }
                    Ok(YMessage::Publish { topic, data, .. }) => publish(&topics, &topic, data),
                    Ok(YMessage::Ping) => {
                        let _ = tx.send(serde_json::to_string(&YMessage::Pong).unwrap_or_default());
                    }
                    Ok(YMessage::Pong) | Err(_) => {}
                }
            }
        }
    };
    unsubscribe(&topics, id, &mine);
    result
}
