//! Shared terminals on a real PTY running the user's shell, watched over real
//! WebRTC links: who may type, what late joiners see, floods and exits.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use nitro_engine::engine::{Engine, EngineEvent, EngineHandle};
use nitro_engine::protocol::TermId;
use nitro_engine::term::{TermInfo, TermView};
use nitro_tests::{CONVERGE, TermSession, loopback_config, next_event, nitro_bin, write_files};

/// Everything a view has shown so far, until it contains `needle`.
async fn wait_for_output(view: &mut TermView, needle: &str) -> Result<String> {
    let mut seen = Vec::new();
    let mut offset = 0;
    tokio::time::timeout(CONVERGE, async {
        loop {
            let chunk = view.read(offset, 1 << 20);
            if chunk.bytes.is_empty() {
                if String::from_utf8_lossy(&seen).contains(needle) {
                    return Ok(String::from_utf8_lossy(&seen).into_owned());
                }
                if !view.changed().await {
                    bail!("the terminal closed before showing {needle:?}");
                }
                continue;
            }
            offset = chunk.offset + chunk.bytes.len() as u64;
            seen.extend(chunk.bytes);
        }
    })
    .await
    .with_context(|| format!("{needle:?} did not appear; the terminal showed:\n{}", String::from_utf8_lossy(&seen)))?
}

/// A peer's view of a terminal, once its output has reached that peer.
async fn view_of(engine: &EngineHandle, term: TermId) -> Result<TermView> {
    let mut events = engine.subscribe();
    tokio::time::timeout(CONVERGE, async {
        loop {
            if let Some(v) = engine.terminal_view(term).await? {
                return Ok(v);
            }
            let _ = tokio::time::timeout(Duration::from_millis(200), events.recv()).await;
        }
    })
    .await
    .context("the terminal never reached this peer")?
}

/// Waits until this peer's list of terminals satisfies `pred`.
async fn terminals_where(engine: &EngineHandle, what: &str, pred: impl Fn(&[TermInfo]) -> bool) -> Result<Vec<TermInfo>> {
    let mut events = engine.subscribe();
    tokio::time::timeout(CONVERGE, async {
        loop {
            let list = engine.terminals().await?;
            if pred(&list) {
                return Ok(list);
            }
            let _ = tokio::time::timeout(Duration::from_millis(200), events.recv()).await;
        }
    })
    .await
    .with_context(|| format!("never saw {what}"))?
}

async fn exit_code(engine: &EngineHandle, term: TermId) -> Result<u32> {
    let list = terminals_where(engine, "the exit status", |l| l.iter().any(|t| t.id == term && t.exit.is_some())).await?;
    list.into_iter().find_map(|t| t.exit).context("exit")
}

