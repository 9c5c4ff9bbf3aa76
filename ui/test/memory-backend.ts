// In-memory stand-in for the engine, for binding tests. Versions are counters.
// Its history is one line of splice lists; an edit based on an older version
// is merged onto the head (both sides' changes kept when they do not
// overlap), and is answered with a version whose text is exactly the base
// plus that edit, as the engine does. Calls can be held to play them "in flight".
import type { DocBackend, OpenedFile, Pulled, Splice, Version } from '../src/backend';

interface Stored {
  text: string;
  /** Position in the history line, for versions on it. */
  line: number | null;
}

export class MemoryBackend implements DocBackend {
  readonly calls: { kind: 'edit' | 'pull' | 'open'; splices?: Splice[] }[] = [];
  private readonly versions = new Map<string, Stored>();
  private readonly history: Splice[][] = [];
  private head: string;
  private counter = 0;
  private held: (() => void)[] | null = null;

  constructor(
    readonly path: string,
    text: string,
  ) {
    this.head = this.store({ text, line: 0 });
  }

  get text(): string {
    return this.get([this.head]).text;
  }

  /** Another peer's edit, applied to the head. */
  remoteEdit(splices: Splice[]): void {
    this.append(splices);
  }

  /** From now on calls wait until `release`. */
  hold(): void {
    this.held ??= [];
  }

  release(): void {
    const waiting = this.held ?? [];
    this.held = null;
    waiting.forEach((go) => go());
  }

  async openFile(path: string): Promise<OpenedFile> {
    await this.gate();
    this.calls.push({ kind: 'open' });
    return { path, text: this.text, version: [this.head] };
  }

  async edit(args: { path: string; base: Version; splices: Splice[] }): Promise<Version> {
    await this.gate();
    this.calls.push({ kind: 'edit', splices: args.splices });
    const base = this.get(args.base);
    const mine = applyAll(base.text, args.splices);
    if (args.base[0] === this.head) return [this.append(args.splices)];
    // Concurrent: carry our single net change over the head's, then answer a side version.
    const theirs = diff(base.text, this.text);
    const ours = diff(base.text, mine);
    this.append([shift(ours, theirs)]);
    return [this.store({ text: mine, line: null })];
  }

  async pull(args: { path: string; since: Version }): Promise<Pulled> {
    await this.gate();
    this.calls.push({ kind: 'pull' });
    const since = this.get(args.since);
    const splices =
      since.line !== null ? this.history.slice(since.line).flat() : [diff(since.text, this.text)];
    return { splices: splices.filter((s) => s.delete > 0 || s.insert !== ''), version: [this.head] };
  }

  private append(splices: Splice[]): string {
    const text = applyAll(this.text, splices);
    this.history.push(splices);
    this.head = this.store({ text, line: this.history.length });
    return this.head;
  }

  private store(v: Stored): string {
    const id = `v${this.counter++}`;
    this.versions.set(id, v);
    return id;
  }

  private get(version: Version): Stored {
    const v = this.versions.get(version[0]);
    if (!v) throw new Error(`unknown version ${version.join()}`);
    return v;
  }

  private gate(): Promise<void> {
    const held = this.held;
    return held ? new Promise((go) => held.push(go)) : Promise.resolve();
  }
}

function applyAll(text: string, splices: readonly Splice[]): string {
  for (const s of splices) {
    if (s.index < 0 || s.delete < 0 || s.index + s.delete > text.length) {
      throw new Error(`splice ${JSON.stringify(s)} outside a text of ${text.length}`);
    }
    text = text.slice(0, s.index) + s.insert + text.slice(s.index + s.delete);
  }
  return text;
}

function diff(a: string, b: string): Splice {
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let ea = a.length;
  let eb = b.length;
  while (ea > start && eb > start && a[ea - 1] === b[eb - 1]) {
    ea--;
    eb--;
  }
  return { index: start, delete: ea - start, insert: b.slice(start, eb) };
}

/** `ours` (on the base) moved over `theirs` (also on the base); they must not overlap. */
function shift(ours: Splice, theirs: Splice): Splice {
  if (ours.index + ours.delete <= theirs.index) return ours;
  if (ours.index >= theirs.index + theirs.delete) {
    return { ...ours, index: ours.index + theirs.insert.length - theirs.delete };
  }
  throw new Error('overlapping concurrent edits are not modelled by this double');
}
