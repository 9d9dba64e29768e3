/**
 * The set of visited states, as 64-bit fingerprints in an open-addressing
 * hash table over one Uint32Array (hash compaction, as TLC and Spin's -DHC
 * do). A JS Set or Map stops at 2^24 entries and allocates per entry; this
 * table stores two words per state, grows by doubling, and never allocates
 * while probing.
 *
 * Two distinct states with the same fingerprint would make the explorer skip
 * the second (an omission, never a false alarm). With n states the chance of
 * any such collision is about n^2 / 2^65: 4e-6 for 12 million states.
 * omissionProbability() reports it for a run.
 */
import { RecentFingerprints } from './recent-fingerprints.ts';

/**
 * Slots of the cache of recently added fingerprints (512 KB, about a core's
 * L2). Depth-first search meets most known states again a few transitions
 * after it first stored them (two orders of the same independent steps):
 * measured on the accounting model, 6x6x2 with every reduction, 4.9 M of the
 * 6.0 M look-ups find a known state and this cache answers 3.3 M of them
 * (2^14 slots: 2.7 M, 2^18: 4.0 M) without touching the table, whose slots
 * are a cache miss each once it outgrows the caches (256 MB at 12 M states).
 */
const RECENT = 1 << 16;
export class FingerprintTable {
  // Non-null assertions below read slot words at 2i and 2i + 1 for a slot
  // index i masked by `mask` (capacity - 1): always inside `slots`.
  /** Slot i holds (hi, lo) at words 2i, 2i+1; (0, 0) marks an empty slot. */
  private slots: Uint32Array;
  private mask: number;
  private count = 0;
  /** (0, 0) cannot live in a slot (it marks empty ones): it is kept here. */
  private zeroStored = false;
  /** Fingerprints met lately (the fingerprint (0, 0) never reaches it). */
  private readonly recent = new RecentFingerprints(RECENT);

  constructor(initialCapacity = 1 << 16) {
    let capacity = 16;
    while (capacity < initialCapacity) capacity *= 2;
    this.slots = new Uint32Array(capacity * 2);
    this.mask = capacity - 1;
  }

  get size(): number {
    return this.count;
  }

  get capacity(): number {
    return this.mask + 1;
  }

  /** Bytes held by the table. */
  get bytes(): number {
    return this.slots.byteLength;
  }

  /**
   * Adds the fingerprint (hi, lo); returns true if it was new. `hi` also picks
   * the slot, so it should be the better-mixed half.
   */
  add(hi: number, lo: number): boolean {
    hi >>>= 0;
    lo >>>= 0;
    if (hi === 0 && lo === 0) {
      if (this.zeroStored) return false;
      this.zeroStored = true;
      this.count++;
      return true;
    }
    if (this.recent.seen(hi, lo)) return false;
    const slots = this.slots;
    const mask = this.mask;
    let i = hi & mask;
    for (;;) {
      const h = slots[2 * i]!;
      const l = slots[2 * i + 1]!;
      if (h === 0 && l === 0) break;
      if (h === hi && l === lo) return false;
      i = (i + 1) & mask;
    }
    slots[2 * i] = hi;
    slots[2 * i + 1] = lo;
    if (++this.count * 2 > mask + 1) this.grow();
    return true;
  }

  has(hi: number, lo: number): boolean {
    hi >>>= 0;
    lo >>>= 0;
    if (hi === 0 && lo === 0) return this.zeroStored;
    const slots = this.slots;
    const mask = this.mask;
    for (let i = hi & mask; ; i = (i + 1) & mask) {
      const h = slots[2 * i]!;
      const l = slots[2 * i + 1]!;
      if (h === 0 && l === 0) return false;
      if (h === hi && l === lo) return true;
    }
  }

  /** Calls `visit` with every stored fingerprint, in slot order. */
  forEach(visit: (hi: number, lo: number) => void): void {
    if (this.zeroStored) visit(0, 0);
    const slots = this.slots;
    for (let j = 0; j < slots.length; j += 2) {
      const h = slots[j]!;
      const l = slots[j + 1]!;
      if (h !== 0 || l !== 0) visit(h, l);
    }
  }

  clear(): void {
    this.slots.fill(0);
    this.recent.clear();
    this.count = 0;
    this.zeroStored = false;
  }

  /** The chance that this run skipped a state by a fingerprint collision (upper bound). */
  omissionProbability(): number {
    return (this.count * this.count) / 2 ** 65;
  }

  /** Doubles the table, re-inserting the stored fingerprints (the slot comes from hi alone). */
  private grow(): void {
    const old = this.slots;
    const capacity = (this.mask + 1) * 2;
    const slots = new Uint32Array(capacity * 2);
    const mask = capacity - 1;
    for (let j = 0; j < old.length; j += 2) {
      const h = old[j]!;
      const l = old[j + 1]!;
      if (h === 0 && l === 0) continue;
      let i = h & mask;
      while (slots[2 * i] !== 0 || slots[2 * i + 1] !== 0) i = (i + 1) & mask;
      slots[2 * i] = h;
      slots[2 * i + 1] = l;
    }
    this.slots = slots;
    this.mask = mask;
  }
}
