/**
 * The counting engine shared by the Intel and AMD PMU models: a bank of
 * counters, each decoded (at MSR-write time) into plain numbers in typed
 * arrays, so that retiring a block of work costs O(counters) whatever its
 * size, and allocates nothing (docs/architecture.md principle 4).
 *
 * Overflow lands at the exact event that wraps: the block is split there, the
 * overflow is reported (the PMU sets status and may raise a PMI, whose handler
 * runs synchronously and may reprogram anything), then the rest of the block
 * is counted with whatever is programmed by then.
 */
import { QUANTITY_COUNT, Quantity } from './events.ts';

/** CPL bits of `cplMask`. */
export const COUNT_CPL0 = 1;
export const COUNT_CPL3 = 2;
/** Mode bits of `modeMask`. */
export const COUNT_HOST = 1;
export const COUNT_GUEST = 2;

export interface OverflowSink {
  /**
   * Called with the counters that wrapped (bit i = counter i of the bank),
   * at the exact point in the block. `interrupt` is true when one of them has
   * its interrupt enable set.
   */
  overflow(wrapped: number, interrupt: boolean): void;
}

const MAX_NESTING = 8;
/** Counters a bank can hold: overflows are reported as a 32-bit mask. */
export const MAX_BANK_COUNTERS = 32;

export class CounterBank {
  // Non-null assertions read typed arrays at indices in range by construction:
  // per-counter arrays (`size` entries) at i < size (the loops; counts() and
  // blockEvents() are called from them, firstCounter is such an i); quantity
  // arrays (QUANTITY_COUNT) at a Quantity: a constant, k < QUANTITY_COUNT, or
  // quantity[i] (the PMUs store Quantity values) where counts() saw it >= 0;
  // `scratch` (MAX_NESTING) at depth - 1, depth <= MAX_NESTING being checked
  // in retire(). The retire loop is the hottest code in the model: no checks.
  readonly size: number;
  /** Current counter values, each in [0, limit). */
  readonly value: Float64Array;
  /** 2^width. */
  readonly limit: Float64Array;
  /** Quantity counted (Quantity.None: counts nothing the model knows). */
  readonly quantity: Int8Array;
  readonly cplMask: Uint8Array;
  readonly modeMask: Uint8Array;
  readonly cmask: Uint8Array;
  readonly invert: Uint8Array;
  readonly interrupt: Uint8Array;
  /** Locally and globally enabled: recomputed by the PMU on control writes. */
  readonly active: Uint8Array;

  /** Scratch blocks, one per nesting level (a PMI handler may retire work). */
  private readonly scratch: Float64Array[] = [];
  private depth = 0;
  private readonly add: Float64Array;

  constructor(size: number) {
    if (!Number.isInteger(size) || size < 0 || size > MAX_BANK_COUNTERS)
      throw new RangeError(`counter bank: ${size} counters (0 to ${MAX_BANK_COUNTERS} supported)`);
    this.size = size;
    this.value = new Float64Array(size);
    this.limit = new Float64Array(size);
    this.quantity = new Int8Array(size).fill(Quantity.None);
    this.cplMask = new Uint8Array(size);
    this.modeMask = new Uint8Array(size);
    this.cmask = new Uint8Array(size);
    this.invert = new Uint8Array(size);
    this.interrupt = new Uint8Array(size);
    this.active = new Uint8Array(size);
    this.add = new Float64Array(size);
    for (let d = 0; d < MAX_NESTING; d++) this.scratch.push(new Float64Array(QUANTITY_COUNT));
  }

  /**
   * What is left of the block being retired (at the innermost nesting level),
   * for one quantity: lets the CPU put its clock at the overflow point.
   */
  remaining(quantity: Quantity): number {
    return this.depth > 0 ? this.scratch[this.depth - 1]![quantity]! : 0;
  }

  /** Whether counter i counts at this privilege level and mode. */
  counts(i: number, cplBit: number, modeBit: number): boolean {
    return (
      this.active[i] === 1 &&
      this.quantity[i]! >= 0 &&
      (this.cplMask[i]! & cplBit) !== 0 &&
      (this.modeMask[i]! & modeBit) !== 0
    );
  }

