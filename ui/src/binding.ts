// Keeps one Monaco text model in sync with the engine's copy of a file.
//
// Invariant: once the call chain is idle, the model text is the text of
// `version`. Every engine call for the file runs in that one chain, so each
// call uses the version the previous one returned. Local edits are queued and
// sent as splices based on `version`; remote changes are pulled only while no
// local edit is pending, and a pull result is dropped if the user typed while
// it was under way (its offsets would be stale), then pulled again.
import type * as monaco from 'monaco-editor/editor/editor.api';
import type { DocBackend, OpenedFile, Selection, Splice, Version } from './backend';
import { errorMessage } from './backend';
import {
  applySplice,
  applySplices,
  changesToSplices,
  diffSplice,
  mapSelection,
  type OffsetSelection,
} from './splices';
import { UndoHistory } from './undo-history';

/** The part of Monaco's editor the binding uses (to keep local selections in place). */
export type SelectionView = Pick<monaco.editor.ICodeEditor, 'getModel' | 'getSelections' | 'setSelections'>;

export interface BindingOptions {
  opened: OpenedFile;
  /** A model created from `opened.text`. */
  model: monaco.editor.ITextModel;
  backend: DocBackend;
  /** The editors that may show the model (those that do keep their selections on their text). */
  views?: () => readonly SelectionView[];
  now?: () => number;
  /** Pending state, read-only state or version changed. */
  onChange?: () => void;
  /** Something the user should read (edit refused, file reloaded, ...). */
  onProblem?: (message: string) => void;
}

/** A local edit within this long marks the user as typing. */
export const TYPING_MS = 1500;

const MIXED_EOL =
  'This file mixes line endings, which the editor would rewrite, so it is shown read-only.';

export class FileBinding {
  readonly path: string;
  readonly model: monaco.editor.ITextModel;
  private readonly backend: DocBackend;
  private readonly views: () => readonly SelectionView[];
  private readonly now: () => number;
  private readonly onChange: () => void;
  private readonly onProblem: (message: string) => void;

  private version: Version;
  /** The model text as of the last event handled (model offsets). */
  private text: string;
  /** Monaco drops a leading BOM from the model; the engine's offsets count it. */
  private readonly bom: number;
  /** Local splices (engine offsets) not yet sent. */
  private queue: Splice[] = [];
  private inFlight = 0;
  private needsPull = true;
  private flushQueued = false;
  private pullQueued = false;
  private chain: Promise<void> = Promise.resolve();
  /** Echo guard: set while the binding itself changes the model. */
  private applyingRemote = false;
  private historyKind: 'undo' | 'redo' | null = null;
  private readonly history = new UndoHistory();
  private lastEditAt = Number.NEGATIVE_INFINITY;
  private readOnly: string | null = null;
  private closed = false;
  private readonly listener: monaco.IDisposable;

  constructor(options: BindingOptions) {
    this.path = options.opened.path;
    this.model = options.model;
    this.backend = options.backend;
    this.views = options.views ?? (() => []);
    this.now = options.now ?? Date.now;
    this.onChange = options.onChange ?? (() => undefined);
    this.onProblem = options.onProblem ?? (() => undefined);
    this.version = options.opened.version;
    this.bom = options.opened.text.startsWith('\uFEFF') ? 1 : 0;
    this.text = this.model.getValue();
    this.checkFaithful(options.opened.text.slice(this.bom));
    this.listener = this.model.onDidChangeContent((e) => this.onLocalChange(e));
    // A change may have landed between open_file and now.
    this.maybePull();
  }

  /** Local edits not yet acknowledged by the engine. */
  get dirty(): boolean {
    return this.queue.length > 0 || this.inFlight > 0;
  }

  get typing(): boolean {
    return this.now() - this.lastEditAt < TYPING_MS;
  }

  /** Why the file cannot be edited here, or null. */
  get readOnlyReason(): string | null {
    return this.readOnly;
  }

  /** The version the model text equals, or null while local edits are pending. */
  get settledVersion(): Version | null {
    return this.dirty ? null : this.version;
  }

  /** The engine reported changes to this file. */
  changed(): void {
    this.needsPull = true;
    this.maybePull();
  }

