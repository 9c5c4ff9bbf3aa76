// Fuzzy matching for quick open and the command palette: the query's
// characters in order (any case), anywhere in the candidate; matches at the
// start of words and of the file name, and runs of consecutive characters,
// rank first.

export interface FuzzyMatch {
  score: number;
  /** Indices of the candidate's matched characters, for highlighting. */
  positions: number[];
}

const SEPARATORS = '/\\._- ';

/** How well `query` matches `candidate`, or null when it does not. */
export function fuzzyMatch(query: string, candidate: string): FuzzyMatch | null {
  const q = query.replace(/\s+/g, '').toLowerCase();
  if (!q) return { score: 0, positions: [] };
  const c = candidate.toLowerCase();
  const nameStart = Math.max(candidate.lastIndexOf('/'), candidate.lastIndexOf('\\')) + 1;
  // Within the file name or anywhere, at word starts where it can or
  // simply in order (word starts can skip past the only match).
  const tries = [nameStart, 0].flatMap((from) => [align(q, c, from, true), align(q, c, from, false)]);
  const best = tries
    .filter((p): p is number[] => p !== null)
    .map((positions) => ({ positions, score: score(positions, candidate, nameStart) }))
    .sort((a, b) => b.score - a.score)[0];
  return best ?? null;
}

/** Greedy in-order positions of `q` in `c` from `from`, at word starts when `wordStarts`. */
function align(q: string, c: string, from: number, wordStarts: boolean): number[] | null {
  const positions: number[] = [];
  let at = from;
  for (const ch of q) {
    let found = -1;
    const plain = c.indexOf(ch, at);
    if (plain < 0) return null;
    for (let i = at; wordStarts && i < c.length; i++) {
      if (c[i] === ch && (i === 0 || SEPARATORS.includes(c[i - 1]))) {
        found = i;
        break;
      }
    }
    const consecutive = positions.length > 0 && plain === positions[positions.length - 1] + 1;
    at = (consecutive || found < 0 ? plain : found) + 1;
    positions.push(at - 1);
  }
  return positions;
}

function score(positions: number[], candidate: string, nameStart: number): number {
  let s = 0;
  positions.forEach((p, i) => {
    s += 1;
    if (p === 0 || SEPARATORS.includes(candidate[p - 1])) s += 8;
    if (p === nameStart) s += 6;
    if (p >= nameStart) s += 2;
    if (i > 0 && p === positions[i - 1] + 1) s += 5;
    if (candidate[p] !== candidate[p].toLowerCase() && p > 0 && candidate[p - 1] === candidate[p - 1].toLowerCase()) s += 4;
  });
  // Shorter candidates first among equals.
  return s * 1000 - candidate.length;
}

/** `candidates` that match `query`, best first. */
export function fuzzyFilter<T>(query: string, candidates: readonly T[], text: (c: T) => string, limit = 200): { item: T; match: FuzzyMatch }[] {
  const out: { item: T; match: FuzzyMatch }[] = [];
  for (const item of candidates) {
    const match = fuzzyMatch(query, text(item));
    if (match) out.push({ item, match });
  }
  out.sort((a, b) => b.match.score - a.match.score);
  return out.slice(0, limit);
}
