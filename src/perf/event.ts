/**
 * struct perf_event: one counter a user (or KVM) opened, its state, its
 * count and its enabled / running times.
 *
 * Time is kept as in kernel/events/core.c: every event has a timestamp on its
 * context's clock and, whenever its state changes or it is read, the time
 * since then is added to total_time_enabled (state >= INACTIVE) and
 * total_time_running (ACTIVE). Every exclude_guest event, whatever its PMU,
 * runs on the context's host clock (time - timeguest), so the guest's time
 * counts toward neither (__perf_event_time_ctx; docs/mediated-vpmu.md 3.2).
 */
import type { PerfEventAttr } from './attr.ts';
import type { EventContext } from './context.ts';
import type { PerfPmu } from './pmu.ts';

/** PERF_EVENT_STATE_*. */
export const enum EventState {
  Dead = -4,
  Error = -2,
  Off = -1,
  Inactive = 0,
  Active = 1,
}

export const STATE_NAMES: Readonly<
  Record<EventState, 'dead' | 'error' | 'off' | 'inactive' | 'active'>
> = {
  [EventState.Dead]: 'dead',
  [EventState.Error]: 'error',
  [EventState.Off]: 'off',
  [EventState.Inactive]: 'inactive',
  [EventState.Active]: 'active',
};

/** What a PMU decoded from the attr at event_init time (struct hw_perf_event's config part). */
export interface HwConfig {
  /** Event-select value to program (without the enable bit). */
  config: bigint;
  /** Fixed counter that can count this event, or -1. */
  fixedIndex: number;
  /** The GP counters that can count it (bit i: counter i; 0: none), after the model's constraints. */
  gpMask: number;
  /** FIXED_CTR_CTRL nibble when on a fixed counter (OS/USR/PMI). */
  fixedBits: number;
  /** Human-readable event name for reports. */
  name: string;
}

/** The kernel's overflow handler hook (KVM's kvm_perf_overflow for its backing events). */
export type OverflowHandler = (event: KernelEvent) => void;

export class KernelEvent {
  state: EventState;
  /** Accumulated count (fits exactly in a double far beyond any run's length). */
  count = 0;
  totalTimeEnabled = 0;
  totalTimeRunning = 0;
  /** Timestamp on this event's clock at the last time update. */
  tstamp = 0;
  readonly siblings: KernelEvent[] = [];
  /** Samples taken (overflows of a sampling event). */
  samples = 0;
  /** Times the event was throttled (stopped until the next tick after max_samples_per_tick PMIs). */
  throttledOverflows = 0;
  /** Whether this event was counted in nr_include_guest_events (to unaccount on free). */
  accountedIncludeGuest = false;

  // struct hw_perf_event
  /** Counter index while scheduled on hardware (GP i, fixed 32 + j), else -1. */
  idx = -1;
  /** Counter index at the previous scheduling (x86 match_prev_assignment). */
  lastIdx = -1;
  prevCount = 0;
  samplePeriod: number;
  periodLeft: number;
  lastPeriod: number;
  /** Count at the previous frequency adjustment. */
  freqCountStamp = 0;
  /**
   * Clock time of the previous PMI, for frequency adjustment in the PMI. In
   * Linux it starts at 0 while perf_clock() is the uptime, so the first PMI's
   * interval is never used; -Infinity models that with our clocks starting at 0.
   */
  freqTimeStamp = -Infinity;
  /** PMIs since the last tick, for throttling. */
  interrupts = 0;
  throttled = false;

  constructor(
    readonly id: number,
    readonly attr: Readonly<PerfEventAttr>,
    readonly pmu: PerfPmu,
    readonly hw: HwConfig,
    /** CPU the event is bound to, or -1 (a task event on any CPU). */
    readonly cpu: number,
    readonly ctx: EventContext,
    /** The group leader, or null for a leader (a sibling becomes a leader when its leader closes). */
    public leader: KernelEvent | null,
    readonly overflowHandler: OverflowHandler | null,
    samplePeriod: number,
  ) {
    this.state = attr.disabled ? EventState.Off : EventState.Inactive;
    this.isSampling = attr.samplePeriod !== undefined || attr.sampleFreq !== undefined;
    // __perf_event_time_ctx(): every exclude_guest event of the context loses
    // T_GUEST, whatever its PMU (software ones too); only the scheduling out at
    // VM-entry (EVENT_GUEST, perf_skip_pmu_ctx) is limited to mediated-capable PMUs.
    this.excludesGuestTime = !!attr.excludeGuest;
    this.samplePeriod = samplePeriod;
    this.periodLeft = samplePeriod;
    this.lastPeriod = samplePeriod;
  }

  get groupLeader(): KernelEvent {
    return this.leader ?? this;
  }

  get isGroupLeader(): boolean {
    return this.leader === null;
  }

  /** A sampling event (sample period or frequency); fixed at creation, so a field (hot in every time update). */
  readonly isSampling: boolean;

  /** Include-guest on a PMU with the mediated capability: the events 3.1 accounts. */
  get isIncludeGuestOnCapablePmu(): boolean {
    return !this.attr.excludeGuest && this.pmu.mediatedCapable;
  }

  /** Whether guest time is excluded from this event's enabled/running time (fixed at creation). */
  readonly excludesGuestTime: boolean;

  /** This event's clock: its context's time, minus guest time where excluded. */
  clock(): number {
    return this.excludesGuestTime ? this.ctx.time - this.ctx.timeguest : this.ctx.time;
  }

  /** update_event_times(): fold time since the last update into enabled / running. */
  updateTimes(): void {
    const now = this.clock();
    const delta = now - this.tstamp;
    this.tstamp = now;
    if (delta <= 0) return;
    if (this.state >= EventState.Inactive) this.totalTimeEnabled += delta;
    if (this.state === EventState.Active) this.totalTimeRunning += delta;
  }

  /** Change state with the time accounting the kernel does around it. */
  setState(state: EventState): void {
    if (state === this.state) return;
    this.updateTimes();
    this.state = state;
  }

  /** The group: leader first, then siblings (a new array: callers may change the group meanwhile). */
  members(): KernelEvent[] {
    return this.siblings.length === 0 ? [this] : [this, ...this.siblings];
  }
}
