//! End to end on the real desktop app: its window runs under Xvfb, driven
//! through tauri-driver and WebKitWebDriver, in a session with a headless
//! peer (the engine without a window, in this process).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use nitro_engine::engine::Engine;
use nitro_engine::engine::presence::{LocalPresence, Selection};
use nitro_engine::path::RelPath;
use nitro_tests::webdriver::App;
use nitro_tests::{CONVERGE, loopback_config, nitro_bin, wait_for, write_files};

const UI: Duration = Duration::from_secs(30);

/// Control and Shift, as WebDriver names them.
const CTRL: &str = "\u{E009}";
const SHIFT: &str = "\u{E008}";

/// The text Monaco shows (it renders spaces as no-break spaces).
const EDITOR_TEXT: &str = "(document.querySelector('.monaco-editor .view-lines')?.innerText ?? '').replace(/\\u00a0/g, ' ')";

/// The terminal row showing `from-terminal-42` lies inside the terminal
/// panel, the status bar inside the window, and nothing scrolled the page.
const NEWEST_LINE_IN_VIEW: &str = "(() => {
    const row = [...document.querySelectorAll('#terminal .xterm-rows > div')].find(r => r.textContent.includes('from-terminal-42'));
    const pane = document.querySelector('.terminal-pane')?.getBoundingClientRect();
    const status = document.querySelector('.statusbar')?.getBoundingClientRect();
    if (!row || !pane || !status) return false;
    const r = row.getBoundingClientRect();
    const scrolled = [document.scrollingElement, document.getElementById('app'), document.querySelector('.terminal-pane'), document.querySelector('.term-stack')]
        .some(e => e && (e.scrollTop !== 0 || e.scrollLeft !== 0));
    return r.top >= pane.top && r.bottom <= pane.bottom + 1 && status.bottom <= window.innerHeight + 1 && status.top >= 0 && !scrolled;
})()";

fn app_binary() -> PathBuf {
    nitro_bin().with_file_name("nitroide")
}

