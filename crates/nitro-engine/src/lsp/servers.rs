//! Which language server serves which files: defaults for the common
//! servers, used when found on PATH, and whatever the settings file names.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::path::RelPath;

/// One language's server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerConfig {
    /// The LSP language id (`typescript`, `rust`, ...), also shown to users.
    pub language: String,
    /// File name endings it serves, without the dot.
    pub extensions: Vec<String>,
    /// The program and its arguments; the program is looked up on PATH.
    pub command: Vec<String>,
}

impl ServerConfig {
    fn new(language: &str, extensions: &[&str], command: &[&str]) -> Self {
        Self {
            language: language.into(),
            extensions: extensions.iter().map(|e| (*e).into()).collect(),
            command: command.iter().map(|c| (*c).into()).collect(),
        }
    }

    /// The program to run, if it can be found.
    pub fn program(&self) -> Option<PathBuf> {
        let name = self.command.first()?;
        let given = Path::new(name);
        if given.components().count() > 1 {
            return given.is_file().then(|| given.to_path_buf());
        }
        std::env::split_paths(&std::env::var_os("PATH")?).map(|dir| dir.join(name)).find(|p| p.is_file())
    }
}

/// The servers NitroIDE knows, as their own documentation starts them.
pub fn defaults() -> Vec<ServerConfig> {
    vec![
        ServerConfig::new("rust", &["rs"], &["rust-analyzer"]),
        ServerConfig::new("typescript", &["ts", "tsx", "js", "jsx", "mjs", "cjs"], &["typescript-language-server", "--stdio"]),
        ServerConfig::new("python", &["py"], &["pyright-langserver", "--stdio"]),
        ServerConfig::new("go", &["go"], &["gopls"]),
        ServerConfig::new("cpp", &["c", "h", "cc", "cpp", "hpp", "cxx"], &["clangd"]),
    ]
}

/// The configured servers, those of the settings first (they replace a
/// default of the same language).
pub fn merged(configured: &[ServerConfig]) -> Vec<ServerConfig> {
    let mut all = configured.to_vec();
    all.extend(defaults().into_iter().filter(|d| !configured.iter().any(|c| c.language == d.language)));
    all
}

/// The server for a file, by its name's ending.
pub fn for_path<'a>(servers: &'a [ServerConfig], path: &RelPath) -> Option<&'a ServerConfig> {
    let ext = path.name().rsplit_once('.')?.1;
    servers.iter().find(|s| s.extensions.iter().any(|e| e == ext))
}

/// The LSP language id of a file (TypeScript's server tells its dialects apart).
pub fn language_id(server: &ServerConfig, path: &RelPath) -> String {
    match (server.language.as_str(), path.name().rsplit_once('.').map(|(_, e)| e)) {
        ("typescript", Some("tsx")) => "typescriptreact".into(),
        ("typescript", Some("js" | "mjs" | "cjs")) => "javascript".into(),
        ("typescript", Some("jsx")) => "javascriptreact".into(),
        ("cpp", Some("c" | "h")) => "c".into(),
        (language, _) => language.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_find_their_server_and_settings_replace_defaults() {
        let mine = ServerConfig::new("typescript", &["ts"], &["/opt/ts/bin/tsls", "--stdio"]);
        let all = merged(std::slice::from_ref(&mine));
        let path = RelPath::new("src/app.ts").expect("path");
        assert_eq!(for_path(&all, &path), Some(&mine));
        assert_eq!(for_path(&all, &RelPath::new("main.rs").expect("path")).map(|s| s.language.as_str()), Some("rust"));
        assert_eq!(for_path(&all, &RelPath::new("README").expect("path")), None);
        assert_eq!(language_id(&mine, &RelPath::new("x.tsx").expect("path")), "typescriptreact");
        assert_eq!(mine.program(), None, "not installed here");
    }
}
