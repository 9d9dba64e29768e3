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

  /**
   * The context time at which each scheduled-in clock event last counted
   * (hw.prev_count). A clock counts the context's own time while it is on
   * the PMU: cpu_clock_event_update() adds local_clock() deltas and
   * task_clock_event_update() ctx->time deltas, neither minus the guest's
   * time. So an exclude_guest clock (cpu-clock:H), which EVENT_GUEST does not
   * schedule out (perf_skip_pmu_ctx: no mediated capability), counts through
   * guest time while its time_enabled / time_running leave it out
   * (__perf_event_time_ctx).
   */
  private readonly lastCounted = new WeakMap<KernelEvent, number>();

  override add(_cpu: number, event: KernelEvent): boolean {
    this.lastCounted.set(event, event.ctx.time);
    return true;
  }

  override start(_cpu: number, event: KernelEvent): void {
    if (!this.lastCounted.has(event)) this.lastCounted.set(event, event.ctx.time);
  }

  override stop(cpu: number, event: KernelEvent, update = true): void {
    if (update) this.read(cpu, event);
    this.lastCounted.delete(event);
  }

  override del(cpu: number, event: KernelEvent): void {
    this.read(cpu, event);
    this.lastCounted.delete(event);
  }

  /** A clock event's count: nanoseconds of its context's time while on the PMU. */
  read(_cpu: number, event: KernelEvent): void {
    event.updateTimes();
    const last = this.lastCounted.get(event);
    if (last === undefined) return;
    const now = event.ctx.time;
    event.count += now - last;
    this.lastCounted.set(event, now);
  }
}
