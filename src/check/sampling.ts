/**
 * Sampling strategies: many seeded runs from the initial state, each choosing
 * one schedule. They prove nothing, but they reach deep states of models too
 * large to exhaust, and the same seed always gives the same runs.
 *
 *   random  every step, a uniformly random enabled thread;
 *   pct     probabilistic concurrency testing (Burckhardt et al., ASPLOS
 *           2010): random distinct thread priorities, the highest-priority
 *           enabled thread runs, and at d - 1 random step indices the running
 *           thread drops to a priority below all initial ones. A bug of
 *           depth d is found with probability at least 1 / (n k^(d-1)) per run.
 */
import type { Engine } from './engine.ts';
import { FingerprintTable } from './fingerprint-table.ts';
import { Violation } from './properties.ts';
import { item } from '../common/item.ts';

export interface SamplingOptions {
  strategy: 'random' | 'pct';
  seed: number;
  runs: number;
  /** PCT bug depth d (>= 1). */
  depth: number;
}

export interface SamplingResult {
  /** Distinct states seen over all runs. */
  states: number;
  transitions: number;
  runs: number;
  seconds: number;
  violation: Violation;
  violationThread: number;
  /** The violating run's schedule. */
  path: number[];
}

/** mulberry32: a small seeded PRNG; next() returns an integer in [0, n). */
export class Prng {
  private state: number;
  constructor(seed: number) {
    this.state = seed | 0;
  }
  next(n: number): number {
    let t = (this.state = (this.state + 0x6d2b79f5) | 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) % n) | 0;
  }
}

/** `engine` must be concrete (no fusion, no symmetry): the schedule is a replayable one. */
export function sample(engine: Engine, options: SamplingOptions): SamplingResult {
  const started = performance.now();
  const T = engine.threads;
  const W = engine.words;
  const state = new Int32Array(W);
  const prng = new Prng(options.seed);
  const table = new FingerprintTable(1 << 16);
  const enabled = new Int32Array(T);
  const priority = new Int32Array(T);
  const d = Math.max(1, options.depth);
  const changeAt = new Int32Array(d - 1);
  // k: an upper bound of a run's length (loop-free programs); with loops, a guess.
  const k = Math.max(1, engine.hasLoops ? 4 * engine.maxSteps : engine.maxSteps);
  const stepLimit = engine.hasLoops ? 64 * engine.maxSteps : engine.maxSteps + 1;
  let schedule = new Int32Array(stepLimit + 1);
  const result: SamplingResult = {
    states: 0,
    transitions: 0,
    runs: 0,
    seconds: 0,
    violation: Violation.None,
    violationThread: -1,
    path: [],
  };

  for (let run = 0; run < options.runs; run++) {
    result.runs++;
    let v = engine.initial(state, 0);
    let length = 0;
    if (options.strategy === 'pct') {
      // Priorities d .. d + T - 1 in a random order; change points in [1, k].
      for (let t = 0; t < T; t++) priority[t] = t;
      for (let t = T - 1; t > 0; t--) {
        const j = prng.next(t + 1);
        const x = item(priority, t);
        priority[t] = item(priority, j);
        priority[j] = x;
      }
      for (let t = 0; t < T; t++) priority[t] = item(priority, t) + d;
      for (let i = 0; i < d - 1; i++) changeAt[i] = 1 + prng.next(k);
    }
    while (v === Violation.None) {
      engine.hash(state, 0);
      table.add(engine.hashHi, engine.hashLo);
      let n = 0;
      for (let t = 0; t < T; t++) if (engine.enabled(state, 0, t)) enabled[n++] = t;
      if (n === 0) {
        v = engine.checkStuck(state, 0);
        break;
      }
      if (length >= stepLimit) break; // a run this long is in a loop: leave it to dfs
      let t: number;
      if (options.strategy === 'random') t = item(enabled, prng.next(n));
      else {
        t = pickHighest(enabled, n, priority);
        for (let i = 0; i < d - 1; i++) {
          if (changeAt[i] === length + 1) {
            priority[t] = d - 1 - i; // below every initial priority
            t = pickHighest(enabled, n, priority);
          }
        }
      }
      if (length >= schedule.length) {
        const s = new Int32Array(schedule.length * 2);
        s.set(schedule);
        schedule = s;
      }
      schedule[length++] = t;
      v = engine.step(state, 0, t);
      result.transitions++;
    }
    if (v !== Violation.None) {
      result.violation = v;
      result.violationThread = engine.violationThread;
      result.path = Array.from(schedule.subarray(0, length));
      break;
    }
  }
  result.states = table.size;
  result.seconds = (performance.now() - started) / 1000;
  return result;
}

function pickHighest(enabled: Int32Array, n: number, priority: Int32Array): number {
  let best = item(enabled, 0);
  for (let i = 1; i < n; i++) {
    const t = item(enabled, i);
    if (item(priority, t) > item(priority, best)) best = t;
  }
  return best;
}
