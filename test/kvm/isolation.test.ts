/**
 * Issue 3 section 2, "Isolation: no one gets in where they do not belong":
 * property tests over random guest programs, random event filters, host perf
 * events and several VMs sharing a host CPU, on both vPMU designs and both
 * vendors.
 *
 * - A guest never reads a host counter value or another guest's, and never
 *   changes a host event's count or configuration (differential: what a guest
 *   observes is the same with and without host events / another VM).
 * - After every put the hardware holds no guest value; counters the guest does
 *   not own read as 0 or #GP.
 * - A guest cannot count an event the filter denies, whatever it writes.
 * - Host exclude_guest events count exactly the host's work, and (mediated)
 *   their enabled time excludes guest time.
 * - Random programs, garbage included: only GuestFault reaches the guest, and
 *   the host's state stays consistent.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from '../common/fc.ts';
import { GuestFault } from '../../src/common/errors.ts';
import { CPU_MODELS, type CpuModelName } from '../../src/hw/cpu-models.ts';
import type { Work } from '../../src/hw/events.ts';
import { EVTSEL, LVT, MSR, RDPMC } from '../../src/hw/msr.ts';
import {
  compileEventFilter,
  encodeMaskedEntry,
  isFixedCounterAllowed,
  isGpEventAllowed,
  type CompiledEventFilter,
  type PmuEventFilter,
} from '../../src/kvm/event-filter.ts';
import type { GuestCpu } from '../../src/kvm/guest-cpu.ts';
import type { EmulatedVpmu } from '../../src/kvm/emulated-vpmu.ts';
import type { VcpuImpl } from '../../src/kvm/vcpu.ts';
import type { KvmVm } from '../../src/kvm/vm.ts';
import type { KernelEvent } from '../../src/perf/event.ts';
import type { PerfEvent } from '../../src/perf/perf.ts';
import { HostMachine } from '../../src/sim/host.ts';

// ---------------------------------------------------------------------------
// Configurations: (host CPU, design)
// ---------------------------------------------------------------------------

interface Config {
  readonly cpu: CpuModelName;
  readonly mediated: boolean;
}

const CONFIGS: readonly Config[] = [
  { cpu: 'intel-sapphire-rapids', mediated: true }, // globals and RDPMC intercepted (3 of 4 fixed)
  { cpu: 'intel-skylake', mediated: true }, // globals passed through
  { cpu: 'amd-zen4', mediated: true },
  { cpu: 'intel-sapphire-rapids', mediated: false },
  { cpu: 'amd-zen4', mediated: false },
  { cpu: 'amd-zen3', mediated: false }, // no PerfMonV2: legacy host perf too
];

function vendorOf(cfg: Config): 'intel' | 'amd' {
  return CPU_MODELS[cfg.cpu].vendor;
}

function makeHost(cfg: Config): HostMachine {
  return new HostMachine({ cpu: cfg.cpu, kvm: { enableMediatedPmu: cfg.mediated } });
}

/**
 * The guest's GP counter count. Emulated: two fewer than the host, so that
 * KVM's pinned events and two host events never over-commit the PMU (then
 * the guest would legitimately lose counts, section 5 of the design doc).
 */
function guestGpCounters(cfg: Config, requested: number): number {
  const host = CPU_MODELS[cfg.cpu].gpCounters;
  if (!cfg.mediated) return host - 2;
  return Math.min(Math.max(1, requested), host);
}

// ---------------------------------------------------------------------------
// Guest programs
// ---------------------------------------------------------------------------

type Op =
  | { readonly op: 'rdmsr'; readonly msr: number }
  | { readonly op: 'wrmsr'; readonly msr: number; readonly value: bigint }
  | { readonly op: 'rdpmc'; readonly ecx: number }
  | { readonly op: 'cpuid'; readonly leaf: number }
  | { readonly op: 'exec'; readonly work: Work }
  | { readonly op: 'execEmulated'; readonly work: Work }
  /** HLT: KVM's fastpath when no counter counts instructions (no world switch), else a full exit. */
  | { readonly op: 'hlt' };

const INTEL_EVENTS: readonly (readonly [number, number])[] = [
  [0x3c, 0x00],
  [0xc0, 0x00],
  [0x3c, 0x01],
  [0x2e, 0x4f],
  [0x2e, 0x41],
  [0xc4, 0x00],
  [0xc5, 0x00],
  [0xa4, 0x01],
  [0xd0, 0x81],
  [0xd0, 0x82],
  [0xd0, 0x83],
];
const AMD_EVENTS: readonly (readonly [number, number])[] = [
  [0x76, 0x00],
  [0xc0, 0x00],
  [0xc2, 0x00],
  [0xc3, 0x00],
  [0x29, 0x01],
  [0x29, 0x02],
  [0x29, 0x04],
];

function range(base: number, count: number, stride = 1): number[] {
  return Array.from({ length: count }, (_, i) => base + i * stride);
}

const INTEL_SELECTORS = range(MSR.IA32_PERFEVTSEL0, 9);
const INTEL_COUNTERS = [
  ...range(MSR.IA32_PERFCTR0, 9),
  ...range(MSR.IA32_PMC0, 9),
  ...range(MSR.IA32_FIXED_CTR0, 5),
];
const INTEL_GLOBALS = [
  MSR.IA32_FIXED_CTR_CTRL,
  MSR.IA32_PERF_GLOBAL_STATUS,
  MSR.IA32_PERF_GLOBAL_CTRL,
  MSR.IA32_PERF_GLOBAL_OVF_CTRL,
  MSR.IA32_PERF_GLOBAL_STATUS_SET,
  MSR.IA32_PERF_CAPABILITIES,
];
const AMD_SELECTORS = [...range(MSR.MSR_K7_EVNTSEL0, 4), ...range(MSR.MSR_F15H_PERF_CTL0, 7, 2)];
const AMD_COUNTERS = [...range(MSR.MSR_K7_PERFCTR0, 4), ...range(MSR.MSR_F15H_PERF_CTR0, 7, 2)];
const AMD_GLOBALS = range(MSR.MSR_AMD64_PERF_CNTR_GLOBAL_STATUS, 4);
const APIC = [MSR.X2APIC_LVTPC, MSR.X2APIC_EOI];

function selectorArb(vendor: 'intel' | 'amd'): fc.Arbitrary<bigint> {
  const events = vendor === 'intel' ? INTEL_EVENTS : AMD_EVENTS;
  const flag = (bit: bigint) => fc.boolean().map((b) => (b ? bit : 0n));
  return fc
    .tuple(
      fc.constantFrom(...events),
      fc.boolean(),
      flag(EVTSEL.USR),
      flag(EVTSEL.OS),
      flag(EVTSEL.INT),
      fc.oneof(
        { weight: 6, arbitrary: fc.constant(0n) },
        { weight: 1, arbitrary: fc.constantFrom(EVTSEL.EDGE, EVTSEL.INV, 1n << 24n, 2n << 24n) },
        { weight: 1, arbitrary: fc.constantFrom(EVTSEL.ANY, EVTSEL.PC, EVTSEL.AMD_HOST_ONLY) },
        { weight: 1, arbitrary: fc.constantFrom(EVTSEL.AMD_GUEST_ONLY, 1n << 32n, 1n << 63n) },
      ),
    )
    .map(
      ([[event, umask], en, usr, os, int, extra]) =>
        BigInt(event) | (BigInt(umask) << 8n) | (en ? EVTSEL.EN : 0n) | usr | os | int | extra,
    );
}

