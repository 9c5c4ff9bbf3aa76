//! Many peers in one session: a full mesh over real WebRTC on loopback.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use nitro_engine::engine::{Engine, EngineHandle};
use nitro_engine::path::RelPath;
use nitro_tests::session::{full_mesh, random_edits, same_text, tokens};
use nitro_tests::{CONVERGE, Peer, loopback_config, read, sh, snapshot, wait_for, write_files};
use rand::SeedableRng;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_peers_converge_under_random_concurrent_edits() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let proj = tmp.path().join("p0");
    write_files(&proj, &[("shared.txt", b"start\n")])?;
    let host = Engine::host(loopback_config(&proj, "p0")).await?;
    let invite = host.invite().context("invite")?.clone();
    let mut peers: Vec<EngineHandle> = vec![host];
    for i in 1..5 {
        peers.push(Engine::join(loopback_config(&tmp.path().join(format!("p{i}")), &format!("p{i}")), invite.clone()).await?);
    }
    // Everyone connects to everyone, not only to the host.
    full_mesh(&peers).await?;
    let path = RelPath::new("shared.txt")?;
    let kept = random_edits(&peers, &path, "", 12, &mut rand::rngs::StdRng::seed_from_u64(7)).await?;
    let text = same_text(&peers, &path, CONVERGE).await?;
    assert_eq!(tokens(&text), kept, "every edit is kept, every deletion done, on every peer");
    for i in 0..5 {
        let dir = tmp.path().join(format!("p{i}"));
        wait_for(CONVERGE, || Ok(read(&dir.join("shared.txt")).as_deref() == Some(text.as_str()))).with_context(|| format!("p{i}'s file"))?;
    }
    for p in peers {
        p.shutdown().await?;
    }
    Ok(())
}

#[test]
fn a_peer_killed_mid_edit_comes_back_and_everything_converges() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let proj = tmp.path().join("host");
    write_files(&proj, &[("log.txt", b"")])?;
    let host = Peer::host(&proj, &[])?;
    let link = host.link.clone().unwrap_or_default();
    let a = Peer::join(&link, &tmp.path().join("a"), "a", &[])?;
    let b = Peer::join(&link, &tmp.path().join("b"), "b", &[])?;
    wait_for(CONVERGE, || Ok(a.log().contains("b joined") || b.log().contains("a joined")))?;

    let mut lines = BTreeSet::new();
    let mut append = |peer: &Path, line: String| -> Result<()> {
        sh(peer, &format!("echo '{line}' >> log.txt"))?;
        lines.insert(line);
        std::thread::sleep(Duration::from_millis(15));
        Ok(())
    };
    for i in 0..10 {
        append(&proj, format!("host {i}"))?;
        append(&a.dir, format!("a {i}"))?;
        append(&b.dir, format!("b {i}"))?;
    }
    // b dies without a word, right after an edit.
    append(&b.dir.clone(), "b last words".into())?;
    let b_dir = b.dir.clone();
    drop(b); // SIGKILL
    wait_for(CONVERGE, || Ok(host.log().contains("b left") && a.log().contains("b left"))).context("the others notice b is gone")?;
    for i in 10..20 {
        append(&proj, format!("host {i}"))?;
        append(&a.dir, format!("a {i}"))?;
    }
    append(&b_dir, "b while dead".into())?;
    let b = Peer::join(&link, &b_dir, "b", &[])?;
    let all = |dir: &Path| -> BTreeSet<String> { read(&dir.join("log.txt")).unwrap_or_default().lines().map(str::to_owned).collect() };
    wait_for(CONVERGE * 2, || Ok(all(&proj) == lines && snapshot(&proj) == snapshot(&a.dir) && snapshot(&proj) == snapshot(&b.dir))).with_context(
        || {
            let show = |d: &Path| read(&d.join("log.txt")).unwrap_or_default();
            let names = |d: &Path| snapshot(d).into_keys().collect::<Vec<_>>();
            format!(
                "missing on host: {:?}\nfiles: host {:?}, a {:?}, b {:?}\nhost:\n{}\na:\n{}\nb:\n{}",
                lines.difference(&all(&proj)).collect::<Vec<_>>(),
                names(&proj),
                names(&a.dir),
                names(&b.dir),
                show(&proj),
                show(&a.dir),
                show(&b.dir)
            )
        },
    )?;
    Ok(())
}

/// Two groups of peers on two test hosts; the link between the hosts is cut,
/// both groups keep editing, and the link comes back.
#[test]
fn a_split_mesh_keeps_editing_and_converges_when_it_heals() -> Result<()> {
    let net = nitro_tests::TwoHosts::new()?;
    let tmp = tempfile::tempdir()?;
    let proj = tmp.path().join("host");
    write_files(&proj, &[("notes.txt", b"")])?;
    let host = Peer::host_at(Some(&net.a), &net.ip_a, &proj, &[])?;
    let link = host.link.clone().unwrap_or_default();
    let a1 = Peer::join_at(Some(&net.a), &net.ip_a, &link, &tmp.path().join("a1"), "a1", &[])?;
    let b1 = Peer::join_at(Some(&net.b), &net.ip_b, &link, &tmp.path().join("b1"), "b1", &[])?;
    let b2 = Peer::join_at(Some(&net.b), &net.ip_b, &link, &tmp.path().join("b2"), "b2", &[])?;
    let peers = [&host, &a1, &b1, &b2];
    let joined = |p: &Peer, names: &[&str]| names.iter().all(|n| p.log().matches(&format!("{n} joined")).count() >= 1);
    wait_for(CONVERGE, || Ok(joined(&a1, &["b1", "b2"]) || joined(&b1, &["a1"]) && joined(&b2, &["a1"]))).context("the mesh spans both hosts")?;

    let mut lines = BTreeSet::new();
    let mut add = |p: &Peer, line: String| -> Result<()> {
        sh(&p.dir, &format!("echo '{line}' >> notes.txt"))?;
        lines.insert(line);
        std::thread::sleep(Duration::from_millis(30));
        Ok(())
    };
    add(&host, "before the split".into())?;
    let same = |a: &Peer, b: &Peer| snapshot(&a.dir) == snapshot(&b.dir);
    wait_for(CONVERGE, || Ok(peers.iter().all(|p| same(p, &host))))?;

    net.cut()?;
    wait_for(CONVERGE, || Ok(host.log().contains("b1 left") && host.log().contains("b2 left") && b1.log().contains("a1 left")))
        .context("both sides notice the split")?;
    for i in 0..5 {
        add(&host, format!("host while split {i}"))?;
        add(&a1, format!("a1 while split {i}"))?;
        add(&b1, format!("b1 while split {i}"))?;
        add(&b2, format!("b2 while split {i}"))?;
    }
    // Each side still works within itself.
    wait_for(CONVERGE, || Ok(same(&host, &a1) && same(&b1, &b2)))?;
    assert_ne!(snapshot(&host.dir), snapshot(&b1.dir));

    net.heal()?;
    let all = |p: &Peer| -> BTreeSet<String> { read(&p.dir.join("notes.txt")).unwrap_or_default().lines().map(str::to_owned).collect() };
    wait_for(Duration::from_secs(60), || Ok(peers.iter().all(|p| all(p) == lines && same(p, &host))))
        .with_context(|| format!("after healing, host misses {:?}", lines.difference(&all(&host)).collect::<Vec<_>>()))?;
    Ok(())
}
