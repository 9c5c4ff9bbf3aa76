// Who is in the session: color, name, role, the file they are in, connection
// and latency, and whether they are typing. Clicking a peer follows them; the
// host changes a member's role from its menu.
import { backend, errorMessage, type Access, type PeerView, type SessionInfo } from './backend';
import { showMenu } from './context-menu';
import { baseName, h, setChildren } from './dom';
import { confirmDialog } from './modal';
import { safeColor } from './peer-style';
import { toast } from './toast';

export class PeersPanel {
  private readonly list: HTMLElement;
  private peers: PeerView[] = [];
  private following: string | null = null;
  private access: Access;

  constructor(
    container: HTMLElement,
    private readonly me: SessionInfo,
    private readonly onFollow: (peer: string) => void,
  ) {
    this.access = me.access;
    this.list = h('div', { className: 'peers' });
    container.append(
      h('div', { className: 'panel-header' }, h('span', { className: 'panel-title', textContent: 'Peers' })),
      this.list,
    );
    this.render();
  }

  /** The other peers. */
  setPeers(peers: PeerView[]): void {
    this.peers = peers;
    this.render();
  }

  /** The host changed this peer's own role. */
  setAccess(access: Access): void {
    this.access = access;
    this.render();
  }

  setFollowing(peer: string | null): void {
    this.following = peer;
    this.render();
  }

  private render(): void {
    const me = h(
      'div',
      { className: 'peer me' },
      swatch(this.me.color),
      h(
        'div',
        { className: 'peer-main' },
        h(
          'div',
          { className: 'peer-name' },
          h('span', { textContent: this.me.name }),
          h('span', { className: 'peer-role', textContent: `you · ${this.access}` }),
        ),
      ),
    );
    const rows = this.peers.map((p) => {
      const state = p.connected ? `connected${p.rttMs !== null ? ` · ${Math.round(p.rttMs)} ms` : ''}` : 'disconnected';
      const following = this.following === p.peer;
      const row = h(
        'button',
        {
          className: `peer${p.connected ? '' : ' offline'}${following ? ' following' : ''}`,
          title: following ? `Following ${p.name}; click to stop` : `Follow ${p.name}`,
        },
        swatch(p.color),
        h(
          'div',
          { className: 'peer-main' },
          h(
            'div',
            { className: 'peer-name' },
            h('span', { textContent: p.name }),
            h('span', { className: 'peer-role', textContent: p.role }),
            p.typing ? h('span', { className: 'typing-dots', title: 'typing', textContent: 'typing' }) : null,
          ),
          h('div', {
            className: 'peer-file',
            textContent: p.file ? baseName(p.file) : 'no file open',
            title: p.file ?? '',
          }),
          h('div', { className: `peer-state${p.connected ? ' ok' : ''}`, textContent: state }),
        ),
        following ? h('span', { className: 'badge follow-badge', textContent: 'following' }) : null,
      );
      row.onclick = () => this.onFollow(p.peer);
      if (!p.connected) return row;
      const menu = h('button', { className: 'icon-btn codicon codicon-ellipsis peer-roles', title: `More for ${p.name}` });
      menu.onclick = (e) => {
        const at = menu.getBoundingClientRect();
        const share = {
          label: p.sharesLanguages ? 'Stop sharing my language servers' : 'Share my language servers',
          action: () => void backend.shareLanguages(p.peer, !p.sharesLanguages).catch((err: unknown) => toast(errorMessage(err), 'error')),
        };
        showMenu(at.left, at.bottom, [share, ...(this.access === 'host' && p.role !== 'host' ? this.roleMenu(p) : [])]);
        e.stopPropagation();
      };
      return h('div', { className: 'peer-row' }, row, menu);
    });
    const empty = rows.length
      ? null
      : h('div', {
          className: 'peers-empty',
          textContent:
            this.me.role === 'host' ? 'Nobody else yet. Share the invite link to work together.' : 'Nobody else yet.',
        });
    setChildren(this.list, me, ...rows, empty);
  }

  /** What the host may do with a member. */
  private roleMenu(p: PeerView): { label: string; action: () => void; danger?: boolean }[] {
    const set = (role: 'editor' | 'viewer' | 'removed') =>
      backend.setRole(p.peer, role).catch((err: unknown) => toast(`Could not change ${p.name}'s role: ${errorMessage(err)}`, 'error'));
    const items = [];
    if (p.role !== 'editor') items.push({ label: 'Let edit', action: () => void set('editor') });
    if (p.role !== 'viewer') items.push({ label: 'Make read-only', action: () => void set('viewer') });
    items.push({
      label: 'Remove from the session…',
      danger: true,
      action: () =>
        void confirmDialog(
          `Remove ${p.name}?`,
          `Every peer closes its connections to ${p.name}. Both invite links are replaced so that nobody can come back with them; members already in stay.`,
          'Remove',
          true,
        ).then((yes) => {
          if (yes) void set('removed');
        }),
    });
    return items;
  }
}

function swatch(color: string): HTMLElement {
  const el = h('span', { className: 'swatch' });
  el.style.backgroundColor = safeColor(color);
  return el;
}