/** Counter values near a wrap, so overflows (and PMIs) happen in short programs. */
const counterValueArb = fc.oneof(
  fc.integer({ min: 1, max: 5_000 }).map((k) => (1n << 48n) - BigInt(k)),
  fc.integer({ min: 1, max: 5_000 }).map((k) => (1n << 32n) - BigInt(k)),
  fc.integer({ min: 1, max: 5_000 }).map((k) => (1n << 31n) - BigInt(k)),
  fc.bigInt(0n, (1n << 48n) - 1n),
  fc.constant(0n),
);

const globalCtrlArb = fc.oneof(
  fc
    .integer({ min: 0, max: 0xff })
    .chain((gp) => fc.integer({ min: 0, max: 0xf }).map((fx) => BigInt(gp) | (BigInt(fx) << 32n))),
  fc.bigInt(0n, (1n << 64n) - 1n),
);

const fixedCtrlArb = fc.oneof(
  fc.integer({ min: 0, max: 0xfff }).map((v) => BigInt(v & 0xbbb)),
  fc.integer({ min: 0, max: 0xffff }).map(BigInt),
);

const lvtpcArb = fc
  .tuple(
    fc.integer({ min: 0x20, max: 0xff }),
    fc.integer({ min: 0, max: 3 }).map((n) => n === 0),
    fc.constantFrom(LVT.DM_FIXED, LVT.DM_FIXED, LVT.DM_NMI),
  )
  .map(([vector, masked, dm]) => BigInt(vector | dm | (masked ? LVT.MASKED : 0)));

const anyU64 = fc.bigInt(0n, (1n << 64n) - 1n);

function wrmsrArb(vendor: 'intel' | 'amd'): fc.Arbitrary<Op> {
  const sel = vendor === 'intel' ? INTEL_SELECTORS : AMD_SELECTORS;
  const ctr = vendor === 'intel' ? INTEL_COUNTERS : AMD_COUNTERS;
  const glob = vendor === 'intel' ? INTEL_GLOBALS : AMD_GLOBALS;
  const w = (msr: fc.Arbitrary<number>, value: fc.Arbitrary<bigint>): fc.Arbitrary<Op> =>
    fc.tuple(msr, value).map(([m, v]) => ({ op: 'wrmsr', msr: m, value: v }));
  return fc.oneof(
    { weight: 5, arbitrary: w(fc.constantFrom(...sel), fc.oneof(selectorArb(vendor), anyU64)) },
    { weight: 4, arbitrary: w(fc.constantFrom(...ctr), fc.oneof(counterValueArb, anyU64)) },
    { weight: 2, arbitrary: w(fc.constantFrom(...glob), fc.oneof(globalCtrlArb, fixedCtrlArb)) },
    {
      weight: 2,
      arbitrary: w(
        fc.constantFrom(
          vendor === 'intel' ? MSR.IA32_PERF_GLOBAL_CTRL : MSR.MSR_AMD64_PERF_CNTR_GLOBAL_CTL,
        ),
        globalCtrlArb,
      ),
    },
    {
      weight: vendor === 'intel' ? 2 : 0,
      arbitrary: w(fc.constant(MSR.IA32_FIXED_CTR_CTRL), fixedCtrlArb),
    },
    { weight: 1, arbitrary: w(fc.constant(MSR.X2APIC_LVTPC), lvtpcArb) },
    { weight: 1, arbitrary: w(fc.constantFrom(...APIC, ...glob), anyU64) },
    {
      weight: 1,
      arbitrary: w(
        fc.oneof(
          fc.integer({ min: 0, max: 0xffffffff }),
          fc.constantFrom(...INTEL_COUNTERS, ...AMD_COUNTERS, ...INTEL_SELECTORS, ...AMD_SELECTORS),
        ),
        anyU64,
      ),
    },
  );
}

function rdmsrArb(vendor: 'intel' | 'amd'): fc.Arbitrary<Op> {
  const own =
    vendor === 'intel'
      ? [...INTEL_SELECTORS, ...INTEL_COUNTERS, ...INTEL_GLOBALS]
      : [...AMD_SELECTORS, ...AMD_COUNTERS, ...AMD_GLOBALS];
  const other =
    vendor === 'intel'
      ? [...AMD_SELECTORS, ...AMD_COUNTERS, ...AMD_GLOBALS]
      : [...INTEL_SELECTORS, ...INTEL_COUNTERS, ...INTEL_GLOBALS];
  return fc
    .oneof(
      { weight: 6, arbitrary: fc.constantFrom(...own) },
      { weight: 1, arbitrary: fc.constantFrom(...other, ...APIC) },
      { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffffffff }) },
    )
    .map((msr) => ({ op: 'rdmsr', msr }));
}

const rdpmcArb: fc.Arbitrary<Op> = fc
  .oneof(
    { weight: 4, arbitrary: fc.integer({ min: 0, max: 8 }) },
    { weight: 2, arbitrary: fc.integer({ min: 0, max: 4 }).map((i) => RDPMC.FIXED | i) },
    { weight: 1, arbitrary: fc.constantFrom(1 << 31, (1 << 31) >>> 0, 0x10000) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffffffff }) },
  )
  .map((ecx) => ({ op: 'rdpmc', ecx: ecx >>> 0 }));

const cpuidArb: fc.Arbitrary<Op> = fc
  .oneof(
    fc.constantFrom(0, 1, 0xa, 0x80000000, 0x80000001, 0x80000022),
    fc.integer({ min: 0, max: 0xffffffff }),
  )
  .map((leaf) => ({ op: 'cpuid', leaf }));

const workArb: fc.Arbitrary<Work> = fc
  .record({
    instructions: fc.integer({ min: 0, max: 200_000 }),
    branches: fc.integer({ min: 0, max: 40_000 }),
    cycles: fc.option(fc.integer({ min: 0, max: 400_000 }), { nil: undefined }),
    llcReferences: fc.integer({ min: 0, max: 2_000 }),
    llcMisses: fc.integer({ min: 0, max: 500 }),
    branchMisses: fc.integer({ min: 0, max: 1_000 }),
    loads: fc.integer({ min: 0, max: 50_000 }),
    stores: fc.integer({ min: 0, max: 20_000 }),
    cpl: fc.constantFrom<0 | 3>(0, 3),
  })
  .map((w) => {
    const out: Work = { ...w };
    if (out.cycles === undefined) delete out.cycles;
    return out;
  });

