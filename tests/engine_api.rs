//! The engine as the desktop app uses it: two engines in one process,
//! connected over real WebRTC on loopback, driven through `EngineHandle`.

use std::time::Duration;

use anyhow::{Context, Result};
use nitro_engine::doc::Splice;
use nitro_engine::engine::{Engine, EngineConfig, EngineEvent};
use nitro_engine::path::RelPath;
use nitro_tests::{write_files, CONVERGE};

fn config(dir: &std::path::Path, name: &str) -> EngineConfig {
    let mut cfg = EngineConfig::new(dir, name);
    cfg.bind = Some("127.0.0.1".parse().expect("ip"));
    cfg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_editor_edit_reaches_the_other_engine_and_its_disk() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let proj = tmp.path().join("project");
    write_files(&proj, &[("main.rs", "fn main() {}\n// ünïcode 😀\n".as_bytes())])?;
    let host = Engine::host(config(&proj, "ada")).await?;
    let invite = host.invite().context("host has an invite")?.clone();
    let mut host_events = host.subscribe();
    let guest = Engine::join(config(&tmp.path().join("pair"), "bob"), invite).await?;
    let mut guest_events = guest.subscribe();

    let joined = tokio::time::timeout(CONVERGE, async {
        loop {
            if let Ok(EngineEvent::PeerJoined { name, .. }) = host_events.recv().await {
                return name;
            }
        }
    })
    .await?;
    assert_eq!(joined, "bob");

    let path = RelPath::new("main.rs")?;
    // Offsets are UTF-16 code units: '😀' counts two.
    let (text, version) = host.text(path.clone()).await?;
    let end = text.encode_utf16().count();
    host.edit(path.clone(), Some(version), vec![Splice { index: end - 1, delete: 0, insert: " ✓".into() }]).await?;
    let changed = tokio::time::timeout(CONVERGE, async {
        loop {
            if let Ok(EngineEvent::RemoteChange { paths, .. }) = guest_events.recv().await {
                if paths.contains(&path) {
                    return;
                }
            }
        }
    })
    .await;
    assert!(changed.is_ok(), "the guest reports the remote change");
    let want = "fn main() {}\n// ünïcode 😀 ✓\n";
    assert_eq!(guest.text(path.clone()).await?.0, want);
    assert_eq!(std::fs::read_to_string(tmp.path().join("pair/main.rs"))?, want);
    // The host's own file is written too.
    let deadline = tokio::time::Instant::now() + CONVERGE;
    while std::fs::read_to_string(proj.join("main.rs"))? != want {
        assert!(tokio::time::Instant::now() < deadline, "host file not written");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // An edit to a file that is not shared is rejected with a reason.
    host.edit(RelPath::new("missing.rs")?, None, vec![Splice { index: 0, delete: 0, insert: "x".into() }]).await?;
    let rejected = tokio::time::timeout(CONVERGE, async {
        loop {
            if let Ok(EngineEvent::EditRejected { path, reason }) = host_events.recv().await {
                return (path, reason);
            }
        }
    })
    .await?;
    assert_eq!(rejected.0.as_str(), "missing.rs");
    assert!(rejected.1.contains("not a shared text file"));

    guest.shutdown().await?;
    host.shutdown().await?;
    Ok(())
}
