/**
 * TSX's event-select bits in KVM's Intel vPMU, both designs, against an
 * oracle written from upstream's code (not from the model's):
 * - vmx/pmu_intel.c intel_pmu_refresh (after commit e644896f5106, "KVM:
 *   x86/pmu: Fix and isolate TSX-specific performance event logic"):
 *   reserved_bits starts at 0xffffffff00200000; when the guest's CPUID.7.0
 *   entry passes `entry->ebx & (X86_FEATURE_HLE|X86_FEATURE_RTM)` and
 *   boot_cpu_has(HLE) || boot_cpu_has(RTM), reserved_bits ^= HSW_IN_TX and
 *   raw_event_mask |= HSW_IN_TX | HSW_IN_TX_CHECKPOINTED. The test is on
 *   cpufeature numbers (9*32+4 | 9*32+11 = 0x12f), i.e. EBX bits 0, 1, 2, 3,
 *   5, 8, not HLE (4) or RTM (11): the oracle does the same.
 * - intel_pmu_set_msr, PERFEVTSELx: reserved_bits, less HSW_IN_TX_CHECKPOINTED
 *   when pmc->idx == 2 and raw_event_mask has it; #GP on any reserved bit.
 * - pmu.c pmc_reprogram_counter: an Intel guest's event with IN_TXCP in
 *   attr.config gets sample_period 0 (perf's hsw_hw_config refuses a
 *   checkpointed sampling event).
 * - arch/x86/kernel/cpu/tsx.c tsx_init: tsx=off clears X86_FEATURE_RTM/HLE
 *   where IA32_TSX_CTRL exists (Ice Lake-SP and later here), tsx=auto only
 *   where X86_BUG_TAA (no TAA_NO); Skylake-SP (no TSX_CTRL) keeps TSX,
 *   Haswell-EP has none. The default is auto (7.0's Kconfig, "x86/tsx: Set
 *   default TSX mode to auto").
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from '../common/fc.ts';
import { GuestFault } from '../../src/common/errors.ts';
import { CPU_MODELS, type CpuModel, type CpuModelName } from '../../src/hw/cpu-models.ts';
import { EVTSEL, MSR } from '../../src/hw/msr.ts';
import type { GuestCpu } from '../../src/kvm/guest-cpu.ts';
import { GuestPmu } from '../../src/kvm/guest-pmu.ts';
import { kvmPmuCapability, resolveGuestPmuConfig } from '../../src/kvm/pmu-capability.ts';
import { isFault } from '../../src/kvm/pmu-types.ts';
import { createHost, HostMachine, type TsxMode } from '../../src/sim/host.ts';

const HLE = 1 << 4;
const RTM = 1 << 11;
const AVX2 = 1 << 5;
/** What intel_pmu_refresh ANDs with the guest's EBX: X86_FEATURE_HLE | X86_FEATURE_RTM. */
const UPSTREAM_TEST = (9 * 32 + 4) | (9 * 32 + 11);
const RESERVED = 0xffff_ffff_0020_0000n;
const IN_TX = 1n << 32n;
const IN_TXCP = 1n << 33n;
const COUNT = EVTSEL.EN | EVTSEL.OS | EVTSEL.USR;
const CYCLES = 0x3cn | COUNT;
const START = (1n << 48n) - (1n << 30n);

/** The oracle: does intel_pmu_set_msr take `data` for GP counter `idx`? */
function upstreamAccepts(hostTsx: boolean, leaf7Ebx: number, idx: number, data: bigint): boolean {
  let reserved = RESERVED;
  let rawMask = 0xff84_ffffn;
  if (hostTsx && (leaf7Ebx & UPSTREAM_TEST) !== 0) {
    reserved ^= IN_TX;
    rawMask |= IN_TX | IN_TXCP;
  }
  if (idx === 2 && rawMask & IN_TXCP) reserved ^= IN_TXCP;
  return (data & reserved) === 0n;
}

const TAA_AFFECTED: CpuModel = {
  ...CPU_MODELS['intel-icelake'],
  name: 'icelake-with-taa',
  taaNo: false,
};

const INTEL: CpuModelName[] = [
  'intel-haswell',
  'intel-skylake',
  'intel-icelake',
  'intel-sapphire-rapids',
  'intel-emerald-rapids',
];

