// The first screen: host a folder, or join a session with a nitroide:// link.
import { homeDir } from '@tauri-apps/api/path';
import { open } from '@tauri-apps/plugin-dialog';
import { backend, errorMessage, type InviteInfo, type SessionInfo } from './backend';
import { baseName, h, setChildren } from './dom';
import type { EventHub } from './events';
import { confirmDialog } from './modal';
import { forget, recentSessions, remember, saveName, savedName } from './recent';
import { openSettings } from './settings';

export class StartScreen {
  private readonly root: HTMLElement;
  private readonly name: HTMLInputElement;
  private readonly hostError = h('div', { className: 'error-text' });
  private readonly joinPane = h('div', { className: 'join-pane' });
  /** Newcomers wait until the host lets them in. */
  private readonly approve = h('input', { type: 'checkbox', className: 'approve-toggle' });
  private busy = false;

  constructor(
    container: HTMLElement,
    private readonly hub: EventHub,
    private readonly started: (info: SessionInfo, hosted: boolean) => void,
  ) {
    this.name = h('input', { className: 'field', placeholder: 'Your name', maxLength: 64, value: savedName() ?? '' });
    backend
      .defaultName()
      .then((n) => {
        if (!this.name.value) this.name.value = n;
      })
      .catch(() => undefined);

    const settingsButton = h('button', { className: 'btn', textContent: 'Settings…', title: 'Theme, editor, network (Ctrl+,)' });
    settingsButton.onclick = () => void openSettings();
    const hostButton = h('button', { className: 'btn btn-primary btn-large', textContent: 'Host a folder…' });
    hostButton.onclick = () => void this.host(hostButton);

    this.root = h(
      'div',
      { className: 'start' },
      h(
        'div',
        { className: 'start-inner' },
        h(
          'header',
          { className: 'start-header' },
          h('img', { className: 'start-logo', src: './logo.svg', alt: '' }),
          h(
            'div',
            {},
            h('h1', { textContent: 'NitroIDE' }),
            h('p', { className: 'muted', textContent: 'Edit one workspace together, peer to peer.' }),
          ),
        ),
        h('label', { className: 'field-label' }, 'Your name (shown to the others)', this.name),
        h(
          'div',
          { className: 'start-cards' },
          h(
            'section',
            { className: 'card' },
            h('h2', { textContent: 'Host a folder' }),
            h('p', {
              className: 'muted',
              textContent: 'Share a folder on this computer. You get an invite link to send to the others.',
            }),
            hostButton,
            h('label', { className: 'check-label', title: 'Members you let in come back without asking' }, this.approve, 'Ask me before letting anyone in'),
            this.hostError,
          ),
          h(
            'section',
            { className: 'card' },
            h('h2', { textContent: 'Join with a link' }),
            h('p', { className: 'muted', textContent: 'Paste the nitroide:// link the host sent you.' }),
            this.joinPane,
          ),
        ),
        this.recentList(),
        h('div', { className: 'start-footer' }, settingsButton),
      ),
    );
    container.append(this.root);
    this.showLinkStep('');
  }

  /** Fills in a link (e.g. the app was opened through one) and asks to confirm it. */
  showJoin(link: string): void {
    this.showLinkStep(link);
    void this.inspect(link);
  }

  dispose(): void {
    this.root.remove();
  }

  private displayName(): string | null {
    const name = this.name.value.trim();
    if (!name) {
      this.name.focus();
      this.name.classList.add('invalid');
      return null;
    }
    this.name.classList.remove('invalid');
    return name;
  }

  private async host(button: HTMLButtonElement, chosen?: string): Promise<void> {
    if (this.busy) return;
    const name = this.displayName();
    if (!name) return;
    this.hostError.textContent = '';
    const path = chosen ?? (await pickFolder('Choose the folder to share'));
    if (!path || !(await confirmWholeFolder(path))) return;
    this.busy = true;
    button.disabled = true;
    const label = button.textContent;
    button.textContent = 'Starting…';
    // Reading a large folder takes a while: say how far it got, and let it stop.
    const cancel = h('button', { className: 'btn', textContent: 'Cancel', type: 'button' });
    cancel.onclick = () => void backend.cancelStart();
    const said = h('span', { textContent: 'Reading the folder…' });
    const progress = h('div', { className: 'muted scan-progress' }, said, cancel);
    button.after(progress);
    const counting = this.hub.on('scanning', (e) => {
      const what = e.found ? `Reading the folder: ${e.read.toLocaleString()} of ${e.found.toLocaleString()}` : 'Listing the folder…';
      said.textContent = what;
    });
    try {
      const info = await backend.startHost(path, name, this.approve.checked);
      saveName(name);
      remember({ kind: 'host', path });
      this.started(info, true);
    } catch (err) {
      this.hostError.textContent = errorMessage(err);
    } finally {
      counting.dispose();
      progress.remove();
      this.busy = false;
      button.disabled = false;
      button.textContent = label;
    }
  }

