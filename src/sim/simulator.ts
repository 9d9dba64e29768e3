/**
 * The simulator: a scenario's guests and host profiling run on a machine in
 * simulated time, once per vPMU design, priced by a cost model; the result is
 * guest accuracy (counts vs ground truth) and overhead for each design.
 *
 * Each design gets a fresh machine. Setup events (host perf sessions, guests)
 * happen in order of their start time; between them, each CPU runs its vCPUs
 * and host tasks, time-sliced on the host tick when they share the CPU.
 */
import { checkSimulationInput } from './input-check.ts';
import { MAX_DURATION_S, MAX_SEED, MIN_DURATION_S } from './run-limits.ts';
import { KernelError } from '../common/errors.ts';
import type { PhysicalCpu } from '../hw/cpu.ts';
import type { CpuModelName, Vendor } from '../hw/cpu-models.ts';
import { Quantity, type Work } from '../hw/events.ts';
import { GuestKernel } from '../guest/guest-kernel.ts';
import {
  DEFAULT_RECORD_FREQUENCY,
  PerfSession,
  eventQuantity,
  type PerfSessionSpec,
} from '../guest/perf-session.ts';
import { Truth, computeBlocks, specintMix, type WorkloadSpec } from '../guest/workloads.ts';
import { SeededRandom } from './random.ts';
import type { GuestCpu } from '../kvm/guest-cpu.ts';
import type { GuestPmuConfig } from '../kvm/pmu-types.ts';
import { IA32_TSC_DEADLINE, type VcpuImpl } from '../kvm/vcpu.ts';
import { mediatedDesignOf, type VpmuDesignName } from '../kvm/vpmu-design.ts';
import { CostModel, type CostOverride } from './cost-model.ts';
import { CostMeter } from './cost-meter.ts';
import type { TraceRecorder, Track } from './trace-recorder.ts';
import { HostMachine, type HostOptions } from './host.ts';
import { WorkloadRunner } from './workload-runner.ts';
import { setEventFilter, stoppedByFilter, type GuestEventFilter } from './guest-event-filter.ts';
import type {
  DesignResult,
  GuestEventResult,
  HostEventResult,
  GuestRefusal,
  PublishedComparison,
  SimulationReport,
} from './results.ts';
import { item } from '../common/item.ts';

/** What the simulator needs of a scenario (src/sim/scenario.ts validates the file into this). */
export interface SimulationInput {
  name: string;
  description: string;
  published?: PublishedComparison;
  machine: { cpu: CpuModelName; cpus: number; hz: number; nmiWatchdog: boolean };
  costModel: string;
  costs: Record<string, CostOverride>;
  duration: number;
  seed: number;
  designs: readonly Exclude<VpmuDesignName, 'none'>[];
  guests: readonly {
    name: string;
    hostCpu: number;
    hz: number;
    startAt?: number;
    pmu?: Partial<GuestPmuConfig>;
    workload: WorkloadSpec;
    perf?: PerfSessionSpec;
    /** KVM_SET_PMU_EVENT_FILTER on the guest's VM, before its vCPU is created. */
    eventFilter?: GuestEventFilter;
  }[];
  host?: {
    perf?: readonly (PerfSessionSpec & {
      name: string;
      cpus?: readonly number[];
      startAt?: number;
      stopAt?: number;
    })[];
    tasks?: readonly { cpu: number; share: number; workload: WorkloadSpec }[];
  };
}

export interface SimulationOptions {
  /** Simulated seconds (overrides the scenario's). */
  duration?: number;
  seed?: number;
  /** Progress, as the fraction of the whole run done (0..1), for progress bars. */
  progress?: (fraction: number) => void;
  /** Length of the timeline window recorded for the report, in ns. */
  timelineWindowNs?: number;
  /**
   * Record the run for Perfetto (sim/trace-recorder.ts). Its probes are
   * attached before the meter's, so a slice begins before what it is charged.
   */
  trace?: TraceRecorder;
}

