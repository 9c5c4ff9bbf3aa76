// The shared terminals: a tab per terminal, one xterm.js view bound to the
// active one. Only terminals the user may write to get input and follow the
// panel's size; the others show the owner's size, fitted into the panel
// (term-fit), and a read-only badge.
import { Channel } from '@tauri-apps/api/core';
import { FitAddon } from '@xterm/addon-fit';
import { Terminal } from '@xterm/xterm';
import '@xterm/xterm/css/xterm.css';
import { backend, errorMessage, type PeerView, type TermInfo } from './backend';
import { h, setChildren, type Disposable } from './dom';
import { watchEditorSettings } from './settings';
import { fitTerminal } from './term-fit';
import { toast } from './toast';

const DARK = { background: '#14161b', foreground: '#d7dae0', cursor: '#d7dae0' };
const LIGHT = { background: '#f6f8fa', foreground: '#1f2328', cursor: '#1f2328', selectionBackground: '#b6d4fe' };

/** First byte of an output message. */
const DATA = 0;
const RESET = 1;

export class TerminalPanel {
  private readonly tabBar: HTMLElement;
  private readonly tools: HTMLElement;
  private readonly empty: HTMLElement;
  private readonly body: HTMLElement;
  private readonly xterm: Terminal;
  private readonly fit = new FitAddon();
  private readonly observer: ResizeObserver;
  private terminals: TermInfo[] = [];
  private peers: PeerView[] = [];
  private activeId: string | null = null;
  private attachedId: string | null = null;
  /** The backend's token for the stream of `attachedId`, once it answered. */
  private attachedToken: number | null = null;
  /** Output of a channel from an earlier attach is ignored. */
  private generation = 0;
  private resizeTimer: ReturnType<typeof setTimeout> | null = null;
  private readonly settings: Disposable;
  /** A placing is due at the next frame. */
  private placing = 0;

  constructor(container: HTMLElement) {
    this.tabBar = h('div', { className: 'term-tabs' });
    const add = h('button', { className: 'icon-btn codicon codicon-add', title: 'New terminal' });
    add.onclick = () => void this.openNew();
    this.tools = h('div', { className: 'term-tools' });
    const body = h('div', { className: 'term-body', id: 'terminal' });
    this.body = body;
    const newButton = h('button', { className: 'btn btn-primary', textContent: 'New terminal' });
    newButton.onclick = () => void this.openNew();
    this.empty = h(
      'div',
      { className: 'term-empty' },
      h('span', { textContent: 'No terminal in this session.' }),
      newButton,
    );
    container.append(
      h(
        'div',
        { className: 'panel-header term-header' },
        h('span', { className: 'panel-title', textContent: 'Terminal' }),
        this.tabBar,
        add,
        h('span', { className: 'status-spacer' }),
        this.tools,
      ),
      h('div', { className: 'term-stack' }, body, this.empty),
    );

    // The DOM renderer: WebKitGTK's WebGL is not reliable enough for the WebGL addon.
    this.xterm = new Terminal({
      fontFamily: "'JetBrains Mono', 'Fira Code', 'DejaVu Sans Mono', monospace",
      fontSize: 13,
      cursorBlink: true,
      scrollback: 5000,
      theme: DARK,
    });
    this.xterm.loadAddon(this.fit);
    this.settings = watchEditorSettings((s) => {
      this.xterm.options.theme = s.theme === 'light' ? LIGHT : DARK;
      this.xterm.options.fontSize = s.fontSize;
      this.layout();
    });
    this.xterm.open(body);
    this.xterm.onData((data) => {
      const info = this.activeInfo();
      if (!info?.canWrite) return;
      backend.terminalInput(info.id, data).catch((err: unknown) => toast(errorMessage(err), 'error'));
    });
    this.observer = new ResizeObserver(() => this.layout());
    this.observer.observe(body);
    // Output moves the cursor: a terminal larger than the panel follows it.
    this.xterm.onCursorMove(() => {
      // Placing measures the layout: once a frame, however much output came.
      if (this.placing) return;
      this.placing = requestAnimationFrame(() => {
        this.placing = 0;
        this.placeOwnersSize();
      });
    });
    this.xterm.onResize(() => this.placeOwnersSize());
    // Focusing xterm's hidden input scrolls its ancestors to show it; the
    // panel keeps its place (what is shown is placed by placeOwnersSize).
    const stack = body.parentElement;
    for (const el of [body, stack]) el?.addEventListener('scroll', () => el.scrollTo(0, 0));
    this.render();
  }

