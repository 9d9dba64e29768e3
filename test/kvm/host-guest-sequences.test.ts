/**
 * Issue 12 ("Done means"): random sequences of everything that shares the
 * PMU on one host CPU, with exact expectations for every count.
 *
 * A sequence mixes host perf events opened and closed (exclude_guest either
 * way, pinned or not), VMs created and destroyed (the host's design: mediated
 * or perf-emulated; Intel or AMD), vCPU runs of random guest MSR programs,
 * host work on the vCPU thread and on other tasks, and runs attempted after a
 * destroy. Asserted after every step and at the end:
 *
 * - host counts are exact: an exclude_guest event counts the host's work
 *   since it opened, an include-guest one also every guest's;
 * - a guest counter changes only by what that guest retired: every RDPMC and
 *   RDMSR of a counter returns what the guest's own program predicts, where
 *   each WRMSR / RDMSR / RDPMC retires one instruction after its effect (KVM's
 *   kvm_skip_emulated_instruction, or the hardware for a passed-through one);
 * - the mediated accounting refuses exactly what it must (perf_event_open of
 *   an include-guest event while a mediated VM exists: EOPNOTSUPP; a mediated
 *   vCPU while an include-guest event exists: EBUSY);
 * - after teardown the accounting counters are 0, no selector is enabled, the
 *   host can have every GP counter, and nothing was logged as a WARN.
 *
 * The other isolation properties (filters, garbage MSR writes, overflows and
 * PMIs, what a guest observes with and without host activity) are in
 * isolation.test.ts; this one keeps counts exact, so its programs avoid
 * overflow and over-commit (the host events and the guest's two counters
 * always fit the host's GP counters, so nothing multiplexes).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from '../common/fc.ts';
import { KvmError, PerfError } from '../../src/common/errors.ts';
import { CPU_MODELS, type CpuModelName } from '../../src/hw/cpu-models.ts';
import { EVTSEL, MSR } from '../../src/hw/msr.ts';
import type { GuestCpu } from '../../src/kvm/guest-cpu.ts';
import type { VcpuImpl } from '../../src/kvm/vcpu.ts';
import type { KvmVm } from '../../src/kvm/vm.ts';
import type { PerfEvent } from '../../src/perf/perf.ts';
import { HostMachine } from '../../src/sim/host.ts';

const CPUS: readonly CpuModelName[] = [
  'intel-sapphire-rapids',
  'intel-skylake',
  'amd-zen4',
  'amd-zen3',
];
const GUEST_GP = 2;

/** Events by what they count in a block of Work (raw encodings, GP counters only). */
const HOST_EVENTS = {
  intel: [
    { config: 0x00c4, field: 'branches' }, // BR_INST_RETIRED.ALL_BRANCHES
    { config: 0x4f2e, field: 'llcReferences' }, // LONGEST_LAT_CACHE.REFERENCE
  ],
  amd: [
    { config: 0x00c2, field: 'branches' }, // retired branch instructions
    { config: 0x00c3, field: 'branchMisses' }, // retired mispredicted branches
  ],
} as const;
type CountedField = 'branches' | 'llcReferences' | 'branchMisses';

/** The guest's events: instructions retired (0xc0 on both vendors) and branches. */
const GUEST_EVENTS = {
  intel: { instructions: 0xc0n, branches: 0xc4n },
  amd: { instructions: 0xc0n, branches: 0xc2n },
};
type GuestEvent = 'instructions' | 'branches';

interface BlockOfWork {
  readonly instructions: number;
  readonly branches: number;
  readonly llcReferences: number;
  readonly branchMisses: number;
  readonly cpl: 0 | 3;
}

const workArb: fc.Arbitrary<BlockOfWork> = fc
  .record({
    instructions: fc.integer({ min: 1, max: 200_000 }),
    branches: fc.integer({ min: 0, max: 40_000 }),
    llcReferences: fc.integer({ min: 0, max: 2_000 }),
    branchMisses: fc.integer({ min: 0, max: 1_000 }),
    cpl: fc.constantFrom<0 | 3>(0, 3),
  })
  .map((w) => ({ ...w, branches: Math.min(w.branches, w.instructions) }));

type GuestOp =
  | { readonly op: 'exec'; readonly work: BlockOfWork }
  | { readonly op: 'rdpmc'; readonly i: number }
  | { readonly op: 'rdctr'; readonly i: number }
  | { readonly op: 'rdsel'; readonly i: number }
  | { readonly op: 'wrctr'; readonly i: number; readonly value: bigint }
  | {
      readonly op: 'wrsel';
      readonly i: number;
      readonly event: GuestEvent;
      readonly enable: boolean;
    }
  | { readonly op: 'global'; readonly mask: number };

