/**
 * One participant of the parallel search (parallel-search.ts): the main
 * thread or a worker thread, all running this code over one shared
 * fingerprint table.
 *
 * The search is level-synchronous breadth-first: each participant
 * expands its share of the current level, and a successor belongs to the
 * participant whose compare-and-swap stored its fingerprint, who expands it
 * in the next level. Between levels every participant waits at a barrier.
 * Claims are a race over random slots, so each participant's share of a
 * level comes out near 1/P of it; a depth-first search per thread would
 * instead leave one thread alone with the deep end of the graph.
 *
 * Every state is stored once and expanded once, by the expander's
 * state-only choices (expander.ts), so the states and transitions counted
 * are those of the depth-first search; only the order differs.
 *
 * A stored state is queued with its enabled mask and lone thread (prepared
 * when it is stored), so the transitions of the next level are known before
 * it starts: the table grows at the barrier, by every participant at once,
 * whenever they might not fit (shared-fingerprint-table.ts).
 */
import type { Engine } from './engine.ts';
import { Expander, type Reductions } from './expander.ts';
import { Violation } from './properties.ts';
import { NOT_EXPANDED, type Frontier } from './search.ts';
import { LOAD, type SharedFingerprintTable } from './shared-fingerprint-table.ts';

/** Bumped by the last participant to reach a barrier. */
export const C_GENERATION = 0;
const C_ARRIVED = 1;
/** The first violation found (0: none), and its thread. */
export const C_VIOLATION = 2;
export const C_VIOLATION_THREAD = 3;
/** 1 when the state budget ran out. */
export const C_BUDGET_SPENT = 4;
/** Workers that are ready to take a share of a level. */
export const C_READY = 5;
/** 0 until the main thread hands out shares; then GO, or QUIT (the search ended without the workers). */
export const C_START = 6;
export const GO = 1;
export const QUIT = 2;
/** 1 when a worker failed (its error is posted on its port). */
export const C_FAILED = 7;
/** Workers that have ended; one that ends while the others still count on it breaks the barrier. */
export const C_EXITED = 8;
export const CONTROL_WORDS = 9;

/**
 * Per participant i, in the shared Float64Array `tally`, 10i onwards: the
 * transitions it took; then for the level's parity p (0 or 1), at 10i + 1 + 4p,
 * the states it has stored, the states and transitions of its share of the
 * next level, and 1 if it ended its share on a stop. A participant that has
 * passed the barrier may already write the next level's counts while another
 * still reads this level's: the parity keeps them apart (no one gets two
 * barriers ahead).
 */
const TALLY = 10;
export const tallyWords = (participants: number): number => TALLY * participants;

/** How often (in states expanded) a participant publishes its counts and looks for a stop. */
const CHECK_EVERY = 1024;

/** Where a participant gets a larger table from when the search grows it. */
export interface TableSource {
  /** Main thread, before the barrier: a table of `slots` slots after `current`, also sent to the workers. */
  make?(
    current: SharedFingerprintTable,
    slots: number,
    participants: number,
  ): SharedFingerprintTable;
  /** Workers, after the barrier: the table the main thread sent. */
  receive?(current: SharedFingerprintTable): SharedFingerprintTable;
}

export interface LevelShared {
  table: SharedFingerprintTable;
  control: Int32Array;
  tally: Float64Array;
  /** Store at most this many states in all. */
  maxStates: number;
  /**
   * States stored so far by all participants, one shared word that each
   * bumps before it stores a state, so that all together store at most
   * maxStates and a search under a budget above its graph's size completes.
   * (Blocks of permits taken ahead would save the atomic operation per state
   * but can run the budget out while another thread still holds unused
   * ones.) It counts up to 2^31 - 1: a table of that many states would
   * take 32 GB.
   */
  reserved: Int32Array;
}

