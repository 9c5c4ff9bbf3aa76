// Language intelligence in Monaco from the language servers the engine runs:
// providers that ask the engine in LSP JSON (documents named `nitro:/<path>`),
// diagnostics as markers and in a problems list, and opening a definition
// or reference in its file.
import { backend, type LspDiagnostic, type LspPosition, type LspRange, type Splice } from './backend';
import type { Disposable } from './dom';
import { monaco } from './monaco-setup';

/** Monaco languages whose files a default server may serve. */
export const SERVED_LANGUAGES = ['typescript', 'javascript', 'rust', 'python', 'go', 'cpp', 'c'];

export interface LanguageHost {
  /** Shows `path` with the caret at a 1-based line and column. */
  openAt(path: string, line: number, column: number): void;
}

export interface Problem {
  path: string;
  diagnostic: LspDiagnostic;
}

/** The engine's name of a workspace file. */
export function nameOf(path: string): string {
  return monaco.Uri.from({ scheme: 'nitro', path: `/${path}` }).toString();
}

/** The workspace path of a `nitro:` name or model URI. */
export function pathOf(uri: monaco.Uri | string): string | null {
  const u = typeof uri === 'string' ? monaco.Uri.parse(uri) : uri;
  return u.scheme === 'nitro' && u.path.length > 1 ? u.path.slice(1) : null;
}

export const toRange = (r: LspRange) => new monaco.Range(r.start.line + 1, r.start.character + 1, r.end.line + 1, r.end.character + 1);
const toLsp = (p: monaco.IPosition): LspPosition => ({ line: p.lineNumber - 1, character: p.column - 1 });

/** An LSP text edit applied to a text: offsets from lines and UTF-16 characters. */
export function offsetOf(text: string, p: LspPosition): number {
  let at = 0;
  for (let line = 0; line < p.line; line++) {
    const next = text.indexOf('\n', at);
    if (next < 0) return text.length;
    at = next + 1;
  }
  const end = text.indexOf('\n', at);
  return Math.min(at + p.character, end < 0 ? text.length : end);
}

/** Sequential splices that apply LSP text edits (which refer to the original text). */
export function editsToSplices(text: string, edits: readonly { range: LspRange; newText: string }[]): Splice[] {
  const spans = edits.map((e) => ({ start: offsetOf(text, e.range.start), end: offsetOf(text, e.range.end), insert: e.newText }));
  // Last first: each splice leaves the offsets before it as they were.
  spans.sort((a, b) => b.start - a.start);
  return spans.map((s) => ({ index: s.start, delete: s.end - s.start, insert: s.insert }));
}

const SEVERITY: Record<number, monaco.MarkerSeverity> = {
  1: monaco.MarkerSeverity.Error,
  2: monaco.MarkerSeverity.Warning,
  3: monaco.MarkerSeverity.Info,
  4: monaco.MarkerSeverity.Hint,
};

/** LSP completion kinds (1-based) as Monaco names them. */
const KINDS = [
  'Text', 'Method', 'Function', 'Constructor', 'Field', 'Variable', 'Class', 'Interface', 'Module', 'Property', 'Unit', 'Value',
  'Enum', 'Keyword', 'Snippet', 'Color', 'File', 'Reference', 'Folder', 'EnumMember', 'Constant', 'Struct', 'Event', 'Operator',
  'TypeParameter',
] as const;

type Markup = string | { kind?: string; language?: string; value: string } | Markup[] | null | undefined;

