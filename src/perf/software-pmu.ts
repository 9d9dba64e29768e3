/**
 * The software PMU (kernel/events/core.c perf_swevent / cpu-clock,
 * task-clock): counts nanoseconds while the event runs. No hardware, no
 * mediated capability, never multiplexed.
 */
import { PerfError } from '../common/errors.ts';
import type { PerfEventAttr } from './attr.ts';
import type { HwConfig, KernelEvent } from './event.ts';
import { CounterlessPmu } from './pmu.ts';

const SOFTWARE_EVENTS = ['cpu-clock', 'task-clock'] as const;

export class SoftwarePmu extends CounterlessPmu {
  readonly name = 'software';

  eventInit(attr: PerfEventAttr): HwConfig {
    const name = typeof attr.config === 'number' ? SOFTWARE_EVENTS[attr.config] : attr.config;
    if (!name || !(SOFTWARE_EVENTS as readonly string[]).includes(name)) {
      throw new PerfError(
        'ENOENT',
        `software PMU has no event '${attr.config}' (expected ${SOFTWARE_EVENTS.join(', ')})`,
      );
    }
    return { config: 0n, fixedIndex: -1, gpMask: 0, fixedBits: 0, name };
  }

  /** A clock event's count is the time it has been running, in ns. */
  read(_cpu: number, event: KernelEvent): void {
    event.updateTimes();
    event.count = event.totalTimeRunning;
  }
}