  setTerminals(terminals: TermInfo[]): void {
    this.terminals = terminals;
    if (!terminals.some((t) => t.id === this.activeId)) {
      this.activeId = terminals.find((t) => t.mine)?.id ?? terminals[0]?.id ?? null;
    }
    this.render();
  }

  /** The other peers (candidates for write access to my terminals). */
  setPeers(peers: PeerView[]): void {
    this.peers = peers;
    this.render();
  }

  refused(id: string, reason: string): void {
    const title = this.terminals.find((t) => t.id === id)?.title ?? 'terminal';
    toast(`${title}: ${reason}`, 'error');
  }

  /** Shells of this peer that still run. */
  get runningMine(): number {
    return this.terminals.filter((t) => t.mine && t.running).length;
  }

  /** Puts the keyboard in the terminal shown. */
  focus(): void {
    this.xterm.focus();
  }

  dispose(): void {
    cancelAnimationFrame(this.placing);
    this.settings.dispose();
    this.observer.disconnect();
    if (this.resizeTimer) clearTimeout(this.resizeTimer);
    this.detach();
    this.generation++;
    this.xterm.dispose();
  }

  private activeInfo(): TermInfo | null {
    return this.terminals.find((t) => t.id === this.activeId) ?? null;
  }

  async openNew(): Promise<void> {
    const size = this.fit.proposeDimensions();
    const cols = size && size.cols > 0 ? size.cols : 80;
    const rows = size && size.rows > 0 ? size.rows : 24;
    try {
      this.activeId = await backend.terminalOpen(cols, rows);
      this.render();
      this.xterm.focus();
    } catch (err) {
      toast(`Could not open a terminal: ${errorMessage(err)}`, 'error');
    }
  }

  private render(): void {
    const info = this.activeInfo();
    setChildren(this.tabBar, ...this.terminals.map((t) => this.tab(t)));
    setChildren(this.tools, ...(info ? this.toolsFor(info) : []));
    this.empty.hidden = this.terminals.length > 0;
    this.xterm.options.disableStdin = !info?.canWrite;
    void this.attach(info?.id ?? null);
    this.layout();
  }

  private tab(t: TermInfo): HTMLElement {
    // A shell runs on its owner's machine: while the owner is disconnected, nothing flows.
    const ownerAway = !t.mine && t.running && !this.peers.some((p) => p.peer === t.owner && p.connected);
    const state = t.running ? (ownerAway ? 'owner away' : '') : `exited (code ${t.exitCode ?? '?'})`;
    const el = h(
      'button',
      {
        className: `term-tab${t.id === this.activeId ? ' active' : ''}${t.running ? '' : ' exited'}`,
        title: `${t.title} — ${t.mine ? 'yours' : t.ownerName}${state ? ` — ${state}` : ''}`,
      },
      h('span', { className: 'term-title', textContent: t.title }),
      h('span', { className: 'term-owner', textContent: t.mine ? 'you' : t.ownerName }),
      state ? h('span', { className: 'term-state', textContent: state }) : null,
    );
    el.onclick = () => {
      this.activeId = t.id;
      this.render();
      this.xterm.focus();
    };
    return el;
  }

