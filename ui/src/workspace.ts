// The IDE window of a running session: explorer, editor, terminals, peers and
// status bar, wired to the engine's events.
import { getCurrentWindow } from '@tauri-apps/api/window';
import { backend, errorMessage, type Access, type Invites, type PeerView, type SessionInfo, type SyncView } from './backend';
import { copyText, selectContents } from './clipboard';
import { baseName, h, listen, type Disposable } from './dom';
import { EditorArea } from './editor-area';
import type { EventHub } from './events';
import { FileTree } from './file-tree';
import { choiceDialog, confirmDialog } from './modal';
import { fuzzyFilter } from './fuzzy';
import { Languages } from './language';
import { commandFor, keyFor } from './keys';
import { quickPick, type PickItem } from './quick-pick';
import { SearchPanel } from './search-panel';
import { openSettings } from './settings';
import { PeersPanel } from './peers-panel';
import { splitter } from './splitter';
import { StatusBar } from './status-bar';
import { TerminalPanel } from './terminal-panel';
import { toast } from './toast';

export class Workspace {
  private readonly root: HTMLElement;
  private readonly editor: EditorArea;
  private readonly tree: FileTree;
  private readonly search: SearchPanel;
  private readonly peers: PeersPanel;
  private readonly side: HTMLElement;
  private readonly explorerView: HTMLElement;
  private readonly searchView: HTMLElement;
  private readonly termPane: HTMLElement;
  private peerList: PeerView[] = [];
  /** Joiners waiting for this host's user, in the order they came. */
  private waiting: { peer: string; name: string; link: 'edit' | 'view' }[] = [];
  /** Whether a dialog is asking about `waiting[0]`. */
  private asking = false;
  /** Closes that dialog, to ask again with the new count of those waiting. */
  private reask: AbortController | null = null;
  private readonly terminals: TerminalPanel;
  private readonly status: StatusBar;
  private readonly languages: Languages;
  private readonly subscriptions: Disposable[];
  private statusSeen = false;
  /** The workspace folder's name. */
  private readonly name: string;
  /** For a host: its invite links as they are now. */
  private links: Invites | null;
  private access: Access;

