// Typed wrappers over the Tauri commands of the Rust engine. Argument keys are
// camelCase (Tauri v2 maps them to the snake_case Rust parameters).
import { Channel, invoke } from '@tauri-apps/api/core';

export type PeerId = string;
/** Opaque; passed back exactly as received. */
export type Version = string[];

// The types the shell sends and takes are generated from its Rust ones.
export type * from './generated/window';
export type * from './lsp-types';
import type {
  EditorSettings,
  FileEntry,
  GitView,
  InviteInfo,
  Invites,
  MemberRole,
  NetworkSettings,
  OpenedFile,
  PeerView,
  Pulled,
  SearchRequest,
  SearchResults,
  Selection,
  SessionInfo,
  SettingsView,
  Splice,
  SyncView,
  TermInfo,
  UiEvent,
} from './generated/window';

export interface Presence {
  file: string | null;
  selections: Selection[];
  typing: boolean;
  /** First visible line, 1-based (Monaco line number). */
  viewportTop: number | null;
  base: Version | null;
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
  setRole: (peer: PeerId, role: MemberRole) => invoke<void>('set_role', { peer, role }),
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
