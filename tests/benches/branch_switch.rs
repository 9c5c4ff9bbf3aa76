//! Benchmark of a developer's own tools on a host's disk: a real `git
//! checkout` of a generated repository (800 source files, 500 of them
//! changed on the other branch, 20 deleted and 20 added) in a session of
//! real `nitro` processes, a host and two guests. It times the switch from
//! the start of `git checkout` until both guests' disks equal the host's
//! tree, counts the links any peer dropped, and, while the switch is taken
//! in, times lines appended to a file on a guest's disk until the host's
//! disk holds them. Baselines, same run: `git checkout` itself (switching
//! back and forth in a copy) and copying the changed files.
//!
//! Run: `cargo build --release -p nitro-cli && cargo bench -p nitro-tests --bench branch_switch`

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use nitro_tests::bench::{machine, ms, pct};
use nitro_tests::{Peer, sh, snapshot};

const FILES: usize = 800;
const CHANGED: usize = 500;
const DELETED: usize = 20;
const ADDED: usize = 20;
const LIMIT: Duration = Duration::from_secs(300);

/// A source file of about 4 KB; on the other branch one line in three
/// differs, as after a refactoring.
fn source(i: usize, next: bool) -> String {
    let mut text = format!("//! module {i}\n\nuse std::collections::HashMap;\n\n");
    for line in 0..100 {
        let value = if next && line % 3 == 1 { line * 31 + 7 } else { line };
        text.push_str(&format!("pub fn item_{i}_{line}(x: u32) -> u32 {{ x + {value} }}\n"));
    }
    text
}

fn path_of(i: usize) -> String {
    format!("src/mod{:02}/file{i:04}.rs", i / 40)
}

fn write(root: &Path, rel: &str, text: &str) -> Result<()> {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().context("parent")?)?;
    Ok(std::fs::write(p, text)?)
}

/// A repository on branch `main` with branch `next` beside it.
fn repository(root: &Path) -> Result<()> {
    for i in 0..FILES {
        write(root, &path_of(i), &source(i, false))?;
    }
    write(root, "notes.md", "# notes\n")?;
    write(root, ".gitignore", ".nitro/\n")?;
    let commit = "git add -A && git -c user.name=b -c user.email=b@b commit -qm";
    sh(root, &format!("git init -q -b main && {commit} main && git checkout -q -b next"))?;
    for i in 0..CHANGED {
        write(root, &path_of(i), &source(i, true))?;
    }
    for i in FILES - DELETED..FILES {
        std::fs::remove_file(root.join(path_of(i)))?;
    }
    for i in 0..ADDED {
        write(root, &format!("src/added/new{i:02}.rs"), &source(FILES + i, false))?;
    }
    sh(root, &format!("{commit} next && git checkout -q main"))
}

