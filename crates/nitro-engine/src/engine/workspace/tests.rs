use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::*;

const MAX: u64 = 1024 * 1024;

struct Peer {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    ws: Workspace,
}

impl Peer {
    fn new(doc: WorkspaceDoc, files: &[(&str, &[u8])]) -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().join("ws");
        std::fs::create_dir(&root).expect("mkdir");
        for (p, content) in files {
            let f = root.join(p);
            std::fs::create_dir_all(f.parent().expect("parent")).expect("mkdir");
            std::fs::write(f, content).expect("write");
        }
        let sb = Sandbox::open(&root, MAX).expect("sandbox");
        let ws = Workspace::open(sb, doc, &BTreeMap::new()).expect("open");
        Self { _tmp: tmp, root, ws }
    }

    fn read(&self, p: &str) -> Option<String> {
        std::fs::read_to_string(self.root.join(p)).ok()
    }

    fn write(&self, p: &str, s: &str) {
        let f = self.root.join(p);
        std::fs::create_dir_all(f.parent().expect("parent")).expect("mkdir");
        std::fs::write(f, s).expect("write");
    }

    /// Tells the workspace that `p` changed, as the watcher would.
    fn changed(&mut self, p: &str) {
        self.ws.ingest(vec![FsChange::Changed(RelPath::new(p).expect("path"))]).expect("ingest");
    }

    /// Sends this peer's pending changes to `other`, and the texts it then
    /// asks for.
    fn send_to(&mut self, other: &mut Peer) {
        deliver(&mut self.ws, &mut other.ws);
        self.serve(other);
    }

    /// Gives `other` the texts it wants that this peer has.
    fn serve(&self, other: &mut Peer) {
        let wanted: Vec<String> = other.ws.wanted().into_iter().map(|(h, _)| h).collect();
        for (hash, text) in self.ws.blobs(&wanted) {
            other.ws.add_blob(hash, text);
        }
    }
}

/// Hands `to` the changes `from` made since the last call, as a peer
/// receives them; false when there were none.
fn deliver(from: &mut Workspace, to: &mut Workspace) -> bool {
    let Some(changes) = from.doc().take_changes() else { return false };
    let touched = to.doc().apply_changes(changes).expect("apply");
    to.apply_remote(&touched).expect("remote");
    true
}

fn listing(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("ls") {
            let e = e.expect("entry");
            let rel = e.path().strip_prefix(root).expect("under root").to_string_lossy().into_owned();
            if rel.starts_with(".nitro") {
                continue;
            }
            if e.file_type().expect("type").is_dir() {
                stack.push(e.path());
                out.insert(format!("{rel}/"), Vec::new());
            } else {
                out.insert(rel, std::fs::read(e.path()).expect("read"));
            }
        }
    }
    out
}

/// A host sharing `files` and a guest that joined it with the sync protocol.
fn pair(files: &[(&str, &[u8])]) -> (Peer, Peer) {
    let mut host = Peer::new(WorkspaceDoc::new_workspace("w").expect("doc"), files);
    host.ws.rescan().expect("scan");
    host.ws.doc().take_changes();
    let mut guest = Peer::new(WorkspaceDoc::empty(), &[]);
    crate::doc::sync_pair(host.ws.doc(), guest.ws.doc());
    guest.ws.rescan().expect("materialize");
    host.serve(&mut guest);
    (host, guest)
}

#[test]
fn guest_mirrors_text_files_byte_for_byte_and_skips_binary_ignored_and_git() {
    let (host, guest) = pair(&[
        ("README.md", b"# hi\n"),
        ("src/main.rs", "fn main() { println!(\"héllo 😀\"); }\n".as_bytes()),
        ("src/empty.txt", b""),
        ("img/logo.png", &[0x89, b'P', b'N', b'G', 0, 0, 1]),
        (".gitignore", b"target/\n*.log\n"),
        ("target/debug/out", b"build output"),
        ("debug.log", b"noise"),
        (".git/HEAD", b"ref: refs/heads/main\n"),
    ]);
    let g = listing(&guest.root);
    let want: Vec<&str> = vec![".gitignore", "README.md", "img/", "src/", "src/empty.txt", "src/main.rs"];
    assert_eq!(g.keys().map(String::as_str).collect::<Vec<_>>(), want);
    for (k, v) in &g {
        if !k.ends_with('/') {
            assert_eq!(Some(v), listing(&host.root).get(k), "{k}");
        }
    }
    let tree = guest.ws.tree();
    let logo = &tree.entries[&tree.by_path[&RelPath::new("img/logo.png").expect("p")]];
    assert_eq!((logo.kind, logo.size), (Kind::Binary, Some(7)));
}

