/**
 * The scenario format (docs/scenarios.md): a machine, guests and host
 * profiling placed in time, a named cost model, and the vPMU designs to
 * compare. One zod schema is the single definition: the TypeScript type,
 * the validation (with defaults filled in) and the JSON Schema editors use.
 *
 * Messages: a schema-level message here is "what was expected" with the
 * value that was found appended as "(got X)"; built-in zod checks get theirs
 * from describeIssue in scenario-errors.ts.
 */
import {
  MAX_COST_CYCLES,
  MAX_DURATION_S,
  MAX_HOST_EVENTS_PER_CPU,
  MAX_HOST_PERF_SESSIONS,
  MAX_HOST_TASKS,
  MAX_SEED,
  MIN_DURATION_S,
} from './run-limits.ts';
import { z } from 'zod';
import { DEFAULT_RECORD_FREQUENCY } from '../guest/perf-session.ts';
import { CPU_MODEL_NAMES, CPU_MODELS, type CpuModelName } from '../hw/cpu-models.ts';
import { NAMED_EVENT_NAMES } from '../hw/events.ts';
import { U64_MAX } from '../hw/msr.ts';
import type { VpmuDesignName } from '../kvm/vpmu-design.ts';
import { EventFilterSchema } from './event-filter-schema.ts';
import { filterEventEncoding } from './guest-event-filter.ts';
import { MAX_SAMPLE_RATE } from '../perf/attr.ts';
import { checkCostParameterName } from './scenario-errors.ts';
import { showValue } from '../common/printable.ts';
import { closest } from '../common/spelling.ts';

/** Named cost models (src/sim's cost table); a scenario picks one and may override parameters. */
export const COST_MODEL_NAMES = ['default'] as const;
export type CostModelName = (typeof COST_MODEL_NAMES)[number];

/** The vPMU designs a scenario can compare ('none' is not a design to compare). */
export const SCENARIO_DESIGN_NAMES = [
  'emulated',
  'mediated',
  'passthrough-all',
  'mediated-topdown',
  'rfc-v1',
  'rfc-v1-passthrough-all',
] as const satisfies readonly VpmuDesignName[];
export type ScenarioDesignName = (typeof SCENARIO_DESIGN_NAMES)[number];

/** CONFIG_HZ values Linux offers. */
export const HZ_VALUES = [100, 250, 300, 1000] as const;

/** Events the perf tool knows by name: hw/events.ts's NAMED_EVENTS, not a copy. */
export const PERF_EVENT_NAMES = NAMED_EVENT_NAMES;

export const WORKLOAD_KINDS = ['specint', 'fio', 'idle'] as const;

const NAME_RE = /^[a-z0-9][a-z0-9-]*$/;
const ITEM_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const EVENT_RE = new RegExp(`^(?:${PERF_EVENT_NAMES.join('|')}|r[0-9a-fA-F]{1,4})(?::[uk])?$`);
const HEX_RE = /^0[xX][0-9a-fA-F]+$/;

/** A perf event as the scenario names it, decoded for perf_event_open (PerfEventAttr). */
export interface EventSpec {
  /** The name as written, with its modifier ('branches:u'). */
  spec: string;
  /** A named event ('cycles') or the raw encoding, umask << 8 | event select (r01c2 -> 0x1c2). */
  config: string | number;
  /** ':k': count the kernel only. */
  excludeUser: boolean;
  /** ':u': count user space only. */
  excludeKernel: boolean;
}

/** Decode an event of a scenario ('r01c2:u' -> raw 0x1c2, exclude kernel); throws RangeError if invalid. */
export function parseEventSpec(spec: string): EventSpec {
  if (!EVENT_RE.test(spec)) throw new RangeError(eventMessage(spec));
  const [name, modifier] = spec.split(':') as [string, string | undefined];
  const config = /^r[0-9a-fA-F]+$/.test(name) ? Number.parseInt(name.slice(1), 16) : name;
  return { spec, config, excludeUser: modifier === 'k', excludeKernel: modifier === 'u' };
}

