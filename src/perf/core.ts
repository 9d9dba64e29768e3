/**
 * The generic perf core (kernel/events/core.c): perf_event_open, contexts,
 * group scheduling (pinned before flexible, groups as a unit), multiplexing
 * by rotation on the per-CPU multiplexing timer, the tick (frequency
 * adjustment, unthrottling), reading with enabled/running times, the
 * mediated-PMU accounting, and the guest context switch for mediated guests.
 * The timers themselves are timers.ts; sampling-rate control sample-rate.ts.
 *
 * It is the same code for the host and for a guest kernel: a guest builds it
 * over its vCPUs' ports (docs/architecture.md principle 2).
 */
import { PerfError } from '../common/errors.ts';
import { item } from '../common/item.ts';
import {
  copyAttr,
  PERF_TARGET_FIELDS,
  validateAttr,
  type PerfEventAttr,
  type PerfTarget,
} from './attr.ts';
import { unknownKey } from '../common/spelling.ts';
import type { PerfCoreOptions, PerfCpu } from './core-config.ts';
import { EventContext } from './context.ts';
import { checkGroupFd, checkGroupMember, groupPmu } from './event-group.ts';
import { EventState, KernelEvent, type OverflowHandler } from './event.ts';
import { GuestContextSwitch } from './guest-context.ts';
import { MediatedAccounting } from './mediated.ts';
import type { PerfPmu } from './pmu.ts';
import { SoftwarePmu } from './software-pmu.ts';
import { UncorePmu } from './uncore-pmu.ts';
import { adjustPeriod, SampleRateLimit, unthrottleAndAdjustFreq } from './sample-rate.ts';
import { MUX_TIMER, PerfTimers, TICK_TIMER } from './timers.ts';
import { PerfTracepoints } from './tracepoints.ts';
import { enumerateX86Pmu } from './x86-pmu-enumerate.ts';
import { X86Pmu } from './x86-pmu.ts';

/** PMU predicates for scheduling passes (module-level: no closure per call on hot paths). */
const isMediatedCapable = (pmu: PerfPmu): boolean => pmu.mediatedCapable;
const hasHardwareCounters = (pmu: PerfPmu): boolean => pmu.hasCounters;

/** The task the host runs when none is named (pid 0 in perf_event_open means "me": this one). */
export const DEFAULT_TASK_PID = 1;

export class PerfCore {
  readonly pmus: PerfPmu[] = [];
  readonly x86: X86Pmu | null;
  readonly software = new SoftwarePmu();
  /** This perf instance's trace points (perf/tracepoints.ts). */
  readonly trace = new PerfTracepoints();
  /** Samples written by overflow handling, all CPUs (the nmiExit trace point reports each NMI's). */
  samplesWritten = 0;
  readonly accounting: MediatedAccounting | null;
  /** CONFIG_HZ, the tick period and perf_event_mux_interval_ms (ns), as the timers run them. */
  readonly hz: number;
  readonly tickNs: number;
  readonly muxIntervalNs: number;
  private readonly timers: PerfTimers;
  private readonly sampleRate: SampleRateLimit;

  // Per-CPU arrays have cpus.length entries; hot paths read them with `!` at a
  // cpu below that: resolveTarget refuses others, activeCpu is a CPU activated
  // on, callers pass a CPU's id (PhysicalCpu.id, a vCPU's host CPU checked by
  // kvm/vm.ts, 0 in a guest). siblings[k]!: k < siblings.length in each loop.
  private readonly cpus: readonly PerfCpu[];
  private readonly cpuContexts: EventContext[];
  private readonly taskContexts = new Map<number, EventContext>();
  /** The task running on each CPU (-1: idle). */
  private readonly currentTask: number[];
  /** A mediated guest's PMU context is loaded on the CPU (EVENT_GUEST). */
  private readonly guestLoaded: boolean[];
  /** perf_load/put_guest_context's protocol steps; guestLoaded caches its flag for the hot paths. */
  private readonly guestContext: GuestContextSwitch;
  private readonly events = new Map<number, KernelEvent>();
  private nextId = 1;
  private readonly log: (line: string) => void;