#[test]
fn edits_on_either_side_reach_the_other() {
    let (mut host, mut guest) = pair(&[("a.txt", b"one\n")]);
    guest.write("a.txt", "one\ntwo\n");
    guest.changed("a.txt");
    guest.send_to(&mut host);
    assert_eq!(host.read("a.txt").as_deref(), Some("one\ntwo\n"));
    host.write("new/dir/b.txt", "fresh");
    host.changed("new");
    host.send_to(&mut guest);
    assert_eq!(guest.read("new/dir/b.txt").as_deref(), Some("fresh"));
}

#[test]
fn own_writes_do_not_come_back_as_edits() {
    let (mut host, mut guest) = pair(&[("a.txt", b"one\n")]);
    host.write("a.txt", "one!\n");
    host.changed("a.txt");
    host.send_to(&mut guest);
    // The watcher reports the guest's own write; nothing new must be produced.
    guest.changed("a.txt");
    assert!(guest.ws.doc().take_changes().is_none());

    // Nor written to the state folder: every peer's write of every remote
    // edit comes back this way.
    let records = guest.ws.records();
    let (sb, doc) = guest.ws.parts();
    state::save_document(sb, doc, &records).expect("save");
    guest.ws.enable_journal();
    host.write("a.txt", "one!\ntwo\n");
    host.changed("a.txt");
    host.send_to(&mut guest);
    let path = guest.root.join(".nitro/files.log");
    let log = || std::fs::read(&path).unwrap_or_default();
    let after_write = log();
    guest.changed("a.txt");
    assert_eq!(log(), after_write, "the echo of a write is not journaled");
}

#[test]
fn an_unsynced_disk_edit_merges_with_an_arriving_remote_edit() {
    let (mut host, mut guest) = pair(&[("a.txt", b"alpha\nbeta\ngamma\n")]);
    // The guest's user saves, but the watcher has not reported it yet ...
    guest.write("a.txt", "alpha\nbeta\ngamma\ndelta\n");
    // ... when the host's edit arrives.
    host.write("a.txt", "ALPHA\nbeta\ngamma\n");
    host.changed("a.txt");
    host.send_to(&mut guest);
    assert_eq!(guest.read("a.txt").as_deref(), Some("ALPHA\nbeta\ngamma\ndelta\n"));
    guest.changed("a.txt");
    guest.send_to(&mut host);
    assert_eq!(host.read("a.txt").as_deref(), Some("ALPHA\nbeta\ngamma\ndelta\n"));
}

#[test]
fn a_write_to_a_file_as_it_was_replaced_is_kept_however_many_replacements_follow() {
    use std::io::Write as _;
    let (mut host, mut guest) = pair(&[("log.txt", b"")]);
    let mut log = String::new();
    let mut remote_line = |host: &mut Peer, guest: &mut Peer, line: String| {
        log.push_str(&line);
        host.write("log.txt", &log);
        host.changed("log.txt");
        host.send_to(guest);
    };
    remote_line(&mut host, &mut guest, "host 0\n".into());
    // A shell's `>>` opens the file just before the guest replaces it with
    // the host's next line, and writes to it after; many more replacements
    // follow before the guest looks (a busy moment).
    let mut shell = std::fs::OpenOptions::new().append(true).open(guest.root.join("log.txt")).expect("open");
    remote_line(&mut host, &mut guest, "host 1\n".into());
    shell.write_all(b"guest\n").expect("write");
    drop(shell);
    for i in 2..=2 * MAX_SWAPS {
        remote_line(&mut host, &mut guest, format!("host {i}\n"));
    }
    guest.ws.check_swapped();
    guest.send_to(&mut host);
    let text = host.read("log.txt").unwrap_or_default();
    assert!(text.contains("guest\n"), "the guest's line reached the host: {text:?}");
    assert_eq!(guest.read("log.txt"), host.read("log.txt"));
}

