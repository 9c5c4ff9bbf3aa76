use super::*;

fn p(s: &str) -> RelPath {
    RelPath::new(s).expect("valid path")
}

/// A text file whose content document exists, as after its first edit.
fn text_file(doc: &mut WorkspaceDoc, parent: Option<&FileId>, name: &str, text: String) -> Result<FileId, DocError> {
    let id = doc.create(parent, name, &Content::Text(text.clone()))?;
    doc.ensure_content(&id, &text)?;
    Ok(id)
}

/// A roster entry; its proof is checked by the engine, not here.
fn enrollment(name: &str, color: &str, role: &str) -> Enrollment {
    Enrollment { member: Member { name: name.into(), color: color.into(), role: role.into() }, seq: 1, cert: vec![1], sig: vec![2] }
}

/// The member each roster key shows.
fn roster(doc: &WorkspaceDoc) -> BTreeMap<String, Member> {
    doc.enrollments().into_iter().filter_map(|(k, all)| Some((k, all.into_iter().next()?.member))).collect()
}

fn joined_pair() -> (WorkspaceDoc, WorkspaceDoc) {
    let mut host = WorkspaceDoc::new_workspace("ws1").expect("create");
    let mut guest = WorkspaceDoc::empty();
    sync_pair(&mut host, &mut guest);
    (host, guest)
}

#[test]
fn joiner_receives_the_tree_and_text() {
    let (mut host, mut guest) = joined_pair();
    let src = host.create(None, "src", &Content::Dir).expect("dir");
    let f = text_file(&mut host, Some(&src), "main.rs", "fn main() {}\n".into()).expect("file");
    host.create(None, "logo.png", &Content::Binary(1234)).expect("bin");
    let changes = host.take_changes().expect("local changes");
    let touched = guest.apply_changes(changes).expect("apply");
    assert!(touched.tree);
    let tree = guest.tree();
    assert_eq!(tree.by_path.get(&p("src/main.rs")), Some(&f));
    assert_eq!(guest.text(&f).expect("text"), "fn main() {}\n");
    let logo = &tree.entries[&tree.by_path[&p("logo.png")]];
    assert_eq!((logo.kind, logo.size), (Kind::Binary, Some(1234)));
    assert_eq!(guest.workspace().as_deref(), Some("ws1"));
}

#[test]
fn concurrent_edits_keep_both_sides() {
    let (mut host, mut guest) = joined_pair();
    let f = text_file(&mut host, None, "a.txt", "one\ntwo\nthree\n".into()).expect("file");
    guest.apply_changes(host.take_changes().expect("c")).expect("apply");

    host.splice(&f, &splice::diff("one\ntwo\nthree\n", "ONE\ntwo\nthree\n")).expect("edit");
    guest.splice(&f, &splice::diff("one\ntwo\nthree\n", "one\ntwo\nthree!\n")).expect("edit");
    let from_host = host.take_changes().expect("c");
    let from_guest = guest.take_changes().expect("c");
    let touched = guest.apply_changes(from_host).expect("apply");
    assert_eq!(touched.texts, BTreeSet::from([f.clone()]));
    assert!(!touched.tree);
    host.apply_changes(from_guest).expect("apply");
    assert_eq!(host.text(&f).expect("t"), "ONE\ntwo\nthree!\n");
    assert_eq!(guest.text(&f).expect("t"), "ONE\ntwo\nthree!\n");
}

#[test]
fn an_edit_based_on_an_old_version_merges_like_a_concurrent_one() {
    let (mut host, mut guest) = joined_pair();
    let f = text_file(&mut host, None, "a.txt", "alpha beta".into()).expect("file");
    guest.apply_changes(host.take_changes().expect("c")).expect("apply");
    let base = guest.version_of(&f);
    // A remote edit arrives ...
    host.splice(&f, &[Splice { index: 0, delete: 0, insert: ">> ".into() }]).expect("edit");
    guest.apply_changes(host.take_changes().expect("c")).expect("apply");
    // ... while the disk still held the old text, which the user edited.
    guest.splice_at(&base, &f, &splice::diff("alpha beta", "alpha beta gamma")).expect("edit");
    assert_eq!(guest.text(&f).expect("t"), ">> alpha beta gamma");
    let touched = host.apply_changes(guest.take_changes().expect("c")).expect("apply");
    assert_eq!(touched.texts, BTreeSet::from([f.clone()]), "the receiver learns which file changed");
    assert_eq!(host.text(&f).expect("t"), ">> alpha beta gamma");
}