interface GuestState {
  spec: SimulationInput['guests'][number];
  cpu: PhysicalCpu;
  vcpu: VcpuImpl | null;
  kernel: GuestKernel | null;
  session: PerfSession | null;
  runner: WorkloadRunner;
  /** Cycles of CPU time the guest was given (its slices). */
  sliceCycles: number;
  refusal?: GuestRefusal;
  /** The guest's perf-record samples already charged for user-space processing. */
  samplesCharged: number;
  /** The vCPU's track in the trace, when there is one. */
  track?: Track;
}

/** A guest whose vCPU was created: the only kind the scheduler runs. */
type RunnableGuest = GuestState & { vcpu: VcpuImpl };

interface HostSessionState {
  spec: NonNullable<NonNullable<SimulationInput['host']>['perf']>[number];
  session: PerfSession;
  cpus: number[];
  /** What its CPUs had retired (that it can see) when it opened, and when it stopped. */
  openedTruth: Truth;
  stoppedTruth?: Truth;
}

/** One design's machine and what the simulator tracks while it runs. */
interface DesignRun {
  host: HostMachine;
  meter: CostMeter;
  guests: GuestState[];
  hostSessions: HostSessionState[];
  /** Per CPU: what its host tasks retired. */
  taskTruth: Truth[];
  refusals: GuestRefusal[];
  /** Each CPU's clock when the design began. */
  startNs: number[];
}

/** A setup event: at `at` ns, in `order` among those of the same instant. */
interface SetupEvent {
  at: number;
  order: number;
  act: () => void;
}

/**
 * What a host session's CPUs have retired so far that its events can see:
 * host tasks, and guests too unless it excludes them.
 */
function sessionTruth(
  cpus: readonly number[],
  excludeGuest: boolean,
  taskTruth: readonly Truth[],
  guests: readonly GuestState[],
): Truth {
  const sum = new Truth();
  const add = (t: Truth) => {
    for (let cpl = 0; cpl < 2; cpl++) {
      const to = item(sum.byCpl, cpl);
      const from = item(t.byCpl, cpl);
      for (let i = 0; i < to.length; i++) to[i] = item(to, i) + item(from, i);
    }
  };
  for (const cpu of cpus) add(item(taskTruth, cpu));
  if (!excludeGuest) for (const g of guests) if (cpus.includes(g.cpu.id)) add(g.runner.truth);
  return sum;
}

export class Simulation {
  private readonly input: SimulationInput;
  private readonly duration: number;
  private readonly seed: number;
  private readonly costModel: CostModel;
  private designIndex = 0;
  private lastProgress = 0;

  constructor(
    input: SimulationInput,
    private readonly options: SimulationOptions = {},
  ) {
    checkSimulationInput(input, options);
    this.input = input;
    this.duration = options.duration ?? input.duration;
    this.seed = options.seed ?? input.seed;
    if (
      typeof this.duration !== 'number' ||
      !(this.duration >= MIN_DURATION_S && this.duration <= MAX_DURATION_S) // NaN fails too
    ) {
      throw new RangeError(
        `simulate: duration must be from ${MIN_DURATION_S} to ${MAX_DURATION_S} simulated seconds, got ${this.duration}`,
      );
    }
    if (!Number.isInteger(this.seed) || this.seed < 0 || this.seed > MAX_SEED)
      throw new RangeError(
        `simulate: seed must be an integer from 0 to ${MAX_SEED}, got ${this.seed}`,
      );
    this.costModel = new CostModel(input.costModel, input.costs);
  }

  run(): SimulationReport {
    const results: DesignResult[] = [];
    const designs = this.input.designs;
    designs.forEach((design, i) => {
      this.designIndex = i;
      // Each design runs on a fresh machine whose clocks start at 0 again.
      this.lastProgress = 0;
      results.push(this.runDesign(design));
      this.options.progress?.((i + 1) / designs.length);
    });
    return {
      scenario: this.input.name,
      description: this.input.description,
      seed: this.seed,
      duration: this.duration,
      cpu: this.input.machine.cpu,
      costModel: this.costModel.name,
      results,
      costParameters: this.costModel.parameters.map((q) => ({
        name: q.name,
        cycles: q.cycles,
        source: q.source,
        assumption: q.assumption,
      })),
      ...(this.input.published ? { published: this.input.published } : {}),
    };
  }

