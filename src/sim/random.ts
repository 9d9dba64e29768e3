/**
 * The simulator's pseudo-random numbers: a small seeded generator
 * (mulberry32), so a scenario's seed reproduces a run exactly and another
 * seed gives another sample of the same workload.
 */
export class SeededRandom {
  private state: number;

  constructor(seed: number, stream = 0) {
    // Mix the stream (e.g. a guest's index) in so guests do not share a sequence.
    this.state =
      (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(stream + 1, 0xc2b2ae35)) >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** A factor in [1 - spread, 1 + spread]. */
  jitter(spread: number): number {
    return 1 + spread * (2 * this.next() - 1);
  }
}