#[test]
fn rename_is_one_field_and_keeps_concurrent_edits() {
    let (mut host, mut guest) = joined_pair();
    let d = host.create(None, "d", &Content::Dir).expect("dir");
    let f = text_file(&mut host, Some(&d), "x.txt", "x".into()).expect("file");
    guest.apply_changes(host.take_changes().expect("c")).expect("apply");

    host.rename(&d, None, "renamed").expect("rename");
    guest.splice(&f, &[Splice { index: 1, delete: 0, insert: "y".into() }]).expect("edit");
    let h = host.take_changes().expect("c");
    guest.apply_changes(h).expect("apply");
    host.apply_changes(guest.take_changes().expect("c")).expect("apply");
    for doc in [&host, &guest] {
        let tree = doc.tree();
        assert_eq!(tree.by_path.get(&p("renamed/x.txt")), Some(&f));
        assert_eq!(doc.text(&f).expect("t"), "xy");
    }
}

#[test]
fn delete_removes_children() {
    let (mut host, _) = joined_pair();
    let d = host.create(None, "d", &Content::Dir).expect("dir");
    text_file(&mut host, Some(&d), "x.txt", "x".into()).expect("file");
    let all = host.tree().with_descendants(&d);
    assert_eq!(all.len(), 2);
    host.delete(&all).expect("delete");
    assert!(host.tree().entries.is_empty());
}

#[test]
fn hostile_names_and_cycles_are_left_out_of_the_tree() {
    let (mut host, _) = joined_pair();
    let ok = text_file(&mut host, None, "ok.txt", String::new()).expect("file");
    for bad in ["..", ".", "", "a/b", "x\0y"] {
        text_file(&mut host, None, bad, "evil".into()).expect("entry");
    }
    let a = host.create(None, "a", &Content::Dir).expect("dir");
    let b = host.create(Some(&a), "b", &Content::Dir).expect("dir");
    host.rename(&a, Some(&b), "a").expect("cycle");
    let under_file = text_file(&mut host, Some(&ok), "child", String::new()).expect("entry");
    let tree = host.tree();
    assert_eq!(tree.entries.keys().collect::<Vec<_>>(), vec![&ok]);
    assert!(!tree.entries.contains_key(&under_file));
}

#[test]
fn files_made_at_one_path_at_once_are_both_kept_under_names_every_peer_agrees_on() {
    let (mut host, mut guest) = joined_pair();
    let a = text_file(&mut host, None, "same.txt", "host".into()).expect("file");
    let b = text_file(&mut guest, None, "same.txt", "guest".into()).expect("file");
    let h = host.take_changes().expect("c");
    let g = guest.take_changes().expect("c");
    guest.apply_changes(h).expect("apply");
    host.apply_changes(g).expect("apply");
    let (th, tg) = (host.tree(), guest.tree());
    assert_eq!(th, tg);
    let (winner, loser) = if a < b { (a, b) } else { (b, a) };
    assert_eq!(th.entries[&winner].path, p("same.txt"));
    assert_eq!(th.entries[&loser].path, p(&format!("same.txt.conflict-{}", &loser.as_str()[..8])));
}

#[test]
fn folders_made_at_one_path_at_once_merge() {
    let (mut host, mut guest) = joined_pair();
    let hd = host.create(None, "src", &Content::Dir).expect("dir");
    let gd = guest.create(None, "src", &Content::Dir).expect("dir");
    let hf = text_file(&mut host, Some(&hd), "a.rs", "a".into()).expect("file");
    let gf = text_file(&mut guest, Some(&gd), "b.rs", "b".into()).expect("file");
    let h = host.take_changes().expect("c");
    let g = guest.take_changes().expect("c");
    guest.apply_changes(h).expect("apply");
    host.apply_changes(g).expect("apply");
    let tree = host.tree();
    assert_eq!(tree, guest.tree());
    assert_eq!(tree.entries[&hf].path, p("src/a.rs"));
    assert_eq!(tree.entries[&gf].path, p("src/b.rs"));
    let kept = tree.by_path[&p("src")].clone();
    assert_eq!(kept, hd.clone().min(gd.clone()));
    // Deleting the folder takes the merged one and both files with it.
    let all = tree.with_descendants(&kept);
    for id in [&hd, &gd, &hf, &gf] {
        assert!(all.contains(id), "{id} is deleted with the folder");
    }
}

