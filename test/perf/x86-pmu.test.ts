/**
 * The x86 core PMU driver (src/perf/x86-pmu.ts): CPUID enumeration, event
 * decoding, fixed / GP scheduling, exclude bits, and the exact MSR access
 * sequences of docs/costs-and-rates.md section 3, counted on the host CPU's
 * port.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from '../common/fc.ts';
import { PerfError } from '../../src/common/errors.ts';
import { resolveCpuModel } from '../../src/hw/cpu-model-check.ts';
import { CPU_MODELS, type CpuModel, type CpuModelName } from '../../src/hw/cpu-models.ts';
import { PhysicalCpu } from '../../src/hw/cpu.ts';
import { EVTSEL, MSR } from '../../src/hw/msr.ts';
import { FIXED_IDX } from '../../src/perf/x86-pmu.ts';
import { enumerateX86Pmu, type X86CpuPort } from '../../src/perf/x86-pmu-enumerate.ts';
import { counterOf, cyclesFor, kernelOf, machine, MsrSpy, throwsErrno } from './helpers.ts';

const SPR_ALL = 0xf_0000_00ffn; // 8 GP + 4 fixed
const TICK_NS = 4_000_000; // HZ=250

function enumerate(model: CpuModelName | CpuModel) {
  const desc = enumerateX86Pmu(new PhysicalCpu(0, resolveCpuModel(model)));
  assert.ok(desc);
  return desc;
}

function decode(model: CpuModelName | CpuModel, attr: Parameters<PerfEventInit>[0]) {
  return machine({ cpu: model }).perfCore.x86!.eventInit(attr);
}
type PerfEventInit = (attr: {
  config: string | number;
  excludeUser?: boolean;
  excludeKernel?: boolean;
  excludeGuest?: boolean;
  excludeHost?: boolean;
}) => void;

describe('enumeration from CPUID (intel_pmu_init / amd_pmu_init)', () => {
  const expected: Record<CpuModelName, [string, number, number, number, number, boolean, boolean]> =
    {
      // vendor, version, GP, fixed, fixed mask, PerfMonV2, PerfCtrExtCore
      'intel-sapphire-rapids': ['intel', 5, 8, 4, 0xf, false, false],
      'intel-emerald-rapids': ['intel', 5, 8, 4, 0xf, false, false],
      'intel-icelake': ['intel', 5, 8, 4, 0xf, false, false],
      'intel-skylake': ['intel', 4, 4, 3, 0x7, false, false],
      'intel-haswell': ['intel', 3, 4, 3, 0x7, false, false],
      'amd-zen4': ['amd', 2, 6, 0, 0, true, true],
      'amd-zen3': ['amd', 1, 6, 0, 0, false, true],
    };
  for (const [name, [vendor, version, nrGp, nrFixed, fixedMask, v2, ext]] of Object.entries(
    expected,
  )) {
    it(`${name}: ${vendor} v${version}, ${nrGp} GP + ${nrFixed} fixed`, () => {
      const d = enumerate(name as CpuModelName);
      assert.deepEqual(
        [
          d.vendor,
          d.version,
          d.nrGp,
          d.nrFixed,
          d.fixedMask,
          d.perfMonV2,
          d.perfCtrExtCore,
          d.gpWidth,
        ],
        [vendor, version, nrGp, nrFixed, fixedMask, v2, ext, 48],
      );
      assert.equal(d.fixedWidth, vendor === 'intel' ? 48 : 0);
      // Full-width writes: the largest period is half the 48-bit range.
      assert.equal(d.maxPeriod, 2 ** 47 - 1);
    });
  }

  it('without full-width writes the period is limited to the 32-bit legacy alias, which it programs', () => {
    const model: CpuModel = {
      ...CPU_MODELS['intel-skylake'],
      name: 'no-fw',
      fullWidthWrites: false,
      perfCapabilities: 0n,
    };
    const d = enumerate(model);
    assert.equal(d.fullWidthWrites, false);
    assert.equal(d.maxPeriod, 2 ** 31 - 1);
    const host = machine({ cpu: model });
    assert.equal(host.perfCore.x86!.counterMsr(0), MSR.IA32_PERFCTR0);
    assert.equal(machine().perfCore.x86!.counterMsr(3), MSR.IA32_PMC0 + 3);
  });

  it('a PMU of version 0 is no PMU', () => {
    const port: X86CpuPort = {
      cpuid: (leaf) =>
        leaf === 0
          ? { eax: 0x20, ebx: 0x756e6547, ecx: 0, edx: 0 }
          : { eax: 0, ebx: 0, ecx: 0, edx: 0 },
      rdmsr: () => 0n,
      wrmsr: () => {},
      rdpmc: () => 0n,
      wrmsrNumber: () => {},
      rdpmcNumber: () => 0,
    };
    assert.equal(enumerateX86Pmu(port), null);
  });

  it('clips more than 32 GP counters to 32, below the fixed counters at index 32', () => {
    // intel_pmu_check_counters_mask (arch/x86/events/intel/core.c): a count
    // above INTEL_PMC_MAX_GENERIC (32) WARNs "hw perf events %d > max(%d),
    // clipping!" and is cut to 32.
    const msrs = new Map<number, bigint>();
    const port: X86CpuPort = {
      cpuid: (leaf) =>
        leaf === 0
          ? { eax: 0x20, ebx: 0x756e6547, ecx: 0, edx: 0 }
          : leaf === 0xa
            ? { eax: 2 | (40 << 8) | (48 << 16), ebx: 0, ecx: 0, edx: 3 | (48 << 5) }
            : { eax: 0, ebx: 0, ecx: 0, edx: 0 },
      rdmsr: (msr) => msrs.get(msr) ?? 0n,
      wrmsr: (msr, value) => void msrs.set(msr, value),
      rdpmc: () => 0n,
      wrmsrNumber: (msr, value) => void msrs.set(msr, BigInt(value)),
      rdpmcNumber: () => 0,
    };
    const desc = enumerateX86Pmu(port);
    assert.ok(desc);
    assert.deepEqual([desc.nrGp, desc.nrFixed], [32, 3]);
  });

  it('reads the unavailable architectural events from CPUID.0xA EBX', () => {
    const model: CpuModel = {
      ...CPU_MODELS['intel-sapphire-rapids'],
      name: 'no-branches',
      unavailableEvents: 1 << 5,
    };
    assert.equal(enumerate(model).unavailableEvents, 1 << 5);
  });

  it('addresses counters and selectors per vendor', () => {
    const spr = machine().perfCore.x86!;
    assert.equal(spr.evtselMsr(2), MSR.IA32_PERFEVTSEL0 + 2);
    assert.equal(spr.counterMsr(FIXED_IDX + 1), MSR.IA32_FIXED_CTR0 + 1);
    assert.equal(spr.rdpmcIndex(FIXED_IDX + 2), (1 << 30) | 2);
    const zen = machine({ cpu: 'amd-zen4' }).perfCore.x86!;
    assert.equal(zen.evtselMsr(5), MSR.MSR_F15H_PERF_CTL0 + 10);
    assert.equal(zen.counterMsr(5), MSR.MSR_F15H_PERF_CTR0 + 10);
    assert.equal(zen.rdpmcIndex(5), 5);
  });
});

describe('event_init: decoding and refusals', () => {
  it('decodes named events with INT, USR and OS, and the fixed counter they may use', () => {
    const hw = decode('intel-sapphire-rapids', { config: 'branches' });
    assert.equal(hw.config, 0xc4n | EVTSEL.INT | EVTSEL.USR | EVTSEL.OS);
    assert.deepEqual([hw.fixedIndex, hw.gpMask !== 0, hw.name], [-1, true, 'branches']);
    assert.deepEqual(
      [
        decode('intel-sapphire-rapids', { config: 'instructions' }).fixedIndex,
        decode('intel-sapphire-rapids', { config: 'cycles' }).fixedIndex,
      ],
      [0, 1],
    );
    // Linux's ref-cycles is the pseudo-encoding 0x0300: fixed counter 2 only.
    const ref = decode('intel-sapphire-rapids', { config: 'ref-cycles' });
    assert.deepEqual([ref.fixedIndex, ref.gpMask], [2, 0]);
    assert.equal(decode('intel-skylake', { config: 'cache-misses' }).config & 0xffffn, 0x412en);
  });

  it('clears USR for exclude_user and OS for exclude_kernel, in the selector and the fixed-counter bits', () => {
    const noUser = decode('intel-sapphire-rapids', { config: 'instructions', excludeUser: true });
    assert.equal(noUser.config & (EVTSEL.USR | EVTSEL.OS), EVTSEL.OS);
    assert.equal(noUser.fixedBits, 0x8 | 0x1);
    const noKernel = decode('intel-sapphire-rapids', {
      config: 'instructions',
      excludeKernel: true,
    });
    assert.equal(noKernel.config & (EVTSEL.USR | EVTSEL.OS), EVTSEL.USR);
    assert.equal(noKernel.fixedBits, 0x8 | 0x2);
  });

  it('AMD: exclude_guest sets HostOnly, exclude_host GuestOnly, both count nothing', () => {
    const hostOnly = decode('amd-zen4', { config: 'branches', excludeGuest: true }).config;
    assert.equal(hostOnly & (EVTSEL.AMD_HOST_ONLY | EVTSEL.AMD_GUEST_ONLY), EVTSEL.AMD_HOST_ONLY);
    const guestOnly = decode('amd-zen4', { config: 'branches', excludeHost: true }).config;
    assert.equal(guestOnly & (EVTSEL.AMD_HOST_ONLY | EVTSEL.AMD_GUEST_ONLY), EVTSEL.AMD_GUEST_ONLY);
    const none = decode('amd-zen4', {
      config: 'branches',
      excludeHost: true,
      excludeGuest: true,
    }).config;
    assert.equal(none, 0xc2n | EVTSEL.INT);
    // Intel selectors carry no host/guest bits: the GLOBAL_CTRL switch does it.
    assert.equal(
      decode('intel-sapphire-rapids', { config: 'branches', excludeGuest: true }).config >> 32n,
      0n,
    );
  });

  it('ENOENT: unknown named events, events absent on the vendor, events CPUID marks unavailable', () => {
    throwsErrno(
      () => decode('intel-sapphire-rapids', { config: 'bogus-event' }),
      'ENOENT',
      PerfError,
    );
    throwsErrno(() => decode('amd-zen4', { config: 'ref-cycles' }), 'ENOENT', PerfError);
    throwsErrno(() => decode('amd-zen4', { config: 'cache-misses' }), 'ENOENT', PerfError);
    const model: CpuModel = {
      ...CPU_MODELS['intel-sapphire-rapids'],
      name: 'no-branches',
      unavailableEvents: 1 << 5,
    };
    throwsErrno(() => decode(model, { config: 'branches' }), 'ENOENT', PerfError);
    decode(model, { config: 'instructions' });
  });

  // arch/x86/events/perf_event.h, x86_pmu_get_event_config(): attr.config &
  // config_mask, which is X86_RAW_EVENT_MASK (Intel) or AMD64_RAW_EVENT_MASK
  // (AMD, with the select's bits 35:32). x86_pmu_hw_config() then adds INT, and
  // USR and OS unless excluded.
  it('raw configs: bits outside config_mask are dropped, not refused', () => {
    const plain = decode('intel-sapphire-rapids', { config: 0xc4 }).config;
    // (IN_TX and IN_TXCP, bits 32 and 33, are kept on a host with TSX, as this
    // one is by default: test/perf/tsx-events.test.ts.)
    for (const extra of [EVTSEL.EN, EVTSEL.INT, EVTSEL.USR, EVTSEL.OS, 1n << 34n, 1n << 40n]) {
      const hw = decode('intel-sapphire-rapids', { config: Number(extra | 0xc4n) });
      assert.equal(hw.config, plain, `bit 0x${extra.toString(16)}`);
    }
    // exclude_user / exclude_kernel still decide USR and OS, whatever the raw bits say.
    const userOnly = decode('intel-sapphire-rapids', {
      config: Number(EVTSEL.OS | 0xc4n),
      excludeKernel: true,
    });
    assert.equal(userOnly.config & EVTSEL.OS, 0n);
    // AMD has a 12-bit event select: bits 35:32 are part of the encoding; bit 36 is not.
    assert.equal(
      decode('amd-zen4', { config: 2 ** 32 + 0x76 }).config & EVTSEL.AMD_EVENT_HI,
      1n << 32n,
    );
    assert.equal(
      decode('amd-zen4', { config: 2 ** 36 + 0x76 }).config,
      decode('amd-zen4', { config: 0x76 }).config,
    );
    // EDGE, INV and CMASK are kept.
    const edge = EVTSEL.EDGE | EVTSEL.INV | (2n << 24n) | 0xc0n;
    assert.equal(decode('intel-sapphire-rapids', { config: Number(edge) }).config & edge, edge);
  });

  // intel_pmu_hw_config(): ANY in a raw config is EINVAL before perfmon v3;
  // from v3 it would count the SMT sibling, which the model does not have.
  it('raw AnyThread (bit 21): EINVAL before v3, EOPNOTSUPP after (no SMT in the model)', () => {
    const v2: CpuModel = { ...CPU_MODELS['intel-sapphire-rapids'], name: 'v2', pmuVersion: 2 };
    throwsErrno(() => decode(v2, { config: Number(EVTSEL.ANY | 0xc4n) }), 'EINVAL', PerfError);
    throwsErrno(
      () => decode('intel-sapphire-rapids', { config: Number(EVTSEL.ANY | 0xc4n) }),
      'EOPNOTSUPP',
      PerfError,
    );
    // On AMD bit 21 is reserved, not AnyThread: dropped as any other.
    assert.equal(
      decode('amd-zen4', { config: Number(EVTSEL.ANY | 0x76n) }).config,
      decode('amd-zen4', { config: 0x76 }).config,
    );
  });

  it('raw architectural encodings: instructions and cycles may take their fixed counter, ref cycles and slots may not', () => {
    assert.equal(decode('intel-sapphire-rapids', { config: 0xc0 }).fixedIndex, 0);
    assert.equal(decode('intel-sapphire-rapids', { config: 0x3c }).fixedIndex, 1);
    assert.equal(decode('intel-sapphire-rapids', { config: 0x13c }).fixedIndex, -1);
    assert.equal(decode('intel-sapphire-rapids', { config: 0x1a4 }).fixedIndex, -1);
    assert.equal(
      decode('intel-sapphire-rapids', { config: 0x2_0000c0 }).fixedIndex,
      -1,
      'a CMASK makes it a GP event',
    );
    const pseudo = decode('intel-sapphire-rapids', { config: 0x300 });
    assert.deepEqual([pseudo.fixedIndex, pseudo.gpMask], [2, 0]);
    assert.equal(decode('amd-zen4', { config: 0xc0 }).fixedIndex, -1);
  });
});

describe('counter scheduling (x86_schedule_events)', () => {
  it('instructions, cycles and ref-cycles take their fixed counters when free; instructions and cycles then fall back to GP', () => {
    const host = machine();
    const ins = host.perf.open({ config: 'instructions' }, { cpu: 0 });
    const cyc = host.perf.open({ config: 'cycles' }, { cpu: 0 });
    const ref = host.perf.open({ config: 'ref-cycles' }, { cpu: 0 });
    assert.deepEqual([ins, cyc, ref].map(counterOf), [FIXED_IDX, FIXED_IDX + 1, FIXED_IDX + 2]);
    const ins2 = host.perf.open({ config: 'instructions' }, { cpu: 0 });
    const cyc2 = host.perf.open({ config: 'cycles' }, { cpu: 0 });
    assert.ok(counterOf(ins2) >= 0 && counterOf(ins2) < 8, 'second instructions on a GP counter');
    assert.ok(counterOf(cyc2) >= 0 && counterOf(cyc2) < 8, 'second cycles on a GP counter');
    // ref-cycles (pseudo 0x0300) is fixed-only upstream: a second one waits although GP counters are free.
    const ref2 = host.perf.open({ config: 'ref-cycles' }, { cpu: 0 });
    assert.equal(ref2.state, 'inactive');
  });

  it('Sapphire Rapids: 8 GP plus 4 fixed counters; the ninth GP-only event waits', () => {
    const host = machine();
    const gp = Array.from({ length: 8 }, () => host.perf.open({ config: 'branches' }, { cpu: 0 }));
    const fixed = ['instructions', 'cycles', 'ref-cycles'].map((config) =>
      host.perf.open({ config }, { cpu: 0 }),
    );
    assert.ok([...gp, ...fixed].every((e) => e.state === 'active'));
    assert.deepEqual(gp.map(counterOf).sort(), [0, 1, 2, 3, 4, 5, 6, 7]);
    assert.equal(host.perf.open({ config: 'branch-misses' }, { cpu: 0 }).state, 'inactive');
    assert.equal(host.perfCore.x86!.activeEvents(0).length, 11);
  });

  it('Skylake: 4 GP counters; the fifth GP-only event waits while fixed counters still serve', () => {
    const host = machine({ cpu: 'intel-skylake' });
    const gp = Array.from({ length: 4 }, () => host.perf.open({ config: 'branches' }, { cpu: 0 }));
    assert.ok(gp.every((e) => e.state === 'active'));
    assert.equal(host.perf.open({ config: 'branches' }, { cpu: 0 }).state, 'inactive');
    const ins = host.perf.open({ config: 'instructions' }, { cpu: 0 });
    assert.equal(
      ins.state,
      'inactive',
      'the first flexible failure stops later flexible groups of the PMU',
    );
  });

  it('AMD: six GP counters, no fixed ones', () => {
    const host = machine({ cpu: 'amd-zen4' });
    const evs = Array.from({ length: 6 }, () =>
      host.perf.open({ config: 'instructions' }, { cpu: 0 }),
    );
    assert.deepEqual(evs.map(counterOf).sort(), [0, 1, 2, 3, 4, 5]);
    assert.equal(host.perf.open({ config: 'instructions' }, { cpu: 0 }).state, 'inactive');
  });

  it('property: a group goes on iff its events fit the counters (reference: fixed-capable events beyond one per fixed counter need a GP counter)', () => {
    const kinds = ['instructions', 'cycles', 'ref-cycles', 'branches', 'branch-misses'] as const;
    fc.assert(
      fc.property(
        fc.constantFrom<CpuModelName>('intel-sapphire-rapids', 'intel-skylake'),
        fc.array(fc.constantFrom(...kinds), { minLength: 1, maxLength: 14 }),
        (model, group) => {
          const host = machine({ cpu: model });
          const nrGp = host.model.gpCounters;
          const perFixed = new Map<string, number>();
          let gpOnly = 0;
          let refCycles = 0;
          for (const k of group) {
            if (k === 'ref-cycles') refCycles++;
            else if (k === 'instructions' || k === 'cycles')
              perFixed.set(k, (perFixed.get(k) ?? 0) + 1);
            else gpOnly++;
          }
          let gpNeeded = gpOnly;
          for (const n of perFixed.values()) gpNeeded += n - 1;
          const fits = gpNeeded <= nrGp && refCycles <= 1;
          const leader = host.perf.open({ config: group[0]! }, { cpu: 0 });
          const members = [
            leader,
            ...group.slice(1).map((config) => host.perf.open({ config }, { cpu: 0 }, leader)),
          ];
          assert.ok(
            members.every((e) => e.state === (fits ? 'active' : 'inactive')),
            `${group.join(',')} on ${model}`,
          );
          if (fits) {
            const idx = members.map(counterOf);
            assert.equal(new Set(idx).size, idx.length, 'distinct counters');
            members.forEach((_e, i) => {
              const k = group[i]!;
              const c = idx[i]!;
              if (c >= FIXED_IDX)
                assert.equal(
                  c - FIXED_IDX,
                  { instructions: 0, cycles: 1, 'ref-cycles': 2 }[k as 'cycles'],
                );
              else assert.ok(c < nrGp && k !== 'ref-cycles');
            });
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe('counting: privilege levels and host / guest', () => {
  it('exclude_user and exclude_kernel filter by CPL', () => {
    const host = machine();
    const all = host.perf.open({ config: 'branches' }, { cpu: 0 });
    const kernel = host.perf.open({ config: 'branches', excludeUser: true }, { cpu: 0 });
    const user = host.perf.open({ config: 'branches', excludeKernel: true }, { cpu: 0 });
    const fixedUser = host.perf.open({ config: 'instructions', excludeKernel: true }, { cpu: 0 });
    host.exec({ instructions: 5000, branches: 700, cpl: 3 });
    host.exec({ instructions: 3000, branches: 200, cpl: 0 });
    assert.deepEqual(
      [all, kernel, user].map((e) => e.read().value),
      [900n, 200n, 700n],
    );
    assert.equal(counterOf(fixedUser), FIXED_IDX);
    assert.equal(fixedUser.read().value, 5000n);
  });

  it('AMD: the programmed selector carries HostOnly / GuestOnly and the hardware counts by mode', () => {
    const host = machine({ cpu: 'amd-zen4' });
    const spy = new MsrSpy(host.cpus[0]!);
    const hostOnly = host.perf.open({ config: 'branches', excludeGuest: true }, { cpu: 0 });
    const guestOnly = host.perf.open({ config: 'branches', excludeHost: true }, { cpu: 0 });
    const both = host.perf.open({ config: 'branches' }, { cpu: 0 });
    const sel = (e: typeof both) => spy.writes(host.perfCore.x86!.evtselMsr(counterOf(e))).at(-1)!;
    assert.ok(sel(hostOnly) & EVTSEL.AMD_HOST_ONLY && !(sel(hostOnly) & EVTSEL.AMD_GUEST_ONLY));
    assert.ok(sel(guestOnly) & EVTSEL.AMD_GUEST_ONLY && !(sel(guestOnly) & EVTSEL.AMD_HOST_ONLY));
    assert.equal(sel(both) & (EVTSEL.AMD_GUEST_ONLY | EVTSEL.AMD_HOST_ONLY), 0n);
    const cpu = host.cpus[0]!;
    cpu.retire({ instructions: 100, branches: 10, cpl: 3 });
    cpu.guestMode = true;
    cpu.retire({ instructions: 100, branches: 30, cpl: 3 });
    cpu.guestMode = false;
    assert.deepEqual(
      [hostOnly, guestOnly, both].map((e) => e.read().value),
      [10n, 30n, 40n],
    );
  });

  it('Intel: GLOBAL_CTRL leaves exclude_host counters off in the host; the VM-entry switch drops exclude_guest ones', () => {
    const host = machine();
    const spy = new MsrSpy(host.cpus[0]!);
    const guestOnly = host.perf.open({ config: 'branches', excludeHost: true }, { cpu: 0 });
    const hostOnly = host.perf.open({ config: 'branch-misses', excludeGuest: true }, { cpu: 0 });
    host.perf.open({ config: 'cache-misses' }, { cpu: 0 });
    const g = 1n << BigInt(counterOf(guestOnly));
    const h = 1n << BigInt(counterOf(hostOnly));
    assert.equal(spy.writes(MSR.IA32_PERF_GLOBAL_CTRL).at(-1), SPR_ALL & ~g);
    assert.deepEqual(host.perfCore.x86!.guestSwitchGlobalCtrl(0), {
      host: SPR_ALL & ~g,
      guest: SPR_ALL & ~h,
    });
    host.exec({ instructions: 100, branches: 10 });
    assert.equal(guestOnly.read().value, 0n, 'an exclude_host event does not count host work');
  });

  // intel_set_masks / intel_clear_masks and intel_pmu_enable_all
  // (arch/x86/events/intel/core.c): each exclude_host event sets or clears its
  // counter in cpuc->intel_ctrl_guest_mask as it is added or removed, and the
  // host GLOBAL_CTRL is intel_ctrl & ~intel_ctrl_guest_mask, so the mask
  // follows events opened and closed after the first one, not only the first.
  it('Intel: an exclude_host event opened after another is off in the host GLOBAL_CTRL, and back once it closes', () => {
    const host = machine();
    const spy = new MsrSpy(host.cpus[0]!);
    host.perf.open({ config: 'cache-misses' }, { cpu: 0 });
    const guestOnly = host.perf.open({ config: 'branches', excludeHost: true }, { cpu: 0 });
    const g = 1n << BigInt(counterOf(guestOnly));
    assert.equal(spy.writes(MSR.IA32_PERF_GLOBAL_CTRL).at(-1), SPR_ALL & ~g);
    assert.equal(host.perfCore.x86!.guestSwitchGlobalCtrl(0).host, SPR_ALL & ~g);
    guestOnly.close();
    assert.equal(spy.writes(MSR.IA32_PERF_GLOBAL_CTRL).at(-1), SPR_ALL);
    assert.equal(host.perfCore.x86!.guestSwitchGlobalCtrl(0).host, SPR_ALL);
  });
});

describe('MSR access sequences (docs/costs-and-rates.md section 3)', () => {
  it('enabling a counting event: GLOBAL_CTRL=0, counter + EVTSEL, LVTPC, GLOBAL_CTRL', () => {
    const host = machine();
    const spy = new MsrSpy(host.cpus[0]!);
    const e = host.perf.open({ config: 'branches' }, { cpu: 0 });
    assert.deepEqual(spy.shape(), [
      'wr GLOBAL_CTRL',
      'wr COUNTER',
      'wr EVTSEL',
      'wr LVTPC',
      'wr GLOBAL_CTRL',
    ]);
    assert.deepEqual(spy.writes(MSR.IA32_PERF_GLOBAL_CTRL), [0n, SPR_ALL]);
    assert.deepEqual(spy.writes(MSR.X2APIC_LVTPC), [0x400n]);
    // A counting event starts at -max_period (2^47 - 1) and interrupts on overflow to fold its count.
    assert.deepEqual(spy.writes(MSR.IA32_PMC0 + counterOf(e)), [2n ** 48n - (2n ** 47n - 1n)]);
    assert.deepEqual(spy.writes(MSR.IA32_PERFEVTSEL0 + counterOf(e)), [
      0xc4n | EVTSEL.INT | EVTSEL.USR | EVTSEL.OS | EVTSEL.EN,
    ]);
    // Disable, then enable again through PERF_EVENT_IOC_ENABLE: the same sequence.
    e.disable();
    spy.reset();
    e.enable();
    assert.deepEqual(spy.shape(), [
      'wr GLOBAL_CTRL',
      'wr COUNTER',
      'wr EVTSEL',
      'wr LVTPC',
      'wr GLOBAL_CTRL',
    ]);
  });

  it('enabling a fixed-counter event: the EVTSEL write is the FIXED_CTR_CTRL write before GLOBAL_CTRL', () => {
    const host = machine();
    const spy = new MsrSpy(host.cpus[0]!);
    host.perf.open({ config: 'instructions' }, { cpu: 0 });
    assert.deepEqual(spy.shape(), [
      'wr GLOBAL_CTRL',
      'wr COUNTER',
      'wr LVTPC',
      'wr FIXED_CTR_CTRL',
      'wr GLOBAL_CTRL',
    ]);
    assert.deepEqual(spy.writes(MSR.IA32_FIXED_CTR_CTRL), [0xbn]);
  });

  it('disabling: GLOBAL_CTRL=0, EVTSEL + RDPMC, GLOBAL_CTRL; reading: one RDPMC', () => {
    const host = machine();
    const spy = new MsrSpy(host.cpus[0]!);
    const e = host.perf.open({ config: 'branches' }, { cpu: 0 });
    host.exec({ instructions: 100, branches: 10 });
    spy.reset();
    assert.equal(e.read().value, 10n);
    assert.deepEqual(spy.shape(), ['rdpmc']);
    spy.reset();
    e.disable();
    assert.deepEqual(spy.shape(), ['wr GLOBAL_CTRL', 'wr EVTSEL', 'rdpmc', 'wr GLOBAL_CTRL']);
    assert.equal(spy.writes(MSR.IA32_PERFEVTSEL0 + 0)[0]! & EVTSEL.EN, 0n);
    spy.reset();
    assert.equal(e.read().value, 10n);
    assert.equal(spy.total, 0, 'reading a disabled event touches no MSR');
  });

  it('property: one PMI with k overflowed counters is 5 + 2k accesses plus the LVTPC write; other counters are untouched', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 7 }),
        fc.integer({ min: 2, max: 100_000 }),
        (k, period) => {
          const host = machine();
          const sampling = Array.from({ length: k }, () =>
            host.perf.open({ config: 'branches', samplePeriod: period }, { cpu: 0 }),
          );
          const counting = host.perf.open({ config: 'branch-misses' }, { cpu: 0 });
          const fixedCounting = host.perf.open({ config: 'instructions' }, { cpu: 0 });
          const spy = new MsrSpy(host.cpus[0]!);
          host.exec({ instructions: period, branches: period, branchMisses: 3 });
          const expected = ['wr GLOBAL_CTRL', 'rd GLOBAL_STATUS', 'wr OVF_CTRL'];
          for (let i = 0; i < k; i++) expected.push('rdpmc', 'wr COUNTER');
          expected.push('rd GLOBAL_STATUS', 'wr GLOBAL_CTRL', 'wr LVTPC');
          assert.deepEqual(spy.shape(), expected);
          assert.equal(spy.total, 5 + 2 * k + 1);
          const bits = sampling.reduce((m, e) => m | (1n << BigInt(counterOf(e))), 0n);
          assert.deepEqual(spy.writes(MSR.IA32_PERF_GLOBAL_OVF_CTRL), [bits]);
          assert.deepEqual(spy.writes(MSR.IA32_PERF_GLOBAL_CTRL), [0n, SPR_ALL]);
          for (const e of sampling)
            assert.deepEqual(spy.writes(MSR.IA32_PMC0 + counterOf(e)), [
              2n ** 48n - BigInt(period),
            ]);
          for (const e of [counting, fixedCounting])
            assert.equal(spy.writes(host.perfCore.x86!.counterMsr(counterOf(e))).length, 0);
          assert.equal(spy.count('rdpmc'), k);
          assert.ok(sampling.every((e) => e.samples === 1));
        },
      ),
      { numRuns: 40 },
    );
  });

  it('a PMI on Sapphire Rapids arrives as an NMI with LVTPC masked (late ack); the handler unmasks it', () => {
    const host = machine();
    const e = host.perf.open({ config: 'branches', samplePeriod: 10 }, { cpu: 0 });
    const cpu = host.cpus[0]!;
    host.exec({ instructions: 100, branches: 25 });
    assert.equal(e.samples, 2);
    assert.equal(cpu.interruptsDelivered.nmi, 2);
    assert.equal(cpu.lapic.lvtpc, 0x400, 'unmasked NMI delivery after the handler');
    assert.equal(e.read().value, 25n);
  });

  it('AMD PerfMonV2 PMI: GLOBAL_CTL=0, GLOBAL_STATUS, k x (RDPMC, counter), STATUS_CLR, GLOBAL_CTL (no LVTPC write)', () => {
    const host = machine({ cpu: 'amd-zen4' });
    const evs = [0, 1, 2].map(() =>
      host.perf.open({ config: 'branches', samplePeriod: 50 }, { cpu: 0 }),
    );
    const spy = new MsrSpy(host.cpus[0]!);
    host.exec({ instructions: 500, branches: 50 });
    assert.deepEqual(spy.shape(), [
      'wr GLOBAL_CTRL',
      'rd GLOBAL_STATUS',
      'rdpmc',
      'wr COUNTER',
      'rdpmc',
      'wr COUNTER',
      'rdpmc',
      'wr COUNTER',
      'wr STATUS_CLR',
      'wr GLOBAL_CTRL',
    ]);
    assert.ok(evs.every((e) => e.samples === 1));
  });

  it('Zen 3 (no PerfMonV2) samples through the status-less handler', () => {
    const host = machine({ cpu: 'amd-zen3' });
    const e = host.perf.open({ config: 'branches', samplePeriod: 7 }, { cpu: 0 });
    const c = host.perf.open({ config: 'instructions' }, { cpu: 0 });
    host.exec({ instructions: 1000, branches: 71 });
    assert.equal(e.samples, 10);
    assert.equal(e.read().value, 71n);
    assert.equal(c.read().value, 1000n);
  });

  it('property: a multiplexing rotation is 2 + 2 out + 2 in + 1 (LVTPC) accesses; pinned events are untouched', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 6 }),
        fc.integer({ min: 1, max: 6 }),
        (pinned, extra) => {
          const host = machine();
          const pins = Array.from({ length: pinned }, () =>
            host.perf.open({ config: 'branch-misses', pinned: true }, { cpu: 0 }),
          );
          const flexible = 8 - pinned + extra;
          for (let i = 0; i < flexible; i++) host.perf.open({ config: 'branches' }, { cpu: 0 });
          host.exec({ instructions: cyclesFor(host, TICK_NS - 1000) });
          const spy = new MsrSpy(host.cpus[0]!);
          host.cpus[0]!.stall(cyclesFor(host, 2000));
          host.perfCore.runTimers(0);
          assert.equal(host.perfCore.rotations, 1);
          const moved = 8 - pinned;
          const expected = ['wr GLOBAL_CTRL'];
          for (let i = 0; i < moved; i++) expected.push('wr EVTSEL', 'rdpmc');
          for (let i = 0; i < moved; i++) expected.push('wr COUNTER', 'wr EVTSEL');
          expected.push('wr LVTPC', 'wr GLOBAL_CTRL');
          assert.deepEqual(spy.shape(), expected);
          assert.equal(spy.total, 2 + 4 * moved + 1);
          for (const p of pins)
            assert.equal(spy.writes(MSR.IA32_PERFEVTSEL0 + counterOf(p)).length, 0);
        },
      ),
      { numRuns: 30 },
    );
  });

  it('frequency adjustment per tick: 2 + 4f accesses with f frequency-mode events; counting-only contexts: 0', () => {
    const host = machine();
    const cpu = host.cpus[0]!;
    const freq = [0, 1, 2].map(() =>
      host.perf.open({ config: 'branches', sampleFreq: 1000 }, { cpu: 0 }),
    );
    host.perf.open({ config: 'branch-misses' }, { cpu: 0 });
    // Run to just before the third tick (the periods settle), then cross it with no work retired.
    for (let i = 0; i < 100; i++)
      host.exec({ instructions: cyclesFor(host, (3 * TICK_NS - 1000) / 100), branches: 1000 });
    const spy = new MsrSpy(cpu);
    cpu.stall(cyclesFor(host, 2000));
    host.perfCore.runTimers(0);
    const expected = ['wr GLOBAL_CTRL'];
    for (let i = 0; i < freq.length; i++)
      expected.push('wr EVTSEL', 'rdpmc', 'wr COUNTER', 'wr EVTSEL');
    expected.push('wr GLOBAL_CTRL');
    assert.deepEqual(spy.shape(), expected);

    const counting = machine();
    counting.perf.open({ config: 'branches' }, { cpu: 0 });
    counting.perf.open({ config: 'instructions', samplePeriod: 10_000_000 }, { cpu: 0 });
    const quiet = new MsrSpy(counting.cpus[0]!);
    counting.cpus[0]!.stall(cyclesFor(counting, TICK_NS + 1000));
    counting.perfCore.runTimers(0);
    assert.equal(quiet.total, 0);
  });

  it('task-bound events per context switch: out = 2 + 2n, in = 2 + 2n + LVTPC; CPU events stay put', () => {
    const host = machine({ nmiWatchdog: true });
    host.perf.open({ config: 'branch-misses' }, { cpu: 0 });
    host.perf.open({ config: 'branches' }, { pid: 2 });
    host.perf.open({ config: 'branches' }, { pid: 3 });
    host.perf.open({ config: 'cache-misses' }, { pid: 3 });
    host.exec({ instructions: 100, pid: 2 });
    const spy = new MsrSpy(host.cpus[0]!);
    host.exec({ instructions: 100, pid: 3 });
    assert.deepEqual(spy.shape(), [
      'wr GLOBAL_CTRL',
      'wr EVTSEL',
      'rdpmc',
      'wr GLOBAL_CTRL',
      'wr GLOBAL_CTRL',
      'wr COUNTER',
      'wr EVTSEL',
      'wr COUNTER',
      'wr EVTSEL',
      'wr LVTPC',
      'wr GLOBAL_CTRL',
    ]);
    spy.reset();
    host.exec({ instructions: 100, pid: 4 }); // a task without events: only the switch-out
    assert.equal(spy.total, 2 + 2 * 2);
  });

  it('a fixed counter throttled inside the PMI: stopped without update, FIXED_CTR_CTRL written once by the handler', () => {
    const host = machine();
    const e = host.perf.open({ config: 'instructions', samplePeriod: 2 }, { cpu: 0 });
    const max = host.perfCore.maxSamplesPerTick;
    host.exec({ instructions: 2 * max });
    const spy = new MsrSpy(host.cpus[0]!);
    host.exec({ instructions: 2 });
    assert.equal(e.samples, max + 1, 'the throttling overflow still takes its sample');
    assert.deepEqual(spy.shape(), [
      'wr GLOBAL_CTRL',
      'rd GLOBAL_STATUS',
      'wr OVF_CTRL',
      'rdpmc',
      'wr COUNTER',
      'rd GLOBAL_STATUS',
      'wr FIXED_CTR_CTRL',
      'wr GLOBAL_CTRL',
      'wr LVTPC',
    ]);
    assert.deepEqual(spy.writes(MSR.IA32_FIXED_CTR_CTRL), [0n]);
    // The tick unthrottles it where it stopped: no reload of the counter.
    spy.reset();
    host.cpus[0]!.stall(
      Math.ceil(((4_000_000 - host.cpus[0]!.nowNs) * host.model.tscHz) / 1e9) + 1,
    );
    host.perfCore.runTimers(0);
    assert.deepEqual(spy.shape(), ['wr GLOBAL_CTRL', 'wr FIXED_CTR_CTRL', 'wr GLOBAL_CTRL']);
    host.exec({ instructions: 5 });
    assert.equal(e.read().value, BigInt(2 * max + 2 + 5));
  });

  it('a GP event unthrottled at the tick: GLOBAL_CTRL=0, EVTSEL, GLOBAL_CTRL', () => {
    const host = machine();
    const e = host.perf.open({ config: 'branches', samplePeriod: 2 }, { cpu: 0 });
    host.exec({ instructions: 10_000, branches: 10_000 });
    assert.equal(kernelOf(e).throttled, true);
    const spy = new MsrSpy(host.cpus[0]!);
    host.cpus[0]!.stall(cyclesFor(host, TICK_NS));
    host.perfCore.runTimers(0);
    assert.deepEqual(spy.shape(), ['wr GLOBAL_CTRL', 'wr EVTSEL', 'wr GLOBAL_CTRL']);
    assert.equal(kernelOf(e).throttled, false);
  });

  it('a frequency-mode event that counted nothing over a tick is restarted without a reload: 2 + 3f', () => {
    const host = machine();
    host.perf.open({ config: 'branches', sampleFreq: 100 }, { cpu: 0 });
    host.exec({ instructions: 1000, branches: 0 });
    const spy = new MsrSpy(host.cpus[0]!);
    host.cpus[0]!.stall(cyclesFor(host, TICK_NS));
    host.perfCore.runTimers(0);
    assert.deepEqual(spy.shape(), [
      'wr GLOBAL_CTRL',
      'wr EVTSEL',
      'rdpmc',
      'wr EVTSEL',
      'wr GLOBAL_CTRL',
    ]);
  });
});