/// In a mass change a peer's watcher reports every file it wrote for the
/// others; its user's own save is taken in before those reports.
#[test]
fn a_users_save_is_taken_in_before_the_reports_of_this_peers_own_writes() {
    let (mut host, mut guest) = pair(&[("a.txt", b"one\n"), ("b.txt", b"mine\n")]);
    host.write("a.txt", "one\ntwo\n");
    host.changed("a.txt");
    host.send_to(&mut guest);
    assert_eq!(guest.read("a.txt").as_deref(), Some("one\ntwo\n"), "the guest replaced a.txt");
    guest.write("b.txt", "mine\nsaved\n");
    let path = |p: &str| RelPath::new(p).expect("path");
    guest.ws.doc().take_changes();
    // The watcher reports the guest's own write of a.txt first, then the save.
    guest.ws.queue_intake(vec![FsChange::Changed(path("a.txt")), FsChange::Changed(path("b.txt"))]);
    guest.ws.take_in_for(Duration::ZERO).expect("one change");
    assert_eq!(guest.ws.intake_left(), 1, "one change per zero budget");
    assert_eq!(guest.ws.text(&path("b.txt")).expect("text").0, "mine\nsaved\n", "the user's save went first");
    guest.ws.take_in_for(Duration::ZERO).expect("the echo");
    assert_eq!(guest.ws.intake_left(), 0);
    let b = guest.ws.text_id(&path("b.txt")).expect("b.txt is shared");
    let changes = guest.ws.doc().take_changes().unwrap_or_default();
    assert!(!changes.is_empty() && changes.iter().all(|(k, _)| *k == crate::doc::DocKey::File(b.clone())), "only the save made changes");
}

#[test]
fn renames_and_deletes_propagate() {
    let (mut host, mut guest) = pair(&[("d/x.txt", b"x"), ("gone.txt", b"bye")]);
    std::fs::rename(host.root.join("d"), host.root.join("e")).expect("mv");
    host.ws.ingest(vec![FsChange::Renamed { from: RelPath::new("d").expect("p"), to: RelPath::new("e").expect("p") }]).expect("ingest");
    std::fs::remove_file(host.root.join("gone.txt")).expect("rm");
    host.changed("gone.txt");
    host.send_to(&mut guest);
    assert_eq!(guest.read("e/x.txt").as_deref(), Some("x"));
    assert!(!guest.root.join("d").exists());
    assert!(!guest.root.join("gone.txt").exists());
}

#[test]
fn a_remote_delete_keeps_a_file_with_unsynced_local_edits() {
    let (mut host, mut guest) = pair(&[("a.txt", b"v1")]);
    guest.write("a.txt", "v1 plus my work");
    std::fs::remove_file(host.root.join("a.txt")).expect("rm");
    host.changed("a.txt");
    host.send_to(&mut guest);
    assert_eq!(guest.read("a.txt").as_deref(), Some("v1 plus my work"));
    guest.send_to(&mut host);
    assert_eq!(host.read("a.txt").as_deref(), Some("v1 plus my work"));
}

#[test]
fn binary_files_are_never_written_or_deleted_by_peers() {
    let (mut host, mut guest) = pair(&[("blob.bin", &[0, 1, 2, 3])]);
    assert!(!guest.root.join("blob.bin").exists());
    // The guest has its own, different binary at that path: left alone.
    std::fs::write(guest.root.join("blob.bin"), [9u8, 0, 9]).expect("write");
    guest.changed("blob.bin");
    guest.send_to(&mut host);
    assert_eq!(std::fs::read(host.root.join("blob.bin")).expect("read"), vec![0, 1, 2, 3]);
    std::fs::remove_file(host.root.join("blob.bin")).expect("rm");
    host.changed("blob.bin");
    host.send_to(&mut guest);
    assert_eq!(std::fs::read(guest.root.join("blob.bin")).expect("read"), vec![9, 0, 9]);
}

#[test]
fn a_text_file_turned_binary_stays_as_it_is_on_other_peers() {
    let (mut host, mut guest) = pair(&[("a.dat", b"text for now")]);
    std::fs::write(host.root.join("a.dat"), [0u8, 159, 146, 150]).expect("write");
    host.changed("a.dat");
    host.send_to(&mut guest);
    assert_eq!(guest.read("a.dat").as_deref(), Some("text for now"));
}

#[test]
fn changes_made_while_offline_are_taken_in_at_restart() {
    let (mut host, guest) = pair(&[("a.txt", b"before"), ("b.txt", b"doomed")]);
    let saved = host.ws.doc().save();
    let records: Records = host.ws.records().into_iter().map(|(id, r)| (id, (None, r))).collect();
    host.write("a.txt", "after");
    std::fs::remove_file(host.root.join("b.txt")).expect("rm");
    host.write("c.txt", "new");
    let sb = Sandbox::open(&host.root, MAX).expect("sandbox");
    let mut ws = Workspace::open(sb, WorkspaceDoc::load(&saved, None).expect("load"), &records).expect("open");
    ws.rescan().expect("rescan");
    // The text a.txt was changed from comes back from a peer.
    let wanted: Vec<String> = ws.wanted().into_iter().map(|(h, _)| h).collect();
    for (hash, text) in guest.ws.blobs(&wanted) {
        ws.add_blob(hash, text);
    }
    let tree = ws.tree().clone();
    let paths: Vec<&str> = {
        let mut v: Vec<&str> = tree.by_path.keys().map(RelPath::as_str).collect();
        v.sort();
        v
    };
    assert_eq!(paths, vec!["a.txt", "c.txt"]);
    assert_eq!(ws.text(&RelPath::new("a.txt").expect("p")).expect("text").0, "after");
}

