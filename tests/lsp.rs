//! Language intelligence with a real language server
//! (typescript-language-server, installed into tests/node_modules by
//! `.ci/test`): run by the host's engine, fed every peer's edits as they
//! happen, answering in workspace paths.

use std::path::PathBuf;

use anyhow::{Context, Result, ensure};
use nitro_engine::doc::Splice;
use nitro_engine::engine::{Engine, EngineError, EngineEvent, EngineHandle};
use nitro_engine::lsp::{LspError, ServerConfig};
use nitro_engine::path::RelPath;
use nitro_tests::{CONVERGE, loopback_config, next_event, read, wait_for, write_files};
use serde_json::{Value, json};

fn typescript_server() -> Result<ServerConfig> {
    let program: PathBuf = [env!("CARGO_MANIFEST_DIR"), "node_modules", ".bin", "typescript-language-server"].iter().collect();
    ensure!(program.exists(), "{} is missing: run `npm ci --prefix tests` (.ci/test does)", program.display());
    Ok(ServerConfig { language: "typescript".into(), extensions: vec!["ts".into()], command: vec![program.display().to_string(), "--stdio".into()] })
}

/// Replaces the first `from` in a file with `to`, through the engine, as an editor types.
async fn replace(engine: &EngineHandle, path: &str, from: &str, to: &str) -> Result<()> {
    let path = RelPath::new(path)?;
    let (text, version) = engine.text(path.clone()).await?;
    let at = text.find(from).context("the text to replace")?;
    let index = text[..at].encode_utf16().count();
    engine.edit_versioned(path, Some(version), vec![Splice { index, delete: from.encode_utf16().count(), insert: to.into() }]).await?;
    Ok(())
}

/// LSP position (0-based line, UTF-16 character) of the first `needle` in `text`.
fn position(text: &str, needle: &str) -> Result<Value> {
    let at = text.find(needle).context("needle")?;
    let line = text[..at].matches('\n').count();
    let start = text[..at].rfind('\n').map_or(0, |n| n + 1);
    Ok(json!({"line": line, "character": text[start..at].encode_utf16().count()}))
}