// Non-null assertions index the level queues below their counts times the
// entry size, and the shared arrays inside the layouts above.
export class LevelSearch {
  private readonly expander: Expander;
  private readonly W: number;
  /**
   * Words per queued state: the state, its enabled mask, its lone thread, and
   * the first thread to expand (0, or where a depth-first search handing its
   * stack over had got to).
   */
  private readonly E: number;
  private current: Int32Array;
  private currentCount = 0;
  private next: Int32Array;
  private nextCount = 0;
  private nextTransitions = 0;
  private transitions = 0;
  private stored = 0;
  /** Levels finished. */
  level = 0;
  /** Participants expanding levels now (1 until the workers join). */
  participants = 1;
  /** Set when a barrier broke: a worker failed or ended early, and the search is not whole. */
  broken = false;

  constructor(
    private readonly engine: Engine,
    reductions: Reductions,
    private readonly shared: LevelShared,
    /** This participant's index: 0 is the main thread. */
    private readonly index: number,
    private readonly tables: TableSource,
  ) {
    this.expander = new Expander(engine, reductions);
    this.W = engine.words;
    this.E = this.W + 3;
    this.current = new Int32Array(1024 * this.E);
    this.next = new Int32Array(1024 * this.E);
  }

  get table(): SharedFingerprintTable {
    return this.shared.table;
  }

  /** The initial state, stored; or its violation. Main thread only. */
  seed(): Violation {
    const v = this.engine.initial(this.next, 0);
    if (v !== Violation.None) {
      this.violated(v);
      return v;
    }
    this.expander.finish(this.next, 0);
    if (!this.reserve()) return Violation.None;
    this.shared.table.add(this.expander.hashHi, this.expander.hashLo);
    this.stored = 1;
    return this.queue() ? Violation.None : this.violationFound();
  }

  /**
   * Goes on from where a depth-first search stopped (search.ts, handOff):
   * `states` and `transitions` are its counts, its stored states are already
   * in the shared table, and its stack becomes the first level. Main thread only.
   */
  resume(frontier: Frontier, states: number, transitions: number): Violation {
    const W = this.W;
    const E = this.E;
    const frames = frontier.nextThread.length;
    this.stored = states;
    this.transitions = transitions;
    this.next = new Int32Array(Math.max(1024, frames) * E);
    this.nextCount = 0;
    this.nextTransitions = 0;
    for (let d = 0; d < frames; d++) {
      this.next.set(frontier.states.subarray(d * W, (d + 1) * W), this.nextCount * E);
      if (frontier.lone[d] === NOT_EXPANDED) {
        if (!this.queue()) return this.violationFound();
      } else this.enqueue(frontier.enabledAt[d]!, frontier.lone[d]!, frontier.nextThread[d]!);
    }
    this.publish();
    return Violation.None;
  }

  /** States this participant holds for the next level. */
  get pending(): number {
    return this.nextCount;
  }

  /**
   * Takes `states` (queued states, as split() hands them out) as this
   * participant's next level, which is level `level` of the search, expanded
   * by `participants` participants.
   */
  adopt(states: Int32Array, level: number, participants: number): void {
    this.level = level;
    this.participants = participants;
    this.next = states.length > 0 ? states : new Int32Array(1024 * this.E);
    this.nextCount = states.length / this.E;
    this.nextTransitions = 0;
    for (let k = 0; k < this.nextCount; k++) {
      this.nextTransitions += this.countExpanded(this.next, k * this.E);
    }
  }

  /**
   * Keeps 1/parts of the next level (an interleaved share) and returns the
   * other shares, for participants 1..parts-1.
   */
  split(parts: number): Int32Array[] {
    const E = this.E;
    const shares: Int32Array[] = [];
    for (let p = 0; p < parts; p++) {
      const n = Math.max(0, Math.ceil((this.nextCount - p) / parts));
      const share = new Int32Array(n * E);
      for (let k = 0; k < n; k++) {
        const from = (p + k * parts) * E;
        share.set(this.next.subarray(from, from + E), k * E);
      }
      shares.push(share);
    }
    this.adopt(shares[0]!, this.level, parts);
    return shares.slice(1);
  }