#[test]
fn a_local_file_in_the_way_of_a_remote_one_is_kept_aside() {
    let (mut host, mut guest) = pair(&[]);
    guest.write("same.txt", "guest's own");
    host.write("same.txt", "host's");
    host.changed("same.txt");
    host.send_to(&mut guest);
    assert_eq!(guest.read("same.txt").as_deref(), Some("host's"));
    assert_eq!(guest.read("same.txt.conflict-1").as_deref(), Some("guest's own"));
}

#[test]
fn a_peer_cannot_write_into_git_or_the_state_folder() {
    let (mut host, mut guest) = pair(&[]);
    std::fs::create_dir_all(guest.root.join(".nitro")).expect("mkdir");
    std::fs::write(guest.root.join(".nitro/session.json"), "mine").expect("write");
    // A hostile host writes entries straight into the document.
    let doc = host.ws.doc();
    let state = doc.create(None, ".nitro", &Content::Dir).expect("entry");
    let forged = |doc: &mut WorkspaceDoc, parent: &FileId, name: &str, text: &str| {
        let id = doc.create(Some(parent), name, &Content::Text(text.into())).expect("entry");
        doc.ensure_content(&id, text).expect("document");
    };
    forged(doc, &state, "session.json", "forged");
    let src = doc.create(None, "src", &Content::Dir).expect("entry");
    let git = doc.create(Some(&src), ".git", &Content::Dir).expect("entry");
    forged(doc, &git, "config", "[core] hooksPath = /tmp/evil");
    forged(doc, &src, "ok.txt", "fine");
    host.send_to(&mut guest);
    assert_eq!(guest.read(".nitro/session.json").as_deref(), Some("mine"));
    assert!(!guest.root.join("src/.git").exists());
    assert_eq!(guest.read("src/ok.txt").as_deref(), Some("fine"));
}

#[test]
fn after_a_crash_remote_writes_are_not_mistaken_for_local_edits() {
    let (mut host, mut guest) = pair(&[("log.txt", b"one\n")]);
    // The guest journals from a full save on, as the engine does.
    let records = guest.ws.records();
    let (sb, doc) = guest.ws.parts();
    state::save_document(sb, doc, &records).expect("save");
    guest.ws.enable_journal();
    // Remote edits are written to the guest's disk after that save ...
    for line in ["two", "three"] {
        let text = host.read("log.txt").unwrap_or_default();
        host.write("log.txt", &format!("{text}{line}\n"));
        host.changed("log.txt");
        host.send_to(&mut guest);
    }
    assert_eq!(guest.read("log.txt").as_deref(), Some("one\ntwo\nthree\n"));
    // ... then its user adds a line, and it is killed before taking it in.
    guest.write("log.txt", "one\ntwo\nthree\nfour (guest)\n");
    let root = guest.root.clone();
    let sb = Sandbox::open(&root, MAX).expect("sandbox");
    let (doc, records) = state::load_document(&sb, "w").expect("load").expect("saved");
    let mut back = Workspace::open(sb, doc, &records).expect("open");
    back.rescan().expect("rescan");
    let id = back.tree().by_path[&RelPath::new("log.txt").expect("p")].clone();
    assert_eq!(back.doc().text(&id).expect("text"), "one\ntwo\nthree\nfour (guest)\n");
    assert!(deliver(&mut back, &mut host.ws), "the guest's line is a change");
    assert_eq!(host.read("log.txt").as_deref(), Some("one\ntwo\nthree\nfour (guest)\n"));
}

#[test]
fn after_a_crash_before_a_recorded_write_the_remote_line_is_not_undone() {
    let (mut host, mut guest) = pair(&[("log.txt", b"one\n")]);
    let id = guest.ws.tree().by_path[&RelPath::new("log.txt").expect("p")].clone();
    let before = guest.ws.records()[&id].clone();
    host.write("log.txt", "one\ntwo\n");
    host.changed("log.txt");
    host.send_to(&mut guest);
    let recorded = guest.ws.records()[&id].clone();
    // The guest recorded the write of "two" but died before it reached the
    // disk; its user then added a line to what the disk held.
    guest.write("log.txt", "one\nmine\n");
    let saved = guest.ws.doc().save();
    let records: Records = [(id.clone(), (Some(before), recorded))].into_iter().collect();
    let sb = Sandbox::open(&guest.root, MAX).expect("sandbox");
    let mut back = Workspace::open(sb, WorkspaceDoc::load(&saved, None).expect("load"), &records).expect("open");
    back.rescan().expect("rescan");
    let text = back.doc().text(&id).expect("text");
    assert!(text.contains("two\n") && text.contains("mine\n"), "{text:?}");
}

