/**
 * An uncore PMU (Intel 'uncore_imc' memory controller, AMD 'amd_df' data
 * fabric): counts memory traffic of the whole CPU, host and guest alike, so it
 * has no exclude bits (not even exclude_guest / exclude_host:
 * PERF_PMU_CAP_NO_EXCLUDE), no sampling, no task events and no mediated capability.
 * It keeps counting while a mediated guest runs (docs/mediated-vpmu.md 3.2).
 * Its counters are free-running hardware (modelled as the CPU's
 * `uncoreDataReads`); a box has four.
 */
import { PerfError } from '../common/errors.ts';
import type { PerfEventAttr, PerfTarget } from './attr.ts';
import type { HwConfig, KernelEvent } from './event.ts';
import { CounterlessPmu } from './pmu.ts';

export const UNCORE_COUNTERS = 4;

export class UncorePmu extends CounterlessPmu {
  // Non-null assertions read `active`, `txn` and `cpus` (cpus.length entries
  // each: the first two are mapped from `cpus`) at a cpu below cpus.length:
  // the core's CPUs (core.ts states why), the same `cpus` it was given.
  override readonly hasCounters = true;
  private readonly active: Set<KernelEvent>[];
  /** Events added by the open transaction, removed again if it is cancelled. */
  private readonly txn: KernelEvent[][];

  constructor(
    readonly name: string,
    private readonly eventName: string,
    /** One per CPU; `active` and `txn` likewise: indexed with `!` by a CPU the core validated. */
    private readonly cpus: readonly { readonly uncoreDataReads?: number }[],
  ) {
    super();
    this.active = cpus.map(() => new Set());
    this.txn = cpus.map(() => []);
  }

  eventInit(attr: PerfEventAttr, target: Required<PerfTarget>): HwConfig {
    if (attr.config !== this.eventName && attr.config !== 0) {
      throw new PerfError(
        'ENOENT',
        `${this.name} has no event '${attr.config}' (expected '${this.eventName}')`,
      );
    }
    if (target.cpu < 0)
      throw new PerfError('EINVAL', `${this.name} events count per CPU: a CPU is required`);
    if (target.pid >= 0) throw new PerfError('EINVAL', `${this.name} events cannot follow a task`);
    // PERF_PMU_CAP_NO_EXCLUDE: perf_try_init_event refuses any exclude bit
    // (event_has_any_exclude_flag), exclude_guest and exclude_host included.
    if (attr.excludeUser || attr.excludeKernel || attr.excludeGuest || attr.excludeHost) {
      throw new PerfError(
        'EINVAL',
        `${this.name} counts at every privilege level, host and guest alike: exclude bits are refused`,
      );
    }
    if (attr.samplePeriod !== undefined || attr.sampleFreq !== undefined) {
      throw new PerfError('EINVAL', `${this.name} cannot sample`);
    }
    return { config: 0n, fixedIndex: -1, gpMask: 0, fixedBits: 0, name: this.eventName };
  }

  override startTxn(cpu: number): void {
    this.txn[cpu]!.length = 0;
  }

  override add(cpu: number, event: KernelEvent): boolean {
    const active = this.active[cpu]!;
    if (active.size >= UNCORE_COUNTERS) return false;
    active.add(event);
    this.txn[cpu]!.push(event);
    event.prevCount = this.cpus[cpu]!.uncoreDataReads ?? 0;
    return true;
  }

  override cancelTxn(cpu: number): void {
    const active = this.active[cpu]!;
    const txn = this.txn[cpu]!;
    for (const event of txn) active.delete(event);
    txn.length = 0;
  }

  override del(cpu: number, event: KernelEvent): void {
    this.read(cpu, event);
    this.active[cpu]!.delete(event);
  }

  read(cpu: number, event: KernelEvent): void {
    if (!this.active[cpu]!.has(event)) return;
    const now = this.cpus[cpu]!.uncoreDataReads ?? 0;
    event.count += now - event.prevCount;
    event.prevCount = now;
  }
}
