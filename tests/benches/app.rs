//! Benchmark of the desktop app: cold start to an editable Monaco, and its
//! idle memory, beside a headless `nitro join` of the same session.
//!
//! Method: a headless host (in this process) shares 50 source files. The app
//! is started on a fresh Xvfb display by tauri-driver; "cold start" runs from
//! launching it until Monaco shows a file of the joined workspace and has
//! focus for typing (start screen, join, file opened). Idle memory is the
//! resident memory of the app and its WebKit processes after 5 s without
//! input. Baseline, same run: `nitro join` of the same session (time until it
//! reports the workspace in sync, resident memory after 5 s).
//! Needs release builds: `cargo build --release -p nitro-cli -p nitroide &&
//! cargo bench -p nitro-tests --bench app`

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use nitro_engine::engine::Engine;
use nitro_tests::bench::machine;
use nitro_tests::webdriver::App;
use nitro_tests::{loopback_config, nitro_bin, wait_for, write_files};

const UI: Duration = Duration::from_secs(60);

/// Launch to start screen, launch to editable Monaco, memory per process.
type Measured = (Duration, Duration, Vec<(String, u64)>);
const IDLE: Duration = Duration::from_secs(5);

/// Resident memory of a process and each of its descendants: (name, MiB).
fn tree_rss_mib(root: u32) -> Result<Vec<(String, u64)>> {
    let mut pids = vec![root];
    let mut i = 0;
    while i < pids.len() {
        for entry in std::fs::read_dir("/proc")?.flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
            let ppid = stat.rsplit(')').next().and_then(|r| r.split_whitespace().nth(1)).and_then(|p| p.parse::<u32>().ok());
            if ppid == Some(pids[i]) && !pids.contains(&pid) {
                pids.push(pid);
            }
        }
        i += 1;
    }
    Ok(pids
        .iter()
        .filter_map(|p| std::fs::read_to_string(format!("/proc/{p}/status")).ok())
        .filter_map(|s| {
            let name = s.lines().find_map(|l| l.strip_prefix("Name:"))?.trim().to_owned();
            let kib =
                s.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.split_whitespace().next()).and_then(|v| v.parse::<u64>().ok())?;
            Some((name, kib / 1024))
        })
        .collect())
}

fn total(procs: &[(String, u64)]) -> u64 {
    procs.iter().map(|p| p.1).sum()
}

/// The process running `exe`.
fn pid_of(exe: &Path) -> Result<u32> {
    for entry in std::fs::read_dir("/proc")?.flatten() {
        if std::fs::read_link(entry.path().join("exe")).is_ok_and(|p| p == exe)
            && let Ok(pid) = entry.file_name().to_string_lossy().parse()
        {
            return Ok(pid);
        }
    }
    bail!("{} is not running", exe.display())
}

#[tokio::main]
async fn main() -> Result<()> {
    let app_bin = nitro_bin().with_file_name("nitroide");
    if !app_bin.exists() {
        bail!("{} is missing: run `cargo build --release -p nitro-cli -p nitroide` first", app_bin.display());
    }
    println!("machine: {}", machine());
    let tmp = tempfile::tempdir()?;
    let host_dir = tmp.path().join("host");
    let files: Vec<(String, Vec<u8>)> =
        (0..50).map(|i| (format!("src/mod{i}.rs"), format!("pub fn f{i}() -> u32 {{\n    {i}\n}}\n").repeat(40).into_bytes())).collect();
    let refs: Vec<(&str, &[u8])> = files.iter().map(|(p, b)| (p.as_str(), b.as_slice())).collect();
    write_files(&host_dir, &refs)?;
    let host = Engine::host(loopback_config(&host_dir, "host")).await?;
    let link = host.invite().context("invite")?.to_link();

    // Baseline: the headless peer.
    let t = Instant::now();
    let log = tmp.path().join("join.log");
    let mut headless = Command::new(nitro_bin())
        .args(["join", &link, tmp.path().join("headless").to_str().context("path")?, "--bind", "127.0.0.1", "--name", "headless"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log)?)
        .spawn()?;
    wait_for(UI, || Ok(std::fs::read_to_string(&log)?.contains("is in sync")))?;
    let headless_start = t.elapsed();
    tokio::time::sleep(IDLE).await;
    let headless_rss = total(&tree_rss_mib(headless.id())?);
    let _ = headless.kill();
    let _ = headless.wait();

    let app_dir = tmp.path().join("app");
    let (start, editable, procs) = tokio::task::block_in_place(|| -> Result<Measured> {
        let t = Instant::now();
        let app = App::start(&app_bin, &tmp.path().join("driver.log"))?;
        app.wait_until("the start screen", "document.querySelector('.start')", UI)?;
        let start = t.elapsed();
        let args = serde_json::json!({"link": link, "path": app_dir, "name": "app"});
        app.eval_async(&format!("return await window.__TAURI_INTERNALS__.invoke('join_session', {args});"))?;
        app.eval("location.reload(); return true;")?;
        app.wait_until("the file tree", "[...document.querySelectorAll('.tree-name')].some(e => e.textContent === 'src')", UI)?;
        app.eval("[...document.querySelectorAll('.tree-name')].find(e => e.textContent === 'src').click(); return true;")?;
        app.wait_until("mod7.rs", "[...document.querySelectorAll('.tree-name')].some(e => e.textContent === 'mod7.rs')", UI)?;
        app.eval("[...document.querySelectorAll('.tree-name')].find(e => e.textContent === 'mod7.rs').click(); return true;")?;
        app.wait_until("an editable Monaco", "(document.querySelector('.monaco-editor .view-lines')?.innerText ?? '').includes('f7') && document.querySelector('.monaco-editor textarea') && !document.querySelector('.monaco-editor textarea').readOnly", UI)?;
        let editable = t.elapsed();
        std::thread::sleep(IDLE);
        Ok((start, editable, tree_rss_mib(pid_of(&app_bin)?)?))
    })?;
    println!("baseline: nitro join until in sync: {:.0} ms; idle RSS {headless_rss} MiB", headless_start.as_secs_f64() * 1e3);
    println!(
        "app: launch to start screen {:.0} ms; launch to editable Monaco (joined, file open) {:.0} ms ({:.1}x the headless join)",
        start.as_secs_f64() * 1e3,
        editable.as_secs_f64() * 1e3,
        editable.as_secs_f64() / headless_start.as_secs_f64()
    );
    let rss = total(&procs);
    let each: Vec<String> = procs.iter().map(|(n, m)| format!("{n} {m} MiB")).collect();
    println!(
        "app: idle RSS with its WebKit processes {rss} MiB ({:.1}x the headless peer): {}",
        rss as f64 / headless_rss.max(1) as f64,
        each.join(", ")
    );
    host.shutdown().await?;
    Ok(())
}