  constructor(options: PerfCoreOptions) {
    this.cpus = options.cpus;
    this.log = options.log;
    this.timers = new PerfTimers(
      this.cpus.map((c) => c.nowNs),
      options.hz,
      options.muxIntervalMs,
    );
    this.hz = this.timers.hz;
    this.tickNs = this.timers.tickNs;
    this.muxIntervalNs = this.timers.muxIntervalNs;
    this.sampleRate = new SampleRateLimit(this.cpus.length, this.hz, options.maxSampleRate);
    const n = this.cpus.length;
    this.cpuContexts = this.cpus.map((_, i) => new EventContext('cpu', i));
    this.currentTask = new Array<number>(n).fill(-1);
    this.guestLoaded = new Array<boolean>(n).fill(false);
    this.guestContext = new GuestContextSwitch(n);
    if (options.mediatedKconfig && !options.accounting)
      throw new Error(
        'CONFIG_PERF_GUEST_MEDIATED_PMU is on: PerfCore needs an accounting protocol',
      );
    const accounting = options.mediatedKconfig ? options.accounting : undefined;
    this.accounting = accounting ? new MediatedAccounting(accounting, this.log, () => 0) : null;

    const desc = this.cpus[0] ? enumerateX86Pmu(this.cpus[0]) : null;
    this.x86 = desc
      ? new X86Pmu(
          desc,
          this.cpus,
          options.mediatedKconfig && options.hardwareMediatedCapable,
          (cpu, e) => this.overflow(cpu, e),
        )
      : null;
    if (this.x86) this.pmus.push(this.x86);
    this.pmus.push(this.software);
    if (options.uncore)
      this.pmus.push(new UncorePmu(options.uncore.name, options.uncore.event, this.cpus));

    for (const ctx of this.cpuContexts) {
      ctx.activate(ctx.owner, item(this.cpus, ctx.owner).nowNs);
      this.x86?.lapicInit(ctx.owner);
    }
  }

  /** max_samples_per_tick: lowered by perf_sample_event_took() when PMIs take too long. */
  get maxSamplesPerTick(): number {
    return this.sampleRate.maxSamplesPerTick;
  }

  /** sysctl kernel.perf_event_max_sample_rate (lowered with it). */
  get maxSampleRate(): number {
    return this.sampleRate.maxSampleRate;
  }

  // ================================================================ perf_event_open

  /**
   * perf_event_open(2) (and perf_event_create_kernel_counter when
   * `overflowHandler` is given). Throws PerfError with the kernel's errno.
   */
  open(
    given: PerfEventAttr,
    target: PerfTarget = {},
    group?: KernelEvent,
    overflowHandler?: OverflowHandler,
  ): KernelEvent {
    // perf_event_open checks the frequency against the sysctl; a kernel counter does not.
    validateAttr(given, overflowHandler === undefined ? this.maxSampleRate : undefined);
    const attr = copyAttr(given);
    const resolved = this.resolveTarget(target);
    const pmu = this.findPmu(attr.pmu ?? 'cpu');
    if (group !== undefined) checkGroupFd(group);
    const hw = pmu.eventInit(attr, resolved);

    const ctx =
      resolved.pid >= 0 ? this.taskContext(resolved.pid) : item(this.cpuContexts, resolved.cpu);
    const period = attr.samplePeriod ?? (attr.sampleFreq !== undefined ? 1 : 0);
    const event = new KernelEvent(
      this.nextId++,
      attr,
      pmu,
      hw,
      resolved.cpu,
      ctx,
      group ?? null,
      overflowHandler ?? null,
      period,
    );

    // perf_event_alloc -> account_event -> mediated_pmu_account_event.
    if (this.accounting && event.isIncludeGuestOnCapablePmu) {
      if (this.accounting.run('account') !== 0) {
        throw new PerfError(
          'EOPNOTSUPP',
          'an event that counts in guests cannot coexist with a mediated vPMU VM (set exclude_guest)',
        );
      }
      event.accountedIncludeGuest = true;
    }
    if (group !== undefined) {
      try {
        checkGroupMember(attr, resolved, pmu, group);
      } catch (error) {
        // free_event -> _free_event -> mediated_pmu_unaccount_event.
        if (event.accountedIncludeGuest) this.accounting?.run('unaccount');
        throw error;
      }
    }

    this.events.set(event.id, event);
    // list_add_event: event->tstamp = perf_event_time_now(), the context's clock *now*.
    if (ctx.activeCpu >= 0) ctx.updateTime(item(this.cpus, ctx.activeCpu).nowNs);
    event.tstamp = event.clock();
    this.install(event);
    return event;
  }

