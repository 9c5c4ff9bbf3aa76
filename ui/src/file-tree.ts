// The explorer: the shared workspace as a collapsible tree, with new file,
// new folder, rename and delete (buttons on hover and a right-click menu).
import { backend, errorMessage, type FileEntry, type GitChange } from './backend';
import { showMenu, type MenuItem } from './context-menu';
import { baseName, dirName, h, setChildren } from './dom';
import { confirmDialog, promptDialog } from './modal';
import { toast } from './toast';

export interface FileTreeEvents {
  /** The user picked a file. */
  open(path: string): void;
  /** A local rename went through. */
  renamed(from: string, to: string): Promise<void>;
  /** The list was reloaded; these are the paths now present. */
  /** The list was reloaded: what it holds, and the files that moved since (by id). */
  listed(paths: ReadonlySet<string>, moved: ReadonlyMap<string, string>): void;
}

interface Node {
  entry: FileEntry;
  children: Node[];
}

export class FileTree {
  private readonly list: HTMLElement;
  private entries: FileEntry[] = [];
  private readonly expanded = new Set<string>();
  private activePath: string | null = null;
  /** Git's word on each changed file, and on folders holding one. */
  private git = new Map<string, GitChange>();
  /** Each row drawn last, by path, with what it was drawn from. */
  private drawn = new Map<string, { key: string; el: HTMLElement }>();
  private refreshing: Promise<void> | null = null;
  private refreshAgain = false;

  constructor(
    container: HTMLElement,
    rootName: string,
    private readonly events: FileTreeEvents,
  ) {
    const button = (icon: string, title: string, action: () => void) => {
      const b = h('button', { className: `icon-btn codicon codicon-${icon}`, title });
      b.onclick = action;
      return b;
    };
    const header = h(
      'div',
      { className: 'panel-header' },
      h('span', { className: 'panel-title', textContent: 'Explorer', title: rootName }),
      h(
        'div',
        { className: 'panel-actions' },
        button('new-file', 'New file', () => void this.create('file', '')),
        button('new-folder', 'New folder', () => void this.create('dir', '')),
        button('refresh', 'Reload the list', () => void this.refresh()),
        button('collapse-all', 'Collapse all', () => {
          this.expanded.clear();
          this.render();
        }),
      ),
    );
    this.list = h('div', { className: 'tree' });
    this.list.setAttribute('role', 'tree');
    this.list.oncontextmenu = (e) => {
      if (e.target !== this.list) return;
      e.preventDefault();
      showMenu(e.clientX, e.clientY, this.rootMenu());
    };
    container.append(header, h('div', { className: 'tree-root', textContent: rootName }), this.list);
  }

  /** Reloads the list from the engine (calls that overlap are merged into one more). */
  refresh(): Promise<void> {
    if (this.refreshing) {
      this.refreshAgain = true;
      return this.refreshing;
    }
    this.refreshing = (async () => {
      do {
        this.refreshAgain = false;
        const before = this.entries;
        try {
          this.entries = await backend.listFiles();
        } catch (err) {
          toast(`Could not list the files: ${errorMessage(err)}`, 'error');
          break;
        }
        this.render();
        this.events.listed(new Set(this.entries.map((e) => e.path)), moves(before, this.entries));
      } while (this.refreshAgain);
      this.refreshing = null;
    })();
    return this.refreshing;
  }

  /** The shared files, for quick open. */
  get files(): string[] {
    return this.entries.filter((e) => e.kind === 'file' && e.shared).map((e) => e.path);
  }

  /** Marks changed files (and the folders holding them) as git reports them. */
  setGit(changes: readonly { path: string; change: GitChange }[]): void {
    const git = new Map<string, GitChange>();
    for (const { path, change } of changes) {
      git.set(path, change);
      for (let dir = dirName(path); dir; dir = dirName(dir)) if (!git.has(dir)) git.set(dir, 'modified');
    }
    const same = git.size === this.git.size && [...git].every(([p, c]) => this.git.get(p) === c);
    if (same) return;
    this.git = git;
    this.render();
  }

  setActive(path: string | null): void {
    this.activePath = path;
    // Show the active file: open its folders.
    for (let dir = path ? dirName(path) : ''; dir; dir = dirName(dir)) this.expanded.add(dir);
    this.render();
  }

