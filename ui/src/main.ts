// Entry point: subscribes to the engine's events once, then shows the start
// screen or, when a session is already running (e.g. after a reload), the workspace.
import { Channel } from '@tauri-apps/api/core';
import { backend, errorMessage, type SessionInfo, type UiEvent } from './backend';
import { h } from './dom';
import { EventHub } from './events';
import { confirmDialog } from './modal';
import { loadSettings } from './settings';
import { StartScreen } from './start-screen';
import { toast } from './toast';
import './styles.css';
import { Workspace } from './workspace';

class App {
  private readonly hub = new EventHub();
  private start: StartScreen | null = null;
  private workspace: Workspace | null = null;

  constructor(private readonly root: HTMLElement) {}

  async run(): Promise<void> {
    const events = new Channel<UiEvent>();
    events.onmessage = (event) => this.hub.emit(event);
    this.hub.on('deepLink', (e) => void this.deepLink(e.link));
    await backend.subscribe(events);
    await loadSettings();
    const session = await backend.session();
    if (session) this.showWorkspace(session, false);
    else this.showStart();
  }

  private showStart(): StartScreen {
    this.start?.dispose();
    this.start = new StartScreen(this.root, this.hub, (info, hosted) => this.showWorkspace(info, hosted));
    return this.start;
  }

  private showWorkspace(info: SessionInfo, hosted: boolean): void {
    this.start?.dispose();
    this.start = null;
    this.workspace = new Workspace(this.root, info, this.hub, () => {
      this.workspace = null;
      this.showStart();
    }, hosted);
  }

  /** The app was opened through a nitroide:// link. */
  private async deepLink(link: string): Promise<void> {
    if (this.workspace) {
      const session = await backend.inspectInvite(link).then(
        (invite) => invite.session,
        () => null,
      );
      if (session === this.workspace.info.session) {
        toast('This invite link is for the session you are in.');
        return;
      }
      const leave = await confirmDialog(
        'Join another session?',
        'You opened an invite link. To join that session, you first leave the current one.',
        'Leave and continue',
      );
      if (!leave || !this.workspace) return;
      await this.workspace.leave();
      if (this.workspace) return; // leaving failed; the error is shown
    }
    (this.start ?? this.showStart()).showJoin(link);
  }
}

const root = document.getElementById('app');
if (root) {
  new App(root).run().catch((err: unknown) => {
    root.replaceChildren(
      h(
        'div',
        { className: 'fatal' },
        h('h1', { textContent: 'NitroIDE could not start' }),
        h('p', { textContent: errorMessage(err) }),
      ),
    );
  });
}