#[test]
fn a_file_whose_entry_comes_before_its_content_is_written_when_the_content_arrives() {
    let (mut host, mut guest) = pair(&[("old.txt", b"old\n")]);
    host.write("a.txt", "first\n");
    host.write("b.txt", "second\n");
    host.changed("a.txt");
    host.changed("b.txt");
    // The tree, naming both files, comes first ...
    assert!(deliver(&mut host.ws, &mut guest.ws));
    assert_eq!(guest.read("a.txt"), None);
    assert_eq!(guest.ws.unwritten(), 2);
    let wanted: Vec<String> = guest.ws.wanted().into_iter().map(|(h, _)| h).collect();
    assert_eq!(wanted.len(), 2);
    // ... then the texts, in either order, each written as it comes.
    let mut texts = host.ws.blobs(&wanted);
    texts.reverse();
    for (hash, text) in texts {
        guest.ws.add_blob(hash, text);
    }
    assert_eq!(guest.read("a.txt").as_deref(), Some("first\n"));
    assert_eq!(guest.read("b.txt").as_deref(), Some("second\n"));
    assert_eq!(guest.ws.unwritten(), 0);
    assert_eq!(listing(&guest.root), listing(&host.root));
}

#[test]
fn a_text_that_does_not_match_its_hash_is_not_written() {
    let (mut host, mut guest) = pair(&[]);
    host.write("a.txt", "the real text\n");
    host.changed("a.txt");
    assert!(deliver(&mut host.ws, &mut guest.ws));
    let (hash, _) = guest.ws.wanted().pop().expect("wanted");
    guest.ws.add_blob(hash.clone(), "a forged text\n".into());
    assert_eq!(guest.read("a.txt"), None);
    host.serve(&mut guest);
    assert_eq!(guest.read("a.txt").as_deref(), Some("the real text\n"));
}

#[test]
fn renames_that_swap_and_chain_paths_land_where_the_tree_says() {
    let (mut host, mut guest) = pair(&[("a.txt", b"A\n"), ("b.txt", b"B\n"), ("c.txt", b"C\n")]);
    // a → tmp, b → a, c → b, tmp → c: every target is taken by one leaving.
    host.ws.rename_path(&RelPath::new("a.txt").expect("p"), &RelPath::new("tmp.txt").expect("p")).expect("mv");
    host.ws.rename_path(&RelPath::new("b.txt").expect("p"), &RelPath::new("a.txt").expect("p")).expect("mv");
    host.ws.rename_path(&RelPath::new("c.txt").expect("p"), &RelPath::new("b.txt").expect("p")).expect("mv");
    host.ws.rename_path(&RelPath::new("tmp.txt").expect("p"), &RelPath::new("c.txt").expect("p")).expect("mv");
    host.send_to(&mut guest);
    assert_eq!(guest.read("a.txt").as_deref(), Some("B\n"));
    assert_eq!(guest.read("b.txt").as_deref(), Some("C\n"));
    assert_eq!(guest.read("c.txt").as_deref(), Some("A\n"));
    assert_eq!(listing(&guest.root), listing(&host.root));
}

#[test]
fn a_never_edited_file_emptied_while_away_is_emptied_for_everyone() {
    let (mut host, mut guest) = pair(&[("a.txt", b"some text\n")]);
    let saved = host.ws.doc().save();
    let records: Records = host.ws.records().into_iter().map(|(id, r)| (id, (None, r))).collect();
    host.write("a.txt", "");
    let sb = Sandbox::open(&host.root, MAX).expect("sandbox");
    let mut back = Workspace::open(sb, WorkspaceDoc::load(&saved, None).expect("load"), &records).expect("open");
    back.rescan().expect("rescan");
    // A save before the text it was changed from is back keeps the change.
    let records: Records = back.records().into_iter().map(|(id, r)| (id, (None, r))).collect();
    let saved = back.doc().save();
    let sb = Sandbox::open(&host.root, MAX).expect("sandbox");
    let mut back = Workspace::open(sb, WorkspaceDoc::load(&saved, None).expect("load"), &records).expect("open");
    back.rescan().expect("rescan");
    let wanted: Vec<String> = back.wanted().into_iter().map(|(h, _)| h).collect();
    for (hash, text) in guest.ws.blobs(&wanted) {
        back.add_blob(hash, text);
    }
    assert_eq!(back.text(&RelPath::new("a.txt").expect("p")).expect("text").0, "");
    assert!(deliver(&mut back, &mut guest.ws), "the emptying is a change");
    assert_eq!(guest.read("a.txt").as_deref(), Some(""));
}