function eventMessage(input: unknown): string {
  const base = typeof input === 'string' ? (input.split(':')[0] ?? '') : '';
  const hint = closest(base, PERF_EVENT_NAMES);
  return (
    `expected a perf event: ${PERF_EVENT_NAMES.join(', ')}, or raw rUUEE hex (umask, event select; e.g. r01c2), ` +
    `optionally with :u or :k${hint ? `; did you mean '${hint}'?` : ''} (got ${showValue(input)})`
  );
}

// ---------------------------------------------------------------- building blocks

const num = (what: string) => z.number().describe(what);
const int = (what: string) => z.int().describe(what);
/** A non-negative rate or count with a default. */
const nonneg = (what: string, def: number, max: number) =>
  z.number().min(0).max(max).default(def).describe(`${what} Default ${def}.`);
const percent = (what: string, def: number) =>
  z.number().min(0).max(100).default(def).describe(`${what} Default ${def}.`);

const hz = (what: string) =>
  z
    .literal(HZ_VALUES, {
      error: (iss) => `expected one of ${HZ_VALUES.join(', ')} (got ${showValue(iss.input)})`,
    })
    .default(250)
    .describe(what);

const startAt = (what: string) =>
  z
    .number()
    .min(0)
    .default(0)
    .describe(`${what} Simulated seconds from the start; default 0 (must be below duration).`);

const events = z
  .array(z.string().regex(EVENT_RE, { error: (iss) => eventMessage(iss.input) }))
  .min(1)
  .max(32)
  .describe(
    `1 to 32 perf events, each listed once: ${PERF_EVENT_NAMES.join(', ')}, or raw 'rUUEE' hex ` +
      `(umask << 8 | event select, e.g. r01c2 = umask 0x01, event 0xC2). A ':u' suffix counts user ` +
      `space only (exclude_kernel), ':k' the kernel only (exclude_user).`,
  );

const frequency = z
  .int()
  .min(1)
  .max(MAX_SAMPLE_RATE, {
    error: (iss) =>
      `expected at most ${MAX_SAMPLE_RATE}, perf_event_max_sample_rate (got ${showValue(iss.input)})`,
  })
  .optional()
  .describe(
    `perf record -F: samples per second per event; the kernel adapts the period at each tick. ` +
      `At most ${MAX_SAMPLE_RATE} (perf_event_max_sample_rate). Exclusive with period; ` +
      `mode record with neither gets ${DEFAULT_RECORD_FREQUENCY} (perf's default).`,
  );

const period = z
  .int()
  .min(1)
  .optional()
  .describe(
    'perf record -c: a sample every this many events (fixed period). Exclusive with frequency.',
  );

const mode = z
  .enum(['record', 'stat'])
  .describe("'record' samples (perf record: a PMI per period), 'stat' counts (perf stat).");

/** Mode-specific rules shared by guest and host perf sessions. */
function checkSession(
  s: {
    mode: string;
    events: string[];
    frequency?: number | undefined;
    period?: number | undefined;
  },
  ctx: z.core.$RefinementCtx,
): void {
  const seen = new Map<string, number>();
  s.events.forEach((e, i) => {
    const first = seen.get(e);
    if (first !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['events', i],
        message: `expected each event once, this one is also events[${first}] (got ${showValue(e)})`,
      });
    } else seen.set(e, i);
  });
  if (s.mode === 'stat') {
    for (const key of ['frequency', 'period'] as const) {
      if (s[key] !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: [key],
          message: `expected no ${key} with mode stat, which counts; ${key} is for mode record (got ${s[key]})`,
        });
      }
    }
  } else if (s.frequency !== undefined && s.period !== undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['period'],
      message: `expected either frequency or period, not both (got period ${s.period} with frequency ${s.frequency})`,
    });
  }
}

/** perf record with neither -F nor -c samples at perf's default frequency. */
function withDefaultFrequency<
  T extends { mode: string; frequency?: number | undefined; period?: number | undefined },
>(s: T): T {
  return s.mode === 'record' && s.frequency === undefined && s.period === undefined
    ? { ...s, frequency: DEFAULT_RECORD_FREQUENCY }
    : s;
}