  /**
   * One design on a fresh machine: build and instrument the machine, put the
   * setup events (host sessions, guests) on a timeline, run every CPU from
   * one setup point to the next, then read the results.
   */
  runDesign(design: Exclude<VpmuDesignName, 'none'>): DesignResult {
    const run = this.buildMachine(design);
    const durationNs = this.duration * 1e9;
    const starts = [...this.hostSessionStarts(run), ...this.guestStarts(run)];
    starts.sort((a, b) => a.at - b.at || a.order - b.order);
    this.runTimeline(run, starts, durationNs);

    // Read everything after the measured interval.
    const { host, meter } = run;
    const elapsed = host.cpus.map((c, i) => c.tsc - (item(run.startNs, i) * c.model.tscHz) / 1e9);
    // What the measured interval cost, before the readout below adds its own accesses.
    const measured = {
      costBreakdown: meter.breakdown,
      timeline: [...meter.timeline],
      msrAccesses: { ...meter.msrAccesses },
    };
    const result = { ...this.collect(design, run, elapsed), ...measured };
    this.options.trace?.endDesign();
    meter.detach();
    return result;
  }

  /** A fresh machine for `design`, its cost meter hooked in, and the guests' state before they start. */
  private buildMachine(design: Exclude<VpmuDesignName, 'none'>): DesignRun {
    const input = this.input;
    const host = new HostMachine({
      cpu: input.machine.cpu,
      cpus: input.machine.cpus,
      hz: input.machine.hz,
      nmiWatchdog: input.machine.nmiWatchdog,
      kvm: kvmOptionsFor(design),
    });
    const meter = new CostMeter(this.costModel);
    for (const cpu of host.cpus) meter.instrumentCpu(cpu);
    this.options.trace?.beginDesign(design, host, meter);
    meter.attachHost(host);

    const guests: GuestState[] = input.guests.map((spec, index) => ({
      spec,
      cpu: item(host.cpus, spec.hostCpu),
      vcpu: null,
      kernel: null,
      session: null,
      runner: new WorkloadRunner(
        spec.workload,
        item(host.cpus, spec.hostCpu),
        new SeededRandom(this.seed, index),
      ),
      sliceCycles: 0,
      samplesCharged: 0,
    }));
    const taskTruth = host.cpus.map(() => new Truth());
    const startNs = host.cpus.map((c) => c.nowNs);
    meter.openTimelineWindow(
      item(host.cpus, input.guests[0]?.hostCpu ?? 0),
      this.options.timelineWindowNs ?? 2e6,
    );
    return { host, meter, guests, hostSessions: [], taskTruth, refusals: [], startNs };
  }

  /** Each host perf session opens at its startAt and, if it has one, stops at its stopAt. */
  private hostSessionStarts(run: DesignRun): SetupEvent[] {
    const { host, guests, hostSessions, taskTruth } = run;
    const starts: SetupEvent[] = [];
    (this.input.host?.perf ?? []).forEach((spec, i) => {
      if (spec.stopAt !== undefined) {
        starts.push({
          at: spec.stopAt * 1e9,
          order: -1,
          act: () => {
            const h = hostSessions.find((x) => x.spec === spec);
            if (!h || h.stoppedTruth) return;
            h.session.stop();
            h.stoppedTruth = sessionTruth(h.cpus, !!spec.excludeGuest, taskTruth, guests);
          },
        });
      }
      starts.push({
        at: (spec.startAt ?? 0) * 1e9,
        order: i,
        act: () => {
          const cpus = spec.cpus ? [...spec.cpus] : host.cpus.map((c) => c.id);
          const session = new PerfSession(host.perfCore, spec);
          session.open(
            cpus.map((cpu) => ({ cpu })),
            item(host.cpus, cpus[0] ?? 0).nowNs,
          );
          hostSessions.push({
            spec,
            session,
            cpus,
            openedTruth: sessionTruth(cpus, !!spec.excludeGuest, taskTruth, guests),
          });
        },
      });
    });
    return starts;
  }

