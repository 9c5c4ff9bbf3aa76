// The center of the window: tabs, the Monaco editor, the binding of each open
// file, other peers' cursors, the local presence, and following a peer.
import { backend, docBackend, errorMessage, type EditorSettings, type PeerView, type Presence } from './backend';
import { FileBinding, TYPING_MS } from './binding';
import { baseName, h, listen, setChildren, type Disposable } from './dom';
import { languageForPath, monaco } from './monaco-setup';
import { PresenceOut } from './presence-out';
import { RemoteCursors } from './remote-cursors';
import { editorSettings, watchEditorSettings } from './settings';
import { toast } from './toast';

interface Tab {
  path: string;
  model: monaco.editor.ITextModel;
  binding: FileBinding;
  viewState: monaco.editor.ICodeEditorViewState | null;
}

export interface EditorAreaEvents {
  activeChanged(path: string | null): void;
  cursorMoved(line: number, column: number): void;
  message(text: string): void;
  followChanged(peer: string | null): void;
}

let modelSeq = 0;

export class EditorArea {
  private readonly editor: monaco.editor.IStandaloneCodeEditor;
  private readonly tabBar: HTMLElement;
  private readonly placeholder: HTMLElement;
  private readonly tabs = new Map<string, Tab>();
  private readonly opening = new Map<string, Promise<Tab | null>>();
  private active: Tab | null = null;
  private peers: PeerView[] = [];
  private following: string | null = null;
  private viewportTop: number | null = null;
  private readonly cursors: RemoteCursors;
  private readonly presence: PresenceOut;
  private readonly disposables: (Disposable | monaco.IDisposable)[] = [];

  constructor(
    container: HTMLElement,
    private readonly events: EditorAreaEvents,
  ) {
    this.tabBar = h('div', { className: 'tabs' });
    this.tabBar.setAttribute('role', 'tablist');
    const host = h('div', { className: 'editor-host' });
    this.placeholder = h(
      'div',
      { className: 'editor-placeholder' },
      h('div', { className: 'placeholder-title', textContent: 'No file open' }),
      h('div', { textContent: 'Pick a file in the explorer on the left.' }),
    );
    container.append(this.tabBar, h('div', { className: 'editor-stack' }, host, this.placeholder));

    this.editor = monaco.editor.create(host, {
      theme: 'nitro-dark',
      automaticLayout: true,
      fontSize: 13,
      fontFamily: "'JetBrains Mono', 'Fira Code', 'DejaVu Sans Mono', monospace",
      minimap: { enabled: true },
      renderWhitespace: 'selection',
      scrollBeyondLastLine: false,
      model: null,
    });
    this.cursors = new RemoteCursors(this.editor);
    this.disposables.push(watchEditorSettings((s) => this.applySettings(s)));
    this.presence = new PresenceOut(() => this.readPresence(), (p) => backend.setPresence(p));

    const { KeyMod, KeyCode } = monaco;
    // Undo/redo are the binding's (local edits only), never Monaco's own stack.
    this.editor.addCommand(KeyMod.CtrlCmd | KeyCode.KeyZ, () => this.active?.binding.undo());
    this.editor.addCommand(KeyMod.CtrlCmd | KeyMod.Shift | KeyCode.KeyZ, () => this.active?.binding.redo());
    this.editor.addCommand(KeyMod.CtrlCmd | KeyCode.KeyY, () => this.active?.binding.redo());
    this.editor.addCommand(KeyMod.CtrlCmd | KeyCode.KeyS, () => void this.save());

    this.disposables.push(
      this.editor.onDidChangeCursorSelection(() => this.presence.changed()),
      this.editor.onDidChangeCursorPosition((e) => this.events.cursorMoved(e.position.lineNumber, e.position.column)),
      this.editor.onDidScrollChange(() => {
        const top = this.editor.getVisibleRanges()[0]?.startLineNumber ?? null;
        if (top === this.viewportTop) return;
        this.viewportTop = top;
        this.presence.changed();
      }),
      this.editor.onDidChangeModelContent(() => {
        this.presence.changed();
        this.presence.changedIn(TYPING_MS + 50); // to tell when typing stops
      }),
      // Any move of the local user ends following.
      this.editor.onKeyDown(() => this.stopFollowing()),
      this.editor.onMouseDown(() => this.stopFollowing()),
      listen(host, 'wheel', () => this.stopFollowing(), { passive: true }),
    );
    this.renderTabs();
  }

  get activePath(): string | null {
    return this.active?.path ?? null;
  }

  /** Opens (or switches to) a file. `byUser` ends following. */
  async open(path: string, byUser: boolean): Promise<void> {
    if (byUser) this.stopFollowing();
    const tab = this.tabs.get(path) ?? (await this.load(path));
    if (tab) this.activate(tab, byUser);
  }

