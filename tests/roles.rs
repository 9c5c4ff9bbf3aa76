//! Who may do what, enforced by every peer: read-only links, the host's
//! approval, roles changed live, removal and new links. Engines in this
//! process on the in-memory net (handshakes, admission and certificates
//! as over WebRTC; signaling real, on loopback).

use std::path::Path;

use anyhow::{Context, Result, ensure};
use nitro_engine::doc::Splice;
use nitro_engine::engine::membership::Access;
use nitro_engine::engine::{Engine, EngineError, EngineEvent, EngineHandle};
use nitro_engine::link::memory::MemNet;
use nitro_engine::path::RelPath;
use nitro_engine::protocol::Invite;
use nitro_engine::protocol::membership::Role;
use nitro_tests::{CONVERGE, memory_config, next_event, read, wait_for, write_files};

async fn join(net: &MemNet, dir: &Path, name: &str, invite: Invite) -> Result<EngineHandle, EngineError> {
    Engine::join(memory_config(dir, name, net), invite).await
}

/// Types `text` at the end of `path` through the engine, as an editor does.
async fn append(engine: &EngineHandle, path: &str, text: &str) -> Result<(), EngineError> {
    let path = RelPath::new(path).map_err(|e| EngineError::State(e.to_string()))?;
    let (now, version) = engine.text(path.clone()).await?;
    engine.edit_versioned(path, Some(version), vec![Splice { index: now.encode_utf16().count(), delete: 0, insert: text.into() }]).await.map(drop)
}

fn holds(path: &Path, needle: &str) -> impl FnMut() -> Result<bool> {
    let path = path.to_path_buf();
    let needle = needle.to_owned();
    move || Ok(read(&path).is_some_and(|t| t.contains(&needle)))
}

