// Short messages in the corner of the window. Errors stay longer and can be closed.
import { h } from './dom';

export type ToastKind = 'info' | 'error';

let stack: HTMLElement | null = null;

export function toast(message: string, kind: ToastKind = 'info'): void {
  if (!stack) {
    stack = h('div', { className: 'toasts' });
    stack.setAttribute('role', 'status');
    document.body.append(stack);
  }
  const close = h('button', { className: 'toast-close', title: 'Dismiss', textContent: '×' });
  const el = h('div', { className: `toast toast-${kind}` }, h('span', { textContent: message }), close);
  const remove = () => el.remove();
  close.onclick = remove;
  stack.append(el);
  setTimeout(remove, kind === 'error' ? 10_000 : 4_000);
}