#[test]
fn malformed_sync_message_is_an_error_not_a_panic() {
    let mut doc = WorkspaceDoc::new_workspace("ws").expect("create");
    let mut st = SyncState::default();
    assert!(doc.receive_sync(&mut st, &DocKey::Tree, b"\x42garbage").is_err());
    assert!(doc.apply_changes(vec![(DocKey::Tree, b"\x85\x6f\x4a\x83garbage".to_vec())]).is_err());
}

#[test]
fn out_of_range_splice_is_refused_and_changes_nothing() {
    let (mut host, _) = joined_pair();
    let f = text_file(&mut host, None, "a.txt", "abc".into()).expect("file");
    host.take_changes();
    assert!(host.splice(&f, &[Splice { index: 2, delete: 9, insert: String::new() }]).is_err());
    assert_eq!(host.text(&f).expect("t"), "abc");
}

#[test]
fn save_and_load_keep_utf16_offsets() {
    let (mut host, _) = joined_pair();
    let f = text_file(&mut host, None, "e.txt", "😀".into()).expect("file");
    let mut loaded = WorkspaceDoc::load(&host.save(), None).expect("load");
    loaded.splice(&f, &[Splice { index: 2, delete: 0, insert: "!".into() }]).expect("edit");
    assert_eq!(loaded.text(&f).expect("t"), "😀!");
}

#[test]
fn cursors_stay_on_their_character_through_concurrent_edits() {
    let (mut host, mut guest) = joined_pair();
    let f = text_file(&mut host, None, "a.txt", "hello world".into()).expect("file");
    guest.apply_changes(host.take_changes().expect("c")).expect("apply");
    // The guest's caret sits before "world".
    let caret = guest.cursor(&f, 6, None).expect("cursor");
    let end = guest.cursor(&f, 11, None).expect("cursor at the end");
    host.splice(&f, &[Splice { index: 0, delete: 0, insert: ">> ".into() }]).expect("edit");
    host.apply_changes(guest.take_changes().unwrap_or_default()).expect("apply");
    assert_eq!(host.cursor_position(&f, &caret).expect("position"), 9);
    assert_eq!(host.cursor_position(&f, &end).expect("position"), 14);
    assert!(host.cursor_position(&f, b"garbage").is_err());
}

#[test]
fn the_roster_merges_members_written_by_each_peer() {
    let (mut host, mut guest) = joined_pair();
    host.set_member("aaaaaaaaaaaaaaaa", &enrollment("ada", "#e06c75", "host")).expect("member");
    guest.set_member("bbbbbbbbbbbbbbbb", &enrollment("bob", "#e06c75", "editor")).expect("member");
    let (h, g) = (host.take_changes().expect("c"), guest.take_changes().expect("c"));
    host.apply_changes(g).expect("apply");
    guest.apply_changes(h).expect("apply");
    assert_eq!(roster(&host), roster(&guest));
    assert_eq!(roster(&host).len(), 2);
    assert_eq!(roster(&host)["bbbbbbbbbbbbbbbb"].name, "bob");
    assert_eq!(host.enrollments()["bbbbbbbbbbbbbbbb"], vec![enrollment("bob", "#e06c75", "editor")], "proof kept as written");
}

#[test]
fn an_isolated_edit_is_reported_to_a_receiver_with_its_own_concurrent_edit() {
    let mut host = WorkspaceDoc::new_workspace("ws1").expect("create");
    let f = text_file(&mut host, None, "a.txt", "one\ntwo\nthree\n".into()).expect("file");
    host.take_changes();
    let mut guest = WorkspaceDoc::empty();
    sync_pair(&mut host, &mut guest);
    let base = host.version_of(&f);
    // The host makes another change of its own after `base`, elsewhere.
    host.set_member("aaaaaaaaaaaaaaaa", &enrollment("ada", "#000000", "host")).expect("member");
    guest.apply_changes(host.take_changes().expect("c")).expect("apply");
    guest.splice(&f, &splice::diff("one\ntwo\nthree\n", "one\ntwo\nthree!\n")).expect("edit");
    let touched = host.apply_changes(guest.take_changes().expect("c")).expect("apply");
    assert!(touched.texts.contains(&f));
    host.splice_at(&base, &f, &splice::diff("one\ntwo\nthree\n", "ONE\ntwo\nthree\n")).expect("edit");
    let touched = guest.apply_changes(host.take_changes().expect("c")).expect("apply");
    assert!(touched.texts.contains(&f), "{touched:?}");
    assert_eq!(guest.text(&f).expect("t"), "ONE\ntwo\nthree!\n");
}