// ---------------------------------------------------------------- workloads

const SpecintWorkload = z
  .strictObject({
    kind: z
      .literal('specint')
      .describe('A SPECint-like instruction mix: compute-bound, few exits.'),
    ipc: z.number().gt(0).max(8).default(1.5).describe('Instructions per cycle. Default 1.5.'),
    branchesPerKilo: nonneg('Branches per 1000 instructions.', 200, 1000),
    branchMissPercent: percent('Percent of branches mispredicted.', 2),
    llcRefsPerKilo: nonneg('Last-level-cache references per 1000 instructions.', 10, 1000),
    llcMissPercent: percent('Percent of LLC references that miss.', 30),
    loadsPerKilo: nonneg('Loads retired per 1000 instructions.', 250, 1000),
    storesPerKilo: nonneg('Stores retired per 1000 instructions.', 100, 1000),
    userPercent: percent(
      'Percent of instructions retired at CPL 3 (user space); the rest at CPL 0.',
      95,
    ),
    phaseVariation: z
      .number()
      .min(0)
      .max(0.5)
      .default(0.1)
      .describe(
        'Program phases: every 250 us of work, the IPC and the branch and cache rates vary by up ' +
          'to this fraction (uniformly, from the scenario seed). 0 = a steady mix. Default 0.1.',
      ),
  })
  .meta({
    title: 'specint workload',
    description:
      'kind specint: a SPECint-like CPU-bound instruction mix. Every field but kind has a default.',
  });

const FioWorkload = z
  .strictObject({
    kind: z
      .literal('fio')
      .describe('Exit-heavy I/O, like fio doing small random reads on a virtio disk.'),
    iops: z
      .number()
      .gt(0)
      .max(10_000_000)
      .default(20_000)
      .describe('I/O operations per second. Default 20000.'),
    instructionsPerIo: z
      .number()
      .gt(0)
      .default(20_000)
      .describe('Guest instructions to submit and complete one I/O. Default 20000.'),
    exitsPerIo: nonneg(
      'VM-exits per I/O: a doorbell (MMIO / PIO) write to submit, and the completion interrupt.',
      2,
      1000,
    ),
    ipc: z.number().gt(0).max(8).default(1).describe('Instructions per cycle. Default 1.'),
  })
  .meta({
    title: 'fio workload',
    description: 'kind fio: exit-heavy I/O. Every field but kind has a default.',
  });

const IdleWorkload = z
  .strictObject({
    kind: z.literal('idle').describe('A mostly idle guest: HLT, woken by timers and interrupts.'),
    wakeupsPerSecond: nonneg(
      'Wake-ups per second (each a HLT exit and an interrupt).',
      100,
      1_000_000,
    ),
    instructionsPerWakeup: z
      .number()
      .gt(0)
      .default(5000)
      .describe('Instructions retired per wake-up before halting again. Default 5000.'),
  })
  .meta({
    title: 'idle workload',
    description: 'kind idle: a mostly halted guest. Every field but kind has a default.',
  });

export const WorkloadSchema = z
  .discriminatedUnion('kind', [SpecintWorkload, FioWorkload, IdleWorkload], {
    error: (iss) => {
      if (iss.code !== 'invalid_union') return undefined;
      const input: unknown = iss.input;
      const kind = input && typeof input === 'object' ? (input as { kind?: unknown }).kind : input;
      const hint = typeof kind === 'string' ? closest(kind, WORKLOAD_KINDS) : undefined;
      return (
        `${kind === undefined ? 'required: ' : ''}expected one of ${WORKLOAD_KINDS.join(', ')}` +
        `${hint ? `; did you mean '${hint}'?` : ''} (got ${showValue(kind)})`
      );
    },
  })
  .meta({
    title: 'workload',
    description: `What the vCPU (or host task) runs; 'kind' is one of ${WORKLOAD_KINDS.join(', ')}.`,
  });

// ---------------------------------------------------------------- guests