  private toolsFor(t: TermInfo): HTMLElement[] {
    const tools: HTMLElement[] = [];
    if (!t.canWrite) {
      tools.push(h('span', { className: 'badge readonly-badge', textContent: 'read-only', title: 'You cannot type here' }));
    }
    if (t.mine) {
      if (this.peers.length) tools.push(h('span', { className: 'term-label', textContent: 'Can type:' }));
      for (const p of this.peers) {
        const allowed = t.writers.includes(p.peer);
        const chip = h('button', {
          className: `chip${allowed ? ' on' : ''}`,
          textContent: p.name,
          title: allowed ? `${p.name} can type here; click to revoke` : `Let ${p.name} type here`,
        });
        chip.setAttribute('aria-pressed', String(allowed));
        chip.onclick = () =>
          void backend
            .terminalGrant(t.id, p.peer, !allowed)
            .catch((err: unknown) => toast(errorMessage(err), 'error'));
        tools.push(chip);
      }
      const close = h('button', { className: 'icon-btn codicon codicon-trash', title: 'Close this terminal' });
      close.onclick = () =>
        void backend.terminalClose(t.id).catch((err: unknown) => toast(errorMessage(err), 'error'));
      tools.push(close);
    }
    return tools;
  }

  private async attach(id: string | null): Promise<void> {
    if (id === this.attachedId) return;
    const generation = ++this.generation;
    this.detach();
    this.attachedId = id;
    this.xterm.reset();
    if (!id) return;
    const output = new Channel<ArrayBuffer>();
    output.onmessage = (message) => {
      if (generation === this.generation) this.write(message);
    };
    try {
      const token = await backend.terminalAttach(id, output);
      if (generation === this.generation) this.attachedToken = token;
      // Another terminal was chosen meanwhile: this stream is not wanted.
      else void backend.terminalDetach(id, token).catch(() => undefined);
    } catch (err) {
      toast(`Could not show the terminal: ${errorMessage(err)}`, 'error');
    }
  }

  /** Stops the stream of the terminal shown until now. */
  private detach(): void {
    if (this.attachedId && this.attachedToken !== null) {
      void backend.terminalDetach(this.attachedId, this.attachedToken).catch(() => undefined);
    }
    this.attachedToken = null;
  }

  private write(message: ArrayBuffer | Uint8Array | number[]): void {
    const bytes = message instanceof Uint8Array ? message : new Uint8Array(message);
    if (bytes.length === 0) return;
    if (bytes[0] === RESET) this.xterm.reset();
    else if (bytes[0] !== DATA) return;
    if (bytes.length > 1) this.xterm.write(bytes.subarray(1));
  }

  /** Fits my terminals to the panel; shows others' at their owner's size. */
  private layout(): void {
    const info = this.activeInfo();
    if (info && !info.canWrite) {
      if (this.xterm.cols !== info.cols || this.xterm.rows !== info.rows) this.xterm.resize(info.cols, info.rows);
      this.placeOwnersSize();
      return;
    }
    this.placeOwnersSize();
    const size = this.fit.proposeDimensions();
    if (!size || !(size.cols > 0 && size.rows > 0)) return;
    if (size.cols !== this.xterm.cols || size.rows !== this.xterm.rows) this.xterm.resize(size.cols, size.rows);
    if (info && (info.cols !== size.cols || info.rows !== size.rows)) {
      // Dragging a splitter resizes many times a second: tell the engine once it settles.
      if (this.resizeTimer) clearTimeout(this.resizeTimer);
      this.resizeTimer = setTimeout(() => {
        this.resizeTimer = null;
        backend.terminalResize(info.id, size.cols, size.rows).catch((err: unknown) => toast(errorMessage(err), 'error'));
      }, 120);
    }
  }

  /**
   * A terminal drawn at its owner's size is scaled and shifted to fit the
   * panel with its cursor's row in view; one drawn at the panel's size is
   * left as it is.
   */
  private placeOwnersSize(): void {
    const el = this.xterm.element;
    const screen = el?.querySelector<HTMLElement>('.xterm-screen');
    if (!el || !screen) return;
    const info = this.activeInfo();
    if (!info || info.canWrite) {
      el.style.transform = '';
      return;
    }
    const term = { width: screen.offsetWidth, height: screen.offsetHeight };
    const rowHeight = term.height / Math.max(1, this.xterm.rows);
    const cursorBottom = (this.xterm.buffer.active.cursorY + 1) * rowHeight;
    const fit = fitTerminal({ width: this.body.clientWidth, height: this.body.clientHeight }, term, cursorBottom);
    el.style.transformOrigin = '0 0';
    el.style.transform = `translateY(${-fit.shiftUp}px) scale(${fit.scale})`;
  }
}