#[test]
fn an_old_edit_is_carried_over_this_peers_own_later_edit() {
    let (mut host, _) = joined_pair();
    let f = text_file(&mut host, None, "log.txt", "one\n".into()).expect("file");
    let base = host.version_of(&f);
    // This peer adds a line before, then takes in an edit made against `base`.
    host.splice(&f, &splice::diff("one\n", "zero\none\n")).expect("edit");
    host.splice_at(&base, &f, &splice::diff("one\n", "one\nmine\n")).expect("old edit");
    assert_eq!(host.text(&f).expect("text"), "zero\none\nmine\n");
}

#[test]
fn each_text_file_has_its_own_document_and_all_of_them_save_and_load() {
    let (mut host, mut guest) = joined_pair();
    let a = text_file(&mut host, None, "a.txt", "alpha\n".into()).expect("a");
    let b = text_file(&mut host, None, "b.txt", "beta\n".into()).expect("b");
    guest.apply_changes(host.take_changes().expect("c")).expect("apply");

    // An edit to a.txt is a change of a.txt's document only.
    host.splice(&a, &[Splice { index: 5, delete: 0, insert: "!".into() }]).expect("edit");
    let changes = host.take_changes().expect("c");
    assert!(changes.iter().all(|(k, _)| *k == DocKey::File(a.clone())), "{:?}", changes.iter().map(|c| &c.0).collect::<Vec<_>>());
    let touched = guest.apply_changes(changes).expect("apply");
    assert_eq!(touched.texts.into_iter().collect::<Vec<_>>(), vec![a.clone()]);
    assert!(!touched.tree);
    assert_eq!(guest.text(&a).expect("t"), "alpha!\n");

    // A version names its document: b.txt's cannot be used for a.txt.
    let vb = host.version_of(&b);
    assert!(host.splice_at(&vb, &a, &[Splice { index: 0, delete: 0, insert: "x".into() }]).is_err());
    assert_eq!(Version::parse(&vb.to_strings()), Some(vb));

    // Saved whole, then incrementally, and loaded back.
    let saved = host.save();
    host.splice(&b, &[Splice { index: 0, delete: 0, insert: "# ".into() }]).expect("edit");
    let more = host.save_incremental();
    assert!(host.save_incremental().is_empty(), "nothing new to save");
    let mut back = WorkspaceDoc::load(&saved, None).expect("load");
    back.load_incremental(&more).expect("log");
    assert_eq!(back.text(&a).expect("a"), "alpha!\n");
    assert_eq!(back.text(&b).expect("b"), "# beta\n");
    assert_eq!(back.tree(), host.tree());

    // A state folder of the single-document format is refused with a way out.
    let old = WorkspaceDoc::new_workspace("w").expect("doc").tree.doc.save();
    let err = WorkspaceDoc::load(&old, None).expect_err("refused");
    assert!(err.to_string().contains("older NitroIDE"), "{err}");
}

#[test]
fn two_peers_that_start_editing_an_untouched_file_at_once_share_its_base_text() {
    let (mut host, mut guest) = joined_pair();
    let base = "one\ntwo\n".to_owned();
    let f = host.create(None, "a.txt", &Content::Text(base.clone())).expect("file");
    guest.apply_changes(host.take_changes().expect("tree")).expect("apply");
    assert!(!guest.has_content(&f), "the text travels apart from the tree");
    // Each builds the document from the same bytes and edits at once.
    host.ensure_content(&f, &base).expect("base");
    guest.ensure_content(&f, &base).expect("base");
    assert_eq!(host.version_of(&f), guest.version_of(&f), "the same first change on both");
    host.splice(&f, &[Splice { index: 0, delete: 0, insert: "host ".into() }]).expect("edit");
    guest.splice(&f, &[Splice { index: 4, delete: 0, insert: "guest ".into() }]).expect("edit");
    let (h, g) = (host.take_changes().expect("c"), guest.take_changes().expect("c"));
    guest.apply_changes(h).expect("apply");
    host.apply_changes(g).expect("apply");
    assert_eq!(host.text(&f).expect("t"), "host one\nguest two\n");
    assert_eq!(guest.text(&f).expect("t"), host.text(&f).expect("t"));
}

