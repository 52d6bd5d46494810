/** "Did you mean" hints for misspelled keys, names and kinds. */

/** ` (did you mean "x"?)` when a candidate is a likely typo of `word`; otherwise lists what is allowed. */
export function suggest(word: string, candidates: Iterable<string>, allowed?: readonly string[]): string {
  const best = closest(word, candidates);
  if (best !== undefined) return ` (did you mean "${best}"?)`;
  return allowed && allowed.length > 0 && allowed.length <= 12 ? ` (allowed: ${allowed.join(', ')})` : '';
}

function closest(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  // Short words get no fuzzy match: one edit in `tz` is half the word, and `to` would be a bad guess.
  let bestDistance = Math.min(3, Math.floor(word.length / 3));
  for (const c of candidates) {
    if (Math.abs(c.length - word.length) > bestDistance) continue;
    const d = c.toLowerCase() === word.toLowerCase() ? 0 : editDistance(word, c);
    if (d <= bestDistance && (best === undefined || d < bestDistance)) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}

/** Edit distance where swapping two adjacent letters ("maxDuraiton") counts as one edit, as typos do. */
export function editDistance(a: string, b: string): number {
  let before: number[] = [];
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, (before[j - 2] ?? 0) + 1);
      cur[j] = d;
    }
    before = prev;
    prev = cur;
  }
  return prev[b.length] ?? 0;
}