  private resolveTarget(target: PerfTarget): Required<PerfTarget> {
    if (target === null || typeof target !== 'object')
      throw new PerfError('EFAULT', 'target is not an object');
    const unknown = unknownKey(target, PERF_TARGET_FIELDS, 'target field');
    if (unknown !== undefined) throw new PerfError('EINVAL', unknown);
    const cpu = target.cpu ?? -1;
    let pid = target.pid ?? (target.cpu === undefined ? 0 : -1);
    if (!Number.isInteger(cpu) || cpu < -1 || cpu >= this.cpus.length) {
      throw new PerfError(
        'EINVAL',
        `cpu ${cpu} does not exist (this machine has ${this.cpus.length})`,
      );
    }
    if (!Number.isInteger(pid) || pid < -1)
      throw new PerfError('EINVAL', `pid ${pid} is not valid`);
    if (pid === -1 && cpu === -1)
      throw new PerfError('EINVAL', 'pid -1 needs a cpu (a system-wide event is per CPU)');
    if (pid === 0) pid = DEFAULT_TASK_PID;
    return { cpu, pid };
  }

  private findPmu(name: string): PerfPmu {
    const pmu = this.pmus.find((p) => p.name === name);
    if (!pmu)
      throw new PerfError(
        'ENOENT',
        `no PMU named '${name}' (have: ${this.pmus.map((p) => p.name).join(', ')})`,
      );
    return pmu;
  }

  private taskContext(pid: number): EventContext {
    let ctx = this.taskContexts.get(pid);
    if (!ctx) {
      ctx = new EventContext('task', pid);
      this.taskContexts.set(pid, ctx);
      this.contextsCache.fill(null);
      const cpu = this.currentTask.indexOf(pid);
      if (cpu >= 0) ctx.activate(cpu, item(this.cpus, cpu).nowNs);
      ctx.guestLoaded = cpu >= 0 && item(this.guestLoaded, cpu);
    }
    return ctx;
  }

  /** perf_install_in_context: link the event, then reschedule its CPU if the context runs. */
  private install(event: KernelEvent): void {
    if (event.leader) {
      event.leader.siblings.push(event);
    } else {
      (event.attr.pinned ? event.ctx.pinned : event.ctx.flexible).push(event);
    }
    const cpu = event.ctx.activeCpu;
    if (cpu >= 0 && event.state !== EventState.Off)
      this.reschedule(cpu, !!event.groupLeader.attr.pinned, event.ctx.kind === 'cpu');
  }

  // ================================================================ scheduling

  /** Contexts live on a CPU: its CPU context and its current task's. */
  private contextsOn(cpu: number): EventContext[] {
    let list = this.contextsCache[cpu];
    if (!list) {
      list = [this.cpuContexts[cpu]!];
      const pid = this.currentTask[cpu]!;
      const task = pid >= 0 ? this.taskContexts.get(pid) : undefined;
      if (task) list.push(task);
      this.contextsCache[cpu] = list;
    }
    return list;
  }

  /** contextsOn() per CPU, rebuilt when the CPU switches task or a task context appears. */
  private readonly contextsCache: (EventContext[] | null)[] = [];

  private updateContextTimes(cpu: number): void {
    const now = this.cpus[cpu]!.nowNs;
    for (const ctx of this.contextsOn(cpu)) ctx.updateTime(now);
  }