/// The journal holds changes as they were made or received, and what a
/// sync message brought as Automerge encodes it: loaded back, it is the
/// same workspace.
#[test]
fn a_journal_of_made_received_and_synced_changes_loads_back_whole() {
    let (mut host, mut guest) = joined_pair();
    let saved = guest.save();
    let f = host.create(None, "a.txt", &Content::Text("one\n".into())).expect("file");
    guest.apply_changes(host.take_changes().expect("tree")).expect("apply");
    guest.ensure_content(&f, "one\n").expect("base");
    guest.splice(&f, &[Splice { index: 0, delete: 0, insert: "guest ".into() }]).expect("edit");
    host.ensure_content(&f, "one\n").expect("base");
    host.splice(&f, &[Splice { index: 4, delete: 0, insert: "host ".into() }]).expect("edit");
    // A change before the one it depends on, as a batch may bring them.
    let mut edit = host.take_changes().expect("edit");
    edit.reverse();
    guest.apply_changes(edit.clone()).expect("apply");
    let g = host.create(None, "b.txt", &Content::Text("two\n".into())).expect("file");
    host.take_changes().expect("tree");
    sync_pair(&mut host, &mut guest);
    let mut log = guest.save_incremental();
    // The same edit relayed by a third peer is held already: nothing to journal.
    guest.apply_changes(edit).expect("apply");
    assert!(guest.save_incremental().is_empty(), "a change already held is journaled once");
    guest.splice(&f, &[Splice { index: 0, delete: 0, insert: "> ".into() }]).expect("edit");
    log.extend(guest.save_incremental());

    let mut back = WorkspaceDoc::load(&saved, None).expect("load");
    back.load_incremental(&log).expect("log");
    assert_eq!(back.text(&f).expect("a"), "> guest one\nhost ");
    assert_eq!(back.text(&f).expect("a"), guest.text(&f).expect("a"));
    assert_eq!(back.tree(), guest.tree());
    assert!(back.tree().entries.contains_key(&g));
}

#[test]
fn a_peer_whose_change_does_not_decode_is_found_before_any_change_is_applied() {
    let (mut host, mut guest) = joined_pair();
    let f = text_file(&mut host, None, "a.txt", "honest\n".into()).expect("file");
    let honest = host.take_changes().expect("changes");
    // A hostile batch: a valid change of the honest peer's, then garbage.
    let mut hostile = honest.clone();
    hostile.push((DocKey::Tree, b"\x85\x6f\x4a\x83garbage".to_vec()));
    assert!(WorkspaceDoc::decode_changes(hostile).is_err(), "the whole batch is refused");
    let ok = WorkspaceDoc::decode_changes(honest).expect("decodes");
    guest.apply_decoded(vec![ok]).expect("apply");
    assert_eq!(guest.text(&f).expect("text"), "honest\n");
}

/// A member's changes for thousands of file ids its tree never lists.
#[test]
fn a_peer_cannot_make_this_one_keep_documents_without_end() {
    let (mut host, mut guest) = joined_pair();
    let forged: Vec<(DocKey, Vec<u8>)> = (0..MAX_LOOSE_DOCS + 1)
        .map(|i| {
            let mut doc = Automerge::new();
            let mut tx = doc.transaction();
            tx.put(ROOT, "junk", i as u64).expect("put");
            tx.commit();
            let bytes = doc.get_last_local_change().expect("change").raw_bytes().to_vec();
            (DocKey::File(FileId::parse(&format!("f{i}")).expect("id")), bytes)
        })
        .collect();
    assert!(matches!(host.apply_changes(forged.clone()), Err(DocError::TooManyDocs)));
    assert_eq!(host.files.len(), 0, "nothing of the refused message was kept");
    // Below the limit a change may come before its entry, as a peer's can.
    host.apply_changes(forged[..10].to_vec()).expect("a few are fine");
    assert_eq!(host.files.len(), 10);
    // Loose documents are not handed on, and do not make digests differ.
    assert_eq!(host.digest(), guest.digest());
    let mut state = SyncState::default();
    assert!(host.generate_sync(&mut state).iter().all(|(k, _)| *k == DocKey::Tree));
    // An honest edit still applies after the refusal.
    let f = text_file(&mut guest, None, "a.txt", "hi".into()).expect("file");
    host.apply_changes(guest.take_changes().expect("changes")).expect("honest changes");
    assert_eq!(host.text(&f).expect("text"), "hi");
}

