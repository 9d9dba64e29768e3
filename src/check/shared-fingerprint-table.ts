/**
 * The set of visited states shared by the threads of a parallel search: the
 * 64-bit fingerprints of fingerprint-table.ts in an open-addressing table
 * over a SharedArrayBuffer, inserted without locks. A slot is claimed by a
 * compare-and-swap of its first word from 0, so of two threads adding the
 * same fingerprint exactly one is told it is new (the lock-less shared hash
 * table of Laarman, van de Pol and Weber, "Boosting multi-core reachability
 * performance with shared hash tables", FMCAD 2010).
 *
 * The claiming thread writes the second word after the first, so a reader can
 * see a claimed slot whose second word is still 0: it waits for it. To tell
 * "not written yet" from a stored value, a fingerprint's second word is
 * stored with its low bit set and its first word is never 0 (0 is mapped to
 * a constant): 63 bits remain, and the chance of an omission (two states
 * with one fingerprint) is about n^2 / 2^64.
 *
 * No thread may probe while the table grows, so it grows only between two
 * levels of the search, when every thread waits at a barrier
 * (level-search.ts): each copies its stripe of the slots into a table twice
 * as large or more. Before a level starts, the search makes room for every
 * transition that level will take, so a table never fills up inside a level.
 */
import { RecentFingerprints } from './recent-fingerprints.ts';

/** The highest fraction of slots a search lets itself use (linear probing stays short below it). */
export const LOAD = 0.5;
/** Stands for a first word of 0, which marks an empty slot. */
const ZERO_HI = 0x9e3779b9 | 0;
/** Slots of each thread's cache of recently stored fingerprints (as in fingerprint-table.ts). */
const RECENT = 1 << 20;

export class SharedFingerprintTable {
  /** Slot i holds (hi, lo | 1) at words 2i, 2i + 1; hi = 0 marks an empty slot. */
  private readonly slots: Int32Array;
  private readonly mask: number;
  /** This thread's fingerprints met lately (never (0, 0): the second half is odd here). */
  private readonly recent: RecentFingerprints;

  /**
   * A table of at least `slots` slots (a power of two), or one over the
   * buffer another thread made; `recent` carries a thread's cache over to
   * its next, larger table.
   */
  constructor(from: number | SharedArrayBuffer, recent?: RecentFingerprints) {
    if (typeof from === 'number') {
      let capacity = 1024;
      while (capacity < from) capacity *= 2;
      this.slots = new Int32Array(new SharedArrayBuffer(capacity * 8));
    } else this.slots = new Int32Array(from);
    this.mask = this.slots.length / 2 - 1;
    this.recent = recent ?? new RecentFingerprints(RECENT);
  }

  /** A table large enough for `states` states at LOAD. */
  static forStates(states: number): SharedFingerprintTable {
    return new SharedFingerprintTable(Math.ceil(states / LOAD));
  }

  /** The buffer, to hand to the other threads. */
  get buffer(): SharedArrayBuffer {
    return this.slots.buffer as SharedArrayBuffer;
  }

  get capacity(): number {
    return this.mask + 1;
  }

  /** This table over another thread's buffer, keeping this thread's cache. */
  over(buffer: SharedArrayBuffer): SharedFingerprintTable {
    return new SharedFingerprintTable(buffer, this.recent);
  }

  /** A new, empty table of at least `slots` slots, keeping this thread's cache (for rehashInto). */
  larger(slots: number): SharedFingerprintTable {
    return new SharedFingerprintTable(slots, this.recent);
  }

  /**
   * Adds the fingerprint (hi, lo); returns true if it was new, to this thread
   * alone. Each half may come signed (the engine's hash) or unsigned (a
   * FingerprintTable's slots, which seed the table): both are read as the
   * same 32 bits.
   */
  add(hi: number, lo: number): boolean {
    hi |= 0;
    if (hi === 0) hi = ZERO_HI;
    lo |= 1;
    if (this.recent.seen(hi, lo)) return false;
    return this.claim(hi, lo);
  }

  /**
   * Copies stripe `part` of `parts` of this table's slots into `bigger`.
   * Called by every thread between levels, each with its own part.
   */
  rehashInto(bigger: SharedFingerprintTable, part: number, parts: number): void {
    const slots = this.slots;
    const capacity = this.capacity;
    const from = Math.floor((capacity * part) / parts);
    const to = Math.floor((capacity * (part + 1)) / parts);
    for (let i = from; i < to; i++) {
      const hi = slots[2 * i]!;
      if (hi !== 0) bigger.claim(hi, slots[2 * i + 1]!);
    }
  }

  // Non-null assertions: slot words 2i, 2i + 1 for i masked by `mask`.
  private claim(hi: number, lo: number): boolean {
    const slots = this.slots;
    const mask = this.mask;
    for (let i = hi & mask; ; i = (i + 1) & mask) {
      const at = 2 * i;
      let h = Atomics.load(slots, at);
      if (h === 0) {
        h = Atomics.compareExchange(slots, at, 0, hi);
        if (h === 0) {
          Atomics.store(slots, at + 1, lo);
          return true;
        }
      }
      if (h === hi) {
        // Claimed by this fingerprint's first word: wait for its second.
        let l = Atomics.load(slots, at + 1);
        while (l === 0) l = Atomics.load(slots, at + 1);
        if (l === lo) return false;
      }
    }
  }
}
