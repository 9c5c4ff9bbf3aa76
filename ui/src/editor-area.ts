// The center of the window: one editor group, or two side by side; the open
// files (each one model and binding, shared by the groups that show it); the
// local presence, taken from the group the user works in; and following a peer.
import { backend, docBackend, errorMessage, type EditorSettings, type PeerView, type Presence } from './backend';
import { FileBinding, TYPING_MS } from './binding';
import { baseName, h, type Disposable } from './dom';
import { EditorGroup, type GroupEvents, type OpenFile } from './editor-group';
import { SERVED_LANGUAGES } from './language';
import { languageForPath, monaco } from './monaco-setup';
import { PresenceOut } from './presence-out';
import { editorSettings, watchEditorSettings } from './settings';
import { splitter } from './splitter';
import { toast } from './toast';

export interface EditorAreaEvents {
  activeChanged(path: string | null): void;
  cursorMoved(line: number, column: number): void;
  message(text: string): void;
  followChanged(peer: string | null): void;
  /** A file got its model (language features attach to it). */
  modelOpened(model: monaco.editor.ITextModel): void;
}

/** Side by side, as many as a window's width holds with room to read. */
const MAX_GROUPS = 2;

let modelSeq = 0;

export class EditorArea {
  private readonly row: HTMLElement;
  private readonly groups: EditorGroup[] = [];
  private current: EditorGroup;
  private readonly files = new Map<string, OpenFile>();
  private readonly opening = new Map<string, Promise<OpenFile | null>>();
  private peers: PeerView[] = [];
  private following: string | null = null;
  private locked = false;
  private readonly presence: PresenceOut;
  private readonly groupEvents: GroupEvents;
  private readonly disposables: Disposable[] = [];

  constructor(
    container: HTMLElement,
    private readonly events: EditorAreaEvents,
  ) {
    this.row = h('div', { className: 'editor-groups' });
    container.append(this.row);
    this.presence = new PresenceOut(() => this.readPresence(), (p) => backend.setPresence(p));
    this.groupEvents = {
      focused: (group) => this.setCurrent(group),
      shownChanged: (group) => this.shownChanged(group),
      closeRequested: (group, path) => void this.closeIn(group, path),
      viewChanged: (group, typed) => {
        if (group !== this.current) return;
        this.presence.changed();
        if (typed) this.presence.changedIn(TYPING_MS + 50); // to tell when typing stops
      },
      cursorMoved: (group, line, column) => {
        if (group === this.current) this.events.cursorMoved(line, column);
      },
      userMoved: () => this.stopFollowing(),
      save: () => void this.save(),
    };
    this.current = this.addGroup();
    this.current.setCurrent(true);
    this.disposables.push(watchEditorSettings((s) => this.applySettings(s)));
  }

  get activePath(): string | null {
    return this.current.shown?.path ?? null;
  }

  /** Opens (or switches to) a file in the current group. `byUser` ends following. */
  async open(path: string, byUser: boolean): Promise<void> {
    if (byUser) this.stopFollowing();
    const file = this.files.get(path) ?? (await this.load(path));
    if (file) this.current.show(file, byUser);
  }

  /** Opens a file with a range selected and in view (1-based line and UTF-16 column, as Monaco counts). */
  async openAt(path: string, line: number, column: number, length: number): Promise<void> {
    await this.open(path, true);
    if (this.activePath === path) this.current.select(new monaco.Range(line, column, line, column + length));
  }

  /**
   * Shows the current file beside: in a new group at the right, or, with two
   * groups, in the other one; the keyboard goes with it.
   */
  split(): void {
    const file = this.current.shown;
    const other = this.groups.find((g) => g !== this.current) ?? (this.groups.length < MAX_GROUPS ? this.addGroup() : null);
    if (!other) return;
    if (file) other.show(file, true);
    this.setCurrent(other);
    other.focus();
  }

