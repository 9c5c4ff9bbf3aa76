// One editor group: a tab strip and a Monaco editor showing one of its tabs,
// with other peers' cursors in that file. The files themselves (model and
// binding) belong to the editor area; two groups showing one file share them.
import type { PeerView } from './backend';
import type { FileBinding } from './binding';
import { baseName, h, listen, setChildren, type Disposable } from './dom';
import { monaco } from './monaco-setup';
import { RemoteCursors } from './remote-cursors';

/** An open file, shared by the groups that show it. */
export interface OpenFile {
  path: string;
  model: monaco.editor.ITextModel;
  binding: FileBinding;
}

interface Tab {
  file: OpenFile;
  viewState: monaco.editor.ICodeEditorViewState | null;
}

export interface GroupEvents {
  /** The user turned to this group (focused its editor or clicked a tab). */
  focused(group: EditorGroup): void;
  /** The group shows another file, or none. */
  shownChanged(group: EditorGroup): void;
  /** The user asked to close a tab of this group. */
  closeRequested(group: EditorGroup, path: string): void;
  /** Selection, scroll or text changed in this group's editor. */
  viewChanged(group: EditorGroup, typed: boolean): void;
  cursorMoved(group: EditorGroup, line: number, column: number): void;
  /** A key, click or wheel of the local user: following ends. */
  userMoved(): void;
  save(): void;
}

export class EditorGroup {
  readonly editor: monaco.editor.IStandaloneCodeEditor;
  readonly element: HTMLElement;
  private readonly tabBar: HTMLElement;
  private readonly placeholder: HTMLElement;
  private readonly tabs = new Map<string, Tab>();
  private active: Tab | null = null;
  /** The host gave this peer a read-only role. */
  private locked = false;
  private readonly cursors: RemoteCursors;
  private readonly disposables: (Disposable | monaco.IDisposable)[] = [];

  constructor(
    container: HTMLElement,
    private readonly events: GroupEvents,
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
    this.element = h('div', { className: 'editor-group' }, this.tabBar, h('div', { className: 'editor-stack' }, host, this.placeholder));
    container.append(this.element);

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

    // Undo/redo are the binding's (local edits only), never Monaco's own stack.
    // Actions, unlike `addCommand`, belong to this editor even when two exist.
    const { KeyMod, KeyCode } = monaco;
    const action = (id: string, keys: number[], run: () => void) =>
      this.editor.addAction({ id: `nitro.${id}`, label: `NitroIDE: ${id}`, keybindings: keys, run });
    this.disposables.push(
      action('undo', [KeyMod.CtrlCmd | KeyCode.KeyZ], () => this.active?.file.binding.undo(this.editor)),
      action('redo', [KeyMod.CtrlCmd | KeyMod.Shift | KeyCode.KeyZ, KeyMod.CtrlCmd | KeyCode.KeyY], () =>
        this.active?.file.binding.redo(this.editor),
      ),
      action('save', [KeyMod.CtrlCmd | KeyCode.KeyS], () => this.events.save()),
      this.editor.onDidFocusEditorText(() => this.events.focused(this)),
      this.editor.onDidChangeCursorSelection(() => this.events.viewChanged(this, false)),
      this.editor.onDidChangeCursorPosition((e) => this.events.cursorMoved(this, e.position.lineNumber, e.position.column)),
      this.editor.onDidScrollChange(() => this.events.viewChanged(this, false)),
      this.editor.onDidChangeModelContent(() => this.events.viewChanged(this, true)),
      this.editor.onKeyDown(() => this.events.userMoved()),
      this.editor.onMouseDown(() => this.events.userMoved()),
      listen(host, 'wheel', () => this.events.userMoved(), { passive: true }),
    );
    this.renderTabs();
  }

  /** The file this group shows, or null. */
  get shown(): OpenFile | null {
    return this.active?.file ?? null;
  }

  get isEmpty(): boolean {
    return this.tabs.size === 0;
  }

  has(path: string): boolean {
    return this.tabs.has(path);
  }

  /** The first line in view, or null. */
  get viewportTop(): number | null {
    return this.editor.getVisibleRanges()[0]?.startLineNumber ?? null;
  }

  /** Shows `file`, adding a tab for it if it has none. */
  show(file: OpenFile, focus: boolean): void {
    let tab = this.tabs.get(file.path);
    if (!tab) {
      tab = { file, viewState: null };
      this.tabs.set(file.path, tab);
    }
    this.activate(tab);
    if (focus) this.editor.focus();
  }

  /** Shows the next (or, `step` -1, the previous) tab. */
  cycle(step: 1 | -1): void {
    const tabs = [...this.tabs.values()];
    if (!tabs.length) return;
    const at = this.active ? tabs.indexOf(this.active) : -1;
    this.activate(tabs[(at + step + tabs.length) % tabs.length]);
    this.editor.focus();
  }