  private disablePmus(cpu: number): void {
    for (const pmu of this.pmus) pmu.disable(cpu);
  }

  private enablePmus(cpu: number): void {
    for (const pmu of this.pmus) pmu.enable(cpu);
  }

  /**
   * ctx_resched for a group of a CPU context (`cpuEvent`) or of the task
   * context: the task context's flexible groups (all of them for a pinned
   * group) make way; the CPU context's likewise for a CPU group, only its
   * flexible ones for a task's pinned group, none for a task's flexible
   * group. What was scheduled out is scheduled in again, pinned before
   * flexible, the CPU's before the task's.
   */
  private reschedule(cpu: number, all: boolean, cpuEvent = true): void {
    this.updateContextTimes(cpu);
    this.disablePmus(cpu);
    const [cpuCtx, taskCtx] = this.contextsOn(cpu) as [EventContext, EventContext?];
    const cpuPinned = all && cpuEvent;
    const cpuFlexible = all || cpuEvent;
    if (taskCtx) this.schedOut(taskCtx, cpu, all ? 'all' : 'flexible');
    if (cpuFlexible) this.schedOut(cpuCtx, cpu, cpuPinned ? 'all' : 'flexible');
    if (cpuPinned) this.schedInList(cpuCtx, cpuCtx.pinned, cpu);
    if (taskCtx && all) this.schedInList(taskCtx, taskCtx.pinned, cpu);
    if (cpuFlexible) this.schedInList(cpuCtx, cpuCtx.flexible, cpu);
    if (taskCtx) this.schedInList(taskCtx, taskCtx.flexible, cpu);
    this.enablePmus(cpu);
  }

  /** Schedule out groups of a context (all PMUs, or those matching `only`). */
  private schedOut(
    ctx: EventContext,
    cpu: number,
    which: 'all' | 'flexible' | 'pinned',
    only?: (pmu: PerfPmu) => boolean,
  ): void {
    // List 0 pinned, 1 flexible (no array of lists: this runs at every world switch).
    for (let k = which === 'flexible' ? 1 : 0; k < (which === 'pinned' ? 1 : 2); k++) {
      for (const leader of k === 0 ? ctx.pinned : ctx.flexible) {
        if (only && !only(groupPmu(leader))) continue;
        this.groupSchedOut(leader, cpu);
      }
    }
  }

  private groupSchedOut(leader: KernelEvent, cpu: number): void {
    // Leader, then siblings (plain loops: this runs at every world switch and rotation).
    for (let k = -1; k < leader.siblings.length; k++) {
      const e = k < 0 ? leader : leader.siblings[k]!;
      if (e.state !== EventState.Active) continue;
      e.pmu.del(cpu, e);
      e.setState(EventState.Inactive);
    }
  }

  /** perf_event_sched_in: pinned groups of every context, then flexible ones. */
  private schedIn(
    contexts: readonly EventContext[],
    cpu: number,
    only?: (pmu: PerfPmu) => boolean,
  ): void {
    for (const ctx of contexts) this.schedInList(ctx, ctx.pinned, cpu, only);
    for (const ctx of contexts) this.schedInList(ctx, ctx.flexible, cpu, only);
  }

