// A terminal shown at its owner's size, which may be larger than the panel
// showing it: it is scaled down to fit, but not below a readable size; what
// still does not fit is shifted so that the cursor's row (the prompt, the
// newest output) stays in view. The panel itself never scrolls, nor does
// the page.

/** Below this scale the text is no longer readable. */
export const MIN_SCALE = 0.6;

export interface Size {
  width: number;
  height: number;
}

export interface Fit {
  scale: number;
  /** How far up the scaled terminal is moved, in panel pixels. */
  shiftUp: number;
}

/**
 * `term` is the terminal's size at scale 1, `cursorBottom` the bottom edge
 * of the cursor's row at scale 1.
 */
export function fitTerminal(panel: Size, term: Size, cursorBottom: number): Fit {
  if (term.width <= 0 || term.height <= 0 || panel.width <= 0 || panel.height <= 0) return { scale: 1, shiftUp: 0 };
  const scale = Math.max(MIN_SCALE, Math.min(1, panel.width / term.width, panel.height / term.height));
  const overflow = term.height * scale - panel.height;
  if (overflow <= 0) return { scale, shiftUp: 0 };
  const shiftUp = Math.min(overflow, Math.max(0, cursorBottom * scale - panel.height));
  return { scale, shiftUp };
}
