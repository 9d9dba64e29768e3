/**
 * "Did you mean" suggestions for a misspelt name: a scenario key, a cost
 * parameter, an option of the library's API.
 */
import { item } from './item.ts';
import { showValue } from './printable.ts';

/** Edit distance (insertions, deletions, substitutions, adjacent swaps). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(
        item(item(d, i - 1), j) + 1,
        item(item(d, i), j - 1) + 1,
        item(item(d, i - 1), j - 1) + cost,
      );
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        v = Math.min(v, item(item(d, i - 2), j - 2) + 1);
      item(d, i)[j] = v;
    }
  }
  return item(item(d, a.length), b.length);
}

/** The candidate `word` most likely misspells, if one is close enough to suggest. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  const w = word.toLowerCase();
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const lc = c.toLowerCase();
    const dist = lc === w ? 0 : editDistance(w, lc);
    if (dist < bestDistance) {
      best = c;
      bestDistance = dist;
    }
  }
  if (best === undefined || best === word) return undefined;
  const limit = Math.max(1, Math.floor(Math.max(word.length, best.length) / 3));
  if (bestDistance <= limit) return best;
  // A prefix or a part of the name ('watchdog' for 'nmiWatchdog').
  const hit = candidates.find((c) => w.length >= 4 && c.toLowerCase().includes(w));
  return hit;
}

/**
 * The first own key of `options` that is not one of `known`, described for a
 * message ("unknown option 'cpuu', did you mean 'cpu'?"), or undefined. A
 * JavaScript caller's misspelt option would otherwise be silently ignored
 * and its default used: `{ enableMediatedPMU: true }` would run without the
 * mediated vPMU.
 */
export function unknownKey(
  options: object,
  known: readonly string[],
  what = 'option',
): string | undefined {
  for (const key of Object.keys(options)) {
    if (known.includes(key)) continue;
    const hint = closest(key, known);
    return hint !== undefined
      ? `unknown ${what} ${showValue(key)}, did you mean '${hint}'?`
      : `unknown ${what} ${showValue(key)}, expected one of ${known.join(', ')}`;
  }
  return undefined;
}
