// The IDE window of a running session: explorer, editor, terminals, peers and
// status bar, wired to the engine's events.
import { getCurrentWindow } from '@tauri-apps/api/window';
import { backend, errorMessage, type PeerView, type SessionInfo, type SyncView } from './backend';
import { copyText, selectContents } from './clipboard';
import { baseName, h, type Disposable } from './dom';
import { EditorArea } from './editor-area';
import type { EventHub } from './events';
import { FileTree } from './file-tree';
import { PeersPanel } from './peers-panel';
import { splitter } from './splitter';
import { StatusBar } from './status-bar';
import { TerminalPanel } from './terminal-panel';
import { toast } from './toast';

export class Workspace {
  private readonly root: HTMLElement;
  private readonly editor: EditorArea;
  private readonly tree: FileTree;
  private readonly peers: PeersPanel;
  private readonly terminals: TerminalPanel;
  private readonly status: StatusBar;
  private readonly subscriptions: Disposable[];
  private statusSeen = false;
  /** The workspace folder's name. */
  private readonly name: string;

  constructor(
    container: HTMLElement,
    readonly info: SessionInfo,
    hub: EventHub,
    /** Called after the session was left. */
    private readonly onLeft: () => void,
    justHosted: boolean,
  ) {
    this.name = baseName(info.root) || info.root;
    showTitle(this.name);
    const side = h('aside', { className: 'sidebar' });
    const center = h('main', { className: 'center' });
    const editorPane = h('div', { className: 'editor-pane' });
    const termPane = h('section', { className: 'terminal-pane' });
    const peersPane = h('aside', { className: 'peers-pane' });
    const statusEl = h('footer', { className: 'statusbar' });
    center.append(editorPane, splitter(termPane, 'y', -1, 80, 900), termPane);
    this.root = h(
      'div',
      { className: 'workspace' },
      justHosted && info.invite ? inviteBanner(info.invite, info.withheld) : null,
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

    this.status = new StatusBar(statusEl, info, () => void this.leave());
    this.editor = new EditorArea(editorPane, {
      activeChanged: (path) => {
        this.tree.setActive(path);
        this.status.setFile(path);
        showTitle(path ? `${baseName(path)} — ${this.name}` : this.name);
      },
      cursorMoved: (line, col) => this.status.setCursor(line, col),
      message: (text) => this.status.flash(text),
      followChanged: (peer) => this.peers.setFollowing(peer),
    });
    this.tree = new FileTree(side, this.name, {
      open: (path) => void this.editor.open(path, true),
      renamed: (from, to) => this.editor.renamed(from, to),
      listed: (paths, moved) => void this.editor.follow(paths, moved),
    });
    this.peers = new PeersPanel(peersPane, info, (peer) => this.editor.toggleFollow(peer));
    this.terminals = new TerminalPanel(termPane);

    this.subscriptions = [
      hub.on('peers', (e) => this.setPeers(e.peers)),
      hub.on('peerJoined', (e) => toast(`${e.name} joined`)),
      hub.on('peerLeft', (e) => toast(`${e.name} left`)),
      hub.on('remoteChange', (e) => {
        this.editor.remoteChanged(e.paths);
        if (e.tree) void this.tree.refresh();
      }),
      hub.on('editRejected', (e) => this.editor.editRejected(e.path, e.reason)),
      hub.on('terminals', (e) => this.terminals.setTerminals(e.terminals)),
      hub.on('terminalRefused', (e) => this.terminals.refused(e.id, e.reason)),
      hub.on('status', (e) => {
        this.statusSeen = true;
        this.status.setConnection(e.state, e.message);
        if (e.message && (e.state === 'reconnecting' || e.state === 'stopped')) toast(e.message, 'error');
      }),
      hub.on('sync', (e) => this.setSync(e)),
      hub.on('error', (e) => toast(e.message, 'error')),
    ];
    void this.load();
  }

  /** Leaves the session (after asking the engine), then tears the window down. */
  async leave(): Promise<void> {
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

  /** The roster may include this peer itself: only the others are shown. */
  private setPeers(all: PeerView[]): void {
    const others = all.filter((p) => p.peer !== this.info.me);
    this.editor.setPeers(others);
    this.peers.setPeers(others);
    this.terminals.setPeers(others);
    this.status.setPeerCount(others.filter((p) => p.connected).length);
  }
}

/** The window's title: what it shows, then the app's name. */
function showTitle(what: string | null): void {
  const title = what ? `${what} — NitroIDE` : 'NitroIDE';
  document.title = title;
  getCurrentWindow()
    .setTitle(title)
    .catch(() => undefined);
}

function inviteBanner(link: string, withheld: readonly string[]): HTMLElement {
  const text = h('code', { className: 'invite-link', textContent: link });
  const copy = h('button', { className: 'btn btn-primary', textContent: 'Copy link' });
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
    h('span', { textContent: 'You are hosting. Send this link to the people who should join:' }),
    text,
    copy,
    close,
    kept,
  );
  copy.onclick = async () => {
    if (await copyText(link)) {
      copy.textContent = 'Copied';
      setTimeout(() => (copy.textContent = 'Copy link'), 1500);
    } else {
      selectContents(text);
      toast('Press Ctrl+C to copy the selected link');
    }
  };
  close.onclick = () => banner.remove();
  return banner;
}
