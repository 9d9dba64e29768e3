/**
 * What a simulation run produces: the contract between the simulator
 * (src/sim), the reports (src/report) and `vpmu run --json`.
 */
import type { VpmuDesignName } from '../kvm/vpmu-design.ts';

/** One guest-visible event of a guest's perf session, against ground truth. */
export interface GuestEventResult {
  /** The guest that measured it. */
  guest: string;
  /** Event as the perf tool names it ('instructions', 'branch-misses', 'r01c2'...). */
  event: string;
  /** What the workload really retired (ground truth from the hardware model). */
  truth: number;
  /** What the guest's perf reported (scaled by enabled/running, as perf stat does). */
  counted: number;
  /**
   * The errno when the guest's perf_event_open refused the event: ENOENT when
   * the guest kernel found no usable PMU (check_hw_exists), so counted is 0.
   */
  refused?: string;
  /** (counted - truth) / truth * 100; 0 when truth is 0 and counted is 0. */
  errorPercent: number;
  /**
   * Instructions the guest retired in its own GuestCpu operations during the
   * run (its perf driver's MSR accesses and RDPMCs, timer writes, HLTs): every
   * instruction retires once, so an instructions event counts those that fell
   * in its counting window beyond `truth` (the workload's).
   */
  operationInstructions: number;
  /** Raw count before scaling. */
  raw: number;
  timeEnabledNs: number;
  timeRunningNs: number;
  /**
   * Times the guest kernel throttled the event (PMIs past max_samples_per_tick):
   * a throttled event stops counting until the next tick, so it under-counts.
   */
  throttled?: number;
  /**
   * The VM's event filter (KVM_SET_PMU_EVENT_FILTER) stops the counter the
   * event is on, or was last on: KVM counts nothing there, and the guest is
   * not told.
   */
  filtered?: true;
  /** perf record: samples taken, and expected (frequency x guest time). */
  samples?: number;
  expectedSamples?: number;
}

/** A host perf event of the scenario. */
export interface HostEventResult {
  name: string;
  event: string;
  /** The errno when perf_event_open refused it (e.g. 'EOPNOTSUPP'). */
  refused?: string;
  /** Host-mode truth (what host tasks retired) when the event excludes guests; else all modes. */
  truth?: number;
  counted?: number;
  errorPercent?: number;
  timeEnabledNs?: number;
  timeRunningNs?: number;
}

/** A guest that could not start (e.g. KVM_CREATE_VCPU refused with EBUSY). */
export interface GuestRefusal {
  guest: string;
  errno: string;
  message: string;
}

/** One entry of the timeline window (for the HTML report). */
export interface TimelineEntry {
  /** Simulated time, ns since the start. */
  timeNs: number;
  guest: string;
  kind: 'exit' | 'pmi' | 'world-switch' | 'tick' | 'rotation';
  /** The exit reason or a short label. */
  label: string;
  /** Cycles it cost. */
  cycles: number;
}

/** Where the cycles went, by cost-model parameter. */
export interface CostBreakdownEntry {
  parameter: string;
  count: number;
  cycles: number;
}

export interface DesignResult {
  design: VpmuDesignName;
  /** Guest work lost to virtualization and PMU handling: 1 - (work cycles / busy cycles), in %; busy = the guests' vCPU time minus their idle (HLT) time (docs/reports.md). */
  overheadPercent: number;
  /** VM-exits by reason, all guests. */
  exits: Record<string, number>;
  totalExits: number;
  /** PMIs injected into guests. */
  guestPmis: number;
  guestEvents: GuestEventResult[];
  hostEvents: HostEventResult[];
  refusals: GuestRefusal[];
  /** Simulated time the run took, and the part of it that was guest work. */
  elapsedCycles: number;
  workCycles: number;
  costBreakdown: CostBreakdownEntry[];
  timeline: TimelineEntry[];
  /** Hardware MSR accesses (rdmsr, wrmsr, rdpmc) executed, all CPUs. */
  msrAccesses: { rdmsr: number; wrmsr: number; rdpmc: number };
  /**
   * Present when KVM ran a guest on another design than the one asked for: a
   * mediated design on a host PMU that cannot run it, where KVM keeps the
   * perf-emulated vPMU (kvm_init_pmu_capability clears enable_mediated_pmu).
   */
  ranAs?: VpmuDesignName;
}

/** A cost-model parameter as reported (docs/cost-model.md has the same table). */
export interface CostParameterReport {
  name: string;
  cycles: number;
  source: string;
  assumption: boolean;
}

/** The published figure a scenario reproduces (docs/mediated-vpmu.md section 1). */
export interface PublishedComparison {
  test: string;
  source: string;
  /** Overhead in % by design, as published. */
  overheadPercent: Partial<Record<VpmuDesignName, number>>;
}

export interface SimulationReport {
  scenario: string;
  description: string;
  seed: number;
  /** Simulated seconds. */
  duration: number;
  cpu: string;
  costModel: string;
  results: DesignResult[];
  costParameters: CostParameterReport[];
  published?: PublishedComparison;
  /** A sweep run: the parameter and value this report is for. */
  sweep?: { parameter: string; value: string };
}
