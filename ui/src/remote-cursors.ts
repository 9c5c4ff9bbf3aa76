// Other peers' selections and carets in the open file. Selections are model
// decorations; each caret is a content widget (a thin bar in the peer's color
// with the peer's name above it), kept in place between presence updates by an
// invisible decoration that moves with the text. On the top visible line the
// name goes below the caret, where nothing covers it.
import type { PeerView } from './backend';
import type { FileBinding } from './binding';
import { h } from './dom';
import { monaco } from './monaco-setup';
import { peerClass } from './peer-style';

class CaretWidget implements monaco.editor.IContentWidget {
  readonly allowEditorOverflow = true;
  readonly suppressMouseDown = true;
  position: monaco.IPosition = { lineNumber: 1, column: 1 };
  private readonly node: HTMLElement;
  private readonly label: HTMLElement;

  constructor(readonly peer: string) {
    this.label = h('div', { className: 'nitro-remote-label' });
    this.node = h('div', { className: 'nitro-remote-cursor' }, this.label);
  }

  update(view: PeerView, lineHeight: number): void {
    this.node.className = `nitro-remote-cursor ${peerClass(view.peer, view.color)}${view.typing ? ' typing' : ''}`;
    this.node.style.height = `${lineHeight}px`;
    this.label.textContent = view.name;
  }

  /** Puts the name below the caret instead of above it. */
  labelBelow(below: boolean): void {
    this.node.classList.toggle('label-below', below);
  }

  getId(): string {
    return `nitro.remote-cursor.${this.peer}`;
  }

  getDomNode(): HTMLElement {
    return this.node;
  }

  getPosition(): monaco.editor.IContentWidgetPosition {
    return { position: this.position, preference: [monaco.editor.ContentWidgetPositionPreference.EXACT] };
  }
}

export class RemoteCursors {
  private readonly decorations: monaco.editor.IEditorDecorationsCollection;
  private readonly carets = new Map<string, CaretWidget>();
  /** Index of each caret's tracking decoration in the collection. */
  private trackers = new Map<string, number>();
  private readonly listeners: monaco.IDisposable[];

  constructor(private readonly editor: monaco.editor.ICodeEditor) {
    this.decorations = editor.createDecorationsCollection();
    this.listeners = [editor.onDidChangeModelContent(() => this.follow()), editor.onDidScrollChange(() => this.follow())];
  }

  /** Draws the peers whose active file is `path` (the file the editor shows through `binding`). */
  render(peers: readonly PeerView[], path: string | null, binding: FileBinding | null): void {
    const shown = binding && path ? peers.filter((p) => p.connected && p.file === path && p.selections.length) : [];
    const decorations: monaco.editor.IModelDeltaDecoration[] = [];
    const trackers = new Map<string, number>();
    const lineHeight = this.editor.getOption(monaco.editor.EditorOption.lineHeight);
    for (const peer of shown) {
      if (!binding) break;
      const cls = peerClass(peer.peer, peer.color);
      for (const sel of peer.selections) {
        if (sel.anchor === sel.head) continue;
        decorations.push({
          range: monaco.Range.fromPositions(binding.positionOf(sel.anchor), binding.positionOf(sel.head)),
          options: {
            className: `nitro-remote-selection ${cls}`,
            hoverMessage: { value: peer.name },
            stickiness: monaco.editor.TrackedRangeStickiness.NeverGrowsWhenTypingAtEdges,
          },
        });
      }
      const head = binding.positionOf(peer.selections[0].head);
      trackers.set(peer.peer, decorations.length);
      decorations.push({
        range: monaco.Range.fromPositions(head, head),
        options: {
          stickiness: monaco.editor.TrackedRangeStickiness.NeverGrowsWhenTypingAtEdges,
        },
      });
      let caret = this.carets.get(peer.peer);
      if (!caret) {
        caret = new CaretWidget(peer.peer);
        this.carets.set(peer.peer, caret);
        this.editor.addContentWidget(caret);
      }
      caret.update(peer, lineHeight);
    }
    for (const [peer, caret] of this.carets) {
      if (!trackers.has(peer)) {
        this.editor.removeContentWidget(caret);
        this.carets.delete(peer);
      }
    }
    this.trackers = trackers;
    this.decorations.set(decorations);
    this.follow();
  }

  dispose(): void {
    for (const l of this.listeners) l.dispose();
    this.decorations.clear();
    for (const caret of this.carets.values()) this.editor.removeContentWidget(caret);
    this.carets.clear();
  }

  /** Moves each caret to where its tracking decoration went. */
  private follow(): void {
    const top = this.editor.getVisibleRanges()[0]?.startLineNumber ?? 1;
    for (const [peer, index] of this.trackers) {
      const caret = this.carets.get(peer);
      const range = this.decorations.getRange(index);
      if (!caret || !range) continue;
      caret.position = range.getStartPosition();
      caret.labelBelow(caret.position.lineNumber <= top);
      this.editor.layoutContentWidget(caret);
    }
  }
}
