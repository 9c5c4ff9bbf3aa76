//! Helpers for the end-to-end tests: real `nitro` processes on loopback,
//! real folders, and a way to wait for them to agree.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

pub mod session;
pub mod webdriver;

/// How long peers get to converge before a test gives up. A deadline for a
/// condition, not a measurement: speed is measured in the benchmarks.
pub const CONVERGE: Duration = Duration::from_secs(20);

/// The `nitro` binary built beside this test binary (`target/<profile>/nitro`).
pub fn nitro_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe.parent().and_then(Path::parent).expect("target profile folder");
    let bin = dir.join("nitro");
    assert!(bin.exists(), "{} is missing: build it with `cargo build -p nitro-cli` (the test command does)", bin.display());
    bin
}

/// A running `nitro` process; killed when dropped.
pub struct Peer {
    child: Child,
    pub dir: PathBuf,
    pub stderr_path: PathBuf,
    /// The invite link, for a host.
    pub link: Option<String>,
}

/// `nitro`, or `nitro` inside a network namespace.
fn nitro(netns: Option<&str>) -> Command {
    match netns {
        None => Command::new(nitro_bin()),
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns]).arg(nitro_bin());
            c
        }
    }
}

impl Peer {
    /// Starts `nitro host DIR` on loopback and waits for its invite line.
    pub fn host(dir: &Path, extra: &[&str]) -> Result<Self> {
        Self::host_at(None, "127.0.0.1", dir, extra)
    }