  /**
   * Expands this participant's share of the level, then waits at the barrier
   * for the others and grows the table if the next level needs it. Returns
   * false when the search is over: a violation, the budget, a failed
   * participant, or an empty next level.
   */
  step(): boolean {
    const goOn = this.expandLevel();
    // What this participant saw by the end of its share, published before the
    // barrier: a stop flag raised later (by a participant already in the next
    // level) must not make the others decide differently.
    this.publish(!goOn || this.stopped());
    this.level++;
    if (!this.barrier()) return false;
    // Every participant reads the same published counts, so all decide alike.
    const { tally } = this.shared;
    const at = 1 + 4 * ((this.level - 1) & 1);
    let nextStates = 0;
    let room = 0;
    let stop = false;
    for (let i = 0; i < this.participants; i++) {
      const own = TALLY * i + at;
      room += tally[own]! + tally[own + 2]!;
      nextStates += tally[own + 1]!;
      if (tally[own + 3] !== 0) stop = true;
    }
    if (stop || nextStates === 0) return false;
    if (room > this.shared.table.capacity * LOAD) return this.grow(room / LOAD);
    return true;
  }

  /** Whether any participant found a violation, spent the budget or failed. */
  stopped(): boolean {
    const c = this.shared.control;
    return (
      Atomics.load(c, C_VIOLATION) !== 0 ||
      Atomics.load(c, C_BUDGET_SPENT) !== 0 ||
      Atomics.load(c, C_FAILED) !== 0
    );
  }

  /** Totals over all participants, as last published: [transitions, states stored]. */
  totals(): [number, number] {
    const tally = this.shared.tally;
    let transitions = 0;
    let stored = 0;
    for (let i = 0; i < tally.length; i += TALLY) {
      transitions += tally[i]!;
      stored += Math.max(tally[i + 1]!, tally[i + 5]!);
    }
    return [transitions, stored];
  }

  private expandLevel(): boolean {
    const table = this.shared.table;
    const engine = this.engine;
    const expander = this.expander;
    const T = engine.threads;
    const E = this.E;
    const W = this.W;
    [this.current, this.next] = [this.next, this.current];
    this.currentCount = this.nextCount;
    this.nextCount = 0;
    this.nextTransitions = 0;
    const current = this.current;
    let sinceCheck = 0;
    for (let k = 0; k < this.currentCount; k++) {
      const base = k * E;
      const mask = current[base + W]!;
      const lone = current[base + W + 1]!;
      for (let t = current[base + W + 2]!; t < T; t++) {
        if (!expander.expands(current, base, mask, lone, t)) continue;
        if ((this.nextCount + 1) * E > this.next.length) {
          const grown = new Int32Array(this.next.length * 2);
          grown.set(this.next);
          this.next = grown;
        }
        const v = expander.successor(current, base, this.next, this.nextCount * E, t);
        this.transitions++;
        if (v !== Violation.None) return this.violated(v);
        if (table.add(expander.hashHi, expander.hashLo)) {
          if (!this.reserve()) return false;
          this.stored++;
          if (!this.queue()) return false;
        }
      }
      if (++sinceCheck === CHECK_EVERY) {
        sinceCheck = 0;
        if (!this.publishAndGoOn()) return false;
      }
    }
    return this.publishAndGoOn();
  }

  /** Keeps the state just written at the end of `next`: prepares it, then enqueue(). */
  private queue(): boolean {
    const at = this.nextCount * this.E;
    const mask = this.expander.prepare(this.next, at);
    if (mask === 0) {
      const v = this.engine.checkStuck(this.next, at);
      if (v !== Violation.None) return this.violated(v);
    }
    this.enqueue(mask, this.expander.lone, 0);
    return true;
  }