describe('intel_pmu_refresh / intel_pmu_set_msr: IN_TX and IN_TXCP', () => {
  it('property: a PERFEVTSELx write faults or reads back as upstream says, both designs', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...INTEL),
        fc.boolean(),
        fc.boolean(),
        fc.oneof(
          fc.constantFrom(0, HLE, RTM, HLE | RTM, AVX2, AVX2 | RTM, 1, 1 << 8),
          fc.integer({ min: 0, max: 0xffffffff }),
        ),
        fc.nat({ max: 7 }),
        fc.subarray([21n, 32n, 33n, 34n, 35n, 40n, 63n]),
        (name, mediated, hostTsx, leaf7Ebx, idx, bits) => {
          const cap = kvmPmuCapability(CPU_MODELS[name], { mediated, bootCpuHasTsx: hostTsx });
          const pmu = new GuestPmu(cap, resolveGuestPmuConfig(cap), {
            guestCpuid: { leaf7Ebx },
          });
          fc.pre(idx < pmu.nrArchGpCounters);
          const data = bits.reduce((v, b) => v | (1n << b), 0xc0n | COUNT);
          const r = pmu.setMsr(MSR.IA32_PERFEVTSEL0 + idx, data);
          if (upstreamAccepts(hostTsx, leaf7Ebx, idx, data)) {
            assert.equal(r, 'ok');
            assert.equal(pmu.getMsr(MSR.IA32_PERFEVTSEL0 + idx), data);
            // The mediated design loads the selector as written (no filter).
            if (pmu.mediated) assert.equal(pmu.gpCounters[idx]!.eventselHw, data);
          } else {
            assert.ok(isFault(r), `expected #GP for 0x${data.toString(16)} on counter ${idx}`);
            assert.equal(pmu.getMsr(MSR.IA32_PERFEVTSEL0 + idx), 0n);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('the guest TSX test reads EBX bits 0-3, 5, 8 as upstream writes it, not HLE or RTM', () => {
    const cap = kvmPmuCapability(CPU_MODELS['intel-sapphire-rapids'], { bootCpuHasTsx: true });
    const make = (leaf7Ebx: number) =>
      new GuestPmu(cap, resolveGuestPmuConfig(cap), { guestCpuid: { leaf7Ebx } });
    // HLE and RTM alone: entry->ebx & 0x12f is 0, so IN_TX stays reserved.
    assert.ok(isFault(make(HLE | RTM).setMsr(MSR.IA32_PERFEVTSEL0, CYCLES | IN_TX)));
    // AVX2 (bit 5) alone passes upstream's test.
    assert.equal(make(AVX2).setMsr(MSR.IA32_PERFEVTSEL0, CYCLES | IN_TX), 'ok');
  });

  it('AMD: bits 35:32 stay the event select, whatever leaf 7 says (commit e644896f5106)', () => {
    // amd_pmu_refresh: reserved_bits 0xfffffff000280000, raw_event_mask
    // AMD64_RAW_EVENT_MASK; X86_FEATURE_HLE/RTM are Intel's.
    const cap = kvmPmuCapability(CPU_MODELS['amd-zen4'], { bootCpuHasTsx: true });
    const pmu = new GuestPmu(cap, resolveGuestPmuConfig(cap), {
      guestCpuid: { leaf7Ebx: AVX2 | HLE | RTM },
    });
    assert.equal(cap.bootCpuHasTsx, false);
    assert.equal(pmu.reservedBits, 0xffff_fff0_0028_0000n);
    const select2c0 = (2n << 32n) | 0xc0n | COUNT; // EventSelect[11:8] = 2: bit 33
    assert.equal(pmu.setMsr(0xc0010200, select2c0), 'ok');
    assert.equal(pmu.getMsr(0xc0010200), select2c0);
  });

  it('a PMU of version 0 (no CPUID 0xA) never reaches the TSX step', () => {
    const cap = kvmPmuCapability(CPU_MODELS['intel-sapphire-rapids'], { bootCpuHasTsx: true });
    const pmu = new GuestPmu(cap, resolveGuestPmuConfig(cap, { version: 0 }), {
      guestCpuid: { leaf7Ebx: AVX2 },
    });
    assert.equal(pmu.rawEventMask & IN_TX, 0n);
  });
});

interface Guest {
  host: HostMachine;
  run<T>(program: (g: GuestCpu) => T): T;
}

function guestOn(
  cpu: CpuModelName | CpuModel,
  mediated: boolean,
  tsx: TsxMode | undefined,
  leaf7Ebx?: number,
): Guest {
  const host = new HostMachine({
    cpu,
    kvm: { enableMediatedPmu: mediated },
    ...(tsx ? { tsx } : {}),
  });
  const vcpu = host.kvm
    .createVm()
    .createVcpu(leaf7Ebx === undefined ? {} : { cpuid: { leaf7Ebx } });
  return { host, run: (p) => vcpu.run(p) };
}

/** Guest WRMSR: 'ok' or '#GP'. */
function wrmsr(g: GuestCpu, msr: number, value: bigint): 'ok' | '#GP' {
  try {
    g.wrmsr(msr, value);
    return 'ok';
  } catch (error) {
    if (error instanceof GuestFault) return '#GP';
    throw error;
  }
}

describe('a guest on a host: WRMSR of IN_TX / IN_TXCP on every counter', () => {
  // Whether boot_cpu_has(HLE|RTM) after tsx_init, per part and tsx= (tsx.c):
  // tsx=off acts only where IA32_TSX_CTRL exists.
  const cases: [CpuModelName | CpuModel, TsxMode | undefined, boolean][] = [
    // Default tsx=auto (Kconfig TSX_MODE_AUTO in 7.0): TAA_NO, so TSX stays on.
    ['intel-sapphire-rapids', undefined, true],
    ['intel-sapphire-rapids', 'off', false],
    ['intel-sapphire-rapids', 'on', true],
    ['intel-icelake', 'auto', true],
    ['intel-skylake', 'off', true], // no TSX_CTRL: tsx= does nothing
    ['intel-haswell', 'on', false], // TSX off by microcode (HSW136)
    // A part with TSX_CTRL affected by TAA (as Cascade Lake): auto turns it off.
    [TAA_AFFECTED, 'auto', false],
    [TAA_AFFECTED, 'on', true],
  ];
  for (const mediated of [false, true]) {
    for (const [cpu, tsx, hostTsx] of cases) {
      for (const leaf7Ebx of [undefined, AVX2 | HLE | RTM]) {
        it(`${mediated ? 'mediated' : 'perf-emulated'}, ${typeof cpu === 'string' ? cpu : cpu.name}, tsx=${tsx ?? 'default'}, guest leaf 7 EBX ${leaf7Ebx ?? 'unset'}`, () => {
          const guest = guestOn(cpu, mediated, tsx, leaf7Ebx);
          guest.run((g) => {
            for (let i = 0; i < guest.host.model.gpCounters; i++) {
              for (const bits of [IN_TX, IN_TXCP, IN_TX | IN_TXCP]) {
                const msr = MSR.IA32_PERFEVTSEL0 + i;
                const want = upstreamAccepts(hostTsx, leaf7Ebx ?? 0, i, CYCLES | bits);
                assert.equal(wrmsr(g, msr, CYCLES | bits), want ? 'ok' : '#GP', `counter ${i}`);
                assert.equal(g.rdmsr(msr), want ? CYCLES | bits : 0n);
                g.wrmsr(msr, 0n);
              }
            }
          });
        });
      }
    }
  }
});

describe('what the counters count', () => {
  // SDM 20.3.6.5: IN_TX counts only inside transactional regions (none in
  // the model's work); IN_TXCP alone counts as usual. Perf-emulated: KVM's
  // perf event carries both bits (raw_event_mask), IN_TXCP as a counting
  // event (pmc_reprogram_counter) that hsw_get_event_constraints puts on
  // counter 2. Mediated: the hardware gets the selector as written.
  for (const mediated of [false, true]) {
    it(`${mediated ? 'mediated' : 'perf-emulated'}: cycles with IN_TX count 0; with IN_TXCP on counter 2, all`, () => {
      const guest = guestOn('intel-sapphire-rapids', mediated, 'on', AVX2 | RTM);
      const [inTx, plain, inTxcp] = guest.run((g) => {
        g.wrmsr(MSR.IA32_PERFEVTSEL0, CYCLES | IN_TX);
        g.wrmsr(MSR.IA32_PERFEVTSEL0 + 1, CYCLES);
        // 2^30 before the wrap: a sampling event's period would be 2^30, which
        // hsw_hw_config refuses for IN_TXCP (< 0x7fffffff); KVM's period 0 is not.
        g.wrmsr(MSR.IA32_PMC0 + 2, START);
        g.wrmsr(MSR.IA32_PERFEVTSEL0 + 2, CYCLES | IN_TXCP);
        g.exec({ instructions: 100_000, cycles: 200_000 });
        return [0, 1, 2].map((i) => g.rdmsr(MSR.IA32_PMC0 + i));
      });
      assert.equal(inTx, 0n);
      assert.ok(plain! >= 200_000n, `plain cycles ${plain}`);
      assert.ok(inTxcp! - START >= 200_000n, `IN_TXCP cycles ${inTxcp! - START}`);
    });
  }
});

describe('guest CPUID leaf 7 and the options', () => {
  it('the guest reads leaf 7 EBX as userspace set it (KVM does not mask it), 0 by default', () => {
    for (const tsx of ['on', 'off'] as const) {
      const set = guestOn('intel-sapphire-rapids', true, tsx, HLE | RTM | AVX2);
      assert.equal(
        set.run((g) => g.cpuid(7, 0).ebx),
        HLE | RTM | AVX2,
      );
    }
    const unset = guestOn('intel-sapphire-rapids', true, 'on');
    assert.equal(
      unset.run((g) => g.cpuid(7, 0).ebx),
      0,
    );
  });

  it('a misspelt or ill-typed option is refused, not ignored', () => {
    const vm = createHost().kvm.createVm();
    assert.throws(() => vm.createVcpu({ cpuid: { leaf7ebx: 1 } } as never), /leaf7ebx.*leaf7Ebx/s);
    assert.throws(() => vm.createVcpu({ cpuId: {} } as never), /cpuId/);
    assert.throws(() => vm.createVcpu({ cpuid: { leaf7Ebx: -1 } }), /leaf7Ebx/);
    assert.throws(() => vm.createVcpu({ cpuid: 7 } as never), /cpuid must be an object/);
    assert.throws(() => createHost({ tsx: 'always' } as never), /tsx must be one of on, off, auto/);
  });
});
