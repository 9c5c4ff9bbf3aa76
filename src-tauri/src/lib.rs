//! NitroIDE's desktop app: a Tauri window (Monaco, xterm.js) over the same
//! engine the headless `nitro` peer runs. Commands in ([`commands`]), one
//! event channel out ([`ui`]); the engine owns every decision.

mod commands;
mod session;
mod settings;
mod ui;
mod views;
mod window_types;

use tauri::Manager;
use tauri_plugin_deep_link::DeepLinkExt;
use tracing_subscriber::EnvFilter;

use session::Session;
use ui::Ui;
use views::UiEvent;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// What the commands share: the running session (at most one) and the
/// channel to the window.
pub struct AppState {
    session: tokio::sync::Mutex<Option<Session>>,
    /// A session is being started (see `commands::Starting`).
    starting: std::sync::atomic::AtomicBool,
    /// The folder a host is starting with is being read: cancel stops it.
    scan: std::sync::Mutex<Option<std::sync::Arc<nitro_engine::engine::workspace::ScanProgress>>>,
    ui: Ui,
}

pub fn run() {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("warn,rtc=error,rtc_ice=error,rtc_dtls=error,rtc_sctp=error,webrtc=error"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();

    let ui = Ui::default();
    let result = tauri::Builder::default()
        // First: a second launch (an invite link opened while the app runs)
        // hands its link to this instance and exits.
        .plugin(tauri_plugin_single_instance::init(|app, _argv, _cwd| {
            if let Some(w) = app.get_webview_window("main") {
                let _ = w.unminimize();
                let _ = w.set_focus();
            }
        }))
        .plugin(tauri_plugin_deep_link::init())
        .plugin(tauri_plugin_dialog::init())
        .manage(AppState { session: tokio::sync::Mutex::new(None), starting: Default::default(), scan: Default::default(), ui: ui.clone() })
        .setup(move |app| {
            // An installed app's scheme comes with its .desktop file; a build
            // run from the source tree registers itself.
            let installed = std::env::current_exe().is_ok_and(|p| p.starts_with("/usr"));
            if !installed && let Err(e) = app.deep_link().register_all() {
                tracing::warn!(error = %e, "could not register the nitroide:// scheme");
            }
            if let Ok(Some(urls)) = app.deep_link().get_current() {
                for url in urls {
                    ui.send(UiEvent::DeepLink { link: url.to_string() });
                }
            }
            let ui = ui.clone();
            app.deep_link().on_open_url(move |event| {
                for url in event.urls() {
                    ui.send(UiEvent::DeepLink { link: url.to_string() });
                }
            });
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![
            commands::default_name,
            commands::subscribe,
            commands::session,
            commands::inspect_invite,
            commands::start_host,
            commands::cancel_start,
            settings::get_settings,
            settings::save_settings,
            commands::join_session,
            commands::leave_session,
            commands::answer_join,
            commands::deny_waiting,
            commands::set_role,
            commands::new_links,
            commands::list_files,
            commands::search,
            commands::git_status,
            commands::open_file,
            commands::lsp_open,
            commands::lsp_request,
            commands::share_languages,
            commands::edit,
            commands::pull,
            commands::save_file,
            commands::create_file,
            commands::create_dir,
            commands::rename_path,
            commands::delete_path,
            commands::set_presence,
            commands::peers,
            commands::sync_status,
            commands::terminals,
            commands::terminal_open,
            commands::terminal_attach,
            commands::terminal_detach,
            commands::terminal_input,
            commands::terminal_resize,
            commands::terminal_close,
            commands::terminal_grant,
        ])
        .build(tauri::generate_context!());
    match result {
        Ok(app) => app.run(|handle, event| {
            // Leave the session cleanly: peers see a goodbye, not a timeout.
            if let tauri::RunEvent::Exit = event {
                let state = handle.state::<AppState>();
                tauri::async_runtime::block_on(async {
                    if let Some(s) = state.session.lock().await.take() {
                        s.stop().await;
                    }
                });
            }
        }),
        Err(e) => {
            eprintln!("NitroIDE could not start: {e}");
            std::process::exit(1);
        }
    }
}