const perfCapabilities = z
  .union([z.int().min(0), z.string().regex(HEX_RE)], {
    error: (iss) =>
      `expected a non-negative whole number or a hex string like "0x2000" (got ${showValue(iss.input)})`,
  })
  .transform((v, ctx) => {
    const n = BigInt(v);
    if (n > U64_MAX) {
      ctx.addIssue({ code: 'custom', message: `expected a 64-bit value (got ${String(v)})` });
      return z.NEVER;
    }
    return n;
  })
  .optional()
  .describe(
    'IA32_PERF_CAPABILITIES for the guest (Intel): a whole number or a hex string such as "0x2000" ' +
      '(full-width writes); bits KVM does not support are refused. Default: what KVM supports.',
  );

export const GuestPmuSchema = z
  .strictObject({
    version: int('Architectural PMU version (CPUID 0xA EAX[7:0]); KVM caps it. 0 = no PMU.')
      .min(0)
      .max(255)
      .optional(),
    gpCounters: int('General-purpose counters; KVM caps it at what it supports.')
      .min(0)
      .max(255)
      .optional(),
    fixedCounters: int('Fixed counters; KVM caps it.').min(0).max(31).optional(),
    gpWidth: int('General-purpose counter width in bits; KVM caps it.').min(0).max(255).optional(),
    fixedWidth: int('Fixed counter width in bits; KVM caps it.').min(0).max(255).optional(),
    unavailableEvents: int('CPUID 0xA EBX: a set bit marks an architectural event unavailable.')
      .min(0)
      .max(0xffffffff)
      .optional(),
    fixedCounterMask: int('CPUID 0xA ECX (v5+): bitmap of supported fixed counters.')
      .min(0)
      .max(0xffffffff)
      .optional(),
    perfCapabilities,
  })
  .meta({
    title: 'guest PMU',
    description:
      "The guest's PMU as userspace configures it (CPUID, PERF_CAPABILITIES); every field optional, " +
      'default: what KVM offers on this CPU.',
  });

export const GuestPerfSchema = z
  .strictObject({ mode, frequency, period, events })
  .superRefine(checkSession)
  .transform(withDefaultFrequency)
  .meta({
    title: 'guest perf session',
    description:
      "The guest's own perf session (perf record or perf stat inside the guest, on its vCPU).",
  });

/** A guest's or a host session's name: it names rows and tracks in the reports. */
function itemName(description: string) {
  return z
    .string()
    .regex(ITEM_NAME_RE, {
      error: (iss) =>
        `expected a name of letters, digits, '.', '_' or '-' (got ${showValue(iss.input)})`,
    })
    .describe(description);
}

export const GuestSchema = z
  .strictObject({
    name: itemName('The guest (a one-vCPU VM); unique among the guests.'),
    hostCpu: int(
      'The host CPU its vCPU runs on (pinned); below machine.cpus. Several vCPUs may share one.',
    )
      .min(0)
      .default(0),
    hz: hz(
      'Guest kernel CONFIG_HZ (its tick drives the guest perf frequency adjustment). Default 250.',
    ),
    startAt: startAt('When the VM is created (KVM_CREATE_VM, KVM_CREATE_VCPU) and starts running.'),
    pmu: GuestPmuSchema.optional(),
    workload: WorkloadSchema,
    perf: GuestPerfSchema.optional(),
    eventFilter: EventFilterSchema.optional(),
  })
  .meta({
    title: 'guest',
    description:
      'A guest: a one-vCPU VM pinned on a host CPU, running a workload and optionally perf.',
  });

// ---------------------------------------------------------------- host

