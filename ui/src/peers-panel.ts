// Who is in the session: color, name, the file they are in, connection and
// latency, and whether they are typing. Clicking a peer follows them.
import type { PeerView, SessionInfo } from './backend';
import { baseName, h, setChildren } from './dom';
import { safeColor } from './peer-style';

export class PeersPanel {
  private readonly list: HTMLElement;
  private peers: PeerView[] = [];
  private following: string | null = null;

  constructor(
    container: HTMLElement,
    private readonly me: SessionInfo,
    private readonly onFollow: (peer: string) => void,
  ) {
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
          h('span', { className: 'peer-role', textContent: `you · ${this.me.role === 'host' ? 'host' : 'editor'}` }),
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
      return row;
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
}

function swatch(color: string): HTMLElement {
  const el = h('span', { className: 'swatch' });
  el.style.backgroundColor = safeColor(color);
  return el;
}
