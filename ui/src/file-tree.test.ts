import { expect, test } from 'vitest';
import { buildTree } from './file-tree';

test('the flat list nests into folders (implied ones too), folders first, by name', () => {
  const tree = buildTree([
    { path: 'b.txt', kind: 'file', shared: true, note: null },
    { path: 'src/z.rs', kind: 'file', shared: true, note: null },
    { path: 'src', kind: 'dir', shared: true, note: null },
    { path: 'a.bin', kind: 'file', shared: false, note: 'binary' },
    { path: 'docs/img/x.png', kind: 'file', shared: false, note: 'binary' },
    { path: 'src/a.rs', kind: 'file', shared: true, note: null },
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
