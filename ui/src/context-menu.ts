// A small right-click menu for the file tree.
import { h, listen } from './dom';

export interface MenuItem {
  label: string;
  action: () => void;
  danger?: boolean;
}

let open: (() => void) | null = null;

export function showMenu(x: number, y: number, items: readonly MenuItem[]): void {
  open?.();
  const menu = h('div', { className: 'context-menu' });
  menu.setAttribute('role', 'menu');
  for (const item of items) {
    const row = h('button', { className: `menu-item${item.danger ? ' danger' : ''}`, textContent: item.label });
    row.setAttribute('role', 'menuitem');
    row.onclick = () => {
      close();
      item.action();
    };
    menu.append(row);
  }
  document.body.append(menu);
  // Keep it inside the window.
  const rect = menu.getBoundingClientRect();
  menu.style.left = `${Math.min(x, window.innerWidth - rect.width - 4)}px`;
  menu.style.top = `${Math.min(y, window.innerHeight - rect.height - 4)}px`;
  const away = listen(document, 'mousedown', (e) => {
    if (!menu.contains(e.target as Node)) close();
  });
  const esc = listen(document, 'keydown', (e) => {
    if (e.key === 'Escape') close();
  });
  function close(): void {
    menu.remove();
    away.dispose();
    esc.dispose();
    open = null;
  }
  open = close;
}
