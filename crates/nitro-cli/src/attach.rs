//! `--term`: the local terminal becomes a window on a shared terminal.
//!
//! Output goes to standard output as it arrives; what is typed goes to the
//! terminal's owner (who refuses it without a grant). On a real terminal the
//! local one is put in raw mode, follows its window size, and Ctrl+] leaves;
//! from a pipe, standard input is typed as it comes.

use std::io::{IsTerminal, Read, Write};
use std::time::Duration;

use anyhow::{Context, Result};
use nitro_engine::engine::{EngineEvent, EngineHandle};
use nitro_engine::protocol::TermId;
use nitro_engine::term::TermInfo;

/// Ctrl+] leaves the terminal (as in telnet).
const DETACH: u8 = 0x1d;
const READ_MAX: usize = 64 * 1024;

/// Which terminal to attach to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `new` for a host, `first` for a joiner.
    Auto,
    /// A new shell on this machine.
    New,
    /// The first terminal in the session (waits for one).
    First,
    Id(TermId),
}

impl std::str::FromStr for Target {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "new" => Ok(Self::New),
            "first" => Ok(Self::First),
            "auto" => Ok(Self::Auto),
            id => TermId::parse(id).map(Self::Id).ok_or_else(|| format!("{id:?} is not `new`, `first` or a 16-digit terminal id")),
        }
    }
}

/// Restores the local terminal when attaching ends, however it ends.
struct RawMode;

impl RawMode {
    fn enable() -> Result<Option<Self>> {
        if !std::io::stdin().is_terminal() {
            return Ok(None);
        }
        crossterm::terminal::enable_raw_mode().context("putting the terminal in raw mode")?;
        Ok(Some(Self))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = crossterm::terminal::disable_raw_mode();
    }
}

/// Attaches until the terminal ends, is closed, or the user leaves.
/// Returns the shell's exit code when it exited.
pub async fn attach(engine: &EngineHandle, target: Target) -> Result<Option<u32>> {
    let mut events = engine.subscribe();
    let target = match target {
        Target::Auto if engine.invite().is_some() => Target::New,
        Target::Auto => Target::First,
        other => other,
    };
    let term = match target {
        Target::New | Target::Auto => {
            let (cols, rows) = crossterm::terminal::size().unwrap_or((80, 24));
            engine.open_terminal(cols, rows).await.context("cannot open a terminal")?
        }
        Target::Id(id) => id,
        Target::First => loop {
            if let Some(t) = engine.terminals().await?.into_iter().find(|t| t.exit.is_none()) {
                break t.id;
            }
            eprintln!("Waiting for a peer to open a terminal ...");
            wait_for_terminals(&mut events).await?;
        },
    };
    let mut view = loop {
        if let Some(view) = engine.terminal_view(term).await? {
            break view;
        }
        // Another peer's terminal: its output is on the way.
        tokio::time::timeout(Duration::from_secs(10), wait_for_terminals(&mut events))
            .await
            .with_context(|| format!("no output of terminal {term} arrived"))??;
    };
    let info = find(engine, term).await?;
    eprintln!("Attached to terminal {term} ({}). Ctrl+] leaves.", info.title);
    let raw = RawMode::enable()?;
    let mut stdin = stdin_chunks();
    let mut stdin_open = true;
    let mut winch = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change()).context("watching the window size")?;
    let mut offset = 0;
    let mut stdout = std::io::stdout();
    let mut ended = info.exit;
    let exit = loop {
        let chunk = view.read(offset, READ_MAX);
        // Everything it printed is out: now say it ended.
        if chunk.bytes.is_empty() && ended.is_some() {
            break ended;
        }
        tokio::select! {
            // Keystrokes and signals first, even during a flood of output.
            biased;
            bytes = stdin.recv(), if stdin_open => match bytes {
                None => stdin_open = false,
                Some(bytes) => {
                    if raw.is_some() && bytes.contains(&DETACH) {
                        break None;
                    }
                    if let Err(e) = engine.terminal_input(term, bytes).await {
                        eprint!("\r\n[{e}]\r\n");
                    }
                }
            },
            _ = winch.recv() => {
                if let Ok((cols, rows)) = crossterm::terminal::size() {
                    let _ = engine.resize_terminal(term, cols, rows).await;
                }
            }
            ev = events.recv() => match ev {
                Ok(EngineEvent::TerminalRefused { term: t, reason }) if t == term => eprint!("\r\n[{reason}]\r\n"),
                // A missed event may have been the one that ended it.
                Ok(EngineEvent::Terminals) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    match engine.terminals().await?.into_iter().find(|t| t.id == term) {
                        Some(t) => ended = t.exit,
                        None => break None,
                    }
                }
                _ => {}
            },
            () = std::future::ready(()), if !chunk.bytes.is_empty() => {
                offset = chunk.offset + chunk.bytes.len() as u64;
                stdout.write_all(&chunk.bytes).and_then(|()| stdout.flush()).context("writing to standard output")?;
            }
            alive = view.changed(), if chunk.bytes.is_empty() => if !alive { break None },
        }
    };
    drop(raw);
    match exit {
        Some(code) => eprintln!("\n[terminal {term} exited with code {code}]"),
        None => eprintln!("\n[left terminal {term}]"),
    }
    Ok(exit)
}

/// Standard input, read on a thread of its own: tokio's runtime waits for
/// its blocking reads when it shuts down, so a read waiting for a key would
/// keep `nitro` from exiting on SIGTERM. This thread is not waited for.
fn stdin_chunks() -> tokio::sync::mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut buf = vec![0u8; 4096];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx.blocking_send(buf[..n].to_vec()).is_err() {
                        break;
                    }
                }
            }
        }
    });
    rx
}

async fn find(engine: &EngineHandle, term: TermId) -> Result<TermInfo> {
    engine.terminals().await?.into_iter().find(|t| t.id == term).with_context(|| format!("there is no terminal {term} in this session"))
}

async fn wait_for_terminals(events: &mut tokio::sync::broadcast::Receiver<EngineEvent>) -> Result<()> {
    loop {
        match events.recv().await {
            Ok(EngineEvent::Terminals) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => return Ok(()),
            Ok(_) => {}
            Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                anyhow::bail!("the engine stopped")
            }
        }
    }
}
