import { describe, expect, test } from 'vitest';
import { applySplices, changesToSplices, diffSplice, mapOffset, mapSelection } from './splices';

describe('splices', () => {
  test('simultaneous Monaco changes become a sequential list that gives the same text', () => {
    const before = 'ab😀cd';
    // Both offsets refer to `before`.
    const splices = changesToSplices([
      { rangeOffset: 1, rangeLength: 0, text: 'X' },
      { rangeOffset: 4, rangeLength: 1, text: 'ü' },
    ]);
    expect(splices.map((s) => s.index)).toEqual([4, 1]);
    expect(applySplices(before, splices)).toBe('aXb😀üd');
  });

  test('offsets move over inserts and clamp into deletions', () => {
    expect(mapOffset(5, { index: 2, delete: 0, insert: 'abc' }, 'before')).toBe(8);
    expect(mapOffset(2, { index: 2, delete: 0, insert: 'abc' }, 'before')).toBe(2);
    expect(mapOffset(2, { index: 2, delete: 0, insert: 'abc' }, 'after')).toBe(5);
    expect(mapOffset(4, { index: 2, delete: 5, insert: '' }, 'before')).toBe(2);
    expect(mapOffset(7, { index: 2, delete: 5, insert: 'x' }, 'before')).toBe(3);
    expect(mapOffset(1, { index: 2, delete: 5, insert: 'x' }, 'before')).toBe(1);
  });

  test('a selection does not grow when text is inserted at its edges', () => {
    const sel = { anchor: 2, head: 5 };
    expect(mapSelection(sel, { index: 2, delete: 0, insert: 'zz' })).toEqual({ anchor: 4, head: 7 });
    expect(mapSelection(sel, { index: 5, delete: 0, insert: 'zz' })).toEqual({ anchor: 2, head: 5 });
    expect(mapSelection({ anchor: 5, head: 2 }, { index: 0, delete: 1, insert: '' })).toEqual({ anchor: 4, head: 1 });
  });

  test('a diff never cuts a surrogate pair', () => {
    const s = diffSplice('a😀b', 'a😁b');
    expect(s).toEqual({ index: 1, delete: 2, insert: '😁' });
    expect(diffSplice('same', 'same')).toBeNull();
    expect(applySplices('x😀y', [diffSplice('x😀y', 'x😀😀y')!])).toBe('x😀😀y');
  });
});