export const HostPerfSchema = z
  .strictObject({
    name: itemName('The session; unique among the host perf sessions.'),
    mode,
    events,
    cpus: z
      .array(int('A host CPU, below machine.cpus.').min(0))
      .min(1)
      .optional()
      .describe('CPUs it counts on, system-wide (perf -a -C); default all CPUs.'),
    excludeGuest: z
      .boolean()
      .default(true)
      .describe(
        "exclude_guest: count only while no guest runs (perf's :H, the default for system-wide " +
          'sessions). false counts in guests too, which a mediated VM cannot coexist with. Default true.',
      ),
    pinned: z
      .boolean()
      .default(false)
      .describe(
        'Pinned (perf :D): always on a counter, or in error; never multiplexed. Default false.',
      ),
    frequency,
    period,
    startAt: startAt('When the session opens its events (perf_event_open).'),
    stopAt: z
      .number()
      .gt(0)
      .optional()
      .describe(
        'When the session closes its events, seconds; default: runs to the end. Above startAt.',
      ),
  })
  .superRefine(checkSession)
  .transform(withDefaultFrequency)
  .meta({
    title: 'host perf session',
    description:
      'A host perf session: system-wide events on some CPUs (perf stat -a / perf record -a).',
  });

export const HostTaskSchema = z
  .strictObject({
    cpu: int('The host CPU it shares with vCPUs; below machine.cpus.').min(0).default(0),
    share: z
      .number()
      .gt(0)
      .lt(1)
      .describe("Fraction of that CPU's time it runs (0 < share < 1); the vCPUs get the rest."),
    workload: WorkloadSchema,
  })
  .meta({ title: 'host task', description: 'A host task sharing a CPU with vCPUs.' });

export const HostSchema = z
  .strictObject({
    perf: z
      .array(HostPerfSchema)
      .max(MAX_HOST_PERF_SESSIONS)
      .default([])
      .describe(
        `Host perf sessions, at most ${MAX_HOST_PERF_SESSIONS}, with at most ` +
          `${MAX_HOST_EVENTS_PER_CPU} events counting on any one CPU. Default none.`,
      ),
    tasks: z
      .array(HostTaskSchema)
      .max(MAX_HOST_TASKS)
      .default([])
      .describe(`Host tasks sharing CPUs with vCPUs, at most ${MAX_HOST_TASKS}. Default none.`),
  })
  .meta({ title: 'host', description: 'Host-side activity: perf sessions and tasks.' });

// ---------------------------------------------------------------- the scenario

export const MachineSchema = z
  .strictObject({
    cpu: z
      .enum(CPU_MODEL_NAMES as [CpuModelName, ...CpuModelName[]], {
        error: (iss) => {
          const hint =
            typeof iss.input === 'string' ? closest(iss.input, CPU_MODEL_NAMES) : undefined;
          return (
            `expected one of ${CPU_MODEL_NAMES.join(', ')}${hint ? `; did you mean '${hint}'?` : ''}` +
            ` (got ${showValue(iss.input)})`
          );
        },
      })
      .describe(`CPU model preset: ${CPU_MODEL_NAMES.join(', ')}.`),
    cpus: int('Logical CPUs. Default 1.').min(1).max(64).default(1),
    hz: hz(
      'Host kernel CONFIG_HZ: the tick rate, and the multiplexing rotation interval. Default 250.',
    ),
    nmiWatchdog: z
      .boolean()
      .default(false)
      .describe(
        'The hardlockup detector (nmi_watchdog=1): a pinned cycles event per CPU that counts in ' +
          'guests too, so mediated VMs are refused while it runs. Default false.',
      ),
  })
  .meta({ title: 'machine', description: 'The host machine.' });

const overheadPercent = z
  .strictObject(
    Object.fromEntries(
      SCENARIO_DESIGN_NAMES.map((d) => [
        d,
        num(`Published overhead of the ${d} design, %.`).min(0).max(100).optional(),
      ]),
    ) as Record<ScenarioDesignName, z.ZodOptional<z.ZodNumber>>,
  )
  .describe('The published overhead in % by design.');

export const PublishedSchema = z
  .strictObject({
    test: z.string().min(1).describe("The published test's name, e.g. basic-sampling."),
    source: z.string().min(1).describe('Where the figures were published.'),
    overheadPercent,
  })
  .meta({
    title: 'published figure',
    description: 'The published figure this scenario reproduces (docs/mediated-vpmu.md section 1).',
  });

