//! The engine as the desktop app uses it: two engines in one process,
//! connected over real WebRTC on loopback, driven through `EngineHandle`.

use std::time::Duration;

use anyhow::{Context, Result};
use nitro_engine::doc::Splice;
use nitro_engine::engine::{Engine, EngineEvent, Leaving};
use nitro_engine::path::RelPath;
use nitro_tests::{CONVERGE, loopback_config, next_event, write_files};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_editor_edit_reaches_the_other_engine_and_its_disk() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let proj = tmp.path().join("project");
    write_files(&proj, &[("main.rs", "fn main() {}\n// ünïcode 😀\n".as_bytes())])?;
    let host = Engine::host(loopback_config(&proj, "ada")).await?;
    let invite = host.invite().context("host has an invite")?.clone();
    let mut host_events = host.subscribe();
    let guest = Engine::join(loopback_config(&tmp.path().join("pair"), "bob"), invite).await?;
    let mut guest_events = guest.subscribe();

    let joined = next_event(&mut host_events, |ev| match ev {
        EngineEvent::PeerJoined { name, .. } => Some(name),
        _ => None,
    })
    .await?;
    assert_eq!(joined, "bob");

    let path = RelPath::new("main.rs")?;
    // Offsets are UTF-16 code units: '😀' counts two.
    let (text, version) = host.text(path.clone()).await?;
    let end = text.encode_utf16().count();
    host.edit(path.clone(), Some(version), vec![Splice { index: end - 1, delete: 0, insert: " ✓".into() }]).await?;
    next_event(&mut guest_events, |ev| matches!(ev, EngineEvent::FilesChanged { paths, .. } if paths.contains(&path)).then_some(()))
        .await
        .context("the guest reports the remote change")?;
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
    let rejected = next_event(&mut host_events, |ev| match ev {
        EngineEvent::EditRejected { path, reason } => Some((path, reason)),
        _ => None,
    })
    .await?;
    assert_eq!(rejected.0.as_str(), "missing.rs");
    assert!(rejected.1.contains("not a shared text file"));

    guest.shutdown().await?;
    host.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_shows_where_a_peer_is_and_follows_edits() -> Result<()> {
    use nitro_engine::engine::presence::{LocalPresence, Selection};
    let tmp = tempfile::tempdir()?;
    let proj = tmp.path().join("project");
    write_files(&proj, &[("main.rs", b"fn main() {}\n")])?;
    let host = Engine::host(loopback_config(&proj, "ada")).await?;
    let invite = host.invite().context("invite")?.clone();
    let mut events = host.subscribe();
    let guest = Engine::join(loopback_config(&tmp.path().join("pair"), "bob"), invite).await?;
    let path = RelPath::new("main.rs")?;

    // bob selects "main".
    let selection = Selection { anchor: 3, head: 7 };
    guest.set_presence(LocalPresence { file: Some(path.clone()), selections: vec![selection], typing: true, viewport_top: Some(12) }, None).await?;
    let seen = next_event(&mut events, |ev| match ev {
        EngineEvent::Presence(p) if p.name == "bob" && !p.selections.is_empty() => Some(p),
        _ => None,
    })
    .await?;
    assert_eq!(seen.file.as_ref(), Some(&path));
    assert_eq!(seen.selections, vec![selection]);
    assert!(seen.typing);
    // Where bob's editor is scrolled, for following him.
    assert_eq!(seen.viewport_top, Some(12));
    assert!(seen.color.starts_with('#') && seen.color.len() == 7, "{}", seen.color);

    // ada types before it: bob's selection still covers "main".
    host.edit(path.clone(), None, vec![nitro_engine::doc::Splice { index: 0, delete: 0, insert: "pub ".into() }]).await?;
    let (text, _) = host.text(path.clone()).await?;
    let now = host.presence().await?;
    let sel = now.first().and_then(|p| p.selections.first()).copied().context("bob's selection")?;
    assert_eq!(&text[sel.anchor..sel.head], "main");

    // When bob leaves, so does his presence.
    guest.shutdown().await?;
    next_event(&mut events, |ev| matches!(ev, EngineEvent::PresenceGone { .. }).then_some(())).await?;
    assert!(host.presence().await?.is_empty());
    host.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_headless_peer_prints_where_others_are() -> Result<()> {
    use nitro_engine::engine::presence::{LocalPresence, Selection};
    let tmp = tempfile::tempdir()?;
    let proj = tmp.path().join("project");
    write_files(&proj, &[("src/main.rs", b"fn main() {\n    run();\n}\n")])?;
    let host = nitro_tests::Peer::host(&proj, &["--presence"])?;
    let invite = nitro_engine::protocol::Invite::parse(host.link.as_deref().unwrap_or_default())?;
    let guest = Engine::join(loopback_config(&tmp.path().join("pair"), "bob"), invite).await?;
    // The caret before "run", on line 2, column 5.
    let caret = Selection { anchor: 16, head: 16 };
    guest
        .set_presence(LocalPresence { file: Some(RelPath::new("src/main.rs")?), selections: vec![caret], typing: false, viewport_top: None }, None)
        .await?;
    let deadline = tokio::time::Instant::now() + CONVERGE;
    while !host.log().contains("bob: src/main.rs 2:5") {
        assert!(tokio::time::Instant::now() < deadline, "host log: {}", host.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    guest.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_editor_catches_up_with_remote_edits_by_pulling_splices() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let proj = tmp.path().join("project");
    write_files(&proj, &[("notes.md", "héllo wörld 😀\n".as_bytes())])?;
    let host = Engine::host(loopback_config(&proj, "ada")).await?;
    let guest = Engine::join(loopback_config(&tmp.path().join("pair"), "bob"), host.invite().context("invite")?.clone()).await?;
    let path = RelPath::new("notes.md")?;
    // ada's editor and bob's show this text; bob types in it.
    let (_, base) = host.text(path.clone()).await?;
    let (shown, seen) = guest.text(path.clone()).await?;
    let mine = guest.edit_versioned(path.clone(), Some(seen), vec![Splice { index: 0, delete: 0, insert: "# ".into() }]).await?;
    let mut editor: Vec<u16> = format!("# {shown}").encode_utf16().collect();
    // Meanwhile (whether bob's edit reached her or not) ada replaces
    // "wörld" and appends a line, in the text her editor showed.
    let mut events = guest.subscribe();
    host.edit(
        path.clone(),
        Some(base),
        vec![Splice { index: 6, delete: 5, insert: "world".into() }, Splice { index: 15, delete: 0, insert: "bye\n".into() }],
    )
    .await?;
    next_event(&mut events, |ev| matches!(ev, EngineEvent::FilesChanged { .. }).then_some(())).await?;

    // The splices from bob's version lead to exactly the merged text.
    let (splices, now) = guest.pull(path.clone(), mine).await?;
    for s in &splices {
        editor.splice(s.index..s.index + s.delete, s.insert.encode_utf16());
    }
    let (merged, current) = guest.text(path.clone()).await?;
    assert_eq!(String::from_utf16(&editor)?, merged);
    assert_eq!(merged, "# héllo world 😀\nbye\n");
    assert_eq!(now, current);
    guest.shutdown().await?;
    host.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_created_renamed_and_deleted_in_an_editor_reach_the_other_peer() -> Result<()> {
    use nitro_engine::doc::Kind;
    use nitro_engine::engine::FileOp;
    let tmp = tempfile::tempdir()?;
    let proj = tmp.path().join("project");
    write_files(&proj, &[("README.md", b"hi\n"), ("logo.png", b"\x89PNG\0\0")])?;
    let host = Engine::host(loopback_config(&proj, "ada")).await?;
    let pair = tmp.path().join("pair");
    let guest = Engine::join(loopback_config(&pair, "bob"), host.invite().context("invite")?.clone()).await?;

    guest.file_op(FileOp::CreateDir(RelPath::new("src")?)).await?;
    guest.file_op(FileOp::CreateFile(RelPath::new("src/lib.rs")?)).await?;
    // A nested path whose folders do not exist yet: they are made too.
    guest.file_op(FileOp::CreateFile(RelPath::new("src/util/stats.rs")?)).await?;
    guest.edit(RelPath::new("src/lib.rs")?, None, vec![Splice { index: 0, delete: 0, insert: "pub fn f() {}\n".into() }]).await?;
    guest.file_op(FileOp::Rename(RelPath::new("README.md")?, RelPath::new("docs/README.md")?)).await?;
    let deadline = tokio::time::Instant::now() + CONVERGE;
    while std::fs::read_to_string(proj.join("src/lib.rs")).ok().as_deref() != Some("pub fn f() {}\n")
        || !proj.join("docs/README.md").exists()
        || !proj.join("src/util/stats.rs").is_file()
    {
        assert!(tokio::time::Instant::now() < deadline, "the host's folder did not follow");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!proj.join("README.md").exists());

    // Listed as editors show them; the binary file is listed, not shared.
    let files = host.files().await?;
    let kinds: Vec<(String, Kind)> = files.iter().map(|f| (f.path.to_string(), f.kind)).collect();
    assert!(kinds.contains(&("logo.png".into(), Kind::Binary)), "{kinds:?}");
    assert!(kinds.contains(&("src".into(), Kind::Dir)), "{kinds:?}");

    // Refused: an existing name, a path out of the workspace, a file not shared.
    assert!(guest.file_op(FileOp::CreateFile(RelPath::new("src/lib.rs")?)).await.is_err());
    assert!(RelPath::new("../outside").is_err());
    assert!(guest.file_op(FileOp::Delete(RelPath::new("nope.txt")?)).await.is_err());

    guest.file_op(FileOp::Delete(RelPath::new("src")?)).await?;
    let deadline = tokio::time::Instant::now() + CONVERGE;
    while proj.join("src").exists() {
        assert!(tokio::time::Instant::now() < deadline, "the deleted folder is still on the host");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The binary file's bytes never left the host, and nothing touched it.
    assert!(!pair.join("logo.png").exists());
    assert_eq!(std::fs::read(proj.join("logo.png"))?, b"\x89PNG\0\0");
    guest.shutdown().await?;
    host.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copied_folder_without_its_certificate_cannot_pass_as_its_peer() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let proj = tmp.path().join("project");
    write_files(&proj, &[("README.md", b"hi\n")])?;
    let host = Engine::host(loopback_config(&proj, "ada")).await?;
    let invite = host.invite().context("invite")?.clone();
    let bob_dir = tmp.path().join("bob");
    let bob = Engine::join(loopback_config(&bob_dir, "bob"), invite.clone()).await?;
    let bob_id = bob.me().clone();
    bob.shutdown().await?;

    // Someone copies bob's folder but not his certificate, to pass as bob
    // (and type into the terminals ada lets bob use): it comes in under the
    // id of its own certificate, never bob's.
    let copy = tmp.path().join("mallory");
    nitro_tests::sh(tmp.path(), "cp -a bob mallory && rm mallory/.nitro/identity.pem")?;
    let mallory = Engine::join(loopback_config(&copy, "bob"), invite.clone()).await?;
    assert_ne!(mallory.me(), &bob_id);
    assert!(!host.peers().await?.iter().any(|p| p.peer == bob_id));
    mallory.shutdown().await?;

    // bob himself, with his certificate, comes back.
    let bob = Engine::join(loopback_config(&bob_dir, "bob"), invite).await?;
    assert_eq!(bob.me(), &bob_id);
    bob.shutdown().await?;
    host.shutdown().await?;
    Ok(())
}

/// A host's first look at its folder says how far it got, and stops when
/// cancelled: nothing is shared then.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosting_counts_the_files_it_reads_and_can_be_cancelled() -> Result<()> {
    use std::sync::atomic::Ordering;
    let tmp = tempfile::tempdir()?;
    let proj = tmp.path().join("project");
    let files: Vec<(String, Vec<u8>)> = (0..50).map(|i| (format!("d{}/f{i}.txt", i % 5), format!("{i}\n").into_bytes())).collect();
    let refs: Vec<(&str, &[u8])> = files.iter().map(|(p, b)| (p.as_str(), b.as_slice())).collect();
    write_files(&proj, &refs)?;

    let cfg = loopback_config(&proj, "ada");
    let scan = cfg.scan.clone();
    let host = Engine::host(cfg).await?;
    assert_eq!(scan.found.load(Ordering::Relaxed), 55, "50 files in 5 folders");
    assert_eq!(scan.read.load(Ordering::Relaxed), 55);
    host.shutdown().await?;

    let other = tmp.path().join("other");
    write_files(&other, &refs)?;
    let cfg = loopback_config(&other, "ada");
    cfg.scan.cancel();
    match Engine::host(cfg).await {
        Err(nitro_engine::engine::EngineError::Cancelled) => {}
        Err(e) => anyhow::bail!("another error: {e}"),
        Ok(_) => anyhow::bail!("hosting went on after it was cancelled"),
    }
    Ok(())
}

/// Stopping an engine ends every task it started (links, signaling,
/// handshakes): `shutdown` reports any task still running after its
/// deadline, and the other peer hears its goodbye.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_says_goodbye_and_leaves_no_task_running() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let proj = tmp.path().join("project");
    write_files(&proj, &[("a.txt", b"a\n")])?;
    let host = Engine::host(loopback_config(&proj, "ada")).await?;
    let invite = host.invite().context("host has an invite")?.clone();
    let mut host_events = host.subscribe();
    let guest = Engine::join(loopback_config(&tmp.path().join("pair"), "bob"), invite).await?;
    next_event(&mut host_events, |ev| matches!(ev, EngineEvent::PeerJoined { .. }).then_some(())).await?;

    guest.shutdown().await.context("the guest's tasks all ended")?;
    let (left, why) = next_event(&mut host_events, |ev| match ev {
        EngineEvent::PeerLeft { name, why, .. } => Some((name, why)),
        _ => None,
    })
    .await?;
    assert_eq!(left, "bob");
    assert_eq!(why, Leaving::Goodbye("shutting down".into()), "the host heard the guest's goodbye, not silence");
    host.shutdown().await.context("the host's tasks all ended")?;
    Ok(())
}
