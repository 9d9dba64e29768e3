/**
 * Exhaustive search of a model's state graph.
 *
 * dfs(): depth-first, with visited states hashed into a FingerprintTable, over
 * an explicit stack of packed states (one Int32Array, no allocation per
 * state). With the engine's symmetry, states are canonicalized before
 * hashing (and replaced by their mirror image when that is smaller,
 * mirror-symmetry.ts); with `por`, a thread that can run alone (footprint.ts) is the only
 * one expanded; with `preemptions`, the search is bounded CHESS-style (the
 * last thread and the preemption count become part of the state).
 *
 * shortestViolation(): breadth-first over the *unreduced* graph (an engine
 * without fusion or symmetry), so the first violation it meets is reached by
 * a shortest schedule of single shared steps among all schedules of the model.
 */
import type { Engine } from './engine.ts';
import { Expander } from './expander.ts';
import { FingerprintTable } from './fingerprint-table.ts';
import { Violation } from './properties.ts';

export interface SearchStats {
  states: number;
  transitions: number;
  maxDepth: number;
  seconds: number;
  /** False when --max-states stopped the search before it covered the graph. */
  complete: boolean;
  omissionProbability: number;
}

export interface DfsOptions {
  /** Run a lone thread alone when footprints allow it (ignored when the model has loops). */
  por: boolean;
  /** Preemption bound (concrete engines only), or -1 for none. */
  preemptions: number;
  /** With the engine's symmetry, also the mirror symmetry when the model has one (default on). */
  mirror?: boolean;
  maxStates: number;
  onProgress?: (states: number, transitions: number, seconds: number) => void;
  /**
   * When maxStates stops the search, return its frontier too, so that the
   * parallel search can go on from there (unbounded searches only).
   */
  handOff?: boolean;
}

/**
 * Where a depth-first search stopped: the states it stored, and its stack,
 * whose frames still have successors to expand (from `nextThread` on; a
 * frame whose `lone` is NOT_EXPANDED has not been looked at yet).
 */
export interface Frontier {
  table: FingerprintTable;
  /** The frames' states, `engine.words` words each. */
  states: Int32Array;
  nextThread: Int32Array;
  enabledAt: Int32Array;
  lone: Int32Array;
}

export interface DfsResult extends SearchStats {
  violation: Violation;
  violationThread: number;
  /** The schedule to the violation (thread indices), meaningful for concrete engines. */
  path: number[];
  /** For a non-termination violation: the index in `path` where the cycle starts. */
  loopStart: number;
  /** Threads that took part (parallel-search.ts); absent for this one-thread search. */
  threads?: number;
  /** With handOff, when maxStates stopped the search: where it stopped. */
  frontier?: Frontier;
}

