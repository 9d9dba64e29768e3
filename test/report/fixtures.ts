/**
 * Realistic SimulationReports for the report tests: the published
 * basic-sampling scenario (a guest running `perf record -F 1000` with six
 * events on a Sapphire Rapids host) under the three designs, with a host
 * watchdog the mediated design refuses, a multiplexed emulated guest, a
 * timeline and the cost table. Deterministic: no randomness, no clock.
 */
import type { VpmuDesignName } from '../../src/kvm/vpmu-design.ts';
import type {
  CostParameterReport,
  DesignResult,
  GuestEventResult,
  HostEventResult,
  SimulationReport,
  TimelineEntry,
} from '../../src/sim/results.ts';

export interface DesignFixtureOptions {
  /** Timeline entries to generate (default 50). */
  timeline?: number;
  /** Guest names (default ['vm0']). */
  guests?: string[];
  /** Leave out the guest events. */
  noGuestEvents?: boolean;
  /** Add a guest refused with EBUSY. */
  refusal?: boolean;
  /** Scales the overhead (sweeps). */
  overheadScale?: number;
}

export interface ReportFixtureOptions extends DesignFixtureOptions {
  scenario?: string;
  description?: string;
  designs?: VpmuDesignName[];
  /** Include the published comparison (default true). */
  published?: boolean;
  sweep?: { parameter: string; value: string };
}

const HZ = 2.0e9;
const DURATION_S = 1;

/** Per design: overhead, how much of the time the guest's events ran, what they lost. */
const PROFILE: Partial<
  Record<VpmuDesignName, { overhead: number; running: number; lost: number; samples: number }>
> = {
  emulated: { overhead: 31.8731, running: 0.625, lost: 0.1212, samples: 0.712 },
  mediated: { overhead: 6.05432, running: 1, lost: 0.00013, samples: 0.998 },
  'passthrough-all': { overhead: 4.39871, running: 1, lost: 0, samples: 1 },
  none: { overhead: 2.1, running: 0, lost: 1, samples: 0 },
  'rfc-v1': { overhead: 7.1021, running: 1, lost: 0, samples: 0.999 },
  'rfc-v1-passthrough-all': { overhead: 4.81203, running: 1, lost: 0, samples: 1 },
};

function profileOf(design: VpmuDesignName) {
  const profile = PROFILE[design];
  if (!profile) throw new Error(`fixtures: no profile for design ${design}`);
  return profile;
}

/** Instructions, branches... per guest-work cycle. */
const EVENTS: [event: string, perCycle: number][] = [
  ['cycles', 1],
  ['instructions', 1.7312],
  ['branches', 0.3125],
  ['branch-misses', 0.00731],
  ['cache-references', 0.0412],
  ['r01c2', 1.6021],
];

const EXITS: Partial<Record<VpmuDesignName, Record<string, number>>> = {
  emulated: {
    MSR_WRITE: 482_113,
    MSR_READ: 261_077,
    RDPMC: 2_048,
    EXTERNAL_INTERRUPT: 4_012,
    EXCEPTION_NMI: 712,
    HLT: 311,
  },
  mediated: { MSR_WRITE: 12_006, EXTERNAL_INTERRUPT: 4_931, HLT: 311, CPUID: 12 },
  'passthrough-all': { EXTERNAL_INTERRUPT: 4_929, HLT: 311, CPUID: 12 },
  none: { EXTERNAL_INTERRUPT: 4_001, HLT: 311, CPUID: 12 },
  'rfc-v1': { MSR_WRITE: 9_100, EXTERNAL_INTERRUPT: 4_930, HLT: 311, CPUID: 12 },
  'rfc-v1-passthrough-all': { EXTERNAL_INTERRUPT: 4_929, HLT: 311, CPUID: 12 },
};

