//! A session signaled through an unmodified y-webrtc signaling server (from
//! npm, `tests/node_modules`), started on loopback.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use anyhow::{Context, Result};
use nitro_tests::{CONVERGE, Peer, read, sh, wait_for, write_files};

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_server() -> Result<(Server, u16)> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("node_modules/y-webrtc/bin/server.js");
    anyhow::ensure!(script.exists(), "{} is missing: run `npm ci --prefix tests` (the test command does)", script.display());
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let child = Command::new("node")
        .arg(&script)
        .env("PORT", port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting node")?;
    let server = Server(child);
    wait_for(CONVERGE, || Ok(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()))?;
    Ok((server, port))
}

#[test]
fn peers_signal_through_a_y_webrtc_server() -> Result<()> {
    let (_server, port) = start_server()?;
    let url = format!("ws://127.0.0.1:{port}");
    let tmp = tempfile::tempdir()?;
    let proj = tmp.path().join("project");
    write_files(&proj, &[("hello.txt", b"via y-webrtc\n")])?;
    let host = Peer::host(&proj, &["--signal", &url])?;
    let link = host.link.clone().unwrap_or_default();
    assert!(link.contains(&format!("ws=ws%3A%2F%2F127.0.0.1%3A{port}")), "the invite names the server: {link}");

    let guest = Peer::join(&link, &tmp.path().join("pair"), "guest", &[])?;
    assert_eq!(read(&guest.dir.join("hello.txt")).as_deref(), Some("via y-webrtc\n"));
    sh(&guest.dir, "echo back >> hello.txt")?;
    wait_for(CONVERGE, || Ok(read(&host.dir.join("hello.txt")).as_deref() == Some("via y-webrtc\nback\n")))?;
    Ok(())
}
