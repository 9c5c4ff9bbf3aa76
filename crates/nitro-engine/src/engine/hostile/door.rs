//! Attacks on the host's door: made-up identities that hold the approval
//! queue, floods of offers without the secret, and sockets that hold the
//! signaling server's places.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use futures_util::SinkExt;
use tokio_tungstenite::tungstenite::Message;

use super::{KEPT_FOR, host, host_approving};
use crate::engine::{Engine, EngineConfig, EngineError, EngineEvent};
use crate::link::Identity;
use crate::protocol::limits::{SIGNAL_CLIENTS, SIGNAL_CLIENTS_PER_ADDRESS, SIGNAL_PUBLISH_RATE, SIGNAL_VOUCH_GRACE};
use crate::protocol::{Invite, PeerId, Secret};
use crate::signal::crypto::{Plain, SignalKey, topic};
use crate::signal::{Envelope, Kind, SignalConn, client};

/// A joiner's settings on loopback.
fn joiner(dir: &std::path::Path, name: &str) -> EngineConfig {
    let mut cfg = EngineConfig::new(dir.join(name), name);
    cfg.bind = Some(Ipv4Addr::LOCALHOST.into());
    cfg
}

/// An offer as a joiner makes it, for an identity with a real certificate
/// that will never connect.
fn made_up_offer(key: &SignalKey, name: &str) -> Envelope {
    let identity = Identity::generate().expect("identity");
    let peer = PeerId::of_certificate(&identity.fingerprint);
    let sdp = format!("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n{}\r\n", crate::link::identity::sdp_fingerprint_line(&identity.fingerprint));
    key.seal(Kind::Offer, &peer, None, &Plain { sdp, peer: peer.clone(), name: name.into() })
}

async fn subscribe(invite: &Invite) -> SignalConn {
    client::connect(&invite.signal, &topic(&invite.session), &Default::default()).await.expect("subscribes")
}

/// Publishes `offers` again every 2 s, as joiners do, from as many
/// clients as the signaling server's publish rate needs; until aborted.
async fn republish(invite: Invite, offers: Vec<Envelope>) {
    let per_client = (SIGNAL_PUBLISH_RATE.per_second as usize).max(1);
    let mut clients = Vec::new();
    for _ in offers.chunks(per_client) {
        clients.push(subscribe(&invite).await);
    }
    let mut every = tokio::time::interval(Duration::from_secs(2));
    loop {
        every.tick().await;
        for (client, chunk) in clients.iter().zip(offers.chunks(per_client)) {
            for env in chunk {
                let _ = client.tx.send(env.clone());
            }
        }
    }
}

/// A holder of the read-only link makes up 40 identities and publishes
/// their offers again and again under approval. The host's user is asked
/// about each, turns 16 away, and a real joiner is still asked about at
/// once; the rest are turned away together.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn made_up_identities_cannot_keep_a_joiner_from_being_asked_about() {
    let (_dir, host, _) = host_approving(&[("a.txt", "a")], true).await;
    let links = host.invites().expect("links");
    let mut events = host.subscribe();
    let key = SignalKey::derive(&links.view.secret, &links.view.session);
    let fakes: Vec<Envelope> = (0..40).map(|i| made_up_offer(&key, &format!("fake{i}"))).collect();
    let attack = tokio::spawn(republish(links.view.clone(), fakes));

    let mut asked = Vec::new();
    let all_asked = async {
        while asked.len() < 40 {
            match events.recv().await {
                Ok(EngineEvent::JoinRequest(r)) if r.name.starts_with("fake") => asked.push(r.peer),
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("the host stopped: {e}"),
            }
        }
    };
    tokio::time::timeout(KEPT_FOR, all_asked).await.expect("the host's user is asked about every identity");
    for peer in &asked[..16] {
        host.answer_join(peer.clone(), false).await.expect("turned away");
    }

    // A real member comes with the same link, while 24 made-up ones still wait.
    let dir = tempfile::tempdir().expect("tempdir");
    let bob = tokio::spawn(Engine::join(joiner(dir.path(), "bob"), links.view.clone()));
    let bob_asked = async {
        loop {
            match events.recv().await {
                Ok(EngineEvent::JoinRequest(r)) if r.name == "bob" => return r.peer,
                Ok(EngineEvent::JoinRequest(r)) => panic!("asked again about {} after turning it away", r.name),
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("the host stopped: {e}"),
            }
        }
    };
    let bob_id = tokio::time::timeout(Duration::from_secs(5), bob_asked).await.expect("the host's user is asked about bob within 5 s");
    host.answer_join(bob_id.clone(), true).await.expect("let in");
    let bob = bob.await.expect("join task").expect("bob joins");
    assert_eq!(std::fs::read_to_string(dir.path().join("bob/a.txt")).expect("a.txt"), "a");

    let turned_away = host.deny_waiting().await.expect("deny all");
    assert_eq!(turned_away.len(), 24, "everyone still waiting, and only them");
    assert!(turned_away.iter().all(|p| asked[16..].contains(p)));
    attack.abort();
    bob.shutdown().await.expect("shutdown");
    host.shutdown().await.expect("shutdown");
}