  constructor(
    container: HTMLElement,
    readonly info: SessionInfo,
    hub: EventHub,
    /** Called after the session was left. */
    private readonly onLeft: () => void,
    justHosted: boolean,
  ) {
    this.name = baseName(info.root) || info.root;
    this.links = info.invite && info.viewInvite ? { edit: info.invite, view: info.viewInvite } : null;
    this.access = info.access;
    showTitle(this.name);
    const side = h('aside', { className: 'sidebar' });
    this.side = side;
    this.explorerView = h('div', { className: 'side-view' });
    this.searchView = h('div', { className: 'side-view', hidden: true });
    const activity = (icon: string, title: string, run: () => void) => {
      const b = h('button', { className: `icon-btn codicon codicon-${icon}`, title });
      b.onclick = run;
      return b;
    };
    side.append(
      h(
        'div',
        { className: 'side-switch' },
        activity('files', `Explorer (${keyFor('explorer')})`, () => this.showSide('explorer')),
        activity('search', `Search (${keyFor('search')})`, () => this.showSide('search')),
      ),
      this.explorerView,
      this.searchView,
    );
    const center = h('main', { className: 'center' });
    const editorPane = h('div', { className: 'editor-pane' });
    const termPane = h('section', { className: 'terminal-pane' });
    this.termPane = termPane;
    const peersPane = h('aside', { className: 'peers-pane' });
    const statusEl = h('footer', { className: 'statusbar' });
    center.append(editorPane, splitter(termPane, 'y', -1, 80, 900), termPane);
    this.root = h(
      'div',
      { className: 'workspace' },
      justHosted && this.links ? inviteBanner(this.links, info.withheld) : null,
      h(
        'div',
        { className: 'ws-body' },
        side,
        splitter(side, 'x', 1, 160, 600),
        center,
        splitter(peersPane, 'x', -1, 160, 500),
        peersPane,
      ),
      statusEl,
    );
    container.append(this.root);

    this.status = new StatusBar(statusEl, info, () => this.links?.edit ?? null, () => void this.leave());
    this.editor = new EditorArea(editorPane, {
      activeChanged: (path) => {
        this.tree.setActive(path);
        this.status.setFile(path);
        showTitle(path ? `${baseName(path)} — ${this.name}` : this.name);
      },
      cursorMoved: (line, col) => this.status.setCursor(line, col),
      message: (text) => this.status.flash(text),
      followChanged: (peer) => this.peers.setFollowing(peer),
      modelOpened: (model) => this.languages.modelOpened(model),
    });
    this.languages = new Languages({ openAt: (path, line, column) => void this.editor.openAt(path, line, column, 0) });
    this.tree = new FileTree(this.explorerView, this.name, {
      open: (path) => void this.editor.open(path, true),
      renamed: (from, to) => this.editor.renamed(from, to),
      listed: (paths, moved) => void this.editor.follow(paths, moved),
    });
    this.search = new SearchPanel(this.searchView, (hit) => void this.editor.openAt(hit.path, hit.line, hit.column, hit.length));
    this.peers = new PeersPanel(peersPane, info, (peer) => this.editor.toggleFollow(peer));
    this.terminals = new TerminalPanel(termPane);

    this.subscriptions = [
      hub.on('peers', (e) => this.setPeers(e.peers)),
      hub.on('peerJoined', (e) => toast(`${e.name} joined`)),
      hub.on('peerLeft', (e) => toast(`${e.name} ${e.why}`)),
      hub.on('filesChanged', (e) => {
        this.editor.filesChanged(e.paths);
        if (e.tree) void this.tree.refresh();
      }),
      hub.on('intake', (e) => this.status.setIntake(e.left)),
      hub.on('editRejected', (e) => this.editor.editRejected(e.path, e.reason)),
      hub.on('terminals', (e) => this.terminals.setTerminals(e.terminals)),
      hub.on('terminalRefused', (e) => this.terminals.refused(e.id, e.reason)),
      hub.on('status', (e) => {
        this.statusSeen = true;
        this.status.setConnection(e.state, e.message);
        if (e.message && (e.state === 'reconnecting' || e.state === 'stopped')) toast(e.message, 'error');
      }),
      hub.on('sync', (e) => this.setSync(e)),
      hub.on('joinRequest', (e) => {
        this.waiting = [...this.waiting.filter((w) => w.peer !== e.peer), { peer: e.peer, name: e.name, link: e.link }];
        this.reask?.abort();
        void this.askToLetIn();
      }),
      hub.on('joinWithdrawn', (e) => {
        const who = this.waiting.find((w) => w.peer === e.peer)?.name ?? this.peerName(e.peer);
        this.waiting = this.waiting.filter((w) => w.peer !== e.peer);
        this.reask?.abort();
        toast(`${who} stopped waiting to be let in`);
      }),
      hub.on('access', (e) => this.setAccess(e.access)),
      hub.on('diagnostics', (e) => this.languages.setDiagnostics(e.path, e.diagnostics)),
      hub.on('languageServer', (e) => {
        if (e.state === 'running') this.status.flash(e.message);
        else toast(e.message, e.state === 'missing' ? undefined : 'error');
      }),
      this.languages.onProblems(() => this.status.setProblems(this.languages.problems())),
      hub.on('invites', (e) => {
        this.links = { edit: e.edit, view: e.view };
        toast('The invite links were replaced: the old ones let nobody new in');
      }),
      hub.on('writeUndone', (e) =>
        toast(
          `${e.path}: you have a read-only role, so your change is not shared and the file was put back${e.kept ? `; your text is in ${e.kept}` : ''}`,
          'error',
        ),
      ),
      // Taken before Monaco or a terminal sees them.
      listen(window, 'keydown', (e) => this.onKey(e), { capture: true }),
      closeGuard(() => this.confirmLeave()),
      this.watchGit(),
    ];
    this.editor.setLocked(this.access === 'viewer');
    void this.load();
  }

  /** The host let this peer edit, or made it read-only. */
  private setAccess(access: Access): void {
    if (access === this.access) return;
    this.access = access;
    this.editor.setLocked(access === 'viewer');
    this.status.setAccess(access);
    this.peers.setAccess(access);
    if (access === 'viewer') toast('The host made you read-only: you see everything and change nothing');
    else if (access === 'editor') toast('The host lets you edit');
    else if (access === 'removed') toast('The host removed you from the session', 'error');
  }