#[test]
fn a_deleted_files_document_is_not_synced_to_joiners_and_digests_still_agree() {
    let (mut host, _) = joined_pair();
    let f = text_file(&mut host, None, "a.txt", "hi".into()).expect("file");
    host.delete(&[f]).expect("delete");
    let mut joiner = WorkspaceDoc::empty();
    sync_pair(&mut host, &mut joiner);
    assert_eq!(joiner.files.len(), 0);
    assert_eq!(host.digest(), joiner.digest());
}

/// A member's change to the root: a new `entries` map (which would hide
/// every file), a newer schema (which would stop peers from loading their
/// state) and another workspace id (which would refuse every joiner).
#[test]
fn a_peer_cannot_replace_the_root_of_the_tree() {
    let mut host = WorkspaceDoc::new_workspace("ws1").expect("create");
    let f = text_file(&mut host, None, "a.txt", "hi".into()).expect("file");
    host.set_member("0123456789abcdef", &enrollment("ada", "#ff0000", "host")).expect("member");
    host.take_changes();
    let mut member = WorkspaceDoc::empty().for_session("ws1").expect("session");
    sync_pair(&mut host, &mut member);
    let forged = member.replace_root_for_test();
    let touched = host.apply_changes(vec![(DocKey::Tree, forged)]).expect("applies");
    assert!(touched.tree, "the peer's disk is checked against the tree again");
    assert_eq!(host.tree().by_path.get(&p("a.txt")), Some(&f), "every file is still listed");
    assert_eq!(host.workspace().as_deref(), Some("ws1"));
    assert_eq!(roster(&host).len(), 1);
    // Later changes touch only what they change (not every file, which
    // every peer would then read from its disk).
    let c = member.create(None, "c.txt", &Content::Text("c".into())).expect("create");
    let touched = host.apply_changes(member.take_changes().expect("changes")).expect("applies");
    assert_eq!(touched.texts, BTreeSet::from([c]));
    // Edits and new files still land, on this peer and the next.
    let g = host.create(None, "b.txt", &Content::Text("b".into())).expect("create after the attack");
    let mut back = WorkspaceDoc::load(&host.save(), Some("ws1")).expect("its saved state still loads");
    assert!(back.tree().by_path.contains_key(&p("b.txt")));
    let mut joiner = WorkspaceDoc::empty().for_session("ws1").expect("session");
    sync_pair(&mut back, &mut joiner);
    assert_eq!(joiner.workspace().as_deref(), Some("ws1"), "a new joiner is not refused");
    assert_eq!(joiner.tree().entries.len(), 3);
    assert!(joiner.tree().entries.contains_key(&g));
}

/// A member's tree of 4,000 folders each inside the last, and a cycle
/// hanging below: resolved in one pass over the entries.
#[test]
fn a_deep_chain_of_folders_resolves_as_far_as_paths_may_go() {
    let (mut host, _) = joined_pair();
    let mut parent = None;
    let mut ids = Vec::new();
    for _ in 0..4_000 {
        let id = host.create(parent.as_ref(), "d", &Content::Dir).expect("dir");
        ids.push(id.clone());
        parent = Some(id);
    }
    let tree = host.tree();
    // "d/d/…" is 2 bytes a level: paths stop at 4096 bytes.
    assert_eq!(tree.entries.len(), 2048);
    assert_eq!(tree.entries[&ids[2047]].path.depth(), 2048);
    assert!(!tree.entries.contains_key(&ids[2048]));
    // Move the top into the bottom: a cycle, and nothing of it resolves.
    host.rename(&ids[0], Some(&ids[3_999]), "d").expect("move");
    assert!(host.tree().entries.is_empty());
}

