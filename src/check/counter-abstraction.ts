/**
 * `vpmu check accounting --any-n`: the per-thread properties for every
 * number of VM threads and event threads, by counter abstraction (Pnueli, Xu
 * and Zuck, "Liquid Abstraction" / counter abstraction, CAV 2002; the
 * symbolic form of Basler, Mazzucchi, Wahl and Kroening, CAV 2009).
 *
 * Threads of one class run the same program, so a state is, per class, how
 * many threads sit at each local state (a thread word: call, pc, mutexes
 * held, what it holds, its ghost flag, together with what the thread's own
 * steps have added to each shared counter so far). The abstraction keeps
 * each count exactly below a threshold k and as "k or more" (written ω)
 * above; one abstract state stands for every concrete state, of any number
 * of threads, with those saturated counts. The shared counters are not
 * stored: in the accounting every change of a counter is a thread's own
 * step, so a counter is its initial value plus the sum of the threads'
 * contributions, an interval once counts are ω. A test against zero that the
 * interval does not decide takes every branch (a representative value of
 * each outcome is fed to the same Engine.step the concrete explorer runs).
 *
 * Soundness (docs/verification.md): every concrete transition, for every
 * number of threads, is matched by an abstract transition from the
 * abstraction of its source state to the abstraction of its target (moving
 * one thread out of a count of ω leaves "k - 1 or ω" threads, both explored;
 * every thread's own effect is computed by the same Engine.step the concrete
 * explorer runs), and the properties are assertions of one thread's step over
 * values the abstraction keeps (zero-ness of counters and holder counts, the
 * thread's own word). So a property that holds on every abstract path holds
 * for every number of threads. The converse does not hold: an abstract path
 * may be spurious. A violating abstract path is therefore replayed as a
 * concrete check with as many threads per class as the path takes from
 * their initial state; only a concrete counterexample is reported as a
 * violation. If none is found, the threshold is raised (refinement) and the
 * search repeated; past the last threshold the result is "unknown".
 */
import { Engine } from './engine.ts';
import { accountingModel } from './accounting-model.ts';
import { BadInput } from './model-catalogue.ts';
import { propertyMask, Violation, type PropertyName } from './properties.ts';

/** The properties stated per thread: the ones --any-n proves. */
export const ANY_N_PROPERTIES: readonly PropertyName[] = [
  'invariant',
  'non-negative',
  'no-warn',
  'refusals',
  'mutex',
];

/** Slots per class in the scratch engine: distinct local states of a class at once, plus a twin. */
const SLOTS = 15;

/**
 * A thread's contribution to each counter (what its own steps added since
 * the start), packed 8 bits per counter around a bias: the abstract local
 * state is the thread word and this. Loop-free calls keep it small.
 */
const BIAS = 128;
const ZERO_DELTA = BIAS | (BIAS << 8) | (BIAS << 16);
function unpackDelta(delta: number, cell: number): number {
  return ((delta >>> (8 * cell)) & 0xff) - BIAS;
}
function addDelta(delta: number, cell: number, by: number): number {
  const now = unpackDelta(delta, cell) + by;
  if (now <= -BIAS || now >= BIAS) throw new RangeError('a thread moved a counter too far');
  return (delta & ~(0xff << (8 * cell))) | ((now + BIAS) << (8 * cell));
}

export interface AbstractSearch {
  verdict: 'holds' | 'violated';
  threshold: number;
  states: number;
  transitions: number;
  violation: Violation;
  /** The violating abstract path's demand: threads per class leaving their initial state. */
  threadsUsed: [number, number];
}

interface Entry {
  word: number;
  /** What threads here have added to each counter so far, packed (packDelta). */
  delta: number;
  /** 1 .. k - 1 exact, k = "k or more". */
  count: number;
}
type Classes = [Entry[], Entry[]];

interface Node {
  classes: Classes;
  parent: number;
  /** Class and thread word that moved to reach this node. */
  movedClass: number;
  movedFrom: number;
}

// Non-null assertions below index per-class pairs by a class (0 or 1), the
// abstract nodes by indices they were pushed at, the class's thread slots by a
// count bounded by their number, and states by cells and slots (see Engine).
export class CounterAbstraction {
  private readonly engine: Engine;
  /** Per class, its slots in the scratch engine. */
  private readonly slots: [number[], number[]];
  private readonly initialWord: [number, number];
  private readonly doneWord: [number, number];
  private readonly cells: number;
  private readonly scratch: Int32Array;