const emulatedArb: fc.Arbitrary<Op> = fc
  .tuple(
    fc.integer({ min: 0, max: 6 }),
    fc.integer({ min: 0, max: 6 }),
    fc.constantFrom<0 | 3>(0, 3),
  )
  .map(([instructions, branches, cpl]) => ({
    op: 'execEmulated',
    work: { instructions, branches: Math.min(branches, instructions), cpl },
  }));

/** The guest-visible counter and selector MSRs of counter i (GP) or fixed counter j. */
function gpMsrs(vendor: 'intel' | 'amd', i: number): { ctr: number; sel: number } {
  if (vendor === 'intel') return { ctr: MSR.IA32_PERFCTR0 + i, sel: MSR.IA32_PERFEVTSEL0 + i };
  // The K7 MSRs exist for every AMD guest; F15H ones only with PerfCtrExtCore.
  if (i < 4) return { ctr: MSR.MSR_K7_PERFCTR0 + i, sel: MSR.MSR_K7_EVNTSEL0 + i };
  return { ctr: MSR.MSR_F15H_PERF_CTR0 + 2 * i, sel: MSR.MSR_F15H_PERF_CTL0 + 2 * i };
}

function opArb(vendor: 'intel' | 'amd'): fc.Arbitrary<Op> {
  return fc.oneof(
    { weight: 8, arbitrary: wrmsrArb(vendor) },
    { weight: 4, arbitrary: rdmsrArb(vendor) },
    { weight: 2, arbitrary: rdpmcArb },
    { weight: 1, arbitrary: cpuidArb },
    { weight: 5, arbitrary: workArb.map((work): Op => ({ op: 'exec', work })) },
    { weight: 2, arbitrary: emulatedArb },
    { weight: 1, arbitrary: fc.constant<Op>({ op: 'hlt' }) },
  );
}

/** A counting selector: a known event, enabled, at some CPL, often with INT. */
function countingSelectorArb(vendor: 'intel' | 'amd'): fc.Arbitrary<bigint> {
  const events = vendor === 'intel' ? INTEL_EVENTS : AMD_EVENTS;
  return fc
    .tuple(
      fc.constantFrom(...events),
      fc.constantFrom(EVTSEL.OS | EVTSEL.USR, EVTSEL.OS, EVTSEL.USR),
      fc.boolean(),
    )
    .map(
      ([[event, umask], cpl, int]) =>
        BigInt(event) | (BigInt(umask) << 8n) | EVTSEL.EN | cpl | (int ? EVTSEL.INT : 0n),
    );
}

/**
 * What a PMU driver does (so that random programs count, overflow and take
 * PMIs often): program GP counter i (the MSRs every guest of the vendor
 * has), maybe preload it near a wrap, maybe unmask LVTPC.
 */
function setupGpArb(vendor: 'intel' | 'amd'): fc.Arbitrary<Op[]> {
  return fc
    .tuple(
      fc.integer({ min: 0, max: 5 }),
      countingSelectorArb(vendor),
      fc.option(fc.integer({ min: 1, max: 20_000 }), { nil: undefined, freq: 4 }),
      fc.boolean(),
      fc.option(lvtpcArb, { nil: undefined, freq: 2 }),
    )
    .map(([i, sel, toWrap, legacy, lvtpc]) => {
      const { ctr, sel: selMsr } = gpMsrs(vendor, i);
      const ops: Op[] = [];
      if (lvtpc !== undefined) ops.push({ op: 'wrmsr', msr: MSR.X2APIC_LVTPC, value: lvtpc });
      if (toWrap !== undefined) {
        // `toWrap` events before the counter wraps. Intel: the full-width alias
        // takes the value as is, the legacy one sign-extends 32 bits.
        const k = BigInt(toWrap);
        if (vendor === 'amd') ops.push({ op: 'wrmsr', msr: ctr, value: (1n << 48n) - k });
        else if (legacy) ops.push({ op: 'wrmsr', msr: ctr, value: (1n << 32n) - k });
        else ops.push({ op: 'wrmsr', msr: MSR.IA32_PMC0 + i, value: (1n << 48n) - k });
      }
      ops.push({ op: 'wrmsr', msr: selMsr, value: sel });
      return ops;
    });
}

/** Intel: fixed counters on (FIXED_CTR_CTRL and their GLOBAL_CTRL bits), maybe preloaded. */
const setupFixedArb: fc.Arbitrary<Op[]> = fc
  .tuple(
    fc.integer({ min: 0, max: 0xfff }),
    fc.integer({ min: 0, max: 0xff }),
    fc.option(fc.tuple(fc.integer({ min: 0, max: 2 }), counterValueArb), { nil: undefined }),
  )
  .map(([ctrl, gp, preload]) => {
    const ops: Op[] = [];
    if (preload)
      ops.push({ op: 'wrmsr', msr: MSR.IA32_FIXED_CTR0 + preload[0], value: preload[1] });
    ops.push({ op: 'wrmsr', msr: MSR.IA32_FIXED_CTR_CTRL, value: BigInt(ctrl & 0xbbb) });
    ops.push({ op: 'wrmsr', msr: MSR.IA32_PERF_GLOBAL_CTRL, value: BigInt(gp) | (7n << 32n) });
    return ops;
  });

/** Read every counter the guest may have, as a profiler's read-out does. */
function readAllArb(vendor: 'intel' | 'amd'): fc.Arbitrary<Op[]> {
  return fc.constantFrom<'rdmsr' | 'rdpmc'>('rdmsr', 'rdpmc').map((how) => {
    const ops: Op[] = [];
    for (let i = 0; i < 8; i++) {
      if (how === 'rdpmc') ops.push({ op: 'rdpmc', ecx: i });
      else ops.push({ op: 'rdmsr', msr: gpMsrs(vendor, i).ctr });
    }
    if (vendor === 'intel') {
      for (let j = 0; j < 4; j++) {
        if (how === 'rdpmc') ops.push({ op: 'rdpmc', ecx: RDPMC.FIXED | j });
        else ops.push({ op: 'rdmsr', msr: MSR.IA32_FIXED_CTR0 + j });
      }
      ops.push({ op: 'rdmsr', msr: MSR.IA32_PERF_GLOBAL_STATUS });
    } else ops.push({ op: 'rdmsr', msr: MSR.MSR_AMD64_PERF_CNTR_GLOBAL_STATUS });
    return ops;
  });
}

function programArb(vendor: 'intel' | 'amd', maxLength = 14): fc.Arbitrary<Op[]> {
  const chunk = fc.oneof(
    { weight: 10, arbitrary: opArb(vendor).map((op) => [op]) },
    { weight: 4, arbitrary: setupGpArb(vendor) },
    { weight: vendor === 'intel' ? 2 : 0, arbitrary: setupFixedArb },
    { weight: 2, arbitrary: readAllArb(vendor) },
    { weight: 4, arbitrary: workArb.map((work): Op[] => [{ op: 'exec', work }]) },
  );
  return fc.array(chunk, { minLength: 1, maxLength }).map((chunks) => chunks.flat());
}