  /**
   * merge_sched_in over one list of one context. As upstream's can_add_hw,
   * which lives per context, list and PMU (pmu_groups_sched_in), the first
   * group of a hardware PMU that does not go on stops the later groups of
   * that PMU in this list: a flexible one waits for rotation, a pinned one
   * goes to the error state. Other PMUs and other contexts still get a try.
   */
  private schedInList(
    ctx: EventContext,
    list: readonly KernelEvent[],
    cpu: number,
    only?: (pmu: PerfPmu) => boolean,
  ): void {
    let full: PerfPmu[] | null = null;
    for (const leader of list) {
      if (leader.state !== EventState.Inactive) continue;
      if (leader.cpu >= 0 && leader.cpu !== cpu) continue;
      const pmu = groupPmu(leader);
      if (only && !only(pmu)) continue;
      // While a mediated guest owns the PMU, no host event goes onto a capable PMU.
      if (this.guestLoaded[cpu] && pmu.mediatedCapable) continue;
      const canAddHw = !pmu.hasCounters || !full?.includes(pmu);
      if (canAddHw && this.groupSchedIn(leader, pmu, cpu)) continue;
      if (pmu.hasCounters && canAddHw) (full ??= []).push(pmu);
      if (leader.attr.pinned) {
        // A pinned group that cannot get its counters goes to the error state.
        for (const e of leader.members()) e.setState(EventState.Error);
      } else {
        ctx.rotateNecessary = true;
        this.timers.armMux(cpu, this.cpus[cpu]!.nowNs);
      }
    }
  }

  /** group_sched_in: every member gets a counter, or none does. */
  private groupSchedIn(leader: KernelEvent, pmu: PerfPmu, cpu: number): boolean {
    pmu.startTxn(cpu);
    // The members added are the first `added` inactive ones (no array per group: every reschedule).
    let added = 0;
    let ok = true;
    for (let k = -1; k < leader.siblings.length; k++) {
      const e = k < 0 ? leader : leader.siblings[k]!;
      if (e.state !== EventState.Inactive) continue;
      if (!e.pmu.add(cpu, e)) {
        ok = false;
        break;
      }
      added++;
    }
    ok &&= pmu.commitTxn(cpu);
    for (let k = -1, n = 0; n < added; k++) {
      const e = k < 0 ? leader : leader.siblings[k]!;
      if (e.state !== EventState.Inactive) continue;
      n++;
      if (ok) {
        // event_sched_in: a throttled event is unthrottled when it is scheduled
        // in (it may have missed ticks); the driver then starts it.
        e.throttled = false;
        e.interrupts = 0;
        e.setState(EventState.Active);
      } else e.pmu.del(cpu, e);
    }
    if (!ok) pmu.cancelTxn(cpu);
    return ok;
  }

  // ================================================================ timers

  /** The next time (ns on this CPU's clock) perf needs the CPU: the tick or the multiplexing timer. */
  nextTimerNs(cpu: number): number {
    return this.timers.next(cpu);
  }

  /** Run the timers due on a CPU (hrtimer interrupts, in host context). */
  runTimers(cpu: number): void {
    const entry = this.trace.timerEntry.probe;
    if (entry !== null) entry(cpu);
    const fired = this.timers.expire(cpu, this.cpus[cpu]!.nowNs);
    if (fired & MUX_TIMER) this.rotate(cpu);
    if (fired & TICK_TIMER) this.tick(cpu);
    const exit = this.trace.timerExit.probe;
    if (exit !== null) exit(cpu);
  }

  /** perf_rotate_context: the multiplexing timer moved the first flexible group last. */
  private rotate(cpu: number): void {
    const all = this.contextsOn(cpu);
    const contexts = all.filter((c) => c.rotateNecessary);
    if (contexts.length === 0) return;
    // As upstream, the task context's flexible groups also make way when the
    // CPU context rotates, so that the CPU's flexible groups keep their
    // priority over the task's (the ctx_resched order); a rotation of the
    // task context alone leaves the CPU context's groups where they are.
    const moved = contexts.includes(this.cpuContexts[cpu]!) ? all : contexts;
    this.updateContextTimes(cpu);
    this.disablePmus(cpu);
    for (const ctx of moved) this.schedOut(ctx, cpu, 'flexible', hasHardwareCounters);
    for (const ctx of contexts) {
      ctx.rotateFlexible();
      ctx.rotateNecessary = false;
    }
    for (const ctx of moved) this.schedInList(ctx, ctx.flexible, cpu, hasHardwareCounters);
    this.enablePmus(cpu);
    if (this.contextsOn(cpu).some((c) => c.rotateNecessary))
      this.timers.armMux(cpu, this.cpus[cpu]!.nowNs);
    this.rotations++;
    const rotated = this.trace.rotate.probe;
    if (rotated !== null) rotated(cpu);
  }

