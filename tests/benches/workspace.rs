//! Benchmark of sharing real-sized workspaces with real `nitro` processes:
//! host start (until the invite link is printed) and join (until every file
//! is on the joiner's disk) for 1,000 files / 10 MB and 20,000 files /
//! 200 MB, with each process's peak memory; beside, in the same run,
//! hashing the folder and copying it through a plain TCP socket on loopback
//! (the transfer floor). Then the time from a write on one peer's disk to
//! the same bytes on the disks of all 3 others, for a new file and an edit.
//!
//! Run: `cargo build --release -p nitro-cli && cargo bench -p nitro-tests --bench workspace`
//! (`-- small` or `-- large` for one workspace size only).

use std::io::{BufReader, BufWriter, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use nitro_tests::bench::{machine, ms, pct};
use nitro_tests::{Peer, peak_rss_mib, snapshot};
use rand::{Rng, SeedableRng};

/// A workspace like a source repository: nested folders, text files of
/// mixed sizes around `mean` bytes, one file in 50 binary.
fn generate(root: &Path, files: usize, mean: usize) -> Result<Vec<PathBuf>> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(9);
    let words = ["fn", "let", "mut", "struct", "impl", "match", "return", "self", "async", "await", "pub", "use", "{", "}", "=>"];
    let mut out = Vec::with_capacity(files);
    for i in 0..files {
        // About 20 files a folder, 10 folders a module.
        let dir = root.join(format!("mod{:03}/sub{:02}", i / 200, i / 20 % 10));
        std::fs::create_dir_all(&dir)?;
        let size = rng.random_range(mean / 4..mean * 7 / 4);
        let path = if i % 50 == 49 {
            let bytes: Vec<u8> = (0..size).map(|_| rng.random()).collect();
            let p = dir.join(format!("blob{i:05}.bin"));
            std::fs::write(&p, bytes)?;
            p
        } else {
            let mut text = String::with_capacity(size + 16);
            while text.len() < size {
                text.push_str(words[rng.random_range(0..words.len())]);
                text.push(if rng.random_bool(0.12) { '\n' } else { ' ' });
            }
            let p = dir.join(format!("file{i:05}.rs"));
            std::fs::write(&p, text)?;
            p
        };
        out.push(path);
    }
    Ok(out)
}

/// Reads and hashes every file: the least any peer does with a folder.
fn hash_all(files: &[PathBuf]) -> Result<Duration> {
    use sha2::Digest;
    let t = Instant::now();
    let mut all = sha2::Sha256::new();
    for f in files {
        all.update(sha2::Sha256::digest(std::fs::read(f)?));
    }
    std::hint::black_box(all.finalize());
    Ok(t.elapsed())
}

/// Sends every file through one TCP connection on loopback and writes it
/// under `to`: the floor for moving the folder from one process to another.
fn tcp_copy(root: &Path, files: &[PathBuf], to: &Path) -> Result<Duration> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let (root, to) = (root.to_owned(), to.to_owned());
    let rels: Vec<String> = files.iter().map(|f| f.strip_prefix(&root).map(|r| r.to_string_lossy().into_owned())).collect::<Result<_, _>>()?;
    let t = Instant::now();
    let receiver = std::thread::spawn(move || -> Result<()> {
        let (conn, _) = listener.accept()?;
        let mut conn = BufReader::new(conn);
        loop {
            let mut len = [0u8; 4];
            if conn.read_exact(&mut len).is_err() {
                return Ok(());
            }
            let mut name = vec![0; u32::from_be_bytes(len) as usize];
            conn.read_exact(&mut name)?;
            conn.read_exact(&mut len)?;
            let mut body = vec![0; u32::from_be_bytes(len) as usize];
            conn.read_exact(&mut body)?;
            let p = to.join(String::from_utf8(name)?);
            std::fs::create_dir_all(p.parent().context("parent")?)?;
            std::fs::write(p, body)?;
        }
    });
    let mut conn = BufWriter::new(TcpStream::connect(addr)?);
    for rel in &rels {
        let body = std::fs::read(root.join(rel))?;
        conn.write_all(&(rel.len() as u32).to_be_bytes())?;
        conn.write_all(rel.as_bytes())?;
        conn.write_all(&(body.len() as u32).to_be_bytes())?;
        conn.write_all(&body)?;
    }
    drop(conn);
    receiver.join().map_err(|_| anyhow::anyhow!("receiver panicked"))??;
    Ok(t.elapsed())
}