function markdown(c: Markup): monaco.IMarkdownString[] {
  if (!c) return [];
  if (Array.isArray(c)) return c.flatMap(markdown);
  if (typeof c === 'string') return [{ value: c }];
  if (c.language) return [{ value: `\`\`\`${c.language}\n${c.value}\n\`\`\`` }];
  if (c.kind === 'plaintext') return [{ value: c.value.replace(/[\\`*_{}[\]()#+\-.!<>]/g, '\\$&') }];
  return [{ value: c.value }];
}

interface LspLocation {
  uri?: string;
  range?: LspRange;
  targetUri?: string;
  targetSelectionRange?: LspRange;
}

function locations(result: unknown): monaco.languages.Location[] {
  const list = (Array.isArray(result) ? result : result ? [result] : []) as LspLocation[];
  return list.flatMap((l) => {
    const uri = l.uri ?? l.targetUri;
    const range = l.targetSelectionRange ?? l.range;
    return uri && range ? [{ uri: monaco.Uri.parse(uri), range: toRange(range) }] : [];
  });
}

interface TextEdit {
  range: LspRange;
  newText: string;
}

export class Languages {
  private readonly diagnostics = new Map<string, LspDiagnostic[]>();
  private readonly disposables: monaco.IDisposable[] = [];
  private readonly changed = new Set<() => void>();

  constructor(private readonly host: LanguageHost) {
    for (const language of SERVED_LANGUAGES) this.register(language);
    this.disposables.push(
      monaco.editor.registerEditorOpener({
        openCodeEditor: (_source, resource, at) => {
          const path = pathOf(resource);
          if (!path) return false;
          const pos = at && 'startLineNumber' in at ? { lineNumber: at.startLineNumber, column: at.startColumn } : (at ?? { lineNumber: 1, column: 1 });
          this.host.openAt(path, pos.lineNumber, pos.column);
          return true;
        },
      }),
    );
  }

  /** A server's newest word on a file's problems. */
  setDiagnostics(path: string, list: LspDiagnostic[]): void {
    if (list.length) this.diagnostics.set(path, list);
    else this.diagnostics.delete(path);
    for (const model of monaco.editor.getModels().filter((m) => pathOf(m.uri) === path)) this.mark(model);
    this.changed.forEach((f) => f());
  }

  /** A model was made for a file: it shows the problems known so far. */
  modelOpened(model: monaco.editor.ITextModel): void {
    this.mark(model);
  }

  /** Every problem the servers report, errors first. */
  problems(): Problem[] {
    const all = [...this.diagnostics].flatMap(([path, list]) => list.map((diagnostic) => ({ path, diagnostic })));
    return all.sort((a, b) => (a.diagnostic.severity ?? 1) - (b.diagnostic.severity ?? 1) || a.path.localeCompare(b.path));
  }

  /** Calls `f` whenever the problems change. */
  onProblems(f: () => void): Disposable {
    this.changed.add(f);
    return { dispose: () => this.changed.delete(f) };
  }

  dispose(): void {
    this.disposables.forEach((d) => d.dispose());
    for (const model of monaco.editor.getModels()) monaco.editor.setModelMarkers(model, 'lsp', []);
  }

  private mark(model: monaco.editor.ITextModel): void {
    const path = pathOf(model.uri);
    const list = (path && this.diagnostics.get(path)) || [];
    monaco.editor.setModelMarkers(
      model,
      'lsp',
      list.map((d) => ({
        ...toRange(d.range).toJSON(),
        severity: SEVERITY[d.severity ?? 1] ?? monaco.MarkerSeverity.Error,
        message: d.message,
        source: d.source,
        code: d.code === undefined ? undefined : String(d.code),
      })) as monaco.editor.IMarkerData[],
    );
  }

  private register(language: string): void {
    const L = monaco.languages;
    const doc = (model: monaco.editor.ITextModel) => ({ uri: nameOf(pathOf(model.uri) ?? '') });
    this.disposables.push(
      L.registerHoverProvider(language, {
        provideHover: async (model, position) => {
          const r = await ask<{ contents: Markup; range?: LspRange }>(model, 'textDocument/hover', { textDocument: doc(model), position: toLsp(position) });
          const contents = markdown(r?.contents);
          return contents.length ? { contents, range: r?.range ? toRange(r.range) : undefined } : null;
        },
      }),
      L.registerCompletionItemProvider(language, {
        triggerCharacters: ['.', ':', '<', '"', "'", '/', '@'],
        provideCompletionItems: async (model, position) => {
          const r = await ask<unknown>(model, 'textDocument/completion', { textDocument: doc(model), position: toLsp(position) });
          const items = (Array.isArray(r) ? r : ((r as { items?: unknown[] } | null)?.items ?? [])) as {
            label: string;
            kind?: number;
            detail?: string;
            documentation?: Markup;
            insertText?: string;
            insertTextFormat?: number;
            textEdit?: { range?: LspRange; insert?: LspRange; newText: string };
            sortText?: string;
            filterText?: string;
          }[];
          const word = model.getWordUntilPosition(position);
          const fallback = new monaco.Range(position.lineNumber, word.startColumn, position.lineNumber, word.endColumn);
          return {
            suggestions: items.map((item) => {
              const range = item.textEdit?.range ?? item.textEdit?.insert;
              return {
                label: item.label,
                kind: L.CompletionItemKind[KINDS[(item.kind ?? 1) - 1] ?? 'Text'],
                detail: item.detail,
                documentation: markdown(item.documentation)[0],
                insertText: item.textEdit?.newText ?? item.insertText ?? item.label,
                insertTextRules: item.insertTextFormat === 2 ? L.CompletionItemInsertTextRule.InsertAsSnippet : undefined,
                range: range ? toRange(range) : fallback,
                sortText: item.sortText,
                filterText: item.filterText,
              };
            }),
          };
        },
      }),
      L.registerSignatureHelpProvider(language, {
        signatureHelpTriggerCharacters: ['(', ','],
        provideSignatureHelp: async (model, position) => {
          type Sig = { label: string; documentation?: Markup; parameters?: { label: string | [number, number]; documentation?: Markup }[] };
          const r = await ask<{ signatures: Sig[]; activeSignature?: number; activeParameter?: number }>(model, 'textDocument/signatureHelp', {
            textDocument: doc(model),
            position: toLsp(position),
          });
          if (!r?.signatures?.length) return null;
          const signatures = r.signatures.map((s) => ({
            label: s.label,
            documentation: markdown(s.documentation)[0],
            parameters: (s.parameters ?? []).map((p) => ({ label: p.label, documentation: markdown(p.documentation)[0] })),
          }));
          return { value: { signatures, activeSignature: r.activeSignature ?? 0, activeParameter: r.activeParameter ?? 0 }, dispose: () => undefined };
        },
      }),
      L.registerDefinitionProvider(language, {
        provideDefinition: async (model, position) =>
          locations(await ask(model, 'textDocument/definition', { textDocument: doc(model), position: toLsp(position) })),
      }),
      L.registerReferenceProvider(language, {
        provideReferences: async (model, position, context) =>
          locations(
            await ask(model, 'textDocument/references', {
              textDocument: doc(model),
              position: toLsp(position),
              context: { includeDeclaration: context.includeDeclaration },
            }),
          ),
      }),
      L.registerRenameProvider(language, {
        provideRenameEdits: async (model, position, newName) => {
          const r = await ask<{ changes?: Record<string, TextEdit[]>; documentChanges?: { textDocument: { uri: string }; edits: TextEdit[] }[] }>(
            model,
            'textDocument/rename',
            { textDocument: doc(model), position: toLsp(position), newName },
          );
          const byFile = new Map<string, TextEdit[]>(Object.entries(r?.changes ?? {}));
          for (const change of r?.documentChanges ?? []) {
            if (change.textDocument && change.edits) byFile.set(change.textDocument.uri, change.edits);
          }
          return { edits: await applyRename(byFile) };
        },
      }),
      L.registerDocumentFormattingEditProvider(language, {
        provideDocumentFormattingEdits: async (model, options) => {
          const r = await ask<TextEdit[]>(model, 'textDocument/formatting', {
            textDocument: doc(model),
            options: { tabSize: options.tabSize, insertSpaces: options.insertSpaces },
          });
          return (r ?? []).map((e) => ({ range: toRange(e.range), text: e.newText }));
        },
      }),
    );
  }
}

/** Asks the engine about a model's file; `null` when there is no answer (no server, say). */
async function ask<T>(model: monaco.editor.ITextModel, method: string, params: unknown): Promise<T | null> {
  const path = pathOf(model.uri);
  if (!path) return null;
  try {
    return (await backend.lspRequest(path, method, params)) as T;
  } catch {
    return null;
  }
}

/**
 * A rename's edits: those of files open in an editor go to Monaco (so they
 * are ordinary edits, undone with Ctrl+Z there); the others are made
 * through the engine at once. Every peer gets both.
 */
async function applyRename(byFile: Map<string, TextEdit[]>): Promise<monaco.languages.IWorkspaceTextEdit[]> {
  const out: monaco.languages.IWorkspaceTextEdit[] = [];
  for (const [uri, edits] of byFile) {
    const path = pathOf(uri);
    if (!path) continue;
    const model = monaco.editor.getModels().find((m) => pathOf(m.uri) === path);
    if (model) {
      for (const e of edits) out.push({ resource: model.uri, textEdit: { range: toRange(e.range), text: e.newText }, versionId: undefined });
      continue;
    }
    const opened = await backend.openFile(path);
    await backend.edit({ path, base: opened.version, splices: editsToSplices(opened.text, edits) });
  }
  return out;
}