const ScenarioObject = z.strictObject({
  name: z
    .string()
    .regex(NAME_RE, {
      error: (iss) =>
        `expected lowercase letters, digits and '-', starting with a letter or digit (got ${showValue(iss.input)})`,
    })
    .describe('The scenario name: lowercase letters, digits and -.'),
  description: z.string().min(1).describe('What the scenario shows, for a newcomer.'),
  published: PublishedSchema.optional(),
  machine: MachineSchema,
  costModel: z
    .enum(COST_MODEL_NAMES)
    .default('default')
    .describe(`Named cost model: ${COST_MODEL_NAMES.join(', ')}. Default 'default'.`),
  costs: z
    .record(z.string(), num(`Cycles, 0 to ${MAX_COST_CYCLES}.`).min(0).max(MAX_COST_CYCLES))
    .default({})
    .describe(
      'Cost-model overrides: parameter name -> cycles (docs/cost-model.md names them). Default none.',
    ),
  duration: z
    .number()
    .min(MIN_DURATION_S)
    .max(MAX_DURATION_S)
    .default(1)
    .describe(`Simulated seconds (${MIN_DURATION_S} <= duration <= ${MAX_DURATION_S}). Default 1.`),
  seed: int(
    `Seed of the pseudo-random choices (0 to ${MAX_SEED}, 32 bits); a run is a function of the scenario and the seed. Default 1.`,
  )
    .min(0)
    .max(MAX_SEED)
    .default(1),
  designs: z
    .array(
      z.enum(SCENARIO_DESIGN_NAMES, {
        error: (iss) =>
          `expected one of ${SCENARIO_DESIGN_NAMES.join(', ')} (got ${showValue(iss.input)})`,
      }),
    )
    .min(1)
    .default(['emulated', 'mediated'])
    .describe(
      "vPMU designs to compare, each run on the same scenario: 'emulated' (legacy, perf-backed), " +
        "'mediated' (Linux 7.0), 'passthrough-all' (mediated with selectors passed through too, " +
        "hypothetical), 'mediated-topdown' (7.0 with the posted Feb 2026 series that gives guests " +
        "fixed counter 3 and PERF_METRICS), 'rfc-v1' (the Jan 2024 RFC v1 passthrough vPMU, Intel " +
        "only) and 'rfc-v1-passthrough-all' (RFC v1 modified to pass everything through, as " +
        'measured for its cover letter). Default [emulated, mediated].',
    ),
  guests: z.array(GuestSchema).min(1).max(16).describe('1 to 16 guests.'),
  host: HostSchema.default({ perf: [], tasks: [] }),
});

type ScenarioShape = z.output<typeof ScenarioObject>;

