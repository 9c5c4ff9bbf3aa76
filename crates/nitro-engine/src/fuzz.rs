//! Entry points for the fuzzers (`crates/nitro-engine/fuzz`, cargo-fuzz)
//! and for their smoke run in the tests: every decoder that a peer, or an
//! outsider who reaches the signaling port, feeds. Each takes any bytes and
//! must return without panicking; where a decoder has an encoder, what
//! decodes encodes back to itself.

use crate::doc::{DocKey, SyncState, WorkspaceDoc};
use crate::protocol::frame::Reassembler;
use crate::protocol::limits::MAX_MESSAGE;
use crate::protocol::membership::SignedRoles;
use crate::protocol::presence::PresenceMsg;
use crate::protocol::{Invite, PeerId, Secret, SessionId, StateMsg};
use crate::signal::crypto::SignalKey;
use crate::signal::{Envelope, hub, refusal};

/// For the fuzzers: libFuzzer's panic hook aborts on every panic, also one
/// the engine catches (Automerge's, see `doc::guarded`), so it is replaced
/// by a silent one. A panic that escapes a target still ends the run, as a
/// crash.
pub fn init() {
    std::panic::set_hook(Box::new(|_| {}));
}

/// Data channel messages on `state`: the input is cut into chunks, each
/// led by a length byte.
pub fn frames(data: &[u8]) {
    let mut r = Reassembler::default();
    let mut rest = data;
    while let Some((&n, tail)) = rest.split_first() {
        let (chunk, tail) = tail.split_at(usize::from(n).min(tail.len()));
        if let Ok(Some(msg)) = r.push(chunk) {
            assert!(msg.len() <= MAX_MESSAGE);
        }
        rest = tail;
    }
}

/// One reassembled `state` message.
pub fn state_message(data: &[u8]) {
    if let Ok(msg) = StateMsg::decode(data) {
        assert_eq!(StateMsg::decode(&msg.encode()).as_ref(), Ok(&msg), "decodes back to itself");
        if let StateMsg::Membership(word) = &msg {
            let host = [3; 32];
            assert!(SignedRoles::verify(word, &SessionId([9; 16]), &host).is_err(), "no certificate has that fingerprint");
        }
    }
}

/// One `presence` datagram.
pub fn presence(data: &[u8]) {
    if let Ok(msg) = PresenceMsg::decode(data) {
        assert_eq!(PresenceMsg::decode(&msg.encode()).as_ref(), Ok(&msg), "decodes back to itself");
    }
}

/// An invite link, as pasted.
pub fn invite(data: &[u8]) {
    if let Ok(link) = std::str::from_utf8(data)
        && let Ok(invite) = Invite::parse(link)
    {
        assert_eq!(Invite::parse(&invite.to_link()).as_ref(), Ok(&invite), "parses back to itself");
    }
}

/// A signaling message from a WebSocket client: read as the host's server
/// and engine read it, opened with a session's key, checked as a refusal.
pub fn signaling(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let key = SignalKey::derive(&Secret([7; 32]), &SessionId([9; 16]));
    let pinned = [3; 32];
    for env in [hub::envelope_of(text), serde_json::from_str::<Envelope>(text).ok()].into_iter().flatten() {
        let _ = key.open(&env);
        let offer = Envelope { nitro: 1, kind: crate::signal::Kind::Offer, from: env.from.clone(), to: None, sealed: Some("x".into()) };
        assert!(!refusal::is_genuine(&env, &offer, &pinned), "no certificate has that fingerprint");
        assert!(refusal::verdict_reason(&env, &offer, &pinned).is_none(), "no certificate has that fingerprint");
    }
}

/// A saved state folder's document, as loaded at start.
pub fn document(data: &[u8]) {
    if let Ok(doc) = WorkspaceDoc::load(data, Some("fuzz")) {
        read_all(&doc);
    }
}

/// A Changes or Sync body from a member (the kind byte's bit 1: one the
/// host lets only watch, whose changes are filtered), applied to a workspace.
pub fn changes(data: &[u8]) {
    let Some((&kind, body)) = data.split_first() else { return };
    let viewer = kind & 2 != 0;
    let mut doc = match WorkspaceDoc::new_workspace("fuzz") {
        Ok(d) => d,
        Err(e) => panic!("a new workspace: {e}"),
    };
    let wire = [if kind % 2 == 0 { 0x02 } else { 0x03 }].into_iter().chain(body.iter().copied()).collect::<Vec<u8>>();
    match StateMsg::decode(&wire) {
        Ok(StateMsg::Sync(items)) => {
            let mut state = SyncState::default();
            for (key, msg) in items {
                if let Some(key) = DocKey::from_wire(&key) {
                    let _ = doc.receive_sync_from(&mut state, &key, &msg, viewer);
                }
            }
            let _ = doc.generate_sync(&mut state);
        }
        Ok(StateMsg::Changes(items)) => {
            let items: Vec<(DocKey, Vec<u8>)> = items.into_iter().filter_map(|(k, b)| Some((DocKey::from_wire(&k)?, b))).collect();
            if viewer {
                if let Ok(mut decoded) = WorkspaceDoc::decode_changes(items) {
                    doc.keep_base_only(&mut decoded);
                    let _ = doc.apply_decoded(vec![decoded]);
                }
            } else {
                let _ = doc.apply_changes(items);
            }
        }
        _ => return,
    }
    read_all(&doc);
    assert_eq!(doc.workspace().as_deref(), Some("fuzz"), "no change moves the workspace's root");
}

