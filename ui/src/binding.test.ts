import { afterEach, describe, expect, test } from 'vitest';
import * as monaco from 'monaco-editor/editor/editor.api';
import { MemoryBackend } from '../test/memory-backend';
import { FileBinding } from './binding';
import type { Splice } from './backend';

const PATH = 'src/main.txt';
const cleanups: (() => void)[] = [];

afterEach(() => {
  cleanups.splice(0).forEach((c) => c());
});

/** A real Monaco editor and model bound to an in-memory engine holding `text`. */
async function setup(text: string) {
  const backend = new MemoryBackend(PATH, text);
  const opened = await backend.openFile(PATH);
  backend.calls.length = 0;
  const model = monaco.editor.createModel(opened.text, 'plaintext');
  const host = document.createElement('div');
  document.body.append(host);
  const editor = monaco.editor.create(host, { model });
  const views: monaco.editor.ICodeEditor[] = [editor];
  let clock = 10_000;
  const problems: string[] = [];
  const binding = new FileBinding({
    opened,
    model,
    backend,
    views: () => views,
    now: () => clock,
    onProblem: (m) => problems.push(m),
  });
  await binding.whenIdle();
  backend.calls.length = 0;
  cleanups.push(() => {
    editor.dispose();
    model.dispose();
    host.remove();
  });

  const at = (offset: number) => model.getPositionAt(offset);
  return {
    backend,
    model,
    editor,
    binding,
    problems,
    /** Types like the user does (through the editor's own typing command). */
    type(s: string) {
      editor.trigger('keyboard', 'type', { text: s });
    },
    backspace() {
      editor.trigger('keyboard', 'deleteLeft', null);
    },
    caret(offset: number) {
      editor.setPosition(at(offset));
    },
    select(anchor: number, head: number) {
      const a = at(anchor);
      const h = at(head);
      editor.setSelection(new monaco.Selection(a.lineNumber, a.column, h.lineNumber, h.column));
    },
    /** A second editor showing the same model, as a split editor does. */
    split(): monaco.editor.ICodeEditor {
      const beside = document.createElement('div');
      document.body.append(beside);
      const other = monaco.editor.create(beside, { model });
      views.push(other);
      cleanups.push(() => {
        other.dispose();
        beside.remove();
      });
      return other;
    },
    caretOffset(): number {
      const p = editor.getPosition();
      if (!p) throw new Error('no caret');
      return model.getOffsetAt(p);
    },
    selectedText(): string {
      const s = editor.getSelection();
      return s ? model.getValueInRange(s) : '';
    },
    /** Another peer edits; the engine tells the binding. */
    async remote(splices: Splice[]) {
      backend.remoteEdit(splices);
      binding.changed();
      await binding.whenIdle();
    },
    sentSplices(): Splice[] {
      return backend.calls.flatMap((c) => (c.kind === 'edit' ? (c.splices ?? []) : []));
    },
    advance(ms: number) {
      clock += ms;
    },
  };
}