  /**
   * Each guest's VM and vCPU are created at its startAt (after host sessions
   * of the same instant); KVM refusing them is a result (a GuestRefusal).
   */
  private guestStarts(run: DesignRun): SetupEvent[] {
    const { host, meter, refusals } = run;
    return run.guests.map((g, i) => ({
      at: (g.spec.startAt ?? 0) * 1e9,
      order: 1000 + i,
      act: () => {
        try {
          const vm = host.kvm.createVm();
          if (g.spec.eventFilter) setEventFilter(vm, g.spec.eventFilter, i);
          g.vcpu = vm.createVcpu({
            hostCpu: g.spec.hostCpu,
            ...(g.spec.pmu ? { pmu: g.spec.pmu } : {}),
          }) as VcpuImpl;
          const track = this.options.trace?.attachVcpu(g.vcpu, g.spec.name, meter);
          if (track) g.track = track;
          meter.attachVcpu(g.vcpu, g.spec.name);
        } catch (error) {
          if (!(error instanceof KernelError)) throw error;
          g.refusal = { guest: g.spec.name, errno: error.errno, message: error.message };
          refusals.push(g.refusal);
        }
      },
    }));
  }

  /**
   * Run every CPU from one setup point to the next (`starts` sorted), acting
   * the setup events due at each point, up to `durationNs`.
   */
  private runTimeline(run: DesignRun, starts: readonly SetupEvent[], durationNs: number): void {
    const points = [
      ...new Set([...starts.map((s) => Math.min(s.at, durationNs)), durationNs]),
    ].sort((a, b) => a - b);
    let s = 0;
    let from = 0;
    for (const to of points) {
      if (to > from)
        this.runInterval(run.host, run.meter, run.guests, run.taskTruth, run.startNs, to);
      while (s < starts.length && item(starts, s).at <= to && to < durationNs)
        item(starts, s++).act();
      from = to;
    }
  }

  /** Run every CPU up to `toNs` (relative to each CPU's start). */
  private runInterval(
    host: HostMachine,
    meter: CostMeter,
    guests: GuestState[],
    taskTruth: Truth[],
    startNs: number[],
    toNs: number,
  ): void {
    for (const cpu of host.cpus) {
      meter.current = cpu;
      const end = item(startNs, cpu.id) + toNs;
      const runnable = guests.filter((g): g is RunnableGuest => g.cpu === cpu && g.vcpu !== null);
      const tasks = (this.input.host?.tasks ?? []).filter((t) => t.cpu === cpu.id);
      if (tasks.length === 0 && runnable.length <= 1) {
        if (runnable[0]) this.runGuestSlice(runnable[0], end, meter);
        else if (cpu.nowNs < end) cpu.stall(Math.ceil(((end - cpu.nowNs) * cpu.model.tscHz) / 1e9));
        continue;
      }
      // Time-slice on the host tick: tasks get their share, guests split the rest.
      const quantumNs = 1e9 / this.input.machine.hz;
      const taskShare = tasks.reduce((sum, t) => sum + t.share, 0);
      while (cpu.nowNs < end) {
        const sliceEnd = Math.min(end, cpu.nowNs + quantumNs);
        const span = sliceEnd - cpu.nowNs;
        let at = cpu.nowNs;
        tasks.forEach((task, i) => {
          const until = Math.min(sliceEnd, at + span * task.share);
          this.runHostTask(host, cpu, task.workload, 100 + i, until, item(taskTruth, cpu.id));
          at = cpu.nowNs;
        });
        const guestSpan = span * (1 - taskShare);
        for (const g of runnable) {
          this.runGuestSlice(g, Math.min(sliceEnd, cpu.nowNs + guestSpan / runnable.length), meter);
        }
        if (runnable.length === 0 && cpu.nowNs < sliceEnd)
          cpu.stall(Math.ceil(((sliceEnd - cpu.nowNs) * cpu.model.tscHz) / 1e9));
      }
    }
  }

