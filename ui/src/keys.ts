// Key bindings as in VS Code, taken before the editor or a terminal sees
// the key. Ctrl is Cmd on a Mac.

export interface Binding {
  /** As shown to the user: `Ctrl+Shift+P`. */
  key: string;
  command: string;
}

export const BINDINGS: readonly Binding[] = [
  { key: 'Ctrl+P', command: 'quickOpen' },
  { key: 'Ctrl+Shift+P', command: 'commandPalette' },
  { key: 'F1', command: 'commandPalette' },
  { key: 'Ctrl+Shift+F', command: 'search' },
  { key: 'Ctrl+Shift+E', command: 'explorer' },
  { key: 'Ctrl+`', command: 'toggleTerminal' },
  { key: 'Ctrl+B', command: 'toggleSidebar' },
  { key: 'Ctrl+W', command: 'closeTab' },
  { key: 'Ctrl+Tab', command: 'nextTab' },
  { key: 'Ctrl+Shift+Tab', command: 'previousTab' },
  { key: 'Ctrl+\\', command: 'splitEditor' },
  { key: 'Ctrl+1', command: 'focusFirstGroup' },
  { key: 'Ctrl+2', command: 'focusSecondGroup' },
  { key: 'Ctrl+,', command: 'openSettings' },
  { key: 'Ctrl+Shift+M', command: 'problems' },
];

export interface KeyLike {
  key: string;
  code: string;
  ctrlKey: boolean;
  metaKey: boolean;
  shiftKey: boolean;
  altKey: boolean;
}

/** The chord a key press makes, spelled as in [`BINDINGS`]; by key position, so any layout works. */
export function chordOf(e: KeyLike): string {
  let key: string;
  if (/^Key[A-Z]$/.test(e.code)) key = e.code.slice(3);
  else if (/^Digit[0-9]$/.test(e.code)) key = e.code.slice(5);
  else if (e.code === 'Backquote') key = '`';
  else if (e.code === 'Backslash') key = '\\';
  else key = e.key.length === 1 ? e.key.toUpperCase() : e.key;
  const mods = [e.ctrlKey || e.metaKey ? 'Ctrl' : '', e.altKey ? 'Alt' : '', e.shiftKey ? 'Shift' : ''].filter(Boolean);
  return [...mods, key].join('+');
}

/** Where the key was pressed, as far as bindings care. */
export type KeyPlace = 'editor' | 'terminal' | 'dialog';

/**
 * The command bound to a key press, if any. In a terminal, Ctrl with a
 * letter or a backslash alone belongs to the shell (Ctrl+W deletes a word,
 * Ctrl+P recalls, Ctrl+B is tmux's prefix, Ctrl+\ quits); in a dialog, keys
 * belong to the dialog.
 */
export function commandFor(e: KeyLike, place: KeyPlace = 'editor'): string | null {
  if (place === 'dialog') return null;
  const chord = chordOf(e);
  if (place === 'terminal' && /^Ctrl\+([A-Z]|\\)$/.test(chord)) return null;
  return BINDINGS.find((b) => b.key === chord)?.command ?? null;
}

/** The keys shown beside a command in the palette. */
export function keyFor(command: string): string | null {
  return BINDINGS.find((b) => b.command === command)?.key ?? null;
}