  /** Removes the tab of `path`; the last tab left before it is shown instead. */
  remove(path: string): void {
    const tab = this.tabs.get(path);
    if (!tab) return;
    this.tabs.delete(path);
    if (this.active !== tab) {
      this.renderTabs();
      return;
    }
    this.active = null;
    const next = [...this.tabs.values()].pop();
    if (next) {
      this.activate(next);
      return;
    }
    this.editor.setModel(null);
    this.renderTabs();
    this.cursors.render([], null, null);
    this.events.shownChanged(this);
  }

  /** The tab of `from` shows `file` instead, in the same place and scrolled as it was. */
  replace(from: string, file: OpenFile): void {
    const old = this.tabs.get(from);
    if (!old || this.tabs.has(file.path)) return;
    const wasActive = this.active === old;
    const tab: Tab = { file, viewState: wasActive ? this.editor.saveViewState() : old.viewState };
    const entries = [...this.tabs].map(([path, t]): [string, Tab] => (path === from ? [file.path, tab] : [path, t]));
    this.tabs.clear();
    for (const [path, t] of entries) this.tabs.set(path, t);
    if (wasActive) {
      this.active = null;
      this.activate(tab);
    } else {
      this.renderTabs();
    }
  }

  /** Selects a range in the shown file and brings it into view. */
  select(range: monaco.IRange): void {
    this.editor.setSelection(range);
    this.editor.revealRangeInCenterIfOutsideViewport(range);
    this.editor.focus();
  }

  /** Scrolls as a followed peer scrolled. */
  scrollTo(line: number): void {
    this.editor.setScrollTop(this.editor.getTopForLineNumber(line));
  }

  reveal(position: monaco.IPosition): void {
    this.editor.revealPositionInCenterIfOutsideViewport(position);
  }

  /** A file's state changed (pending edits, read-only): redraw what shows it. */
  fileChanged(path: string): void {
    if (!this.tabs.has(path)) return;
    if (this.active?.file.path === path) this.applyReadOnly();
    this.renderTabs();
  }

  /** Nothing can be typed while `locked` (a read-only role). */
  setLocked(locked: boolean): void {
    this.locked = locked;
    this.applyReadOnly();
  }

  /** Marks the group the keyboard works in. */
  setCurrent(current: boolean): void {
    this.element.classList.toggle('current', current);
  }

  drawCursors(peers: readonly PeerView[]): void {
    this.cursors.render(peers, this.active?.file.path ?? null, this.active?.file.binding ?? null);
  }

  updateOptions(options: monaco.editor.IEditorOptions): void {
    this.editor.updateOptions(options);
  }

  focus(): void {
    this.editor.focus();
  }

  dispose(): void {
    this.cursors.dispose();
    this.disposables.forEach((d) => d.dispose());
    this.editor.dispose();
    this.element.remove();
  }

  private activate(tab: Tab): void {
    if (this.active !== tab) {
      if (this.active) this.active.viewState = this.editor.saveViewState();
      this.active = tab;
      this.editor.setModel(tab.file.model);
      if (tab.viewState) this.editor.restoreViewState(tab.viewState);
      this.events.shownChanged(this);
    }
    this.applyReadOnly();
    this.renderTabs();
  }

  private applyReadOnly(): void {
    this.editor.updateOptions({ readOnly: this.locked || (this.active?.file.binding.readOnlyReason ?? null) !== null });
  }

  private renderTabs(): void {
    const tabs = [...this.tabs.values()].map(({ file }) => {
      const { path, binding } = file;
      const close = h('button', { className: 'tab-close', title: 'Close', textContent: '×' });
      close.onclick = (e) => {
        e.stopPropagation();
        this.events.closeRequested(this, path);
      };
      const el = h(
        'div',
        {
          className: `tab${file === this.active?.file ? ' active' : ''}${binding.dirty ? ' dirty' : ''}`,
          title: binding.readOnlyReason ?? path,
        },
        h('span', { className: 'tab-name', textContent: baseName(path) }),
        binding.readOnlyReason ? h('span', { className: 'badge', textContent: 'read-only' }) : null,
        h('span', { className: 'tab-dirty', title: 'Edits not yet taken by the engine' }),
        close,
      );
      el.setAttribute('role', 'tab');
      el.onclick = () => {
        const tab = this.tabs.get(path);
        this.events.userMoved();
        if (tab) this.activate(tab);
        this.editor.focus();
        this.events.focused(this);
      };
      el.onauxclick = (e) => {
        if (e.button === 1) this.events.closeRequested(this, path);
      };
      return el;
    });
    setChildren(this.tabBar, ...tabs);
    this.placeholder.hidden = this.tabs.size > 0;
  }
}