  /** Moves the keyboard to the first (0) or second (1) group, if there is one. */
  focusGroup(index: number): void {
    const group = this.groups[index];
    if (!group) return;
    this.setCurrent(group);
    group.focus();
  }

  /** Closes the current group's active tab. */
  closeActive(): void {
    const path = this.activePath;
    if (path) void this.closeIn(this.current, path);
  }

  /** Shows the current group's next (or, `step` -1, previous) tab. */
  cycleTabs(step: 1 | -1): void {
    this.stopFollowing();
    this.current.cycle(step);
  }

  async save(): Promise<void> {
    const file = this.current.shown;
    if (!file) return;
    await file.binding.whenIdle(); // the engine saves what it has: send pending edits first
    try {
      await backend.saveFile(file.path);
      this.events.message(`Saved ${baseName(file.path)}`);
    } catch (err) {
      toast(`Could not save ${file.path}: ${errorMessage(err)}`, 'error');
    }
  }

  /** The engine reports changes to these files (a peer's, or this disk's). */
  filesChanged(paths: readonly string[]): void {
    for (const path of paths) this.files.get(path)?.binding.changed();
  }

  editRejected(path: string, reason: string): void {
    this.files.get(path)?.binding.resync(`Your edit to ${path} was refused (${reason}); the file was reloaded.`);
  }

  /**
   * The file list changed: tabs of files renamed or moved (by anyone, on
   * any disk) go with them; tabs of files that are gone close.
   */
  async follow(existing: ReadonlySet<string>, moved: ReadonlyMap<string, string>): Promise<void> {
    for (const [from, to] of moved) await this.move(from, to);
    for (const path of [...this.files.keys()]) {
      if (!existing.has(path)) {
        toast(`${path} was removed or renamed`);
        void this.closeEverywhere(path);
      }
    }
  }

  /** A local rename of a file or folder: open tabs move to the new path. */
  async renamed(from: string, to: string): Promise<void> {
    const moved = [...this.files.keys()].filter((p) => p === from || p.startsWith(`${from}/`));
    for (const path of moved) await this.move(path, to + path.slice(from.length));
  }

  /** A read-only role: no editor takes typing. */
  setLocked(locked: boolean): void {
    this.locked = locked;
    for (const group of this.groups) group.setLocked(locked);
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
    this.disposables.forEach((d) => d.dispose());
    for (const group of this.groups) group.dispose();
    this.groups.length = 0;
    for (const file of this.files.values()) {
      void file.binding.close().finally(() => file.model.dispose());
    }
    this.files.clear();
  }

  private addGroup(): EditorGroup {
    if (this.groups.length) {
      // The first group keeps the width the handle gives it; the second takes the rest.
      this.groups[0].element.style.flex = '0 0 50%';
      this.row.append(splitter(this.groups[0].element, 'x', 1, 200, 4000));
    }
    const group = new EditorGroup(this.row, this.groupEvents);
    group.updateOptions(editorOptions(editorSettings()));
    group.setLocked(this.locked);
    this.groups.push(group);
    return group;
  }

  private removeGroup(group: EditorGroup): void {
    const at = this.groups.indexOf(group);
    if (at < 0 || this.groups.length === 1) return;
    this.groups.splice(at, 1);
    group.dispose();
    this.row.querySelector('.splitter')?.remove();
    this.groups[0].element.style.flex = '';
    if (this.current === group) this.setCurrent(this.groups[0]);
  }

  private setCurrent(group: EditorGroup): void {
    if (this.current === group) return;
    this.current.setCurrent(false);
    this.current = group;
    group.setCurrent(true);
    this.shownChanged(group);
  }

  private shownChanged(group: EditorGroup): void {
    this.drawCursors();
    if (group !== this.current) return;
    const path = group.shown?.path ?? null;
    this.events.activeChanged(path);
    const pos = group.editor.getPosition();
    if (pos) this.events.cursorMoved(pos.lineNumber, pos.column);
    this.presence.changed();
  }

