//! The host's console on standard input: answers joiners waiting to be let
//! in, and takes commands that change who is in.

use std::collections::VecDeque;
use std::io::BufRead;

use nitro_engine::engine::admission::{JoinRequest, LinkKind};
use nitro_engine::engine::{EngineHandle, MemberInfo};
use nitro_engine::protocol::PeerId;
use nitro_engine::protocol::membership::Role;
use tokio::sync::mpsc;

pub const HELP: &str =
    "Commands: editor NAME, viewer NAME, remove NAME (a name or peer id), members, deny all (everyone waiting), links (new invite links), help.";

pub struct Console {
    lines: mpsc::Receiver<String>,
    open: bool,
    /// Joiners waiting for an answer; the first one is being asked.
    waiting: VecDeque<JoinRequest>,
}

impl Console {
    /// Reads standard input, a line at a time, on a thread of its own.
    pub fn start() -> Self {
        let (tx, lines) = mpsc::channel(16);
        std::thread::spawn(move || {
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { break };
                if tx.blocking_send(line).is_err() {
                    break;
                }
            }
        });
        Self { lines, open: true, waiting: VecDeque::new() }
    }

    /// The next line typed; pends forever once standard input is closed.
    pub async fn line(&mut self) -> String {
        if self.open
            && let Some(line) = self.lines.recv().await
        {
            return line;
        }
        self.open = false;
        std::future::pending().await
    }

    /// Someone waits to be let in: asked now, or after those before it.
    pub fn ask(&mut self, request: JoinRequest) {
        self.waiting.retain(|r| r.peer != request.peer);
        self.waiting.push_back(request);
        if self.waiting.len() == 1 {
            self.prompt();
        }
    }

    /// A joiner that gave up before it was answered.
    pub fn withdrawn(&mut self, peer: &PeerId) {
        let first = self.waiting.front().is_some_and(|r| &r.peer == peer);
        self.waiting.retain(|r| &r.peer != peer);
        if first {
            eprintln!("(they stopped waiting)");
            self.prompt();
        }
    }

    fn prompt(&self) {
        if let Some(r) = self.waiting.front() {
            let link = match r.link {
                LinkKind::Edit => "the edit link",
                LinkKind::View => "the read-only link",
            };
            eprintln!("{} (id {}) wants to join with {link}. Let them in? [y/N]", r.name, r.peer);
            let others = self.waiting.len() - 1;
            if others > 0 {
                eprintln!(
                    "({others} more waiting after them: `deny all` turns everyone waiting away; `links` makes new links if they are not people you invited)"
                );
            }
        }
    }

    /// Does what a typed line says.
    pub async fn run(&mut self, engine: &EngineHandle, line: &str) {
        let line = line.trim();
        // While someone waits, a yes or a no answers; anything else is a command.
        let answer = match line.to_ascii_lowercase().as_str() {
            "y" | "yes" => Some(true),
            "" | "n" | "no" => Some(false),
            _ => None,
        };
        if let Some(allow) = answer
            && let Some(r) = self.waiting.pop_front()
        {
            match engine.answer_join(r.peer.clone(), allow).await {
                Ok(()) if allow => eprintln!("Let {} in.", r.name),
                Ok(()) => eprintln!("Turned {} away.", r.name),
                Err(e) => eprintln!("{e}"),
            }
            self.prompt();
            return;
        }
        let (word, arg) = line.split_once(' ').map_or((line, ""), |(w, a)| (w, a.trim()));
        let result = match word {
            "" => Ok(()),
            "editor" | "viewer" | "remove" => self.change(engine, word, arg).await,
            "members" => members(engine).await,
            "deny" if arg == "all" => match engine.deny_waiting().await {
                Ok(peers) => {
                    eprintln!("Turned away {} waiting to join.", peers.len());
                    self.waiting.clear();
                    Ok(())
                }
                Err(e) => Err(e.into()),
            },
            "links" => match engine.new_links().await {
                Ok(links) => {
                    crate::print_links(&links);
                    eprintln!("New links above (edit, then read-only); the old ones no longer let anyone new in.");
                    Ok(())
                }
                Err(e) => Err(e.into()),
            },
            _ => {
                eprintln!("{HELP}");
                Ok(())
            }
        };
        if let Err(e) = result {
            eprintln!("{e:#}");
        }
        self.prompt();
    }

    async fn change(&self, engine: &EngineHandle, word: &str, who: &str) -> anyhow::Result<()> {
        let members = engine.members().await?;
        let member = find(&members, who)?;
        let role = match word {
            "editor" => Role::Editor,
            "viewer" => Role::Viewer,
            _ => Role::Removed,
        };
        let before = engine.invites();
        engine.set_role(member.peer.clone(), role).await?;
        match role {
            Role::Removed => eprintln!("Removed {}.", member.name),
            _ => eprintln!("{} is now {word}.", member.name),
        }
        // The links it could come back with under another identity were replaced.
        if let Some(links) = engine.invites().filter(|now| Some(now) != before.as_ref()) {
            crate::print_links(&links);
            eprintln!("New links above (edit, then read-only): the old ones let nobody new in.");
        }
        Ok(())
    }
}

/// The member a name or peer id names; a name two members share names nobody.
fn find<'a>(members: &'a [MemberInfo], who: &str) -> anyhow::Result<&'a MemberInfo> {
    let by_name: Vec<&MemberInfo> = members.iter().filter(|m| m.name == who).collect();
    match (members.iter().find(|m| m.peer.as_str() == who), by_name.as_slice()) {
        (Some(m), _) => Ok(m),
        (None, [m]) => Ok(*m),
        (None, []) => anyhow::bail!("nobody named {who} is a member"),
        (None, _) => anyhow::bail!("several members are named {who}: use the peer id (`members` lists them)"),
    }
}

async fn members(engine: &EngineHandle) -> anyhow::Result<()> {
    for m in engine.members().await? {
        eprintln!("{}  {}  {}", m.peer, m.access.label(), m.name);
    }
    Ok(())
}