async fn access_becomes(engine: &EngineHandle, want: Access) -> Result<()> {
    let mut events = engine.subscribe();
    tokio::time::timeout(CONVERGE, async {
        while engine.access().await? != want {
            let _ = events.recv().await;
        }
        Ok::<_, anyhow::Error>(())
    })
    .await
    .with_context(|| format!("never became {}", want.label()))?
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_sees_everything_and_changes_nothing_on_any_other_disk() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let net = MemNet::default();
    let (ada_dir, bob_dir, vic_dir) = (tmp.path().join("ada"), tmp.path().join("bob"), tmp.path().join("vic"));
    write_files(&ada_dir, &[("notes.md", b"shared notes\n")])?;
    let ada = Engine::host(memory_config(&ada_dir, "ada", &net)).await?;
    let links = ada.invites().context("links")?;
    assert!(links.view.to_link().ends_with("&r=view") && !links.edit.to_link().contains("&r="));
    let bob = join(&net, &bob_dir, "bob", links.edit.clone()).await?;
    let vic = join(&net, &vic_dir, "vic", links.view.clone()).await?;
    assert_eq!(vic.access().await?, Access::Viewer);
    assert_eq!(bob.access().await?, Access::Editor);
    assert_eq!(read(&vic_dir.join("notes.md")).as_deref(), Some("shared notes\n"), "a viewer gets the workspace");

    // Through the engine: refused with a clear error.
    let refused = append(&vic, "notes.md", "vic was here\n").await.err().context("a viewer's edit is refused")?;
    assert!(matches!(refused, EngineError::ReadOnly), "{refused}");
    assert!(matches!(vic.open_terminal(80, 24).await, Err(EngineError::ReadOnly)));

    // On its disk: put back, the user's text kept aside, nothing shared.
    let mut vic_events = vic.subscribe();
    std::fs::write(vic_dir.join("notes.md"), "vic was here\n")?;
    let kept = next_event(&mut vic_events, |ev| match ev {
        EngineEvent::WriteUndone { path, kept } if path.as_str() == "notes.md" => Some(kept),
        _ => None,
    })
    .await?
    .context("the user's text is kept")?;
    assert_eq!(std::fs::read_to_string(&kept)?, "vic was here\n");
    wait_for(CONVERGE, holds(&vic_dir.join("notes.md"), "shared notes"))?;

    // An editor's edit reaches everyone; by then the viewer's would have too.
    append(&bob, "notes.md", "bob's line\n").await?;
    for dir in [&ada_dir, &vic_dir] {
        wait_for(CONVERGE, holds(&dir.join("notes.md"), "bob's line")).context("an editor's edit reaches every disk")?;
    }
    for dir in [&ada_dir, &bob_dir] {
        ensure!(!read(&dir.join("notes.md")).unwrap_or_default().contains("vic was here"), "the viewer's write reached {}", dir.display());
    }
    let members = ada.members().await?;
    let vic_seen = members.iter().find(|m| &m.peer == vic.me()).context("the viewer is a member")?;
    assert_eq!((vic_seen.access, vic_seen.name.as_str()), (Access::Viewer, "vic"));
    for e in [vic, bob, ada] {
        e.shutdown().await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_lets_one_joiner_in_and_turns_another_away() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let net = MemNet::default();
    write_files(&tmp.path().join("ada"), &[("a.txt", b"a\n")])?;
    let mut cfg = memory_config(&tmp.path().join("ada"), "ada", &net);
    cfg.approve = true;
    let ada = Engine::host(cfg).await?;
    let invite = ada.invite().context("invite")?;
    let mut requests = ada.subscribe();

    // Bob waits, and knows it, until the host's user lets him in.
    let cfg = memory_config(&tmp.path().join("bob"), "bob", &net);
    let mut bob_waits = cfg.waiting.subscribe();
    let bob = tokio::spawn(Engine::join(cfg, invite.clone()));
    let asked = next_event(&mut requests, |ev| match ev {
        EngineEvent::JoinRequest(r) => Some(r),
        _ => None,
    })
    .await?;
    assert_eq!(asked.name, "bob");
    tokio::time::timeout(CONVERGE, bob_waits.wait_for(|w| *w)).await.context("bob hears that he waits")??;
    assert!(read(&tmp.path().join("bob/a.txt")).is_none(), "nothing arrives before the host says yes");
    ada.answer_join(asked.peer.clone(), true).await?;
    let bob = bob.await??;
    assert_eq!(read(&tmp.path().join("bob/a.txt")).as_deref(), Some("a\n"));

    // Eve is turned away, and gets nothing.
    let eve = tokio::spawn(Engine::join(memory_config(&tmp.path().join("eve"), "eve", &net), invite.clone()));
    let asked = next_event(&mut requests, |ev| match ev {
        EngineEvent::JoinRequest(r) if r.name == "eve" => Some(r),
        _ => None,
    })
    .await?;
    ada.answer_join(asked.peer, false).await?;
    let denied = eve.await?.err().context("eve is turned away")?;
    assert!(matches!(&denied, EngineError::Denied(r) if r.contains("did not let you in")), "{denied}");
    assert!(read(&tmp.path().join("eve/a.txt")).is_none());

    // Cyd waits when the host goes away: told so, not left hanging.
    let cyd = tokio::spawn(Engine::join(memory_config(&tmp.path().join("cyd"), "cyd", &net), invite));
    next_event(&mut requests, |ev| matches!(ev, EngineEvent::JoinRequest(r) if r.name == "cyd").then_some(())).await?;
    ada.shutdown().await?;
    let gone = cyd.await?.err().context("cyd cannot join a host that left")?;
    assert!(matches!(gone, EngineError::HostGone), "{gone}");
    bob.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_change_live_and_a_removed_member_cannot_come_back() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let net = MemNet::default();
    let dir = |n: &str| tmp.path().join(n);
    write_files(&dir("ada"), &[("plan.md", b"plan\n")])?;
    let ada = Engine::host(memory_config(&dir("ada"), "ada", &net)).await?;
    let links = ada.invites().context("links")?;
    let bob = join(&net, &dir("bob"), "bob", links.edit.clone()).await?;
    let cyd = join(&net, &dir("cyd"), "cyd", links.edit.clone()).await?;
    let term = ada.open_terminal(80, 24).await?;
    ada.grant_terminal(term, bob.me().clone(), true).await?;
    let mut bob_events = bob.subscribe();
    tokio::time::timeout(CONVERGE, async {
        while !bob.terminals().await?.iter().any(|t| t.id == term && t.writers.contains(bob.me())) {
            let _ = bob_events.recv().await;
        }
        Ok::<_, anyhow::Error>(())
    })
    .await
    .context("bob never saw his grant")??;

    // Demoted while editing: bob's next edit and keystrokes are refused.
    append(&bob, "plan.md", "bob before\n").await?;
    ada.set_role(bob.me().clone(), Role::Viewer).await?;
    access_becomes(&bob, Access::Viewer).await?;
    // The edit link bob knows is replaced: he cannot come back as someone else.
    let after_demotion = ada.invites().context("links")?;
    assert!(after_demotion.edit != links.edit && after_demotion.view == links.view);
    assert!(matches!(append(&bob, "plan.md", "bob while read-only\n").await, Err(EngineError::ReadOnly)));
    let mut bob_events = bob.subscribe();
    bob.terminal_input(term, b"touch demoted-typed-this\n".to_vec()).await?;
    let reason = next_event(&mut bob_events, |ev| match ev {
        EngineEvent::TerminalRefused { reason, .. } => Some(reason),
        _ => None,
    })
    .await?;
    assert!(reason.contains("read-only"), "{reason}");
    // Cyd, an editor, keeps editing; the host can grant nothing to a viewer.
    assert!(matches!(ada.grant_terminal(term, bob.me().clone(), true).await, Err(EngineError::Viewer(_))));
    append(&cyd, "plan.md", "cyd meanwhile\n").await?;

    // Promoted again: bob edits, and every disk has it.
    ada.set_role(bob.me().clone(), Role::Editor).await?;
    access_becomes(&bob, Access::Editor).await?;
    append(&bob, "plan.md", "bob promoted\n").await?;
    for n in ["ada", "cyd"] {
        wait_for(CONVERGE, holds(&dir(n).join("plan.md"), "bob promoted"))?;
    }
    ensure!(!read(&dir("ada").join("plan.md")).unwrap_or_default().contains("while read-only"));
    ensure!(!dir("ada").join("demoted-typed-this").exists(), "a demoted peer's keystrokes reached the shell");

    // Removed: every peer closes its links to cyd, and neither cyd nor a
    // new identity with the links cyd knew comes back in.
    let cyd_id = cyd.me().clone();
    let (mut at_ada, mut at_bob) = (ada.subscribe(), bob.subscribe());
    ada.set_role(cyd_id.clone(), Role::Removed).await?;
    access_becomes(&cyd, Access::Removed).await?;
    for (who, events, engine) in [("ada", &mut at_ada, &ada), ("bob", &mut at_bob, &bob)] {
        next_event(events, |ev| matches!(ev, EngineEvent::PeerLeft { peer, .. } if peer == cyd_id).then_some(()))
            .await
            .with_context(|| format!("{who} keeps its link to the removed member"))?;
        ensure!(!engine.peers().await?.iter().any(|p| p.peer == cyd_id), "{who} is still connected to cyd");
    }
    cyd.shutdown().await?;
    let again = join(&net, &dir("cyd"), "cyd", links.edit.clone()).await.err().context("cyd is not let back in")?;
    assert!(matches!(&again, EngineError::Denied(r) if r.contains("removed")), "{again}");
    let other = join(&net, &dir("cyd2"), "cyd", links.edit.clone()).await.err().context("the old link lets nobody new in")?;
    assert!(matches!(&other, EngineError::Denied(r) if r.contains("replaced")), "{other}");

    // Members already in come back with the link they hold; the new link works.
    bob.shutdown().await?;
    let bob = join(&net, &dir("bob"), "bob", links.edit.clone()).await?;
    let fresh = ada.invites().context("links")?;
    assert_ne!(fresh.edit, links.edit);
    let dan = join(&net, &dir("dan"), "dan", fresh.view.clone()).await?;
    assert_eq!(dan.access().await?, Access::Viewer);
    for e in [dan, bob, ada] {
        e.shutdown().await?;
    }
    Ok(())
}