  /** Multiplexing rotations performed (all CPUs). */
  rotations = 0;

  /** perf_event_task_tick: unthrottle, and adjust frequency-mode periods. */
  private tick(cpu: number): void {
    const active: KernelEvent[] = [];
    for (const ctx of this.contextsOn(cpu)) {
      for (const e of ctx.events()) {
        if (e.state === EventState.Active && e.pmu.hasCounters) active.push(e);
        e.interrupts = 0;
      }
    }
    const work = active.filter((e) => e.throttled || e.attr.sampleFreq !== undefined);
    if (work.length === 0) return;
    this.updateContextTimes(cpu);
    this.disablePmus(cpu);
    unthrottleAndAdjustFreq(cpu, work, this.tickNs);
    this.enablePmus(cpu);
  }

  /** perf_event_overflow, called by the driver's PMI handler for each overflowed event. */
  private overflow(cpu: number, e: KernelEvent): void {
    // __perf_event_overflow: a counting event only folds its count on a PMI.
    if (!e.isSampling) return;
    // __perf_event_account_interrupt: throttle past max_samples_per_tick.
    e.interrupts++;
    const throttle = e.interrupts > this.sampleRate.maxSamplesPerTick;
    if (e.attr.sampleFreq !== undefined) {
      const now = this.cpus[cpu]!.nowNs;
      const delta = now - e.freqTimeStamp;
      e.freqTimeStamp = now;
      if (delta > 0 && delta < 2 * this.tickNs) adjustPeriod(cpu, e, delta, e.lastPeriod, true);
    }
    // The overflow that throttles still delivers its sample.
    e.samples++;
    this.samplesWritten++;
    e.overflowHandler?.(e);
    if (throttle) {
      // The driver stops the event, x86_pmu_stop(event, 0): no update (the
      // handler has just folded the count), until the tick unthrottles it.
      e.throttled = true;
      e.throttledOverflows++;
      e.pmu.stop(cpu, e, false);
    }
  }

  /** The NMI handler for PMIs (perf_event_nmi_handler). */
  handleNmi(cpu: number): boolean {
    const entry = this.trace.nmiEntry.probe;
    if (entry !== null) entry(cpu);
    const samples = this.samplesWritten;
    const started = this.cpus[cpu]!.nowNs;
    const handled = this.x86?.handleIrq(cpu) ?? false;
    if (handled) {
      const lowered = this.sampleRate.sampleEventTook(cpu, this.cpus[cpu]!.nowNs - started);
      if (lowered) this.log(lowered);
    }
    const exit = this.trace.nmiExit.probe;
    if (exit !== null) exit(cpu, handled, this.samplesWritten - samples);
    return handled;
  }

  // ================================================================ tasks

  /** The scheduler switched `cpu` to task `pid` (-1: idle): perf_event_task_sched_out / in. */
  switchTask(cpu: number, pid: number): void {
    const old = this.currentTask[cpu]!;
    if (old === pid) return;
    if (pid >= 0) {
      const elsewhere = this.currentTask.indexOf(pid);
      if (elsewhere >= 0) this.switchTask(elsewhere, -1);
    }
    const now = this.cpus[cpu]!.nowNs;
    const oldCtx = old >= 0 ? this.taskContexts.get(old) : undefined;
    if (oldCtx && !oldCtx.isEmpty) {
      this.updateContextTimes(cpu);
      this.disablePmus(cpu);
      this.schedOut(oldCtx, cpu, 'all');
      this.enablePmus(cpu);
    }
    if (oldCtx) {
      oldCtx.deactivate(now);
      oldCtx.guestLoaded = false;
    }
    this.currentTask[cpu] = pid;
    this.contextsCache[cpu] = null;
    const newCtx = pid >= 0 ? this.taskContexts.get(pid) : undefined;
    if (newCtx) {
      newCtx.activate(cpu, now);
      newCtx.guestLoaded = this.guestLoaded[cpu]!;
      if (!newCtx.isEmpty) {
        // perf_event_context_sched_in: the CPU context's pinned groups stay
        // where they are, its flexible groups make way only for a task with
        // pinned groups, then pinned before flexible, the CPU's before the task's.
        this.updateContextTimes(cpu);
        this.disablePmus(cpu);
        const cpuCtx = this.cpuContexts[cpu]!;
        const cpuFlexibleOut = newCtx.pinned.length > 0;
        if (cpuFlexibleOut) this.schedOut(cpuCtx, cpu, 'flexible');
        this.schedInList(newCtx, newCtx.pinned, cpu);
        if (cpuFlexibleOut) this.schedInList(cpuCtx, cpuCtx.flexible, cpu);
        this.schedInList(newCtx, newCtx.flexible, cpu);
        this.enablePmus(cpu);
      }
    }
  }