export const COST_PARAMETERS: CostParameterReport[] = [
  {
    name: 'exit.roundtrip',
    cycles: 1100,
    source: 'kvm-unit-tests vmexit CPUID ~1,020-1,100 cycles, recent Intel',
    assumption: false,
  },
  {
    name: 'exit.msr-handler',
    cycles: 200,
    source: 'assumed: a table walk and a few branches',
    assumption: true,
  },
  {
    name: 'inject.interrupt',
    cycles: 900,
    source: 'derived: TSC-deadline WRMSR + injection 3,851 cycles minus an MSR-write exit',
    assumption: true,
  },
  { name: 'msr.wrmsr', cycles: 125, source: 'generic WRMSR 125+ cycles, Intel', assumption: false },
  {
    name: 'msr.wrmsr-counter',
    cycles: 110,
    source: '~80-150 cycles each, commit b0b6a8d3be16',
    assumption: false,
  },
  {
    name: 'msr.rdmsr',
    cycles: 100,
    source: 'assumed slightly cheaper than WRMSR; not found',
    assumption: true,
  },
  {
    name: 'pmi.entry',
    cycles: 600,
    source: 'derived: native intel_pmu_handle_irq ~1.0-1.14 us',
    assumption: true,
  },
  {
    name: 'perf.create',
    cycles: 10000,
    source: 'assumed: published figures are worst cases',
    assumption: true,
  },
  { name: 'perf.release', cycles: 5000, source: 'assumed, as perf.create', assumption: true },
  {
    name: 'perf.period',
    cycles: 11880,
    source: '~5.4 us on an E5-2699 at 2.2 GHz',
    assumption: false,
  },
  { name: 'perf.guest-context', cycles: 300, source: 'assumed', assumption: true },
];

const KINDS: TimelineEntry['kind'][] = ['world-switch', 'exit', 'exit', 'pmi', 'tick', 'rotation'];
const REASONS = ['MSR_WRITE', 'MSR_READ', 'EXTERNAL_INTERRUPT', 'RDPMC', 'HLT'];

function timeline(design: VpmuDesignName, guests: string[], n: number): TimelineEntry[] {
  const entries: TimelineEntry[] = [];
  for (let i = 0; i < n; i++) {
    let kind = KINDS[(i * 7 + design.length) % KINDS.length]!;
    if (design !== 'emulated' && kind === 'rotation') kind = 'exit';
    if (design === 'emulated' && kind === 'world-switch') kind = 'exit';
    const label = kind === 'exit' ? REASONS[(i * 3) % REASONS.length]! : kind;
    entries.push({
      timeNs: 1_000_000 + i * 2_137 + ((i * 389) % 700),
      guest: guests[i % guests.length]!,
      kind,
      label,
      cycles: kind === 'exit' ? 1300 + ((i * 53) % 400) : kind === 'pmi' ? 2400 : 800,
    });
  }
  return entries;
}

function guestEvents(
  design: VpmuDesignName,
  guest: string,
  workCycles: number,
): GuestEventResult[] {
  const profile = profileOf(design);
  const enabled = DURATION_S * 1e9;
  const running = Math.round(enabled * profile.running);
  return EVENTS.map(([event, perCycle], i): GuestEventResult => {
    const truth = Math.round(workCycles * perCycle);
    // The emulated vPMU loses counts while multiplexed, and KVM does not scale them.
    const counted = truth * (1 - profile.lost * (1 + i / 10));
    const result: GuestEventResult = {
      guest,
      event,
      truth,
      counted,
      errorPercent: ((counted - truth) / truth) * 100,
      operationInstructions: 0,
      raw: Math.round(counted * profile.running),
      timeEnabledNs: enabled,
      timeRunningNs: running,
    };
    if (event === 'cycles') {
      result.expectedSamples = 1000 * DURATION_S * (workCycles / (HZ * DURATION_S));
      result.samples = Math.round(result.expectedSamples * profile.samples);
    }
    return result;
  });
}

function hostEvents(design: VpmuDesignName): HostEventResult[] {
  const watchdog: HostEventResult =
    design === 'mediated'
      ? { name: 'nmi-watchdog', event: 'cycles:P', refused: 'EOPNOTSUPP' }
      : {
          name: 'nmi-watchdog',
          event: 'cycles:P',
          truth: 2_000_000_000,
          counted: 2_000_000_000,
          errorPercent: 0,
          timeEnabledNs: 1e9,
          timeRunningNs: 1e9,
        };
  const hostCycles: HostEventResult = {
    name: 'host-profile',
    event: 'instructions:H',
    truth: 91_377_210,
    counted: 91_377_210 * (design === 'emulated' ? 0.98 : 1),
    errorPercent: design === 'emulated' ? -2 : 0,
    timeEnabledNs: 1e9,
    timeRunningNs: design === 'emulated' ? 0.8e9 : 1e9,
  };
  return [watchdog, hostCycles];
}

