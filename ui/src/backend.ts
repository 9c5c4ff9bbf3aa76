// Typed wrappers over the Tauri commands of the Rust engine. Argument keys are
// camelCase (Tauri v2 maps them to the snake_case Rust parameters).
import { Channel, invoke } from '@tauri-apps/api/core';

export type PeerId = string;
/** Opaque; passed back exactly as received. */
export type Version = string[];

/** UTF-16 code units; a list of splices applies sequentially. */
export interface Splice {
  index: number;
  delete: number;
  insert: string;
}

export interface SessionInfo {
  role: 'host' | 'guest';
  /** The session id, 32 hex digits. */
  session: string;
  root: string;
  me: PeerId;
  name: string;
  color: string;
  /** For a host: the edit link and the read-only link. */
  invite: string | null;
  viewInvite: string | null;
  /** What the host lets this peer do. */
  access: Access;
  hostName: string;
  /** Secret files and folders kept back (their names say they hold secrets). */
  withheld: string[];
}

export interface InviteInfo {
  hostName: string;
  session: string;
  signal: string;
  /** A read-only link. */
  view: boolean;
}

export type Access = 'host' | 'editor' | 'viewer' | 'removed' | 'not let in';

export interface Invites {
  edit: string;
  view: string;
}

export interface FileEntry {
  /** Stays with the file through renames and moves. */
  id: string;
  path: string;
  kind: 'file' | 'dir';
  shared: boolean;
  note: string | null;
}

export interface OpenedFile {
  path: string;
  text: string;
  version: Version;
}

export interface Pulled {
  splices: Splice[];
  version: Version;
}

export interface Selection {
  anchor: number;
  head: number;
}

export interface PeerView {
  peer: PeerId;
  name: string;
  color: string;
  role: string;
  connected: boolean;
  rttMs: number | null;
  file: string | null;
  selections: Selection[];
  typing: boolean;
  viewportTop: number | null;
  /** This peer lets it use its language servers. */
  sharesLanguages: boolean;
}

export interface TermInfo {
  id: string;
  owner: PeerId;
  ownerName: string;
  title: string;
  cols: number;
  rows: number;
  running: boolean;
  exitCode: number | null;
  writers: PeerId[];
  mine: boolean;
  canWrite: boolean;
}

export interface Presence {
  file: string | null;
  selections: Selection[];
  typing: boolean;
  /** First visible line, 1-based (Monaco line number). */
  viewportTop: number | null;
  base: Version | null;
}

export interface SyncView {
  /** The engine's own wording: "in sync with 2 peers". */
  text: string;
  inSync: string[];
  differing: string[];
  unwritten: number;
}

export interface SearchRequest {
  pattern: string;
  regex: boolean;
  caseSensitive: boolean;
  wholeWord: boolean;
  include: string[];
  exclude: string[];
}

/** A match: 1-based line, 1-based UTF-16 column and length, as Monaco counts. */
export interface SearchHit {
  path: string;
  line: number;
  column: number;
  length: number;
  preview: string;
  /** Where the match starts in `preview`. */
  previewStart: number;
}

export interface SearchResults {
  hits: SearchHit[];
  /** More matched than were sent. */
  truncated: boolean;
}

export interface EditorSettings {
  theme: 'dark' | 'light';
  fontSize: number;
  tabSize: number;
  wordWrap: boolean;
}

export interface NetworkSettings {
  bind: string;
  signal: string;
  relayOnly: boolean;
  iceServers: string[];
  iceUsername: string;
  iceCredential: string;
}

export interface SettingsView {
  network: NetworkSettings;
  editor: EditorSettings;
  /** Where the network settings are kept. */
  file: string;
}

export type GitChange = 'modified' | 'added' | 'deleted' | 'untracked' | 'conflicted';

export interface GitView {
  branch: string | null;
  changes: { path: string; change: GitChange }[];
}

export type ConnectionState = 'connected' | 'alone' | 'reconnecting' | 'stopped';

export type UiEvent =
  | { type: 'peers'; peers: PeerView[] }
  | { type: 'peerJoined'; peer: PeerId; name: string }
  | { type: 'peerLeft'; peer: PeerId; name: string; why: string }
  | { type: 'filesChanged'; paths: string[]; tree: boolean }
  | { type: 'intake'; left: number }
  | { type: 'editRejected'; path: string; reason: string }
  | { type: 'terminals'; terminals: TermInfo[] }
  | { type: 'terminalRefused'; id: string; reason: string }
  | { type: 'status'; state: ConnectionState; message: string | null }
  | ({ type: 'sync' } & SyncView)
  | { type: 'error'; message: string }
  | { type: 'deepLink'; link: string }
  | { type: 'scanning'; found: number; read: number }
  | { type: 'waiting'; waiting: boolean }
  | { type: 'joinRequest'; peer: PeerId; name: string; link: 'edit' | 'view' }
  | { type: 'joinWithdrawn'; peer: PeerId }
  | { type: 'access'; access: Access }
  | { type: 'writeUndone'; path: string; kept: string | null }
  | ({ type: 'invites' } & Invites)
  | { type: 'diagnostics'; path: string; diagnostics: LspDiagnostic[] }
  | { type: 'languageServer'; language: string; state: 'running' | 'restarting' | 'missing'; message: string };

