// Settings: how the editor looks (theme, font size, tab size, word wrap)
// and how this machine reaches peers (address, signaling server, STUN/TURN),
// kept by the backend in the settings folder `nitro` reads too.
import { backend, errorMessage, type EditorSettings, type NetworkSettings } from './backend';
import { h, type Disposable } from './dom';
import { toast } from './toast';

const DEFAULTS: EditorSettings = { theme: 'dark', fontSize: 13, tabSize: 4, wordWrap: false };
let current: EditorSettings = { ...DEFAULTS };
const watchers = new Set<(s: EditorSettings) => void>();

export function editorSettings(): EditorSettings {
  return current;
}

/** Calls `apply` with the editor settings now and whenever they change. */
export function watchEditorSettings(apply: (s: EditorSettings) => void): Disposable {
  watchers.add(apply);
  apply(current);
  return { dispose: () => watchers.delete(apply) };
}

function setEditorSettings(s: EditorSettings): void {
  current = s;
  document.body.classList.toggle('light', s.theme === 'light');
  for (const apply of watchers) apply(s);
}

/** Reads the saved settings (at start). */
export async function loadSettings(): Promise<void> {
  try {
    setEditorSettings({ ...DEFAULTS, ...(await backend.getSettings()).editor });
  } catch {
    setEditorSettings(current);
  }
}

/** The settings page, over the window. */
export async function openSettings(): Promise<void> {
  document.querySelector('.settings-backdrop')?.remove();
  let loaded;
  try {
    loaded = await backend.getSettings();
  } catch (err) {
    toast(`Could not read the settings: ${errorMessage(err)}`, 'error');
    return;
  }
  const { network, editor, file } = loaded;
  const field = (value: string, placeholder: string) => h('input', { className: 'field', value, placeholder, spellcheck: false });
  const number = (value: number, min: number, max: number) =>
    h('input', { className: 'field', type: 'number', value: String(value), min: String(min), max: String(max) });
  const check = (checked: boolean) => h('input', { type: 'checkbox', checked });
  const theme = h(
    'select',
    { className: 'field' },
    h('option', { value: 'dark', textContent: 'Dark', selected: editor.theme !== 'light' }),
    h('option', { value: 'light', textContent: 'Light', selected: editor.theme === 'light' }),
  );
  const fontSize = number(editor.fontSize, 8, 40);
  const tabSize = number(editor.tabSize, 1, 16);
  const wordWrap = check(editor.wordWrap);
  const bind = field(network.bind, 'every interface');
  const signal = field(network.signal, "the host's own (ws://… or wss://… for a y-webrtc server)");
  const servers = h('textarea', {
    className: 'field',
    value: network.iceServers.join('\n'),
    placeholder: 'stun:stun.example.org:3478\nturn:turn.example.org:3478?transport=udp',
    rows: 3,
    spellcheck: false,
  });
  const user = field(network.iceUsername, 'TURN user name');
  const credential = h('input', { className: 'field', type: 'password', value: network.iceCredential, placeholder: 'TURN password' });
  const relayOnly = check(network.relayOnly);
  const error = h('div', { className: 'error-text' });
  const save = h('button', { className: 'btn btn-primary', textContent: 'Save', type: 'submit' });
  const cancel = h('button', { className: 'btn', textContent: 'Cancel', type: 'button' });
  const row = (label: string, control: HTMLElement) => h('label', { className: 'settings-row' }, h('span', { textContent: label }), control);
  const form = h(
    'form',
    { className: 'modal settings' },
    h('h2', { textContent: 'Settings' }),
    h('h3', { textContent: 'Editor' }),
    row('Theme', theme),
    row('Font size', fontSize),
    row('Tab size', tabSize),
    row('Wrap long lines', wordWrap),
    h('h3', { textContent: 'Network (used by the app and by nitro)' }),
    row('Local address', bind),
    row('Signaling server', signal),
    row('STUN/TURN servers', servers),
    row('TURN user', user),
    row('TURN password', credential),
    row('Relay only (peers never see your address)', relayOnly),
    h('p', { className: 'muted', textContent: `Kept in ${file}. Network settings apply to the next session you start.` }),
    error,
    h('div', { className: 'modal-buttons' }, cancel, save),
  );
  const backdrop = h('div', { className: 'modal-backdrop settings-backdrop' }, form);
  const close = () => backdrop.remove();
  cancel.onclick = close;
  backdrop.onkeydown = (e) => {
    if (e.key === 'Escape') close();
  };
  form.onsubmit = async (e) => {
    e.preventDefault();
    const next: EditorSettings = {
      theme: theme.value === 'light' ? 'light' : 'dark',
      fontSize: Number(fontSize.value) || DEFAULTS.fontSize,
      tabSize: Number(tabSize.value) || DEFAULTS.tabSize,
      wordWrap: wordWrap.checked,
    };
    const net: NetworkSettings = {
      bind: bind.value.trim(),
      signal: signal.value.trim(),
      relayOnly: relayOnly.checked,
      iceServers: servers.value
        .split('\n')
        .map((l) => l.trim())
        .filter(Boolean),
      iceUsername: user.value,
      iceCredential: credential.value,
    };
    try {
      await backend.saveSettings(net, next);
    } catch (err) {
      error.textContent = errorMessage(err);
      return;
    }
    close();
    setEditorSettings({ ...DEFAULTS, ...(await backend.getSettings()).editor });
    toast('Settings saved');
  };
  document.body.append(backdrop);
  theme.focus();
}
