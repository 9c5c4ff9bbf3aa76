//! Benchmark of shared terminal output: throughput of `cat` of a 50 MB file
//! in the host's shell, to 1 and 3 peers, beside `cat` of the same file to
//! /dev/null in the same run, with each peer's peak memory.
//!
//! Method: the host runs `nitro host --term`; each guest runs
//! `nitro join --term` and writes what its terminal shows to a file. The
//! time runs from typing the command until every guest shows the marker
//! printed after it. Needs the release binary:
//! `cargo build --release -p nitro-cli && cargo bench -p nitro-tests --bench terminal`

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use nitro_tests::TermSession;
use nitro_tests::bench::machine;

const SIZE: usize = 50 * 1024 * 1024;

fn mb_per_s(bytes: usize, d: Duration) -> String {
    format!("{:.1} MB/s", bytes as f64 / 1e6 / d.as_secs_f64())
}

fn main() -> Result<()> {
    let bin = std::env::current_exe()?.parent().and_then(|d| d.parent()).map(|d| d.join("nitro")).unwrap_or_default();
    if !bin.exists() {
        bail!("{} is missing: run `cargo build --release -p nitro-cli` first", bin.display());
    }
    println!("machine: {}", machine());
    let tmp = tempfile::tempdir()?;
    // Printable lines, like a build log.
    let line = "0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ ...\n";
    let data: String = line.repeat(SIZE / line.len());
    let file = tmp.path().join("flood.txt");
    std::fs::write(&file, &data)?;

    let t = Instant::now();
    let status = std::process::Command::new("sh").arg("-c").arg(format!("cat {} > /dev/null", file.display())).status()?;
    let raw = t.elapsed();
    if !status.success() {
        bail!("cat failed");
    }
    println!("baseline: cat of {} MB to /dev/null: {:.1} ms ({})", data.len() / 1_000_000, raw.as_secs_f64() * 1e3, mb_per_s(data.len(), raw));

    for peers in [1, 3] {
        let dir = tmp.path().join(format!("s{peers}"));
        std::fs::create_dir_all(&dir)?;
        let mut session = TermSession::start(&bin, &dir, peers)?;
        let t = Instant::now();
        session.run(&format!("cat {}; echo bench-done-$((1+1))", file.display()))?;
        session.wait_all("bench-done-2", Duration::from_secs(900))?;
        let took = t.elapsed();
        let rss = session.peak_rss()?;
        println!(
            "terminal to {peers} peer(s): {:.2} s ({}, {:.0}x slower than the baseline); peak RSS host {} MiB, guests {:?} MiB",
            took.as_secs_f64(),
            mb_per_s(data.len(), took),
            took.as_secs_f64() / raw.as_secs_f64(),
            rss[0],
            &rss[1..]
        );
    }
    Ok(())
}