/// Outsiders without the secret flood the topic with offers, far past the
/// refusals a host signs; right after, a joiner with a wrong secret is
/// still told so, with the host's signature.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_flood_of_offers_a_wrong_secret_is_still_refused() {
    let (_dir, host, invite) = host(&[("a.txt", "a")]).await;
    let mut listener = subscribe(&invite).await;
    let junk = || Envelope { nitro: 1, kind: Kind::Offer, from: PeerId::random(), to: None, sealed: Some("AAAA".repeat(40)) };
    let mut flooders = Vec::new();
    for _ in 0..8 {
        flooders.push(subscribe(&invite).await);
    }
    // Each client publishes at the server's rate for 3 s: far more offers
    // than the host signs refusals in that time, at a pace every
    // subscriber (the listener too) keeps up with.
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / SIGNAL_PUBLISH_RATE.per_second));
    for _ in 0..(3.0 * SIGNAL_PUBLISH_RATE.per_second) as usize {
        tick.tick().await;
        for c in &flooders {
            let _ = c.tx.send(junk());
        }
    }
    // The host signed as many refusals as it signs in a burst: its budget is spent.
    let signed = async {
        let mut n = 0;
        while n < 20 {
            match listener.rx.recv().await {
                Some(env) if env.kind == Kind::Refused => n += 1,
                Some(_) => {}
                None => panic!("the signaling server closed"),
            }
        }
    };
    tokio::time::timeout(KEPT_FOR, signed).await.expect("the host refused the flood's first offers");
    drop(flooders);

    let dir = tempfile::tempdir().expect("tempdir");
    let wrong = Invite { secret: Secret::random(), ..invite };
    let refused = Engine::join(joiner(dir.path(), "bob"), wrong).await.err().expect("a wrong secret gets in nowhere");
    assert!(matches!(refused, EngineError::WrongSecret), "{refused}");
    host.shutdown().await.expect("shutdown");
}

/// An outsider holds idle sockets on the host's signaling server from 17
/// addresses, 16 each: more than its places. A real joiner still gets in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sockets_from_many_addresses_do_not_keep_a_joiner_out() {
    let (_dir, host, invite) = host(&[("a.txt", "a")]).await;
    let port = invite.signal.port().expect("port");
    let server = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let subscribe_msg = format!(r#"{{"type":"subscribe","topics":["{}"]}}"#, topic(&invite.session));
    let mut idle = Vec::new();
    for a in 2..=18u8 {
        for _ in 0..SIGNAL_CLIENTS_PER_ADDRESS {
            let socket = tokio::net::TcpSocket::new_v4().expect("socket");
            socket.bind((Ipv4Addr::new(127, 0, 0, a), 0).into()).expect("a loopback address of its own");
            let Ok(stream) = socket.connect(server).await else { continue };
            if let Ok((mut ws, _)) = tokio_tungstenite::client_async(format!("ws://{server}"), stream).await
                && ws.send(Message::text(subscribe_msg.clone())).await.is_ok()
            {
                idle.push(ws);
            }
        }
    }
    assert!(idle.len() >= SIGNAL_CLIENTS, "the outsider holds every place: {}", idle.len());
    // The outsider's sockets stay idle past the grace a newcomer gets.
    tokio::time::sleep(SIGNAL_VOUCH_GRACE).await;

    let dir = tempfile::tempdir().expect("tempdir");
    let bob = Engine::join(joiner(dir.path(), "bob"), invite).await.expect("a real joiner gets in");
    assert_eq!(std::fs::read_to_string(dir.path().join("bob/a.txt")).expect("a.txt"), "a");
    bob.shutdown().await.expect("shutdown");
    host.shutdown().await.expect("shutdown");
}
