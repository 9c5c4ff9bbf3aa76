//! Every peer's disk ends with every shared file, whatever order tree entries
//! and file contents arrive in, over whichever links.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier};

use anyhow::{Context, Result};
use nitro_tests::{CONVERGE, Peer, snapshot, wait_for, write_files};

const JOINERS: [&str; 3] = ["a", "b", "c"];
const ROUNDS: usize = 6;

/// What one peer does in one round, all peers at the same moment: create a
/// file, create one in a new nested folder, create one in a folder every
/// peer creates at once, rename its file of the round before into a folder
/// every peer creates at once, delete its file of two rounds before, and
/// create a file at a path every other peer creates too.
fn act(dir: &Path, me: &str, round: usize) -> Result<()> {
    let put = |rel: &str, text: String| -> Result<()> {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().context("parent")?)?;
        std::fs::write(p, text)?;
        Ok(())
    };
    put(&format!("{me}-{round}.txt"), format!("{me} round {round}\n"))?;
    put(&format!("deep/{me}/r{round}/notes.md"), format!("# {me} {round}\n"))?;
    put(&format!("together/{round}/{me}.txt"), format!("{me} was here\n"))?;
    put(&format!("same/{round}.txt"), format!("{me} wrote this\n"))?;
    if round >= 1 {
        std::fs::create_dir_all(dir.join("moved"))?;
        std::fs::rename(dir.join(format!("{me}-{}.txt", round - 1)), dir.join(format!("moved/{me}-{}.txt", round - 1)))?;
    }
    if round >= 2 {
        std::fs::remove_file(dir.join(format!("moved/{me}-{}.txt", round - 2)))?;
    }
    Ok(())
}

/// The files every disk must hold at the end, but for the `same/` ones,
/// whose contents depend on which creation keeps the name.
fn expected(peers: &[&str]) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    out.insert("README.md".to_owned(), b"shared\n".to_vec());
    for me in peers {
        for round in 0..ROUNDS {
            out.insert(format!("deep/{me}/r{round}/notes.md"), format!("# {me} {round}\n").into_bytes());
            out.insert(format!("together/{round}/{me}.txt"), format!("{me} was here\n").into_bytes());
        }
        out.insert(format!("{me}-{}.txt", ROUNDS - 1), format!("{me} round {}\n", ROUNDS - 1).into_bytes());
        out.insert(format!("moved/{me}-{}.txt", ROUNDS - 2), format!("{me} round {}\n", ROUNDS - 2).into_bytes());
    }
    out
}

#[test]
fn four_peers_creating_moving_and_deleting_at_once_end_with_identical_disks() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let proj = tmp.path().join("host");
    write_files(&proj, &[("README.md", b"shared\n")])?;
    let host = Peer::host(&proj, &[])?;
    let link = host.link.clone().context("invite")?;
    let mut peers = vec![host];
    for name in JOINERS {
        peers.push(Peer::join(&link, &tmp.path().join(name), name, &[])?);
    }
    // Every joiner is connected to the other two, not only to the host.
    wait_for(CONVERGE, || Ok(peers[1..].iter().all(|p| JOINERS.iter().filter(|n| p.log().contains(&format!("{n} joined"))).count() == 2)))
        .context("full mesh")?;

    let names: Vec<&str> = std::iter::once("host").chain(JOINERS).collect();
    let dirs: Vec<PathBuf> = peers.iter().map(|p| p.dir.clone()).collect();
    for round in 0..ROUNDS {
        let start = Arc::new(Barrier::new(dirs.len()));
        let workers: Vec<_> = dirs
            .iter()
            .zip(&names)
            .map(|(dir, me)| {
                let (dir, me, start) = (dir.clone(), (*me).to_owned(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    act(&dir, &me, round)
                })
            })
            .collect();
        for w in workers {
            w.join().map_err(|_| anyhow::anyhow!("a peer's worker panicked"))??;
        }
    }

    let want = expected(&names);
    let files = |dir: &Path| -> BTreeMap<String, Vec<u8>> { snapshot(dir).into_iter().filter(|(p, _)| !p.ends_with('/')).collect() };
    let settled = || {
        let first = snapshot(&dirs[0]);
        dirs.iter().all(|d| snapshot(d) == first) && want.iter().all(|(p, b)| first.get(p) == Some(b))
    };
    wait_for(CONVERGE * 2, || Ok(settled())).with_context(|| {
        let mut report = String::new();
        for (dir, name) in dirs.iter().zip(&names) {
            let have = files(dir);
            let missing: Vec<&String> = want.keys().filter(|p| !have.contains_key(*p)).collect();
            let extra: Vec<&String> = have.keys().filter(|p| !want.contains_key(*p) && !p.starts_with("same/")).collect();
            report += &format!("\n{name}: missing {missing:?}, unexpected {extra:?}");
        }
        for (p, name) in peers.iter().zip(&names) {
            report += &format!("\n--- {name}'s log:\n{}", p.log());
        }
        report
    })?;

    // Each round's `same/N.txt` was created by all four at once: one keeps
    // the name, the others are kept beside it under conflict names.
    let all = files(&dirs[0]);
    for round in 0..ROUNDS {
        let versions: Vec<&String> = all.keys().filter(|p| p.starts_with(&format!("same/{round}.txt"))).collect();
        assert_eq!(versions.len(), names.len(), "round {round}: every peer's creation is kept: {versions:?}");
        let mut authors: Vec<String> = versions.iter().map(|p| String::from_utf8_lossy(&all[*p]).into_owned()).collect();
        authors.sort();
        let mut wrote: Vec<String> = names.iter().map(|n| format!("{n} wrote this\n")).collect();
        wrote.sort();
        assert_eq!(authors, wrote, "round {round}");
    }
    Ok(())
}