/// A host and two guests in this process, connected over loopback.
async fn three_peers(root: &Path) -> Result<(EngineHandle, EngineHandle, EngineHandle)> {
    write_files(&root.join("ada"), &[("README.md", b"shared\n")])?;
    let ada = Engine::host(loopback_config(&root.join("ada"), "ada")).await?;
    let invite = ada.invite().context("invite")?.clone();
    let bob = Engine::join(loopback_config(&root.join("bob"), "bob"), invite.clone()).await?;
    let cyd = Engine::join(loopback_config(&root.join("cyd"), "cyd"), invite).await?;
    Ok((ada, bob, cyd))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_granted_peer_runs_a_command_and_every_peer_sees_its_output() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let (ada, bob, cyd) = three_peers(tmp.path()).await?;
    let term = ada.open_terminal(100, 30).await?;
    ada.grant_terminal(term, bob.me().clone(), true).await?;
    // The grant is in the document every peer holds, so editors can show it.
    for peer in [&bob, &cyd] {
        terminals_where(peer, "bob's grant", |l| l.iter().any(|t| t.id == term && t.writers == [bob.me().clone()])).await?;
    }

    // The shell computes the number: seeing it proves the command ran.
    bob.terminal_input(term, b"echo granted-$((6*7))\n".to_vec()).await?;
    for (who, engine) in [("ada", &ada), ("bob", &bob), ("cyd", &cyd)] {
        let mut view = view_of(engine, term).await?;
        wait_for_output(&mut view, "granted-42").await.with_context(|| format!("{who} did not see the output"))?;
    }
    for e in [cyd, bob, ada] {
        e.shutdown().await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn input_from_a_peer_without_a_grant_never_reaches_the_shell() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let (ada, bob, cyd) = three_peers(tmp.path()).await?;
    let term = ada.open_terminal(100, 30).await?;
    let mut ada_view = ada.terminal_view(term).await?.context("the owner's view")?;
    for peer in [&bob, &cyd] {
        terminals_where(peer, "the terminal", |l| l.iter().any(|t| t.id == term)).await?;
    }
    let mut cyd_events = cyd.subscribe();

    // cyd's engine sends it; ada's engine refuses it and says so.
    cyd.terminal_input(term, b"touch intruder-was-here\n".to_vec()).await?;
    let (refused, reason) = next_event(&mut cyd_events, |ev| match ev {
        EngineEvent::TerminalRefused { term, reason } => Some((term, reason)),
        _ => None,
    })
    .await?;
    assert_eq!(refused, term);
    assert!(reason.contains("no write access"), "{reason}");

    // A grant to someone else does not help cyd, and a revoked peer is refused too.
    ada.grant_terminal(term, bob.me().clone(), true).await?;
    ada.grant_terminal(term, bob.me().clone(), false).await?;
    bob.terminal_input(term, b"touch revoked-was-here\n".to_vec()).await?;
    cyd.terminal_input(term, b"touch intruder-again\n".to_vec()).await?;

    // The owner's own command after that runs: by then anything sent
    // before it would have run too.
    ada.terminal_input(term, b"ls; echo checked-$((40+2))\n".to_vec()).await?;
    let shown = wait_for_output(&mut ada_view, "checked-42").await?;
    for marker in ["intruder-was-here", "revoked-was-here", "intruder-again"] {
        assert!(!tmp.path().join("ada").join(marker).exists(), "{marker} was created");
        assert!(!shown.contains(&format!("touch {marker}")), "the shell received {marker}");
    }
    for e in [cyd, bob, ada] {
        e.shutdown().await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_joiner_sees_output_from_before_it_joined_and_the_exit_status() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    write_files(&tmp.path().join("ada"), &[("README.md", b"shared\n")])?;
    let ada = Engine::host(loopback_config(&tmp.path().join("ada"), "ada")).await?;
    let term = ada.open_terminal(80, 24).await?;
    let mut view = ada.terminal_view(term).await?.context("view")?;
    ada.terminal_input(term, b"echo before-$((2*3))\n".to_vec()).await?;
    wait_for_output(&mut view, "before-6").await?;

    let invite = ada.invite().context("invite")?.clone();
    let bob = Engine::join(loopback_config(&tmp.path().join("bob"), "bob"), invite).await?;
    let info = bob.terminals().await?;
    assert_eq!(info.len(), 1, "the terminal is listed for the joiner");
    assert_eq!((info[0].owner.clone(), info[0].cols, info[0].rows, info[0].exit), (ada.me().clone(), 80, 24, None));
    let mut bob_view = view_of(&bob, term).await?;
    wait_for_output(&mut bob_view, "before-6").await.context("the joiner sees the scrollback")?;

    ada.terminal_input(term, b"exit 7\n".to_vec()).await?;
    assert_eq!(exit_code(&bob, term).await?, 7);
    assert_eq!(exit_code(&ada, term).await?, 7);

    // Closing removes it for everyone.
    ada.close_terminal(term).await?;
    terminals_where(&bob, "the terminal closed", <[TermInfo]>::is_empty).await?;
    bob.shutdown().await?;
    ada.shutdown().await?;
    Ok(())
}

/// Numbers 1..=n in order, one per line, somewhere in what a terminal showed.
fn holds_sequence(output: &[u8], n: u64) -> Result<()> {
    let text = String::from_utf8_lossy(output);
    // The line before "1" ends in the echoed command and control sequences.
    let start = text.find("\r1\r\n2\r\n").context("the sequence never starts")?;
    let mut lines = text[start + 1..].split("\r\n");
    for want in 1..=n {
        match lines.next() {
            Some(l) if l == want.to_string() => {}
            other => bail!("expected line {want}, found {other:?}"),
        }
    }
    Ok(())
}

#[test]
fn fifty_megabytes_of_output_reach_two_peers_complete_in_order_with_bounded_memory() -> Result<()> {
    // `seq 1 6000000` prints 52.9 MB (with the PTY's \r\n).
    const N: u64 = 6_000_000;
    /// A peer holding the whole flood would grow by more than this.
    const MEMORY_BOUND_MIB: u64 = 50;
    let tmp = tempfile::tempdir()?;
    let mut session = TermSession::start(&nitro_bin(), tmp.path(), 2)?;
    let before = session.peak_rss()?;
    session.run(&format!("seq 1 {N}; echo flood-done-$((1+1))"))?;
    session.wait_all("flood-done-2", Duration::from_secs(600))?;
    let after = session.peak_rss()?;
    for (_, out) in &session.guests {
        holds_sequence(&std::fs::read(out)?, N)?;
    }
    for ((who, before), after) in ["host", "guest0", "guest1"].iter().zip(&before).zip(&after) {
        assert!(after - before < MEMORY_BOUND_MIB, "{who}'s memory grew from {before} MiB to {after} MiB during the flood");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_terminals_run_side_by_side_and_closing_one_ends_only_its_shell() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    write_files(&tmp.path().join("ada"), &[("README.md", b"shared\n")])?;
    let ada = Engine::host(loopback_config(&tmp.path().join("ada"), "ada")).await?;
    let bob = Engine::join(loopback_config(&tmp.path().join("bob"), "bob"), ada.invite().context("invite")?.clone()).await?;
    let first = ada.open_terminal(80, 24).await?;
    let second = ada.open_terminal(120, 40).await?;
    assert_ne!(first, second);
    let listed = terminals_where(&bob, "both terminals", |l| l.len() == 2).await?;
    assert!(listed.iter().any(|t| t.id == second && (t.cols, t.rows) == (120, 40)));

    // Each shell gets its own input, and each view only its own output.
    ada.terminal_input(first, b"echo first-$((1+1)); echo $$ > first.pid\n".to_vec()).await?;
    ada.terminal_input(second, b"echo second-$((2+2))\n".to_vec()).await?;
    let mut first_view = view_of(&bob, first).await?;
    let mut second_view = view_of(&bob, second).await?;
    let shown_first = wait_for_output(&mut first_view, "first-2").await?;
    let shown_second = wait_for_output(&mut second_view, "second-4").await?;
    assert!(!shown_first.contains("second-4") && !shown_second.contains("first-2"));

    // Closing the first ends its shell; the second goes on.
    let pid_file = tmp.path().join("ada/first.pid");
    let deadline = tokio::time::Instant::now() + CONVERGE;
    while std::fs::read_to_string(&pid_file).map_or(true, |p| p.trim().is_empty()) {
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "the first shell never wrote its pid");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pid = std::fs::read_to_string(&pid_file)?.trim().to_owned();
    ada.close_terminal(first).await?;
    let deadline = tokio::time::Instant::now() + CONVERGE;
    while Path::new(&format!("/proc/{pid}")).exists() {
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "the closed terminal's shell {pid} is still running");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    terminals_where(&bob, "only the second terminal", |l| l.len() == 1 && l[0].id == second).await?;
    ada.terminal_input(second, b"echo still-$((3+3))\n".to_vec()).await?;
    wait_for_output(&mut second_view, "still-6").await?;
    bob.shutdown().await?;
    ada.shutdown().await?;
    Ok(())
}