/// The diagnostics the engine reports for `path` once `pred` holds for them.
async fn diagnostics_where(
    events: &mut tokio::sync::broadcast::Receiver<EngineEvent>,
    path: &str,
    pred: impl Fn(&[Value]) -> bool,
) -> Result<Vec<Value>> {
    next_event(events, |ev| match ev {
        EngineEvent::Diagnostics { path: p, diagnostics } if p.as_str() == path => {
            let list = diagnostics.as_array().cloned().unwrap_or_default();
            pred(&list).then_some(list)
        }
        _ => None,
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hosts_language_server_sees_every_peers_edits_and_answers_in_workspace_paths() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let (ada_dir, bob_dir) = (tmp.path().join("ada"), tmp.path().join("bob"));
    write_files(
        &ada_dir,
        &[
            ("lib.ts", b"export function greet(name: string): string {\n  return 'hi ' + name;\n}\n"),
            ("main.ts", b"import { greet } from './lib';\nconst n: number = 1;\nconsole.log(greet('ada'), n);\n"),
        ],
    )?;
    let mut cfg = loopback_config(&ada_dir, "ada");
    cfg.language_servers = vec![typescript_server()?];
    let ada = Engine::host(cfg).await?;
    let bob = Engine::join(loopback_config(&bob_dir, "bob"), ada.invite().context("invite")?).await?;
    let mut events = ada.subscribe();
    let main = RelPath::new("main.ts")?;
    assert!(ada.lsp_open(main.clone()).await?, "TypeScript has a server");
    assert!(!ada.lsp_open(RelPath::new("notes.md")?).await?, "Markdown has none");

    // A type error typed by bob, on his machine: ada's server sees it.
    replace(&bob, "main.ts", "const n: number = 1;", "const n: number = 'one';").await?;
    let errors = diagnostics_where(&mut events, "main.ts", |d| !d.is_empty()).await.context("the type error is reported")?;
    let message = errors[0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("not assignable to type 'number'"), "{message}");
    assert_eq!(errors[0]["range"]["start"]["line"], 1);
    // Fixed by ada: the problem goes.
    replace(&ada, "main.ts", "'one'", "1").await?;
    diagnostics_where(&mut events, "main.ts", <[Value]>::is_empty).await.context("the fix clears it")?;

    let doc = json!({"uri": "nitro:/main.ts"});
    let (text, _) = ada.text(main.clone()).await?;
    let hover = ada
        .lsp_request(main.clone(), "textDocument/hover".into(), json!({"textDocument": doc, "position": position(&text, "greet('ada')")?}))
        .await?;
    ensure!(hover.to_string().contains("greet(name: string): string"), "hover: {hover}");

    // Go to definition: the other file, by its workspace path.
    let def = ada
        .lsp_request(main.clone(), "textDocument/definition".into(), json!({"textDocument": doc, "position": position(&text, "greet('ada')")?}))
        .await?;
    let def = def.as_array().and_then(|a| a.first()).cloned().unwrap_or(def);
    assert_eq!(def["uri"], "nitro:/lib.ts", "{def}");
    ensure!(!def.to_string().contains(&ada_dir.display().to_string()), "an absolute path left the engine: {def}");

    // Completion after `console.`
    replace(&ada, "main.ts", "console.log(", "console.lo(").await?;
    let (text, _) = ada.text(main.clone()).await?;
    let mut at = position(&text, "lo(")?;
    at["character"] = json!(at["character"].as_u64().unwrap_or(0) + 2);
    let completion = ada.lsp_request(main.clone(), "textDocument/completion".into(), json!({"textDocument": doc, "position": at})).await?;
    let items = completion.get("items").cloned().unwrap_or(completion);
    ensure!(items.as_array().is_some_and(|i| i.iter().any(|c| c["label"] == "log")), "completion: {items}");
    replace(&ada, "main.ts", "console.lo(", "console.log(").await?;

    // Rename across files, from the declaration, applied as ordinary
    // edits: every peer's disk has it.
    let lib = RelPath::new("lib.ts")?;
    assert!(ada.lsp_open(lib.clone()).await?);
    let (text, _) = ada.text(lib.clone()).await?;
    let at = position(&text, "greet(name")?;
    let edit = ada
        .lsp_request(lib, "textDocument/rename".into(), json!({"textDocument": {"uri": "nitro:/lib.ts"}, "position": at, "newName": "welcome"}))
        .await?;
    let changes = edit["changes"].as_object().context("a workspace edit")?.clone();
    assert_eq!(changes.keys().cloned().collect::<Vec<_>>(), ["nitro:/lib.ts", "nitro:/main.ts"]);
    for (uri, edits) in changes {
        apply(&ada, uri.trim_start_matches("nitro:/"), edits.as_array().context("edits")?).await?;
    }
    for file in ["lib.ts", "main.ts"] {
        wait_for(CONVERGE, || Ok(read(&bob_dir.join(file)).is_some_and(|t| t.contains("welcome") && !t.contains("greet"))))
            .with_context(|| format!("bob's {file} has the rename"))?;
    }

    // Nothing outside the workspace can be named.
    let outside = ada
        .lsp_request(
            main.clone(),
            "textDocument/hover".into(),
            json!({"textDocument": {"uri": "file:///etc/passwd"}, "position": {"line": 0, "character": 0}}),
        )
        .await;
    assert!(matches!(outside, Err(EngineError::Lsp(LspError::Outside(_)))), "{outside:?}");
    let climbing = ada
        .lsp_request(main, "textDocument/hover".into(), json!({"textDocument": {"uri": "nitro:/../x.ts"}, "position": {"line": 0, "character": 0}}))
        .await;
    assert!(matches!(climbing, Err(EngineError::Lsp(LspError::Outside(_)))), "{climbing:?}");
    bob.shutdown().await?;
    ada.shutdown().await?;
    // The server and its helpers stop with the session.
    wait_for(CONVERGE, || Ok(processes_in(&ada_dir).is_empty())).with_context(|| format!("still running: {:?}", processes_in(&ada_dir)))?;
    Ok(())
}

/// Processes running in `dir`: their pids and command lines.
fn processes_in(dir: &std::path::Path) -> Vec<(String, String)> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .flatten()
        .filter(|e| std::fs::read_link(e.path().join("cwd")).is_ok_and(|cwd| cwd == dir))
        .map(|e| {
            (e.file_name().to_string_lossy().into_owned(), std::fs::read_to_string(e.path().join("cmdline")).unwrap_or_default().replace('\0', " "))
        })
        .collect()
}

/// Applies LSP text edits to a file through the engine (last first, so
/// each leaves the offsets before it as they were).
async fn apply(engine: &EngineHandle, path: &str, edits: &[Value]) -> Result<()> {
    let path = RelPath::new(path)?;
    let (text, version) = engine.text(path.clone()).await?;
    let offset = |p: &Value| -> usize {
        let line = p["line"].as_u64().unwrap_or(0) as usize;
        let start: usize = text.split_inclusive('\n').take(line).map(|l| l.encode_utf16().count()).sum();
        start + p["character"].as_u64().unwrap_or(0) as usize
    };
    let mut splices: Vec<Splice> = edits
        .iter()
        .map(|e| {
            let (from, to) = (offset(&e["range"]["start"]), offset(&e["range"]["end"]));
            Splice { index: from, delete: to - from, insert: e["newText"].as_str().unwrap_or_default().into() }
        })
        .collect();
    splices.sort_by_key(|s| std::cmp::Reverse(s.index));
    engine.edit_versioned(path, Some(version), splices).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_without_a_server_uses_the_one_a_peer_shares_with_it() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    write_files(
        &tmp.path().join("ada"),
        &[
            ("lib.ts", b"export function greet(name: string): string {\n  return 'hi ' + name;\n}\n"),
            ("main.ts", b"import { greet } from './lib';\nconst n: number = 1;\nconsole.log(greet('ada'), n);\n"),
        ],
    )?;
    let mut cfg = loopback_config(&tmp.path().join("ada"), "ada");
    cfg.language_servers = vec![typescript_server()?];
    let ada = Engine::host(cfg).await?;
    // Bob and Cyd have no TypeScript server of their own.
    let none = ServerConfig {
        language: "typescript".into(),
        extensions: vec!["ts".into()],
        command: vec!["/nonexistent/typescript-language-server".into()],
    };
    let joiner = |name: &str| {
        let mut cfg = loopback_config(&tmp.path().join(name), name);
        cfg.language_servers = vec![none.clone()];
        cfg
    };
    let invite = ada.invite().context("invite")?;
    let bob = Engine::join(joiner("bob"), invite.clone()).await?;
    let cyd = Engine::join(joiner("cyd"), invite).await?;
    let main = RelPath::new("main.ts")?;

    // Not shared with anyone yet: nobody serves them.
    assert!(!cyd.lsp_open(main.clone()).await?);
    let hover = json!({"textDocument": {"uri": "nitro:/main.ts"}, "position": {"line": 0, "character": 10}});
    assert!(matches!(cyd.lsp_request(main.clone(), "textDocument/hover".into(), hover.clone()).await, Err(EngineError::Lsp(LspError::NoServer(_)))));

    // Ada shares hers with Bob: his editor's file is served, with diagnostics.
    let mut bob_events = bob.subscribe();
    assert!(!bob.lsp_open(main.clone()).await?, "no offer has arrived yet");
    ada.share_languages(bob.me().clone(), true).await?;
    diagnostics_where(&mut bob_events, "main.ts", |_| true).await.context("the served file's diagnostics reach bob")?;
    replace(&bob, "main.ts", "const n: number = 1;", "const n: number = 'one';").await?;
    let errors = diagnostics_where(&mut bob_events, "main.ts", |d| !d.is_empty()).await.context("bob's type error, seen by ada's server")?;
    ensure!(errors[0]["message"].as_str().is_some_and(|m| m.contains("not assignable")), "{errors:?}");
    let (text, _) = bob.text(main.clone()).await?;
    let at = position(&text, "greet('ada')")?;
    let answer =
        bob.lsp_request(main.clone(), "textDocument/hover".into(), json!({"textDocument": {"uri": "nitro:/main.ts"}, "position": at})).await?;
    ensure!(answer.to_string().contains("greet(name: string): string"), "{answer}");
    let def =
        bob.lsp_request(main.clone(), "textDocument/definition".into(), json!({"textDocument": {"uri": "nitro:/main.ts"}, "position": at})).await?;
    ensure!(def.to_string().contains("nitro:/lib.ts") && !def.to_string().contains(&tmp.path().display().to_string()), "{def}");

    // Still not Cyd's.
    assert!(matches!(cyd.lsp_request(main, "textDocument/hover".into(), hover).await, Err(EngineError::Lsp(LspError::NoServer(_)))));
    for e in [cyd, bob, ada] {
        e.shutdown().await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_language_server_that_dies_is_started_again_and_says_so() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("ada");
    write_files(&dir, &[("main.ts", b"const n: number = 1;\n")])?;
    let mut cfg = loopback_config(&dir, "ada");
    cfg.language_servers = vec![typescript_server()?];
    let ada = Engine::host(cfg).await?;
    let mut events = ada.subscribe();
    assert!(ada.lsp_open(RelPath::new("main.ts")?).await?);
    diagnostics_where(&mut events, "main.ts", |_| true).await?;

    // The server is killed, as a crash would end it.
    let (server, _) =
        processes_in(&dir).into_iter().find(|(_, command)| command.contains("typescript-language-server")).context("the server's process")?;
    let status = std::process::Command::new("kill").arg("-KILL").arg(server).status()?;
    ensure!(status.success(), "kill failed");
    let notice = next_event(&mut events, |ev| match ev {
        EngineEvent::LanguageServer { state: nitro_engine::lsp::ServerState::Restarting, message, .. } => Some(message),
        _ => None,
    })
    .await?;
    assert!(notice.contains("starting it again"), "{notice}");
    // The new server has the document: a new error is diagnosed.
    replace(&ada, "main.ts", "1;", "'one';").await?;
    diagnostics_where(&mut events, "main.ts", |d| !d.is_empty()).await.context("the restarted server diagnoses")?;
    ada.shutdown().await?;
    Ok(())
}