  /** Events counter i would count over a block with quantities q. */
  private blockEvents(i: number, q: Float64Array): number {
    const events = q[this.quantity[i]!]!;
    const cmask = this.cmask[i]!;
    if (cmask === 0) return events;
    return cmaskCycles(events, q[Quantity.Cycles]!, cmask, this.invert[i] === 1);
  }

  /**
   * Retire a block whose quantities are in `quantities` (copied; not kept).
   * `cpl` is 0 or 3; `guest` selects guest-mode counting (AMD Host/GuestOnly).
   */
  retire(quantities: Float64Array, cpl: number, guest: boolean, sink: OverflowSink): void {
    if (this.depth >= MAX_NESTING)
      throw new Error('counter bank: work retired from too deeply nested PMI handlers');
    const q = this.scratch[this.depth++]!;
    q.set(quantities);
    try {
      this.retireLoop(
        q,
        cpl === 3 ? COUNT_CPL3 : COUNT_CPL0,
        guest ? COUNT_GUEST : COUNT_HOST,
        sink,
      );
    } finally {
      this.depth--;
    }
  }

  private retireLoop(q: Float64Array, cplBit: number, modeBit: number, sink: OverflowSink): void {
    const { size, value, limit, add } = this;
    for (;;) {
      // The earliest overflow, as a fraction of what is left of the block.
      let first = Infinity;
      let firstCounter = -1;
      for (let i = 0; i < size; i++) {
        if (!this.counts(i, cplBit, modeBit)) continue;
        const events = this.blockEvents(i, q);
        if (events <= 0) continue;
        const toOverflow = limit[i]! - value[i]!;
        if (toOverflow <= events) {
          const fraction = toOverflow / events;
          if (fraction < first) {
            first = fraction;
            firstCounter = i;
          }
        }
      }

      if (firstCounter < 0) {
        for (let i = 0; i < size; i++) {
          if (this.counts(i, cplBit, modeBit))
            value[i] = value[i]! + Math.floor(this.blockEvents(i, q));
        }
        return;
      }

      // Split the block at the overflowing event. The counter that wraps first
      // advances by exactly its distance to the wrap; the rest of the block's
      // quantities are split in the same proportion.
      const exactQuantity =
        this.cmask[firstCounter] === 0 ? this.quantity[firstCounter]! : Quantity.None;
      const exactEvents = limit[firstCounter]! - value[firstCounter]!;
      for (let i = 0; i < size; i++) {
        if (!this.counts(i, cplBit, modeBit)) {
          add[i] = 0;
          continue;
        }
        if (i === firstCounter) add[i] = exactEvents;
        else if (this.cmask[i] === 0 && this.quantity[i] === exactQuantity) add[i] = exactEvents;
        else add[i] = Math.floor(this.blockEvents(i, q) * first);
      }
      for (let k = 0; k < QUANTITY_COUNT; k++) {
        const taken =
          k === exactQuantity ? exactEvents : Math.min(q[k]!, Math.floor(q[k]! * first));
        q[k] = q[k]! - taken;
      }
      let wrapped = 0;
      let interrupt = false;
      for (let i = 0; i < size; i++) {
        if (add[i] === 0) continue;
        let v = value[i]! + add[i]!;
        if (v >= limit[i]!) {
          v -= limit[i]!;
          wrapped |= 1 << i;
          if (this.interrupt[i] === 1) interrupt = true;
        }
        value[i] = v;
      }
      sink.overflow(wrapped, interrupt);
    }
  }
}

/**
 * Cycles in which at least `cmask` events occur (or fewer, inverted), with
 * the events spread as evenly as possible over the cycles: a fraction of the
 * cycles see ceil(rate) events and the rest floor(rate). A documented
 * approximation of the hardware's per-cycle comparison (docs/x86-pmu.md 4).
 */
export function cmaskCycles(
  events: number,
  cycles: number,
  cmask: number,
  invert: boolean,
): number {
  if (cycles <= 0) return 0;
  const rate = events / cycles;
  const low = Math.floor(rate);
  let atLeast: number;
  if (low >= cmask) atLeast = cycles;
  else if (low + 1 >= cmask) atLeast = (rate - low) * cycles;
  else atLeast = 0;
  return invert ? cycles - atLeast : atLeast;
}
