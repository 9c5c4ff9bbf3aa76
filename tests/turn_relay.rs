//! Relay-only ICE through a real TURN server (coturn, Debian's `coturn`)
//! started on loopback.

use std::net::UdpSocket;
use std::process::{Child, Command, Stdio};

use anyhow::{Context, Result};
use nitro_tests::{read, sh, wait_for, write_files, Peer, CONVERGE};

struct Turn {
    child: Child,
    log: std::path::PathBuf,
}

impl Drop for Turn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_turn(dir: &std::path::Path) -> Result<(Turn, u16)> {
    let port = UdpSocket::bind("127.0.0.1:0")?.local_addr()?.port();
    let log = dir.join("turn.log");
    let child = Command::new("turnserver")
        .args(["-n", "--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1", "--allow-loopback-peers"])
        .arg(format!("--listening-port={port}"))
        .args(["--min-port=42000", "--max-port=42999", "--user=nitro:s3cret", "--realm=nitroide", "--lt-cred-mech"])
        .args(["--no-tls", "--no-dtls", "--no-cli", "--log-file=stdout", "-v"])
        .stdout(std::fs::File::create(&log)?)
        .stderr(Stdio::null())
        .spawn()
        .context("starting turnserver: install Debian's coturn (.ci/run does)")?;
    let turn = Turn { child, log };
    wait_for(CONVERGE, || Ok(read(&turn.log).unwrap_or_default().contains("Total General servers")))?;
    Ok((turn, port))
}

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
    let log = read(&turn.log).unwrap_or_default();
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