  taskOn(cpu: number): number {
    return item(this.currentTask, cpu);
  }

  // ================================================================ event operations

  /**
   * perf_event_read: the event's count and times brought up to date. read(2)
   * returns nothing for an errored event; __perf_event_read_value() adds its
   * count whatever the state, so KVM keeps what it had counted (readValue).
   */
  private updateEvent(event: KernelEvent): void {
    if (event.state === EventState.Dead) throw new PerfError('EBADF', 'event is closed');
    const cpu = event.ctx.activeCpu;
    if (cpu >= 0) {
      event.ctx.updateTime(this.cpus[cpu]!.nowNs);
      if (event.state === EventState.Active) event.pmu.read(cpu, event);
    }
    event.updateTimes();
  }

  /** read(2) with times: the count, enabled and running ns. */
  read(event: KernelEvent): { value: number; enabled: number; running: number } {
    this.updateEvent(event);
    if (event.state === EventState.Error) return { value: 0, enabled: 0, running: 0 };
    return { value: event.count, enabled: event.totalTimeEnabled, running: event.totalTimeRunning };
  }

  /** perf_event_read_value(): the count, also of an event in the error state. */
  readValue(event: KernelEvent): number {
    this.updateEvent(event);
    return event.count;
  }

  /** PERF_EVENT_IOC_ENABLE: off or error -> inactive, and try to schedule it. */
  enable(event: KernelEvent): void {
    if (event.state === EventState.Dead) throw new PerfError('EBADF', 'event is closed');
    if (event.state >= EventState.Inactive) return;
    const cpu = event.ctx.activeCpu;
    if (cpu >= 0) event.ctx.updateTime(this.cpus[cpu]!.nowNs);
    for (const e of event.isGroupLeader ? event.members() : [event]) {
      if (e.state < EventState.Inactive) {
        e.updateTimes();
        e.state = EventState.Inactive;
        e.tstamp = e.clock();
      }
    }
    if (cpu >= 0) this.reschedule(cpu, !!event.groupLeader.attr.pinned, event.ctx.kind === 'cpu');
  }

  /** PERF_EVENT_IOC_DISABLE. */
  disable(event: KernelEvent): void {
    if (event.state === EventState.Dead) throw new PerfError('EBADF', 'event is closed');
    if (event.state < EventState.Inactive) return;
    const cpu = event.ctx.activeCpu;
    if (cpu >= 0) {
      this.updateContextTimes(cpu);
      this.disablePmus(cpu);
      for (const e of event.isGroupLeader ? event.members() : [event]) {
        if (e.state === EventState.Active) e.pmu.del(cpu, e);
        e.setState(EventState.Off);
      }
      this.enablePmus(cpu);
    } else {
      for (const e of event.isGroupLeader ? event.members() : [event]) e.setState(EventState.Off);
    }
  }