/** What the guest observes: each op's result, and interrupts where they land. */
type Observation = string;

function show(value: unknown): string {
  if (typeof value === 'bigint') return `0x${value.toString(16)}`;
  if (value === undefined) return 'ok';
  return JSON.stringify(value);
}

/** One op inside the guest; a GuestFault is observed, anything else escapes. */
function doOp(g: GuestCpu, op: Op): unknown {
  switch (op.op) {
    case 'rdmsr':
      return g.rdmsr(op.msr);
    case 'wrmsr':
      return g.wrmsr(op.msr, op.value);
    case 'rdpmc':
      return g.rdpmc(op.ecx);
    case 'cpuid':
      return g.cpuid(op.leaf);
    case 'exec':
      return g.exec(op.work);
    case 'execEmulated':
      return g.execEmulated(op.work);
    case 'hlt':
      return g.hlt();
  }
}

interface RunHooks {
  /** After each op, with its result (or the GuestFault). */
  after?(g: GuestCpu, op: Op, result: unknown, fault: GuestFault | null): void;
  /** Before each op. */
  before?(g: GuestCpu, op: Op): void;
  /** First thing after VM-entry, last thing before the exit to userspace. */
  start?(g: GuestCpu): void;
  end?(g: GuestCpu): void;
}

/**
 * Run a program: every vector gets a handler that only logs (a PMI handler
 * that does nothing else), every op's result is logged, and only GuestFault
 * may come out of an op.
 */
function runProgram(
  vcpu: VcpuImpl,
  ops: readonly Op[],
  log: Observation[],
  hooks: RunHooks = {},
): void {
  vcpu.run((g) => {
    for (let v = 0; v < 256; v++) g.onInterrupt(v, () => log.push(`irq ${v}`));
    hooks.start?.(g);
    for (const op of ops) {
      hooks.before?.(g, op);
      let result: unknown;
      let fault: GuestFault | null = null;
      try {
        result = doOp(g, op);
        log.push(show(result));
      } catch (error) {
        if (!(error instanceof GuestFault)) throw error;
        fault = error;
        log.push(error.exception);
      }
      hooks.after?.(g, op, result, fault);
    }
    hooks.end?.(g);
  });
}

function createVcpu(
  host: HostMachine,
  cfg: Config,
  gp: number,
  lapic = true,
): { vm: KvmVm; vcpu: VcpuImpl } {
  const vm = host.kvm.createVm({ lapic }) as KvmVm;
  const vcpu = vm.createVcpu({ pmu: { gpCounters: guestGpCounters(cfg, gp) } }) as VcpuImpl;
  return { vm, vcpu };
}

// ---------------------------------------------------------------------------
// Host events
// ---------------------------------------------------------------------------

/** The perf core's event behind a public handle (perf.ts PerfEventHandle). */
function kernelOf(e: PerfEvent): KernelEvent {
  return (e as unknown as { readonly kernel: KernelEvent }).kernel;
}

/** Two GP-only exclude_guest host events (raw, no fixed counter can take them). */
function openHostEvents(host: HostMachine, cfg: Config, pinned: boolean): PerfEvent[] {
  const raws = vendorOf(cfg) === 'intel' ? [0x00c4, 0x4f2e] : [0x00c2, 0x00c3];
  return raws.map((config) => host.perf.open({ config, excludeGuest: true, pinned }, { cpu: 0 }));
}

const hostWorkArb: fc.Arbitrary<Work> = fc.record({
  instructions: fc.integer({ min: 1, max: 3_000_000 }),
  branches: fc.integer({ min: 0, max: 500_000 }),
  llcReferences: fc.integer({ min: 0, max: 50_000 }),
  branchMisses: fc.integer({ min: 0, max: 10_000 }),
  cpl: fc.constantFrom<0 | 3>(0, 3),
});

/** What the two host events of openHostEvents count in a block of work. */
function hostEventCounts(cfg: Config, w: Work): [number, number] {
  if (vendorOf(cfg) === 'intel') return [w.branches ?? 0, w.llcReferences ?? 0];
  return [w.branches ?? 0, w.branchMisses ?? 0];
}

type Step =
  | { readonly kind: 'run'; readonly ops: readonly Op[] }
  /** Host work, by an ordinary task or by the vCPU's own thread (the VMM between KVM_RUNs). */
  | { readonly kind: 'host'; readonly work: Work; readonly vcpuThread: boolean };

function hostStep(host: HostMachine, vcpu: VcpuImpl, step: Step & { kind: 'host' }): void {
  host.exec(step.vcpuThread ? { ...step.work, pid: vcpu.pid } : step.work);
}

function stepsArb(vendor: 'intel' | 'amd', maxLength = 5): fc.Arbitrary<Step[]> {
  return fc.array(
    fc.oneof(
      { weight: 3, arbitrary: programArb(vendor).map((ops): Step => ({ kind: 'run', ops })) },
      {
        weight: 2,
        arbitrary: fc
          .tuple(hostWorkArb, fc.boolean())
          .map(([work, vcpuThread]): Step => ({ kind: 'host', work, vcpuThread })),
      },
    ),
    { minLength: 1, maxLength },
  );
}

const configArb = fc.integer({ min: 0, max: CONFIGS.length - 1 }).map((i) => CONFIGS[i]!);

/** Every counter and the overflow status as the guest reads them ('#GP' where it faults). */
/**
 * The guest's counters and status as userspace reads them between KVM_RUNs
 * (KVM_GET_MSRS through KVM's PMU model): reading them with the guest's own
 * RDMSRs would retire instructions and change them.
 */
function readCountersFromKvm(vcpu: VcpuImpl, vendor: 'intel' | 'amd'): string[] {
  const msrs = range(0, 8).map((i) => gpMsrs(vendor, i).ctr);
  if (vendor === 'intel') msrs.push(...range(MSR.IA32_FIXED_CTR0, 3), MSR.IA32_PERF_GLOBAL_STATUS);
  else msrs.push(MSR.MSR_AMD64_PERF_CNTR_GLOBAL_STATUS);
  return msrs.map((msr) => {
    const value = vcpu.pmu.getMsr(msr, true);
    return typeof value === 'bigint' ? show(value) : '#GP';
  });
}

// ---------------------------------------------------------------------------
// Hardware inspection after a put
// ---------------------------------------------------------------------------

/** Host perf's events on hardware counters of CPU 0, by counter index (GP i, fixed 32 + j). */
function hostActive(host: HostMachine): Map<number, KernelEvent> {
  const map = new Map<number, KernelEvent>();
  for (const e of host.perfCore.x86!.activeEvents(0)) map.set(e.idx, e);
  return map;
}