  private runHostTask(
    host: HostMachine,
    cpu: PhysicalCpu,
    spec: WorkloadSpec,
    pid: number,
    untilNs: number,
    truth: Truth,
  ): void {
    const cycles = Math.floor(((untilNs - cpu.nowNs) * cpu.model.tscHz) / 1e9);
    if (cycles <= 0) return;
    const mix = specintMix(spec.kind === 'specint' ? spec : {});
    for (const block of computeBlocks(mix, cycles)) {
      truth.record(block, cpu.model.topdownSlotsPerCycle);
      host.exec({ ...block, cpu: cpu.id, pid });
    }
  }

  /** One KVM_RUN of a guest until `untilNs` on its CPU's clock. */
  private runGuestSlice(g: RunnableGuest, untilNs: number, meter: CostMeter): void {
    const vcpu = g.vcpu;
    const cpu = g.cpu;
    const began = cpu.tsc;
    vcpu.run((guest) => {
      const kernel = g.kernel ?? this.bootGuest(g, guest, meter);
      const run = {
        exec: (work: Work) => guest.exec(work),
        hlt: () => guest.hlt(),
        io: () => guest.ioDoorbell(),
        completion: () => guest.deviceInterrupt(() => meter.charge(cpu, 'pmi.entry')),
      };
      while (cpu.nowNs < untilNs) {
        const deadline = Math.min(untilNs, kernel.nextTimerNs());
        if (cpu.nowNs < deadline) g.runner.runUntil(deadline, run);
        if (cpu.nowNs >= kernel.nextTimerNs()) {
          guest.timerInterrupt(() => {
            kernel.tick();
            guest.wrmsr(IA32_TSC_DEADLINE, BigInt(Math.floor(kernel.nextTimerNs())));
          });
          this.reportProgress(cpu.nowNs);
        }
      }
    });
    g.sliceCycles += cpu.tsc - began;
  }

  /** Progress within the current design, at most every 2 ms of simulated time. */
  private reportProgress(nowNs: number): void {
    if (!this.options.progress || nowNs - this.lastProgress < 2e6) return;
    this.lastProgress = nowNs;
    const within = Math.min(1, nowNs / (this.duration * 1e9));
    this.options.progress((this.designIndex + within) / this.input.designs.length);
  }

  /** The guest kernel boots its perf and the perf tool opens its events. */
  private bootGuest(g: RunnableGuest, guest: GuestCpu, meter: CostMeter): GuestKernel {
    const cpu = g.cpu;
    const kernel = new GuestKernel(
      guest,
      () => cpu.nowNs,
      g.spec.hz,
      () => {},
    );
    if (g.track) this.options.trace?.attachGuestPerf(kernel.perf, g.vcpu, g.track, g.spec.name);
    // Samples: written to the ring buffer in the NMI, then copied out by perf record.
    meter.attachGuestPerf(kernel.perf, cpu, g.spec.name, g.spec.perf?.mode === 'record');
    g.kernel = kernel;
    if (g.spec.perf) {
      g.session = new PerfSession(kernel.perf, g.spec.perf);
      g.session.open([{ cpu: 0 }], cpu.nowNs);
    }
    return kernel;
  }

