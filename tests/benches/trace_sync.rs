//! Benchmark: replay a real editing trace at one peer and measure when the
//! other peer, connected over WebRTC on loopback, has converged; then the
//! keystroke-to-remote latency of single-character edits. Each figure is
//! printed beside raw Automerge doing the same work in this process, in the
//! same run, so ratios hold on a noisy machine.
//!
//! Run: `cargo bench -p nitro-tests --bench trace_sync`
//! Traces: `NITRO_TRACES` or `../shared/traces` beside the repository.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjType, ROOT, ReadDoc, TextEncoding};
use nitro_engine::doc::Splice;
use nitro_engine::engine::{Engine, EngineEvent, EngineHandle};
use nitro_engine::path::RelPath;
use nitro_tests::bench::{self, ms, pct};
use nitro_tests::loopback_config;
use tokio::sync::broadcast;

const KEYSTROKES: usize = 300;
const KEYSTROKE_GAP: Duration = Duration::from_millis(20);

struct Trace {
    edits: Vec<(usize, usize, String)>,
    end: String,
}

fn load_trace(path: &Path) -> Result<Trace> {
    let file = std::fs::File::open(path)?;
    let json: serde_json::Value = serde_json::from_reader(flate2::read::GzDecoder::new(file))?;
    let end = json["endContent"].as_str().context("endContent")?.to_owned();
    if !end.is_ascii() {
        bail!("this benchmark replays ASCII traces (positions in code points equal UTF-16 units)");
    }
    let mut edits = Vec::new();
    for txn in json["txns"].as_array().context("txns")? {
        for p in txn["patches"].as_array().context("patches")? {
            let pos = p[0].as_u64().context("pos")? as usize;
            let del = p[1].as_u64().context("del")? as usize;
            let ins = p[2].as_str().context("ins")?.to_owned();
            edits.push((pos, del, ins));
        }
    }
    Ok(Trace { edits, end })
}

/// Raw Automerge: the trace replayed into one text, a commit per edit.
fn baseline_replay(trace: &Trace) -> Result<(Duration, AutoCommit)> {
    let mut doc = AutoCommit::new_with_encoding(TextEncoding::Utf16CodeUnit);
    let text = doc.put_object(ROOT, "text", ObjType::Text)?;
    let t = Instant::now();
    for (pos, del, ins) in &trace.edits {
        doc.splice_text(&text, *pos, *del as isize, ins)?;
        doc.commit();
    }
    let elapsed = t.elapsed();
    anyhow::ensure!(doc.text(&text)? == trace.end, "baseline replay diverged");
    Ok((elapsed, doc))
}

/// Raw Automerge: one keystroke made at one document and applied at a
/// second in-process copy, `n` times.
fn baseline_keystrokes(doc: &mut AutoCommit, n: usize) -> Result<Vec<Duration>> {
    let mut other = doc.fork();
    let text = match doc.get(ROOT, "text")? {
        Some((_, id)) => id,
        None => bail!("no text"),
    };
    let mut out = Vec::new();
    for _ in 0..n {
        let t = Instant::now();
        let len = doc.length(&text);
        doc.splice_text(&text, len, 0, "x")?;
        doc.commit();
        let change = doc.get_last_local_change().context("change")?;
        other.apply_changes([change])?;
        out.push(t.elapsed());
    }
    out.sort();
    Ok(out)
}

async fn wait_text(guest: &EngineHandle, events: &mut broadcast::Receiver<EngineEvent>, path: &RelPath, want: &str) -> Result<()> {
    loop {
        match events.recv().await {
            Ok(EngineEvent::FilesChanged { paths, .. }) if paths.contains(path) && guest.text(path.clone()).await?.0 == want => {
                return Ok(());
            }
            Err(broadcast::error::RecvError::Closed) => bail!("guest stopped"),
            _ => {}
        }
    }
}

/// Single-character edits at the host, one at a time, each timed until the
/// guest reports it.
async fn keystrokes(
    host: &EngineHandle,
    guest: &EngineHandle,
    events: &mut broadcast::Receiver<EngineEvent>,
    path: &RelPath,
) -> Result<Vec<Duration>> {
    let mut text = guest.text(path.clone()).await?.0;
    let mut out = Vec::new();
    for _ in 0..KEYSTROKES {
        let index = text.encode_utf16().count();
        text.push('x');
        let t = Instant::now();
        host.edit(path.clone(), None, vec![Splice { index, delete: 0, insert: "x".into() }]).await?;
        tokio::time::timeout(Duration::from_secs(30), wait_text(guest, events, path, &text)).await??;
        out.push(t.elapsed());
        tokio::time::sleep(KEYSTROKE_GAP).await;
    }
    out.sort();
    Ok(out)
}