describe('local edits become UTF-16 splices', () => {
  test('non-ASCII text typed before and after lands at the right offsets', async () => {
    const t = await setup('ab');
    t.caret(2);
    t.type('ü');
    await t.binding.whenIdle();
    t.type('😀');
    await t.binding.whenIdle();
    t.caret(0);
    t.type('日本');
    await t.binding.whenIdle();
    t.caret(t.model.getValueLength());
    t.type('x');
    await t.binding.whenIdle();

    expect(t.sentSplices()).toEqual([
      { index: 2, delete: 0, insert: 'ü' },
      { index: 3, delete: 0, insert: '😀' },
      { index: 0, delete: 0, insert: '日' }, // the typing command inserts one character at a time
      { index: 1, delete: 0, insert: '本' },
      { index: 7, delete: 0, insert: 'x' }, // 日本 ab ü 😀(2 units)
    ]);
    expect(t.backend.text).toBe('日本abü😀x');
    expect(t.model.getValue()).toBe(t.backend.text);
  });

  test('deleting an emoji deletes both of its UTF-16 units', async () => {
    const t = await setup('a😀b');
    t.caret(3);
    t.backspace();
    await t.binding.whenIdle();
    expect(t.sentSplices()).toEqual([{ index: 1, delete: 2, insert: '' }]);
    expect(t.backend.text).toBe('ab');
  });

  test('several cursors typing at once reach the engine as sequential splices', async () => {
    const t = await setup('ü-ü-ü');
    t.editor.setSelections([
      new monaco.Selection(1, 2, 1, 2),
      new monaco.Selection(1, 4, 1, 4),
      new monaco.Selection(1, 6, 1, 6),
    ]);
    t.type('!');
    await t.binding.whenIdle();
    expect(t.backend.text).toBe('ü!-ü!-ü!');
    expect(t.model.getValue()).toBe(t.backend.text);
  });

  test('keystrokes typed while an edit is in flight are based on its result', async () => {
    const t = await setup('');
    t.backend.hold();
    t.type('a');
    await Promise.resolve();
    t.type('b');
    t.type('c');
    expect(t.binding.dirty).toBe(true);
    t.backend.release();
    await t.binding.whenIdle();
    expect(t.binding.dirty).toBe(false);
    expect(t.backend.text).toBe('abc');
  });

  test('a file starting with a BOM keeps engine offsets (the model hides the BOM)', async () => {
    const t = await setup('\uFEFFhi');
    t.caret(2);
    t.type('!');
    await t.binding.whenIdle();
    expect(t.sentSplices()).toEqual([{ index: 3, delete: 0, insert: '!' }]);
    expect(t.backend.text).toBe('\uFEFFhi!');
  });

  test('Enter in a CRLF file sends CRLF, and a mixed file is read-only', async () => {
    const t = await setup('a\r\nb');
    t.caret(1);
    t.type('\n');
    await t.binding.whenIdle();
    expect(t.backend.text).toBe('a\r\n\r\nb');
    expect(t.binding.readOnlyReason).toBeNull();

    const mixed = await setup('a\r\nb\nc');
    expect(mixed.binding.readOnlyReason).toMatch(/line endings/);
  });

  test('a read-only (mixed line endings) file still shows remote changes', async () => {
    const t = await setup('a\r\nb\nc');
    await t.remote([{ index: 0, delete: 0, insert: 'new ' }]);
    expect(t.model.getValue().startsWith('new a')).toBe(true);
    expect(t.binding.readOnlyReason).not.toBeNull();
    expect(t.backend.calls.some((c) => c.kind === 'edit')).toBe(false);
  });

  test('a remote CRLF in an LF file makes it read-only instead of corrupting offsets', async () => {
    const t = await setup('a\nb');
    await t.remote([{ index: 1, delete: 0, insert: '\r\n' }]);
    expect(t.binding.readOnlyReason).toMatch(/line endings/);
    t.backend.remoteEdit([{ index: 0, delete: 4, insert: 'x\ny' }]); // fixed again by someone
    t.binding.changed();
    await t.binding.whenIdle();
    expect(t.model.getValue()).toBe('x\nyb');
    expect(t.binding.readOnlyReason).toBeNull();
  });
});

