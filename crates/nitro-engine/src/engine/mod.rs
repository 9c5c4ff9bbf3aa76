//! The engine: one actor that owns the workspace and talks to the peers.
pub mod workspace;
