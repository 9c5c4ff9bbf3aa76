//! The settings page's two files: how this machine reaches peers, in the
//! settings file `nitro` reads too (`nitro_engine::settings`), and how the
//! editor looks, in `app.json` beside it.

use std::path::PathBuf;

use nitro_engine::link::IceServer;
use nitro_engine::settings::{self, Settings};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::commands::{CmdError, Result};

/// How the editor looks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase", default)]
pub struct EditorSettings {
    #[ts(type = "'dark' | 'light'")]
    pub theme: String,
    pub font_size: u8,
    pub tab_size: u8,
    pub word_wrap: bool,
}

impl Default for EditorSettings {
    fn default() -> Self {
        Self { theme: "dark".into(), font_size: 13, tab_size: 4, word_wrap: false }
    }
}

/// The network part as the settings page shows it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct NetworkSettings {
    /// An IP address, or empty for every interface.
    pub bind: String,
    /// A `ws://` or `wss://` URL, or empty for the host's own endpoint.
    pub signal: String,
    pub relay_only: bool,
    /// STUN or TURN server URLs, one per server.
    pub ice_servers: Vec<String>,
    pub ice_username: String,
    pub ice_credential: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct SettingsView {
    pub network: NetworkSettings,
    pub editor: EditorSettings,
    /// Where the network settings are kept (shown on the page).
    pub file: String,
}

fn paths() -> Result<(PathBuf, PathBuf)> {
    let network = settings::default_path().ok_or_else(|| CmdError::Invalid("there is no home folder to keep settings in".into()))?;
    let editor = network.with_file_name("app.json");
    Ok((network, editor))
}

/// The network settings peers are started with.
pub fn network() -> Result<Settings> {
    let (path, _) = paths()?;
    Settings::load(&path).map_err(|e| CmdError::Invalid(e.to_string()))
}

#[tauri::command]
pub fn get_settings() -> Result<SettingsView> {
    let (network_path, editor_path) = paths()?;
    let net = network()?;
    let servers = &net.ice.servers;
    let editor = std::fs::read(&editor_path).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
    Ok(SettingsView {
        network: NetworkSettings {
            bind: net.bind.map(|b| b.to_string()).unwrap_or_default(),
            signal: net.signal.map(|u| u.to_string()).unwrap_or_default(),
            relay_only: net.ice.relay_only,
            ice_servers: servers.iter().flat_map(|s| s.urls.clone()).collect(),
            ice_username: servers.first().map(|s| s.username.clone()).unwrap_or_default(),
            ice_credential: servers.first().map(|s| s.credential.clone()).unwrap_or_default(),
        },
        editor,
        file: network_path.display().to_string(),
    })
}

#[tauri::command]
pub fn save_settings(network: NetworkSettings, editor: EditorSettings) -> Result<()> {
    let (network_path, editor_path) = paths()?;
    let mut net = Settings::load(&network_path).unwrap_or_default();
    net.bind = match network.bind.trim() {
        "" => None,
        b => Some(b.parse().map_err(|_| CmdError::Invalid(format!("{b:?} is not an IP address")))?),
    };
    net.signal = match network.signal.trim() {
        "" => None,
        s => {
            let url = url::Url::parse(s).map_err(|e| CmdError::Invalid(format!("{s:?} is not a URL: {e}")))?;
            if !matches!(url.scheme(), "ws" | "wss") {
                return Err(CmdError::Invalid("the signaling server's URL starts with ws:// or wss://".into()));
            }
            Some(url)
        }
    };
    let urls: Vec<String> = network.ice_servers.iter().map(|u| u.trim().to_owned()).filter(|u| !u.is_empty()).collect();
    if let Some(bad) = urls.iter().find(|u| !["stun:", "stuns:", "turn:", "turns:"].iter().any(|p| u.starts_with(p))) {
        return Err(CmdError::Invalid(format!("{bad:?} is not a stun: or turn: URL")));
    }
    if network.relay_only && !urls.iter().any(|u| u.starts_with("turn")) {
        return Err(CmdError::Invalid("relaying only needs a TURN server".into()));
    }
    net.ice.relay_only = network.relay_only;
    net.ice.servers =
        if urls.is_empty() { Vec::new() } else { vec![IceServer { urls, username: network.ice_username, credential: network.ice_credential }] };
    let editor = EditorSettings {
        theme: if editor.theme == "light" { "light".into() } else { "dark".into() },
        font_size: editor.font_size.clamp(8, 40),
        tab_size: editor.tab_size.clamp(1, 16),
        word_wrap: editor.word_wrap,
    };
    net.save(&network_path).map_err(|e| CmdError::Invalid(e.to_string()))?;
    let json = serde_json::to_vec_pretty(&editor).map_err(|e| CmdError::Invalid(e.to_string()))?;
    std::fs::write(&editor_path, json).map_err(|e| CmdError::Invalid(format!("writing {}: {e}", editor_path.display())))
}
