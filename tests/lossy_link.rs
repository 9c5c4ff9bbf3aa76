//! Under packet loss the presence channel really is unreliable (updates are
//! lost, not retransmitted) while the state channel still delivers every
//! edit. Loss comes from a user-space relay in front of a real TURN server,
//! with relay-only ICE, so every datagram of the connection crosses it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use nitro_engine::doc::Splice;
use nitro_engine::engine::presence::{LocalPresence, Selection};
use nitro_engine::engine::{Engine, EngineConfig, EngineEvent};
use nitro_engine::link::{IceConfig, IceServer};
use nitro_engine::path::RelPath;
use nitro_tests::{CONVERGE, LossyRelay, start_turn, write_files};
use tokio::sync::broadcast;

const UPDATES: u32 = 300;

fn config(dir: &std::path::Path, name: &str, turn_port: u16) -> EngineConfig {
    let mut cfg = nitro_tests::loopback_config(dir, name);
    cfg.ice = IceConfig {
        servers: vec![IceServer {
            urls: vec![format!("turn:127.0.0.1:{turn_port}?transport=udp")],
            username: "nitro".into(),
            credential: "s3cret".into(),
        }],
        relay_only: true,
    };
    cfg
}

/// Presence updates from the guest that reach the host while the guest
/// moves its caret `UPDATES` times at 60 Hz.
async fn presence_received(guest: &nitro_engine::engine::EngineHandle, seen: &AtomicU32, path: &RelPath, offset: usize) -> Result<u32> {
    let before = seen.load(Ordering::Relaxed);
    let mut tick = tokio::time::interval(Duration::from_micros(16_667));
    for i in 0..UPDATES as usize {
        tick.tick().await;
        let at = offset + i % 50;
        guest
            .set_presence(
                LocalPresence { file: Some(path.clone()), selections: vec![Selection { anchor: at, head: at }], typing: false, viewport_top: None },
                None,
            )
            .await?;
    }
    // Late datagrams have a moment to arrive.
    tokio::time::sleep(Duration::from_millis(500)).await;
    Ok(seen.load(Ordering::Relaxed) - before)
}

/// Counts the host's presence events as they come.
fn count_presence(mut events: broadcast::Receiver<EngineEvent>) -> Arc<AtomicU32> {
    let seen = Arc::new(AtomicU32::new(0));
    let counter = seen.clone();
    tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(EngineEvent::Presence(_)) => {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    panic!("the counter fell {n} events behind")
                }
                Err(broadcast::error::RecvError::Closed) => break,
            }
        }
    });
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_is_lost_under_loss_while_every_edit_arrives() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let (_turn, turn_port) = start_turn(tmp.path())?;
    let relay = LossyRelay::start(format!("127.0.0.1:{turn_port}").parse()?)?;
    let proj = tmp.path().join("project");
    write_files(&proj, &[("a.txt", "x".repeat(100).as_bytes())])?;
    // The host reaches the TURN server through the lossy relay.
    let host = Engine::host(config(&proj, "host", relay.port)).await?;
    let invite = host.invite().context("invite")?.clone();
    let seen = count_presence(host.subscribe());
    let guest = Engine::join(config(&tmp.path().join("pair"), "guest", turn_port), invite).await?;
    let path = RelPath::new("a.txt")?;

    let clean = presence_received(&guest, &seen, &path, 0).await?;
    relay.set_loss(250);
    let lossy = presence_received(&guest, &seen, &path, 50).await?;
    // Edits made under the same loss all arrive, in order.
    for i in 0..30 {
        guest.edit(path.clone(), None, vec![Splice { index: 0, delete: 0, insert: format!("<{i}>") }]).await?;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let want: String = (0..30).rev().map(|i| format!("<{i}>")).collect::<String>() + &"x".repeat(100);
    let deadline = tokio::time::Instant::now() + CONVERGE * 2;
    while host.text(path.clone()).await?.0 != want {
        assert!(tokio::time::Instant::now() < deadline, "edits lost under loss: {}", host.text(path.clone()).await?.0);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!("presence updates received of {UPDATES}: {clean} without loss, {lossy} with 25% loss");
    assert!(clean >= UPDATES * 9 / 10, "without loss {clean} of {UPDATES} presence updates arrived");
    assert!(lossy <= clean * 9 / 10, "with 25% loss {lossy} arrived, without loss {clean}: presence was retransmitted");
    assert!(lossy > 0);
    guest.shutdown().await?;
    host.shutdown().await?;
    Ok(())
}
