//! Whole sessions of engines in this one process, linked on the in-memory
//! net (signaling stays real, on loopback): many peers, delay, lost
//! presence, partitions and crashes, in seconds and without WebRTC. The
//! same scenes over real WebRTC and real processes are in `mesh.rs`.

use std::time::Duration;

use anyhow::{Context, Result};
use nitro_engine::engine::{Engine, EngineEvent, EngineHandle, Leaving};
use nitro_engine::link::memory::MemNet;
use nitro_engine::path::RelPath;
use nitro_engine::protocol::PeerId;
use nitro_tests::session::{full_mesh, random_edits, same_text, tokens, until};
use nitro_tests::{CONVERGE, memory_config, next_event, read, wait_for, write_files};
use rand::SeedableRng;

/// A host sharing `shared.txt` and `guests` guests that joined it on `net`.
async fn session(tmp: &std::path::Path, net: &MemNet, guests: usize) -> Result<Vec<EngineHandle>> {
    let proj = tmp.join("p0");
    write_files(&proj, &[("shared.txt", b"start\n")])?;
    let host = Engine::host(memory_config(&proj, "p0", net)).await?;
    let invite = host.invite().context("invite")?.clone();
    let mut peers = vec![host];
    for i in 1..=guests {
        peers.push(Engine::join(memory_config(&tmp.join(format!("p{i}")), &format!("p{i}"), net), invite.clone()).await?);
    }
    Ok(peers)
}

fn refs(s: &[PeerId]) -> Vec<&PeerId> {
    s.iter().collect()
}

/// Whether `p` is connected to every peer of `others` and to none of `apart`.
async fn sees(p: &EngineHandle, others: &[&PeerId], apart: &[&PeerId]) -> Result<bool> {
    let connected: Vec<PeerId> = p.peers().await?.into_iter().map(|i| i.peer).collect();
    Ok(others.iter().all(|o| connected.contains(o)) && apart.iter().all(|a| !connected.contains(a)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_engines_converge_under_random_concurrent_edits_with_delay_and_lost_presence() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let net = MemNet::default();
    net.set_delay(Duration::from_millis(20));
    net.set_presence_loss(0.3);
    let peers = session(tmp.path(), &net, 7).await?;
    full_mesh(&peers).await?;
    let path = RelPath::new("shared.txt")?;
    let kept = random_edits(&peers, &path, "", 15, &mut rand::rngs::StdRng::seed_from_u64(8)).await?;
    let text = same_text(&peers, &path, CONVERGE).await?;
    assert_eq!(tokens(&text), kept, "every edit is kept, every deletion done, on every peer");
    for i in 0..peers.len() {
        let file = tmp.path().join(format!("p{i}/shared.txt"));
        wait_for(CONVERGE, || Ok(read(&file).as_deref() == Some(text.as_str()))).with_context(|| format!("p{i}'s file"))?;
    }
    for p in peers {
        p.shutdown().await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_split_session_keeps_editing_on_both_sides_and_converges_when_it_heals() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let net = MemNet::default();
    let peers = session(tmp.path(), &net, 3).await?;
    full_mesh(&peers).await?;
    let ids: Vec<PeerId> = peers.iter().map(|p| p.me().clone()).collect();
    // The host and p1 on one side, p2 and p3 on the other.
    let (left, right) = (&ids[..2], &ids[2..]);
    for a in left {
        for b in right {
            net.cut(a, b);
        }
    }
    until(CONVERGE, async || {
        Ok(sees(&peers[0], &refs(&left[1..]), &refs(right)).await?
            && sees(&peers[1], &[&left[0]], &refs(right)).await?
            && sees(&peers[2], &[&right[1]], &refs(left)).await?
            && sees(&peers[3], &[&right[0]], &refs(left)).await?)
    })
    .await
    .context("both sides see the split")?;

    let path = RelPath::new("shared.txt")?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(9);
    let kept_left = random_edits(&peers[..2], &path, "l", 5, &mut rng).await?;
    let kept_right = random_edits(&peers[2..], &path, "r", 5, &mut rng).await?;
    same_text(&peers[..2], &path, CONVERGE).await.context("the host's side agrees")?;
    same_text(&peers[2..], &path, CONVERGE).await.context("the other side agrees")?;
    assert_ne!(peers[0].text(path.clone()).await?.0, peers[2].text(path.clone()).await?.0, "the sides cannot see each other's edits");

    net.heal();
    full_mesh(&peers).await.context("the mesh comes back whole")?;
    let text = same_text(&peers, &path, CONVERGE).await?;
    let want: std::collections::BTreeSet<String> = kept_left.union(&kept_right).cloned().collect();
    assert_eq!(tokens(&text), want, "the edits of both sides are kept");
    for p in peers {
        p.shutdown().await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_crashes_is_seen_leaving_and_catches_up_when_started_again() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let net = MemNet::default();
    let mut peers = session(tmp.path(), &net, 2).await?;
    full_mesh(&peers).await?;
    let path = RelPath::new("shared.txt")?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(10);
    let mut kept = random_edits(&peers, &path, "before", 3, &mut rng).await?;
    same_text(&peers, &path, CONVERGE).await?;

    // p2 crashes: nothing it says reaches anyone, and the others see it go.
    let gone = peers.pop().context("p2")?;
    let id = gone.me().clone();
    let mut host_events = peers[0].subscribe();
    net.remove(&id);
    let why = next_event(&mut host_events, |ev| match ev {
        EngineEvent::PeerLeft { peer, why, .. } if peer == id => Some(why),
        _ => None,
    })
    .await?;
    assert_eq!(why, Leaving::Closed, "no goodbye came from the crashed peer");
    until(CONVERGE, async || Ok(sees(&peers[0], &[], &[&id]).await? && sees(&peers[1], &[], &[&id]).await?)).await.context("p2 is seen leaving")?;
    gone.shutdown().await?;
    kept.extend(random_edits(&peers, &path, "while", 3, &mut rng).await?);
    let text = same_text(&peers, &path, CONVERGE).await?;

    // Started again on its folder, it catches up with what it missed.
    net.restore(&id);
    let invite = peers[0].invite().context("invite")?.clone();
    let back = Engine::join(memory_config(&tmp.path().join("p2"), "p2", &net), invite).await?;
    assert_eq!(back.me(), &id, "the same peer, from its folder");
    peers.push(back);
    full_mesh(&peers).await?;
    assert_eq!(same_text(&peers, &path, CONVERGE).await?, text);
    assert_eq!(tokens(&text), kept, "every edit is kept, every deletion done");
    let file = tmp.path().join("p2/shared.txt");
    wait_for(CONVERGE, || Ok(read(&file).as_deref() == Some(text.as_str()))).context("p2's file")?;
    for p in peers {
        p.shutdown().await?;
    }
    Ok(())
}