/** LSP's position: 0-based line and UTF-16 character. */
export interface LspPosition {
  line: number;
  character: number;
}

export interface LspRange {
  start: LspPosition;
  end: LspPosition;
}

export interface LspDiagnostic {
  range: LspRange;
  /** 1 error, 2 warning, 3 information, 4 hint. */
  severity?: number;
  message: string;
  source?: string;
  code?: string | number;
}

/** What the editing binding needs from the engine (injected so tests can use a double). */
export interface DocBackend {
  edit(args: { path: string; base: Version; splices: Splice[] }): Promise<Version>;
  pull(args: { path: string; since: Version }): Promise<Pulled>;
  openFile(path: string): Promise<OpenedFile>;
}

/** Commands reject with a string; anything else is turned into one. */
export function errorMessage(err: unknown): string {
  if (typeof err === 'string') return err;
  if (err instanceof Error) return err.message;
  return JSON.stringify(err);
}

export const backend = {
  defaultName: () => invoke<string>('default_name'),
  startHost: (path: string, name: string, approve: boolean) => invoke<SessionInfo>('start_host', { path, name, approve }),
  cancelStart: () => invoke<void>('cancel_start'),
  getSettings: () => invoke<SettingsView>('get_settings'),
  saveSettings: (network: NetworkSettings, editor: EditorSettings) => invoke<void>('save_settings', { network, editor }),
  inspectInvite: (link: string) => invoke<InviteInfo>('inspect_invite', { link }),
  joinSession: (link: string, path: string, name: string) =>
    invoke<SessionInfo>('join_session', { link, path, name }),
  session: () => invoke<SessionInfo | null>('session'),
  leaveSession: () => invoke<void>('leave_session'),
  answerJoin: (peer: PeerId, allow: boolean) => invoke<void>('answer_join', { peer, allow }),
  /** Turns away everyone waiting to join; resolves to how many there were. */
  denyWaiting: () => invoke<number>('deny_waiting'),
  setRole: (peer: PeerId, role: 'editor' | 'viewer' | 'removed') => invoke<void>('set_role', { peer, role }),
  newLinks: () => invoke<Invites>('new_links'),
  subscribe: (events: Channel<UiEvent>) => invoke<void>('subscribe', { events }),
  listFiles: () => invoke<FileEntry[]>('list_files'),
  search: (query: SearchRequest) => invoke<SearchResults>('search', { query }),
  gitStatus: () => invoke<GitView>('git_status'),
  openFile: (path: string) => invoke<OpenedFile>('open_file', { path }),
  lspOpen: (path: string) => invoke<boolean>('lsp_open', { path }),
  /** LSP JSON in and out; documents are named `nitro:/<path>`. */
  lspRequest: (path: string, method: string, params: unknown) => invoke<unknown>('lsp_request', { path, method, params }),
  shareLanguages: (peer: PeerId, allow: boolean) => invoke<void>('share_languages', { peer, allow }),
  edit: (args: { path: string; base: Version; splices: Splice[] }) => invoke<Version>('edit', { ...args }),
  pull: (args: { path: string; since: Version }) => invoke<Pulled>('pull', { ...args }),
  saveFile: (path: string) => invoke<void>('save_file', { path }),
  createFile: (path: string) => invoke<void>('create_file', { path }),
  createDir: (path: string) => invoke<void>('create_dir', { path }),
  renamePath: (from: string, to: string) => invoke<void>('rename_path', { from, to }),
  deletePath: (path: string) => invoke<void>('delete_path', { path }),
  setPresence: (presence: Presence) => invoke<void>('set_presence', { ...presence }),
  peers: () => invoke<PeerView[]>('peers'),
  syncStatus: () => invoke<SyncView>('sync_status'),
  terminals: () => invoke<TermInfo[]>('terminals'),
  terminalOpen: (cols: number, rows: number) => invoke<string>('terminal_open', { cols, rows }),
  /** Resolves to a token that `terminalDetach` needs: a late detach never stops a newer stream. */
  terminalAttach: (id: string, output: Channel<ArrayBuffer>) => invoke<number>('terminal_attach', { id, output }),
  terminalDetach: (id: string, token: number) => invoke<void>('terminal_detach', { id, token }),
  terminalInput: (id: string, data: string) => invoke<void>('terminal_input', { id, data }),
  terminalResize: (id: string, cols: number, rows: number) => invoke<void>('terminal_resize', { id, cols, rows }),
  terminalClose: (id: string) => invoke<void>('terminal_close', { id }),
  terminalGrant: (id: string, peer: PeerId, write: boolean) => invoke<void>('terminal_grant', { id, peer, write }),
} satisfies Record<string, (...args: never[]) => Promise<unknown>>;

export const docBackend: DocBackend = {
  edit: backend.edit,
  pull: backend.pull,
  openFile: backend.openFile,
};
