//! Relay-only ICE through a real TURN server (coturn, Debian's `coturn`)
//! started on loopback.

use std::process::Command;

use anyhow::{Context, Result};
use nitro_tests::{CONVERGE, Peer, read, sh, start_turn, wait_for, write_files};

#[test]
fn peers_connect_through_a_turn_relay_only() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let (turn, port) = start_turn(tmp.path())?;
    let url = format!("turn:127.0.0.1:{port}?transport=udp");
    let flags = ["--ice-server", &url, "--ice-username", "nitro", "--ice-credential", "s3cret", "--relay-only"];
    let proj = tmp.path().join("project");
    write_files(&proj, &[("a.txt", b"relayed\n")])?;
    let host = Peer::host(&proj, &flags)?;
    let guest = Peer::join(host.link.as_deref().unwrap_or_default(), &tmp.path().join("pair"), "guest", &flags)?;
    assert_eq!(read(&guest.dir.join("a.txt")).as_deref(), Some("relayed\n"));
    sh(&guest.dir, "echo back >> a.txt")?;
    wait_for(CONVERGE, || Ok(read(&host.dir.join("a.txt")).as_deref() == Some("relayed\nback\n")))?;
    // Both peers allocated a relay on the server: the data went through it.
    let log = turn.log();
    assert!(log.matches("username=<nitro>").count() >= 2, "{log}");
    Ok(())
}

#[test]
fn relay_only_without_a_turn_server_is_refused_clearly() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let proj = tmp.path().join("project");
    write_files(&proj, &[("a.txt", b"x")])?;
    let out = Command::new(nitro_tests::nitro_bin()).args(["host", proj.to_str().context("utf-8")?, "--relay-only"]).output()?;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs a TURN server"));
    Ok(())
}
