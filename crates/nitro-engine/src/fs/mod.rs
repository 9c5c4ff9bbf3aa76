//! The file system boundary: every byte the engine reads from or writes to
//! disk goes through [`Sandbox`], and every change made by someone else on disk
//! arrives through [`watcher`].

pub mod git;
pub mod ignore_memory;
pub mod ignore_rules;
pub mod sandbox;
pub mod secrets;
pub mod watcher;

pub use ignore_rules::IgnoreRules;
pub use sandbox::{FileContent, FsError, Node, STATE_DIR, Sandbox, Swapped};