/// From the start screen: hosts `proj` as ada and opens `file` in Monaco,
/// waiting until it shows `shows`.
fn host_and_open(app: &App, proj: &std::path::Path, file: &str, shows: &str) -> Result<()> {
    app.wait_until("the start screen", "document.querySelector('.start')", UI)?;
    let args = serde_json::json!({"path": proj, "name": "ada"});
    app.eval_async(&format!("return await window.__TAURI_INTERNALS__.invoke('start_host', {args});"))?;
    app.eval("location.reload(); return true;")?;
    let entry = format!("[...document.querySelectorAll('.tree-name')].find(e => e.textContent === '{file}')");
    app.wait_until("the workspace", &entry, UI)?;
    app.eval(&format!("{entry}.click(); return true;"))?;
    app.wait_until(&format!("{file} in Monaco"), &format!("{EDITOR_TEXT}.includes('{shows}')"), UI)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_edits_with_a_headless_peer_and_shows_its_cursor_and_terminal() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let host_dir = tmp.path().join("host");
    write_files(&host_dir, &[("main.rs", b"fn main() {\n    println!(\"hi\");\n}\n")])?;
    let ada = Engine::host(loopback_config(&host_dir, "ada")).await?;
    let link = ada.invite().context("invite")?.to_link();
    let app_dir = tmp.path().join("app");

    let app = tokio::task::block_in_place(|| App::start(&app_binary(), &tmp.path().join("driver.log")))?;
    // What the start screen does once its folder picker answered; then the
    // window opens the running session as after a reload.
    tokio::task::block_in_place(|| {
        app.wait_until("the start screen", "document.querySelector('.start')", UI)?;
        let args = serde_json::json!({"link": link, "path": app_dir, "name": "app"});
        app.eval_async(&format!("return await window.__TAURI_INTERNALS__.invoke('join_session', {args});"))?;
        app.eval("location.reload(); return true;")?;
        app.wait_until("the file tree", "[...document.querySelectorAll('.tree-name')].some(e => e.textContent === 'main.rs')", UI)?;
        app.eval("[...document.querySelectorAll('.tree-name')].find(e => e.textContent === 'main.rs').click(); return true;")?;
        app.wait_until("main.rs in Monaco", &format!("{EDITOR_TEXT}.includes('println')"), UI)
    })?;

    // Typed into Monaco: it reaches the headless peer's folder.
    tokio::task::block_in_place(|| -> Result<()> {
        let lines = app.find(".monaco-editor .view-lines", UI)?;
        app.click(&lines)?;
        app.type_text("\u{E009}\u{E010}")?; // Ctrl+End: the end of the file
        app.type_text("// typed in the app")
    })?;
    wait_for(CONVERGE, || Ok(std::fs::read_to_string(host_dir.join("main.rs"))?.contains("// typed in the app")))
        .context("the text typed in the app did not reach the headless peer's disk")?;

    // Once digests agree, the status bar says so.
    tokio::task::block_in_place(|| {
        app.wait_until("the sync status", "document.querySelector('.status-sync')?.textContent === 'in sync with 1 peer'", UI)
    })?;

    // Written into the headless peer's folder: it appears in Monaco.
    let on_disk = std::fs::read_to_string(host_dir.join("main.rs"))?;
    std::fs::write(host_dir.join("main.rs"), format!("// written on disk\n{on_disk}"))?;
    tokio::task::block_in_place(|| app.wait_until("the change made on disk", &format!("{EDITOR_TEXT}.includes('// written on disk')"), UI))?;

    // The headless peer's cursor is drawn, with its name.
    let path = RelPath::new("main.rs")?;
    ada.set_presence(
        LocalPresence { file: Some(path), selections: vec![Selection { anchor: 22, head: 26 }], typing: true, viewport_top: Some(1) },
        None,
    )
    .await?;
    tokio::task::block_in_place(|| {
        app.wait_until("ada's cursor", "[...document.querySelectorAll('.nitro-remote-cursor')].some(e => e.textContent.includes('ada'))", UI)
    })?;

    // Ctrl+\ splits the editor: both groups show main.rs with ada's cursor,
    // and what is typed on the right is the same file.
    tokio::task::block_in_place(|| -> Result<()> {
        app.chord(&[CTRL, "\\"])?;
        app.wait_until(
            "two groups showing main.rs, each with ada's cursor",
            "(() => { const g = [...document.querySelectorAll('.editor-group')]; return g.length === 2 && g.every(e =>
                e.querySelector('.tab.active .tab-name')?.textContent === 'main.rs'
                && [...e.querySelectorAll('.nitro-remote-cursor')].some(c => c.textContent.includes('ada'))); })()",
            UI,
        )?;
        app.type_text("// typed on the right")
    })?;
    wait_for(CONVERGE, || Ok(std::fs::read_to_string(host_dir.join("main.rs"))?.contains("// typed on the right")))
        .context("the text typed in the second group did not reach the headless peer's disk")?;
    tokio::task::block_in_place(|| -> Result<()> {
        app.wait_until("the left group showing the same text", &format!("{EDITOR_TEXT}.includes('// typed on the right')"), UI)?;
        // Closing the right group's only tab closes the group.
        app.chord(&[CTRL, "w"])?;
        app.wait_until("one group again", "document.querySelectorAll('.editor-group').length === 1 && !!document.querySelector('.tab.active')", UI)
    })?;

    // A terminal opened by the headless peer, far taller than the app's
    // panel, shows its output in xterm.js: the newest line and the prompt
    // are in view, and neither the page nor the panel scrolls, also once
    // clicked.
    let term = ada.open_terminal(110, 30).await?;
    ada.terminal_input(term, b"seq 1 80; echo from-terminal-$((6*7))\n".to_vec()).await?;
    tokio::task::block_in_place(|| -> Result<()> {
        app.wait_until("the terminal output", "(document.querySelector('#terminal .xterm-rows')?.innerText ?? '').includes('from-terminal-42')", UI)?;
        app.wait_until("the newest line in view, the page in place", NEWEST_LINE_IN_VIEW, UI)?;
        app.eval("document.querySelector('#terminal .xterm-screen').click(); return true;")?;
        app.wait_until("the page in place after a click into the terminal", NEWEST_LINE_IN_VIEW, UI)?;
        // The whole window, for docs/screenshot.png.
        let out = nitro_bin().with_file_name("app-screenshot.png");
        std::fs::write(&out, app.screenshot()?)?;
        eprintln!("screenshot: {}", out.display());
        Ok(())
    })?;

    // Renamed on the headless peer's disk: the open tab follows the file.
    std::fs::rename(host_dir.join("main.rs"), host_dir.join("app.rs"))?;
    tokio::task::block_in_place(|| -> Result<()> {
        app.wait_until(
            "the tab following the renamed file",
            "[...document.querySelectorAll('.tab.active .tab-name')].some(e => e.textContent === 'app.rs')",
            UI,
        )?;
        app.wait_until("the renamed file's text", &format!("{EDITOR_TEXT}.includes('// typed in the app')"), UI)
    })?;

    drop(app);
    ada.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_hosts_and_lets_only_the_peer_it_granted_type_into_its_terminal() -> Result<()> {
    use nitro_engine::engine::EngineEvent;
    use nitro_engine::protocol::Invite;
    let tmp = tempfile::tempdir()?;
    let proj = tmp.path().join("project");
    write_files(&proj, &[("README.md", b"# shared\n")])?;
    let app = tokio::task::block_in_place(|| App::start(&app_binary(), &tmp.path().join("driver.log")))?;
    // What the start screen does once its folder picker answered.
    let invite = tokio::task::block_in_place(|| -> Result<String> {
        app.wait_until("the start screen", "document.querySelector('.start')", UI)?;
        let args = serde_json::json!({"path": proj, "name": "ada"});
        let info = app.eval_async(&format!("return await window.__TAURI_INTERNALS__.invoke('start_host', {args});"))?;
        app.eval("location.reload(); return true;")?;
        app.wait_until("the workspace", "[...document.querySelectorAll('.tree-name')].some(e => e.textContent === 'README.md')", UI)?;
        info["invite"].as_str().map(str::to_owned).context("the host's invite link")
    })?;
    let bob = Engine::join(loopback_config(&tmp.path().join("bob"), "bob"), Invite::parse(&invite)?).await?;
    let mut bob_events = bob.subscribe();

    // The app's user opens a terminal; bob sees it, read-only.
    tokio::task::block_in_place(|| -> Result<()> {
        app.wait_until("bob in the peers panel", "document.body.innerText.includes('bob')", UI)?;
        app.eval("[...document.querySelectorAll('button')].find(b => b.textContent === 'New terminal').click(); return true;")?;
        app.wait_until("the terminal's prompt", "(document.querySelector('#terminal .xterm-rows')?.innerText ?? '').includes('#') || (document.querySelector('#terminal .xterm-rows')?.innerText ?? '').includes('$')", UI)
    })?;
    let deadline = tokio::time::Instant::now() + CONVERGE;
    let term = loop {
        if let Some(t) = bob.terminals().await?.into_iter().next() {
            break t;
        }
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "bob never saw the app's terminal");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(term.writers.is_empty());
    bob.terminal_input(term.id, b"touch typed-before-the-grant\n".to_vec()).await?;
    let refused = tokio::time::timeout(CONVERGE, async {
        loop {
            if let Ok(EngineEvent::TerminalRefused { reason, .. }) = bob_events.recv().await {
                return reason;
            }
        }
    })
    .await
    .context("the app's engine did not refuse bob's input")?;
    assert!(refused.contains("no write access"), "{refused}");

    // The app's user lets bob type: his command runs in the app's shell.
    tokio::task::block_in_place(|| -> Result<()> {
        app.wait_until("bob's write toggle", "[...document.querySelectorAll('.chip')].some(c => c.textContent === 'bob')", UI)?;
        app.eval("[...document.querySelectorAll('.chip')].find(c => c.textContent === 'bob').click(); return true;").map(drop)
    })?;
    let deadline = tokio::time::Instant::now() + CONVERGE;
    while !bob.terminals().await?.iter().any(|t| t.id == term.id && t.writers.contains(bob.me())) {
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "the grant never reached bob");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bob.terminal_input(term.id, b"echo typed-by-bob-$((6*7))\n".to_vec()).await?;
    tokio::task::block_in_place(|| {
        app.wait_until("bob's command's output", "(document.querySelector('#terminal .xterm-rows')?.innerText ?? '').includes('typed-by-bob-42')", UI)
    })?;
    assert!(!proj.join("typed-before-the-grant").exists(), "input sent before the grant reached the shell");

    // Leaving while bob is connected and the shell runs asks first; "Cancel" stays.
    tokio::task::block_in_place(|| -> Result<()> {
        app.eval(
            "[...document.querySelectorAll('.statusbar button, .statusbar .status-item')].find(b => b.textContent === 'Leave').click(); return true;",
        )?;
        app.wait_until(
            "the question before leaving",
            "document.querySelector('.modal h2')?.textContent === 'Stop hosting?' && document.querySelector('.modal p').textContent.includes('1 peer is connected') && document.querySelector('.modal p').textContent.includes('1 shell')",
            UI,
        )?;
        app.eval("[...document.querySelectorAll('.modal button')].find(b => b.textContent === 'Cancel').click(); return true;")?;
        app.wait_until("the workspace still open", "!document.querySelector('.modal') && !!document.querySelector('.workspace')", UI)
    })?;

    bob.shutdown().await?;
    drop(app);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_finds_files_by_name_and_text() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let proj = tmp.path().join("project");
    write_files(
        &proj,
        &[
            ("README.md", b"# project\n"),
            ("docs/notes.md", b"the needle is here\n"),
            ("src/util/stats.rs", b"// stats\n\npub fn mean() { /* needle */ }\n"),
        ],
    )?;
    // A git repository with everything committed.
    for args in [&["init", "-q", "-b", "main"][..], &["add", "."], &["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "first"]] {
        let out = std::process::Command::new("git").arg("-C").arg(&proj).args(args).output()?;
        anyhow::ensure!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let app = tokio::task::block_in_place(|| App::start(&app_binary(), &tmp.path().join("driver.log")))?;
    tokio::task::block_in_place(|| -> Result<()> {
        app.wait_until("the start screen", "document.querySelector('.start')", UI)?;
        let args = serde_json::json!({"path": proj, "name": "ada"});
        app.eval_async(&format!("return await window.__TAURI_INTERNALS__.invoke('start_host', {args});"))?;
        app.eval("location.reload(); return true;")?;
        app.wait_until("the workspace", "[...document.querySelectorAll('.tree-name')].some(e => e.textContent === 'README.md')", UI)?;

        // Ctrl+P: a nested file by a few letters of its name.
        app.chord(&[CTRL, "p"])?;
        app.wait_until("quick open", "document.activeElement?.classList.contains('quick-pick-field')", UI)?;
        app.type_text("stats")?;
        app.wait_until("the file in the list", "document.querySelector('.quick-pick-item.selected')?.textContent === 'src/util/stats.rs'", UI)?;
        app.type_text("\n")?;
        app.wait_until("stats.rs open", "document.querySelector('.tab.active .tab-name')?.textContent === 'stats.rs'", UI)?;

        // Ctrl+Shift+F: a word in two files; the second opens at the match.
        app.chord(&[CTRL, SHIFT, "f"])?;
        app.wait_until("the search field", "document.activeElement?.classList.contains('search-field')", UI)?;
        app.type_text("needle")?;
        app.wait_until("results in two files", "document.querySelectorAll('.search-file').length === 2", UI)?;
        // The workbench with search results, for docs/workbench.png.
        let out = nitro_bin().with_file_name("app-search-screenshot.png");
        std::fs::write(&out, app.screenshot()?)?;
        eprintln!("screenshot: {}", out.display());
        app.eval("document.querySelector('.tab.active .tab-close').click(); return true;")?;
        app.wait_until("no file open", "!document.querySelector('.tab')", UI)?;
        app.eval("document.querySelectorAll('.search-file')[1].nextElementSibling.click(); return true;")?;
        app.wait_until("stats.rs open at the match", "document.querySelector('.tab.active .tab-name')?.textContent === 'stats.rs' && document.querySelector('.statusbar').textContent.includes('Ln 3, Col 26')", UI)?;

        // Git: the branch in the status bar; a file changed on disk gets its marker.
        app.wait_until("the branch", "document.querySelector('.status-branch')?.textContent.includes('main')", UI)?;
        std::fs::write(proj.join("README.md"), "# project, changed\n")?;
        app.wait_until("the modified marker", "document.querySelector('.tree-row[data-path=\"README.md\"] .git-mark')?.textContent === 'M'", UI)
    })?;
    drop(app);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_with_a_read_only_link_shows_it_and_changes_nothing() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let host_dir = tmp.path().join("host");
    write_files(&host_dir, &[("main.rs", b"fn main() {}\n")])?;
    let ada = Engine::host(loopback_config(&host_dir, "ada")).await?;
    let link = ada.invites().context("links")?.view.to_link();
    let app = tokio::task::block_in_place(|| App::start(&app_binary(), &tmp.path().join("driver.log")))?;
    tokio::task::block_in_place(|| -> Result<()> {
        app.wait_until("the start screen", "document.querySelector('.start')", UI)?;
        let args = serde_json::json!({"link": link, "path": tmp.path().join("app"), "name": "vic"});
        app.eval_async(&format!("return await window.__TAURI_INTERNALS__.invoke('join_session', {args});"))?;
        app.eval("location.reload(); return true;")?;
        app.wait_until(
            "the read-only badge",
            "document.querySelector('.status-readonly') && !document.querySelector('.status-readonly').hidden",
            UI,
        )?;
        app.eval("[...document.querySelectorAll('.tree-name')].find(e => e.textContent === 'main.rs').click(); return true;")?;
        app.wait_until("main.rs in Monaco", &format!("{EDITOR_TEXT}.includes('fn main')"), UI)?;
        let lines = app.find(".monaco-editor .view-lines", UI)?;
        app.click(&lines)?;
        app.type_text("\u{E009}\u{E010}// typed by a viewer")
    })?;
    // The host's own edit still shows in the viewer's window; by then the
    // keys typed before it were handled, and changed nothing.
    let path = RelPath::new("main.rs")?;
    let (text, version) = ada.text(path.clone()).await?;
    let end = text.encode_utf16().count();
    ada.edit(path, Some(version), vec![nitro_engine::doc::Splice { index: end, delete: 0, insert: "// from ada\n".into() }]).await?;
    tokio::task::block_in_place(|| -> Result<()> {
        app.wait_until("the host's edit", &format!("{EDITOR_TEXT}.includes('from ada')"), UI)?;
        let typed = app.eval(&format!("return {EDITOR_TEXT}.includes('typed by a viewer');"))?;
        anyhow::ensure!(typed.as_bool() == Some(false), "a viewer typed into Monaco");
        Ok(())
    })?;
    assert!(!std::fs::read_to_string(host_dir.join("main.rs"))?.contains("viewer"));
    drop(app);
    ada.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_asks_before_letting_a_joiner_in() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let proj = tmp.path().join("project");
    write_files(&proj, &[("README.md", b"# project\n")])?;
    let app = tokio::task::block_in_place(|| App::start(&app_binary(), &tmp.path().join("driver.log")))?;
    let link = tokio::task::block_in_place(|| -> Result<String> {
        app.wait_until("the start screen", "document.querySelector('.start')", UI)?;
        let args = serde_json::json!({"path": proj, "name": "ada", "approve": true});
        let info = app.eval_async(&format!("return await window.__TAURI_INTERNALS__.invoke('start_host', {args});"))?;
        app.eval("location.reload(); return true;")?;
        app.wait_until("the workspace", "[...document.querySelectorAll('.tree-name')].some(e => e.textContent === 'README.md')", UI)?;
        info["invite"].as_str().map(str::to_owned).context("the edit link")
    })?;
    let invite = nitro_engine::protocol::Invite::parse(&link)?;
    let bob = tokio::spawn(Engine::join(loopback_config(&tmp.path().join("bob"), "bob"), invite.clone()));
    tokio::task::block_in_place(|| -> Result<()> {
        app.wait_until("the approval dialog", "document.querySelector('.modal h2')?.textContent === 'Let bob in?'", UI)?;
        app.eval("document.querySelector('.modal .btn-primary').click(); return true;")?;
        Ok(())
    })?;
    let bob = tokio::time::timeout(CONVERGE, bob).await.context("bob was let in")???;
    assert_eq!(std::fs::read_to_string(tmp.path().join("bob/README.md"))?, "# project\n");
    tokio::task::block_in_place(|| {
        app.wait_until("bob in the peers panel", "[...document.querySelectorAll('.peer-name')].some(e => e.textContent.includes('bob'))", UI)
    })?;

    // Two wait at once: the dialog says so, and turns both away together.
    let (eve, fay) = (
        tokio::spawn(Engine::join(loopback_config(&tmp.path().join("eve"), "eve"), invite.clone())),
        tokio::spawn(Engine::join(loopback_config(&tmp.path().join("fay"), "fay"), invite)),
    );
    tokio::task::block_in_place(|| -> Result<()> {
        let deny_all = "[...document.querySelectorAll('.modal .btn')].find(b => b.textContent === 'Deny all 2')";
        app.wait_until("a dialog offering to turn both away", deny_all, UI)?;
        app.eval(&format!("{deny_all}.click(); return true;"))?;
        Ok(())
    })?;
    for joiner in [eve, fay] {
        let denied = tokio::time::timeout(CONVERGE, joiner).await.context("turned away in time")??.err().context("turned away")?;
        assert!(denied.to_string().contains("did not let you in"), "{denied}");
    }
    bob.shutdown().await?;
    drop(app);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_shows_what_its_own_disk_changes_in_the_open_editor_and_the_tree() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let proj = tmp.path().join("project");
    write_files(&proj, &[("util.ts", b"export const a = 1;\n")])?;
    let app = tokio::task::block_in_place(|| App::start(&app_binary(), &tmp.path().join("driver.log")))?;
    tokio::task::block_in_place(|| -> Result<()> {
        host_and_open(&app, &proj, "util.ts", "const a")?;
        // A shell, a formatter or git writes on this peer's own disk.
        nitro_tests::sh(&proj, "echo 'export const b = 2;' >> util.ts && echo 'new' > fresh.ts")?;
        app.wait_until("the appended line in the open editor", &format!("{EDITOR_TEXT}.includes('const b')"), UI)?;
        app.wait_until("the new file in the tree", "[...document.querySelectorAll('.tree-name')].some(e => e.textContent === 'fresh.ts')", UI)?;
        Ok(())
    })?;
    drop(app);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_marks_a_type_error_and_goes_to_a_definition_in_another_file() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let proj = tmp.path().join("project");
    write_files(
        &proj,
        &[
            ("lib.ts", b"export function greet(name: string): string {\n  return 'hi ' + name;\n}\n"),
            ("main.ts", b"import { greet } from './lib';\nconsole.log(greet('ada'));\n"),
        ],
    )?;
    // typescript-language-server, found on PATH as a user's would be.
    let bin: PathBuf = [env!("CARGO_MANIFEST_DIR"), "node_modules", ".bin"].iter().collect();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let app = tokio::task::block_in_place(|| App::start_with(&app_binary(), &tmp.path().join("driver.log"), &[("PATH", path)]))?;
    tokio::task::block_in_place(|| -> Result<()> {
        host_and_open(&app, &proj, "main.ts", "console.log")?;
        let lines = app.find(".monaco-editor .view-lines", UI)?;
        app.click(&lines)?;
        // A type error: the server's diagnostic shows as a squiggle and in the status bar.
        app.type_text("\u{E009}\u{E010}\nconst bad: number = 'x';")?;
        app.wait_until("the error's squiggle", "!!document.querySelector('.monaco-editor .squiggly-error')", UI)?;
        app.wait_until("the problem count", "document.querySelector('.status-problems')?.textContent.includes('1')", UI)?;
        // F12 on `greet`: lib.ts opens at the definition.
        app.type_text("\ngreet")?;
        app.type_text("\u{E03C}")?;
        app.wait_until("lib.ts open at greet", "document.querySelector('.tab.active .tab-name')?.textContent === 'lib.ts' && document.querySelector('.statusbar').textContent.includes('Ln 1')", UI)
    })?;
    drop(app);
    Ok(())
}
