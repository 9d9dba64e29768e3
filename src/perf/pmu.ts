/**
 * struct pmu: what the perf core asks of a PMU driver. The core decides what
 * should run (contexts, groups, rotation, time); a driver decides whether it
 * fits on its counters and programs them.
 */
import type { PerfEventAttr, PerfTarget } from './attr.ts';
import type { HwConfig, KernelEvent } from './event.ts';

/** PERF_PMU_CAP_MEDIATED_VPMU, as the capability string PmuInfo lists. */
export const CAP_MEDIATED_VPMU = 'MEDIATED_VPMU';

export interface PerfPmu {
  readonly name: string;
  readonly capabilities: readonly string[];
  /** PERF_PMU_CAP_MEDIATED_VPMU: its include-guest events are accounted against mediated VMs. */
  readonly mediatedCapable: boolean;
  /** Hardware with a limited number of counters (multiplexed); software PMUs always fit. */
  readonly hasCounters: boolean;
  /** event_init: validate and decode, or throw PerfError (ENOENT: not this PMU's event). */
  eventInit(attr: PerfEventAttr, target: Required<PerfTarget>): HwConfig;
  /** Transaction around adding a group: add() collects, commitTxn() checks that all fit. */
  startTxn(cpu: number): void;
  add(cpu: number, event: KernelEvent): boolean;
  commitTxn(cpu: number): boolean;
  cancelTxn(cpu: number): void;
  /** Remove from the hardware, folding its count in. */
  del(cpu: number, event: KernelEvent): void;
  /** Fold the hardware count into event.count. */
  read(cpu: number, event: KernelEvent): void;
  /** Stop counting (throttle, period change); `update` (PERF_EF_UPDATE, the default) folds the count in. */
  stop(cpu: number, event: KernelEvent, update?: boolean): void;
  /** Restart after stop(); `reload` (PERF_EF_RELOAD, the default) reprograms the period first. */
  start(cpu: number, event: KernelEvent, reload?: boolean): void;
  /** perf_pmu_disable / perf_pmu_enable: nest; the outermost enable programs the hardware. */
  disable(cpu: number): void;
  enable(cpu: number): void;
}

/** PMUs with nothing to program: their add() always fits and enable/disable are free. */
export abstract class CounterlessPmu implements PerfPmu {
  abstract readonly name: string;
  readonly capabilities: readonly string[] = [];
  readonly mediatedCapable = false;
  readonly hasCounters: boolean = false;
  abstract eventInit(attr: PerfEventAttr, target: Required<PerfTarget>): HwConfig;
  abstract read(cpu: number, event: KernelEvent): void;
  startTxn(_cpu: number): void {}
  add(_cpu: number, _event: KernelEvent): boolean {
    return true;
  }
  commitTxn(_cpu: number): boolean {
    return true;
  }
  cancelTxn(_cpu: number): void {}
  del(cpu: number, event: KernelEvent): void {
    this.read(cpu, event);
  }
  stop(cpu: number, event: KernelEvent, update = true): void {
    if (update) this.read(cpu, event);
  }
  start(_cpu: number, _event: KernelEvent, _reload = true): void {}
  disable(_cpu: number): void {}
  enable(_cpu: number): void {}
}