  private applySettings(s: EditorSettings): void {
    monaco.editor.setTheme(s.theme === 'light' ? 'vs' : 'nitro-dark');
    this.editor.updateOptions({ fontSize: s.fontSize, wordWrap: s.wordWrap ? 'on' : 'off' });
    for (const tab of this.tabs.values()) tab.model.updateOptions({ tabSize: s.tabSize });
  }

  /** Opens a file with a range selected and in view (1-based line and UTF-16 column, as Monaco counts). */
  async openAt(path: string, line: number, column: number, length: number): Promise<void> {
    await this.open(path, true);
    if (this.active?.path !== path) return;
    const range = new monaco.Range(line, column, line, column + length);
    this.editor.setSelection(range);
    this.editor.revealRangeInCenterIfOutsideViewport(range);
    this.editor.focus();
  }

  /** Closes the active tab. */
  closeActive(): void {
    if (this.active) void this.close(this.active.path);
  }

  /** Shows the next (or, `step` -1, the previous) tab. */
  cycleTabs(step: 1 | -1): void {
    const tabs = [...this.tabs.values()];
    if (!tabs.length) return;
    const at = this.active ? tabs.indexOf(this.active) : -1;
    this.activate(tabs[(at + step + tabs.length) % tabs.length], true);
  }

  async save(): Promise<void> {
    const tab = this.active;
    if (!tab) return;
    await tab.binding.whenIdle(); // the engine saves what it has: send pending edits first
    try {
      await backend.saveFile(tab.path);
      this.events.message(`Saved ${baseName(tab.path)}`);
    } catch (err) {
      toast(`Could not save ${tab.path}: ${errorMessage(err)}`, 'error');
    }
  }

  /** The engine reports remote changes to these files. */
  remoteChanged(paths: readonly string[]): void {
    for (const path of paths) this.tabs.get(path)?.binding.remoteChanged();
  }

  editRejected(path: string, reason: string): void {
    this.tabs.get(path)?.binding.resync(`Your edit to ${path} was refused (${reason}); the file was reloaded.`);
  }

  /**
   * The file list changed: tabs of files renamed or moved (by anyone, on
   * any disk) go with them; tabs of files that are gone close.
   */
  async follow(existing: ReadonlySet<string>, moved: ReadonlyMap<string, string>): Promise<void> {
    for (const [from, to] of moved) {
      const old = this.tabs.get(from);
      if (!old || this.tabs.has(to)) continue;
      const wasActive = this.active === old;
      const viewState = wasActive ? this.editor.saveViewState() : old.viewState;
      const tab = await this.load(to);
      if (!tab) continue;
      tab.viewState = viewState;
      // The moved tab takes the old one's place; the keyboard stays where it was.
      if (wasActive) this.activate(tab, false);
      await this.close(from);
    }
    this.keepOnly(existing);
  }

  /** Closes tabs of files that no longer exist (deleted, here or by a peer). */
  private keepOnly(existing: ReadonlySet<string>): void {
    for (const path of [...this.tabs.keys()]) {
      if (!existing.has(path)) {
        toast(`${path} was removed or renamed`);
        void this.close(path);
      }
    }
  }

  /** A local rename: open tabs move to the new path. */
  async renamed(from: string, to: string): Promise<void> {
    const moved = [...this.tabs.keys()].filter((p) => p === from || p.startsWith(`${from}/`));
    const activeWas = this.active?.path;
    for (const path of moved) {
      const target = to + path.slice(from.length);
      await this.close(path);
      await this.open(target, path === activeWas);
    }
  }

  setPeers(peers: PeerView[]): void {
    this.peers = peers;
    this.drawCursors();
    if (this.following) void this.applyFollow();
  }

  toggleFollow(peer: string): void {
    this.following = this.following === peer ? null : peer;
    this.events.followChanged(this.following);
    if (this.following) void this.applyFollow();
  }

  stopFollowing(): void {
    if (!this.following) return;
    this.following = null;
    this.events.followChanged(null);
  }

  dispose(): void {
    this.presence.dispose();
    this.cursors.dispose();
    this.disposables.forEach((d) => d.dispose());
    for (const tab of this.tabs.values()) {
      void tab.binding.close().finally(() => tab.model.dispose());
    }
    this.tabs.clear();
    this.editor.dispose();
  }