/// The shared files of a folder (`.git` and `.nitro` left out).
fn shared(root: &Path) -> BTreeMap<String, Vec<u8>> {
    snapshot(root).into_iter().filter(|(p, _)| !(p == ".git/" || p.starts_with(".git/"))).collect()
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) -> Result<Duration> {
    let t = Instant::now();
    while !cond() {
        if t.elapsed() > LIMIT {
            bail!("{what} did not happen within {LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(t.elapsed())
}

/// Links dropped, as the peers' logs say (`NAME left`, or `NAME left (why)`).
fn dropped(peers: &[&Peer]) -> usize {
    peers.iter().map(|p| p.log().lines().filter(|l| l.ends_with(" left") || l.contains(" left (")).count()).sum()
}

/// A guest's disk watched for a tree: each look reads again only the
/// files that differed at the last one (reading all of them every few
/// milliseconds would take a core from the peers being measured), and the
/// whole folder once they all match.
struct Disk {
    root: std::path::PathBuf,
    differing: Vec<String>,
}

impl Disk {
    fn new(root: &Path, want: &BTreeMap<String, Vec<u8>>) -> Self {
        Self { root: root.to_owned(), differing: want.keys().cloned().collect() }
    }

    fn equals(&mut self, want: &BTreeMap<String, Vec<u8>>) -> bool {
        self.differing.retain(|rel| match rel.strip_suffix('/') {
            Some(dir) => !self.root.join(dir).is_dir(),
            None => std::fs::read(self.root.join(rel)).ok().as_ref() != want.get(rel),
        });
        if !self.differing.is_empty() {
            return false;
        }
        let now = without_notes(shared(&self.root));
        if now == *want {
            return true;
        }
        self.differing = want.keys().chain(now.keys()).filter(|k| want.get(*k) != now.get(*k)).cloned().collect();
        false
    }
}

/// A tree without the file the guest types into.
fn without_notes(mut tree: BTreeMap<String, Vec<u8>>) -> BTreeMap<String, Vec<u8>> {
    tree.remove("notes.md");
    tree
}

fn main() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let host_dir = tmp.path().join("host");
    repository(&host_dir)?;

    // Baselines: git itself, switching a copy of the repository back and forth.
    let copy = tmp.path().join("copy");
    sh(
        tmp.path(),
        &format!("git clone -q {} {} && cd {} && git checkout -q next && git checkout -q main", host_dir.display(), copy.display(), copy.display()),
    )?;
    let t = Instant::now();
    sh(&copy, "git checkout -q next")?;
    let git_checkout = t.elapsed();
    let scratch = tmp.path().join("scratch");
    let t = Instant::now();
    for i in 0..CHANGED {
        let rel = path_of(i);
        write(&scratch, &rel, &std::fs::read_to_string(copy.join(&rel))?)?;
    }
    let copy_changed = t.elapsed();

    let host = Peer::host(&host_dir, &[])?;
    let link = host.link.clone().context("link")?;
    let guests = [Peer::join(&link, &tmp.path().join("g1"), "g1", &[])?, Peer::join(&link, &tmp.path().join("g2"), "g2", &[])?];
    let peers = [&host, &guests[0], &guests[1]];
    let before = dropped(&peers);

    // The switch, watched from both guests' disks, and a guest appending
    // lines to another file meanwhile.
    let want = without_notes(shared(&copy));
    let t = Instant::now();
    let switch = std::thread::spawn({
        let dir = host_dir.clone();
        move || sh(&dir, "git checkout -q next")
    });
    let watch = std::thread::spawn({
        let mut disks: Vec<Disk> = guests.iter().map(|g| Disk::new(&g.dir, &want)).collect();
        move || wait_until("both guests' disks holding the switched branch", || disks.iter_mut().all(|d| d.equals(&want))).map(|_| t.elapsed())
    });
    let mut line_latency = Vec::new();
    let mut notes = String::from("# notes\n");
    for n in 0..40 {
        notes.push_str(&format!("line {n}\n"));
        std::fs::write(guests[0].dir.join("notes.md"), &notes)?;
        let marker = format!("line {n}\n");
        line_latency.push(wait_until("a guest's line on the host's disk", || {
            std::fs::read_to_string(host_dir.join("notes.md")).is_ok_and(|t| t.contains(&marker))
        })?);
        std::thread::sleep(Duration::from_millis(25));
    }
    switch.join().map_err(|_| anyhow::anyhow!("git checkout panicked"))??;
    let switch_total = watch.join().map_err(|_| anyhow::anyhow!("the watch panicked"))??;
    let links_dropped = dropped(&peers) - before;
    line_latency.sort();

    println!(
        "branch switch: {FILES} files, {CHANGED} changed, {DELETED} deleted, {ADDED} added (about 4 KB each); a host and 2 guests, real nitro processes on 127.0.0.1"
    );
    println!("machine: {}", machine());
    println!("| measure | result |");
    println!("|---|---|");
    println!("| `git checkout` until both guests' disks equal the host's | {} |", ms(switch_total));
    println!("| links dropped meanwhile | {links_dropped} |");
    println!(
        "| a line appended on a guest's disk until the host's disk holds it, during the switch (40) | p50 {} / p99 {} |",
        ms(pct(&line_latency, 0.5)),
        ms(pct(&line_latency, 0.99))
    );
    println!("| baseline: `git checkout` alone, same run | {} |", ms(git_checkout));
    println!("| baseline: copying the {CHANGED} changed files, same run | {} |", ms(copy_changed));
    if std::env::var_os("NITRO_BENCH_KEEP").is_some() {
        drop(guests);
        drop(host);
        println!("the peers' folders and logs (RUST_LOG) are kept in {}", tmp.keep().display());
    }
    if links_dropped > 0 {
        bail!("peers dropped {links_dropped} links during the switch");
    }
    Ok(())
}
