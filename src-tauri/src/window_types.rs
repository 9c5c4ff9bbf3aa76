//! The front end's types are generated from the Rust types the window
//! receives and sends (`views`, `settings`, and the engine's own roles and
//! states): `ui/src/generated/window.ts` is the output of the test below,
//! which fails while the file differs, so the window and the shell cannot
//! drift. `NITRO_WRITE_WINDOW_TYPES=1 cargo test -p nitroide window_types`
//! writes it again.

#[cfg(test)]
mod tests {
    use nitro_engine::engine::admission::LinkKind;
    use nitro_engine::engine::membership::Access;
    use nitro_engine::fs::git::Change;
    use nitro_engine::lsp::ServerState;
    use nitro_engine::protocol::membership::Role;
    use ts_rs::{Config, TS};

    use crate::settings::{EditorSettings, NetworkSettings, SettingsView};
    use crate::views::*;

    const HEADER: &str = "// Generated from the Rust types in src-tauri (see src-tauri/src/window_types.rs); do not edit.\n\
                          import type { LspDiagnostic } from '../lsp-types';\n";

    fn generated() -> String {
        // Numbers travel as JSON numbers, whatever their size in Rust.
        let cfg = Config::new().with_large_int("number");
        let decls = [
            Side::decl(&cfg),
            Access::decl(&cfg),
            Role::decl(&cfg),
            LinkKind::decl(&cfg),
            SessionInfo::decl(&cfg),
            InviteInfo::decl(&cfg),
            InvitesView::decl(&cfg),
            EntryKind::decl(&cfg),
            FileEntry::decl(&cfg),
            OpenedFile::decl(&cfg),
            SpliceView::decl(&cfg),
            Pulled::decl(&cfg),
            SelectionView::decl(&cfg),
            PeerView::decl(&cfg),
            TermView::decl(&cfg),
            SyncView::decl(&cfg),
            ConnectionState::decl(&cfg),
            ServerState::decl(&cfg),
            UiEvent::decl(&cfg),
            SearchRequest::decl(&cfg),
            SearchHitView::decl(&cfg),
            SearchView::decl(&cfg),
            Change::decl(&cfg),
            GitChangeView::decl(&cfg),
            GitView::decl(&cfg),
            EditorSettings::decl(&cfg),
            NetworkSettings::decl(&cfg),
            SettingsView::decl(&cfg),
        ];
        let mut out = HEADER.to_owned();
        for decl in decls {
            out.push_str("\nexport ");
            out.push_str(&decl);
            out.push('\n');
        }
        out
    }

    #[test]
    fn the_front_ends_types_are_generated_from_the_rust_ones() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui/src/generated/window.ts");
        let want = generated();
        if std::env::var_os("NITRO_WRITE_WINDOW_TYPES").is_some() {
            std::fs::create_dir_all(path.parent().expect("folder")).expect("create the folder");
            std::fs::write(&path, &want).expect("write the types");
        }
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            have == want,
            "{} differs from the Rust types; run NITRO_WRITE_WINDOW_TYPES=1 cargo test -p nitroide window_types and commit it",
            path.display()
        );
    }
}