  /**
   * Asks about those waiting at the door of this host's session, one at a
   * time, saying how many more wait; many at once (someone making up
   * identities with a link) can be turned away together.
   */
  private async askToLetIn(): Promise<void> {
    if (this.asking) return;
    this.asking = true;
    try {
      for (let next = this.waiting[0]; next; next = this.waiting[0]) {
        const { peer, name, link } = next;
        const how = link === 'edit' ? 'the edit link' : 'the read-only link';
        const more = this.waiting.length - 1;
        this.reask = new AbortController();
        const answer = await choiceDialog(
          `Let ${name} in?`,
          `${name} wants to join with ${how}. Their identity: ${peer.slice(0, 4)} ${peer.slice(4, 8)} ${peer.slice(8, 12)} ${peer.slice(12)} (the same whenever they come back from that computer).` +
            (more > 0 ? ` ${more} more waiting after them.` : ''),
          { yes: 'Let in', no: 'Deny', extra: more > 0 ? { label: `Deny all ${more + 1}`, value: 'all' } : undefined },
          this.reask.signal,
        );
        this.reask = null;
        if (answer === 'aborted') continue;
        try {
          if (answer === 'all') {
            this.waiting = [];
            const denied = await backend.denyWaiting();
            toast(`Turned away ${denied} waiting to join; if you did not invite them, replace the links`);
          } else {
            this.waiting = this.waiting.filter((w) => w.peer !== peer);
            await backend.answerJoin(peer, answer === 'yes');
          }
        } catch (err) {
          toast(`Could not answer ${name}: ${errorMessage(err)}`, 'error');
        }
      }
    } finally {
      this.asking = false;
    }
  }

  private peerName(peer: string): string {
    return this.peerList.find((p) => p.peer === peer)?.name ?? 'A joiner';
  }

  private async newLinks(): Promise<void> {
    const yes = await confirmDialog(
      'Make new invite links?',
      'The links you sent stop letting anyone new in; members already in stay and can come back.',
      'New links',
    );
    if (!yes) return;
    try {
      const links = await backend.newLinks();
      this.links = links;
      await copyInvite(links.edit);
    } catch (err) {
      toast(`Could not make new links: ${errorMessage(err)}`, 'error');
    }
  }

  /**
   * Whether the user wants to leave: asked when leaving would cut peers off
   * (hosting) or end shells that run here.
   */
  async confirmLeave(): Promise<boolean> {
    const peers = this.peerList.filter((p) => p.connected).length;
    const shells = this.terminals.runningMine;
    const hosting = this.info.role === 'host' && peers > 0;
    if (!hosting && shells === 0) return true;
    const parts = [
      hosting ? `${peers} peer${peers === 1 ? ' is' : 's are'} connected to your session` : '',
      shells ? `${shells} shell${shells === 1 ? '' : 's'} of yours run${shells === 1 ? 's' : ''} here and will end` : '',
    ].filter(Boolean);
    return confirmDialog(hosting ? 'Stop hosting?' : 'Leave the session?', `${parts.join('; ')}.`, hosting ? 'Stop hosting' : 'Leave', true);
  }

  /** Leaves the session (after asking the engine), then tears the window down. */
  async leave(): Promise<void> {
    if (!(await this.confirmLeave())) return;
    try {
      await backend.leaveSession();
    } catch (err) {
      toast(`Could not leave the session: ${errorMessage(err)}`, 'error');
      return;
    }
    this.dispose();
    this.onLeft();
  }

  dispose(): void {
    this.subscriptions.forEach((s) => s.dispose());
    this.languages.dispose();
    this.editor.dispose();
    this.terminals.dispose();
    this.root.remove();
    showTitle(null);
  }

  private async load(): Promise<void> {
    await this.tree.refresh();
    try {
      const [peers, terminals, sync] = await Promise.all([backend.peers(), backend.terminals(), backend.syncStatus()]);
      this.setPeers(peers);
      this.setSync(sync);
      this.terminals.setTerminals(terminals);
      // Until the engine reports a status change, show what the roster says.
      if (!this.statusSeen) {
        this.status.setConnection(peers.some((p) => p.peer !== this.info.me && p.connected) ? 'connected' : 'alone', null);
      }
    } catch (err) {
      toast(errorMessage(err), 'error');
    }
  }

  private setSync(s: SyncView): void {
    this.status.setSync(s.text, s.differing.length === 0 && s.unwritten === 0);
  }