/**
 * After kvm_mediated_pmu_put and perf_put_guest_context: no guest value is
 * left in the hardware. Every counter the guest owns is either zero with a
 * zero selector, or host perf's (its selector exactly perf's config);
 * FIXED_CTR_CTRL fields likewise; status holds none of the guest's bits; the
 * global enable is perf's; LVTPC is back to NMI.
 */
function assertHardwareHasNoGuestState(host: HostMachine, vcpu: VcpuImpl, where: string): void {
  const cpu = host.cpus[0]!;
  const pmu = vcpu.pmu;
  const intel = cpu.model.vendor === 'intel';
  const active = hostActive(host);
  assert.equal(cpu.guestMode, false, `${where}: guest mode`);
  assert.equal(vcpu.loaded, false, `${where}: guest state still loaded`);
  assert.equal(host.perfCore.isGuestContextLoaded(0), false, `${where}: perf guest context`);
  assert.equal(cpu.rdmsr(MSR.X2APIC_LVTPC), BigInt(LVT.DM_NMI), `${where}: LVTPC`);
  for (let i = 0; i < pmu.nrArchGpCounters; i++) {
    const selMsr = intel ? MSR.IA32_PERFEVTSEL0 + i : MSR.MSR_F15H_PERF_CTL0 + 2 * i;
    const sel = cpu.rdmsr(selMsr);
    const e = active.get(i);
    if (e) {
      assert.equal(sel, e.hw.config | EVTSEL.EN, `${where}: GP ${i} selector is not host perf's`);
    } else {
      assert.equal(sel, 0n, `${where}: GP ${i} selector left 0x${sel.toString(16)}`);
      assert.equal(cpu.rdpmc(i), 0n, `${where}: GP ${i} counter left non-zero`);
    }
  }
  if (intel) {
    const ctrl = cpu.rdmsr(MSR.IA32_FIXED_CTR_CTRL);
    for (let j = 0; j < pmu.nrArchFixedCounters; j++) {
      const field = Number((ctrl >> BigInt(4 * j)) & 0xfn);
      const e = active.get(32 + j);
      if (e) assert.equal(field, e.hw.fixedBits, `${where}: fixed ${j} field is not host perf's`);
      else {
        assert.equal(field, 0, `${where}: fixed ${j} field left ${field}`);
        assert.equal(cpu.rdpmc(RDPMC.FIXED | j), 0n, `${where}: fixed ${j} counter left non-zero`);
      }
    }
    assert.equal(cpu.rdmsr(MSR.IA32_PERF_GLOBAL_STATUS), 0n, `${where}: GLOBAL_STATUS`);
    assert.equal(
      cpu.rdmsr(MSR.IA32_PERF_GLOBAL_CTRL),
      host.perfExports.guestSwitchGlobalCtrl(0)!.host,
      `${where}: GLOBAL_CTRL is not perf's`,
    );
  } else {
    assert.equal(cpu.rdmsr(MSR.MSR_AMD64_PERF_CNTR_GLOBAL_STATUS), 0n, `${where}: GLOBAL_STATUS`);
    assert.equal(
      cpu.rdmsr(MSR.MSR_AMD64_PERF_CNTR_GLOBAL_CTL),
      (1n << BigInt(cpu.model.gpCounters)) - 1n,
      `${where}: GLOBAL_CTL is not perf's`,
    );
  }
}

/** Run `check` right after every put of a mediated vCPU (inside exits too). */
function afterEveryPut(vcpu: VcpuImpl, check: (where: string) => void): { puts: number } {
  const design = vcpu.design;
  const put = design.afterExit.bind(design);
  const stats = { puts: 0 };
  design.afterExit = () => {
    put();
    stats.puts++;
    check(`put #${stats.puts}`);
  };
  return stats;
}

/**
 * Whether a guest access touches a counter the guest does not have (beyond
 * its GP / fixed counts): then it must read 0 or #GP.
 */
function notOwnedCounter(vendor: 'intel' | 'amd', vcpu: VcpuImpl, op: Op): boolean {
  const { nrArchGpCounters: gp, nrArchFixedCounters: fixed } = vcpu.pmu;
  if (op.op === 'rdpmc') {
    if (vendor === 'amd') return op.ecx >= gp;
    const type = op.ecx >>> 16;
    const index = op.ecx & 0xffff;
    if (type === 0) return index >= gp;
    if (type === RDPMC.FIXED >>> 16) return index >= fixed;
    return true;
  }
  if (op.op !== 'rdmsr') return false;
  const m = op.msr;
  if (vendor === 'intel') {
    if (m >= MSR.IA32_PERFCTR0 && m < MSR.IA32_PERFCTR0 + 9) return m - MSR.IA32_PERFCTR0 >= gp;
    if (m >= MSR.IA32_PMC0 && m < MSR.IA32_PMC0 + 9) return m - MSR.IA32_PMC0 >= gp;
    if (m >= MSR.IA32_FIXED_CTR0 && m < MSR.IA32_FIXED_CTR0 + 5)
      return m - MSR.IA32_FIXED_CTR0 >= fixed;
    return false;
  }
  if (m >= MSR.MSR_K7_PERFCTR0 && m < MSR.MSR_K7_PERFCTR0 + 4) return m - MSR.MSR_K7_PERFCTR0 >= gp;
  const off = m - MSR.MSR_F15H_PERF_CTR0;
  if (off >= 0 && off < 14 && off % 2 === 0) return off / 2 >= gp;
  return false;
}

// ---------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------

