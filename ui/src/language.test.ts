import { expect, test } from 'vitest';
import { editsToSplices, nameOf, offsetOf, pathOf } from './language';
import { applySplices } from './splices';

test('LSP positions count lines and UTF-16 characters, and stop at the line end', () => {
  const text = 'ab\n😀x\nlast';
  expect(offsetOf(text, { line: 0, character: 1 })).toBe(1);
  expect(offsetOf(text, { line: 1, character: 2 })).toBe(5); // the emoji is two units
  expect(offsetOf(text, { line: 1, character: 99 })).toBe(6);
  expect(offsetOf(text, { line: 9, character: 0 })).toBe(text.length);
});

test("a rename's edits of one file become splices that apply one after the other", () => {
  const text = 'let greet = 1;\ngreet + greet;\n';
  const at = (line: number, character: number) => ({ line, character });
  const edits = [
    { range: { start: at(0, 4), end: at(0, 9) }, newText: 'welcome' },
    { range: { start: at(1, 0), end: at(1, 5) }, newText: 'welcome' },
    { range: { start: at(1, 8), end: at(1, 13) }, newText: 'welcome' },
  ];
  expect(applySplices(text, editsToSplices(text, edits))).toBe('let welcome = 1;\nwelcome + welcome;\n');
});

test('file names travel as nitro: names and back', () => {
  expect(nameOf('src/a b.ts')).toBe('nitro:/src/a%20b.ts');
  expect(pathOf('nitro:/src/a%20b.ts')).toBe('src/a b.ts');
  expect(pathOf('file:///etc/passwd')).toBeNull();
});