const counter = fc.integer({ min: 0, max: GUEST_GP - 1 });
const guestOpArb: fc.Arbitrary<GuestOp> = fc.oneof(
  { weight: 4, arbitrary: workArb.map((work): GuestOp => ({ op: 'exec', work })) },
  { weight: 3, arbitrary: counter.map((i): GuestOp => ({ op: 'rdpmc', i })) },
  { weight: 2, arbitrary: counter.map((i): GuestOp => ({ op: 'rdctr', i })) },
  { weight: 1, arbitrary: counter.map((i): GuestOp => ({ op: 'rdsel', i })) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(counter, fc.bigInt(0n, 1n << 32n))
      .map(([i, value]): GuestOp => ({ op: 'wrctr', i, value })),
  },
  {
    weight: 3,
    arbitrary: fc
      .tuple(counter, fc.constantFrom<GuestEvent>('instructions', 'branches'), fc.boolean())
      .map(([i, event, enable]): GuestOp => ({ op: 'wrsel', i, event, enable })),
  },
  {
    weight: 1,
    arbitrary: fc
      .integer({ min: 0, max: (1 << GUEST_GP) - 1 })
      .map((mask): GuestOp => ({ op: 'global', mask })),
  },
);

type Step =
  | {
      readonly kind: 'open';
      readonly which: 0 | 1;
      readonly excludeGuest: boolean;
      readonly pinned: boolean;
    }
  | { readonly kind: 'close'; readonly n: number }
  | { readonly kind: 'create'; readonly slot: number }
  | { readonly kind: 'destroy'; readonly slot: number }
  | { readonly kind: 'run'; readonly slot: number; readonly ops: readonly GuestOp[] }
  | { readonly kind: 'host'; readonly work: BlockOfWork; readonly onVcpuThread: number | null };

const slot = fc.integer({ min: 0, max: 1 });
const stepArb: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 2,
    arbitrary: fc
      .record({
        which: fc.constantFrom<0 | 1>(0, 1),
        excludeGuest: fc.boolean(),
        pinned: fc.boolean(),
      })
      .map((s): Step => ({ kind: 'open', ...s })),
  },
  { weight: 1, arbitrary: fc.nat(5).map((n): Step => ({ kind: 'close', n })) },
  { weight: 2, arbitrary: slot.map((s): Step => ({ kind: 'create', slot: s })) },
  { weight: 1, arbitrary: slot.map((s): Step => ({ kind: 'destroy', slot: s })) },
  {
    weight: 4,
    arbitrary: fc
      .tuple(slot, fc.array(guestOpArb, { minLength: 1, maxLength: 12 }))
      .map(([s, ops]): Step => ({ kind: 'run', slot: s, ops })),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(workArb, fc.option(slot, { nil: null }))
      .map(([work, onVcpuThread]): Step => ({ kind: 'host', work, onVcpuThread })),
  },
);

/** One guest counter as the guest's own program predicts it. */
interface PredictedCounter {
  value: bigint;
  event: GuestEvent;
  selectorEnabled: boolean;
  /** The selector as last written (0 at reset). */
  selector: bigint;
}

/** A VM, its vCPU, and what its counters must read. */
interface Guest {
  readonly vm: KvmVm;
  readonly vcpu: VcpuImpl;
  readonly counters: PredictedCounter[];
  /** GLOBAL_CTRL's GP bits (all set where the guest has no global control). */
  globalMask: number;
}

interface HostEventRecord {
  readonly event: PerfEvent;
  readonly field: CountedField;
  readonly excludeGuest: boolean;
  expected: bigint;
}

interface Msrs {
  readonly sel: (i: number) => number;
  readonly ctr: (i: number) => number;
  /** The guest's global enable, if it has one. */
  readonly global: number | null;
}

function msrsOf(cpu: CpuModelName): Msrs {
  const model = CPU_MODELS[cpu];
  if (model.vendor === 'intel') {
    return {
      sel: (i) => MSR.IA32_PERFEVTSEL0 + i,
      // The full-width alias takes the value as written (PERF_CAPABILITIES.FW_WRITES).
      ctr: (i) => (model.fullWidthWrites ? MSR.IA32_PMC0 : MSR.IA32_PERFCTR0) + i,
      global: MSR.IA32_PERF_GLOBAL_CTRL,
    };
  }
  return {
    sel: (i) => MSR.MSR_K7_EVNTSEL0 + i,
    ctr: (i) => MSR.MSR_K7_PERFCTR0 + i,
    global: model.perfMonV2 ? MSR.MSR_AMD64_PERF_CNTR_GLOBAL_CTL : null,
  };
}

