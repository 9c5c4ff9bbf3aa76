//! A developer's own tools on one peer's disk: a change there reaches that
//! peer's own window, and a real `git checkout` of hundreds of files
//! reaches every disk while a guest types, with no link dropped. Engines
//! in this process over real WebRTC on loopback.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use nitro_engine::doc::Splice;
use nitro_engine::engine::{Engine, EngineEvent, EngineHandle};
use nitro_engine::path::RelPath;
use nitro_tests::{loopback_config, next_event, sh, snapshot, write_files};
use tokio::sync::broadcast;

/// Long enough for hundreds of files in a debug build on two cores.
const MASS_CONVERGE: Duration = Duration::from_secs(180);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_on_this_peers_own_disk_reaches_its_own_window() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let proj = tmp.path().join("project");
    write_files(&proj, &[("util.ts", b"export const a = 1;\n")])?;
    let host = Engine::host(loopback_config(&proj, "ada")).await?;
    let mut events = host.subscribe();
    let path = RelPath::new("util.ts")?;
    // Open in the editor, as the app does.
    host.text(path.clone()).await?;

    // A shell in the app's own terminal appends a line.
    sh(&proj, "echo 'export const b = 2;' >> util.ts")?;
    next_event(&mut events, |ev| matches!(ev, EngineEvent::FilesChanged { paths, .. } if paths.contains(&path)).then_some(()))
        .await
        .context("the window hears about its own disk's change")?;
    assert_eq!(host.text(path.clone()).await?.0, "export const a = 1;\nexport const b = 2;\n");

    // A new file: the tree follows.
    sh(&proj, "echo 'new' > fresh.ts")?;
    next_event(&mut events, |ev| matches!(ev, EngineEvent::FilesChanged { tree: true, .. }).then_some(()))
        .await
        .context("the window hears that the tree changed")?;
    assert!(host.files().await?.iter().any(|f| f.path.as_str() == "fresh.ts"));
    host.shutdown().await?;
    Ok(())
}

/// Every shared file of a peer's folder (`.git` is not shared).
fn shared(root: &Path) -> BTreeMap<String, Vec<u8>> {
    snapshot(root).into_iter().filter(|(p, _)| p != ".git/" && !p.starts_with(".git/")).collect()
}

/// Source files of a generated project, `version` changing some of them.
fn source(i: usize, version: u32) -> String {
    let mut text = format!("// module {i}\n");
    for line in 0..150 {
        let changed = version > 0 && line % 3 == 1;
        text.push_str(&format!("pub fn f{i}_{line}() -> u32 {{ {} }}\n", if changed { line * 100 + version as usize } else { line }));
    }
    text
}

/// Links any engine dropped: a peer that stalls is dropped as silent.
fn dropped(events: &mut broadcast::Receiver<EngineEvent>) -> Vec<String> {
    let mut out = Vec::new();
    while let Ok(ev) = events.try_recv() {
        if let EngineEvent::PeerLeft { name, .. } = ev {
            out.push(name);
        }
    }
    out
}

async fn type_slowly(engine: &EngineHandle, path: &RelPath, text: &str) -> Result<()> {
    for ch in text.chars() {
        let (now, version) = engine.text(path.clone()).await?;
        let end = now.encode_utf16().count();
        engine.edit_versioned(path.clone(), Some(version), vec![Splice { index: end, delete: 0, insert: ch.into() }]).await?;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_branch_switch_of_hundreds_of_files_reaches_every_disk_while_a_guest_types() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let proj = tmp.path().join("project");
    let files: Vec<(String, String)> = (0..360).map(|i| (format!("src/m{}/f{i}.rs", i % 20), source(i, 0))).collect();
    let refs: Vec<(&str, &[u8])> = files.iter().map(|(p, t)| (p.as_str(), t.as_bytes())).collect();
    write_files(&proj, &refs)?;
    write_files(&proj, &[("notes.md", b"# notes\n"), (".gitignore", b".nitro/\n")])?;
    // Branch `next`: 300 files changed, 30 deleted, 50 added (each change
    // touches every third line: a branch switch costs the host seconds).
    let commit = "git add -A && git -c user.name=t -c user.email=t@t commit -qm";
    sh(&proj, &format!("git init -q -b main && {commit} v1 && git checkout -q -b next"))?;
    let next: Vec<(String, String)> = (0..300)
        .map(|i| (format!("src/m{}/f{i}.rs", i % 20), source(i, 1)))
        .chain((0..50).map(|i| (format!("src/added/a{i}.rs"), format!("pub fn added{i}() {{}}\n"))))
        .collect();
    let refs: Vec<(&str, &[u8])> = next.iter().map(|(p, t)| (p.as_str(), t.as_bytes())).collect();
    write_files(&proj, &refs)?;
    sh(&proj, &format!("git rm -q src/m*/f3[3-5][0-9].rs && {commit} v2 && git checkout -q main"))?;

    let host = Engine::host(loopback_config(&proj, "ada")).await?;
    let invite = host.invite().context("invite")?.clone();
    let bob = Engine::join(loopback_config(&tmp.path().join("bob"), "bob"), invite.clone()).await?;
    let cyd = Engine::join(loopback_config(&tmp.path().join("cyd"), "cyd"), invite).await?;
    let mut watch: Vec<_> = [&host, &bob, &cyd].iter().map(|e| e.subscribe()).collect();

    // The switch on the host's disk, and bob typing meanwhile.
    sh(&proj, "git checkout -q next")?;
    let notes = RelPath::new("notes.md")?;
    type_slowly(&bob, &notes, "bob was here").await?;

    let (bob_dir, cyd_dir) = (tmp.path().join("bob"), tmp.path().join("cyd"));
    let all_equal = || {
        let want = shared(&proj);
        want.get("notes.md").is_some_and(|t| t.ends_with(b"bob was here"))
            && want.contains_key("src/added/a49.rs")
            && [&bob_dir, &cyd_dir].iter().all(|d| shared(d) == want)
    };
    let deadline = tokio::time::Instant::now() + MASS_CONVERGE;
    // Disks have no event to wait for: they are compared until equal.
    while !all_equal() {
        ensure!(tokio::time::Instant::now() < deadline, "the disks did not converge");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for (name, events) in ["ada", "bob", "cyd"].iter().zip(&mut watch) {
        let gone = dropped(events);
        ensure!(gone.is_empty(), "{name} dropped {gone:?} during the switch");
    }
    let status = std::process::Command::new("git").args(["status", "--porcelain"]).current_dir(&proj).output()?;
    assert_eq!(String::from_utf8_lossy(&status.stdout), " M notes.md\n", "only bob's edit differs from the branch");
    for e in [cyd, bob, host] {
        e.shutdown().await?;
    }
    Ok(())
}