  /**
   * Draws the rows. A row that did not change is kept, not drawn anew: a
   * click whose press landed on it before a render (a folder just opened,
   * a peer's change) still reaches it.
   */
  private render(): void {
    const rows: HTMLElement[] = [];
    const drawn = new Map<string, { key: string; el: HTMLElement }>();
    const walk = (nodes: Node[], depth: number) => {
      for (const node of nodes) {
        const { path } = node.entry;
        const key = JSON.stringify([node.entry, depth, this.expanded.has(path), path === this.activePath, this.git.get(path)]);
        const kept = this.drawn.get(path);
        const el = kept?.key === key ? kept.el : this.row(node, depth);
        drawn.set(path, { key, el });
        rows.push(el);
        if (node.entry.kind === 'dir' && this.expanded.has(path)) walk(node.children, depth + 1);
      }
    };
    walk(buildTree(this.entries), 0);
    this.drawn = drawn;
    if (rows.length === 0) rows.push(h('div', { className: 'tree-empty', textContent: 'This folder is empty.' }));
    const same = rows.length === this.list.children.length && rows.every((r, i) => this.list.children[i] === r);
    if (!same) setChildren(this.list, ...rows);
  }

  private row(node: Node, depth: number): HTMLElement {
    const { entry } = node;
    const isDir = entry.kind === 'dir';
    const open = this.expanded.has(entry.path);
    const icon = isDir ? (open ? 'chevron-down' : 'chevron-right') : 'file';
    const actions = h('span', { className: 'row-actions' });
    const action = (iconName: string, title: string, run: () => void) => {
      const b = h('button', { className: `icon-btn codicon codicon-${iconName}`, title });
      b.onclick = (e) => {
        e.stopPropagation();
        run();
      };
      actions.append(b);
    };
    if (isDir) {
      action('new-file', 'New file here', () => void this.create('file', entry.path));
      action('new-folder', 'New folder here', () => void this.create('dir', entry.path));
    }
    action('edit', 'Rename', () => void this.rename(entry));
    action('trash', 'Delete', () => void this.remove(entry));

    const classes = ['tree-row', isDir ? 'dir' : 'file'];
    if (!entry.shared) classes.push('not-shared');
    if (entry.path === this.activePath) classes.push('active');
    const row = h(
      'div',
      { className: classes.join(' '), title: entry.note ? `${entry.path} — ${entry.note}` : entry.path },
      h('span', { className: `tree-icon codicon codicon-${icon}` }),
      h('span', { className: 'tree-name', textContent: baseName(entry.path) }),
      entry.note ? h('span', { className: 'tree-note', textContent: entry.note }) : null,
      this.gitMark(entry.path, isDir),
      actions,
    );
    row.style.paddingLeft = `${8 + depth * 14}px`;
    row.setAttribute('role', 'treeitem');
    row.dataset.path = entry.path;
    row.onclick = () => {
      if (isDir) {
        if (open) this.expanded.delete(entry.path);
        else this.expanded.add(entry.path);
        this.render();
      } else if (!entry.shared) {
        toast(`${entry.path} is not shared${entry.note ? `: ${entry.note}` : ''}`);
      } else {
        this.events.open(entry.path);
      }
    };
    row.oncontextmenu = (e) => {
      e.preventDefault();
      e.stopPropagation();
      const items: MenuItem[] = isDir
        ? [
            { label: 'New file…', action: () => void this.create('file', entry.path) },
            { label: 'New folder…', action: () => void this.create('dir', entry.path) },
          ]
        : [];
      items.push(
        { label: 'Rename…', action: () => void this.rename(entry) },
        { label: 'Delete', action: () => void this.remove(entry), danger: true },
      );
      showMenu(e.clientX, e.clientY, items);
    };
    return row;
  }

  private gitMark(path: string, isDir: boolean): HTMLElement | null {
    const change = this.git.get(path);
    if (!change) return null;
    const letter = isDir ? '•' : { modified: 'M', added: 'A', deleted: 'D', untracked: 'U', conflicted: '!' }[change];
    return h('span', { className: `git-mark git-${change}`, textContent: letter, title: isDir ? 'holds changed files' : change });
  }

  private rootMenu(): MenuItem[] {
    return [
      { label: 'New file…', action: () => void this.create('file', '') },
      { label: 'New folder…', action: () => void this.create('dir', '') },
    ];
  }

