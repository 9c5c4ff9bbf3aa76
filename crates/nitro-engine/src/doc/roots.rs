//! The tree document's root: `schema`, `workspace`, and the `entries`,
//! `peers` and `terminals` maps, read as the workspace's first change made
//! them. That change is the same on every peer, made from the session id
//! alone ([`genesis`]), so every peer finds the same objects by their ids;
//! a member's later change to the root (a new `entries` map would hide
//! every file, a new `schema` or `workspace` would stop peers from loading
//! or joining) changes nothing that any peer reads or writes.

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, Automerge, ChangeHash, ObjId, ObjType, ROOT, ReadDoc, TextEncoding};

use super::{DocError, SCHEMA, get_obj, str_of, uint_of};

/// The workspace's first change: its root, with the schema and session id.
pub(super) fn genesis(session: &str) -> Result<automerge::Change, DocError> {
    use sha2::Digest as _;
    let seed = sha2::Sha256::new().chain_update(b"nitro workspace\0").chain_update(session.as_bytes()).finalize();
    let mut doc = Automerge::new_with_encoding(TextEncoding::Utf16CodeUnit).with_actor(ActorId::from(&seed[..16]));
    let mut tx = doc.transaction();
    tx.put(ROOT, "schema", SCHEMA)?;
    tx.put(ROOT, "workspace", session)?;
    tx.put_object(ROOT, "entries", ObjType::Map)?;
    tx.put_object(ROOT, "peers", ObjType::Map)?;
    tx.put_object(ROOT, "terminals", ObjType::Map)?;
    tx.commit_with(CommitOptions::default().with_time(0));
    doc.get_last_local_change().ok_or_else(|| DocError::Change("no first change".into()))
}

/// Where [`genesis`] put each root object: the op counter that made it.
const OBJECTS: [(&str, u64); 3] = [("entries", 3), ("peers", 4), ("terminals", 5)];

/// The root as this peer reads it.
#[derive(Debug, Clone, Default)]
pub(super) struct Roots {
    pub entries: Option<ObjId>,
    pub peers: Option<ObjId>,
    pub terminals: Option<ObjId>,
    pub schema: Option<u64>,
    pub workspace: Option<String>,
    /// A member put other objects at the root's keys: the maps read here
    /// are no longer the ones its patches describe.
    pub diverted: bool,
}

impl Roots {
    /// Reads the root as `first` made it; while the document does not hold
    /// `first` (not joined yet, or a workspace made by an older version
    /// without one), as it is now.
    pub fn resolve(doc: &Automerge, first: Option<&(ChangeHash, ActorId)>) -> Self {
        let current = |key: &str| get_obj(doc, &ROOT, key);
        let Some((hash, actor)) = first.filter(|(h, _)| super::has_change(doc, h)) else {
            return Self {
                entries: current("entries"),
                peers: current("peers"),
                terminals: current("terminals"),
                schema: uint_of(doc.get(ROOT, "schema")),
                workspace: str_of(doc.get(ROOT, "workspace")),
                diverted: false,
            };
        };
        let [entries, peers, terminals] = OBJECTS.map(|(_, counter)| doc.import_obj(&format!("{counter}@{actor}")).ok());
        let diverted = OBJECTS.iter().zip([&entries, &peers, &terminals]).any(|((key, _), pinned)| current(key).as_ref() != pinned.as_ref());
        Self {
            entries,
            peers,
            terminals,
            schema: uint_of(doc.get_at(ROOT, "schema", &[*hash])),
            workspace: str_of(doc.get_at(ROOT, "workspace", &[*hash])),
            diverted,
        }
    }
}
