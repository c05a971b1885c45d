/**
 * Edit distance between two names, case-insensitive, counting a swap of two neighbours as one
 * edit (optimal string alignment), so `countDown` is 0 from `countdown` and `maxRetry` 3 from
 * `maxRetries`.
 */
export function editDistance(a: string, b: string): number {
  const s = a.toLowerCase();
  const t = b.toLowerCase();
  // Three rows: the one before the previous is needed for transpositions.
  let before: number[] = [];
  let prev = Array.from({ length: t.length + 1 }, (_, j) => j);
  for (let i = 1; i <= s.length; i++) {
    const row = [i];
    for (let j = 1; j <= t.length; j++) {
      const cost = s[i - 1] === t[j - 1] ? 0 : 1;
      let d = Math.min((prev[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost);
      if (i > 1 && j > 1 && s[i - 1] === t[j - 2] && s[i - 2] === t[j - 1]) {
        d = Math.min(d, (before[j - 2] ?? 0) + 1);
      }
      row.push(d);
    }
    before = prev;
    prev = row;
  }
  return prev[t.length] ?? 0;
}

/**
 * The candidate nearest to `name`, for "did you mean …?" in error messages; undefined when
 * none is close (more than two edits, or more than 40% of the longer name).
 */
export function closestName(name: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const d = editDistance(name, candidate);
    const limit = Math.max(2, Math.floor(Math.max(name.length, candidate.length) * 0.4));
    if (d <= limit && d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}