fn main() -> Result<()> {
    let traces = std::env::var_os("NITRO_TRACES")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/traces"));
    let path = traces.join("sequential/automerge-paper.json.gz");
    if !path.exists() {
        eprintln!("\n!!! TRACE NOT FOUND: {}\n!!! Set NITRO_TRACES to the folder holding sequential/automerge-paper.json.gz.\n", path.display());
        std::process::exit(2);
    }
    let trace = load_trace(&path)?;
    println!("# trace_sync");
    println!("machine: {}", bench::machine());
    println!("trace:   {} ({} edits, {} chars at the end)", path.display(), trace.edits.len(), trace.end.len());
    println!("method:  peers in one process, WebRTC on 127.0.0.1; edits through EngineHandle::edit at the host as fast as accepted;");
    println!(
        "         converged = the guest's text equals endContent; keystrokes: {KEYSTROKES} one-char edits {KEYSTROKE_GAP:?} apart, each timed to the guest's FilesChanged event.\n"
    );

    let (replay, mut doc) = baseline_replay(&trace)?;
    let (sync, sync_bytes, _) = bench::full_sync(&mut doc)?;
    let raw_keys = baseline_keystrokes(&mut doc, KEYSTROKES)?;
    let read_text = {
        let text = doc.get(ROOT, "text")?.context("text")?.1;
        let t = Instant::now();
        for _ in 0..20 {
            std::hint::black_box(doc.text(&text)?);
        }
        t.elapsed() / 20
    };

    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let (converge, small_keys, large_keys, small_after) = rt.block_on(async {
        let tmp = tempfile::tempdir()?;
        let proj = tmp.path().join("project");
        std::fs::create_dir(&proj)?;
        std::fs::write(proj.join("paper.tex"), "")?;
        std::fs::write(proj.join("small.txt"), "")?;
        let host = Engine::host(loopback_config(&proj, "host")).await?;
        let invite = host.invite().context("invite")?.clone();
        let guest = Engine::join(loopback_config(&tmp.path().join("pair"), "guest"), invite).await?;
        let mut events = guest.subscribe();

        let small = RelPath::new("small.txt")?;
        let small_keys = keystrokes(&host, &guest, &mut events, &small).await?;

        let paper = RelPath::new("paper.tex")?;
        let t = Instant::now();
        for (pos, del, ins) in &trace.edits {
            host.edit(paper.clone(), None, vec![Splice { index: *pos, delete: *del, insert: ins.clone() }]).await?;
        }
        let queued = t.elapsed();
        tokio::time::timeout(Duration::from_secs(600), wait_text(&guest, &mut events, &paper, &trace.end)).await??;
        let converge = t.elapsed();
        eprintln!("(edits queued at the host in {})", ms(queued));
        let large_keys = keystrokes(&host, &guest, &mut events, &paper).await?;
        // The other file has its own document: the paper's history is not its cost.
        let small_after = keystrokes(&host, &guest, &mut events, &small).await?;
        guest.shutdown().await?;
        host.shutdown().await?;
        anyhow::Ok((converge, small_keys, large_keys, small_after))
    })?;

    println!("| measurement | NitroIDE (2 peers, WebRTC) | raw Automerge, same run | ratio |");
    println!("|---|---|---|---|");
    println!(
        "| replay {} edits until the other peer has endContent | {} | {} (replay only, one process) | {:.1}× |",
        trace.edits.len(),
        ms(converge),
        ms(replay),
        converge.as_secs_f64() / replay.as_secs_f64()
    );
    println!("| raw Automerge full sync of the result to an empty doc | | {} ({} bytes) | |", ms(sync), sync_bytes);
    println!("| keystroke to remote, small file, p50 / p99 | {} / {} | | |", ms(pct(&small_keys, 0.5)), ms(pct(&small_keys, 0.99)));
    println!(
        "| keystroke to remote, after the trace ({}k ops of history), p50 / p99 | {} / {} | {} / {} (commit + apply_changes in one process) | {:.1}× at p50 |",
        trace.edits.len() / 1000,
        ms(pct(&large_keys, 0.5)),
        ms(pct(&large_keys, 0.99)),
        ms(pct(&raw_keys, 0.5)),
        ms(pct(&raw_keys, 0.99)),
        pct(&large_keys, 0.5).as_secs_f64() / pct(&raw_keys, 0.5).as_secs_f64()
    );
    println!(
        "| keystroke to remote, small file, after the trace went into another file, p50 / p99 | {} / {} | {} / {} (the same before the trace) | {:.1}× at p50 |",
        ms(pct(&small_after, 0.5)),
        ms(pct(&small_after, 0.99)),
        ms(pct(&small_keys, 0.5)),
        ms(pct(&small_keys, 0.99)),
        pct(&small_after, 0.5).as_secs_f64() / pct(&small_keys, 0.5).as_secs_f64()
    );
    println!("| raw Automerge: read the whole text once (the engine does so per write of a file) | | {} | |", ms(read_text));
    Ok(())
}
