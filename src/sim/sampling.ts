/**
 * Drawing cost models from the parameters' plausible ranges: a Latin
 * hypercube (McKay, Beckman and Conover 1979) in the unit cube, mapped onto
 * each range uniformly on a log scale (an uncertain cost is uncertain by a
 * factor: "300 to 3,000 cycles" puts as much weight below 1,000 as above),
 * and the quantiles the reports print. Everything is seeded: the same seed
 * gives the same draws.
 */
import type { SeededRandom } from './random.ts';
import { item } from '../common/item.js';

/**
 * `n` points in [0, 1)^dimensions, one row per point: in every dimension each
 * of the n equal strata [k/n, (k+1)/n) holds exactly one point.
 */
export function latinHypercube(n: number, dimensions: number, random: SeededRandom): number[][] {
  const rows = Array.from({ length: n }, () => new Array<number>(dimensions).fill(0));
  for (let j = 0; j < dimensions; j++) {
    // A Fisher-Yates shuffle of the strata, then a uniform point inside each.
    const strata = Array.from({ length: n }, (_, k) => k);
    for (let k = n - 1; k > 0; k--) {
      const m = Math.floor(random.next() * (k + 1));
      [strata[k], strata[m]] = [item(strata, m), item(strata, k)];
    }
    for (let i = 0; i < n; i++) item(rows, i)[j] = (item(strata, i) + random.next()) / n;
  }
  return rows;
}

/**
 * A unit-interval coordinate onto [low, high]: log-uniform when low > 0
 * (the value's logarithm is uniform), uniform when the range starts at 0.
 */
export function onRange(u: number, low: number, high: number): number {
  if (low === high) return low;
  if (low > 0) return low * Math.pow(high / low, u);
  return low + u * (high - low);
}

/** The q-quantile (0..1) of `values`, linearly interpolated between order statistics. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const at = q * (sorted.length - 1);
  const lo = Math.floor(at);
  const hi = Math.ceil(at);
  return item(sorted, lo) + (item(sorted, hi) - item(sorted, lo)) * (at - lo);
}

/** The 5th, 50th and 95th percentiles: a median and a 90 % interval. */
export interface Interval {
  p05: number;
  p50: number;
  p95: number;
}

export function interval(values: readonly number[]): Interval {
  return { p05: quantile(values, 0.05), p50: quantile(values, 0.5), p95: quantile(values, 0.95) };
}