  /** Undoes the last local edit; the caret goes to it in `view` (by default the first editor showing the file). */
  undo(view?: SelectionView): void {
    this.applyHistory('undo', view);
  }

  redo(view?: SelectionView): void {
    this.applyHistory('redo', view);
  }

  /** Replaces the model text by the engine's, e.g. after the engine refused an edit. */
  resync(message?: string): void {
    if (message) this.onProblem(message);
    this.enqueue(() => this.reload());
  }

  /** Local selections in `view` (by default the first editor showing the file) in engine offsets, for presence. */
  selections(view?: SelectionView): Selection[] {
    const shown = view ?? this.shown()[0];
    return shown ? this.selectionsIn(shown).map((s) => ({ anchor: s.anchor + this.bom, head: s.head + this.bom })) : [];
  }

  /** An engine offset (e.g. a peer's caret) as a model position. */
  positionOf(offset: number): monaco.IPosition {
    const clamped = Math.min(Math.max(offset - this.bom, 0), this.model.getValueLength());
    return this.model.getPositionAt(clamped);
  }

  /** Resolves once every queued call has finished and nothing is left to do. */
  async whenIdle(): Promise<void> {
    for (;;) {
      const chain = this.chain;
      await chain;
      if (chain === this.chain) return;
    }
  }

  /** Stops following the model; edits already made are still sent. */
  close(): Promise<void> {
    this.closed = true;
    this.listener.dispose();
    return this.whenIdle();
  }

  private onLocalChange(e: monaco.editor.IModelContentChangedEvent): void {
    if (this.applyingRemote) return;
    const splices = changesToSplices(e.changes);
    const before = this.text;
    this.text = applySplices(before, splices);
    if (this.historyKind) {
      this.history.recordApplied(this.historyKind, splices, before);
    } else {
      this.history.recordEdit(splices, before, this.now());
    }
    this.lastEditAt = this.now();
    for (const s of splices) this.queue.push({ ...s, index: s.index + this.bom });
    this.scheduleFlush();
    this.onChange();
  }

  private scheduleFlush(): void {
    if (this.flushQueued) return;
    this.flushQueued = true;
    this.enqueue(async () => {
      this.flushQueued = false;
      const splices = this.queue;
      if (splices.length === 0) return;
      this.queue = [];
      this.inFlight = splices.length;
      try {
        this.version = await this.backend.edit({ path: this.path, base: this.version, splices });
      } catch (err) {
        // The engine does not have these edits while the model does: start over from its text.
        this.queue = [];
        this.resync(`${this.path}: edit not accepted (${errorMessage(err)}); reloaded the file.`);
      } finally {
        this.inFlight = 0;
      }
    });
  }

  private maybePull(): void {
    if (this.closed || !this.needsPull || this.dirty || this.pullQueued) return;
    this.pullQueued = true;
    this.enqueue(() => this.pull());
  }

  private async pull(): Promise<void> {
    this.pullQueued = false;
    if (this.closed || !this.needsPull || this.dirty) return;
    this.needsPull = false;
    if (this.readOnly) {
      // Nothing local to keep: show the engine's text as it is.
      await this.reload();
      return;
    }
    const seen = this.model.getVersionId();
    const pulled = await this.backend.pull({ path: this.path, since: this.version });
    if (this.closed) return;
    if (this.model.getVersionId() !== seen || this.dirty) {
      // The user typed meanwhile: the splices refer to a text the model no longer has.
      this.needsPull = true;
      return;
    }
    this.applyRemote(pulled.splices.map((s) => ({ ...s, index: s.index - this.bom })));
    this.version = pulled.version;
  }

  private async reload(): Promise<void> {
    const opened = await this.backend.openFile(this.path);
    if (this.closed) return;
    this.queue = [];
    const target = opened.text.slice(this.bom);
    if (this.readOnly) {
      this.guarded(() => this.model.setValue(target));
    } else {
      const splice = diffSplice(this.text, target);
      this.applyRemote(splice ? [splice] : []);
    }
    this.text = this.model.getValue();
    this.version = opened.version;
    this.history.clear();
    this.checkFaithful(target);
  }