  private load(path: string): Promise<Tab | null> {
    const pending = this.opening.get(path);
    if (pending) return pending;
    const loading = (async () => {
      try {
        const opened = await backend.openFile(path);
        const uri = monaco.Uri.from({ scheme: 'nitro', path: `/${path}`, query: String(++modelSeq) });
        const model = monaco.editor.createModel(opened.text, languageForPath(path), uri);
        model.updateOptions({ tabSize: editorSettings().tabSize });
        const binding = new FileBinding({
          opened,
          model,
          backend: docBackend,
          view: this.editor,
          onChange: () => this.bindingChanged(path),
          onProblem: (m) => toast(m, 'error'),
        });
        const tab: Tab = { path, model, binding, viewState: null };
        this.tabs.set(path, tab);
        return tab;
      } catch (err) {
        toast(`Could not open ${path}: ${errorMessage(err)}`, 'error');
        return null;
      } finally {
        this.opening.delete(path);
      }
    })();
    this.opening.set(path, loading);
    return loading;
  }

  private activate(tab: Tab, focus: boolean): void {
    if (this.active !== tab) {
      if (this.active) this.active.viewState = this.editor.saveViewState();
      this.active = tab;
      this.editor.setModel(tab.model);
      if (tab.viewState) this.editor.restoreViewState(tab.viewState);
      this.events.activeChanged(tab.path);
      const pos = this.editor.getPosition();
      if (pos) this.events.cursorMoved(pos.lineNumber, pos.column);
    }
    this.editor.updateOptions({ readOnly: tab.binding.readOnlyReason !== null });
    if (focus) this.editor.focus();
    this.renderTabs();
    this.drawCursors();
    this.presence.changed();
  }

  private async close(path: string): Promise<void> {
    const tab = this.tabs.get(path);
    if (!tab) return;
    this.tabs.delete(path);
    if (this.active === tab) {
      const next = [...this.tabs.values()].pop() ?? null;
      this.active = null;
      if (next) {
        this.activate(next, false);
      } else {
        this.editor.setModel(null);
        this.events.activeChanged(null);
        this.renderTabs();
        this.drawCursors();
        this.presence.changed();
      }
    } else {
      this.renderTabs();
    }
    await tab.binding.close(); // pending edits still reach the engine
    tab.model.dispose();
  }

  private bindingChanged(path: string): void {
    const tab = this.tabs.get(path);
    if (!tab) return;
    if (tab === this.active) {
      this.editor.updateOptions({ readOnly: tab.binding.readOnlyReason !== null });
      this.presence.changed(); // presence waits for a settled version
    }
    this.renderTabs();
  }

  private readPresence(): Presence | null {
    const tab = this.active;
    if (!tab) return { file: null, selections: [], typing: false, viewportTop: null, base: null };
    const base = tab.binding.settledVersion;
    if (!base) return null;
    return {
      file: tab.path,
      selections: tab.binding.selections(),
      typing: tab.binding.typing,
      viewportTop: this.editor.getVisibleRanges()[0]?.startLineNumber ?? null,
      base,
    };
  }

  private drawCursors(): void {
    this.cursors.render(this.peers, this.active?.path ?? null, this.active?.binding ?? null);
  }

  private async applyFollow(): Promise<void> {
    const peer = this.peers.find((p) => p.peer === this.following);
    if (!peer || !peer.connected) {
      if (peer) toast(`${peer.name} disconnected; stopped following`);
      this.stopFollowing();
      return;
    }
    if (!peer.file) return;
    if (this.active?.path !== peer.file) {
      await this.open(peer.file, false);
      if (this.following !== peer.peer) return; // the user moved meanwhile
    }
    const tab = this.active;
    if (!tab || tab.path !== peer.file) return;
    if (peer.viewportTop !== null) {
      this.editor.setScrollTop(this.editor.getTopForLineNumber(peer.viewportTop));
    } else if (peer.selections.length) {
      this.editor.revealPositionInCenterIfOutsideViewport(tab.binding.positionOf(peer.selections[0].head));
    }
  }

  private renderTabs(): void {
    const tabs = [...this.tabs.values()].map((tab) => {
      const close = h('button', { className: 'tab-close', title: 'Close', textContent: '×' });
      close.onclick = (e) => {
        e.stopPropagation();
        void this.close(tab.path);
      };
      const el = h(
        'div',
        {
          className: `tab${tab === this.active ? ' active' : ''}${tab.binding.dirty ? ' dirty' : ''}`,
          title: tab.binding.readOnlyReason ?? tab.path,
        },
        h('span', { className: 'tab-name', textContent: baseName(tab.path) }),
        tab.binding.readOnlyReason ? h('span', { className: 'badge', textContent: 'read-only' }) : null,
        h('span', { className: 'tab-dirty', title: 'Edits not yet taken by the engine' }),
        close,
      );
      el.setAttribute('role', 'tab');
      el.onclick = () => void this.open(tab.path, true);
      el.onauxclick = (e) => {
        if (e.button === 1) void this.close(tab.path);
      };
      return el;
    });
    setChildren(this.tabBar, ...tabs);
    this.placeholder.hidden = this.tabs.size > 0;
  }
}