/// Two joiners that cannot reach each other (each reaches only the host):
/// what one writes reaches the other through the host, found by comparing
/// digests and brought by a resync. The host is on test host `a` with every
/// address; `near` on `a` too, but bound to loopback; `far` on test host `b`.
#[test]
fn peers_that_cannot_connect_directly_still_converge_through_a_third() -> Result<()> {
    let net = nitro_tests::TwoHosts::new()?;
    let tmp = tempfile::tempdir()?;
    let proj = tmp.path().join("host");
    write_files(&proj, &[("README.md", b"shared\n")])?;
    let host = Peer::host_at(Some(&net.a), "0.0.0.0", &proj, &["-v"])?;
    let link = host.link.clone().context("invite")?;
    let near = Peer::join_at(Some(&net.a), "127.0.0.1", &link, &tmp.path().join("near"), "near", &["-v"])?;
    // The link names the host's loopback signaling address; from `b` it is
    // reached at its address on the link between the test hosts.
    let mut invite = nitro_engine::protocol::Invite::parse(&link)?;
    let port = invite.signal.port().context("port")?;
    invite.signal = format!("ws://{}:{port}", net.ip_a).parse()?;
    let far = Peer::join_at(Some(&net.b), &net.ip_b, &invite.to_link(), &tmp.path().join("far"), "far", &["-v"])?;
    wait_for(CONVERGE, || Ok(far.log().contains("near joined") || near.log().contains("far joined") || host.log().contains("far joined")))?;
    assert!(!far.log().contains("near joined"), "the test hosts must keep near and far apart");

    write_files(&near.dir, &[("from-near.txt", b"written where far cannot hear\n")])?;
    wait_for(CONVERGE, || Ok(snapshot(&far.dir) == snapshot(&near.dir) && snapshot(&host.dir) == snapshot(&near.dir)))
        .with_context(|| format!("far's log:\n{}", far.log()))?;
    assert!(!far.log().contains("near joined"), "they were never connected");
    // Whichever of far and the host noticed first says what differed, and
    // far then says it is in sync.
    let noticed = || host.log().contains("still differs") || far.log().contains("still differs");
    let in_sync_after = |log: String| log.rfind("catching up with host").is_some_and(|at| log[at..].contains("in sync with 1 peer"));
    wait_for(CONVERGE, || Ok(noticed() && in_sync_after(far.log())))
        .with_context(|| format!("the difference is reported and repaired; host's log:\n{}\nfar's log:\n{}", host.log(), far.log()))?;
    Ok(())
}