    /// Starts `nitro host DIR` bound to `ip`, in network namespace `netns`.
    pub fn host_at(netns: Option<&str>, ip: &str, dir: &Path, extra: &[&str]) -> Result<Self> {
        let stderr_path = dir.with_extension("host.log");
        let mut child = nitro(netns)
            .args(["host", path_str(dir)?, "--bind", ip, "--name", "host"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr_path)?)
            .spawn()
            .context("starting nitro host")?;
        let stdout = child.stdout.take().context("host stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).context("reading the invite line")?;
        let link = line.trim().to_owned();
        if !link.starts_with("nitroide://") {
            bail!("host printed {link:?} instead of an invite; its log: {}", std::fs::read_to_string(&stderr_path)?);
        }
        Ok(Self { child, dir: dir.to_owned(), stderr_path, link: Some(link) })
    }

    /// Starts `nitro join LINK DIR` on loopback; returns once it reports that
    /// the workspace is in sync, or fails with its log.
    pub fn join(link: &str, dir: &Path, name: &str, extra: &[&str]) -> Result<Self> {
        Self::join_at(None, "127.0.0.1", link, dir, name, extra)
    }

    /// Like [`Self::join`], bound to `ip`, in network namespace `netns`.
    pub fn join_at(netns: Option<&str>, ip: &str, link: &str, dir: &Path, name: &str, extra: &[&str]) -> Result<Self> {
        let stderr_path = dir.with_extension(format!("{name}.log"));
        let child = nitro(netns)
            .args(["join", link, path_str(dir)?, "--bind", ip, "--name", name])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr_path)?)
            .spawn()
            .context("starting nitro join")?;
        let mut peer = Self { child, dir: dir.to_owned(), stderr_path, link: None };
        wait_for(CONVERGE, || {
            if let Some(status) = peer.child.try_wait()? {
                bail!("join exited with {status}: {}", peer.log());
            }
            Ok(peer.log().contains("Joined:"))
        })
        .with_context(|| format!("joining; log: {}", peer.log()))?;
        Ok(peer)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(mut self) -> Result<ExitStatus> {
        let pid = self.child.id().to_string();
        anyhow::ensure!(self.child.try_wait()?.is_none(), "nitro already exited: {}", self.log());
        Command::new("kill").args(["-TERM", &pid]).status()?;
        let deadline = Instant::now() + CONVERGE;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() > deadline {
                bail!("nitro did not exit after SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn path_str(p: &Path) -> Result<&str> {
    p.to_str().context("test paths are UTF-8")
}

/// Runs a joiner to completion: for joins that must fail.
pub fn join_expecting_failure(link: &str, dir: &Path) -> Result<(ExitStatus, String)> {
    let out = Command::new(nitro_bin())
        .args(["join", link, path_str(dir)?, "--bind", "127.0.0.1", "--name", "intruder"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()?;
    Ok((out.status, String::from_utf8_lossy(&out.stderr).into_owned()))
}

/// Polls `cond` every 50 ms until it holds or `limit` passes.
pub fn wait_for(limit: Duration, mut cond: impl FnMut() -> Result<bool>) -> Result<()> {
    let deadline = Instant::now() + limit;
    loop {
        if cond()? {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("condition not met within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Every file and folder under `root` (the state folder `.nitro` left out):
/// folders end in `/` and map to nothing, files map to their bytes.
pub fn snapshot(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            let Ok(rel) = path.strip_prefix(root) else {
                continue;
            };
            let rel = rel.to_string_lossy().into_owned();
            if rel == ".nitro" || rel.starts_with(".nitro/") {
                continue;
            }
            match e.file_type() {
                Ok(t) if t.is_dir() => {
                    stack.push(path);
                    out.insert(format!("{rel}/"), Vec::new());
                }
                Ok(_) => {
                    if let Ok(bytes) = std::fs::read(&path) {
                        out.insert(rel, bytes);
                    }
                }
                Err(_) => {}
            }
        }
    }
    out
}

/// Writes files (creating folders) under `root`.
pub fn write_files(root: &Path, files: &[(&str, &[u8])]) -> Result<()> {
    for (rel, bytes) in files {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().context("parent")?)?;
        std::fs::write(p, bytes)?;
    }
    Ok(())
}

/// Runs a shell command in `dir`, as a user at a prompt would.
pub fn sh(dir: &Path, script: &str) -> Result<()> {
    let status = Command::new("sh").arg("-c").arg(script).current_dir(dir).status()?;
    if !status.success() {
        bail!("`{script}` failed: {status}");
    }
    Ok(())
}

pub fn read(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// Two test hosts on this machine: network namespaces joined by a veth
/// pair, so the link between them can be cut and restored. Needs root; the
/// namespaces are removed when this is dropped.
pub struct TwoHosts {
    pub a: String,
    pub b: String,
    pub ip_a: String,
    pub ip_b: String,
    veth_a: String,
}

impl TwoHosts {
    pub fn new() -> Result<Self> {
        let id = std::process::id() % 50_000;
        let (a, b) = (format!("nitro-a{id}"), format!("nitro-b{id}"));
        let (veth_a, veth_b) = (format!("nva{id}"), format!("nvb{id}"));
        let net = format!("10.{}.{}", 100 + id % 100, id / 100 % 250);
        let (ip_a, ip_b) = (format!("{net}.1"), format!("{net}.2"));
        let hosts = Self { a: a.clone(), b: b.clone(), ip_a: ip_a.clone(), ip_b: ip_b.clone(), veth_a: veth_a.clone() };
        ip(&["netns", "add", &a]).context("creating a network namespace needs root")?;
        ip(&["netns", "add", &b])?;
        ip(&["link", "add", &veth_a, "type", "veth", "peer", "name", &veth_b])?;
        ip(&["link", "set", &veth_a, "netns", &a])?;
        ip(&["link", "set", &veth_b, "netns", &b])?;
        ip(&["-n", &a, "addr", "add", &format!("{ip_a}/24"), "dev", &veth_a])?;
        ip(&["-n", &b, "addr", "add", &format!("{ip_b}/24"), "dev", &veth_b])?;
        for (ns, dev) in [(&a, &veth_a), (&b, &veth_b)] {
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
            ip(&["-n", ns, "link", "set", dev, "up"])?;
        }
        Ok(hosts)
    }

    /// Cuts the link between the two hosts; each still reaches itself.
    pub fn cut(&self) -> Result<()> {
        ip(&["-n", &self.a, "link", "set", &self.veth_a, "down"])
    }

    pub fn heal(&self) -> Result<()> {
        ip(&["-n", &self.a, "link", "set", &self.veth_a, "up"])
    }
}

impl Drop for TwoHosts {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.a]);
        let _ = ip(&["netns", "del", &self.b]);
    }
}

fn ip(args: &[&str]) -> Result<()> {
    let out = Command::new("ip").args(args).output().context("running ip (Debian's iproute2)")?;
    if !out.status.success() {
        bail!("ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}

/// A real TURN server (Debian's coturn) on loopback, user `nitro`,
/// password `s3cret`; stopped when dropped.
pub struct Turn {
    child: Child,
    log: PathBuf,
}

impl Turn {
    pub fn log(&self) -> String {
        read(&self.log).unwrap_or_default()
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts coturn with its log in `dir`; returns it and its port.
pub fn start_turn(dir: &Path) -> Result<(Turn, u16)> {
    let port = UdpSocket::bind("127.0.0.1:0")?.local_addr()?.port();
    let log = dir.join("turn.log");
    let child = Command::new("turnserver")
        .args(["-n", "--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1", "--allow-loopback-peers"])
        .arg(format!("--listening-port={port}"))
        // A relay port range of its own, so two servers in parallel tests never collide.
        .args([format!("--min-port={}", 30_000 + (port % 60) * 500), format!("--max-port={}", 30_499 + (port % 60) * 500)])
        .args(["--user=nitro:s3cret", "--realm=nitroide", "--lt-cred-mech"])
        .args(["--no-tls", "--no-dtls", "--no-cli", "--log-file=stdout", "-v"])
        .stdout(std::fs::File::create(&log)?)
        .stderr(Stdio::null())
        .spawn()
        .context("starting turnserver: install Debian's coturn (.ci/test does)")?;
    let turn = Turn { child, log };
    wait_for(CONVERGE, || Ok(read(&turn.log).unwrap_or_default().contains("Total General servers")))?;
    Ok((turn, port))
}

/// A UDP relay in front of a server that drops a settable share of the
/// datagrams in both directions: a lossy link, in user space.
pub struct LossyRelay {
    pub port: u16,
    /// Datagrams dropped, per thousand.
    loss: std::sync::Arc<std::sync::atomic::AtomicU32>,
}

impl LossyRelay {
    /// Relays `127.0.0.1:<port>` to `target`, one upstream socket per client.
    pub fn start(target: std::net::SocketAddr) -> Result<Self> {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicU32, Ordering};
        let front = Arc::new(UdpSocket::bind("127.0.0.1:0")?);
        let port = front.local_addr()?.port();
        let loss = Arc::new(AtomicU32::new(0));
        let (f, l) = (front.clone(), loss.clone());
        std::thread::spawn(move || {
            let mut clients: std::collections::HashMap<std::net::SocketAddr, Arc<UdpSocket>> = Default::default();
            let mut buf = [0u8; 65536];
            let mut n: u64 = 0;
            while let Ok((len, from)) = f.recv_from(&mut buf) {
                let back = clients.entry(from).or_insert_with(|| {
                    let back = Arc::new(UdpSocket::bind("127.0.0.1:0").expect("bind upstream"));
                    let _ = back.connect(target);
                    let (b, f, l) = (back.clone(), f.clone(), l.clone());
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 65536];
                        let mut n: u64 = 0;
                        while let Ok(len) = b.recv(&mut buf) {
                            n += 1;
                            if !dropped(n, l.load(Ordering::Relaxed)) {
                                let _ = f.send_to(&buf[..len], from);
                            }
                        }
                    });
                    back
                });
                n += 1;
                if !dropped(n, l.load(Ordering::Relaxed)) {
                    let _ = back.send(&buf[..len]);
                }
            }
        });
        Ok(Self { port, loss })
    }

    /// Drops `per_mille` of every thousand datagrams from now on.
    pub fn set_loss(&self, per_mille: u32) {
        self.loss.store(per_mille, std::sync::atomic::Ordering::Relaxed);
    }
}

/// A fixed pseudo-random pattern, so a run is repeatable.
fn dropped(n: u64, per_mille: u32) -> bool {
    (n.wrapping_mul(2_654_435_761) % 1000) < u64::from(per_mille)
}

/// An engine configuration on loopback, for peers in the test's own process.
pub fn loopback_config(dir: &Path, name: &str) -> nitro_engine::engine::EngineConfig {
    let mut cfg = nitro_engine::engine::EngineConfig::new(dir, name);
    cfg.bind = Some(std::net::Ipv4Addr::LOCALHOST.into());
    cfg
}

/// An engine whose signaling is on loopback and whose links are made on
/// `net`, in this process.
pub fn memory_config(dir: &Path, name: &str, net: &nitro_engine::link::memory::MemNet) -> nitro_engine::engine::EngineConfig {
    let mut cfg = loopback_config(dir, name);
    cfg.net = Some(net.clone());
    cfg
}

/// What benchmarks print and compute.
pub mod bench {
    use std::time::{Duration, Instant};

    use anyhow::Result;
    use automerge::sync::{Message, State, SyncDoc};
    use automerge::{AutoCommit, TextEncoding};

    /// CPU, cores, memory and kernel of this machine.
    pub fn machine() -> String {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let model = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map_or_else(|| "unknown CPU".into(), |l| l.trim_start_matches([' ', '\t', ':']).to_owned());
        let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
        let mem_gib = std::fs::read_to_string("/proc/meminfo")
            .unwrap_or_default()
            .lines()
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .nth(1)
            .and_then(|k| k.parse::<u64>().ok())
            .map_or(0, |k| k / 1024 / 1024);
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        format!("{model}, {cores} cores, {mem_gib} GiB, Linux {}", kernel.trim())
    }

    /// The `p` quantile of sorted durations.
    pub fn pct(sorted: &[Duration], p: f64) -> Duration {
        sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
    }

    pub fn ms(d: Duration) -> String {
        format!("{:.2} ms", d.as_secs_f64() * 1000.0)
    }

    /// Raw Automerge: a full sync of `doc` to an empty document in this
    /// process, as a baseline. Returns the time, the bytes exchanged and the copy.
    pub fn full_sync(doc: &mut AutoCommit) -> Result<(Duration, usize, AutoCommit)> {
        let mut other = AutoCommit::new_with_encoding(TextEncoding::Utf16CodeUnit);
        let (mut a, mut b) = (State::new(), State::new());
        let (mut bytes, t) = (0, Instant::now());
        loop {
            let m1 = doc.sync().generate_sync_message(&mut a).map(Message::encode);
            if let Some(m) = &m1 {
                bytes += m.len();
                other.sync().receive_sync_message(&mut b, Message::decode(m)?)?;
            }
            let m2 = other.sync().generate_sync_message(&mut b).map(Message::encode);
            if let Some(m) = &m2 {
                bytes += m.len();
                doc.sync().receive_sync_message(&mut a, Message::decode(m)?)?;
            }
            if m1.is_none() && m2.is_none() {
                return Ok((t.elapsed(), bytes, other));
            }
        }
    }
}

/// Waits (up to [`CONVERGE`]) for the first event `pick` accepts.
pub async fn next_event<T>(
    events: &mut tokio::sync::broadcast::Receiver<nitro_engine::engine::EngineEvent>,
    mut pick: impl FnMut(nitro_engine::engine::EngineEvent) -> Option<T>,
) -> Result<T> {
    use tokio::sync::broadcast::error::RecvError;
    tokio::time::timeout(CONVERGE, async {
        loop {
            match events.recv().await {
                Ok(ev) => {
                    if let Some(found) = pick(ev) {
                        return Ok(found);
                    }
                }
                Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => bail!("the engine stopped"),
            }
        }
    })
    .await
    .context("the event did not come")?
}

/// Peak resident memory of a process, in MiB.
pub fn peak_rss_mib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("VmHWM")?;
    Ok(kib / 1024)
}

/// A `nitro host --term` process whose shell reads the test's commands,
/// and guests attached to that terminal (`nitro join --term`), each writing
/// what its terminal shows into a file.
pub struct TermSession {
    pub host: Child,
    stdin: std::process::ChildStdin,
    /// Each guest, and the file its terminal output goes to.
    pub guests: Vec<(Child, PathBuf)>,
}

impl TermSession {
    /// Starts the host in `root/host` and `guests` joiners, and waits until
    /// every guest shows the terminal.
    pub fn start(bin: &Path, root: &Path, guests: usize) -> Result<Self> {
        let dir = root.join("host");
        write_files(&dir, &[("README.md", b"terminal\n")])?;
        let mut host = Command::new(bin)
            .args(["host", path_str(&dir)?, "--bind", "127.0.0.1", "--name", "host", "--term"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(root.join("host.log"))?)
            .spawn()?;
        let mut out = BufReader::new(host.stdout.take().context("host stdout")?);
        let mut link = String::new();
        out.read_line(&mut link)?;
        // The host's own copy of the output is drained so it never blocks.
        std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
        let stdin = host.stdin.take().context("host stdin")?;
        let mut session = Self { host, stdin, guests: Vec::new() };
        for i in 0..guests {
            let (out, log) = (root.join(format!("guest{i}.out")), root.join(format!("guest{i}.log")));
            let child = Command::new(bin)
                .args([
                    "join",
                    link.trim(),
                    path_str(&root.join(format!("guest{i}")))?,
                    "--bind",
                    "127.0.0.1",
                    "--name",
                    &format!("guest{i}"),
                    "--term",
                ])
                .stdin(Stdio::null())
                .stdout(std::fs::File::create(&out)?)
                .stderr(std::fs::File::create(&log)?)
                .spawn()?;
            session.guests.push((child, out));
            wait_for(CONVERGE, || Ok(std::fs::read_to_string(&log)?.contains("Attached to terminal")))?;
        }
        Ok(session)
    }

    /// Types a command line into the host's shell.
    pub fn run(&mut self, command: &str) -> Result<()> {
        use std::io::Write;
        writeln!(self.stdin, "{command}")?;
        Ok(())
    }

    /// Waits until every guest's terminal shows `marker`, checking the end of
    /// each output file.
    pub fn wait_all(&self, marker: &str, limit: Duration) -> Result<()> {
        use std::io::{Read, Seek, SeekFrom};
        for (_, out) in &self.guests {
            wait_for(limit, || {
                let mut f = std::fs::File::open(out)?;
                let len = f.metadata()?.len();
                f.seek(SeekFrom::Start(len.saturating_sub(256)))?;
                let mut tail = String::new();
                f.read_to_string(&mut tail).ok();
                Ok(tail.contains(marker))
            })?;
        }
        Ok(())
    }

    /// Peak memory of the host, then of each guest, in MiB.
    pub fn peak_rss(&self) -> Result<Vec<u64>> {
        std::iter::once(&self.host).chain(self.guests.iter().map(|g| &g.0)).map(|c| peak_rss_mib(c.id())).collect()
    }
}

impl Drop for TermSession {
    fn drop(&mut self) {
        for c in std::iter::once(&mut self.host).chain(self.guests.iter_mut().map(|g| &mut g.0)) {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A TCP port that was free a moment ago, on loopback.
pub fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}
