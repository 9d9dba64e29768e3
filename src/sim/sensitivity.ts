/**
 * Variance-based sensitivity: which inputs drive an output's spread.
 *
 * For an output Y = f(X1..Xk) with independent inputs, the first-order index
 * S_i = Var(E[Y | X_i]) / Var(Y) is the share of the variance X_i explains
 * alone, the total-effect index ST_i = E[Var(Y | X_~i)] / Var(Y) the share it
 * has a hand in, interactions included (Sobol 1993; Homma and Saltelli 1996).
 *
 * Design and estimators: Saltelli et al., "Variance based sensitivity
 * analysis of model output. Design and estimator for the total sensitivity
 * index", Comput. Phys. Commun. 181 (2010) 259-270. Two independent sample
 * matrices A and B (N rows each); for each input i the matrix A_B^i is A with
 * column i taken from B. With f evaluated on A, B and every A_B^i, N (k + 2)
 * runs in all:
 *   S_i  = mean( f(B) (f(A_B^i) - f(A)) ) / V          (their table 2, (b))
 *   ST_i = mean( (f(A) - f(A_B^i))^2 ) / (2 V)         (Jansen 1999; table 2, (f))
 * with V the variance of f over the rows of A and B together. Confidence:
 * a bootstrap over the N rows (Efron), the 2.5th and 97.5th percentiles.
 */
import { SeededRandom } from './random.ts';
import { quantile } from './sampling.ts';
import { item } from '../common/item.js';
import { showValue } from '../common/printable.ts';

export interface SobolIndices {
  firstOrder: number;
  total: number;
  /** 95 % bootstrap intervals [low, high]. */
  firstOrderInterval: [number, number];
  totalInterval: [number, number];
}

/**
 * The A_B^i row for input `i`: row `a` of A with column i from row `b` of B.
 */
export function mixRow(a: readonly number[], b: readonly number[], i: number): number[] {
  const row = [...a];
  row[i] = item(b, i);
  return row;
}

function estimate(
  fA: readonly number[],
  fB: readonly number[],
  fAB: readonly number[],
  rows: readonly number[],
): { first: number; total: number } {
  const n = rows.length;
  let mean = 0;
  for (const r of rows) mean += item(fA, r) + item(fB, r);
  mean /= 2 * n;
  let variance = 0;
  for (const r of rows) variance += (item(fA, r) - mean) ** 2 + (item(fB, r) - mean) ** 2;
  variance /= 2 * n - 1;
  if (!(variance > 0)) return { first: 0, total: 0 };
  let first = 0;
  let total = 0;
  for (const r of rows) {
    first += item(fB, r) * (item(fAB, r) - item(fA, r));
    total += (item(fA, r) - item(fAB, r)) ** 2;
  }
  return { first: first / n / variance, total: total / n / (2 * variance) };
}

/**
 * The indices of one input, from f on A, on B and on A_B^i (each N values,
 * row r of each from the same row r of A and B).
 */
export function sobolIndices(
  fA: readonly number[],
  fB: readonly number[],
  fAB: readonly number[],
  options: { bootstrap?: number; seed?: number } = {},
): SobolIndices {
  const lists = { 'f(A)': fA, 'f(B)': fB, 'f(A_B)': fAB } as Record<string, unknown>;
  for (const [name, list] of Object.entries(lists)) {
    if (!Array.isArray(list))
      throw new TypeError(
        `sobolIndices: ${name}: expected a list of numbers, got ${showValue(list)}`,
      );
    const bad = (list as unknown[]).findIndex((v) => typeof v !== 'number' || !Number.isFinite(v));
    if (bad >= 0)
      throw new TypeError(
        `sobolIndices: ${name}[${bad}]: expected a finite number, got ${showValue((list as unknown[])[bad])}`,
      );
  }
  const n = fA.length;
  if (n < 2) throw new RangeError(`sobolIndices: f(A): expected at least 2 values, got ${n}`);
  if (fB.length !== n || fAB.length !== n)
    throw new RangeError(`sobolIndices: f(A), f(B), f(A_B) need ${n} values each`);
  if (options === null || typeof options !== 'object')
    throw new TypeError(
      `sobolIndices: expected an options object or nothing, got ${showValue(options)}`,
    );
  const { bootstrap, seed } = options;
  if (bootstrap !== undefined && !(Number.isSafeInteger(bootstrap) && bootstrap >= 1))
    throw new RangeError(
      `sobolIndices: bootstrap: expected a whole number of resamples, at least 1, got ${showValue(bootstrap)}`,
    );
  if (seed !== undefined && !Number.isSafeInteger(seed))
    throw new RangeError(`sobolIndices: seed: expected a whole number, got ${showValue(seed)}`);
  const all = Array.from({ length: n }, (_, r) => r);
  const point = estimate(fA, fB, fAB, all);
  const resamples = options.bootstrap ?? 200;
  const random = new SeededRandom(options.seed ?? 1, 7);
  const firsts: number[] = [];
  const totals: number[] = [];
  for (let b = 0; b < resamples; b++) {
    const rows = all.map(() => Math.floor(random.next() * n));
    const e = estimate(fA, fB, fAB, rows);
    firsts.push(e.first);
    totals.push(e.total);
  }
  return {
    firstOrder: point.first,
    total: point.total,
    firstOrderInterval: [quantile(firsts, 0.025), quantile(firsts, 0.975)],
    totalInterval: [quantile(totals, 0.025), quantile(totals, 0.975)],
  };
}