fn share(label: &str, files: usize, mean: usize) -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let src = tmp.path().join("host");
    let list = generate(&src, files, mean)?;
    let bytes: u64 = list.iter().map(|f| std::fs::metadata(f).map(|m| m.len()).unwrap_or(0)).sum();
    let mb = bytes as f64 / 1e6;
    let hashed = hash_all(&list)?;
    let copied = tcp_copy(&src, &list, &tmp.path().join("copy"))?;

    let t = Instant::now();
    let host = Peer::host(&src, &[])?;
    let to_link = t.elapsed();
    let link = host.link.clone().context("invite")?;
    let t = Instant::now();
    let guest = Peer::join(&link, &tmp.path().join("guest"), "guest", &[])?;
    let to_disk = t.elapsed();
    let texts = |d: &Path| snapshot(d).keys().filter(|k| k.ends_with(".rs")).count();
    let (have, want) = (texts(&guest.dir), texts(&src));
    if have != want {
        bail!("the joiner has {have} of {want} text files");
    }
    let (host_rss, guest_rss) = (peak_rss_mib(host.pid())?, peak_rss_mib(guest.pid())?);
    println!(
        "| {label}: {files} files, {mb:.0} MB | host: invite link after {} | joiner: every file on disk after {} | hash the folder {}; TCP copy on loopback {} | join {:.0}× the TCP copy | peak RSS host {host_rss} MiB, joiner {guest_rss} MiB ({:.1} / {:.1} MiB per MB shared) |",
        ms(to_link),
        ms(to_disk),
        ms(hashed),
        ms(copied),
        to_disk.as_secs_f64() / copied.as_secs_f64(),
        host_rss as f64 / mb,
        guest_rss as f64 / mb,
    );
    Ok(())
}

/// A write on the host's disk until the same bytes are on the disks of all
/// 3 others; the baseline is the same write read back from the same disk.
fn write_latency() -> Result<()> {
    const ROUNDS: usize = 30;
    let tmp = tempfile::tempdir()?;
    let src = tmp.path().join("host");
    std::fs::create_dir_all(&src)?;
    std::fs::write(src.join("README.md"), "shared\n")?;
    let host = Peer::host(&src, &[])?;
    let link = host.link.clone().context("invite")?;
    let guests: Vec<Peer> = ["a", "b", "c"].iter().map(|n| Peer::join(&link, &tmp.path().join(n), n, &[])).collect::<Result<_>>()?;
    let arrived = |rel: &str, want: &[u8]| guests.iter().all(|g| std::fs::read(g.dir.join(rel)).is_ok_and(|b| b == want));
    let time = |rel: &str, body: &[u8], floor: bool| -> Result<Duration> {
        let t = Instant::now();
        std::fs::write(src.join(rel), body)?;
        let deadline = t + Duration::from_secs(20);
        loop {
            if floor && std::fs::read(src.join(rel))? == body || !floor && arrived(rel, body) {
                return Ok(t.elapsed());
            }
            if Instant::now() > deadline {
                bail!("{rel} did not arrive");
            }
            std::thread::sleep(Duration::from_micros(500));
        }
    };
    let (mut new, mut edit, mut floor) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..ROUNDS {
        let rel = format!("new{i}.txt");
        new.push(time(&rel, format!("file {i}\n").as_bytes(), false)?);
        edit.push(time(&rel, format!("file {i}\nedited\n").as_bytes(), false)?);
        floor.push(time(&format!("floor{i}.txt"), b"x\n", true)?);
    }
    for v in [&mut new, &mut edit, &mut floor] {
        v.sort();
    }
    println!(
        "| a write on one disk until all 3 other disks hold it ({ROUNDS} each), p50 / p99 | new file {} / {}; edit {} / {} | the write read back from the same disk {} / {} | a new file waits for the watcher's {}-ms quiet period, a closed write to an existing file does not |",
        ms(pct(&new, 0.5)),
        ms(pct(&new, 0.99)),
        ms(pct(&edit, 0.5)),
        ms(pct(&edit, 0.99)),
        ms(pct(&floor, 0.5)),
        ms(pct(&floor, 0.99)),
        nitro_engine::fs::watcher::DEBOUNCE.as_millis(),
    );
    Ok(())
}

fn main() -> Result<()> {
    let bin = nitro_tests::nitro_bin();
    println!("# workspace");
    println!("machine: {}", machine());
    println!("method:  real `nitro` processes ({}) on 127.0.0.1; baselines in the same run on the same folder.\n", bin.display());
    let which: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let wants = |s: &str| which.is_empty() || which.iter().any(|w| w == s);
    if wants("small") {
        share("small", 1_000, 10 * 1024)?;
    }
    if wants("large") {
        share("large", 20_000, 10 * 1024)?;
    }
    if wants("small") {
        write_latency()?;
    }
    Ok(())
}
