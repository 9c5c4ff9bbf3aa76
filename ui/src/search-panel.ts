// Find in files (Ctrl+Shift+F): the engine searches what this peer shares,
// as it is now; results are grouped by file, and a click opens the file at
// the match.
import { backend, errorMessage, type SearchHit, type SearchRequest } from './backend';
import { baseName, dirName, h, setChildren } from './dom';

/** How long typing pauses before the search runs. */
const DEBOUNCE_MS = 250;

export class SearchPanel {
  private readonly field: HTMLInputElement;
  private readonly include: HTMLInputElement;
  private readonly exclude: HTMLInputElement;
  private readonly summary: HTMLElement;
  private readonly results: HTMLElement;
  private readonly toggles = { caseSensitive: false, wholeWord: false, regex: false };
  private timer: ReturnType<typeof setTimeout> | null = null;
  /** Answers to earlier searches are dropped. */
  private generation = 0;

  constructor(
    container: HTMLElement,
    private readonly open: (hit: SearchHit) => void,
  ) {
    this.field = h('input', { className: 'field search-field', placeholder: 'Search', spellcheck: false });
    this.include = h('input', { className: 'field search-glob', placeholder: 'files to include (src, *.rs)', spellcheck: false });
    this.exclude = h('input', { className: 'field search-glob', placeholder: 'files to exclude', spellcheck: false });
    const toggle = (key: keyof SearchPanel['toggles'], text: string, title: string) => {
      const b = h('button', { className: 'search-toggle', textContent: text, title, type: 'button' });
      b.setAttribute('aria-pressed', 'false');
      b.onclick = () => {
        this.toggles[key] = !this.toggles[key];
        b.setAttribute('aria-pressed', String(this.toggles[key]));
        this.run();
      };
      return b;
    };
    this.summary = h('div', { className: 'search-summary muted' });
    this.results = h('div', { className: 'search-results' });
    container.append(
      h('div', { className: 'panel-header' }, h('span', { className: 'panel-title', textContent: 'Search' })),
      h(
        'div',
        { className: 'search-form' },
        h(
          'div',
          { className: 'search-row' },
          this.field,
          toggle('caseSensitive', 'Aa', 'Match case'),
          toggle('wholeWord', 'ab', 'Match whole word'),
          toggle('regex', '.*', 'Use regular expression'),
        ),
        this.include,
        this.exclude,
      ),
      this.summary,
      this.results,
    );
    for (const f of [this.field, this.include, this.exclude]) {
      f.oninput = () => this.later();
      f.onkeydown = (e) => {
        if (e.key === 'Enter') this.run();
      };
    }
  }

  /** Puts the cursor in the search field, with `text` when given. */
  focus(text?: string): void {
    if (text) {
      this.field.value = text;
      this.run();
    }
    this.field.focus();
    this.field.select();
  }

  private later(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.run(), DEBOUNCE_MS);
  }

  private async run(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const generation = ++this.generation;
    const globs = (f: HTMLInputElement) =>
      f.value
        .split(',')
        .map((g) => g.trim())
        .filter(Boolean);
    const query: SearchRequest = {
      pattern: this.field.value,
      ...this.toggles,
      include: globs(this.include),
      exclude: globs(this.exclude),
    };
    if (!query.pattern) {
      this.summary.textContent = '';
      setChildren(this.results);
      return;
    }
    try {
      const found = await backend.search(query);
      if (generation !== this.generation) return;
      this.show(found.hits, found.truncated);
    } catch (err) {
      if (generation !== this.generation) return;
      this.summary.textContent = errorMessage(err);
      setChildren(this.results);
    }
  }

  private show(hits: SearchHit[], truncated: boolean): void {
    const byFile = new Map<string, SearchHit[]>();
    for (const hit of hits) byFile.set(hit.path, [...(byFile.get(hit.path) ?? []), hit]);
    const files = byFile.size;
    this.summary.textContent = hits.length
      ? `${hits.length} result${hits.length === 1 ? '' : 's'} in ${files} file${files === 1 ? '' : 's'}${truncated ? ' (more not shown)' : ''}`
      : 'No results';
    const rows: HTMLElement[] = [];
    for (const [path, fileHits] of byFile) {
      rows.push(
        h(
          'div',
          { className: 'search-file', title: path },
          h('span', { className: 'search-file-name', textContent: baseName(path) }),
          h('span', { className: 'search-file-dir', textContent: dirName(path) }),
          h('span', { className: 'search-count', textContent: String(fileHits.length) }),
        ),
      );
      for (const hit of fileHits) rows.push(this.hitRow(hit));
    }
    setChildren(this.results, ...rows);
  }

  private hitRow(hit: SearchHit): HTMLElement {
    const at = hit.previewStart;
    const before = hit.preview.slice(0, at).trimStart();
    const row = h(
      'div',
      { className: 'search-hit', title: `${hit.path}:${hit.line}:${hit.column}` },
      h('span', { className: 'search-line', textContent: `${hit.line}` }),
      h('span', {}, before, h('mark', { textContent: hit.preview.slice(at, at + hit.length) }), hit.preview.slice(at + hit.length)),
    );
    row.onclick = () => this.open(hit);
    return row;
  }
}