/// A member's terminal entry and roster entry, written to trouble whoever
/// shows them: a huge size, escape sequences, a name that reads backwards.
#[test]
fn terminal_metadata_and_names_from_a_peer_are_clamped_and_printable() {
    let (mut host, mut member) = joined_pair();
    let mut tx = member.tree.doc.transaction();
    let terms = member.roots.terminals.clone().expect("terminals");
    let t = tx.put_object(&terms, "00000000000000ff", ObjType::Map).expect("put");
    tx.put(&t, "owner", "0123456789abcdef").expect("put");
    tx.put(&t, "title", "\x1b]0;owned\x07\x1b[2Jvim").expect("put");
    tx.put(&t, "cols", 65_535u64).expect("put");
    tx.put(&t, "rows", 0u64).expect("put");
    tx.put(&t, "writers", "").expect("put");
    let peers = member.roots.peers.clone().expect("peers");
    let m = tx.put_object(&peers, "0123456789abcdef", ObjType::Map).expect("put");
    tx.put(&m, "name", "ada\u{202e}nimda").expect("put");
    tx.put(&m, "color", "red;background:url(x)").expect("put");
    tx.put(&m, "seq", 1u64).expect("put");
    tx.put(&m, "cert", ScalarValue::Bytes(vec![1])).expect("put");
    tx.put(&m, "sig", ScalarValue::Bytes(vec![2])).expect("put");
    tx.put(&m, "role", "editor").expect("put");
    let m = tx.put_object(&peers, "fedcba9876543210", ObjType::Map).expect("put");
    tx.put(&m, "name", "bob\r\n").expect("put");
    tx.put(&m, "color", "#00ff00").expect("put");
    tx.put(&m, "role", "editor").expect("put");
    tx.put(&m, "seq", 1u64).expect("put");
    tx.put(&m, "cert", ScalarValue::Bytes(vec![1])).expect("put");
    tx.put(&m, "sig", ScalarValue::Bytes(vec![2])).expect("put");
    tx.commit();
    let change = member.tree.doc.get_last_local_change().expect("change").raw_bytes().to_vec();
    host.apply_changes(vec![(DocKey::Tree, change)]).expect("applies");
    let terms = host.terminals();
    assert_eq!(terms.len(), 1);
    assert_eq!((terms[0].cols, terms[0].rows), (MAX_COLS, 1));
    assert_eq!(terms[0].title, "]0;owned[2Jvim");
    let roster = roster(&host);
    assert!(!roster.contains_key("0123456789abcdef"), "a member whose color is not a color is left out");
    assert_eq!(roster["fedcba9876543210"].name, "bob");
}

/// Changes as the wire carries them.
type Encoded = Vec<(DocKey, Vec<u8>)>;

/// A host, and changes of bob's that build on changes of carol's, whom the
/// host never met: (host, bob, carol's changes, bob's).
fn a_change_built_on_one_never_seen() -> (WorkspaceDoc, WorkspaceDoc, Encoded, Encoded) {
    let (mut host, mut bob) = joined_pair();
    let mut carol = WorkspaceDoc::empty();
    sync_pair(&mut host, &mut carol);
    carol.create(None, "c.txt", &Content::Text("c".into())).expect("create");
    let from_carol = carol.take_changes().expect("changes");
    bob.apply_changes(from_carol.clone()).expect("bob has carol's");
    bob.create(None, "b.txt", &Content::Text("b".into())).expect("create");
    let from_bob = bob.take_changes().expect("changes");
    (host, bob, from_carol, from_bob)
}

/// A change that builds on one this peer never got is not queued inside
/// Automerge (where a member could pile up changes whose dependencies never
/// come): it is left out, and a sync round brings it with what it needs.
#[test]
fn a_change_whose_dependencies_are_missing_is_left_out_not_queued() {
    let (mut host, _, from_carol, from_bob) = a_change_built_on_one_never_seen();
    // bob's change alone cannot apply.
    let touched = host.apply_changes(from_bob.clone()).expect("no error");
    assert_eq!(touched.incomplete, BTreeSet::from([DocKey::Tree]));
    assert!(host.tree.doc.get_missing_deps(&[]).is_empty(), "nothing waits inside Automerge");
    assert!(!host.tree().by_path.contains_key(&p("b.txt")));
    // Both in one batch, in any order, apply.
    let mut both = from_bob.clone();
    both.extend(from_carol);
    let touched = host.apply_changes(both).expect("applies");
    assert!(touched.incomplete.is_empty());
    assert!(host.tree().by_path.contains_key(&p("b.txt")) && host.tree().by_path.contains_key(&p("c.txt")));
}