fn read_all(doc: &WorkspaceDoc) {
    let tree = doc.tree();
    for (id, entry) in &tree.entries {
        assert_eq!(tree.by_path.get(&entry.path), Some(id), "one entry per path");
    }
    let _ = (doc.enrollments(), doc.terminals(), doc.digest(), doc.workspace());
    let _ = PeerId::try_from("0123456789abcdef".to_owned());
}

#[cfg(test)]
mod smoke {
    //! A short run of every target over valid inputs and deterministic
    //! mutations of them (the fuzzers run far longer: see docs/SECURITY.md).

    use super::*;
    use crate::doc::Content;
    use crate::protocol::presence::WireSelection;
    use crate::protocol::wire::{Digest, Hello, PROTOCOL_VERSION};

    /// xorshift: the same mutations on every run.
    struct Mutator(u64);

    impl Mutator {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn mutate(&mut self, seed: &[u8]) -> Vec<u8> {
            let mut v = seed.to_vec();
            for _ in 0..=(self.next() % 4) {
                let at = if v.is_empty() { 0 } else { (self.next() as usize) % v.len() };
                match self.next() % 4 {
                    0 if !v.is_empty() => v[at] ^= 1 << (self.next() % 8),
                    1 => v.insert(at, self.next() as u8),
                    2 if !v.is_empty() => {
                        v.remove(at);
                    }
                    _ => v.truncate(at),
                }
            }
            v
        }
    }

    /// With `NITRO_FUZZ_SEEDS=DIR`, the seeds are also written to
    /// `DIR/<target>/`, to start the fuzzers' corpora from.
    fn run(name: &str, target: fn(&[u8]), seeds: &[Vec<u8>]) {
        if let Some(dir) = std::env::var_os("NITRO_FUZZ_SEEDS") {
            let dir = std::path::Path::new(&dir).join(name);
            std::fs::create_dir_all(&dir).expect("seed folder");
            for (i, seed) in seeds.iter().enumerate() {
                std::fs::write(dir.join(format!("seed-{i}")), seed).expect("seed");
            }
        }
        let mut m = Mutator(0x9e37_79b9_7f4a_7c15);
        for seed in seeds {
            target(seed);
            for _ in 0..2000 {
                target(&m.mutate(seed));
            }
        }
    }

    #[test]
    fn every_decoder_survives_mutated_input() {
        let hello = StateMsg::Hello(Hello {
            protocol: PROTOCOL_VERSION,
            peer: PeerId::try_from("0123456789abcdef".to_owned()).expect("id"),
            name: "ada".into(),
            workspace: "w".into(),
        });
        let messages: Vec<Vec<u8>> =
            [hello, StateMsg::Digest(Digest::default()), StateMsg::Want(vec!["ab".repeat(32)]), StateMsg::Blobs(vec![("cd".repeat(32), "x".into())])]
                .iter()
                .map(StateMsg::encode)
                .collect();
        run("state_message", state_message, &messages);
        run("frames", frames, &[[vec![5, 1], b"hello".to_vec(), vec![3, 0, 1, 2]].concat()]);
        let sel = WireSelection { anchor: vec![1, 2], head: vec![3] };
        run(
            "presence",
            presence,
            &[PresenceMsg { seq: 1, name: "bob".into(), file: Some("ab".into()), selections: vec![sel], ..Default::default() }.encode()],
        );
        let invite = Invite {
            session: SessionId([1; 16]),
            secret: Secret([2; 32]),
            signal: url::Url::parse("ws://127.0.0.1:4000").expect("url"),
            fingerprint: [3; 32],
            host_name: "ada".into(),
            view: true,
        };
        run("invite", self::invite, &[invite.to_link().into_bytes()]);
        run(
            "signaling",
            signaling,
            &[br#"{"type":"publish","topic":"t","data":{"nitro":1,"kind":"refused","from":"0123456789abcdef","to":null,"box":"AAAA"}}"#.to_vec()],
        );
        let mut host = WorkspaceDoc::new_workspace("fuzz").expect("doc");
        host.create(None, "a.txt", &Content::Text("a".into())).expect("entry");
        let changes = host.take_changes().expect("changes");
        run("document", document, &[host.save()]);
        let body = StateMsg::Changes(changes.into_iter().map(|(k, b)| (k.to_wire().to_owned(), b)).collect()).encode();
        run("changes", self::changes, &[[&[1u8][..], &body[1..]].concat()]);
    }

    /// Found by the `changes` target: a change that names an actor the
    /// document does not know makes Automerge panic while applying it. The
    /// peer refuses it and its document is as it was.
    #[test]
    fn a_change_automerge_cannot_apply_leaves_the_document_as_it_was() {
        let mut host = WorkspaceDoc::new_workspace("fuzz").expect("doc");
        host.create(None, "a.txt", &Content::Text("a".into())).expect("entry");
        let (key, change) = host.take_changes().expect("changes").remove(0);
        let mut m = Mutator(0x9e37_79b9_7f4a_7c15);
        let mut target = WorkspaceDoc::new_workspace("fuzz").expect("doc");
        let rejected = (0..20_000).find_map(|_| {
            let before = target.save();
            match target.apply_changes(vec![(key.clone(), m.mutate(&change))]) {
                Err(crate::doc::DocError::Rejected) => Some(before),
                _ => {
                    target = WorkspaceDoc::load(&before, Some("fuzz")).expect("reload");
                    None
                }
            }
        });
        let before = rejected.expect("a mutation Automerge cannot apply");
        assert_eq!(target.save(), before, "the document is as it was");
        target.apply_changes(vec![(key, change)]).expect("an honest change still applies");
        assert!(target.tree().by_path.contains_key(&crate::path::RelPath::new("a.txt").expect("path")));
    }
}
