import { expect, test } from 'vitest';
import { buildTree, moves, pathProblem } from './file-tree';

test('the flat list nests into folders (implied ones too), folders first, by name', () => {
  const tree = buildTree([
    { id: '1', path: 'b.txt', kind: 'file', shared: true, note: null },
    { id: '2', path: 'src/z.rs', kind: 'file', shared: true, note: null },
    { id: '3', path: 'src', kind: 'dir', shared: true, note: null },
    { id: '4', path: 'a.bin', kind: 'file', shared: false, note: 'binary' },
    { id: '5', path: 'docs/img/x.png', kind: 'file', shared: false, note: 'binary' },
    { id: '6', path: 'src/a.rs', kind: 'file', shared: true, note: null },
  ]);
  const names = (nodes: typeof tree): unknown[] =>
    nodes.map((n) => (n.children.length ? [n.entry.path, names(n.children)] : n.entry.path));
  expect(names(tree)).toEqual([
    ['docs', [['docs/img', ['docs/img/x.png']]]],
    ['src', ['src/a.rs', 'src/z.rs']],
    'a.bin',
    'b.txt',
  ]);
});

test('a new file may be a nested path; empty, dot and absolute parts are refused', () => {
  expect(pathProblem('src/util/stats.rs')).toBeNull();
  expect(pathProblem('stats.rs')).toBeNull();
  for (const bad of ['/etc/passwd', 'src//a.rs', 'src/', '../a.rs', 'src/./a.rs', 'src\\a.rs']) {
    expect(pathProblem(bad), bad).not.toBeNull();
  }
});

test('files are followed by id through renames and folder moves', () => {
  const f = (id: string, path: string, kind: 'file' | 'dir' = 'file') => ({ id, path, kind, shared: true, note: null });
  const before = [f('d', 'src', 'dir'), f('a', 'src/a.rs'), f('b', 'b.txt'), f('c', 'c.txt')];
  const after = [f('d', 'lib', 'dir'), f('a', 'lib/a.rs'), f('b', 'docs/b.txt'), f('c', 'c.txt')];
  expect([...moves(before, after)]).toEqual([
    ['src/a.rs', 'lib/a.rs'],
    ['b.txt', 'docs/b.txt'],
  ]);
  expect(moves(before, []).size).toBe(0);
});
