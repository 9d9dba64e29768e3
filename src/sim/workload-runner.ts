/**
 * The guest workload driver: runs a workload (specint, fio, idle wakeups) on
 * a CPU until a deadline, recording the ground truth of what it retired.
 */
import type { PhysicalCpu } from '../hw/cpu.ts';
import type { Work } from '../hw/events.ts';
import {
  Truth,
  computeBlocks,
  ioMix,
  phaseMix,
  specintMix,
  type ComputeMix,
  type WorkloadSpec,
} from '../guest/workloads.ts';
import type { SeededRandom } from './random.ts';

/** What a workload does through the CPU that runs it (a guest's, or a test's). */
export interface WorkloadActions {
  exec(work: Work): void;
  hlt(): void;
  io(): void;
  completion(): void;
}

/**
 * Compute is retired in chunks of at most this much time, so that what the
 * chunk costs (exits, PMIs) cannot carry the run far past a deadline, and a
 * program phase lasts this long.
 */
const CHUNK_NS = 250_000;

export class WorkloadRunner {
  readonly truth = new Truth();
  idleCycles = 0;
  private nextIoNs = 0;
  /**
   * The current I/O's (or wake-up's) work still to retire, in cycles: it is
   * retired a chunk at a time, so the run ends at its duration whatever work
   * is in flight (an I/O of 10^16 instructions does not simulate days).
   */
  private inFlightCycles = 0;
  /** When the I/O in flight was started. */
  private ioStartedNs = 0;

  constructor(
    readonly spec: WorkloadSpec,
    private readonly cpu: PhysicalCpu,
    private readonly random: SeededRandom,
  ) {}

  /** Retire work through `exec` until the CPU clock reaches `deadlineNs`. */
  runUntil(deadlineNs: number, run: WorkloadActions): void {
    const cpu = this.cpu;
    const hz = cpu.model.tscHz;
    const spec = this.spec;
    if (spec.kind === 'specint') {
      const base = specintMix(spec);
      const spread = spec.phaseVariation ?? 0;
      const jitter = () => this.random.jitter(spread);
      while (cpu.nowNs < deadlineNs) {
        const ns = Math.min(CHUNK_NS, deadlineNs - cpu.nowNs);
        const cycles = Math.max(1, Math.floor((ns * hz) / 1e9));
        const mix = spread > 0 ? phaseMix(base, jitter) : base;
        this.retireBlocks(computeBlocks(mix, cycles), run);
      }
      return;
    }
    if (spec.kind === 'fio') {
      const iops = spec.iops ?? 20_000;
      const perIo = spec.instructionsPerIo ?? 20_000;
      const doorbells = Math.max(1, (spec.exitsPerIo ?? 2) - 1);
      const ipc = spec.ipc ?? 1;
      while (cpu.nowNs < deadlineNs) {
        if (this.inFlightCycles === 0) {
          this.ioStartedNs = cpu.nowNs;
          this.inFlightCycles = Math.max(1, Math.floor(perIo / ipc));
        }
        if (!this.retireInFlight(run, ipc)) continue;
        for (let d = 0; d < doorbells; d++) run.io();
        // The device completes no faster than its IOPS: the guest halts until then.
        this.nextIoNs = Math.max(this.ioStartedNs + 1e9 / iops, cpu.nowNs);
        if (cpu.nowNs < this.nextIoNs) this.idle(run, this.nextIoNs);
        run.completion();
      }
      return;
    }
    const wakeups = spec.wakeupsPerSecond ?? 100;
    const perWakeup = spec.instructionsPerWakeup ?? 5000;
    while (cpu.nowNs < deadlineNs) {
      if (this.inFlightCycles === 0) {
        const next = Math.min(deadlineNs, Math.max(this.nextIoNs, cpu.nowNs));
        if (cpu.nowNs < next) this.idle(run, next);
        if (cpu.nowNs >= deadlineNs) break;
        this.inFlightCycles = Math.max(1, Math.floor(perWakeup));
      }
      if (this.retireInFlight(run, 1)) this.nextIoNs = cpu.nowNs + 1e9 / wakeups;
    }
  }

  /**
   * Retire the work in flight, at most CHUNK_NS of it; whether it is done.
   * Work shorter than a chunk (the usual I/O) is one piece, as it always was.
   */
  private retireInFlight(run: WorkloadActions, ipc: number): boolean {
    const chunk = Math.max(1, Math.floor((CHUNK_NS * this.cpu.model.tscHz) / 1e9));
    const cycles = Math.min(this.inFlightCycles, chunk);
    if (this.ioMixCache === null || this.ioMixCache.ipc !== ipc) this.ioMixCache = ioMix(ipc);
    this.retireBlocks(computeBlocks(this.ioMixCache, cycles), run);
    this.inFlightCycles -= cycles;
    return this.inFlightCycles === 0;
  }

  /** The I/O mix of the last retireInFlight: its IPC does not change within a run. */
  private ioMixCache: ComputeMix | null = null;

  /** Record each block as truth, then retire it through the workload's CPU. */
  private retireBlocks(blocks: Work[], run: WorkloadActions): void {
    const slots = this.cpu.model.topdownSlotsPerCycle;
    for (const block of blocks) {
      this.truth.record(block, slots);
      run.exec(block);
    }
  }

  private idle(run: { hlt(): void }, untilNs: number): void {
    run.hlt();
    const cycles = Math.max(
      0,
      Math.ceil(((untilNs - this.cpu.nowNs) * this.cpu.model.tscHz) / 1e9),
    );
    this.cpu.stall(cycles);
    this.idleCycles += cycles;
  }
}