function counting(g: Guest, i: number): PredictedCounter | null {
  const c = g.counters[i]!;
  return c.selectorEnabled && (g.globalMask >> i) & 1 ? c : null;
}

/** The guest retired a block: every enabled counter advances by its event's share. */
function retire(g: Guest, instructions: number, branches: number): void {
  g.counters.forEach((_, i) => {
    const c = counting(g, i);
    if (c) c.value += BigInt(c.event === 'instructions' ? instructions : branches);
  });
}

/**
 * Run one program, checking every counter read against the prediction, and
 * return the guest's work that host include-guest events see.
 */
function runGuestProgram(
  g: Guest,
  ops: readonly GuestOp[],
  msrs: Msrs,
  vendor: 'intel' | 'amd',
): BlockOfWork[] {
  const retiredBlocks: BlockOfWork[] = [];
  const selector = (event: GuestEvent, enable: boolean) =>
    GUEST_EVENTS[vendor][event] | EVTSEL.OS | EVTSEL.USR | (enable ? EVTSEL.EN : 0n);
  // The instruction itself retires after its effect (a read returns the value before it).
  const oneInstruction = () => retire(g, 1, 0);
  g.vcpu.run((cpu: GuestCpu) => {
    for (const op of ops) {
      switch (op.op) {
        case 'exec':
          cpu.exec(op.work);
          retire(g, op.work.instructions, op.work.branches);
          retiredBlocks.push(op.work);
          break;
        case 'rdpmc':
          assert.equal(cpu.rdpmc(op.i), g.counters[op.i]!.value, `RDPMC ${op.i}`);
          oneInstruction();
          break;
        case 'rdctr':
          assert.equal(cpu.rdmsr(msrs.ctr(op.i)), g.counters[op.i]!.value, `RDMSR counter ${op.i}`);
          oneInstruction();
          break;
        case 'rdsel': {
          const c = g.counters[op.i]!;
          assert.equal(cpu.rdmsr(msrs.sel(op.i)), c.selector, `RDMSR selector ${op.i}`);
          oneInstruction();
          break;
        }
        case 'wrctr':
          cpu.wrmsr(msrs.ctr(op.i), op.value);
          g.counters[op.i]!.value = op.value;
          oneInstruction();
          break;
        case 'wrsel': {
          const value = selector(op.event, op.enable);
          cpu.wrmsr(msrs.sel(op.i), value);
          Object.assign(g.counters[op.i]!, {
            event: op.event,
            selectorEnabled: op.enable,
            selector: value,
          });
          oneInstruction();
          break;
        }
        case 'global':
          if (msrs.global === null) break;
          cpu.wrmsr(msrs.global, BigInt(op.mask));
          g.globalMask = op.mask;
          oneInstruction();
          break;
      }
    }
  });
  return retiredBlocks;
}

function hasWarn(host: HostMachine): string[] {
  return host.dmesg.filter((line) => line.includes('WARN'));
}