#[test]
fn a_file_edited_since_it_was_shared_still_gives_the_text_it_was_shared_with() {
    let (mut host, mut guest) = pair(&[("a.txt", b"shared\n")]);
    let hash = host.ws.tree().entries.values().find_map(|e| e.hash.clone()).expect("hash");
    host.write("a.txt", "shared\nedited\n");
    host.changed("a.txt");
    host.send_to(&mut guest);
    // A peer that joins later and asks for the text the entry names.
    assert_eq!(host.ws.blobs(std::slice::from_ref(&hash)), vec![(hash, "shared\n".to_owned())]);
}

/// Hands `peer` a text its entries name, as a member's Blobs message would.
/// True when `peer` wanted it.
fn crafted_text(peer: &mut Peer, text: &str) -> bool {
    let wanted = peer.ws.wanted().iter().any(|(h, _)| *h == content_hash(text));
    peer.ws.add_blob(content_hash(text), text.into());
    wanted
}

/// A member's crafted entries at paths the host keeps unshared: an ignored
/// file, an ignored folder, and a move onto an ignored path.
#[test]
fn a_peer_cannot_write_share_or_set_aside_a_file_this_peer_keeps_unshared() {
    let secret = b"API_KEY=hunter2\n";
    let (mut host, mut guest) = pair(&[(".gitignore", b".env\nprivate/\n"), (".env", secret), ("private/key", b"k"), ("a.txt", b"a")]);
    let before = host.ws.doc().tree().entries.len();
    // The member's document says what an honest peer's never would.
    let doc = guest.ws.doc();
    doc.create(None, ".env", &Content::Text("pwned".into())).expect("entry");
    let dir = doc.create(None, "private", &Content::Dir).expect("entry");
    doc.create(Some(&dir), "key", &Content::Text("pwned".into())).expect("entry");
    let a = doc.tree().by_path[&RelPath::new("a.txt").expect("p")].clone();
    guest.send_to(&mut host);
    assert!(!crafted_text(&mut host, "pwned"), "a refused entry's text is not even fetched");
    let tree = host.ws.doc().tree();
    assert_eq!(tree.entries.len(), before + 3, "the document holds the member's entries");
    assert_eq!(std::fs::read(host.root.join(".env")).expect(".env"), secret);
    assert_eq!(host.read("private/key").as_deref(), Some("k"));
    let names: Vec<String> = listing(&host.root).into_keys().collect();
    assert_eq!(
        names,
        [".gitignore", ".env", "a.txt", "private/", "private/key"]
            .map(String::from)
            .iter()
            .cloned()
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect::<Vec<_>>()
    );
    // Moving a shared file onto the ignored path leaves the private file alone.
    guest.ws.doc().rename(&a, None, ".env").expect("move");
    guest.send_to(&mut host);
    assert_eq!(std::fs::read(host.root.join(".env")).expect(".env"), secret);
    let holding_secret: Vec<String> = listing(&host.root).into_iter().filter(|(_, v)| v == secret).map(|(k, _)| k).collect();
    assert_eq!(holding_secret, [".env"], "the private file was not set aside or copied");
    assert!(!host.ws.blobs(&[content_hash(std::str::from_utf8(secret).expect("utf8"))]).iter().any(|(_, t)| t.as_bytes() == secret));
}

/// A peer's entry at the path of this peer's private key: the key is not
/// moved aside (as `server.key.conflict-1` it would be shared), nor shared.
#[test]
fn a_peer_cannot_make_this_one_move_its_secret_file_aside() {
    let (mut host, mut guest) = pair(&[("a.txt", b"a")]);
    guest.ws.doc().create(None, "server.key", &Content::Text("pwned".into())).expect("entry");
    std::fs::write(host.root.join("server.key"), "-----BEGIN PRIVATE KEY-----\n").expect("write");
    guest.send_to(&mut host);
    crafted_text(&mut host, "pwned");
    assert_eq!(host.read("server.key").as_deref(), Some("-----BEGIN PRIVATE KEY-----\n"));
    assert!(!listing(&host.root).keys().any(|k| k.contains("conflict")));
    assert!(host.ws.blobs(&[content_hash("-----BEGIN PRIVATE KEY-----\n")]).is_empty());
}