describe('isolation: a guest never sees host or other-guest counter values', () => {
  it('what a guest observes is the same with and without host events and host work interleaved', () => {
    fc.assert(
      fc.property(
        configArb.chain((cfg) =>
          fc.record({
            cfg: fc.constant(cfg),
            gp: fc.integer({ min: 1, max: 8 }),
            pinned: fc.boolean(),
            steps: stepsArb(vendorOf(cfg)),
          }),
        ),
        ({ cfg, gp, pinned, steps }) => {
          // Pinned host events would take counters before KVM's (pinned, task)
          // events in the emulated design: only flexible ones there, and only
          // GP-only ones (no over-commit, so no multiplexing timer either).
          // Mediated: also the generic events, on fixed counters (Intel) and
          // on counters a small guest does not own.
          const observe = (withHostEvents: boolean): Observation[] => {
            const host = makeHost(cfg);
            const events = withHostEvents ? openHostEvents(host, cfg, pinned && cfg.mediated) : [];
            if (withHostEvents && cfg.mediated) {
              for (const config of ['instructions', 'cycles', 'branch-misses']) {
                events.push(host.perf.open({ config, excludeGuest: true, pinned }, { cpu: 0 }));
              }
            }
            const { vcpu } = createVcpu(host, cfg, gp);
            const log: Observation[] = [];
            for (const step of steps) {
              if (step.kind === 'host') hostStep(host, vcpu, step);
              else runProgram(vcpu, step.ops, log);
            }
            for (const e of events) assert.equal(host.perfCore.eventState(kernelOf(e)), 1);
            return log;
          };
          assert.deepEqual(observe(true), observe(false));
        },
      ),
      { includeErrorInReport: true, numRuns: 600 },
    );
  });

  it('what a guest observes is the same whether another VM ran on its CPU in between or not', () => {
    fc.assert(
      fc.property(
        configArb.chain((cfg) =>
          fc.record({
            cfg: fc.constant(cfg),
            gpA: fc.integer({ min: 1, max: 8 }),
            gpB: fc.integer({ min: 1, max: 8 }),
            // Each entry: which VM runs (interleaved in any order) and its program.
            schedule: fc.array(
              fc.tuple(fc.constantFrom<'A' | 'B'>('A', 'B'), programArb(vendorOf(cfg))),
              { minLength: 2, maxLength: 7 },
            ),
          }),
        ),
        ({ cfg, gpA, gpB, schedule }) => {
          // Variant 1: VM A really runs. Variant 2: VM A's native work is
          // retired by the host instead (the same CPU time, so the host's
          // timers interrupt B at the same points), and A's PMU state never
          // reaches the hardware.
          const observeB = (aRuns: boolean): Observation[] => {
            const host = makeHost(cfg);
            const a = createVcpu(host, cfg, gpA).vcpu;
            const b = createVcpu(host, cfg, gpB).vcpu;
            const logB: Observation[] = [];
            for (const [who, ops] of schedule) {
              if (who === 'B') runProgram(b, ops, logB);
              else if (aRuns) runProgram(a, ops, []);
              else for (const op of ops) if (op.op === 'exec') host.exec(op.work);
            }
            return logB;
          };
          assert.deepEqual(observeB(true), observeB(false));
        },
      ),
      { includeErrorInReport: true, numRuns: 500 },
    );
  });

  it('host work, even on the vCPU thread, never reaches a guest counter or its status', () => {
    fc.assert(
      fc.property(
        configArb.chain((cfg) =>
          fc.record({
            cfg: fc.constant(cfg),
            gp: fc.integer({ min: 1, max: 8 }),
            hostEvents: fc.boolean(),
            steps: stepsArb(vendorOf(cfg), 7),
          }),
        ),
        ({ cfg, gp, hostEvents, steps }) => {
          const vendor = vendorOf(cfg);
          const host = makeHost(cfg);
          if (hostEvents) openHostEvents(host, cfg, cfg.mediated);
          const { vcpu } = createVcpu(host, cfg, gp);
          let last: string[] | null = null;
          for (const step of steps) {
            if (step.kind === 'host') {
              hostStep(host, vcpu, step);
              continue;
            }
            if (last)
              assert.deepEqual(readCountersFromKvm(vcpu, vendor), last, 'changed between KVM_RUNs');
            runProgram(vcpu, step.ops, []);
            last = readCountersFromKvm(vcpu, vendor);
          }
        },
      ),
      { includeErrorInReport: true, numRuns: 500 },
    );
  });

  it('after every put no guest value is left in hardware; not-owned counters read 0 or #GP (mediated)', () => {
    const mediated = CONFIGS.filter((c) => c.mediated);
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: mediated.length - 1 }).chain((i) =>
          fc.record({
            cfg: fc.constant(mediated[i]!),
            gp: fc.integer({ min: 1, max: 8 }),
            hostEvents: fc.boolean(),
            steps: stepsArb(vendorOf(mediated[i]!)),
          }),
        ),
        ({ cfg, gp, hostEvents, steps }) => {
          const host = makeHost(cfg);
          const vendor = vendorOf(cfg);
          if (hostEvents) {
            openHostEvents(host, cfg, true);
            // Events that land on counters a small guest does not own, and on fixed counters.
            host.perf.open({ config: 'instructions', excludeGuest: true }, { cpu: 0 });
            host.perf.open({ config: 'cycles', excludeGuest: true, pinned: true }, { cpu: 0 });
          }
          const { vcpu } = createVcpu(host, cfg, gp);
          const stats = afterEveryPut(vcpu, (where) =>
            assertHardwareHasNoGuestState(host, vcpu, where),
          );
          for (const step of steps) {
            if (step.kind === 'host') {
              hostStep(host, vcpu, step);
              continue;
            }
            runProgram(vcpu, step.ops, [], {
              after: (_g, op, result, fault) => {
                if (!notOwnedCounter(vendor, vcpu, op)) return;
                assert.ok(
                  fault !== null || result === 0n,
                  `${show(op)} reached a counter the guest does not own: ${show(result)}`,
                );
              },
            });
            assertHardwareHasNoGuestState(host, vcpu, 'after KVM_RUN');
          }
          if (steps.some((s) => s.kind === 'run')) assert.ok(stats.puts > 0);
        },
      ),
      { includeErrorInReport: true, numRuns: 600 },
    );
  });
});

// ---------------------------------------------------------------------------
// The event filter
// ---------------------------------------------------------------------------

function filterArb(vendor: 'intel' | 'amd'): fc.Arbitrary<PmuEventFilter> {
  const events = vendor === 'intel' ? INTEL_EVENTS : AMD_EVENTS;
  const plain = fc.oneof(
    { weight: 5, arbitrary: fc.constantFrom(...events).map(([e, u]) => BigInt(e | (u << 8))) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff }).map(BigInt) },
    { weight: 1, arbitrary: anyU64 },
  );
  const masked = fc
    .tuple(
      fc.constantFrom(...events),
      fc.integer({ min: 0, max: 0xff }),
      fc.integer({ min: 0, max: 0xff }),
      fc.boolean(),
      fc.boolean(),
    )
    .map(([[event, umask], mask, match, exclude, exact]) =>
      exact
        ? encodeMaskedEntry(event, 0xff, umask, exclude)
        : encodeMaskedEntry(event, mask, match & mask, exclude),
    );
  return fc.oneof(
    fc.record({
      action: fc.constantFrom<'allow' | 'deny'>('allow', 'deny'),
      events: fc.array(plain, { maxLength: 6 }),
      fixedCounterBitmap: fc.integer({ min: 0, max: 7 }),
    }),
    fc.record({
      action: fc.constantFrom<'allow' | 'deny'>('allow', 'deny'),
      events: fc.array(masked, { maxLength: 6 }),
      fixedCounterBitmap: fc.integer({ min: 0, max: 7 }),
      flags: fc.constant(1),
    }),
  );
}

interface GuestView {
  gpSel: bigint[];
  gpCtr: bigint[];
  fixedCtrl: bigint;
  fixedCtr: bigint[];
}