describe('random sequences of host perf, VMs, guest programs and host work (issue 12, Done means)', () => {
  it('host counts exact, guest counters move only by what the guest retired, all released at teardown', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...CPUS),
        fc.boolean(),
        fc.array(stepArb, { minLength: 1, maxLength: 24 }),
        (cpu, mediated, steps) => {
          const host = new HostMachine({ cpu, kvm: { enableMediatedPmu: mediated } });
          const model = CPU_MODELS[cpu];
          const vendor = model.vendor;
          const msrs = msrsOf(cpu);
          // The host events and the guests' counters always fit: no multiplexing.
          const maxHostEvents = model.gpCounters - GUEST_GP;
          const mediatedDesign = host.kvm.params.enableMediatedPmu;
          const hostEvents: HostEventRecord[] = [];
          const guests: (Guest | null)[] = [null, null];
          const dead: VcpuImpl[] = [];

          const countHostWork = (w: BlockOfWork, inGuest: boolean) => {
            for (const h of hostEvents)
              if (!inGuest || !h.excludeGuest) h.expected += BigInt(w[h.field]);
          };

          for (const step of steps) {
            switch (step.kind) {
              case 'open': {
                if (hostEvents.length >= maxHostEvents) break;
                const { config, field } = HOST_EVENTS[vendor][step.which];
                const attr = { config, excludeGuest: step.excludeGuest, pinned: step.pinned };
                const refused =
                  mediatedDesign && !step.excludeGuest && guests.some((g) => g !== null);
                if (refused) {
                  assert.throws(
                    () => host.perf.open(attr, { cpu: 0 }),
                    (e: unknown) => e instanceof PerfError && e.errno === 'EOPNOTSUPP',
                  );
                  break;
                }
                const event = host.perf.open(attr, { cpu: 0 });
                hostEvents.push({ event, field, excludeGuest: step.excludeGuest, expected: 0n });
                break;
              }
              case 'close': {
                if (hostEvents.length === 0) break;
                const [h] = hostEvents.splice(step.n % hostEvents.length, 1);
                assert.equal(h!.event.read().value, h!.expected, `host ${h!.event.name} at close`);
                h!.event.close();
                break;
              }
              case 'create': {
                if (guests[step.slot]) break;
                const vm = host.kvm.createVm() as KvmVm;
                const includeGuest = hostEvents.some((h) => !h.excludeGuest);
                if (mediatedDesign && includeGuest) {
                  assert.throws(
                    () => vm.createVcpu({ pmu: { gpCounters: GUEST_GP } }),
                    (e: unknown) => e instanceof KvmError && e.errno === 'EBUSY',
                  );
                  vm.destroy();
                  break;
                }
                const vcpu = vm.createVcpu({ pmu: { gpCounters: GUEST_GP } }) as VcpuImpl;
                assert.equal(vm.design, mediatedDesign ? 'mediated' : 'emulated');
                const counters = Array.from({ length: GUEST_GP }, (): PredictedCounter => ({
                  value: 0n,
                  event: 'instructions',
                  selectorEnabled: false,
                  selector: 0n,
                }));
                const globalMask = (1 << GUEST_GP) - 1;
                const g: Guest = { vm, vcpu, counters, globalMask };
                guests[step.slot] = g;
                // Start from a known global enable, as a guest's PMU driver does.
                if (msrs.global !== null)
                  runGuestProgram(g, [{ op: 'global', mask: globalMask }], msrs, vendor);
                break;
              }
              case 'destroy': {
                const g = guests[step.slot];
                if (!g) break;
                g.vm.destroy();
                guests[step.slot] = null;
                dead.push(g.vcpu);
                break;
              }
              case 'run': {
                const g = guests[step.slot];
                if (!g) {
                  // A vCPU of a destroyed VM runs nothing.
                  const vcpu = dead.at(-1);
                  if (!vcpu) break;
                  let ran = false;
                  assert.throws(
                    () =>
                      vcpu.run(() => {
                        ran = true;
                      }),
                    (e: unknown) => e instanceof KvmError && e.errno === 'EBADF',
                  );
                  assert.equal(ran, false);
                  break;
                }
                for (const w of runGuestProgram(g, step.ops, msrs, vendor)) countHostWork(w, true);
                break;
              }
              case 'host': {
                const owner = step.onVcpuThread === null ? null : guests[step.onVcpuThread];
                host.exec(owner ? { ...step.work, pid: owner.vcpu.pid } : step.work);
                countHostWork(step.work, false);
                break;
              }
            }
            for (const h of hostEvents)
              assert.equal(h.event.read().value, h.expected, `host ${h.event.name}`);
            const live = guests.filter((g) => g !== null).length;
            assert.equal(host.perf.nrMediatedPmuVms, mediatedDesign ? live : 0);
          }

          // Teardown.
          for (const h of hostEvents) h.event.close();
          for (const g of guests) g?.vm.destroy();
          assert.equal(host.perf.nrMediatedPmuVms, 0);
          assert.equal(host.perf.nrIncludeGuestEvents, 0);
          const cpu0 = host.cpus[0]!;
          for (let i = 0; i < model.gpCounters; i++) {
            const sel = cpu0.rdmsr(host.perfCore.x86!.evtselMsr(i));
            assert.equal(sel & EVTSEL.EN, 0n, `GP ${i} still enabled after teardown`);
          }
          // Every GP counter is the host's again: as many pinned events as counters all count.
          const all = Array.from({ length: model.gpCounters }, () =>
            host.perf.open({ config: HOST_EVENTS[vendor][0].config, pinned: true }, { cpu: 0 }),
          );
          host.exec({ instructions: 1000, branches: 100 });
          assert.deepEqual(
            all.map((e) => e.read().value),
            all.map(() => 100n),
          );
          for (const e of all) e.close();
          assert.equal(host.perf.nrIncludeGuestEvents, 0);
          assert.deepEqual(hasWarn(host), []);
        },
      ),
      { includeErrorInReport: true, numRuns: 500 },
    );
  });
});