#[test]
fn a_peer_cannot_make_this_one_move_its_binary_file_aside() {
    let (mut host, mut guest) = pair(&[("a.txt", b"a")]);
    let doc = guest.ws.doc();
    doc.create(None, "logo.png", &Content::Text("pwned".into())).expect("entry");
    // The host has an untracked binary file there that the watcher has not reported yet.
    let png = [0x89, b'P', b'N', b'G', 0, 0, 1];
    std::fs::write(host.root.join("logo.png"), png).expect("write");
    guest.send_to(&mut host);
    assert!(crafted_text(&mut host, "pwned"));
    assert_eq!(std::fs::read(host.root.join("logo.png")).expect("png"), png);
    assert!(!listing(&host.root).keys().any(|k| k.contains("conflict")));
}

/// A member removes the rule that keeps the host's notes private: the host
/// writes the new `.gitignore` like any file, but still keeps them to
/// itself, also after scanning the folder again (as at a restart). Its own
/// user's edit of the same file is its word.
#[test]
fn a_peers_change_to_a_gitignore_never_shares_what_this_peer_kept_private() {
    let secret = "API_KEY=hunter2\n";
    let (mut host, mut guest) = pair(&[(".gitignore", b"notes.txt\n"), ("notes.txt", secret.as_bytes()), ("a.txt", b"a")]);
    let ignore = RelPath::new(".gitignore").expect("path");
    guest.ws.edit(&ignore, None, &splice::diff("notes.txt\n", "")).expect("edit");
    guest.ws.write_edits();
    guest.send_to(&mut host);
    assert_eq!(host.read(".gitignore").as_deref(), Some(""), "the member's edit is written");
    host.changed(".gitignore");
    host.ws.rescan().expect("scan");
    let notes = RelPath::new("notes.txt").expect("path");
    assert!(!host.ws.tree().by_path.contains_key(&notes), "notes.txt was shared");
    assert!(host.ws.blobs(&[content_hash(secret)]).is_empty());
    assert!(IgnoreRules::load(host.ws.sandbox()).expect("rules").is_ignored(&notes, false), "kept across restarts");

    // The host's own user removes the rule: now its notes are shared.
    host.write(".gitignore", "*.log\n");
    host.changed(".gitignore");
    assert!(host.ws.tree().by_path.contains_key(&notes), "the host's own word counts");
}

/// Find in files: literal, case, whole word, regex and globs, over shared
/// texts as they are now (an edit not yet on disk included), never over
/// what this peer keeps unshared; positions as Monaco counts them.
#[test]
fn search_finds_text_in_shared_files_only_where_it_is_now() {
    let (mut host, _guest) = pair(&[
        (".gitignore", b"build/\n"),
        ("src/main.rs", "fn main() {\n    let naïve = Total::new();\n}\n".as_bytes()),
        ("src/total.rs", b"pub struct Total;\n// totals\n"),
        ("build/out.rs", b"Total"),
        ("README.md", b"Total in docs\n"),
    ]);
    let q = |pattern: &str| SearchQuery { pattern: pattern.into(), ..SearchQuery::default() };
    let where_ = |r: SearchResults| r.hits.into_iter().map(|h| format!("{}:{}:{}+{}", h.path, h.line, h.column, h.length)).collect::<Vec<_>>();

    assert_eq!(
        where_(host.ws.search(&q("total")).expect("search")),
        ["README.md:1:1+5", "src/main.rs:2:17+5", "src/total.rs:1:12+5", "src/total.rs:2:4+5"]
    );
    let exact = SearchQuery { case_sensitive: true, whole_word: true, ..q("Total") };
    assert_eq!(where_(host.ws.search(&exact).expect("search")), ["README.md:1:1+5", "src/main.rs:2:17+5", "src/total.rs:1:12+5"]);
    let globbed = SearchQuery { include: vec!["src".into()], exclude: vec!["main.rs".into()], ..exact.clone() };
    assert_eq!(where_(host.ws.search(&globbed).expect("search")), ["src/total.rs:1:12+5"]);
    let re = SearchQuery { regex: true, ..q(r"na\w+e") };
    let hits = host.ws.search(&re).expect("search").hits;
    assert_eq!((hits[0].column, hits[0].length, hits[0].preview.as_str(), hits[0].preview_start), (9, 5, "    let naïve = Total::new();", 8));
    assert!(matches!(host.ws.search(&SearchQuery { regex: true, ..q("(") }), Err(WorkspaceError::Search(_))));
    // `$` ends a line before CRLF too.
    host.write("src/win.rs", "one\r\ntwo\r\n");
    host.changed("src/win.rs");
    assert_eq!(where_(host.ws.search(&SearchQuery { regex: true, ..q("o$") }).expect("search")), ["src/win.rs:2:3+1"]);

    // An edit not yet written is found.
    let readme = RelPath::new("README.md").expect("path");
    host.ws.edit(&readme, None, &splice::diff("Total in docs\n", "Sum in docs\n")).expect("edit");
    assert!(where_(host.ws.search(&q("sum in")).expect("search")) == ["README.md:1:1+6"]);
}

