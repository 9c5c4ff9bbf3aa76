//! Benchmark of language intelligence: from an edit that introduces a type
//! error to the diagnostic, at the peer whose language server sees it and at
//! a peer that server serves over WebRTC, beside the server's own time.
//!
//! Method: a host (in this process) runs typescript-language-server
//! (tests/node_modules) on a two-file TypeScript project and serves it; a
//! joiner without a server of its own uses it. Each round edits `main.ts`
//! to put a string into a number (then back), through the engine as an
//! editor does, and times until the engine reports the diagnostic (then
//! its absence): 20 rounds typed at the host, 20 typed at the joiner (the
//! edit travels to the host, the diagnostic back). Baseline, same run: the
//! same edits sent straight to the server (`nitro_engine::lsp::Languages`,
//! the engine's own client, without the engine), timed to its
//! `publishDiagnostics`. Needs `npm ci --prefix tests`; then
//! `cargo bench -p nitro-tests --bench lsp`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use nitro_engine::doc::Splice;
use nitro_engine::engine::{Engine, EngineEvent, EngineHandle};
use nitro_engine::lsp::{Languages, LspEvent, ServerConfig};
use nitro_engine::path::RelPath;
use nitro_tests::bench::{machine, ms, pct};
use nitro_tests::{loopback_config, write_files};
use tokio::sync::broadcast;

const ROUNDS: usize = 20;
const GOOD: &str = "const n: number = 1;";
const BAD: &str = "const n: number = 'one';";
const MAIN: &str = "import { greet } from './lib';\nconst n: number = 1;\nconsole.log(greet('ada'), n);\n";
const LIB: &str = "export function greet(name: string): string {\n  return 'hi ' + name;\n}\n";
const WAIT: Duration = Duration::from_secs(30);

fn server() -> Result<ServerConfig> {
    let program: PathBuf = [env!("CARGO_MANIFEST_DIR"), "node_modules", ".bin", "typescript-language-server"].iter().collect();
    ensure!(program.exists(), "run `npm ci --prefix tests` first");
    Ok(ServerConfig { language: "typescript".into(), extensions: vec!["ts".into()], command: vec![program.display().to_string(), "--stdio".into()] })
}

/// Replaces `from` by `to` in main.ts at `engine`, as an editor types.
async fn edit(engine: &EngineHandle, from: &str, to: &str) -> Result<()> {
    let path = RelPath::new("main.ts")?;
    let (text, version) = engine.text(path.clone()).await?;
    let at = text.find(from).context("text")?;
    let index = text[..at].encode_utf16().count();
    engine.edit_versioned(path, Some(version), vec![Splice { index, delete: from.encode_utf16().count(), insert: to.into() }]).await?;
    Ok(())
}

/// Waits for main.ts's diagnostics to be non-empty (`errors`) or empty.
async fn diagnosed(events: &mut broadcast::Receiver<EngineEvent>, errors: bool) -> Result<()> {
    tokio::time::timeout(WAIT, async {
        loop {
            if let Ok(EngineEvent::Diagnostics { path, diagnostics }) = events.recv().await
                && path.as_str() == "main.ts"
                && diagnostics.as_array().is_some_and(|d| d.is_empty() != errors)
            {
                return;
            }
        }
    })
    .await
    .context("no diagnostics")
}

/// Times `rounds` error-and-fix edits typed at `typist`, seen at `seer`.
async fn rounds(typist: &EngineHandle, seer: &EngineHandle) -> Result<Vec<Duration>> {
    let mut times = Vec::new();
    for _ in 0..ROUNDS {
        for (from, to, errors) in [(GOOD, BAD, true), (BAD, GOOD, false)] {
            let mut events = seer.subscribe();
            let start = Instant::now();
            edit(typist, from, to).await?;
            diagnosed(&mut events, errors).await?;
            if errors {
                times.push(start.elapsed());
            }
        }
    }
    times.sort();
    Ok(times)
}

/// The same edits straight to the server, without the engine.
async fn baseline(root: &std::path::Path) -> Result<Vec<Duration>> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let lsp = Languages::start(root, vec![server()?], tx, &nitro_engine::tasks::Tasks::new())?;
    let path = RelPath::new("main.ts")?;
    lsp.open(path.clone(), MAIN.into());
    let mut wait = async |errors: bool| -> Result<()> {
        tokio::time::timeout(WAIT, async {
            while let Some(ev) = rx.recv().await {
                if let LspEvent::Diagnostics { diagnostics, .. } = ev
                    && diagnostics.as_array().is_some_and(|d| d.is_empty() != errors)
                {
                    return;
                }
            }
        })
        .await
        .context("no diagnostics from the server")
    };
    wait(false).await?;
    let mut times = Vec::new();
    for _ in 0..ROUNDS {
        let start = Instant::now();
        lsp.change(path.clone(), MAIN.replace(GOOD, BAD));
        wait(true).await?;
        times.push(start.elapsed());
        lsp.change(path.clone(), MAIN.into());
        wait(false).await?;
    }
    times.sort();
    Ok(times)
}

#[tokio::main]
async fn main() -> Result<()> {
    println!("lsp benchmark on {}", machine());
    println!("method: an edit putting a string into a number in main.ts, until the engine reports the type error; {ROUNDS} rounds each");
    let tmp = tempfile::tempdir()?;
    write_files(&tmp.path().join("ada"), &[("main.ts", MAIN.as_bytes()), ("lib.ts", LIB.as_bytes())])?;
    write_files(&tmp.path().join("raw"), &[("main.ts", MAIN.as_bytes()), ("lib.ts", LIB.as_bytes())])?;
    let mut cfg = loopback_config(&tmp.path().join("ada"), "ada");
    cfg.language_servers = vec![server()?];
    cfg.serve_lsp = true;
    let ada = Engine::host(cfg).await?;
    let mut bob_cfg = loopback_config(&tmp.path().join("bob"), "bob");
    bob_cfg.language_servers = vec![ServerConfig { command: vec!["/nonexistent/server".into()], ..server()? }];
    let bob = Engine::join(bob_cfg, ada.invite().context("invite")?).await?;
    let main = RelPath::new("main.ts")?;
    let (mut at_ada, mut at_bob) = (ada.subscribe(), bob.subscribe());
    ensure!(ada.lsp_open(main.clone()).await?, "the host serves TypeScript");
    diagnosed(&mut at_ada, false).await?;
    // The joiner's file is opened on the host's server as soon as its offer is in.
    bob.lsp_open(main.clone()).await?;
    diagnosed(&mut at_bob, false).await?;

    let raw = baseline(&tmp.path().join("raw")).await?;
    let local = rounds(&ada, &ada).await?;
    let served = rounds(&bob, &bob).await?;
    let line = |what: &str, t: &[Duration]| {
        println!(
            "{what:<44} median {:>10}  p90 {:>10}  ({:.2}x the server alone)",
            ms(pct(t, 0.5)),
            ms(pct(t, 0.9)),
            pct(t, 0.5).as_secs_f64() / pct(&raw, 0.5).as_secs_f64()
        );
    };
    line("the server alone (baseline)", &raw);
    line("typed at the host, marked at the host", &local);
    line("typed at a served peer, marked there", &served);
    bob.shutdown().await?;
    ada.shutdown().await?;
    Ok(())
}