  /** Git's markers and branch, from this peer's own repository, kept fresh. */
  private watchGit(): Disposable {
    let busy = false;
    const poll = async () => {
      if (busy || document.hidden) return;
      busy = true;
      try {
        const git = await backend.gitStatus();
        this.tree.setGit(git.changes);
        this.status.setBranch(git.branch);
      } catch {
        // No session any more, or git failed: the markers stay as they were.
      } finally {
        busy = false;
      }
    };
    void poll();
    const timer = setInterval(() => void poll(), GIT_POLL_MS);
    return { dispose: () => clearInterval(timer) };
  }

  private onKey(e: KeyboardEvent): void {
    const target = e.target instanceof Element ? e.target : null;
    const place = target?.closest('.modal-backdrop, .quick-pick-backdrop') ? 'dialog' : target?.closest('.xterm') ? 'terminal' : 'editor';
    const id = commandFor(e, place);
    const command = id && this.commands().find((c) => c.id === id);
    if (!command) return;
    e.preventDefault();
    e.stopPropagation();
    command.run();
  }

  /** What the command palette offers; those with a key binding show it. */
  private commands(): Command[] {
    const all: Command[] = [
      { id: 'quickOpen', label: 'Go to File…', run: () => this.quickOpen() },
      { id: 'commandPalette', label: 'Show All Commands', run: () => this.commandPalette() },
      { id: 'search', label: 'Search: Find in Files', run: () => this.showSide('search') },
      { id: 'explorer', label: 'View: Show Explorer', run: () => this.showSide('explorer') },
      { id: 'toggleSidebar', label: 'View: Toggle Side Bar', run: () => this.toggle(this.side) },
      { id: 'toggleTerminal', label: 'View: Toggle Terminal', run: () => this.toggleTerminal() },
      { id: 'newTerminal', label: 'Terminal: New Terminal', run: () => this.newTerminal() },
      { id: 'closeTab', label: 'File: Close Editor', run: () => this.editor.closeActive() },
      { id: 'nextTab', label: 'View: Next Editor', run: () => this.editor.cycleTabs(1) },
      { id: 'previousTab', label: 'View: Previous Editor', run: () => this.editor.cycleTabs(-1) },
      { id: 'splitEditor', label: 'View: Split Editor', run: () => this.editor.split() },
      { id: 'focusFirstGroup', label: 'View: Focus First Editor Group', run: () => this.editor.focusGroup(0) },
      { id: 'focusSecondGroup', label: 'View: Focus Second Editor Group', run: () => this.editor.focusGroup(1) },
      { id: 'save', label: 'File: Save', run: () => void this.editor.save() },
      { id: 'problems', label: 'View: Problems', run: () => this.showProblems() },
      { id: 'openSettings', label: 'Preferences: Open Settings', run: () => void openSettings() },
      { id: 'leave', label: 'Session: Leave', run: () => void this.leave() },
    ];
    const links = this.links;
    if (links) {
      all.push(
        { id: 'copyInvite', label: 'Session: Copy Invite Link', run: () => void copyInvite(links.edit) },
        { id: 'copyViewInvite', label: 'Session: Copy Read-only Invite Link', run: () => void copyInvite(links.view) },
        { id: 'newLinks', label: 'Session: Make New Invite Links', run: () => void this.newLinks() },
      );
    }
    for (const p of this.peerList.filter((p) => p.connected)) {
      all.push({ id: `follow:${p.peer}`, label: `Session: Follow ${p.name}`, run: () => this.editor.toggleFollow(p.peer) });
    }
    return all;
  }

  private quickOpen(): void {
    const files = this.tree.files;
    quickPick('Go to file by name', (query) =>
      fuzzyFilter(query, files, (f) => f).map(
        ({ item, match }): PickItem => ({
          label: item,
          highlight: match.positions,
          run: () => void this.editor.open(item, true),
        }),
      ),
    );
  }

  /** The language servers' problems, to pick one and go there. */
  private showProblems(): void {
    const problems = this.languages.problems();
    const icon = (s?: number) => (s === 2 ? '⚠' : s === 3 || s === 4 ? 'ℹ' : '✖');
    quickPick(problems.length ? 'Go to a problem' : 'No problems reported', (query) =>
      fuzzyFilter(query, problems, (p) => `${p.path} ${p.diagnostic.message}`).map(
        ({ item }): PickItem => ({
          label: `${icon(item.diagnostic.severity)} ${item.diagnostic.message}`,
          detail: `${item.path}:${item.diagnostic.range.start.line + 1}`,
          run: () => void this.editor.openAt(item.path, item.diagnostic.range.start.line + 1, item.diagnostic.range.start.character + 1, 0),
        }),
      ),
    );
  }