/// A member adds a `.gitignore` whose `!` line whitelists what the host's
/// own rules ignore: the host writes the file, shares nothing more, and
/// still takes the member's entries its own rules allow.
#[test]
fn a_peers_new_gitignore_cannot_whitelist_what_this_peer_ignores() {
    let (mut host, mut guest) = pair(&[(".gitignore", b"*.log\n"), ("sub/app.log", b"token=hunter2\n"), ("sub/a.txt", b"a")]);
    let sub = guest.ws.tree().by_path[&RelPath::new("sub").expect("path")].clone();
    guest.ws.doc().create(Some(&sub), ".gitignore", &Content::Text("!*.log\n".into())).expect("entry");
    guest.send_to(&mut host);
    assert!(crafted_text(&mut host, "!*.log\n"), "the host asks for the member's file");
    assert_eq!(host.read("sub/.gitignore").as_deref(), Some("!*.log\n"), "the member's file is written");
    host.changed("sub/.gitignore");
    host.ws.rescan().expect("scan");
    assert!(!host.ws.tree().by_path.contains_key(&RelPath::new("sub/app.log").expect("path")), "the log was shared");
    assert!(host.ws.blobs(&[content_hash("token=hunter2\n")]).is_empty());
    // Restarted, it still knows the member's file is not its user's word.
    let rules = IgnoreRules::load(host.ws.sandbox()).expect("rules");
    assert!(rules.withholds(&RelPath::new("sub/app.log").expect("path"), false));
}

#[test]
fn a_checkpoint_appends_only_what_changed_and_loads_back_whole() {
    let (mut host, mut guest) = pair(&[("a.txt", b"one\n"), ("b.txt", b"other\n")]);
    assert!(guest.ws.checkpoint().expect("checkpoint"), "before any snapshot, a full one is due");
    let records = guest.ws.records();
    let (sb, doc) = guest.ws.parts();
    state::save_document(sb, doc, &records).expect("save");
    guest.ws.enable_journal();
    let snapshot = std::fs::read(guest.root.join(".nitro/document.automerge")).expect("snapshot");

    host.write("a.txt", "one\ntwo\n");
    host.changed("a.txt");
    host.send_to(&mut guest);
    guest.write("b.txt", "other\nmine\n");
    guest.changed("b.txt");
    assert!(!guest.ws.checkpoint().expect("checkpoint"), "a small change needs no full snapshot");
    assert_eq!(std::fs::read(guest.root.join(".nitro/document.automerge")).expect("snapshot"), snapshot, "the snapshot is not written again");

    let sb = Sandbox::open(&guest.root, MAX).expect("sandbox");
    let (doc, records) = state::load_document(&sb, "w").expect("load").expect("saved");
    let mut back = Workspace::open(sb, doc, &records).expect("open");
    for (path, want) in [("a.txt", "one\ntwo\n"), ("b.txt", "other\nmine\n")] {
        let id = back.tree().by_path[&RelPath::new(path).expect("p")].clone();
        assert_eq!(back.doc().text(&id).expect("text"), want);
    }
}

/// A new folder with a file in it, reported file first (its folder's own
/// events can come before the watch on it), while another peer makes a
/// folder of the same name: every file reaches both disks.
#[test]
fn a_file_reported_before_its_new_folder_reaches_every_disk() {
    let (mut host, mut guest) = pair(&[("README.md", b"shared\n")]);
    host.write("deep/h/r0/notes.md", "# h\n");
    guest.write("deep/g/r0/notes.md", "# g\n");
    let order = |me: &str| -> Vec<FsChange> {
        [format!("deep/{me}/r0/notes.md"), format!("deep/{me}/r0"), format!("deep/{me}"), "deep".to_owned()]
            .into_iter()
            .map(|p| FsChange::Changed(RelPath::new(&p).expect("path")))
            .collect()
    };
    host.ws.ingest(order("h")).expect("ingest");
    guest.ws.ingest(order("g")).expect("ingest");
    host.send_to(&mut guest);
    guest.send_to(&mut host);
    host.send_to(&mut guest);
    for peer in [&host, &guest] {
        assert_eq!(peer.read("deep/h/r0/notes.md").as_deref(), Some("# h\n"));
        assert_eq!(peer.read("deep/g/r0/notes.md").as_deref(), Some("# g\n"));
    }
    assert_eq!(listing(&host.root), listing(&guest.root));
}
