/**
 * perf's two per-CPU timers (kernel/events/core.c): the multiplexing hrtimer
 * (perf_mux_hrtimer_handler; perf_mux_hrtimer_restart arms it when a flexible
 * group could not go on, to fire perf_event_mux_interval_ms later) and the
 * scheduler tick that calls perf_event_task_tick every 1/CONFIG_HZ. Each
 * deadline is in ns on its CPU's own clock. What the timers do when they fire
 * (rotation, unthrottling, frequency adjustment) is the core's (core.ts).
 */

/** Bit of PerfTimers.expire's result: the multiplexing hrtimer fired. */
export const MUX_TIMER = 1;
/** Bit of PerfTimers.expire's result: the tick fired. */
export const TICK_TIMER = 2;

export class PerfTimers {
  // Non-null assertions read the deadlines (startNs.length entries each, from
  // the constructor) at a cpu below that: the core's CPUs (core.ts states
  // why), one per startNs entry. The timer path is hot: no checked lookup.
  /** CONFIG_HZ. */
  readonly hz: number;
  readonly tickNs: number;
  /** perf_event_mux_interval_ms, in ns. */
  readonly muxIntervalNs: number;
  /**
   * Infinity: the multiplexing hrtimer is not armed. Both deadline arrays have
   * one entry per CPU and are indexed with `!` by a CPU the core validated.
   */
  private readonly muxDeadlineNs: number[];
  private readonly tickDeadlineNs: number[];

  /**
   * `startNs`: each CPU's clock now (the first tick is one period later).
   * `hz` defaults to 250 (the upstream default), the multiplexing interval to
   * one tick (perf_event_mux_interval_ms = PERF_CPU_HRTIMER = 1000 / HZ).
   */
  constructor(startNs: readonly number[], hz = 250, muxIntervalMs = 1000 / hz) {
    this.hz = hz;
    this.tickNs = 1e9 / hz;
    this.muxIntervalNs = muxIntervalMs * 1e6;
    this.muxDeadlineNs = startNs.map(() => Infinity);
    this.tickDeadlineNs = startNs.map((now) => now + this.tickNs);
  }

  /** perf_mux_hrtimer_restart: arm the multiplexing timer unless it is armed already. */
  armMux(cpu: number, nowNs: number): void {
    if (this.muxDeadlineNs[cpu] === Infinity) this.muxDeadlineNs[cpu] = nowNs + this.muxIntervalNs;
  }

  /** The next time (ns on this CPU's clock) a timer fires. */
  next(cpu: number): number {
    return Math.min(this.tickDeadlineNs[cpu]!, this.muxDeadlineNs[cpu]!);
  }

  /**
   * The timers due at `nowNs` fire: the multiplexing timer disarms (the
   * handler re-arms it if rotation is still needed), the tick moves on by
   * whole periods (ticks missed while the CPU was elsewhere are not replayed).
   * Returns MUX_TIMER | TICK_TIMER bits of those that fired; the caller runs
   * the multiplexing handler before the tick, as the bits are ordered.
   */
  expire(cpu: number, nowNs: number): number {
    let fired = 0;
    if (nowNs >= this.muxDeadlineNs[cpu]!) {
      this.muxDeadlineNs[cpu] = Infinity;
      fired |= MUX_TIMER;
    }
    let tick = this.tickDeadlineNs[cpu]!;
    if (nowNs >= tick) {
      while (tick <= nowNs) tick += this.tickNs;
      this.tickDeadlineNs[cpu] = tick;
      fired |= TICK_TIMER;
    }
    return fired;
  }
}