/// The same through a sync message, which Automerge applies itself: the
/// change that cannot apply is not kept waiting, and the document's sync
/// starts over.
#[test]
fn a_sync_message_with_changes_whose_dependencies_never_come_leaves_nothing_queued() {
    let (mut host, bob, _, mut from_bob) = a_change_built_on_one_never_seen();
    let (_, from_bob) = from_bob.remove(0);
    let msg = sync::Message {
        heads: bob.tree.doc.get_heads(),
        need: Vec::new(),
        have: Vec::new(),
        changes: vec![from_bob].into(),
        flags: None,
        version: sync::MessageVersion::V1,
    };
    let heads = host.tree.doc.get_heads();
    let touched = host.receive_sync(&mut SyncState::default(), &DocKey::Tree, &msg.encode()).expect("no error");
    assert_eq!(touched.incomplete, BTreeSet::from([DocKey::Tree]));
    assert!(host.tree.doc.get_missing_deps(&[]).is_empty(), "nothing waits inside Automerge");
    assert_eq!(host.tree.doc.get_heads(), heads);
    // The document still takes edits, as the same author.
    let actor = host.tree.doc.get_actor().clone();
    host.create(None, "h.txt", &Content::Text("h".into())).expect("create");
    assert_eq!(host.tree.doc.get_last_local_change().map(|c| c.actor_id().clone()), Some(actor));
}

/// A member that creates entries without end (every peer would write them
/// all to its disk): the change that goes past the limit is refused and
/// leaves the tree as it was; changes that do not add entries still apply.
#[test]
fn a_peer_cannot_grow_the_tree_past_its_limit() {
    let (mut host, mut member) = joined_pair();
    host.max_entries = 10;
    for i in 0..8 {
        member.create(None, &format!("f{i}"), &Content::Dir).expect("create");
    }
    host.apply_changes(member.take_changes().expect("changes")).expect("within the limit");
    for i in 0..5 {
        member.create(None, &format!("g{i}"), &Content::Dir).expect("create");
    }
    let heads = host.tree.doc.get_heads();
    assert!(matches!(host.apply_changes(member.take_changes().expect("changes")), Err(DocError::TooManyEntries(10))));
    assert_eq!(host.tree.doc.get_heads(), heads, "nothing of it was kept");
    assert_eq!(host.tree().entries.len(), 8);
    // The same through the sync protocol.
    let mut state = SyncState::default();
    let mut theirs = SyncState::default();
    let mut refused = false;
    for _ in 0..10 {
        for (key, msg) in member.generate_sync(&mut theirs) {
            match host.receive_sync(&mut state, &key, &msg) {
                Err(DocError::TooManyEntries(_)) => refused = true,
                other => drop(other.expect("sync")),
            }
        }
        for (key, msg) in host.generate_sync(&mut state) {
            member.receive_sync(&mut theirs, &key, &msg).expect("sync");
        }
    }
    assert!(refused);
    assert_eq!(host.tree().entries.len(), 8);
    // A rename, which adds none, still applies.
    let mut other = WorkspaceDoc::empty();
    sync_pair(&mut host, &mut other);
    let f0 = other.tree().by_path[&p("f0")].clone();
    other.rename(&f0, None, "renamed").expect("rename");
    host.apply_changes(other.take_changes().expect("changes")).expect("a rename applies");
    assert!(host.tree().by_path.contains_key(&p("renamed")));
}

#[test]
fn a_message_naming_too_many_unknown_documents_is_judged_whole_before_any_work() {
    let doc = WorkspaceDoc::new_workspace("w").expect("doc");
    let keys: Vec<DocKey> = (0..=MAX_LOOSE_DOCS as u64).filter_map(|i| DocKey::from_wire(&format!("{i:016x}"))).collect();
    assert_eq!(keys.len(), MAX_LOOSE_DOCS + 1);
    assert!(matches!(doc.check_room(&keys), Err(DocError::TooManyDocs)));
    assert_eq!(doc.check_room(&keys[..MAX_LOOSE_DOCS]).expect("room").len(), MAX_LOOSE_DOCS);
}
