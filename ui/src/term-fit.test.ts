import { describe, expect, test } from 'vitest';
import { MIN_SCALE, fitTerminal } from './term-fit';

describe('a terminal drawn at its owner size in a panel', () => {
  const row = 15;

  test('that fits is shown as it is', () => {
    expect(fitTerminal({ width: 900, height: 400 }, { width: 640, height: 24 * row }, 24 * row)).toEqual({ scale: 1, shiftUp: 0 });
  });

  test('a little too large is scaled down to fit whole', () => {
    const fit = fitTerminal({ width: 800, height: 400 }, { width: 880, height: 30 * row }, 30 * row);
    expect(fit.scale).toBeCloseTo(400 / 450);
    expect(fit.shiftUp).toBe(0);
  });

  test('far larger (110x30 in a 192 px panel) keeps the newest line and the prompt in view', () => {
    const panel = { width: 700, height: 192 };
    const term = { width: 990, height: 30 * row };
    const cursorBottom = 30 * row; // the prompt on the last row
    const fit = fitTerminal(panel, term, cursorBottom);
    expect(fit.scale).toBe(MIN_SCALE);
    const cursorOnScreen = cursorBottom * fit.scale - fit.shiftUp;
    expect(cursorOnScreen).toBeLessThanOrEqual(panel.height);
    expect(cursorOnScreen).toBeGreaterThan(panel.height - row * fit.scale - 0.001);
    // The terminal's bottom edge is not lifted above the panel's.
    expect(term.height * fit.scale - fit.shiftUp).toBeGreaterThanOrEqual(panel.height);
  });

  test('with the cursor near the top (after a clear), the top stays in view', () => {
    const fit = fitTerminal({ width: 700, height: 192 }, { width: 990, height: 450 }, 2 * row);
    expect(fit.shiftUp).toBe(0);
  });
});
