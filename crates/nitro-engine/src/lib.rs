//! NitroIDE's engine: everything a peer does, without a window.
//!
//! # Layout
//! - [`path`]: workspace-relative paths, validated once.
//! - [`fs`]: the file system boundary ([`fs::Sandbox`]) and the watcher.
//! - [`doc`]: the Automerge workspace document and its schema.
//! - [`term`]: shared terminals: the PTY, and the output rings every peer keeps.
//! - [`protocol`]: every byte that crosses the network, and the limits each
//!   peer holds the others to ([`protocol::limits`]).
//! - [`settings`]: the user's settings file, shared by `nitro` and the app.
//! - [`lsp`]: language servers, run for every peer's edits.
//! - [`tasks`]: the tracker every task of an engine belongs to.

pub mod doc;
pub mod engine;
pub mod fs;
#[cfg(any(fuzzing, test))]
pub mod fuzz;
pub mod link;
pub mod lsp;
pub mod path;
pub mod protocol;
mod rate;
pub mod settings;
pub mod signal;
pub mod tasks;
pub mod term;