describe('remote edits', () => {
  test('are applied to the model and not echoed back as local edits', async () => {
    const t = await setup('hello');
    await t.remote([{ index: 5, delete: 0, insert: ' wörld 😀' }]);
    expect(t.model.getValue()).toBe('hello wörld 😀');
    expect(t.backend.calls.map((c) => c.kind)).toEqual(['pull']);
    expect(t.binding.dirty).toBe(false);
  });

  test('sequential splices apply one after the other', async () => {
    const t = await setup('abcdef');
    await t.remote([
      { index: 0, delete: 1, insert: 'X' },
      { index: 5, delete: 1, insert: 'YZ' },
      { index: 1, delete: 0, insert: '-' },
    ]);
    expect(t.model.getValue()).toBe('X-bcdeYZ');
    expect(t.model.getValue()).toBe(t.backend.text);
  });

  test('an insert before the caret keeps the caret on the same character', async () => {
    const t = await setup('hello world');
    t.caret(6); // before "w"
    await t.remote([{ index: 0, delete: 0, insert: 'ß😀 ' }]);
    expect(t.caretOffset()).toBe(10);
    expect(t.model.getValue().slice(t.caretOffset())).toBe('world');
  });

  test('an insert exactly at the caret leaves the caret before it', async () => {
    const t = await setup('hello world');
    t.caret(5);
    await t.remote([{ index: 5, delete: 0, insert: ',' }]);
    expect(t.caretOffset()).toBe(5);
  });

  test('an insert after the caret does not move it', async () => {
    const t = await setup('hello world');
    t.caret(2);
    await t.remote([{ index: 8, delete: 0, insert: '!!' }]);
    expect(t.caretOffset()).toBe(2);
  });

  test('a delete spanning the caret clamps it to the start of the deletion', async () => {
    const t = await setup('hello world');
    t.caret(6);
    await t.remote([{ index: 3, delete: 6, insert: '' }]);
    expect(t.model.getValue()).toBe('helld');
    expect(t.caretOffset()).toBe(3);
  });

  test('a selection keeps covering the same text', async () => {
    const t = await setup('say hello world');
    t.select(4, 9); // "hello"
    await t.remote([{ index: 0, delete: 0, insert: 'we ' }]);
    expect(t.selectedText()).toBe('hello');
    await t.remote([{ index: 7, delete: 0, insert: 'big ' }]); // right at its start
    await t.remote([{ index: 16, delete: 0, insert: '!' }]); // right at its end
    expect(t.model.getValue()).toBe('we say big hello! world');
    expect(t.selectedText()).toBe('hello');
  });

  test('each editor showing the file keeps its own selection on its text', async () => {
    const t = await setup('alpha beta gamma');
    const right = t.split();
    t.select(6, 10); // "beta" on the left
    right.setSelection(new monaco.Selection(1, 12, 1, 17)); // "gamma" on the right
    await t.remote([{ index: 0, delete: 0, insert: '>> ' }]);
    expect(t.selectedText()).toBe('beta');
    const sel = right.getSelection();
    expect(sel && t.model.getValueInRange(sel)).toBe('gamma');
    // Presence reads the editor it is asked about.
    expect(t.binding.selections(right)).toEqual([{ anchor: 14, head: 19 }]);
    expect(t.binding.selections(t.editor)).toEqual([{ anchor: 9, head: 13 }]);
  });

  test('undo puts the caret in the editor it was asked from', async () => {
    const t = await setup('one two');
    const right = t.split();
    t.caret(3);
    t.type('!');
    await t.binding.whenIdle();
    right.setPosition({ lineNumber: 1, column: 1 });
    t.caret(8);
    t.binding.undo(right);
    await t.binding.whenIdle();
    expect(t.model.getValue()).toBe('one two');
    expect(right.getPosition()).toEqual(new monaco.Position(1, 4));
    expect(t.caretOffset()).toBe(7); // the other editor's caret stays where the text put it
  });

  test('a backwards selection keeps its direction', async () => {
    const t = await setup('abc def');
    t.select(7, 4); // "def", caret at its start
    await t.remote([{ index: 0, delete: 0, insert: '12' }]);
    const s = t.editor.getSelection();
    expect(s?.getDirection()).toBe(monaco.SelectionDirection.RTL);
    expect(t.selectedText()).toBe('def');
  });
});

describe('concurrency', () => {
  test('a remote change during an in-flight local edit is not applied at stale offsets', async () => {
    const t = await setup('middle');
    t.caret(6);
    t.backend.hold();
    t.type('A'); // in flight
    await Promise.resolve();
    t.backend.remoteEdit([{ index: 0, delete: 0, insert: 'start ' }]);
    t.binding.changed();
    t.type('B'); // queued behind the held edit
    t.backend.release();
    await t.binding.whenIdle();
    expect(t.backend.text).toBe('start middleAB');
    expect(t.model.getValue()).toBe(t.backend.text);
    expect(t.caretOffset()).toBe(t.model.getValueLength());
  });

  test('a pull overtaken by typing is dropped and pulled again', async () => {
    const t = await setup('0123456789');
    t.caret(10);
    t.backend.remoteEdit([{ index: 0, delete: 2, insert: 'é' }]);
    t.backend.hold();
    t.binding.changed(); // the pull is now in flight
    await Promise.resolve();
    t.type('Z'); // the user types before it returns
    t.backend.release();
    await t.binding.whenIdle();
    expect(t.backend.text).toBe('é23456789Z');
    expect(t.model.getValue()).toBe(t.backend.text);
    const kinds = t.backend.calls.map((c) => c.kind);
    expect(kinds.filter((k) => k === 'pull').length).toBe(2);
    expect(t.caretOffset()).toBe(t.model.getValueLength());
  });

  test('alternating bursts of local and remote edits converge', async () => {
    const t = await setup('');
    for (let i = 0; i < 20; i++) {
      t.caret(t.model.getValueLength());
      if (i % 3 === 0) t.backend.hold();
      t.type(`l${i}ü`);
      t.backend.remoteEdit([{ index: 0, delete: 0, insert: `r${i}😀` }]);
      t.binding.changed();
      t.type('.');
      t.backend.release();
      if (i % 2 === 0) await t.binding.whenIdle();
    }
    await t.binding.whenIdle();
    expect(t.model.getValue()).toBe(t.backend.text);
    expect(t.backend.text).toContain('r19😀');
    expect(t.backend.text).toContain('l19ü.');
  });
});