  constructor(
    readonly variant: string,
    readonly rounds: number,
    readonly mask: number,
  ) {
    const model = accountingModel(variant, {
      vms: SLOTS,
      events: SLOTS,
      rounds,
      exempt: 0,
      strayRelease: false,
    });
    this.engine = new Engine(model, { fuseMovers: true, symmetry: false, properties: mask });
    this.cells = model.protocol.cells.length;
    this.slots = [
      Array.from({ length: SLOTS }, (_, i) => i),
      Array.from({ length: SLOTS }, (_, i) => SLOTS + i),
    ];
    this.scratch = new Int32Array(this.engine.words);
    this.engine.initial(this.scratch, 0);
    const tb = this.engine.threadBase;
    this.initialWord = [this.scratch[tb]!, this.scratch[tb + SLOTS]!];
    this.doneWord = [this.engine.programLength[0]! << 24, this.engine.programLength[SLOTS]! << 24];
  }

  /** Every slot done, cells and ghost words zero. */
  private clear(s: Int32Array): void {
    s.fill(0);
    const tb = this.engine.threadBase;
    for (let cls = 0; cls < 2; cls++)
      for (const slot of this.slots[cls]!) s[tb + slot] = this.doneWord[cls]!;
  }

  private key(c: Classes): string {
    return c
      .map((entries) => entries.map((x) => `${x.word}:${x.delta}*${x.count}`).join(','))
      .join('|');
  }

  private normalize(entries: Entry[], k: number): Entry[] {
    const byState = new Map<string, Entry>();
    for (const x of entries) {
      if (x.count <= 0) continue;
      const id = `${x.word}:${x.delta}`;
      const known = byState.get(id);
      byState.set(id, {
        word: x.word,
        delta: x.delta,
        count: Math.min(k, (known?.count ?? 0) + x.count),
      });
    }
    return [...byState.values()].sort((a, b) => a.word - b.word || a.delta - b.delta);
  }

  /** A counter's value as an interval [lo, hi] over the concrete states the abstract one stands for. */
  private interval(c: Classes, cell: number, k: number): [number, number] {
    let lo = 0;
    let hi = 0;
    for (let cls = 0; cls < 2; cls++) {
      for (const x of c[cls]!) {
        const a = unpackDelta(x.delta, cell);
        if (a === 0) continue;
        if (x.count < k) {
          lo += a * x.count;
          hi += a * x.count;
        } else if (a > 0) {
          lo += a * k;
          hi = Infinity;
        } else {
          lo = -Infinity;
          hi += a * k;
        }
      }
    }
    return [lo, hi];
  }

