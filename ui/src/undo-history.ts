// Undo/redo of the local user's edits only. Each entry is the inverse of one
// group of local edits, stored as regions of the text it applies to: undoing
// replaces each region by the text it had before. Entries form a chain: the
// top entry applies to the current text, the next one to the text left after
// undoing the top, and so on. Remote splices are carried down that chain (as
// in operational transformation), so entries never undo other peers' text.
import type { Splice } from './backend';
import { applySplice } from './splices';

/** [from, to) in the entry's text, and what undoing it puts back there. */
interface Region {
  from: number;
  to: number;
  text: string;
}

interface Entry {
  regions: Region[];
  time: number;
}

export interface HistoryStep {
  /** Sequential splices that perform the undo (or redo) on the current text. */
  splices: Splice[];
  /** Where the caret goes afterwards: the end of the first changed region. */
  caret: number;
}

/** Edits typed closer together than this are undone as one step. */
const GROUP_MS = 500;
const MAX_ENTRIES = 500;

export class UndoHistory {
  private undoStack: Entry[] = [];
  private redoStack: Entry[] = [];
  /** Only a run of plain edits groups; an undo or redo starts a new step. */
  private groupOpen = false;

  /** A local edit of the user; `before` is the text the splices apply to. */
  recordEdit(splices: readonly Splice[], before: string, now: number): void {
    this.redoStack = [];
    const top = this.undoStack[this.undoStack.length - 1];
    const grouped = this.groupOpen && top !== undefined && now - top.time < GROUP_MS;
    const entry = grouped ? top : this.push(this.undoStack, now);
    entry.regions = composeAll(entry.regions, splices, before);
    entry.time = now;
    this.groupOpen = true;
  }

  /** Records the inverse of an applied undo (onto redo) or redo (onto undo). */
  recordApplied(kind: 'undo' | 'redo', splices: readonly Splice[], before: string): void {
    const entry = this.push(kind === 'undo' ? this.redoStack : this.undoStack, 0);
    entry.regions = composeAll([], splices, before);
    this.groupOpen = false;
  }

  takeUndo(): HistoryStep | null {
    return take(this.undoStack, () => (this.groupOpen = false));
  }

  takeRedo(): HistoryStep | null {
    return take(this.redoStack, () => (this.groupOpen = false));
  }

  /** Carries one remote splice (on the current text) down both chains. */
  mapRemote(splice: Splice): void {
    mapChain(this.undoStack, splice);
    mapChain(this.redoStack, splice);
  }

  clear(): void {
    this.undoStack = [];
    this.redoStack = [];
    this.groupOpen = false;
  }

  private push(stack: Entry[], time: number): Entry {
    const entry: Entry = { regions: [], time };
    stack.push(entry);
    if (stack.length > MAX_ENTRIES) stack.shift();
    return entry;
  }
}

function take(stack: Entry[], onTake: () => void): HistoryStep | null {
  for (let entry = stack.pop(); entry; entry = stack.pop()) {
    if (entry.regions.length === 0) continue; // e.g. typed and erased again
    onTake();
    // Regions do not overlap: applying them from the end keeps lower offsets valid.
    const splices = [...entry.regions]
      .reverse()
      .map((g) => ({ index: g.from, delete: g.to - g.from, insert: g.text }));
    const first = entry.regions[0];
    return { splices, caret: first.from + first.text.length };
  }
  return null;
}

function composeAll(regions: Region[], splices: readonly Splice[], before: string): Region[] {
  let text = before;
  for (const s of splices) {
    regions = compose(regions, s, text);
    text = applySplice(text, s);
  }
  return regions.filter((g) => !(g.from === g.to && g.text === ''));
}

/**
 * Adds one more local splice to an entry whose regions refer to `text`.
 * Regions it overlaps or touches merge with it into one region whose saved
 * text is the original of the whole span.
 */
function compose(regions: Region[], s: Splice, text: string): Region[] {
  const a = s.index;
  const b = s.index + s.delete;
  const delta = s.insert.length - s.delete;
  const before: Region[] = [];
  const touching: Region[] = [];
  const after: Region[] = [];
  for (const g of regions) {
    if (g.to < a) before.push(g);
    else if (g.from > b) after.push({ from: g.from + delta, to: g.to + delta, text: g.text });
    else touching.push(g);
  }
  const lo = Math.min(a, touching.length ? touching[0].from : a);
  const hi = Math.max(b, touching.length ? touching[touching.length - 1].to : b);
  let original = '';
  let pos = lo;
  for (const g of touching) {
    original += text.slice(pos, g.from) + g.text;
    pos = g.to;
  }
  original += text.slice(pos, hi);
  return [...before, { from: lo, to: hi + delta, text: original }, ...after];
}

function mapChain(stack: Entry[], splice: Splice): void {
  let r: Splice = splice;
  for (let i = stack.length - 1; i >= 0; i--) {
    const entry = stack[i];
    const next = throughUndo(r, entry.regions);
    entry.regions = mapRegions(entry.regions, r);
    r = next;
  }
}

/**
 * A remote splice on the text of an entry, expressed on the text after that
 * entry is undone (what the next entry down refers to).
 */
function throughUndo(r: Splice, regions: readonly Region[]): Splice {
  const index = undoneOffset(r.index, regions, 'after');
  const end = undoneOffset(r.index + r.delete, regions, 'before');
  return { index, delete: Math.max(0, end - index), insert: r.insert };
}

function undoneOffset(pos: number, regions: readonly Region[], side: 'before' | 'after'): number {
  let delta = 0;
  for (const g of regions) {
    // Text restored into an empty region goes before what a peer inserted at that spot.
    if (pos < g.from || (pos === g.from && (g.from < g.to || side === 'before'))) break;
    if (pos >= g.to) {
      delta += g.text.length - (g.to - g.from);
      continue;
    }
    return g.from + delta + (side === 'after' ? g.text.length : 0);
  }
  return pos + delta;
}

/**
 * Moves regions over a remote splice. Text a remote peer inserts inside a
 * region splits it, so undoing removes only the local part around it; text a
 * remote peer deletes shrinks it. Inserts at a region's edge stay outside; at
 * an empty region (deleted text) they go after the text an undo restores,
 * as a caret there stays in front of them.
 */
function mapRegions(regions: readonly Region[], r: Splice): Region[] {
  const a = r.index;
  const b = r.index + r.delete;
  const delta = r.insert.length - r.delete;
  const out: Region[] = [];
  for (const g of regions) {
    if (b < g.from || (b === g.from && (g.from < g.to || r.delete > 0))) {
      out.push({ from: g.from + delta, to: g.to + delta, text: g.text });
    } else if (g.to <= a) {
      out.push(g);
    } else {
      const hasLeft = g.from < a;
      const hasRight = g.to > b;
      if (hasLeft && hasRight && r.insert === '') {
        out.push({ from: g.from, to: g.to + delta, text: g.text }); // only the middle went
      } else if (hasLeft && hasRight) {
        out.push({ from: g.from, to: a, text: g.text });
        out.push({ from: a + r.insert.length, to: g.to + delta, text: '' });
      } else if (hasLeft) {
        out.push({ from: g.from, to: a, text: g.text });
      } else if (hasRight) {
        out.push({ from: a + r.insert.length, to: g.to + delta, text: g.text });
      } else if (g.text !== '') {
        out.push({ from: a, to: a, text: g.text });
      }
    }
  }
  return out;
}