describe('undo', () => {
  test('undoes only local edits, even after a remote edit shifted them', async () => {
    const t = await setup('one two');
    t.caret(7);
    t.type(' three');
    await t.binding.whenIdle();
    await t.remote([{ index: 0, delete: 0, insert: 'zéro ' }]);
    expect(t.model.getValue()).toBe('zéro one two three');

    t.binding.undo();
    await t.binding.whenIdle();
    expect(t.model.getValue()).toBe('zéro one two');
    expect(t.backend.text).toBe('zéro one two');
    expect(t.caretOffset()).toBe(12);

    t.binding.redo();
    await t.binding.whenIdle();
    expect(t.backend.text).toBe('zéro one two three');
  });

  test('text a peer typed inside my insertion survives undoing it', async () => {
    const t = await setup('[]');
    t.caret(1);
    t.type('abc');
    await t.binding.whenIdle();
    await t.remote([{ index: 2, delete: 0, insert: 'XY' }]);
    expect(t.model.getValue()).toBe('[aXYbc]');
    t.binding.undo();
    await t.binding.whenIdle();
    expect(t.backend.text).toBe('[XY]');
  });

  test('a deletion is undone at its shifted place, and a peer edit elsewhere stays', async () => {
    const t = await setup('keep 😀 this');
    t.select(5, 8); // "😀 "
    t.backspace();
    await t.binding.whenIdle();
    expect(t.backend.text).toBe('keep this');
    await t.remote([
      { index: 0, delete: 0, insert: '>> ' },
      { index: 12, delete: 0, insert: '!' },
    ]);
    t.binding.undo();
    await t.binding.whenIdle();
    expect(t.backend.text).toBe('>> keep 😀 this!');
  });

  test('typing within 500 ms is one step; a pause starts a new one', async () => {
    const t = await setup('');
    t.type('a');
    t.advance(100);
    t.type('b');
    t.advance(100);
    t.type('c');
    t.advance(2000);
    t.type('d');
    await t.binding.whenIdle();
    t.binding.undo();
    await t.binding.whenIdle();
    expect(t.backend.text).toBe('abc');
    t.binding.undo();
    await t.binding.whenIdle();
    expect(t.backend.text).toBe('');
    t.binding.undo(); // nothing left: no change
    await t.binding.whenIdle();
    expect(t.backend.text).toBe('');
    t.binding.redo();
    t.binding.redo();
    await t.binding.whenIdle();
    expect(t.backend.text).toBe('abcd');
  });

  test('undo of older steps works through later local edits and remote edits between them', async () => {
    const t = await setup('abcde');
    t.caret(0);
    t.type('XYZ'); // XYZabcde
    t.advance(1000);
    t.select(5, 8); // "cde" and…
    t.backspace(); // XYZab
    t.advance(1000);
    await t.remote([{ index: 5, delete: 0, insert: '#' }]); // XYZab#
    t.binding.undo(); // the deletion comes back before the peer's "#"
    await t.binding.whenIdle();
    expect(t.backend.text).toBe('XYZabcde#');
    t.binding.undo();
    await t.binding.whenIdle();
    expect(t.backend.text).toBe('abcde#');
  });

  test('a new local edit clears redo', async () => {
    const t = await setup('x');
    t.caret(1);
    t.type('1');
    await t.binding.whenIdle();
    t.binding.undo();
    t.advance(1000);
    t.type('2');
    t.binding.redo();
    await t.binding.whenIdle();
    expect(t.backend.text).toBe('x2');
  });
});

describe('recovery', () => {
  test('resync replaces the model by the engine text', async () => {
    const t = await setup('abc');
    t.backend.remoteEdit([{ index: 1, delete: 1, insert: 'Ω' }]);
    t.binding.resync('refused');
    await t.binding.whenIdle();
    expect(t.model.getValue()).toBe('aΩc');
    expect(t.problems).toContain('refused');
  });

  test('a refused edit reloads the engine text and says so', async () => {
    const t = await setup('abc');
    t.backend.edit = () => Promise.reject('wrong base');
    t.caret(3);
    t.type('d');
    await t.binding.whenIdle();
    expect(t.model.getValue()).toBe('abc');
    expect(t.problems.join()).toMatch(/wrong base/);
    expect(t.binding.dirty).toBe(false);
  });
});
