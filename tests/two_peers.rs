//! Two real `nitro` processes sharing a folder over a real WebRTC
//! connection on loopback.

use std::path::Path;

use anyhow::Result;
use nitro_tests::{CONVERGE, Peer, join_expecting_failure, read, sh, snapshot, wait_for, write_files};

fn start(files: &[(&str, &[u8])]) -> Result<(tempfile::TempDir, Peer, Peer)> {
    let tmp = tempfile::tempdir()?;
    let proj = tmp.path().join("project");
    std::fs::create_dir(&proj)?;
    write_files(&proj, files)?;
    let host = Peer::host(&proj, &[])?;
    let link = host.link.clone().unwrap_or_default();
    let guest = Peer::join(&link, &tmp.path().join("pair"), "guest", &[])?;
    Ok((tmp, host, guest))
}

fn file(peer: &Peer, rel: &str) -> Option<String> {
    read(&peer.dir.join(rel))
}

/// Waits until both folders hold the same files with the same bytes.
fn converged(a: &Path, b: &Path) -> Result<()> {
    wait_for(CONVERGE, || Ok(snapshot(a) == snapshot(b)))
        .map_err(|e| anyhow::anyhow!("{e}: {:?} vs {:?}", snapshot(a).keys().collect::<Vec<_>>(), snapshot(b).keys().collect::<Vec<_>>()))
}

#[test]
fn the_initial_mirror_matches_byte_for_byte() -> Result<()> {
    let (_tmp, host, guest) = start(&[
        ("README.md", b"# Project\n"),
        ("src/main.rs", "fn main() {\n    println!(\"grüße 😀\");\n}\n".as_bytes()),
        ("src/nested/deep/mod.rs", b"pub mod x;\n"),
        ("empty.txt", b""),
        ("crlf.txt", b"one\r\ntwo\r\n"),
        (".gitignore", b"target/\n"),
        ("target/debug/app", b"build output"),
        (".git/config", b"[core]\n"),
    ])?;
    let mirror = snapshot(&guest.dir);
    let mut expected = snapshot(&host.dir);
    expected.retain(|k, _| !k.starts_with("target") && !k.starts_with(".git/"));
    assert_eq!(mirror, expected);
    Ok(())
}

#[test]
fn shell_writes_on_each_side_reach_the_other() -> Result<()> {
    let (_tmp, host, guest) = start(&[("notes.txt", b"first\n")])?;
    sh(&host.dir, "echo 'from the host' >> notes.txt")?;
    wait_for(CONVERGE, || Ok(file(&guest, "notes.txt").as_deref() == Some("first\nfrom the host\n")))?;
    sh(&guest.dir, "echo 'from the guest' >> notes.txt && printf 'new file\\n' > guest.txt")?;
    wait_for(CONVERGE, || {
        Ok(file(&host, "notes.txt").as_deref() == Some("first\nfrom the host\nfrom the guest\n")
            && file(&host, "guest.txt").as_deref() == Some("new file\n"))
    })?;
    // An editor-style save: write a temporary file, then rename it over the original.
    sh(&guest.dir, "printf 'rewritten\\n' > .notes.txt.swp && mv .notes.txt.swp notes.txt")?;
    wait_for(CONVERGE, || Ok(file(&host, "notes.txt").as_deref() == Some("rewritten\n")))?;
    converged(&host.dir, &guest.dir)
}

#[test]
fn concurrent_edits_to_one_file_keep_both() -> Result<()> {
    let base: String = (1..=20).map(|i| format!("line {i}\n")).collect();
    let (_tmp, host, guest) = start(&[("shared.txt", base.as_bytes())])?;
    // Both sides save at once, before either has heard of the other's edit.
    let host_text = base.replacen("line 2\n", "line 2 edited by host\n", 1);
    let guest_text = base.replacen("line 19\n", "line 19 edited by guest\n", 1);
    std::fs::write(host.dir.join("shared.txt"), &host_text)?;
    std::fs::write(guest.dir.join("shared.txt"), &guest_text)?;
    let both = base.replacen("line 2\n", "line 2 edited by host\n", 1).replacen("line 19\n", "line 19 edited by guest\n", 1);
    wait_for(CONVERGE, || Ok(file(&host, "shared.txt").as_deref() == Some(&both) && file(&guest, "shared.txt").as_deref() == Some(&both)))
        .map_err(|e| anyhow::anyhow!("{e}: host {:?} guest {:?}", file(&host, "shared.txt"), file(&guest, "shared.txt")))?;
    Ok(())
}

