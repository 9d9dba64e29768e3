/**
 * One state's successors under the explorer's reductions, shared by the
 * depth-first search (search.ts) and the level-synchronous parallel search
 * (level-search.ts), so that both walk exactly the same reduced graph:
 *
 *   prepare()    which threads are enabled, and the one that may run alone
 *                (footprints.ts: a persistent set of one thread), chosen from
 *                the state only, never from the order the search met it in;
 *   expands()    whether thread t's transition is one the reduced graph keeps;
 *   successor()  the successor by thread t, canonicalized (thread slots
 *                sorted within their class, then the mirror image when that
 *                is smaller) and fingerprinted into hashHi / hashLo.
 *
 * Because every choice depends on the state alone, any traversal that
 * expands each state it stores exactly once visits the same states and takes
 * the same transitions: the order only changes which thread finds a state first.
 */
import type { Engine } from './engine.ts';
import { Footprints } from './footprint.ts';
import { Mirror } from './mirror-symmetry.ts';
import { Violation } from './properties.ts';

export interface Reductions {
  /** Run a lone thread alone when footprints allow it (ignored when the model has loops or a bound). */
  por: boolean;
  /** With the engine's symmetry, also the mirror symmetry when the model has one (default on). */
  mirror?: boolean;
  /** A preemption bound is in force: the state carries two more words, and no lone thread is chosen. */
  bounded?: boolean;
}

/** prepare()'s lone thread when every enabled thread is expanded. */
export const EXPAND_ALL = -1;

// Non-null assertions read the W words of a state at offsets the caller
// passes inside its arrays.
export class Expander {
  private readonly symmetric: boolean;
  private readonly mirror: Mirror | null;
  private readonly footprints: Footprints | null;
  /** Set by prepare(): the thread that runs alone, or EXPAND_ALL. */
  lone = EXPAND_ALL;
  /** Set by successor(): the successor's fingerprint. */
  hashHi = 0;
  hashLo = 0;

  constructor(
    readonly engine: Engine,
    reductions: Reductions,
    /** Words per state: the engine's, plus the bounded search's two. */
    readonly words = engine.words,
  ) {
    this.symmetric = engine.options.symmetry;
    this.mirror = this.symmetric && reductions.mirror !== false ? Mirror.of(engine) : null;
    const usable = reductions.por && !engine.hasLoops && reductions.bounded !== true;
    this.footprints = usable ? new Footprints(engine) : null;
  }

  /**
   * The mask of enabled threads of the state at `base` (0: none, the state is
   * terminal), and `lone` for it.
   */
  prepare(state: Int32Array, base: number): number {
    const engine = this.engine;
    let mask = 0;
    for (let t = 0; t < engine.threads; t++) if (engine.enabled(state, base, t)) mask |= 1 << t;
    this.lone =
      mask !== 0 && this.footprints !== null
        ? this.footprints.loneThread(state, base, mask)
        : EXPAND_ALL;
    return mask;
  }

  /** Whether the reduced graph keeps thread t's transition out of the state at `base`. */
  expands(state: Int32Array, base: number, mask: number, lone: number, t: number): boolean {
    if ((mask & (1 << t)) === 0) return false;
    if (lone >= 0 && t !== lone) return false;
    // Two identical slots of one class have symmetric successors: expand the first.
    if (this.symmetric && this.engine.sameClassAsPrevious[t] === 1) {
      const th = base + this.engine.threadBase + t;
      if (state[th] === state[th - 1] && (mask & (1 << (t - 1))) !== 0) return false;
    }
    return true;
  }

  /**
   * Copies the state at `from` in `source` to `to` in `target` and runs
   * thread t's transition on the copy. Returns the violation it makes; on
   * None the copy is canonical and fingerprinted, unless `canonical` is false
   * (the bounded search first updates its two extra words, then calls finish()).
   */
  successor(
    source: Int32Array,
    from: number,
    target: Int32Array,
    to: number,
    t: number,
    canonical = true,
  ): Violation {
    const W = this.words;
    for (let i = 0; i < W; i++) target[to + i] = source[from + i]!;
    const v = this.engine.step(target, to, t);
    if (v === Violation.None && canonical) this.finish(target, to);
    return v;
  }

  /** Canonicalizes the state at `at` and fingerprints it. */
  finish(states: Int32Array, at: number): void {
    const engine = this.engine;
    if (this.symmetric) engine.canonicalize(states, at);
    if (this.mirror !== null) this.mirror.canonicalize(states, at);
    engine.hash(states, at, this.words);
    this.hashHi = engine.hashHi;
    this.hashLo = engine.hashLo;
  }
}
