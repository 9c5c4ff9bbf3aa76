import { expect, test } from 'vitest';
import { chordOf, commandFor, keyFor } from './keys';

const press = (code: string, key: string, mods: Partial<{ ctrl: boolean; meta: boolean; shift: boolean; alt: boolean }> = {}) => ({
  code,
  key,
  ctrlKey: !!mods.ctrl,
  metaKey: !!mods.meta,
  shiftKey: !!mods.shift,
  altKey: !!mods.alt,
});

test('chords are spelled by key position, whatever the layout or shift', () => {
  expect(chordOf(press('KeyP', 'p', { ctrl: true }))).toBe('Ctrl+P');
  expect(chordOf(press('KeyP', 'P', { ctrl: true, shift: true }))).toBe('Ctrl+Shift+P');
  // An AZERTY "a" sits where QWERTY has Q: bound by position.
  expect(chordOf(press('KeyQ', 'a', { ctrl: true }))).toBe('Ctrl+Q');
  expect(chordOf(press('Backquote', '²', { ctrl: true }))).toBe('Ctrl+`');
  expect(chordOf(press('Tab', 'Tab', { ctrl: true, shift: true }))).toBe('Ctrl+Shift+Tab');
});

test('the VS Code bindings reach their commands; Cmd counts as Ctrl', () => {
  expect(commandFor(press('KeyP', 'p', { ctrl: true }))).toBe('quickOpen');
  expect(commandFor(press('KeyP', 'p', { meta: true, shift: true }))).toBe('commandPalette');
  expect(commandFor(press('KeyF', 'F', { ctrl: true, shift: true }))).toBe('search');
  expect(commandFor(press('Backquote', '`', { ctrl: true }))).toBe('toggleTerminal');
  expect(commandFor(press('KeyB', 'b', { ctrl: true }))).toBe('toggleSidebar');
  expect(commandFor(press('KeyW', 'w', { ctrl: true }))).toBe('closeTab');
  expect(commandFor(press('Tab', 'Tab', { ctrl: true }))).toBe('nextTab');
  expect(commandFor(press('KeyP', 'p'))).toBeNull();
  expect(commandFor(press('KeyB', 'b', { ctrl: true, alt: true }))).toBeNull();
  expect(keyFor('search')).toBe('Ctrl+Shift+F');
  expect(commandFor(press('Comma', ',', { ctrl: true }))).toBe('openSettings');
  expect(commandFor(press('Backslash', '\\', { ctrl: true }))).toBe('splitEditor');
  expect(commandFor(press('Digit2', '2', { ctrl: true }))).toBe('focusSecondGroup');
});

test('in a terminal Ctrl with a letter goes to the shell; in a dialog no binding applies', () => {
  expect(commandFor(press('KeyW', 'w', { ctrl: true }), 'terminal')).toBeNull();
  expect(commandFor(press('KeyP', 'p', { ctrl: true }), 'terminal')).toBeNull();
  expect(commandFor(press('KeyB', 'b', { ctrl: true }), 'terminal')).toBeNull();
  expect(commandFor(press('Backslash', '\\', { ctrl: true }), 'terminal')).toBeNull(); // SIGQUIT
  expect(commandFor(press('KeyP', 'P', { ctrl: true, shift: true }), 'terminal')).toBe('commandPalette');
  expect(commandFor(press('Backquote', '`', { ctrl: true }), 'terminal')).toBe('toggleTerminal');
  expect(commandFor(press('KeyP', 'p', { ctrl: true }), 'dialog')).toBeNull();
});