function readView(g: GuestCpu, vendor: 'intel' | 'amd', vcpu: VcpuImpl): GuestView {
  const { nrArchGpCounters: gp, nrArchFixedCounters: fixed } = vcpu.pmu;
  const view: GuestView = { gpSel: [], gpCtr: [], fixedCtrl: 0n, fixedCtr: [] };
  for (let i = 0; i < gp; i++) {
    const { ctr, sel } = gpMsrs(vendor, i);
    view.gpSel.push(g.rdmsr(sel));
    view.gpCtr.push(g.rdmsr(ctr));
  }
  if (vendor === 'intel' && fixed > 0) {
    view.fixedCtrl = g.rdmsr(MSR.IA32_FIXED_CTR_CTRL);
    for (let j = 0; j < fixed; j++) view.fixedCtr.push(g.rdmsr(MSR.IA32_FIXED_CTR0 + j));
  }
  return view;
}

describe('isolation: the event filter cannot be bypassed', () => {
  it('a denied event never advances, whatever the guest writes (filters set between runs)', () => {
    fc.assert(
      fc.property(
        configArb.chain((cfg) =>
          fc.record({
            cfg: fc.constant(cfg),
            gp: fc.integer({ min: 1, max: 8 }),
            rounds: fc.array(
              fc.tuple(
                fc.option(filterArb(vendorOf(cfg)), { nil: undefined }),
                programArb(vendorOf(cfg), 18),
              ),
              { minLength: 1, maxLength: 4 },
            ),
          }),
        ),
        ({ cfg, gp, rounds }) => {
          const vendor = vendorOf(cfg);
          const host = makeHost(cfg);
          const { vm, vcpu } = createVcpu(host, cfg, gp);
          let filter: CompiledEventFilter | null = null;
          // The upstream gap (docs/kvm-vpmu.md "An upstream gap"): on a mediated
          // Intel vCPU, a FIXED_CTR_CTRL write that leaves a denied counter's
          // field unchanged hands that field to fixed_ctr_ctrl_hw unfiltered.
          // Tracked here so the property checks everything else strictly.
          const gapArmed = [false, false, false, false];
          let fixedCtrl = 0n;
          const field = (v: bigint, j: number) => Number((v >> BigInt(4 * j)) & 0xfn);
          for (const [spec, ops] of rounds) {
            if (spec) {
              vm.setPmuEventFilter(spec);
              filter = compileEventFilter(spec, vendor);
              gapArmed.fill(false);
            }
            let before: GuestView | null = null;
            runProgram(vcpu, ops, [], {
              before: (g, op) => {
                before =
                  op.op === 'exec' || op.op === 'execEmulated' ? readView(g, vendor, vcpu) : null;
              },
              after: (g, op, _result, fault) => {
                if (
                  op.op === 'wrmsr' &&
                  op.msr === MSR.IA32_FIXED_CTR_CTRL &&
                  !fault &&
                  vendor === 'intel'
                ) {
                  if (op.value !== fixedCtrl && cfg.mediated && filter) {
                    for (let j = 0; j < 3; j++) {
                      const unchanged = field(op.value, j) === field(fixedCtrl, j);
                      if (!unchanged) gapArmed[j] = false;
                      else if (field(op.value, j) & 3 && !isFixedCounterAllowed(filter, j))
                        gapArmed[j] = true;
                    }
                  }
                  fixedCtrl = op.value;
                }
                if (!before || !filter) return;
                const b: GuestView = before;
                const a = readView(g, vendor, vcpu);
                for (let i = 0; i < b.gpSel.length; i++) {
                  if (isGpEventAllowed(filter, b.gpSel[i]!)) continue;
                  assert.equal(
                    a.gpCtr[i],
                    b.gpCtr[i],
                    `GP ${i} counted denied event 0x${b.gpSel[i]!.toString(16)} during ${show(op)}`,
                  );
                }
                for (let j = 0; j < b.fixedCtr.length; j++) {
                  if (isFixedCounterAllowed(filter, j) || gapArmed[j]) continue;
                  assert.equal(
                    a.fixedCtr[j],
                    b.fixedCtr[j],
                    `fixed ${j} counted while denied during ${show(op)}`,
                  );
                }
              },
            });
          }
        },
      ),
      { includeErrorInReport: true, numRuns: 1000 },
    );
  });

  it('known upstream gap, end to end: an unrelated FIXED_CTR_CTRL write lets a denied fixed counter count (mediated Intel)', () => {
    // Pinned here at the guest-visible level so that the day the model (or
    // upstream) re-filters unchanged fields, this test is the one to update.
    const host = makeHost({ cpu: 'intel-skylake', mediated: true });
    const vm = host.kvm.createVm();
    vm.setPmuEventFilter({ action: 'deny', events: [], fixedCounterBitmap: 0b1 });
    const vcpu = vm.createVcpu() as VcpuImpl;
    const counted = vcpu.run((g) => {
      g.wrmsr(MSR.IA32_PERF_GLOBAL_CTRL, 0x7n << 32n);
      g.wrmsr(MSR.IA32_FIXED_CTR_CTRL, 0x003n); // fixed 0 on: filtered
      g.exec({ instructions: 1000 });
      const filtered = g.rdmsr(MSR.IA32_FIXED_CTR0);
      g.wrmsr(MSR.IA32_FIXED_CTR_CTRL, 0x033n); // only fixed 1's field changes
      g.exec({ instructions: 1000 });
      return [filtered, g.rdmsr(MSR.IA32_FIXED_CTR0)];
    });
    assert.deepEqual(counted, [0n, 1000n]);
  });
});

// ---------------------------------------------------------------------------
// Host events
// ---------------------------------------------------------------------------

describe('isolation: host exclude_guest events are untouched by guests', () => {
  it('count exactly the host-mode events; mediated: enabled time is host time, never multiplexed', () => {
    fc.assert(
      fc.property(
        configArb.chain((cfg) =>
          fc.record({
            cfg: fc.constant(cfg),
            gp: fc.integer({ min: 1, max: 8 }),
            // A VM without an in-kernel LAPIC has no PMU: its guest time is
            // not perf's guest time, but host events still do not count it.
            noPmu: fc.integer({ min: 0, max: 4 }).map((n) => n === 0),
            pinned: fc.boolean(),
            filter: fc.option(filterArb(vendorOf(cfg)), { nil: undefined }),
            steps: stepsArb(vendorOf(cfg), 6),
          }),
        ),
        ({ cfg, gp, noPmu, pinned, filter, steps }) => {
          const host = makeHost(cfg);
          const cpu = host.cpus[0]!;
          const events = openHostEvents(host, cfg, pinned && cfg.mediated);
          const configs = events.map((e) => kernelOf(e).hw.config);
          const { vm, vcpu } = createVcpu(host, cfg, gp, !noPmu);
          if (filter) vm.setPmuEventFilter(filter);
          const expected: [number, number] = [0, 0];
          let hostNs = 0;
          for (const step of steps) {
            if (step.kind === 'host') {
              const t0 = cpu.nowNs;
              hostStep(host, vcpu, step);
              hostNs += cpu.nowNs - t0;
              const [x, y] = hostEventCounts(cfg, step.work);
              expected[0] += x;
              expected[1] += y;
            } else {
              runProgram(vcpu, step.ops, []);
              // The guest changed neither the events' configuration nor their placement.
              const kernels = events.map((e) => kernelOf(e));
              kernels.forEach((k, n) => {
                assert.equal(k.hw.config, configs[n]);
                if (cfg.mediated) {
                  assert.equal(
                    host.perfCore.eventState(k),
                    1,
                    'host event not active after KVM_RUN',
                  );
                  assert.equal(
                    cpu.rdmsr(host.perfCore.x86!.evtselMsr(k.idx)),
                    k.hw.config | EVTSEL.EN,
                  );
                }
              });
            }
          }
          events.forEach((e, n) => {
            const r = e.read();
            assert.equal(r.value, BigInt(expected[n]!), `host event ${n}`);
            if (cfg.mediated && !noPmu) {
              // Equal up to the rounding of the model's float nanoseconds: the
              // two sums are accumulated at different moments, and e.g.
              // 13528.5 vs 13528.499999999996 round 1 ns apart.
              const drift = r.timeEnabled - r.timeRunning;
              assert.ok(
                drift >= -1n && drift <= 1n,
                `multiplexed: ${r.timeEnabled} vs ${r.timeRunning}`,
              );
              assert.ok(
                Math.abs(Number(r.timeEnabled) - hostNs) <= 1,
                `time_enabled ${r.timeEnabled} ns, host time ${hostNs} ns`,
              );
            }
          });
        },
      ),
      { includeErrorInReport: true, numRuns: 500 },
    );
  });
});

