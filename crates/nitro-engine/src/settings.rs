//! The user's settings file, shared by `nitro` and the app:
//! `$XDG_CONFIG_HOME/nitroide/config.toml` (or `~/.config/...`). It holds
//! how this machine reaches peers; flags given to `nitro` win over it.
//!
//! ```toml
//! bind = "192.168.1.20"              # the local address to use
//! signal = "wss://signal.example.org" # a y-webrtc server instead of the host's own
//! relay_only = false
//! [[ice_servers]]
//! urls = ["turn:turn.example.org:3478?transport=udp"]
//! username = "ada"
//! credential = "..."
//! [[language_servers]]                # replaces the default for its language
//! language = "python"
//! extensions = ["py"]
//! command = ["pylsp"]
//! ```

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use url::Url;

use crate::engine::EngineConfig;
use crate::link::IceConfig;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<Url>,
    #[serde(flatten)]
    pub ice: IceConfig,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub language_servers: Vec<crate::lsp::ServerConfig>,
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("reading {0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("{0} is not a valid settings file: {1}")]
    Parse(PathBuf, String),
    #[error("writing {0}: {1}")]
    Write(PathBuf, std::io::Error),
}

/// Where the settings file is, if there is a home to put it in.
pub fn default_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("nitroide/config.toml"))
}

impl Settings {
    /// Reads `path`; a file that does not exist holds the defaults.
    pub fn load(path: &Path) -> Result<Self, SettingsError> {
        match std::fs::read_to_string(path) {
            Ok(text) => toml::from_str(&text).map_err(|e| SettingsError::Parse(path.to_owned(), e.to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(SettingsError::Read(path.to_owned(), e)),
        }
    }

    /// Writes `path` (and its folder), readable by its owner only: it may
    /// hold TURN credentials.
    pub fn save(&self, path: &Path) -> Result<(), SettingsError> {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let text = toml::to_string_pretty(self).map_err(|e| SettingsError::Parse(path.to_owned(), e.to_string()))?;
        let write = || -> std::io::Result<()> {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let tmp = path.with_extension("toml.tmp");
            let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)
        };
        write().map_err(|e| SettingsError::Write(path.to_owned(), e))
    }

    /// Puts these settings into a peer's configuration.
    pub fn apply(&self, cfg: &mut EngineConfig) {
        cfg.bind = self.bind.or(cfg.bind);
        cfg.signal = self.signal.clone().or(cfg.signal.take());
        cfg.ice = self.ice.clone();
        cfg.language_servers = self.language_servers.clone();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::IceServer;

    #[test]
    fn settings_round_trip_and_a_missing_file_is_the_defaults() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("nitroide/config.toml");
        assert_eq!(Settings::load(&path).expect("defaults"), Settings::default());
        let s = Settings {
            bind: Some("127.0.0.1".parse().expect("ip")),
            signal: Some(Url::parse("wss://signal.example.org").expect("url")),
            ice: IceConfig {
                servers: vec![IceServer { urls: vec!["turn:t.example.org:3478".into()], username: "ada".into(), credential: "pw".into() }],
                relay_only: true,
            },
            language_servers: vec![crate::lsp::ServerConfig {
                language: "python".into(),
                extensions: vec!["py".into()],
                command: vec!["pylsp".into()],
            }],
        };
        s.save(&path).expect("save");
        assert_eq!(Settings::load(&path).expect("load"), s);
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777, 0o600);
        std::fs::write(&path, "bind = 12").expect("write");
        assert!(matches!(Settings::load(&path), Err(SettingsError::Parse(..))));
    }
}