  /**
   * Keeps the state written at the end of `next`, with its enabled mask, lone
   * thread and first thread to expand, and counts the transitions it will take.
   */
  private enqueue(mask: number, lone: number, from: number): void {
    const at = this.nextCount * this.E;
    this.next[at + this.W] = mask;
    this.next[at + this.W + 1] = lone;
    this.next[at + this.W + 2] = from;
    this.nextTransitions += this.countExpanded(this.next, at);
    this.nextCount++;
  }

  private countExpanded(states: Int32Array, at: number): number {
    const mask = states[at + this.W]!;
    const lone = states[at + this.W + 1]!;
    const from = states[at + this.W + 2]!;
    let n = 0;
    for (let t = from; t < this.engine.threads; t++) {
      if (this.expander.expands(states, at, mask, lone, t)) n++;
    }
    return n;
  }

  private violated(v: Violation): boolean {
    const c = this.shared.control;
    if (Atomics.compareExchange(c, C_VIOLATION, 0, v) === 0) {
      Atomics.store(c, C_VIOLATION_THREAD, this.engine.violationThread);
    }
    return false;
  }

  private violationFound(): Violation {
    return Atomics.load(this.shared.control, C_VIOLATION);
  }

  /** Publishes this participant's counts; false when the search must stop. */
  private publishAndGoOn(): boolean {
    this.publish();
    return !this.stopped();
  }

  /**
   * Counts one more stored state against the budget; false (and the budget
   * flagged spent) when it is already full.
   */
  private reserve(): boolean {
    const { reserved, maxStates, control } = this.shared;
    const limit = Math.min(maxStates, 2 ** 31 - 1);
    if (Atomics.add(reserved, 0, 1) < limit) return true;
    Atomics.sub(reserved, 0, 1);
    Atomics.store(control, C_BUDGET_SPENT, 1);
    return false;
  }

  private publish(stop = false): void {
    const tally = this.shared.tally;
    const i = TALLY * this.index;
    tally[i] = this.transitions;
    const at = i + 1 + 4 * (this.level & 1);
    tally[at] = this.stored;
    tally[at + 1] = this.nextCount;
    tally[at + 2] = this.nextTransitions;
    tally[at + 3] = stop ? 1 : 0;
  }

  /**
   * Grows the table to at least `slots` slots: the main thread makes it, every
   * participant copies its stripe of the old one, and all switch to it.
   */
  private grow(slots: number): boolean {
    const made = this.tables.make?.(
      this.shared.table,
      Math.max(slots, 2 * this.shared.table.capacity),
      this.participants,
    );
    if (!this.barrier()) return false;
    const bigger = made ?? this.tables.receive?.(this.shared.table);
    if (bigger === undefined) throw new Error('internal: no table to grow into');
    this.shared.table.rehashInto(bigger, this.index, this.participants);
    if (!this.barrier()) return false;
    this.shared.table = bigger;
    return true;
  }

  private barrier(): boolean {
    if (barrier(this.shared.control, this.participants)) return true;
    this.broken = true;
    return false;
  }
}

/**
 * Waits until all `participants` have called barrier() for this generation.
 * Returns false if a worker failed or ended meanwhile.
 */
function barrier(control: Int32Array, participants: number): boolean {
  const generation = Atomics.load(control, C_GENERATION);
  if (Atomics.add(control, C_ARRIVED, 1) === participants - 1) {
    Atomics.store(control, C_ARRIVED, 0);
    Atomics.add(control, C_GENERATION, 1);
    Atomics.notify(control, C_GENERATION);
    return true;
  }
  while (Atomics.load(control, C_GENERATION) === generation) {
    if (Atomics.load(control, C_FAILED) !== 0 || Atomics.load(control, C_EXITED) !== 0)
      return false;
    Atomics.wait(control, C_GENERATION, generation, 50);
  }
  return true;
}