describe('isolation: host events opened while a guest is loaded', () => {
  for (const cpu of ['intel-sapphire-rapids', 'amd-zen4'] as const) {
    it(`${cpu}: stay off the hardware until the put, then count host work only`, () => {
      const host = makeHost({ cpu, mediated: true });
      const { vcpu } = createVcpu(host, { cpu, mediated: true }, 8);
      const intel = cpu.startsWith('intel');
      const sel = intel ? MSR.IA32_PERFEVTSEL0 : MSR.MSR_F15H_PERF_CTL0;
      const guestSel = 0xc0n | EVTSEL.EN | EVTSEL.OS | EVTSEL.USR;
      let events: PerfEvent[] = [];
      const guestCount = vcpu.run((g) => {
        g.wrmsr(sel, guestSel);
        g.exec({ instructions: 100 });
        // Another CPU opens CPU-wide events on this one (perf_event_open's IPI).
        events = [
          host.perf.open({ config: 0xc0, excludeGuest: true }, { cpu: 0 }),
          host.perf.open({ config: 0xc0, excludeGuest: true, pinned: true }, { cpu: 0 }),
        ];
        assert.deepEqual(
          events.map((e) => e.state),
          ['inactive', 'inactive'],
        );
        assert.equal(host.cpus[0]!.rdmsr(sel) & 0xffffffffn, guestSel);
        g.exec({ instructions: 100 });
        return g.rdpmc(0);
      });
      // 200 + the enabling WRMSR (KVM counts it after the handler: kvm_skip_emulated_instruction).
      assert.equal(guestCount, 200n + 1n);
      assert.deepEqual(
        events.map((e) => e.state),
        ['active', 'active'],
      );
      host.exec({ instructions: 5000 });
      assert.deepEqual(
        events.map((e) => e.read().value),
        [5000n, 5000n],
      );
    });
  }
});

// ---------------------------------------------------------------------------
// Robustness
// ---------------------------------------------------------------------------

describe('isolation: random guest programs cannot disturb the host', () => {
  it('only GuestFault reaches the guest; accounting, host events, LVTPC and guest mode stay sane', () => {
    fc.assert(
      fc.property(
        configArb.chain((cfg) =>
          fc.record({
            cfg: fc.constant(cfg),
            gp: fc.integer({ min: 1, max: 8 }),
            filter: fc.option(filterArb(vendorOf(cfg)), { nil: undefined }),
            runs: fc.array(programArb(vendorOf(cfg), 20), { minLength: 1, maxLength: 4 }),
            secondVm: fc.boolean(),
          }),
        ),
        ({ cfg, gp, filter, runs, secondVm }) => {
          const host = makeHost(cfg);
          const cpu = host.cpus[0]!;
          const events = openHostEvents(host, cfg, false);
          host.perf.open({ config: 'instructions', excludeGuest: true }, { cpu: 0 });
          const uncore = host.perf.open(
            {
              pmu: host.perf.pmus.find((p) => p.name !== 'cpu' && p.name !== 'software')!.name,
              config: 'data_reads',
            },
            { cpu: 0 },
          );
          const vms = [createVcpu(host, cfg, gp)];
          if (secondVm) vms.push(createVcpu(host, cfg, 8 - gp));
          if (filter) vms[0]!.vm.setPmuEventFilter(filter);
          // Mediated: the VMs hold the mediated PMU and nothing includes guests.
          // Emulated: KVM's own perf events (exclude_host, so include-guest)
          // are accounted on a capable core PMU, one per live event.
          const capable = host.perfExports.coreMediatedCapable;
          const expectedAccounting = () => [
            cfg.mediated ? vms.length : 0,
            cfg.mediated || !capable
              ? 0
              : vms.reduce((n, { vcpu }) => {
                  const d = vcpu.design as EmulatedVpmu;
                  return n + d.eventsCreated - d.eventsReleased;
                }, 0),
          ];
          const dmesg = host.dmesg.length;
          runs.forEach((ops, n) => {
            const { vcpu } = vms[n % vms.length]!;
            runProgram(vcpu, ops, []);
            assert.equal(cpu.guestMode, false);
            assert.equal(cpu.rdmsr(MSR.X2APIC_LVTPC), BigInt(LVT.DM_NMI));
            assert.equal(host.perfCore.isGuestContextLoaded(0), false);
            assert.equal(host.perfCore.x86!.isGuestLvtpcLoaded(0), false);
            assert.deepEqual(
              [host.perf.nrMediatedPmuVms, host.perf.nrIncludeGuestEvents],
              expectedAccounting(),
            );
            for (const e of events) assert.notEqual(e.read().timeEnabled, -1n);
            // The host still counts: a block of host work shows up in its events.
            const before = events.map((e) => e.read().value);
            host.exec({ instructions: 1000, branches: 100, llcReferences: 10, branchMisses: 7 });
            const counted = events.map((e, k) => e.read().value - before[k]!);
            assert.deepEqual(counted, vendorOf(cfg) === 'intel' ? [100n, 10n] : [100n, 7n]);
          });
          assert.ok(uncore.read().timeEnabled >= 0n);
          // A guest does not get the kernel to log (WARN splats, bad IRQs).
          assert.deepEqual(host.dmesg.slice(dmesg), []);
          for (const { vm } of vms) vm.destroy();
          assert.equal(host.perf.nrMediatedPmuVms, 0);
          assert.equal(host.perf.nrIncludeGuestEvents, 0);
        },
      ),
      { includeErrorInReport: true, numRuns: 800 },
    );
  });
});
