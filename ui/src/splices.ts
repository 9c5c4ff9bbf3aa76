// Pure helpers over UTF-16 splices. A list of splices applies sequentially:
// each one refers to the text left by the previous one.
import type { Splice } from './backend';

export function applySplice(text: string, s: Splice): string {
  return text.slice(0, s.index) + s.insert + text.slice(s.index + s.delete);
}

export function applySplices(text: string, splices: readonly Splice[]): string {
  return splices.reduce(applySplice, text);
}

/** A Monaco content change: offsets refer to the text before the event. */
export interface OffsetChange {
  rangeOffset: number;
  rangeLength: number;
  text: string;
}

/**
 * Monaco reports the changes of one event against the text before it, as if
 * applied at once. They do not overlap, so applying them from the highest
 * offset down keeps every lower offset valid: that order is a sequential list.
 */
export function changesToSplices(changes: readonly OffsetChange[]): Splice[] {
  return [...changes]
    .sort((a, b) => b.rangeOffset - a.rangeOffset)
    .map((c) => ({ index: c.rangeOffset, delete: c.rangeLength, insert: c.text }));
}

/**
 * Where an insertion exactly at `pos` leaves it: 'before' keeps the position
 * in front of the inserted text, 'after' moves it behind.
 */
export type Assoc = 'before' | 'after';

/** Maps an offset through one splice; offsets inside a deleted range clamp to it. */
export function mapOffset(pos: number, s: Splice, assoc: Assoc): number {
  const end = s.index + s.delete;
  if (pos < s.index) return pos;
  if (pos > end || (pos === end && s.delete > 0)) return pos + s.insert.length - s.delete;
  return s.index + (assoc === 'after' ? s.insert.length : 0);
}

export interface OffsetSelection {
  anchor: number;
  head: number;
}

/**
 * Keeps a selection on the same characters across a splice. A caret stays in
 * front of text inserted exactly at it; a non-empty selection does not grow to
 * absorb text inserted at either edge.
 */
export function mapSelection(sel: OffsetSelection, s: Splice): OffsetSelection {
  if (sel.anchor === sel.head) {
    const p = mapOffset(sel.head, s, 'before');
    return { anchor: p, head: p };
  }
  const forward = sel.anchor < sel.head;
  const start = mapOffset(forward ? sel.anchor : sel.head, s, 'after');
  const end = Math.max(start, mapOffset(forward ? sel.head : sel.anchor, s, 'before'));
  return forward ? { anchor: start, head: end } : { anchor: end, head: start };
}

/** The smallest single splice turning `from` into `to` (common prefix and suffix kept). */
export function diffSplice(from: string, to: string): Splice | null {
  if (from === to) return null;
  let start = 0;
  const max = Math.min(from.length, to.length);
  while (start < max && from.charCodeAt(start) === to.charCodeAt(start)) start++;
  let endFrom = from.length;
  let endTo = to.length;
  while (endFrom > start && endTo > start && from.charCodeAt(endFrom - 1) === to.charCodeAt(endTo - 1)) {
    endFrom--;
    endTo--;
  }
  // Never cut a surrogate pair in two: widen the splice over the whole pair.
  if (start > 0 && isHighSurrogate(from.charCodeAt(start - 1))) start--;
  if (endFrom < from.length && isLowSurrogate(from.charCodeAt(endFrom))) {
    endFrom++;
    endTo++;
  }
  return { index: start, delete: endFrom - start, insert: to.slice(start, endTo) };
}

const isHighSurrogate = (c: number): boolean => c >= 0xd800 && c <= 0xdbff;
const isLowSurrogate = (c: number): boolean => c >= 0xdc00 && c <= 0xdfff;
