/**
 * A direct-mapped cache of fingerprints known to be in a visited-state table
 * (fingerprint-table.ts, shared-fingerprint-table.ts), slot picked by the
 * second half (the tables pick theirs by the first): a hit answers "not new"
 * without probing the table, whose slots are a cache miss each once it
 * outgrows the processor's caches. It holds only fingerprints the table
 * holds, so it never answers wrongly. (0, 0) marks an empty slot, so the
 * tables keep that fingerprint away from it.
 */
export class RecentFingerprints {
  private readonly slots: Int32Array;
  private readonly mask: number;

  /** A cache of `entries` fingerprints (a power of two). */
  constructor(entries: number) {
    this.slots = new Int32Array(2 * entries);
    this.mask = entries - 1;
  }

  /**
   * Whether (hi, lo) is in the cache; if not, it is recorded there (the caller
   * is about to store it, or has found it in the table). Halves are read as
   * 32 bits, signed or not.
   */
  seen(hi: number, lo: number): boolean {
    hi |= 0;
    lo |= 0;
    const slots = this.slots;
    const r = 2 * (lo & this.mask);
    if (slots[r] === hi && slots[r + 1] === lo) return true;
    slots[r] = hi;
    slots[r + 1] = lo;
    return false;
  }

  clear(): void {
    this.slots.fill(0);
  }
}
