// Generated from the Rust types in src-tauri (see src-tauri/src/window_types.rs); do not edit.
import type { LspDiagnostic } from '../lsp-types';

export type Side = "host" | "guest";

export type Access = "host" | "editor" | "viewer" | "removed" | "not let in";

export type MemberRole = "editor" | "viewer" | "removed";

export type LinkKind = "edit" | "view";

export type SessionInfo = { role: Side, 
/**
 * The session id, 32 hex digits.
 */
session: string, root: string, me: string, name: string, color: string, 
/**
 * For a host: the edit link and the read-only link.
 */
invite: string | null, viewInvite: string | null, 
/**
 * What the host lets this peer do.
 */
access: Access, hostName: string, 
/**
 * Secret files and folders this peer keeps back (their names say so).
 */
withheld: Array<string>, };

export type InviteInfo = { hostName: string, session: string, signal: string, 
/**
 * A read-only link.
 */
view: boolean, };

export type Invites = { edit: string, view: string, };

export type EntryKind = "file" | "dir";

export type FileEntry = { 
/**
 * Stays with the file through renames and moves: open tabs follow it.
 */
id: string, path: string, kind: EntryKind, 
/**
 * False for binary and over-large files: listed, never shared.
 */
shared: boolean, note: string | null, };

export type OpenedFile = { path: string, text: string, version: Array<string>, };

export type Splice = { index: number, delete: number, insert: string, };

export type Pulled = { splices: Array<Splice>, version: Array<string>, };

export type Selection = { anchor: number, head: number, };

export type PeerView = { peer: string, name: string, color: string, role: Access, connected: boolean, rttMs: number | null, file: string | null, selections: Array<Selection>, typing: boolean, viewportTop: number | null, 
/**
 * This peer lets it use its language servers.
 */
sharesLanguages: boolean, };

export type TermInfo = { id: string, owner: string, ownerName: string, title: string, cols: number, rows: number, running: boolean, exitCode: number | null, writers: Array<string>, mine: boolean, canWrite: boolean, };

export type SyncView = { text: string, inSync: Array<string>, differing: Array<string>, unwritten: number, };

export type ConnectionState = "connected" | "alone" | "reconnecting" | "stopped";

export type ServerState = "running" | "restarting" | "missing";

export type UiEvent = { "type": "peers", peers: Array<PeerView>, } | { "type": "peerJoined", peer: string, name: string, } | { "type": "peerLeft", peer: string, name: string, 
/**
 * `left` after a goodbye, else what happened (`went silent`).
 */
why: string, } | { "type": "filesChanged", paths: Array<string>, tree: boolean, } | { "type": "intake", left: number, } | { "type": "editRejected", path: string, reason: string, } | { "type": "terminals", terminals: Array<TermInfo>, } | { "type": "terminalRefused", id: string, reason: string, } | { "type": "status", state: ConnectionState, message: string | null, } | { "type": "sync" } & SyncView | { "type": "deepLink", link: string, } | { "type": "scanning", found: number, read: number, } | { "type": "waiting", waiting: boolean, } | { "type": "joinRequest", peer: string, name: string, link: LinkKind, } | { "type": "joinWithdrawn", peer: string, } | { "type": "access", access: Access, } | { "type": "diagnostics", path: string, diagnostics: LspDiagnostic[], } | { "type": "languageServer", language: string, state: ServerState, message: string, } | { "type": "invites", edit: string, view: string, } | { "type": "writeUndone", path: string, kept: string | null, };

export type SearchRequest = { pattern: string, regex: boolean, caseSensitive: boolean, wholeWord: boolean, include: Array<string>, exclude: Array<string>, };

export type SearchHit = { path: string, line: number, column: number, length: number, preview: string, 
/**
 * Where the match starts in `preview` (UTF-16).
 */
previewStart: number, };

export type SearchResults = { hits: Array<SearchHit>, 
/**
 * More matched than were sent.
 */
truncated: boolean, };

export type GitChange = "modified" | "added" | "deleted" | "untracked" | "conflicted";

export type GitChangeView = { path: string, change: GitChange, };

export type GitView = { 
/**
 * `None` without a repository, or when detached.
 */
branch: string | null, changes: Array<GitChangeView>, };

export type EditorSettings = { theme: 'dark' | 'light', fontSize: number, tabSize: number, wordWrap: boolean, };

export type NetworkSettings = { 
/**
 * An IP address, or empty for every interface.
 */
bind: string, 
/**
 * A `ws://` or `wss://` URL, or empty for the host's own endpoint.
 */
signal: string, relayOnly: boolean, 
/**
 * STUN or TURN server URLs, one per server.
 */
iceServers: Array<string>, iceUsername: string, iceCredential: string, };

export type SettingsView = { network: NetworkSettings, editor: EditorSettings, 
/**
 * Where the network settings are kept (shown on the page).
 */
file: string, };
