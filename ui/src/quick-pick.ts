// The quick pick: a field over the window with a list that follows what is
// typed (quick open, the command palette). Arrows move, Enter picks,
// Escape or a click outside closes.
import { h, setChildren } from './dom';

export interface PickItem {
  label: string;
  /** Shown dimmed after the label (a folder, a key binding). */
  detail?: string;
  /** Indices of `label` to highlight. */
  highlight?: number[];
  run: () => void;
}

/** Shows the quick pick; `items` gives the list for what is typed. */
export function quickPick(placeholder: string, items: (query: string) => PickItem[]): void {
  document.querySelector('.quick-pick-backdrop')?.remove();
  const field = h('input', { className: 'field quick-pick-field', placeholder, spellcheck: false });
  const list = h('div', { className: 'quick-pick-list' });
  list.setAttribute('role', 'listbox');
  const box = h('div', { className: 'quick-pick' }, field, list);
  const backdrop = h('div', { className: 'quick-pick-backdrop' }, box);
  let shown: PickItem[] = [];
  let selected = 0;
  const close = () => backdrop.remove();
  const pick = (item: PickItem | undefined) => {
    if (!item) return;
    close();
    item.run();
  };
  const render = () => {
    setChildren(
      list,
      ...shown.map((item, i) => {
        const row = h(
          'div',
          { className: `quick-pick-item${i === selected ? ' selected' : ''}` },
          h('span', { className: 'quick-pick-label' }, ...highlighted(item.label, item.highlight ?? [])),
          item.detail ? h('span', { className: 'quick-pick-detail', textContent: item.detail }) : null,
        );
        row.setAttribute('role', 'option');
        row.onmousedown = (e) => e.preventDefault();
        row.onclick = () => pick(item);
        return row;
      }),
      shown.length ? null : h('div', { className: 'quick-pick-empty', textContent: 'No match' }),
    );
    list.children[selected]?.scrollIntoView({ block: 'nearest' });
  };
  const update = () => {
    shown = items(field.value);
    selected = 0;
    render();
  };
  field.oninput = update;
  field.onkeydown = (e) => {
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault();
      if (shown.length) selected = (selected + (e.key === 'ArrowDown' ? 1 : shown.length - 1)) % shown.length;
      render();
    } else if (e.key === 'Enter') {
      e.preventDefault();
      pick(shown[selected]);
    } else if (e.key === 'Escape') {
      e.preventDefault();
      close();
    }
  };
  backdrop.onmousedown = (e) => {
    if (e.target === backdrop) close();
  };
  document.body.append(backdrop);
  field.focus();
  update();
}

/** `text` with the characters at `positions` in <mark>. */
function highlighted(text: string, positions: number[]): (string | HTMLElement)[] {
  const marked = new Set(positions);
  const out: (string | HTMLElement)[] = [];
  let run = '';
  let inMark = false;
  const flush = () => {
    if (run) out.push(inMark ? h('mark', { textContent: run }) : run);
    run = '';
  };
  for (let i = 0; i < text.length; i++) {
    if (marked.has(i) !== inMark) {
      flush();
      inMark = marked.has(i);
    }
    run += text[i];
  }
  flush();
  return out;
}
