//! Every limit a peer holds another peer to, in one place. Each is far above
//! what a real workspace or an honest peer reaches; a peer that exceeds one
//! is dropped with the limit named in the log, and the others go on.
//! `docs/PROTOCOL.md` §8 lists them for compatible implementations.

/// Messages per second, and how many may come at once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limit {
    pub per_second: f64,
    pub burst: f64,
}

/// A `state` message, once its chunks are joined. Senders split sync
/// rounds into messages of at most [`SYNC_MESSAGE`] bytes.
pub const MAX_MESSAGE: usize = 32 * 1024 * 1024;
/// The size a sender keeps a Sync message under (a single document's part
/// may exceed it, up to [`MAX_MESSAGE`]).
pub const SYNC_MESSAGE: usize = 4 * 1024 * 1024;
/// Names shown to other peers, in bytes.
pub const MAX_NAME: usize = 64;
/// Peers listed in one `Peers` message.
pub const MAX_PEERS: usize = 256;
/// Hashes in one `Want` or `Lacks` message.
pub const MAX_WANT: usize = 1024;
/// Selections in one presence message.
pub const MAX_SELECTIONS: usize = 16;
/// Content documents a peer takes from the network for files its tree does
/// not (yet) list as text: a change may arrive a moment before the entry
/// that names its file, but no honest peer sends thousands.
pub const MAX_LOOSE_DOCS: usize = 4096;
/// Sync messages from one peer that bring changes whose dependencies it
/// never sends (an honest one does so only by chance): such changes are
/// never kept, and a peer that keeps sending them is dropped.
pub const DANGLING_SYNC: Limit = Limit { per_second: 8.0 / 60.0, burst: 8.0 };
/// Entries, roster members and terminals together that a peer's changes
/// may bring the tree to (every peer writes the entries to its disk and
/// reads the rest); a change beyond is refused and its sender dropped. The largest source trees have a few hundred thousand files.
pub const MAX_ENTRIES: usize = 1_000_000;
/// Presence messages per second from one peer (honest peers send at most
/// 60); faster ones are ignored, and a sender far above it is dropped.
pub const PRESENCE_RATE: Limit = Limit { per_second: 120.0, burst: 120.0 };
/// `Want` messages per second from one peer (each may name [`MAX_WANT`]
/// texts): a joiner asks again once half of what it asked for has come, so
/// 20,000 files take about 80.
pub const WANT_RATE: Limit = Limit { per_second: 64.0, burst: 256.0 };
/// Connections to peers that said hello: the size of a session's mesh.
pub const MAX_LINKS: usize = 64;
/// Connections being set up (offers answered, no hello yet).
pub const MAX_PENDING_LINKS: usize = 32;
/// Offers this peer makes at once to peers its neighbors told it of.
pub const MAX_DIALING: usize = 16;
/// A terminal's title, in bytes, as shown to other peers.
pub const MAX_TITLE: usize = 128;
/// The largest terminal a peer may ask for, or list.
pub const MAX_COLS: u16 = 1000;
pub const MAX_ROWS: u16 = 500;
/// Members (removed ones included) the host's word may list.
pub const MAX_MEMBERS: usize = 4096;
/// A `Membership` message body: [`MAX_MEMBERS`] members fit with room.
pub const MAX_MEMBERSHIP: usize = 256 * 1024;
/// Joiners waiting for the host's user at once, per link (edit, read-only):
/// made-up identities on one link leave the other's places free. More are
/// ignored for now (they publish their offer again).
pub const MAX_WAITING: usize = 64;
/// A joiner the host's user has not answered in this long is turned away,
/// so that identities nobody answers do not hold a place for ever.
pub const MAX_WAIT: std::time::Duration = std::time::Duration::from_secs(180);
/// Newcomers a host lets in (or asks about) per second; others wait for
/// their offer's next copy.
pub const NEWCOMER_RATE: Limit = Limit { per_second: 1.0, burst: 16.0 };
/// A shared language server's message (a completion list can be long).
pub const MAX_LSP_MESSAGE: usize = 8 * 1024 * 1024;
/// Languages one peer offers to serve.
pub const MAX_LSP_LANGUAGES: usize = 32;
/// Requests one peer may have waiting at a serving peer; more are answered
/// with an error at once.
pub const MAX_LSP_IN_FLIGHT: usize = 64;
/// Documents one peer may have open on a serving peer's servers.
pub const MAX_LSP_OPEN: usize = 256;
/// How long a peer waits for a shared server's answer before it cancels.
pub const LSP_ANSWER: std::time::Duration = std::time::Duration::from_secs(30);
/// Refusals and denials a host signs per second, in all; a flood that
/// exceeds it leaves no debt, so the next offer after it is answered.
pub const REFUSAL_RATE: Limit = Limit { per_second: 10.0, burst: 20.0 };
/// One sender is refused or denied at most once in this long (it
/// publishes its offer every 2 s): a few senders cannot use up the rest's
/// share of [`REFUSAL_RATE`].
pub const REFUSAL_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// The host's signaling server, for anyone who reaches its port: clients
/// served at once, and from one address.
pub const SIGNAL_CLIENTS: usize = 256;
pub const SIGNAL_CLIENTS_PER_ADDRESS: usize = 16;
/// A client that has not published an envelope sealed with the session's
/// key by then gives its place to a newcomer when the server is full.
pub const SIGNAL_VOUCH_GRACE: std::time::Duration = std::time::Duration::from_secs(5);
/// A WebSocket handshake not done by then is closed.
pub const SIGNAL_HANDSHAKE: std::time::Duration = std::time::Duration::from_secs(10);
/// A client silent this long is closed (clients ping every 30 s at most).
pub const SIGNAL_IDLE: std::time::Duration = std::time::Duration::from_secs(90);
/// One signaling message (an SDP with its candidates is a few KB).
pub const SIGNAL_MESSAGE: usize = 64 * 1024;
pub const SIGNAL_TOPICS_PER_CLIENT: usize = 16;
/// Messages waiting for one client: a client that does not read them is
/// closed, so one slow reader never holds the server's memory.
pub const SIGNAL_QUEUE: usize = 256;
/// Publishes per second from one client.
pub const SIGNAL_PUBLISH_RATE: Limit = Limit { per_second: 20.0, burst: 50.0 };