  /** close(fd): schedule out, unlink (siblings become singletons), unaccount. */
  close(event: KernelEvent): void {
    if (event.state === EventState.Dead) return;
    const cpu = event.ctx.activeCpu;
    if (cpu >= 0) {
      this.updateContextTimes(cpu);
      this.disablePmus(cpu);
      if (event.state === EventState.Active) event.pmu.del(cpu, event);
      this.enablePmus(cpu);
    }
    event.setState(EventState.Dead);
    const ctx = event.ctx;
    if (event.leader) {
      const i = event.leader.siblings.indexOf(event);
      if (i >= 0) event.leader.siblings.splice(i, 1);
    } else {
      for (const list of [ctx.pinned, ctx.flexible]) {
        const i = list.indexOf(event);
        if (i >= 0) list.splice(i, 1);
      }
      // perf_group_detach: siblings are promoted to singleton groups.
      for (const sibling of event.siblings.splice(0)) {
        sibling.leader = null;
        ctx.flexible.push(sibling);
      }
    }
    this.events.delete(event.id);
    // _free_event -> unaccount_event -> mediated_pmu_unaccount_event.
    if (this.accounting && event.accountedIncludeGuest) {
      this.accounting.run('unaccount');
      event.accountedIncludeGuest = false;
    }
    if (cpu >= 0) this.reschedule(cpu, false);
  }

  /** perf_event_period (KVM): a new sample period, effective at the next (re)programming. */
  setPeriod(event: KernelEvent, period: number): void {
    if (!Number.isSafeInteger(period) || period <= 0)
      throw new PerfError('EINVAL', `period ${period}`);
    const cpu = event.ctx.activeCpu;
    const active = cpu >= 0 && event.state === EventState.Active;
    if (active) {
      // __perf_event_period: with the PMU disabled, unthrottle, stop, re-period, start.
      event.pmu.disable(cpu);
      event.throttled = false;
      event.interrupts = 0;
      event.pmu.stop(cpu, event);
    }
    event.samplePeriod = period;
    event.periodLeft = period;
    if (active) {
      event.pmu.start(cpu, event);
      event.pmu.enable(cpu);
    }
  }

  get openEvents(): number {
    return this.events.size;
  }

  // ================================================================ mediated PMU

  /** perf_create_mediated_pmu: 0 or -EBUSY. */
  createMediatedPmu(): number {
    return this.mediatedAccounting('perf_create_mediated_pmu').run('create');
  }

  releaseMediatedPmu(): void {
    this.mediatedAccounting('perf_release_mediated_pmu').run('release');
  }

  private mediatedAccounting(fn: string): MediatedAccounting {
    if (!this.accounting)
      throw new Error(`CONFIG_PERF_GUEST_MEDIATED_PMU is off: there is no ${fn}`);
    return this.accounting;
  }

  /**
   * perf_load_guest_context (IRQs off, just before VM-entry): schedule out
   * every event of a capable PMU in the CPU and task contexts, and start
   * guest time. Non-capable PMUs (uncore, software) keep counting.
   */
  loadGuestContext(cpu: number): void {
    this.guestContext.load(cpu);
    this.updateContextTimes(cpu);
    this.disablePmus(cpu);
    for (const ctx of this.contextsOn(cpu)) this.schedOut(ctx, cpu, 'all', isMediatedCapable);
    for (const ctx of this.contextsOn(cpu)) ctx.guestLoaded = true;
    this.guestLoaded[cpu] = this.guestContext.isLoaded(cpu);
    this.enablePmus(cpu);
  }

  /** perf_put_guest_context (after the run loop): stop guest time, schedule the host events back in. */
  putGuestContext(cpu: number): void {
    this.guestContext.put(cpu);
    this.updateContextTimes(cpu);
    for (const ctx of this.contextsOn(cpu)) ctx.guestLoaded = false;
    this.guestLoaded[cpu] = this.guestContext.isLoaded(cpu);
    this.disablePmus(cpu);
    this.schedIn(this.contextsOn(cpu), cpu, isMediatedCapable);
    this.enablePmus(cpu);
  }

  isGuestContextLoaded(cpu: number): boolean {
    return item(this.guestLoaded, cpu);
  }

  /** For tests and observers: an event's state. */
  eventState(event: KernelEvent): EventState {
    return event.state;
  }
}