export function designFixture(
  design: VpmuDesignName,
  options: DesignFixtureOptions = {},
): DesignResult {
  const guests = options.guests ?? ['vm0'];
  const overheadPercent = profileOf(design).overhead * (options.overheadScale ?? 1);
  const elapsedCycles = Math.round(HZ * DURATION_S * guests.length);
  const workCycles = Math.round(elapsedCycles * (1 - overheadPercent / 100));
  const exits = { ...(EXITS[design] ?? EXITS.mediated) };
  const totalExits = Object.values(exits).reduce((a, b) => a + b, 0);
  const lostCycles = elapsedCycles - workCycles;
  return {
    design,
    overheadPercent,
    exits,
    totalExits,
    guestPmis: design === 'none' ? 0 : Math.round(1000 * profileOf(design).samples * guests.length),
    guestEvents: options.noGuestEvents
      ? []
      : guests.flatMap((g) => guestEvents(design, g, workCycles / guests.length)),
    hostEvents: hostEvents(design),
    refusals: options.refusal
      ? [
          {
            guest: 'vm9',
            errno: 'EBUSY',
            message:
              'KVM_CREATE_VCPU: perf_create_mediated_pmu() failed; stop system-wide perf events and the NMI watchdog',
          },
        ]
      : [],
    elapsedCycles,
    workCycles,
    costBreakdown: [
      { parameter: 'exit.roundtrip', count: totalExits, cycles: totalExits * 1100 },
      {
        parameter: 'exit.msr-handler',
        count: exits.MSR_WRITE ?? 0,
        cycles: (exits.MSR_WRITE ?? 0) * 200,
      },
      {
        parameter: 'perf.period',
        count: design === 'emulated' ? 20_000 : 0,
        cycles: design === 'emulated' ? 20_000 * 11_880 : 0,
      },
      {
        parameter: 'perf.guest-context',
        count: design === 'emulated' ? 0 : totalExits * 2,
        cycles: design === 'emulated' ? 0 : totalExits * 600,
      },
      { parameter: 'pmi.entry', count: 1000, cycles: 600_000 },
      {
        parameter: 'other',
        count: 1,
        cycles: Math.max(0, lostCycles - totalExits * 1300 - 600_000),
      },
    ],
    timeline: timeline(design, guests, options.timeline ?? 50),
    msrAccesses: {
      rdmsr: design === 'emulated' ? 5_200 : 98_000,
      wrmsr: design === 'emulated' ? 31_000 : 214_000,
      rdpmc: 2_048,
    },
  };
}

export function reportFixture(options: ReportFixtureOptions = {}): SimulationReport {
  const designs = options.designs ?? ['emulated', 'mediated', 'passthrough-all'];
  const report: SimulationReport = {
    scenario: options.scenario ?? 'basic-sampling',
    description:
      options.description ??
      'SPECint-like guest running perf record -F 1000 with 6 events, NMI watchdog on the host',
    seed: 42,
    duration: DURATION_S,
    cpu: 'intel-sapphire-rapids',
    costModel: 'default',
    results: designs.map((d) =>
      designFixture(d, { ...options, refusal: options.refusal && d === 'mediated' }),
    ),
    costParameters: COST_PARAMETERS.map((p) => ({ ...p })),
  };
  if (options.published ?? true) {
    report.published = {
      test: 'basic-sampling',
      source: 'RFC v1 cover letter, Jan 2024',
      overheadPercent: { emulated: 33.62, 'passthrough-all': 4.24, mediated: 6.21 },
    };
  }
  if (options.sweep) report.sweep = options.sweep;
  return report;
}

/** A sweep of the host's pinned events: overhead grows with the value. */
export function sweepFixture(values: string[] = ['0', '1', '2', '4']): SimulationReport[] {
  return values.map((value, i) =>
    reportFixture({
      sweep: { parameter: 'host.pinnedEvents', value },
      overheadScale: 1 + i * 0.25,
    }),
  );
}
