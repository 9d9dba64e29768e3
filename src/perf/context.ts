/**
 * struct perf_event_context: the events of one CPU (system-wide events) or
 * one task, as pinned and flexible group lists, with the context clock.
 *
 * The clock runs while the context is active on a CPU (a CPU context always;
 * a task context while its task runs). `timeguest` additionally runs while a
 * mediated guest's PMU context is loaded on that CPU (docs/mediated-vpmu.md
 * 3.2): an exclude_guest event's time is time - timeguest.
 */
import type { KernelEvent } from './event.ts';

export class EventContext {
  /** Group leaders that must always be on the PMU. */
  readonly pinned: KernelEvent[] = [];
  /** Group leaders that share the PMU by rotation. */
  readonly flexible: KernelEvent[] = [];
  time = 0;
  timeguest = 0;
  /** CPU clock (ns) at the last update, while active. */
  private timestamp = 0;
  /** The CPU the context is active on, or -1. */
  activeCpu = -1;
  /** Whether guest time is accruing (a mediated guest loaded on activeCpu). */
  guestLoaded = false;
  /** A flexible group could not be scheduled: the multiplexing timer must rotate. */
  rotateNecessary = false;

  constructor(
    readonly kind: 'cpu' | 'task',
    /** CPU number for a CPU context, pid for a task context. */
    readonly owner: number,
  ) {}

  get isActive(): boolean {
    return this.activeCpu >= 0;
  }

  /** update_context_time(): advance the clock to the CPU's `nowNs`. */
  updateTime(nowNs: number): void {
    if (this.activeCpu < 0) return;
    const delta = nowNs - this.timestamp;
    this.timestamp = nowNs;
    if (delta <= 0) return;
    this.time += delta;
    if (this.guestLoaded) this.timeguest += delta;
  }

  activate(cpu: number, nowNs: number): void {
    this.activeCpu = cpu;
    this.timestamp = nowNs;
  }

  deactivate(nowNs: number): void {
    this.updateTime(nowNs);
    this.activeCpu = -1;
  }

  /**
   * Every event in the context, groups in order, leader first: one new array
   * (perf_event_task_tick walks this per CPU per tick; a generator of
   * members() arrays was most of the garbage that tick made).
   */
  events(): KernelEvent[] {
    const all: KernelEvent[] = [];
    for (const leader of this.pinned) all.push(leader, ...leader.siblings);
    for (const leader of this.flexible) all.push(leader, ...leader.siblings);
    return all;
  }

  get isEmpty(): boolean {
    return this.pinned.length === 0 && this.flexible.length === 0;
  }

  /** rotate_ctx(): the first flexible group goes to the end. */
  rotateFlexible(): void {
    if (this.flexible.length < 2) return;
    const first = this.flexible.shift();
    if (first) this.flexible.push(first);
  }
}