  private collect(
    design: Exclude<VpmuDesignName, 'none'>,
    run: DesignRun,
    elapsedByCpu: number[],
  ): DesignResult {
    const { host, meter, guests, refusals } = run;
    const vendor = host.model.vendor;
    const guestEvents: GuestEventResult[] = [];
    let workCycles = 0;
    let busyCycles = 0;
    const exits: Record<string, number> = {};
    let totalExits = 0;
    let guestPmis = 0;
    for (const g of guests) {
      if (!g.vcpu) continue;
      workCycles += g.runner.truth.workCycles;
      busyCycles += g.sliceCycles - g.runner.idleCycles;
      const elapsedS = g.sliceCycles / g.cpu.model.tscHz;
      const session = g.session;
      if (session) {
        const readings = g.vcpu.run(() => session.read());
        for (const r of readings) {
          const q = eventQuantity(r.event, vendor);
          const truth =
            q === Quantity.None
              ? 0
              : g.runner.truth.total(q, !r.event.excludeUser, !r.event.excludeKernel);
          const spec = session.spec;
          // perf record's expected samples (a perf stat session has none).
          const expectedSamples =
            spec.period !== undefined
              ? truth / spec.period
              : (spec.frequency ?? DEFAULT_RECORD_FREQUENCY) * elapsedS;
          guestEvents.push({
            guest: g.spec.name,
            event: r.event.spec,
            truth,
            counted: r.scaled,
            ...(r.refused !== undefined ? { refused: r.refused } : {}),
            errorPercent: errorPercent(r.scaled, truth),
            operationInstructions: g.vcpu.stats.retiredOperations,
            raw: r.raw,
            timeEnabledNs: r.enabled,
            timeRunningNs: r.running,
            ...(r.throttled > 0 ? { throttled: r.throttled } : {}),
            ...(stoppedByFilter(g.vcpu.pmu.eventFilter, r.counters) ? { filtered: true } : {}),
            ...(spec.mode === 'record' ? { samples: r.samples, expectedSamples } : {}),
          });
        }
      }
      for (const [reason, n] of Object.entries(g.vcpu.stats.exitReasons))
        exits[reason] = (exits[reason] ?? 0) + n;
      totalExits += g.vcpu.stats.exits;
      guestPmis += g.vcpu.stats.pmis;
    }

    const hostEvents = this.hostEventResults(run, vendor);
    // A mediated design the host cannot run: KVM kept the perf-emulated vPMU.
    const fellBack =
      mediatedDesignOf(design) !== null &&
      guests.some((g) => g.vcpu !== null && g.vcpu.design.name === 'emulated');

    const elapsedCycles = elapsedByCpu.reduce((a, b) => a + b, 0);
    return {
      design,
      overheadPercent: busyCycles > 0 ? (1 - workCycles / busyCycles) * 100 : 0,
      exits,
      totalExits,
      guestPmis,
      guestEvents,
      hostEvents,
      refusals,
      elapsedCycles,
      workCycles,
      costBreakdown: meter.breakdown,
      timeline: meter.timeline,
      msrAccesses: { ...meter.msrAccesses },
      ...(fellBack ? { ranAs: 'emulated' as const } : {}),
    };
  }

  /** Each host session's readings against what its CPUs retired over the session's life. */
  private hostEventResults(run: DesignRun, vendor: Vendor): HostEventResult[] {
    const { guests, hostSessions, taskTruth } = run;
    const hostEvents: HostEventResult[] = [];
    for (const h of hostSessions) {
      // Truth over the session's life only: from its open to its stop (or the end).
      const until =
        h.stoppedTruth ?? sessionTruth(h.cpus, !!h.spec.excludeGuest, taskTruth, guests);
      for (const r of h.session.read()) {
        if (r.refused) {
          hostEvents.push({ name: h.spec.name, event: r.event.spec, refused: r.refused });
          continue;
        }
        const q = eventQuantity(r.event, vendor);
        const user = !r.event.excludeUser;
        const kernel = !r.event.excludeKernel;
        const truth =
          q === Quantity.None
            ? 0
            : until.total(q, user, kernel) - h.openedTruth.total(q, user, kernel);
        hostEvents.push({
          name: h.spec.name,
          event: r.event.spec,
          truth,
          counted: r.scaled,
          errorPercent: errorPercent(r.scaled, truth),
          timeEnabledNs: r.enabled,
          timeRunningNs: r.running,
        });
      }
    }
    return hostEvents;
  }
}

export function errorPercent(counted: number, truth: number): number {
  if (truth === 0) return counted === 0 ? 0 : 100;
  return ((counted - truth) / truth) * 100;
}

export function simulate(input: SimulationInput, options?: SimulationOptions): SimulationReport {
  return new Simulation(input, options).run();
}

/** The KVM module options that run `design`: a mediated design names its series and ablation. */
function kvmOptionsFor(design: Exclude<VpmuDesignName, 'none'>): NonNullable<HostOptions['kvm']> {
  const mediated = mediatedDesignOf(design);
  if (!mediated) return { enableMediatedPmu: false };
  return {
    enableMediatedPmu: true,
    series: mediated.series,
    mediatedDesign: mediated.passthroughAll ? 'passthrough-all' : 'mediated',
  };
}
