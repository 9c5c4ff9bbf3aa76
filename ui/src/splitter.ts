// A drag handle that resizes the panel next to it.
import { h } from './dom';

/**
 * Returns a handle that resizes `panel` along `axis`. `sign` is +1 when
 * dragging right/down grows the panel (it is left of/above the handle), -1 otherwise.
 */
export function splitter(panel: HTMLElement, axis: 'x' | 'y', sign: 1 | -1, min: number, max: number): HTMLElement {
  const handle = h('div', { className: `splitter splitter-${axis}` });
  handle.onpointerdown = (down) => {
    down.preventDefault();
    handle.setPointerCapture(down.pointerId);
    const start = axis === 'x' ? down.clientX : down.clientY;
    const size = axis === 'x' ? panel.offsetWidth : panel.offsetHeight;
    handle.classList.add('dragging');
    handle.onpointermove = (move) => {
      const delta = (axis === 'x' ? move.clientX : move.clientY) - start;
      const next = Math.min(max, Math.max(min, size + sign * delta));
      panel.style.flexBasis = `${next}px`;
    };
    handle.onpointerup = () => {
      handle.onpointermove = null;
      handle.onpointerup = null;
      handle.classList.remove('dragging');
    };
  };
  return handle;
}