  /** Sessions hosted or joined lately, to open again with one click. */
  private recentList(): HTMLElement | null {
    const recent = recentSessions();
    if (!recent.length) return null;
    const rows = recent.map((r) => {
      const open = h('button', {
        className: 'btn recent-open',
        textContent: r.kind === 'host' ? `Host ${baseName(r.path) || r.path}` : `Rejoin ${r.hostName || 'the host'}’s session`,
        title: r.kind === 'host' ? r.path : `${r.link}\ninto ${r.path}`,
      });
      open.onclick = () => void (r.kind === 'host' ? this.host(open, r.path) : this.rejoin(open, r.link, r.path));
      const drop = h('button', { className: 'icon-btn codicon codicon-close', title: 'Remove from this list' });
      const row = h('li', { className: 'recent-item' }, open, h('span', { className: 'muted mono recent-path', textContent: r.path }), drop);
      drop.onclick = () => {
        forget(r);
        row.remove();
      };
      return row;
    });
    return h('section', { className: 'recent' }, h('h2', { textContent: 'Recent' }), h('ul', { className: 'recent-list' }, ...rows));
  }

  private async rejoin(button: HTMLButtonElement, link: string, path: string): Promise<void> {
    const name = this.displayName();
    if (!name || this.busy) return;
    this.busy = true;
    button.disabled = true;
    const label = button.textContent;
    button.textContent = 'Joining…';
    this.hostError.textContent = '';
    try {
      const info = await backend.joinSession(link, path, name);
      saveName(name);
      this.started(info, false);
    } catch (err) {
      this.hostError.textContent = errorMessage(err);
    } finally {
      this.busy = false;
      button.disabled = false;
      button.textContent = label;
    }
  }

  private showLinkStep(link: string): void {
    const field = h('input', { className: 'field', placeholder: 'nitroide://join?…', value: link, spellcheck: false });
    const go = h('button', { className: 'btn btn-primary', textContent: 'Continue', type: 'submit' });
    const form = h('form', { className: 'row-form' }, field, go);
    form.onsubmit = (e) => {
      e.preventDefault();
      void this.inspect(field.value.trim());
    };
    setChildren(this.joinPane, form, h('div', { className: 'error-text' }));
  }

  private async inspect(link: string): Promise<void> {
    if (!link) return;
    let invite: InviteInfo;
    try {
      invite = await backend.inspectInvite(link);
    } catch (err) {
      this.showLinkStep(link);
      const slot = this.joinPane.querySelector<HTMLElement>('.error-text');
      if (slot) slot.textContent = errorMessage(err);
      return;
    }
    this.showConfirm(link, invite);
  }

  private showConfirm(link: string, invite: InviteInfo): void {
    let folder: string | null = null;
    const folderLabel = h('span', { className: 'folder-path muted', textContent: 'No folder chosen' });
    const pick = h('button', { className: 'btn', textContent: 'Choose folder…', type: 'button' });
    const join = h('button', { className: 'btn btn-primary', textContent: 'Join', type: 'button', disabled: true });
    const back = h('button', { className: 'btn', textContent: 'Back', type: 'button' });
    const error = h('div', { className: 'error-text' });
    pick.onclick = async () => {
      const chosen = await pickFolder('Choose where to put the workspace (a new or empty folder)');
      if (!chosen) return;
      folder = chosen;
      // The label is right-to-left so that a long path loses its start, not
      // its end; the mark keeps the path's own characters left-to-right.
      folderLabel.textContent = `\u200e${chosen}\u200e`;
      folderLabel.title = chosen;
      folderLabel.classList.remove('muted');
      join.disabled = false;
    };
    back.onclick = () => this.showLinkStep(link);
    join.onclick = async () => {
      const name = this.displayName();
      if (!name || !folder || this.busy) return;
      this.busy = true;
      join.disabled = pick.disabled = back.disabled = true;
      join.textContent = 'Joining… (copying the workspace)';
      error.textContent = '';
      const waiting = this.hub.on('waiting', (e) => {
        join.textContent = e.waiting ? 'Waiting for the host to let you in…' : 'Joining… (copying the workspace)';
      });
      try {
        const info = await backend.joinSession(link, folder, name);
        saveName(name);
        remember({ kind: 'join', path: folder, link, hostName: invite.hostName });
        this.started(info, false);
      } catch (err) {
        error.textContent = errorMessage(err);
        join.textContent = 'Join';
        join.disabled = pick.disabled = back.disabled = false;
      } finally {
        waiting.dispose();
        this.busy = false;
      }
    };
    setChildren(
      this.joinPane,
      h(
        'div',
        { className: 'invite-summary' },
        h('div', {}, 'Join ', h('strong', { textContent: invite.hostName }), '’s session'),
        invite.view ? h('div', { className: 'badge', textContent: 'read-only link: you can watch, not change anything' }) : null,
        h('div', { className: 'muted mono', textContent: invite.session, title: link }),
      ),
      h('div', { className: 'field-label' }, 'Mirror the workspace into', h('div', { className: 'row-form' }, folderLabel, pick)),
      h('div', { className: 'row-form end' }, back, join),
      error,
    );
    pick.focus();
  }
}

/** Sharing a home folder or the whole disk is asked about first. */
async function confirmWholeFolder(path: string): Promise<boolean> {
  const home = await homeDir().catch(() => null);
  const norm = (p: string) => p.replace(/\/+$/, '') || '/';
  const what = norm(path) === '/' ? 'the whole disk' : home && norm(path) === norm(home) ? 'your whole home folder' : null;
  if (!what) return true;
  return confirmDialog(
    `Share ${what}?`,
    `Everyone with the link would see every file in ${path} (except ignored files and files whose names say they hold secrets). A project folder is usually what you mean.`,
    'Share it anyway',
    true,
  );
}

async function pickFolder(title: string): Promise<string | null> {
  const chosen = await open({ directory: true, multiple: false, title });
  return typeof chosen === 'string' ? chosen : null;
}