#[test]
fn renames_and_deletes_propagate() -> Result<()> {
    let (_tmp, host, guest) = start(&[("a.txt", b"a"), ("dir/b.txt", b"b"), ("dir/sub/c.txt", b"c"), ("gone.txt", b"x")])?;
    sh(&host.dir, "mv a.txt renamed.txt && mv dir folder && rm gone.txt")?;
    wait_for(CONVERGE, || {
        Ok(file(&guest, "renamed.txt").as_deref() == Some("a")
            && file(&guest, "folder/sub/c.txt").as_deref() == Some("c")
            && !guest.dir.join("dir").exists()
            && !guest.dir.join("gone.txt").exists()
            && !guest.dir.join("a.txt").exists())
    })?;
    sh(&guest.dir, "mv folder/b.txt b-moved.txt && rm -r folder/sub")?;
    wait_for(CONVERGE, || Ok(file(&host, "b-moved.txt").as_deref() == Some("b") && !host.dir.join("folder/sub").exists()))?;
    converged(&host.dir, &guest.dir)
}

#[test]
fn binary_files_are_left_alone() -> Result<()> {
    let png: &[u8] = &[0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d];
    let (_tmp, host, guest) = start(&[("logo.png", png), ("text.txt", b"t")])?;
    assert!(!guest.dir.join("logo.png").exists(), "a binary file is listed, not copied");
    // The guest's own binary at the same path is neither shared nor overwritten.
    std::fs::write(guest.dir.join("logo.png"), [1u8, 0, 2])?;
    sh(&host.dir, "printf 'more\\n' >> text.txt")?;
    wait_for(CONVERGE, || Ok(file(&guest, "text.txt").as_deref() == Some("tmore\n")))?;
    sh(&host.dir, "rm logo.png && printf 'done\\n' >> text.txt")?;
    wait_for(CONVERGE, || Ok(file(&guest, "text.txt").as_deref() == Some("tmore\ndone\n")))?;
    assert_eq!(std::fs::read(guest.dir.join("logo.png"))?, vec![1, 0, 2]);
    Ok(())
}

#[test]
fn a_wrong_secret_is_refused_and_gets_no_file() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let proj = tmp.path().join("project");
    write_files(&proj, &[("secret-plans.txt", b"top secret\n")])?;
    let host = Peer::host(&proj, &[])?;
    let link = host.link.clone().unwrap_or_default();
    let k = link.split('&').find(|p| p.starts_with("k=")).unwrap_or_default().to_owned();
    let forged = link.replace(&k, "k=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    let dir = tmp.path().join("intruder");
    let (status, stderr) = join_expecting_failure(&forged, &dir)?;
    assert!(!status.success());
    assert!(stderr.contains("secret is wrong"), "{stderr}");
    assert!(std::fs::read_dir(&dir)?.next().is_none(), "the refused joiner's folder stays empty");
    assert!(host.log().contains("refused"), "{}", host.log());

    let without = link.replace(&format!("&{k}"), "");
    let (status, stderr) = join_expecting_failure(&without, &tmp.path().join("other"))?;
    assert!(!status.success());
    assert!(stderr.contains("no secret"), "{stderr}");
    Ok(())
}

#[test]
fn a_folder_holding_something_else_is_not_joined() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let proj = tmp.path().join("project");
    write_files(&proj, &[("a.txt", b"a")])?;
    let host = Peer::host(&proj, &[])?;
    let busy = tmp.path().join("busy");
    write_files(&busy, &[("mine.txt", b"precious")])?;
    let (status, stderr) = join_expecting_failure(host.link.as_deref().unwrap_or_default(), &busy)?;
    assert!(!status.success());
    assert!(stderr.contains("not empty"), "{stderr}");
    assert_eq!(snapshot(&busy).len(), 1);
    assert_eq!(read(&busy.join("mine.txt")).as_deref(), Some("precious"));
    Ok(())
}

#[test]
fn a_guest_that_comes_back_merges_what_it_did_offline() -> Result<()> {
    let (tmp, host, guest) = start(&[("a.txt", b"one\ntwo\n")])?;
    let link = host.link.clone().unwrap_or_default();
    assert!(guest.terminate()?.success());
    std::fs::write(tmp.path().join("pair/a.txt"), "one\ntwo\nthree (offline)\n")?;
    std::fs::write(host.dir.join("a.txt"), "zero\none\ntwo\n")?;
    wait_for(CONVERGE, || Ok(host.log().contains("guest left")))?;
    let guest = Peer::join(&link, &tmp.path().join("pair"), "guest", &[])?;
    let merged = "zero\none\ntwo\nthree (offline)\n";
    wait_for(CONVERGE, || Ok(file(&host, "a.txt").as_deref() == Some(merged) && file(&guest, "a.txt").as_deref() == Some(merged)))
        .map_err(|e| anyhow::anyhow!("{e}: host {:?} guest {:?}", file(&host, "a.txt"), file(&guest, "a.txt")))?;
    Ok(())
}