  private applySettings(s: EditorSettings): void {
    monaco.editor.setTheme(s.theme === 'light' ? 'vs' : 'nitro-dark');
    for (const group of this.groups) group.updateOptions(editorOptions(s));
    for (const file of this.files.values()) file.model.updateOptions({ tabSize: s.tabSize });
  }

  /** Tabs of `from` show `to` instead, where they were; `from` closes. */
  private async move(from: string, to: string): Promise<void> {
    if (!this.files.has(from) || this.files.has(to)) return;
    const file = await this.load(to);
    if (!file) return;
    for (const group of this.groups) group.replace(from, file);
    await this.release(from);
  }

  private load(path: string): Promise<OpenFile | null> {
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
          views: () => this.groups.map((g) => g.editor),
          onChange: () => this.fileChanged(path),
          onProblem: (m) => toast(m, 'error'),
        });
        const file: OpenFile = { path, model, binding };
        this.files.set(path, file);
        this.events.modelOpened(model);
        // Its language server (if there is one) follows it from now on.
        backend
          .lspOpen(path)
          .then((served) => {
            if (!served && SERVED_LANGUAGES.includes(model.getLanguageId())) {
              this.events.message(`No ${model.getLanguageId()} language server here or shared by a peer`);
            }
          })
          .catch(() => undefined);
        return file;
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

  /** Closes a tab; a group left empty goes, unless it is the only one. */
  private async closeIn(group: EditorGroup, path: string): Promise<void> {
    group.remove(path);
    if (group.isEmpty) this.removeGroup(group);
    await this.release(path);
  }

  private async closeEverywhere(path: string): Promise<void> {
    for (const group of [...this.groups]) {
      if (group.has(path)) {
        group.remove(path);
        if (group.isEmpty) this.removeGroup(group);
      }
    }
    await this.release(path);
  }

  /** Drops a file no group shows any more. */
  private async release(path: string): Promise<void> {
    const file = this.files.get(path);
    if (!file || this.groups.some((g) => g.has(path))) return;
    this.files.delete(path);
    await file.binding.close(); // pending edits still reach the engine
    file.model.dispose();
  }

  private fileChanged(path: string): void {
    for (const group of this.groups) group.fileChanged(path);
    // Presence waits for a settled version.
    if (this.current.shown?.path === path) this.presence.changed();
  }

  private readPresence(): Presence | null {
    const file = this.current.shown;
    if (!file) return { file: null, selections: [], typing: false, viewportTop: null, base: null };
    const base = file.binding.settledVersion;
    if (!base) return null;
    return {
      file: file.path,
      selections: file.binding.selections(this.current.editor),
      typing: file.binding.typing,
      viewportTop: this.current.viewportTop,
      base,
    };
  }

  private drawCursors(): void {
    for (const group of this.groups) group.drawCursors(this.peers);
  }

  private async applyFollow(): Promise<void> {
    const peer = this.peers.find((p) => p.peer === this.following);
    if (!peer || !peer.connected) {
      if (peer) toast(`${peer.name} disconnected; stopped following`);
      this.stopFollowing();
      return;
    }
    if (!peer.file) return;
    if (this.activePath !== peer.file) {
      await this.open(peer.file, false);
      if (this.following !== peer.peer) return; // the user moved meanwhile
    }
    const file = this.current.shown;
    if (!file || file.path !== peer.file) return;
    if (peer.viewportTop !== null) {
      this.current.scrollTo(peer.viewportTop);
    } else if (peer.selections.length) {
      this.current.reveal(file.binding.positionOf(peer.selections[0].head));
    }
  }
}

function editorOptions(s: EditorSettings): monaco.editor.IEditorOptions {
  return { fontSize: s.fontSize, wordWrap: s.wordWrap ? 'on' : 'off' };
}
