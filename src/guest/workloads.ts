/**
 * Workloads: what a guest (or a host task) retires per unit of time, with
 * the ground truth of every quantity kept as it goes.
 *
 * - specint: a SPECint-like compute mix (IPC, branch and cache behaviour).
 * - fio: exit-heavy I/O: per I/O some instructions, a doorbell exit and a
 *   completion interrupt, the device completing at most `iops` per second.
 * - idle: wakeups on a timer, HLT in between.
 */
import { QUANTITY_COUNT, workQuantities, type Work } from '../hw/events.ts';
import { item } from '../common/item.ts';
import { deepFreeze } from '../common/freeze.ts';

export interface ComputeMix {
  ipc: number;
  branchesPerKilo: number;
  branchMissPercent: number;
  llcRefsPerKilo: number;
  llcMissPercent: number;
  loadsPerKilo: number;
  storesPerKilo: number;
  /** Share of instructions retired at CPL 3. */
  userPercent: number;
}

export type WorkloadSpec =
  | ({ kind: 'specint'; phaseVariation?: number } & Partial<ComputeMix>)
  | { kind: 'fio'; iops?: number; instructionsPerIo?: number; exitsPerIo?: number; ipc?: number }
  | { kind: 'idle'; wakeupsPerSecond?: number; instructionsPerWakeup?: number };

export const SPECINT_DEFAULTS: ComputeMix = deepFreeze({
  ipc: 1.5,
  branchesPerKilo: 200,
  branchMissPercent: 2,
  llcRefsPerKilo: 10,
  llcMissPercent: 30,
  loadsPerKilo: 250,
  storesPerKilo: 100,
  userPercent: 95,
});

/** Ground truth: quantities retired, by CPL (index 0: CPL 0, 1: CPL 3). */
export class Truth {
  readonly byCpl: readonly [Float64Array, Float64Array] = [
    new Float64Array(QUANTITY_COUNT),
    new Float64Array(QUANTITY_COUNT),
  ];
  private readonly scratch = new Float64Array(QUANTITY_COUNT);
  /** Reference cycles of work (the useful time). */
  workCycles = 0;

  record(work: Work, slotsPerCycle: number): void {
    workQuantities(work, slotsPerCycle, this.scratch);
    const target = this.byCpl[(work.cpl ?? 0) === 3 ? 1 : 0];
    // Non-null assertions (per unit of work): both arrays have QUANTITY_COUNT entries, i's bound.
    for (let i = 0; i < QUANTITY_COUNT; i++) target[i] = target[i]! + this.scratch[i]!;
    this.workCycles += work.refCycles ?? work.cycles ?? work.instructions;
  }

  /** Total of a quantity at the CPLs selected. */
  total(quantity: number, user: boolean, kernel: boolean): number {
    // Checked (item): Quantity.None (-1) and any other index past QUANTITY_COUNT is a caller's bug.
    return (
      (kernel ? item(this.byCpl[0], quantity) : 0) + (user ? item(this.byCpl[1], quantity) : 0)
    );
  }
}

/** Blocks of a compute mix that take `cycles` cycles: a user part and a kernel part. */
export function computeBlocks(mix: ComputeMix, cycles: number): Work[] {
  const total = Math.max(0, Math.floor(cycles));
  if (total === 0) return [];
  const userCycles = Math.floor((total * mix.userPercent) / 100);
  // Two parts, user first, written out rather than looped over a list of
  // pairs: this runs per chunk of guest work, and the pairs were garbage.
  const blocks: Work[] = [];
  if (userCycles > 0) blocks.push(computeBlock(mix, 3, userCycles));
  if (total - userCycles > 0) blocks.push(computeBlock(mix, 0, total - userCycles));
  return blocks;
}

/** One part of computeBlocks: `c` cycles of the mix at one CPL. */
function computeBlock(mix: ComputeMix, cpl: 0 | 3, c: number): Work {
  const instructions = Math.max(1, Math.floor(c * mix.ipc));
  const branches = Math.floor((instructions * mix.branchesPerKilo) / 1000);
  const llcRefs = Math.floor((instructions * mix.llcRefsPerKilo) / 1000);
  return {
    instructions,
    cycles: c,
    refCycles: c,
    branches,
    branchMisses: Math.floor((branches * mix.branchMissPercent) / 100),
    llcReferences: llcRefs,
    llcMisses: Math.floor((llcRefs * mix.llcMissPercent) / 100),
    loads: Math.floor((instructions * mix.loadsPerKilo) / 1000),
    stores: Math.floor((instructions * mix.storesPerKilo) / 1000),
    cpl,
  };
}

/** A program phase: the mix with its rates varied by `jitter()` factors (truth follows the varied mix). */
export function phaseMix(mix: ComputeMix, jitter: () => number): ComputeMix {
  return {
    ...mix,
    ipc: mix.ipc * jitter(),
    branchesPerKilo: mix.branchesPerKilo * jitter(),
    branchMissPercent: Math.min(100, mix.branchMissPercent * jitter()),
    llcRefsPerKilo: mix.llcRefsPerKilo * jitter(),
    llcMissPercent: Math.min(100, mix.llcMissPercent * jitter()),
  };
}

export function specintMix(spec: Partial<ComputeMix>): ComputeMix {
  const mix = { ...SPECINT_DEFAULTS };
  for (const key of Object.keys(SPECINT_DEFAULTS) as (keyof ComputeMix)[]) {
    const value = spec[key];
    if (value !== undefined) mix[key] = value;
  }
  return mix;
}

/** The kernel-side compute of one I/O (driver, block layer): a kernel-only mix. */
export function ioBlocks(instructions: number, ipc: number): Work[] {
  const cycles = Math.max(1, Math.floor(instructions / ipc));
  return computeBlocks(ioMix(ipc), cycles);
}

/** The instruction mix of I/O and wake-up work: the SPECint-like mix, half in the kernel. */
export function ioMix(ipc: number): ComputeMix {
  return { ...SPECINT_DEFAULTS, ipc, userPercent: 50 };
}
