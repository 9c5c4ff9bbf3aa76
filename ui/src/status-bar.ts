// The bottom line: session role, connection, peer count, whether this copy
// of the workspace matches the others', invite link (host), current file,
// cursor position and short messages such as "Saved".
import type { Access, ConnectionState, SessionInfo } from './backend';
import { copyText } from './clipboard';
import { h } from './dom';
import { toast } from './toast';

const STATE_LABEL: Record<ConnectionState, string> = {
  connected: 'Connected',
  alone: 'Waiting for peers',
  reconnecting: 'Reconnecting…',
  stopped: 'Stopped',
};

export class StatusBar {
  private readonly connection = h('span', { className: 'status-item status-conn' });
  private readonly peerCount = h('span', { className: 'status-item' });
  private readonly sync = h('span', { className: 'status-item status-sync' });
  private readonly message = h('span', { className: 'status-item status-message' });
  private readonly intake = h('span', { className: 'status-item', title: 'A change of many files on your disk (a branch switch, a formatter) on its way to the others' });
  private readonly file = h('span', { className: 'status-item' });
  private readonly branch = h('span', { className: 'status-item status-branch', title: 'The git branch of your copy' });
  private readonly cursor = h('span', { className: 'status-item' });
  private readonly problems = h('span', { className: 'status-item status-problems', title: 'Problems the language servers see (Ctrl+Shift+M)' });
  private readonly readOnly = h('span', {
    className: 'status-item status-readonly',
    textContent: 'Read-only',
    title: 'The host gave you a read-only role: you see everything, and change nothing others see',
  });
  private messageTimer: ReturnType<typeof setTimeout> | null = null;

  /** `invite`: the host's edit link as it is now. */
  constructor(container: HTMLElement, info: SessionInfo, invite: () => string | null, onLeave: () => void) {
    const role = h('span', {
      className: 'status-item status-role',
      textContent: info.role === 'host' ? 'Hosting' : `Guest of ${info.hostName}`,
      title: info.root,
    });
    const inviteBtn = info.invite ? inviteButton(invite) : null;
    const leave = h('button', { className: 'status-item status-btn', textContent: 'Leave', title: 'Leave the session' });
    leave.onclick = onLeave;
    container.append(
      role,
      this.readOnly,
      this.branch,
      this.connection,
      this.peerCount,
      this.sync,
      this.problems,
      this.intake,
      ...(inviteBtn ? [inviteBtn] : []),
      this.message,
      h('span', { className: 'status-spacer' }),
      this.file,
      this.cursor,
      leave,
    );
    this.setConnection('alone', null);
    this.setPeerCount(0);
    this.setAccess(info.access);
  }

  setAccess(access: Access): void {
    this.readOnly.hidden = access !== 'viewer';
  }

  setConnection(state: ConnectionState, message: string | null): void {
    this.connection.textContent = STATE_LABEL[state];
    this.connection.dataset.state = state;
    this.connection.title = message ?? STATE_LABEL[state];
  }

  setPeerCount(n: number): void {
    this.peerCount.textContent = n === 1 ? '1 peer' : `${n} peers`;
  }

  /** What the engine says of this copy against the others' ("in sync with 2 peers"). */
  setSync(text: string, settled: boolean): void {
    this.sync.textContent = text;
    this.sync.dataset.state = settled ? 'in-sync' : 'catching-up';
  }

  /** How many errors and warnings the language servers report. */
  setProblems(problems: readonly { diagnostic: { severity?: number } }[]): void {
    const errors = problems.filter((p) => (p.diagnostic.severity ?? 1) === 1).length;
    const warnings = problems.filter((p) => p.diagnostic.severity === 2).length;
    this.problems.textContent = errors || warnings ? `✖ ${errors}  ⚠ ${warnings}` : '';
  }

  setBranch(branch: string | null): void {
    this.branch.textContent = branch ? `⎇ ${branch}` : '';
    this.branch.hidden = !branch;
  }

  setFile(path: string | null): void {
    this.file.textContent = path ?? '';
    if (!path) this.cursor.textContent = '';
  }

  setCursor(line: number, column: number): void {
    this.cursor.textContent = `Ln ${line}, Col ${column}`;
  }

  /** Changes on this disk still to take in; 0 once done. */
  setIntake(left: number): void {
    this.intake.textContent = left > 0 ? `Taking in ${left} changed files…` : '';
  }

  flash(text: string): void {
    this.message.textContent = text;
    if (this.messageTimer) clearTimeout(this.messageTimer);
    this.messageTimer = setTimeout(() => (this.message.textContent = ''), 3000);
  }
}

function inviteButton(link: () => string | null): HTMLElement {
  const b = h('button', { className: 'status-item status-btn', textContent: 'Copy invite link', title: 'The edit link' });
  b.onclick = async () => {
    const now = link();
    if (!now) return;
    if (await copyText(now)) toast('Invite link copied');
    else toast(`Copy this link: ${now}`);
  };
  return b;
}