// Non-null assertions in the searches index the per-depth arrays below
// `depth + 2 <= capacity` (grown before each push), states at multiples of W
// inside them, and parents / `via` below `count`.
export const NOT_EXPANDED = -2;
export function dfs(engine: Engine, options: DfsOptions): DfsResult {
  const started = performance.now();
  const T = engine.threads;
  const bounded = options.preemptions >= 0;
  // A bounded search keeps (last thread, preemptions used) after the state proper.
  const W = engine.words + (bounded ? 2 : 0);
  const expander = new Expander(
    engine,
    {
      por: options.por,
      ...(options.mirror !== undefined ? { mirror: options.mirror } : {}),
      bounded,
    },
    W,
  );
  const checkCycles = engine.hasLoops;
  const table = new FingerprintTable(1 << 16);

  let capacity = 256;
  let stack = new Int32Array(capacity * W);
  let nextThread = new Int32Array(capacity);
  let lone = new Int32Array(capacity);
  let enabledAt = new Int32Array(capacity);
  let fpHi = new Int32Array(capacity);
  let fpLo = new Int32Array(capacity);

  const result: DfsResult = {
    states: 0,
    transitions: 0,
    maxDepth: 0,
    seconds: 0,
    complete: true,
    omissionProbability: 0,
    violation: Violation.None,
    violationThread: -1,
    path: [],
    loopStart: -1,
  };
  const finish = (
    violation: Violation,
    depth: number,
    thread: number,
    loopStart = -1,
  ): DfsResult => {
    result.violation = violation;
    result.violationThread = engine.violationThread;
    result.path = Array.from(nextThread.subarray(0, depth), (n) => n - 1);
    if (thread >= 0) result.path.push(thread);
    result.loopStart = loopStart;
    return done();
  };
  const handOff = (depth: number): DfsResult => {
    if (options.handOff === true && !bounded) {
      const frames = depth + 1;
      result.frontier = {
        table,
        states: stack.slice(0, frames * W),
        nextThread: nextThread.slice(0, frames),
        enabledAt: enabledAt.slice(0, frames),
        lone: lone.slice(0, frames),
      };
    }
    return done();
  };
  const done = (): DfsResult => {
    result.states = table.size;
    result.seconds = (performance.now() - started) / 1000;
    result.omissionProbability = table.omissionProbability();
    return result;
  };

  const v0 = engine.initial(stack, 0);
  if (bounded) {
    stack[engine.words] = -1;
    stack[engine.words + 1] = 0;
  }
  if (v0 !== Violation.None) return finish(v0, 0, -1);
  expander.finish(stack, 0);
  table.add(expander.hashHi, expander.hashLo);
  fpHi[0] = expander.hashHi;
  fpLo[0] = expander.hashLo;
  nextThread[0] = 0;
  lone[0] = NOT_EXPANDED;
  let depth = 0;
  // The next table size at which to report progress or stop: every 2^16
  // states, and exactly at maxStates (the one comparison on the hot path).
  const PROGRESS_EVERY = 1 << 16;
  let nextProgress = Math.min(PROGRESS_EVERY, options.maxStates);
  if (table.size >= options.maxStates) {
    // --max-states 1: the initial state is all the budget allows.
    result.complete = false;
    return handOff(0);
  }

  while (depth >= 0) {
    const base = depth * W;
    if (lone[depth] === NOT_EXPANDED) {
      const mask = expander.prepare(stack, base);
      enabledAt[depth] = mask;
      lone[depth] = expander.lone;
      if (mask === 0) {
        const v = engine.checkStuck(stack, base);
        if (v !== Violation.None) return finish(v, depth, -1);
      }
    }
    const mask = enabledAt[depth]!;
    const only = lone[depth]!;
    let t = nextThread[depth]!;
    for (; t < T; t++) {
      if (!expander.expands(stack, base, mask, only, t)) continue;
      if (bounded) {
        const last = stack[base + engine.words]!;
        if (last >= 0 && last !== t && (mask & (1 << last)) !== 0) {
          if (stack[base + engine.words + 1]! >= options.preemptions) continue;
        }
      }
      break;
    }
    if (t >= T) {
      depth--;
      continue;
    }
    nextThread[depth] = t + 1;

    if (depth + 2 > capacity) {
      capacity *= 2;
      const grow = <A extends Int32Array>(a: A, n: number): A => {
        const b = new Int32Array(n) as A;
        b.set(a);
        return b;
      };
      stack = grow(stack, capacity * W);
      nextThread = grow(nextThread, capacity);
      lone = grow(lone, capacity);
      enabledAt = grow(enabledAt, capacity);
      fpHi = grow(fpHi, capacity);
      fpLo = grow(fpLo, capacity);
    }
    const nb = base + W;
    const v = expander.successor(stack, base, stack, nb, t, !bounded);
    result.transitions++;
    if (v !== Violation.None) return finish(v, depth, t);
    if (bounded) {
      const last = stack[base + engine.words]!;
      if (last >= 0 && last !== t && (mask & (1 << last)) !== 0) stack[nb + engine.words + 1]!++;
      stack[nb + engine.words] = t;
      expander.finish(stack, nb);
    }
    const hi = expander.hashHi;
    const lo = expander.hashLo;
    if (table.add(hi, lo)) {
      depth++;
      if (depth > result.maxDepth) result.maxDepth = depth;
      nextThread[depth] = 0;
      lone[depth] = NOT_EXPANDED;
      fpHi[depth] = hi;
      fpLo[depth] = lo;
      if (table.size >= nextProgress) {
        nextProgress = Math.min(nextProgress + PROGRESS_EVERY, options.maxStates);
        if (table.size >= options.maxStates) {
          result.complete = false;
          return handOff(depth);
        }
        options.onProgress?.(table.size, result.transitions, (performance.now() - started) / 1000);
      }
    } else if (checkCycles) {
      // A back edge to a state on the stack closes a cycle: a run that never ends.
      for (let d = depth; d >= 0; d--) {
        if (fpHi[d] === hi && fpLo[d] === lo) return finish(Violation.NonTermination, depth, t, d);
      }
    }
  }
  return done();
}