/** Checks across fields, each issue at the field to change. */
function checkScenario(s: ScenarioShape, ctx: z.core.$RefinementCtx): void {
  const cpus = s.machine.cpus;
  const add = (path: (string | number)[], message: string) =>
    ctx.addIssue({ code: 'custom', path, message });
  for (const name of Object.keys(s.costs ?? {}))
    checkCostParameterName(ctx, s.costModel, name, ['costs', name]);
  const cpuCheck = (path: (string | number)[], cpu: number) => {
    if (cpus >= 1 && cpu >= cpus)
      add(path, `expected a CPU below machine.cpus (${cpus}) (got ${cpu})`);
  };
  const unique = (list: { name: string }[], where: string[]) => {
    const seen = new Map<string, number>();
    list.forEach((item, i) => {
      const first = seen.get(item.name);
      if (first !== undefined) {
        add(
          [...where, i, 'name'],
          `expected a unique name, ${where.join('.')}[${first}] is also ${showValue(item.name)} (got ${showValue(item.name)})`,
        );
      } else seen.set(item.name, i);
    });
  };
  const inTime = (path: (string | number)[], at: number) => {
    if (s.duration > 0 && at >= s.duration)
      add(path, `expected a time below duration (${s.duration}) (got ${at})`);
  };

  s.designs.forEach((d, i) => {
    if (s.designs.indexOf(d) !== i)
      add(['designs', i], `expected each design once (got ${showValue(d)} again)`);
  });
  unique(s.guests, ['guests']);
  // Checks run on a scenario with other issues too: machine.cpu may be unknown.
  const vendor = Object.hasOwn(CPU_MODELS, s.machine.cpu) ? CPU_MODELS[s.machine.cpu].vendor : null;
  s.guests.forEach((g, i) => {
    cpuCheck(['guests', i, 'hostCpu'], g.hostCpu);
    inTime(['guests', i, 'startAt'], g.startAt);
    g.eventFilter?.events.forEach((e, j) => {
      if (vendor !== null && filterEventEncoding(e, vendor) === null)
        add(
          ['guests', i, 'eventFilter', 'events', j],
          `expected an event ${s.machine.cpu} has an encoding of, or a raw rUUEE (got ${showValue(e)})`,
        );
    });
  });
  unique(s.host.perf, ['host', 'perf']);
  s.host.perf.forEach((p, i) => {
    const seen = new Set<number>();
    p.cpus?.forEach((c, j) => {
      cpuCheck(['host', 'perf', i, 'cpus', j], c);
      if (seen.has(c))
        add(['host', 'perf', i, 'cpus', j], `expected each CPU once (got ${c} again)`);
      seen.add(c);
    });
    inTime(['host', 'perf', i, 'startAt'], p.startAt);
    if (p.stopAt !== undefined && (p.stopAt <= p.startAt || p.stopAt > s.duration)) {
      add(
        ['host', 'perf', i, 'stopAt'],
        `expected a time after startAt (${p.startAt}) and at most duration (${s.duration}) (got ${p.stopAt})`,
      );
    }
  });
  // Sessions times events on each CPU (a session without cpus counts on all).
  const eventsOn = new Array<number>(cpus).fill(0);
  s.host.perf.forEach((p, i) => {
    for (const cpu of p.cpus ?? eventsOn.keys()) {
      if (cpu >= cpus) continue;
      const before = eventsOn[cpu] ?? 0;
      eventsOn[cpu] = before + p.events.length;
      if (before <= MAX_HOST_EVENTS_PER_CPU && before + p.events.length > MAX_HOST_EVENTS_PER_CPU)
        add(
          ['host', 'perf', i, 'events'],
          `expected at most ${MAX_HOST_EVENTS_PER_CPU} host perf events counting on CPU ${cpu} in all sessions (got ${before + p.events.length} with this one)`,
        );
    }
  });
  const shares = new Map<number, number>();
  s.host.tasks.forEach((t, i) => {
    cpuCheck(['host', 'tasks', i, 'cpu'], t.cpu);
    const total = (shares.get(t.cpu) ?? 0) + t.share;
    shares.set(t.cpu, total);
    if (total >= 1) {
      add(
        ['host', 'tasks', i, 'share'],
        `expected the host tasks on CPU ${t.cpu} to share less than 1 in total, leaving time for vCPUs (got ${t.share}, ${+total.toFixed(6)} in total)`,
      );
    }
  });
}

/** Defaults that depend on other fields: a host session without cpus counts on all of them. */
function fillScenario(s: ScenarioShape) {
  const all = Array.from({ length: s.machine.cpus }, (_, i) => i);
  return {
    ...s,
    host: { ...s.host, perf: s.host.perf.map((p) => ({ ...p, cpus: p.cpus ?? all })) },
  };
}

export const ScenarioSchema = ScenarioObject.superRefine(checkScenario)
  .transform(fillScenario)
  .meta({
    title: 'vpmu scenario',
    description:
      'A vpmu scenario: a machine, guests and host profiling placed in time, a cost model, ' +
      'and the vPMU designs to compare (docs/scenarios.md).',
  });

/** A validated scenario, every default filled in. */
export type Scenario = z.output<typeof ScenarioSchema>;
/** A scenario as written (defaults optional). */
export type ScenarioInput = z.input<typeof ScenarioSchema>;
export type Workload = Scenario['guests'][number]['workload'];
export type GuestSpec = Scenario['guests'][number];
export type GuestPerfSession = NonNullable<GuestSpec['perf']>;
export type HostPerfSession = Scenario['host']['perf'][number];
export type HostTaskSpec = Scenario['host']['tasks'][number];