  private commandPalette(): void {
    const commands = this.commands().filter((c) => c.id !== 'commandPalette');
    quickPick('Type a command', (query) =>
      fuzzyFilter(query, commands, (c) => c.label).map(
        ({ item, match }): PickItem => ({
          label: item.label,
          detail: keyFor(item.id) ?? undefined,
          highlight: match.positions,
          run: item.run,
        }),
      ),
    );
  }

  private showSide(view: 'explorer' | 'search'): void {
    this.side.hidden = false;
    this.explorerView.hidden = view !== 'explorer';
    this.searchView.hidden = view !== 'search';
    if (view === 'search') this.search.focus();
  }

  private toggle(el: HTMLElement): boolean {
    el.hidden = !el.hidden;
    return !el.hidden;
  }

  private toggleTerminal(): void {
    if (this.toggle(this.termPane)) this.terminals.focus();
  }

  private newTerminal(): void {
    this.termPane.hidden = false;
    void this.terminals.openNew();
  }

  /** The roster may include this peer itself: only the others are shown. */
  private setPeers(all: PeerView[]): void {
    const others = all.filter((p) => p.peer !== this.info.me);
    this.peerList = others;
    this.editor.setPeers(others);
    this.peers.setPeers(others);
    this.terminals.setPeers(others);
    this.status.setPeerCount(others.filter((p) => p.connected).length);
  }
}

/** How often git is asked about changes (edits from any peer land on disk). */
const GIT_POLL_MS = 2000;

interface Command {
  id: string;
  label: string;
  run: () => void;
}

async function copyInvite(link: string): Promise<void> {
  if (await copyText(link)) toast('Invite link copied');
  else toast('Could not copy the link', 'error');
}

/** Asks `ok` before the window closes; the window closes when it says yes. */
function closeGuard(ok: () => Promise<boolean>): Disposable {
  let unlisten: (() => void) | null = null;
  let disposed = false;
  getCurrentWindow()
    .onCloseRequested(async (event) => {
      if (!(await ok())) event.preventDefault();
    })
    .then((u) => (disposed ? u() : (unlisten = u)))
    .catch(() => undefined);
  return {
    dispose: () => {
      disposed = true;
      unlisten?.();
    },
  };
}

/** The window's title: what it shows, then the app's name. */
function showTitle(what: string | null): void {
  const title = what ? `${what} — NitroIDE` : 'NitroIDE';
  document.title = title;
  getCurrentWindow()
    .setTitle(title)
    .catch(() => undefined);
}

function inviteBanner(links: Invites, withheld: readonly string[]): HTMLElement {
  const text = h('code', { className: 'invite-link', textContent: links.edit });
  const copy = copyButton('Copy edit link', links.edit, text, true);
  const copyView = copyButton('Copy read-only link', links.view, text, false);
  copyView.title = 'For people who should watch, not change anything';
  const close = h('button', { className: 'icon-btn codicon codicon-close', title: 'Hide' });
  const kept = withheld.length
    ? h('span', {
        className: 'invite-withheld',
        textContent: `Not shared, as their names say they hold secrets: ${withheld.join(', ')}`,
        title: 'Files git tracks are shared. `nitro host --share-secrets` shares them all.',
      })
    : null;
  const banner = h(
    'div',
    { className: 'invite-banner' },
    h('span', { textContent: 'You are hosting. Send a link to the people who should join:' }),
    text,
    copy,
    copyView,
    close,
    kept,
  );
  close.onclick = () => banner.remove();
  return banner;
}

/** Copies `link`; where the clipboard is out of reach, shows it selected in `shown`. */
function copyButton(label: string, link: string, shown: HTMLElement, primary: boolean): HTMLButtonElement {
  const b = h('button', { className: `btn${primary ? ' btn-primary' : ''}`, textContent: label });
  b.onclick = async () => {
    if (await copyText(link)) {
      b.textContent = 'Copied';
      setTimeout(() => (b.textContent = label), 1500);
    } else {
      shown.textContent = link;
      selectContents(shown);
      toast('Press Ctrl+C to copy the selected link');
    }
  };
  return b;
}
