//! Benchmarks of the mesh: keystroke-to-remote latency with 2, 4 and 8 peers,
//! mesh formation time for 8 and 16 peers, presence CPU at 60 Hz with 8
//! peers, and join time and bytes for a 1,000-file, 10 MB workspace. Every
//! figure is printed beside a baseline measured in the same run.
//!
//! Run: `cargo bench -p nitro-tests --bench mesh`

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjType, ROOT, ReadDoc, TextEncoding};
use nitro_engine::doc::Splice;
use nitro_engine::engine::presence::{LocalPresence, Selection};
use nitro_engine::engine::{Engine, EngineEvent, EngineHandle};
use nitro_engine::path::RelPath;
use nitro_engine::protocol::Invite;
use nitro_tests::bench::{self, ms, pct};
use nitro_tests::loopback_config;
use rand::{Rng, SeedableRng};

const KEYSTROKES: usize = 200;
const GAP: Duration = Duration::from_millis(20);

/// CPU time of this process so far (user + system).
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or_default().split_whitespace().collect();
    let ticks: u64 = fields.get(11).and_then(|u| u.parse().ok()).unwrap_or(0) + fields.get(12).and_then(|s| s.parse().ok()).unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

/// A host and `n - 1` joiners, all connected to each other.
async fn session(root: &Path, n: usize, files: &[(&str, &str)]) -> Result<(Vec<EngineHandle>, Duration)> {
    let proj = root.join("p0");
    std::fs::create_dir_all(&proj)?;
    for (name, text) in files {
        std::fs::write(proj.join(name), text)?;
    }
    let host = Engine::host(loopback_config(&proj, "p0")).await?;
    let invite = host.invite().context("invite")?.clone();
    let t = Instant::now();
    let joins: Vec<_> = (1..n)
        .map(|i| {
            let (dir, invite) = (root.join(format!("p{i}")), invite.clone());
            tokio::spawn(async move { Engine::join(loopback_config(&dir, &format!("p{i}")), invite).await })
        })
        .collect();
    let mut peers = vec![host];
    for j in joins {
        peers.push(j.await??);
    }
    loop {
        let mut full = true;
        for p in &peers {
            full &= p.peers().await?.len() == n - 1;
        }
        if full {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok((peers, t.elapsed()))
}

async fn shutdown(peers: Vec<EngineHandle>) -> Result<()> {
    for p in peers {
        p.shutdown().await?;
    }
    Ok(())
}

/// Keystrokes at peer 0, each timed until the last other peer has it.
async fn keystrokes(peers: &[EngineHandle]) -> Result<Vec<Duration>> {
    let path = RelPath::new("small.txt")?;
    let mut subs: Vec<_> = peers[1..].iter().map(EngineHandle::subscribe).collect();
    let mut out = Vec::new();
    for i in 0..KEYSTROKES {
        let t = Instant::now();
        peers[0].edit(path.clone(), None, vec![Splice { index: i, delete: 0, insert: "x".into() }]).await?;
        for sub in &mut subs {
            loop {
                if let EngineEvent::FilesChanged { paths, .. } = sub.recv().await?
                    && paths.contains(&path)
                {
                    break;
                }
            }
        }
        out.push(t.elapsed());
        tokio::time::sleep(GAP).await;
    }
    out.sort();
    Ok(out)
}

/// Raw Automerge: one keystroke committed and applied to `receivers` copies.
fn baseline_keystrokes(receivers: usize) -> Result<Vec<Duration>> {
    let mut doc = AutoCommit::new_with_encoding(TextEncoding::Utf16CodeUnit);
    let text = doc.put_object(ROOT, "text", ObjType::Text)?;
    doc.commit();
    let mut copies: Vec<AutoCommit> = (0..receivers).map(|_| doc.fork()).collect();
    let mut out = Vec::new();
    for i in 0..KEYSTROKES {
        let t = Instant::now();
        doc.splice_text(&text, i, 0, "x")?;
        doc.commit();
        let change = doc.get_last_local_change().context("change")?;
        for c in &mut copies {
            c.apply_changes([change.clone()])?;
        }
        out.push(t.elapsed());
    }
    out.sort();
    Ok(out)
}

fn generated_files(count: usize, size: usize) -> Vec<(String, String)> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let words = ["fn", "let", "mut", "struct", "impl", "match", "return", "self", "async", "await", "pub", "use"];
    (0..count)
        .map(|i| {
            let mut text = String::with_capacity(size + 64);
            while text.len() < size {
                text.push_str(words[rng.random_range(0..words.len())]);
                text.push(if rng.random_bool(0.1) { '\n' } else { ' ' });
            }
            (format!("file{i:04}.rs"), text)
        })
        .collect()
}

/// Raw Automerge: the same files in one document, fully synced to an empty one.
fn baseline_join(files: &[(String, String)]) -> Result<(Duration, usize)> {
    let mut doc = AutoCommit::new_with_encoding(TextEncoding::Utf16CodeUnit);
    let map = doc.put_object(ROOT, "files", ObjType::Map)?;
    for (name, text) in files {
        let t = doc.put_object(&map, name.as_str(), ObjType::Text)?;
        doc.splice_text(&t, 0, 0, text)?;
        doc.commit();
    }
    let (took, bytes, other) = bench::full_sync(&mut doc)?;
    anyhow::ensure!(other.length(other.get(ROOT, "files")?.context("files")?.1) == files.len());
    Ok((took, bytes))
}

fn main() -> Result<()> {
    println!("# mesh");
    println!("machine: {}", bench::machine());
    println!("method:  all peers in one process (one tokio runtime), WebRTC on 127.0.0.1, built-in signaling.\n");
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async {
        println!("| measurement | NitroIDE | baseline, same run | ratio |");
        println!("|---|---|---|---|");

        // A single connection: the unit every mesh is made of.
        let tmp = tempfile::tempdir()?;
        let (pair, one) = session(tmp.path(), 2, &[("small.txt", "")]).await?;
        shutdown(pair).await?;

        for n in [2usize, 4, 8] {
            let tmp = tempfile::tempdir()?;
            let (peers, _) = session(tmp.path(), n, &[("small.txt", "")]).await?;
            let lat = keystrokes(&peers).await?;
            let raw = baseline_keystrokes(n - 1)?;
            println!(
                "| keystroke to the last of {} other peers, p50 / p99 ({KEYSTROKES} keys, {GAP:?} apart) | {} / {} | {} / {} (raw Automerge commit + apply to {} copies) | {:.0}× at p50 |",
                n - 1,
                ms(pct(&lat, 0.5)),
                ms(pct(&lat, 0.99)),
                ms(pct(&raw, 0.5)),
                ms(pct(&raw, 0.99)),
                n - 1,
                pct(&lat, 0.5).as_secs_f64() / pct(&raw, 0.5).as_secs_f64()
            );
            shutdown(peers).await?;
        }

        for n in [8usize, 16] {
            let tmp = tempfile::tempdir()?;
            let (peers, formed) = session(tmp.path(), n, &[("small.txt", "")]).await?;
            println!(
                "| mesh of {n} peers ({} connections): all joins started at once until every peer has {} | {} | {} (one 2-peer connection) | {:.1}× |",
                n * (n - 1) / 2,
                n - 1,
                ms(formed),
                ms(one),
                formed.as_secs_f64() / one.as_secs_f64()
            );
            shutdown(peers).await?;
        }

        {
            let n = 8;
            let tmp = tempfile::tempdir()?;
            let text = "line\n".repeat(200);
            let (peers, _) = session(tmp.path(), n, &[("small.txt", &text)]).await?;
            let window = Duration::from_secs(10);
            let c0 = cpu_time();
            tokio::time::sleep(window).await;
            let idle = cpu_time() - c0;
            let mut sub = peers[0].subscribe();
            let counter = tokio::spawn(async move {
                let mut n = 0u64;
                while let Ok(ev) = sub.recv().await {
                    if matches!(ev, EngineEvent::Presence(_)) {
                        n += 1;
                    }
                }
                n
            });
            let path = RelPath::new("small.txt")?;
            let c1 = cpu_time();
            let deadline = Instant::now() + window;
            let mut tick = tokio::time::interval(Duration::from_micros(16_667));
            let mut k = 0usize;
            while Instant::now() < deadline {
                tick.tick().await;
                k += 1;
                for (i, p) in peers.iter().enumerate() {
                    let at = (i * 37 + k) % 1000;
                    let sel = Selection { anchor: at, head: at };
                    p.set_presence(LocalPresence { file: Some(path.clone()), selections: vec![sel], typing: true, viewport_top: None }, None).await?;
                }
            }
            let busy = cpu_time() - c1;
            shutdown(peers).await?;
            let updates = counter.await?;
            println!(
                "| CPU of {n} peers each moving its caret at 60 Hz for {window:?} ({:.0} presence updates/s received per peer) | {:.0}% of one core | {:.0}% (same mesh idle) | {:.1}× |",
                updates as f64 / window.as_secs_f64(),
                100.0 * busy.as_secs_f64() / window.as_secs_f64(),
                100.0 * idle.as_secs_f64() / window.as_secs_f64(),
                busy.as_secs_f64() / idle.as_secs_f64().max(0.001)
            );
        }

        {
            let files = generated_files(1000, 10 * 1024);
            let total: usize = files.iter().map(|(_, t)| t.len()).sum();
            let tmp = tempfile::tempdir()?;
            let proj = tmp.path().join("host");
            std::fs::create_dir_all(&proj)?;
            for (name, text) in &files {
                std::fs::write(proj.join(name), text)?;
            }
            let t = Instant::now();
            let host = Engine::host(loopback_config(&proj, "host")).await?;
            let scan = t.elapsed();
            let invite: Invite = host.invite().context("invite")?.clone();
            let t = Instant::now();
            let guest = Engine::join(loopback_config(&tmp.path().join("guest"), "guest"), invite).await?;
            let join = t.elapsed();
            let (_, received) = guest.traffic();
            let on_disk = std::fs::read_dir(tmp.path().join("guest"))?.count() - 1;
            guest.shutdown().await?;
            host.shutdown().await?;
            let (raw, raw_bytes) = baseline_join(&files)?;
            println!(
                "| join a workspace of {} files, {:.1} MB, until all are on the joiner's disk ({on_disk} written) | {} ({:.1} MB received) | {} ({:.1} MB; raw Automerge full sync of the same files, one process) | {:.1}× |",
                files.len(),
                total as f64 / 1e6,
                ms(join),
                received as f64 / 1e6,
                ms(raw),
                raw_bytes as f64 / 1e6,
                join.as_secs_f64() / raw.as_secs_f64()
            );
            println!("| host start: scan and share the same workspace | {} | | |", ms(scan));
        }
        anyhow::Ok(())
    })
}