#[test]
fn the_host_exits_cleanly_on_sigterm() -> Result<()> {
    let (_tmp, host, guest) = start(&[("a.txt", b"a")])?;
    assert!(host.terminate()?.success());
    wait_for(CONVERGE, || Ok(guest.log().contains("host left")))?;
    assert!(guest.terminate()?.success());
    Ok(())
}

/// A folder shared with its secrets in it: keys, `.ssh/` and `.env` stay
/// on the host (which says so), templates are shared; `--share-secrets`
/// shares them all.
#[test]
fn files_named_as_secrets_stay_on_the_host_unless_it_shares_them() -> Result<()> {
    let files: &[(&str, &[u8])] =
        &[("README.md", b"hi"), (".env", b"TOKEN=hunter2"), (".env.example", b"TOKEN="), (".ssh/id_ed25519", b"key"), ("tls/server.key", b"key")];
    let tmp = tempfile::tempdir()?;
    let proj = tmp.path().join("project");
    write_files(&proj, files)?;
    let host = Peer::host(&proj, &[])?;
    let guest = Peer::join(host.link.as_deref().unwrap_or_default(), &tmp.path().join("guest"), "guest", &[])?;
    let got: Vec<String> = snapshot(&guest.dir).into_keys().collect();
    assert_eq!(got, [".env.example", "README.md", "tls/"]);
    wait_for(CONVERGE, || Ok(host.log().contains("Not shared")))?;
    let log = host.log();
    for secret in [".env", ".ssh", "tls/server.key"] {
        assert!(log.contains(secret), "the host does not say {secret} is kept back: {log}");
    }
    drop((host, guest));

    let shared = tmp.path().join("shared");
    write_files(&shared, files)?;
    let host = Peer::host(&shared, &["--share-secrets"])?;
    let guest = Peer::join(host.link.as_deref().unwrap_or_default(), &tmp.path().join("guest2"), "guest", &[])?;
    assert_eq!(snapshot(&guest.dir), snapshot(&shared));
    Ok(())
}

/// With `--term` the host's own terminal shows its shell and waits for
/// keys; SIGTERM still ends it at once (standard input stays open, unread).
#[test]
fn a_host_attached_to_a_terminal_exits_on_sigterm_without_a_key() -> Result<()> {
    use std::process::{Command, Stdio};
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("project");
    write_files(&dir, &[("a.txt", b"a")])?;
    let log = tmp.path().join("host.log");
    let mut child = Command::new(nitro_tests::nitro_bin())
        .arg("host")
        .arg(&dir)
        .args(["--bind", "127.0.0.1", "--name", "host", "--term"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log)?)
        .spawn()?;
    let _keys = child.stdin.take();
    wait_for(CONVERGE, || Ok(read(&log).unwrap_or_default().contains("Attached to terminal")))?;
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status()?;
    let mut status = None;
    let exited = wait_for(CONVERGE, || {
        status = child.try_wait()?;
        Ok(status.is_some())
    });
    if exited.is_err() {
        let _ = child.kill();
        anyhow::bail!("nitro host --term did not exit on SIGTERM; its log: {}", read(&log).unwrap_or_default());
    }
    assert!(status.is_some_and(|s| s.success()), "{status:?}: {}", read(&log).unwrap_or_default());
    Ok(())
}

#[test]
fn help_documents_every_command_and_flag() -> Result<()> {
    let out = std::process::Command::new(nitro_tests::nitro_bin()).arg("--help").output()?;
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(help.contains("host") && help.contains("join"), "{help}");
    for (cmd, flags) in [
        ("host", &["--port", "--bind", "--signal", "--name", "--max-file-size"][..]),
        ("join", &["--bind", "--signal", "--name", "--max-file-size"][..]),
    ] {
        let out = std::process::Command::new(nitro_tests::nitro_bin()).args([cmd, "--help"]).output()?;
        let help = String::from_utf8_lossy(&out.stdout);
        for f in flags {
            assert!(help.contains(f), "`nitro {cmd} --help` lacks {f}: {help}");
        }
    }
    Ok(())
}