export interface ShortestResult {
  /** The schedule (thread indices) of a shortest violating run, or null if none within the budget. */
  path: number[] | null;
  violation: Violation;
  /** False when the budget ran out first. */
  complete: boolean;
  states: number;
}

/**
 * Breadth-first search for a shortest violating schedule. `engine` must be
 * concrete (no fusion, no symmetry). `isTarget`, when given, also ends the
 * search at the first state it accepts (used to reach the start of a cycle).
 */
export function shortestViolation(
  engine: Engine,
  maxStates: number,
  isTarget?: (state: Int32Array, offset: number) => boolean,
): ShortestResult {
  const W = engine.words;
  const T = engine.threads;
  let capacity = 1 << 12;
  let states = new Int32Array(capacity * W);
  let parent = new Int32Array(capacity);
  let via = new Int8Array(capacity);
  const table = new FingerprintTable(1 << 16);
  let count = 1;
  const pathTo = (i: number, last: number): number[] => {
    const path: number[] = [];
    if (last >= 0) path.push(last);
    for (let j = i; j > 0; j = parent[j]!) path.push(via[j]!);
    return path.reverse();
  };
  const v0 = engine.initial(states, 0);
  if (v0 !== Violation.None) return { path: [], violation: v0, complete: true, states: 1 };
  if (isTarget?.(states, 0))
    return { path: [], violation: Violation.None, complete: true, states: 1 };
  engine.hash(states, 0);
  table.add(engine.hashHi, engine.hashLo);
  for (let i = 0; i < count; i++) {
    const base = i * W;
    let any = false;
    for (let t = 0; t < T; t++) {
      if (!engine.enabled(states, base, t)) continue;
      any = true;
      if (count + 1 > capacity) {
        if (count >= maxStates)
          return { path: null, violation: Violation.None, complete: false, states: count };
        capacity *= 2;
        const s = new Int32Array(capacity * W);
        s.set(states);
        states = s;
        const p = new Int32Array(capacity);
        p.set(parent);
        parent = p;
        const b = new Int8Array(capacity);
        b.set(via);
        via = b;
      }
      const nb = count * W;
      states.copyWithin(nb, base, base + W);
      const v = engine.step(states, nb, t);
      if (v !== Violation.None)
        return { path: pathTo(i, t), violation: v, complete: true, states: count };
      engine.hash(states, nb);
      if (!table.add(engine.hashHi, engine.hashLo)) continue;
      parent[count] = i;
      via[count] = t;
      count++;
      if (isTarget?.(states, nb))
        return {
          path: pathTo(count - 1, -1),
          violation: Violation.None,
          complete: true,
          states: count,
        };
    }
    if (!any) {
      const v = engine.checkStuck(states, base);
      if (v !== Violation.None)
        return { path: pathTo(i, -1), violation: v, complete: true, states: count };
    }
  }
  return { path: null, violation: Violation.None, complete: true, states: count };
}
