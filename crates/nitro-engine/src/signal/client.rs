//! A client of a y-webrtc signaling server (or of a host's [`super::hub`]).

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use url::Url;

use super::{Envelope, SignalConn, SignalError, YMessage};
use crate::tasks::Tasks;

/// y-webrtc's clients ping every 30 s or less; servers drop silent clients.
const PING_EVERY: Duration = Duration::from_secs(20);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Connects to the server at `url` and subscribes to `topic`. The connection
/// lives until both ends of the returned [`SignalConn`] are dropped or the
/// server goes away (then `rx` ends).
pub async fn connect(url: &Url, topic: &str, tasks: &Tasks) -> Result<SignalConn, SignalError> {
    let err = |e| SignalError::Connect { url: url.to_string(), source: Box::new(e) };
    let (ws, _) = tokio::time::timeout(CONNECT_TIMEOUT, tokio_tungstenite::connect_async(url.as_str()))
        .await
        .map_err(|_| err(tokio_tungstenite::tungstenite::Error::Io(std::io::ErrorKind::TimedOut.into())))?
        .map_err(err)?;
    let (mut sink, mut stream) = ws.split();
    let subscribe = serde_json::to_string(&YMessage::Subscribe { topics: vec![topic.to_owned()] }).unwrap_or_default();
    sink.send(Message::text(subscribe)).await.map_err(err)?;

    let (in_tx, in_rx) = mpsc::unbounded_channel();
    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<Envelope>();
    let topic = topic.to_owned();
    let shown = url.to_string();
    tasks.spawn(async move {
        let mut ping = tokio::time::interval(PING_EVERY);
        loop {
            tokio::select! {
                out = out_rx.recv() => {
                    let Some(env) = out else { break };
                    let data = serde_json::to_value(&env).unwrap_or_default();
                    let msg = YMessage::Publish { topic: topic.clone(), data, clients: None };
                    if sink.send(Message::text(serde_json::to_string(&msg).unwrap_or_default())).await.is_err() {
                        break;
                    }
                }
                _ = ping.tick() => {
                    if sink.send(Message::text(r#"{"type":"ping"}"#)).await.is_err() {
                        break;
                    }
                }
                msg = stream.next() => match msg {
                    Some(Ok(Message::Text(text))) => {
                        if let Ok(YMessage::Publish { topic: t, data, .. }) = serde_json::from_str(&text)
                            && t == topic
                                && let Ok(env) = serde_json::from_value::<Envelope>(data) {
                                    let _ = in_tx.send(env);
                                }
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => {
                        tracing::warn!(url = %shown, error = %e, "signaling connection lost");
                        break;
                    }
                    None => break,
                }
            }
        }
    });
    Ok(SignalConn { tx: out_tx, rx: in_rx })
}

#[cfg(test)]
mod tests {
    use super::super::Kind;
    use super::super::hub::Hub;
    use super::*;
    use crate::protocol::PeerId;

    #[tokio::test]
    async fn publishes_reach_every_subscriber_of_the_topic_only() {
        let (hub, addr) = Hub::bind("127.0.0.1:0".parse().expect("addr")).await.expect("bind");
        let url = Url::parse(&format!("ws://{addr}")).expect("url");
        let mut host = hub.local("t1");
        let tasks = Tasks::new();
        let mut a = connect(&url, "t1", &tasks).await.expect("connect");
        let mut other = connect(&url, "t2", &tasks).await.expect("connect");
        // `a` subscribed on the connection it publishes on: the server takes
        // the subscription first.
        let env = Envelope { nitro: 1, kind: Kind::Offer, from: PeerId::random(), to: None, sealed: Some("x".into()) };
        a.tx.send(env.clone()).expect("send");
        let got = tokio::time::timeout(Duration::from_secs(5), host.rx.recv()).await.expect("in time");
        assert_eq!(got, Some(env.clone()));
        let echo = tokio::time::timeout(Duration::from_secs(5), a.rx.recv()).await.expect("in time");
        assert_eq!(echo, Some(env), "the sender receives its own publish, as with y-webrtc");
        let reply = Envelope { nitro: 1, kind: Kind::Refused, from: PeerId::random(), to: None, sealed: None };
        host.tx.send(reply.clone()).expect("send");
        let got = tokio::time::timeout(Duration::from_secs(5), a.rx.recv()).await.expect("in time");
        assert_eq!(got, Some(reply));
        assert!(tokio::time::timeout(Duration::from_millis(300), other.rx.recv()).await.is_err());
    }
}
