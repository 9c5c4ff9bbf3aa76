import { describe, expect, test } from 'vitest';
import { fuzzyFilter, fuzzyMatch } from './fuzzy';

describe('fuzzy matching', () => {
  const files = ['src/util/stats.rs', 'src/main.rs', 'docs/STATUS.md', 'src/state/mod.rs', 'tests/statistics_test.rs'];
  const best = (q: string) => fuzzyFilter(q, files, (f) => f).map((r) => r.item);

  test('characters in order, any case, anywhere', () => {
    expect(fuzzyMatch('smr', 'src/main.rs')).not.toBeNull();
    expect(fuzzyMatch('nim', 'src/main.rs')).toBeNull();
    // A word start later on ("-a") must not hide the plain match ("ai").
    expect(fuzzyMatch('ai', 'main-a.rs')?.positions).toEqual([1, 2]);
    expect(fuzzyMatch('MAIN', 'src/main.rs')?.positions).toEqual([4, 5, 6, 7]);
  });

  test('a file name beats the same letters spread over a path', () => {
    expect(best('stats')[0]).toBe('src/util/stats.rs');
    expect(best('main')[0]).toBe('src/main.rs');
  });

  test('initials of path parts find a file', () => {
    expect(best('ust')[0]).toBe('src/util/stats.rs');
  });

  test('an empty query matches everything, in order', () => {
    expect(best('')).toEqual(files);
  });
});