  /**
   * Asks for a name (a path below `dir`, such as `src/util/stats.rs`: the
   * folders are made too) and creates it. A name that cannot be used is
   * asked for again, with what was typed and why.
   */
  private async create(kind: 'file' | 'dir', dir: string): Promise<void> {
    const where = dir ? `in ${dir}` : 'at the top';
    const title = kind === 'file' ? `New file ${where}` : `New folder ${where}`;
    let typed = '';
    let problem: string | undefined;
    for (;;) {
      const name = await promptDialog(title, typed, 'Create', problem);
      if (!name) return;
      typed = name;
      problem = pathProblem(name) ?? undefined;
      if (problem) continue;
      const path = dir ? `${dir}/${name}` : name;
      try {
        if (kind === 'file') await backend.createFile(path);
        else await backend.createDir(path);
      } catch (err) {
        problem = `Could not create ${path}: ${errorMessage(err)}`;
        continue;
      }
      for (let d = dirName(path); d; d = dirName(d)) this.expanded.add(d);
      if (kind === 'dir') this.expanded.add(path);
      await this.refresh();
      if (kind === 'file') this.events.open(path);
      return;
    }
  }

  private async rename(entry: FileEntry): Promise<void> {
    const name = await promptDialog(`Rename ${entry.path}`, baseName(entry.path), 'Rename');
    if (!name || name === baseName(entry.path) || !validName(name)) return;
    const dir = dirName(entry.path);
    const to = dir ? `${dir}/${name}` : name;
    try {
      await backend.renamePath(entry.path, to);
    } catch (err) {
      toast(`Could not rename ${entry.path}: ${errorMessage(err)}`, 'error');
      return;
    }
    if (this.expanded.delete(entry.path)) this.expanded.add(to);
    await this.events.renamed(entry.path, to);
    await this.refresh();
  }

  private async remove(entry: FileEntry): Promise<void> {
    const what = entry.kind === 'dir' ? 'folder and everything in it' : 'file';
    const ok = await confirmDialog(
      `Delete ${baseName(entry.path)}?`,
      `The ${what} is deleted for every peer in the session.`,
      'Delete',
      true,
    );
    if (!ok) return;
    try {
      await backend.deletePath(entry.path);
    } catch (err) {
      toast(`Could not delete ${entry.path}: ${errorMessage(err)}`, 'error');
      return;
    }
    await this.refresh();
  }
}

/** The files of `before` now at another path in `after`: old path → new path. */
export function moves(before: readonly FileEntry[], after: readonly FileEntry[]): Map<string, string> {
  const now = new Map(after.map((e) => [e.id, e.path]));
  const moved = new Map<string, string>();
  for (const e of before) {
    const to = now.get(e.id);
    if (e.kind === 'file' && to !== undefined && to !== e.path) moved.set(e.path, to);
  }
  return moved;
}

/** Why `path` (relative, `/` between names) cannot name a new file, or null. */
export function pathProblem(path: string): string | null {
  if (path.includes('\\')) return 'Use / between folder names.';
  if (path.startsWith('/')) return 'Give a path inside the workspace, without a leading /.';
  const parts = path.split('/');
  if (parts.some((p) => p === '')) return 'A folder name is empty (two / in a row, or a / at the end).';
  if (parts.some((p) => p === '.' || p === '..')) return 'Names "." and ".." cannot be used.';
  return null;
}

function validName(name: string): boolean {
  if (/[/\\]/.test(name) || name === '.' || name === '..') {
    toast(`"${name}" is not a valid name (no slashes, not "." or "..")`, 'error');
    return false;
  }
  return true;
}

/** Nests the flat list; folders first, then by name. Missing parent folders are implied. */
export function buildTree(entries: readonly FileEntry[]): Node[] {
  const nodes = new Map<string, Node>();
  const root: Node[] = [];
  const ensure = (entry: FileEntry): Node => {
    const known = nodes.get(entry.path);
    if (known) {
      known.entry = entry;
      return known;
    }
    const node: Node = { entry, children: [] };
    nodes.set(entry.path, node);
    const parent = dirName(entry.path);
    const siblings = parent
      ? (nodes.get(parent) ?? ensure({ id: '', path: parent, kind: 'dir', shared: true, note: null })).children
      : root;
    siblings.push(node);
    return node;
  };
  // Parents first, so a folder's own entry replaces an implied one.
  [...entries].sort((a, b) => a.path.length - b.path.length).forEach(ensure);
  const sort = (list: Node[]) => {
    list.sort(
      (a, b) =>
        Number(b.entry.kind === 'dir') - Number(a.entry.kind === 'dir') ||
        baseName(a.entry.path).localeCompare(baseName(b.entry.path)),
    );
    list.forEach((n) => sort(n.children));
  };
  sort(root);
  return root;
}