  /** The abstract search at threshold k, breadth-first; stops at the first violation. */
  search(k: number): AbstractSearch & { path: Node[] } {
    const e = this.engine;
    const tb = e.threadBase;
    const visited = new Set<string>();
    const nodes: Node[] = [];
    let transitions = 0;
    // Every number of threads: each class starts with 0, 1, ..., k - 1 or "k or more".
    for (let v = 0; v <= k; v++) {
      for (let w = 0; w <= k; w++) {
        const classes: Classes = [
          this.normalize([{ word: this.initialWord[0], delta: ZERO_DELTA, count: v }], k),
          this.normalize([{ word: this.initialWord[1], delta: ZERO_DELTA, count: w }], k),
        ];
        const key = this.key(classes);
        if (visited.has(key)) continue;
        visited.add(key);
        nodes.push({ classes, parent: -1, movedClass: -1, movedFrom: 0 });
      }
    }
    for (let i = 0; i < nodes.length; i++) {
      const node = nodes[i]!;
      const intervals = Array.from({ length: this.cells }, (_, c) =>
        this.interval(node.classes, c, k),
      );
      const candidates = intervals.map(([lo, hi]) => [
        ...new Set([-1, 0, 1, 2].map((v) => Math.max(lo, Math.min(hi, v)))),
      ]);
      for (let cls = 0; cls < 2; cls++) {
        for (let m = 0; m < node.classes[cls]!.length; m++) {
          const mover = node.classes[cls]![m]!;
          for (const values of this.product(candidates)) {
            // The scratch state: one slot per entry, a twin for the mover's other threads.
            const s = this.scratch;
            this.clear(s);
            values.forEach((val, c) => (s[c] = val));
            const placed: [number, Entry][][] = [[], []];
            let moverSlot = -1;
            let twinSlot = -1;
            for (let c2 = 0; c2 < 2; c2++) {
              let used = 0;
              for (const x of node.classes[c2]!) {
                const copies = c2 === cls && x === mover && x.count > 1 ? 2 : 1;
                for (let copy = 0; copy < copies; copy++) {
                  if (used >= SLOTS) throw new BadInput('--any-n', 'too many local states at once');
                  const slot = this.slots[c2]![used++]!;
                  s[tb + slot] = x.word;
                  placed[c2]!.push([slot, x]);
                  if (c2 === cls && x === mover) {
                    if (copy === 0) moverSlot = slot;
                    else twinSlot = slot;
                  }
                }
                const held = (x.word >>> 2) & 0xff;
                for (let mu = 0; mu < 8; mu++) if ((held >> mu) & 1) s[e.mutexBase + mu] = 1;
              }
              // Holder counts: threads of this class holding what they acquired (VM side 0, events 1).
              const holding = node.classes[c2]!.reduce(
                (n, x) => n + ((x.word & 2) !== 0 ? x.count : 0),
                0,
              );
              s[e.holderBase + c2] = Math.min(holding, 2);
            }
            if (!e.enabled(s, 0, moverSlot)) continue;
            transitions++;
            const violation = e.step(s, 0, moverSlot);
            const movedTo = s[tb + moverSlot]!;
            // Only the mover changes counters: its own contribution grows by what it did.
            let movedDelta = mover.delta;
            for (let c = 0; c < this.cells; c++)
              movedDelta = addDelta(movedDelta, c, s[c]! - values[c]!);
            // Every other entry as it is now (the step may have set ghost flags).
            const rest: Entry[][] = [[], []];
            for (let c2 = 0; c2 < 2; c2++) {
              for (const [slot, x] of placed[c2]!) {
                if (slot === moverSlot) continue;
                if (slot === twinSlot) continue;
                rest[c2]!.push({ word: s[tb + slot]!, delta: x.delta, count: x.count });
              }
            }
            const twinWord = twinSlot >= 0 ? s[tb + twinSlot]! : 0;
            // Threads left behind at the mover's local state: count - 1, or, from ω, k - 1 or ω.
            const leftBehind = mover.count < k ? [mover.count - 1] : k - 1 >= 1 ? [k - 1, k] : [k];
            for (const left of leftBehind) {
              const next = [rest[0]!.slice(), rest[1]!.slice()] as Entry[][];
              next[cls]!.push({ word: movedTo, delta: movedDelta, count: 1 });
              if (left > 0) next[cls]!.push({ word: twinWord, delta: mover.delta, count: left });
              const classes: Classes = [this.normalize(next[0]!, k), this.normalize(next[1]!, k)];
              const child: Node = { classes, parent: i, movedClass: cls, movedFrom: mover.word };
              if (violation !== Violation.None) {
                const path = this.pathTo(nodes, child);
                return {
                  verdict: 'violated',
                  threshold: k,
                  states: visited.size,
                  transitions,
                  violation,
                  threadsUsed: this.threadsUsed(path),
                  path,
                };
              }
              const key = this.key(classes);
              if (visited.has(key)) continue;
              visited.add(key);
              nodes.push(child);
            }
          }
        }
      }
    }
    return {
      verdict: 'holds',
      threshold: k,
      states: visited.size,
      transitions,
      violation: Violation.None,
      threadsUsed: [0, 0],
      path: [],
    };
  }

  private *product(candidates: number[][]): Generator<number[]> {
    if (candidates.length === 0) {
      yield [];
      return;
    }
    const [first, ...rest] = candidates as [number[], ...number[][]];
    for (const tail of this.product(rest)) for (const v of first) yield [v, ...tail];
  }

  private pathTo(nodes: Node[], last: Node): Node[] {
    const path = [last];
    for (let p = last.parent; p >= 0; p = nodes[p]!.parent) path.push(nodes[p]!);
    return path.reverse();
  }

  /** Threads per class the path takes out of their initial local state (at least one per class it moves). */
  private threadsUsed(path: Node[]): [number, number] {
    const used: [number, number] = [0, 0];
    for (const node of path) {
      if (node.movedClass < 0) continue;
      if (node.movedFrom === this.initialWord[node.movedClass])
        used[node.movedClass] = (used[node.movedClass] ?? 0) + 1;
    }
    return used;
  }
}

/** The mask --any-n checks: the selected properties among the per-thread ones. */
export function anyNMask(properties: readonly PropertyName[] | null): number {
  const chosen = properties ?? ANY_N_PROPERTIES;
  for (const p of chosen) {
    if (!ANY_N_PROPERTIES.includes(p))
      throw new BadInput(
        '--properties',
        `--any-n proves the per-thread properties (${ANY_N_PROPERTIES.join(', ')}), not '${p}'`,
      );
  }
  return propertyMask(chosen);
}
