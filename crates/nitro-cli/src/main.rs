//! `nitro`: the headless NitroIDE peer.

mod attach;
mod console;

use std::collections::HashMap;
use std::io::IsTerminal;
use std::net::IpAddr;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use nitro_engine::engine::presence::PeerPresence;
use nitro_engine::engine::{DEFAULT_MAX_FILE_SIZE, Engine, EngineConfig, EngineEvent, EngineHandle, Invites, Leaving, PeerInfo};
use nitro_engine::link::IceServer;
use nitro_engine::protocol::Invite;
use nitro_engine::settings::{self, Settings};
use tracing_subscriber::EnvFilter;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Share a folder and edit it together, peer to peer.
///
/// The host shares a folder and prints an invite link; whoever runs `nitro
/// join` with that link gets a live copy of the folder. Changes made on either
/// side, by any editor, reach the other; concurrent edits to one file merge.
#[derive(Parser)]
#[command(name = "nitro", version, propagate_version = true)]
struct Cli {
    /// More log output on standard error (-v: info, -vv: debug). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Share a folder: prints two invite lines on standard output, the edit
    /// link and then the read-only link (nitroide://...&r=view), and runs
    /// until Ctrl+C or SIGTERM. Lines typed on standard input change who
    /// is in (`help` lists them).
    Host {
        /// The folder to share.
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Port of the built-in signaling endpoint that joiners contact (0: the
        /// port used last time for this folder, so invite links keep working,
        /// else any free port).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Ask on this terminal before letting anyone new in (members who
        /// were let in before come back without asking).
        #[arg(long, conflicts_with = "term")]
        approve: bool,
        #[command(flatten)]
        common: Common,
    },
    /// Join a shared workspace and keep DIR in sync with it until Ctrl+C or SIGTERM.
    Join {
        /// The invite link printed by `nitro host` (quote it in the shell).
        link: String,
        /// Where to mirror the workspace: a new or empty folder, or one that
        /// already holds this workspace from an earlier join.
        dir: PathBuf,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Args)]
struct Common {
    /// The name other peers see.
    #[arg(long, env = "NITRO_NAME")]
    name: Option<String>,
    /// Use only this local address for signaling and peer connections
    /// (for example 127.0.0.1); by default every interface is used.
    #[arg(long)]
    bind: Option<IpAddr>,
    /// Signal through this y-webrtc signaling server (ws:// or wss://) instead
    /// of the host's built-in endpoint.
    #[arg(long)]
    signal: Option<url::Url>,
    /// Files larger than this many bytes are listed but not shared.
    #[arg(long, default_value_t = DEFAULT_MAX_FILE_SIZE)]
    max_file_size: u64,
    /// Print where the other peers are (file, line:column, typing) as it changes.
    #[arg(long)]
    presence: bool,
    /// Attach this terminal to a shared terminal: `new` opens a shell here,
    /// `first` shows the session's first terminal (waiting for one), or a
    /// terminal id. Without a value: `new` for a host, `first` for a joiner.
    /// Ctrl+] leaves.
    #[arg(long, value_name = "TERMINAL", num_args = 0..=1, default_missing_value = "auto")]
    term: Option<attach::Target>,
    /// Let the peer with this name or peer id type into the terminals this
    /// peer opens (repeat for more; `all` for everyone who joins).
    #[arg(long, value_name = "NAME")]
    grant: Vec<String>,
    /// A STUN or TURN server for NAT traversal, such as
    /// `stun:stun.example.org:3478` or `turn:turn.example.org:3478?transport=udp`
    /// (repeat for more). Adds to the servers of the config file.
    #[arg(long = "ice-server", value_name = "URL")]
    ice_servers: Vec<String>,
    /// User name for the TURN servers given with --ice-server.
    #[arg(long, default_value = "")]
    ice_username: String,
    /// Password for the TURN servers given with --ice-server.
    #[arg(long, env = "NITRO_ICE_CREDENTIAL", default_value = "", hide_env_values = true)]
    ice_credential: String,
    /// Connect only through TURN relays: peers never learn each other's addresses.
    #[arg(long)]
    relay_only: bool,
    /// Share files whose names say they hold secrets (`.env`, `.ssh/`,
    /// private keys) even when git does not track them; by default they
    /// stay on this machine.
    #[arg(long)]
    share_secrets: bool,
    /// Let every peer use this peer's language servers (diagnostics,
    /// completion, go to definition, ...) when it has none of its own.
    #[arg(long)]
    serve_lsp: bool,
    /// Settings file shared with the app (TOML: `bind`, `signal`,
    /// `relay_only` and `[[ice_servers]]` tables with `urls`, `username`,
    /// `credential`); flags win over it. Default:
    /// $XDG_CONFIG_HOME/nitroide/config.toml, if it exists.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

impl Common {
    fn config(self, dir: PathBuf) -> Result<EngineConfig> {
        let settings = load_settings(self.config.as_deref())?;
        let mut ice = settings.ice.clone();
        if !self.ice_servers.is_empty() {
            ice.servers.push(IceServer { urls: self.ice_servers, username: self.ice_username, credential: self.ice_credential });
        }
        ice.relay_only |= self.relay_only;
        if ice.relay_only && !ice.servers.iter().any(|s| s.urls.iter().any(|u| u.starts_with("turn"))) {
            anyhow::bail!("--relay-only needs a TURN server (--ice-server turn:... or the config file)");
        }
        let name = self.name.unwrap_or_else(default_name);
        let mut cfg = EngineConfig::new(dir, name);
        settings.apply(&mut cfg);
        cfg.bind = self.bind.or(cfg.bind);
        cfg.signal = self.signal.or(cfg.signal);
        cfg.max_file_size = self.max_file_size;
        cfg.ice = ice;
        cfg.share_secrets = self.share_secrets;
        cfg.serve_lsp = self.serve_lsp;
        Ok(cfg)
    }
}

/// The settings file: `path`, or the default one when it exists.
fn load_settings(path: Option<&std::path::Path>) -> Result<Settings> {
    let Some(path) = path.map(PathBuf::from).or_else(|| settings::default_path().filter(|p| p.exists())) else {
        return Ok(Settings::default());
    };
    if !path.exists() {
        anyhow::bail!("{} does not exist", path.display());
    }
    Ok(Settings::load(&path)?)
}

fn default_name() -> String {
    std::env::var("USER").or_else(|_| std::env::var("USERNAME")).unwrap_or_else(|_| "anonymous".into())
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    // The WebRTC stack warns about routine events (a probe before the answer
    // arrived, ...): keep it to errors unless asked for more.
    let level = match cli.verbose {
        0 => "warn,rtc=error,rtc_ice=error,rtc_dtls=error,rtc_sctp=error,webrtc=error",
        1 => "info,rtc=warn,rtc_ice=warn,rtc_dtls=warn,rtc_sctp=warn,webrtc=warn",
        _ => "debug",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(std::io::stderr().is_terminal()).init();
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(run(cli.command))
}

async fn run(command: Command) -> Result<()> {
    let (Command::Host { common, .. } | Command::Join { common, .. }) = &command;
    let (show_presence, target, grant) = (common.presence, common.term.clone(), common.grant.clone());
    let hosting = matches!(command, Command::Host { .. });
    let engine = match command {
        Command::Host { dir, port, approve, common } => {
            let mut cfg = common.config(dir.clone())?;
            cfg.port = port;
            cfg.approve = approve;
            let progress = tokio::spawn(show_scan(cfg.scan.clone()));
            let engine = Engine::host(cfg).await;
            progress.abort();
            if std::io::stderr().is_terminal() {
                eprint!("\r\x1b[K");
            }
            let engine = engine.with_context(|| format!("cannot share {}", dir.display()))?;
            if let Some(links) = engine.invites() {
                print_links(&links);
            }
            eprintln!(
                "Sharing {}. Above: the edit link, then the read-only link (it lets people watch, not change anything). Ctrl+C stops.",
                dir.display()
            );
            let withheld = engine.withheld_secrets().await?;
            if !withheld.is_empty() {
                let names: Vec<String> = withheld.iter().map(ToString::to_string).collect();
                eprintln!("Not shared, as their names say they hold secrets (--share-secrets shares them): {}", names.join(", "));
            }
            engine
        }
        Command::Join { link, dir, common } => {
            let invite = Invite::parse(&link).context("cannot read the invite link")?;
            let invite_name = invite.host_name.clone();
            let who = if invite_name.is_empty() { "the host".to_owned() } else { invite_name.clone() };
            let how = if invite.view { " (read-only link)" } else { "" };
            eprintln!("Joining {who}'s workspace into {}{how} ...", dir.display());
            let cfg = common.config(dir.clone())?;
            let mut waiting = cfg.waiting.subscribe();
            let say = tokio::spawn(async move {
                while waiting.changed().await.is_ok() {
                    if *waiting.borrow() {
                        eprintln!("Waiting for {who} to let you in ...");
                    }
                }
            });
            let joined = Engine::join(cfg, invite).await;
            say.abort();
            let who = if invite_name.is_empty() { "the host".to_owned() } else { invite_name };
            let engine = joined.with_context(|| format!("cannot join {who}'s workspace"))?;
            eprintln!("Joined: {} is in sync. Ctrl+C stops.", dir.display());
            engine
        }
    };
    let console = (hosting && target.is_none()).then(console::Console::start);
    serve(engine, Serve { show_presence, attach: target, grant, console }).await
}

/// On a terminal, how far reading a large folder got (from a second on).
async fn show_scan(scan: std::sync::Arc<nitro_engine::engine::workspace::ScanProgress>) {
    use std::sync::atomic::Ordering;
    if !std::io::stderr().is_terminal() {
        return;
    }
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    loop {
        let (found, read) = (scan.found.load(Ordering::Relaxed), scan.read.load(Ordering::Relaxed));
        if found == 0 {
            eprint!("\r\x1b[KListing the folder ...");
        } else {
            eprint!("\r\x1b[KReading the folder: {read} of {found} files (Ctrl+C stops)");
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

struct Serve {
    show_presence: bool,
    attach: Option<attach::Target>,
    /// Names of peers that may type into our terminals (`all`: everyone).
    grant: Vec<String>,
    /// For a host not attached to a terminal: lines typed on standard input.
    console: Option<console::Console>,
}

/// Reports peers coming and going (and, with `--presence`, where they are)
/// until Ctrl+C or SIGTERM (or the attached terminal ends), then shuts down.
async fn serve(engine: EngineHandle, mut opts: Serve) -> Result<()> {
    let mut events = engine.subscribe();
    let mut shown: HashMap<String, String> = HashMap::new();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let attached = async {
        match opts.attach.clone() {
            Some(target) => attach::attach(&engine, target).await,
            None => std::future::pending().await,
        }
    };
    let outcome = {
        tokio::pin!(attached);
        let show_presence = opts.show_presence;
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => break Ok(()),
                _ = term.recv() => break Ok(()),
                done = &mut attached => break done.map(drop),
                line = next_line(&mut opts.console) => {
                    if let Some(c) = opts.console.as_mut() {
                        c.run(&engine, &line).await;
                    }
                }
                ev = events.recv() => match ev {
                    Ok(EngineEvent::PeerJoined { name, .. }) => {
                        eprintln!("{name} joined");
                        grant_writers(&engine, &opts.grant).await;
                    }
                    Ok(EngineEvent::Terminals) => grant_writers(&engine, &opts.grant).await,
                    Ok(EngineEvent::PeerLeft { name, why: Leaving::Goodbye(_), .. }) => eprintln!("{name} left"),
                    Ok(EngineEvent::PeerLeft { name, why, .. }) => eprintln!("{name} left ({why})"),
                    Ok(EngineEvent::JoinRequest(request)) => match opts.console.as_mut() {
                        Some(c) => c.ask(request),
                        None => eprintln!("{} waits to be let in, but this terminal is attached to a shell: nobody can answer here", request.name),
                    },
                    Ok(EngineEvent::JoinWithdrawn { peer }) => {
                        if let Some(c) = opts.console.as_mut() {
                            c.withdrawn(&peer);
                        }
                    }
                    Ok(EngineEvent::WriteUndone { path, kept }) => match kept {
                        Some(kept) => eprintln!("{path}: this peer has a read-only role, so your change is not shared; the file was put back and your text kept in {}", kept.display()),
                        None => eprintln!("{path}: this peer has a read-only role, so the file was put back"),
                    },
                    Ok(EngineEvent::Presence(p)) if show_presence => {
                        let line = describe(&engine, &p).await;
                        if shown.get(p.peer.as_str()) != Some(&line) {
                            eprintln!("{line}");
                            shown.insert(p.peer.as_str().to_owned(), line);
                        }
                    }
                    Ok(_) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break Ok(()),
                }
            }
        }
    };
    engine.shutdown().await.context("shutting down")?;
    outcome
}

/// The edit link, then the read-only link, on standard output in one write:
/// a reader that takes the first line and closes the pipe (a script, say)
/// has both already, and never makes the host fail.
fn print_links(links: &Invites) {
    use std::io::Write as _;
    let text = format!("{}\n{}\n", links.edit.to_link(), links.view.to_link());
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        tracing::debug!(error = %e, "standard output is closed");
    }
}

/// The next line typed on the host's console, if it has one.
async fn next_line(console: &mut Option<console::Console>) -> String {
    match console {
        Some(c) => c.line().await,
        None => std::future::pending().await,
    }
}

/// Gives the peers named in `--grant` write access to our terminals.
async fn grant_writers(engine: &EngineHandle, names: &[String]) {
    if names.is_empty() {
        return;
    }
    let (Ok(peers), Ok(terminals)) = (engine.peers().await, engine.terminals().await) else {
        return;
    };
    // Names are chosen by the peers themselves: one that two peers use
    // grants nobody.
    let granted = |p: &PeerInfo| {
        names.iter().any(|n| n == "all" || *n == p.peer.as_str()) || names.contains(&p.name) && peers.iter().filter(|q| q.name == p.name).count() == 1
    };
    for name in names.iter().filter(|n| *n != "all") {
        if peers.iter().filter(|p| p.name == *name).count() > 1 {
            eprintln!("Two peers are named {name}: neither may type until one of them leaves.");
        }
    }
    for t in terminals.iter().filter(|t| &t.owner == engine.me() && t.exit.is_none()) {
        for p in peers.iter().filter(|p| granted(p) && !t.writers.contains(&p.peer)) {
            if let Err(e) = engine.grant_terminal(t.id, p.peer.clone(), true).await {
                tracing::warn!(error = %e, "could not grant terminal access");
            }
        }
    }
}

/// "ada: src/main.rs 12:5, typing", with 1-based line and column.
async fn describe(engine: &EngineHandle, p: &PeerPresence) -> String {
    let Some(path) = &p.file else {
        return format!("{}: no file open", p.name);
    };
    let mut out = format!("{}: {path}", p.name);
    if let (Some(sel), Ok((text, _))) = (p.selections.first(), engine.text(path.clone()).await) {
        let before: Vec<u16> = text.encode_utf16().take(sel.head).collect();
        let before = String::from_utf16_lossy(&before);
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        out.push_str(&format!(" {line}:{col}"));
        if sel.anchor != sel.head {
            out.push_str(" (selection)");
        }
    }
    if p.typing {
        out.push_str(", typing");
    }
    out
}