  /** Applies sequential splices (model offsets) from elsewhere, keeping local selections on their text. */
  private applyRemote(splices: readonly Splice[]): void {
    if (splices.length === 0) return;
    let shown = this.shown().map((view) => ({ view, selections: this.selectionsIn(view) }));
    this.guarded(() => {
      for (const s of splices) {
        if (s.index < 0 || s.index + s.delete > this.text.length) {
          throw new Error(`splice outside the text of ${this.path}`);
        }
        this.model.applyEdits([{ range: this.rangeOf(s.index, s.index + s.delete), text: s.insert }]);
        this.text = applySplice(this.text, s);
        this.history.mapRemote(s);
        shown = shown.map(({ view, selections }) => ({ view, selections: selections.map((sel) => mapSelection(sel, s)) }));
      }
    });
    // Monaco rewrites inserted line breaks to the model's own kind.
    if (splices.some((s) => /[\r\n]/.test(s.insert))) this.checkFaithful(this.text);
    for (const { view, selections } of shown) this.setSelectionsIn(view, selections);
  }

  private applyHistory(kind: 'undo' | 'redo', view: SelectionView | undefined): void {
    if (this.readOnly) return;
    const step = kind === 'undo' ? this.history.takeUndo() : this.history.takeRedo();
    if (!step) return;
    // The splices come from disjoint regions, highest first: each range is valid on the current text.
    const edits = step.splices.map((s) => ({ range: this.rangeOf(s.index, s.index + s.delete), text: s.insert }));
    this.historyKind = kind;
    try {
      this.model.applyEdits(edits);
    } finally {
      this.historyKind = null;
    }
    const target = view ?? this.shown()[0];
    if (target) this.setSelectionsIn(target, [{ anchor: step.caret, head: step.caret }]);
  }

  private enqueue(task: () => Promise<void>): void {
    this.chain = this.chain
      .then(task)
      .catch((err: unknown) => this.onProblem(`${this.path}: ${errorMessage(err)}`))
      .then(() => {
        this.maybePull();
        this.onChange();
      });
  }

  /** Monaco rewrites mixed line endings; editing such a text would corrupt offsets. */
  private checkFaithful(expected: string): void {
    this.setReadOnly(this.model.getValue() === expected ? null : MIXED_EOL);
  }

  /** Runs a change of the model that the content listener must not take as the user's. */
  private guarded(change: () => void): void {
    this.applyingRemote = true;
    try {
      change();
    } finally {
      this.applyingRemote = false;
    }
  }

  private setReadOnly(reason: string | null): void {
    if (reason === this.readOnly) return;
    this.readOnly = reason;
    if (reason) this.onProblem(`${this.path}: ${reason}`);
    this.onChange();
  }

  private rangeOf(start: number, end: number): monaco.IRange {
    const a = this.model.getPositionAt(start);
    const b = this.model.getPositionAt(end);
    return { startLineNumber: a.lineNumber, startColumn: a.column, endLineNumber: b.lineNumber, endColumn: b.column };
  }

  /** The editors showing this file now. */
  private shown(): SelectionView[] {
    return this.views().filter((v) => v.getModel() === this.model);
  }

  private selectionsIn(view: SelectionView): OffsetSelection[] {
    if (view.getModel() !== this.model) return [];
    return (view.getSelections() ?? []).map((s) => ({
      anchor: this.model.getOffsetAt({ lineNumber: s.selectionStartLineNumber, column: s.selectionStartColumn }),
      head: this.model.getOffsetAt({ lineNumber: s.positionLineNumber, column: s.positionColumn }),
    }));
  }

  private setSelectionsIn(view: SelectionView, selections: readonly OffsetSelection[]): void {
    if (view.getModel() !== this.model || selections.length === 0) return;
    view.setSelections(
      selections.map((s) => {
        const anchor = this.model.getPositionAt(s.anchor);
        const head = this.model.getPositionAt(s.head);
        return {
          selectionStartLineNumber: anchor.lineNumber,
          selectionStartColumn: anchor.column,
          positionLineNumber: head.lineNumber,
          positionColumn: head.column,
        };
      }),
    );
  }
}
