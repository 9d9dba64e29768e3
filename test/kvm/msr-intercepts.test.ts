import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from '../common/fc.ts';
import { CPU_MODELS, type CpuModel, type CpuModelName } from '../../src/hw/cpu-models.ts';
import { MSR } from '../../src/hw/msr.ts';
import { GuestPmu } from '../../src/kvm/guest-pmu.ts';
import { kvmPmuCapability, resolveGuestPmuConfig } from '../../src/kvm/pmu-capability.ts';
import type { GuestPmuConfig } from '../../src/kvm/pmu-types.ts';
import {
  legacyIntercepts,
  mediatedIntercepts,
  pmuIntercepts,
  type PmuIntercepts,
} from '../../src/kvm/msr-intercepts.ts';

const RUNS = { numRuns: 200 };

function mediated(model: CpuModel, req: Partial<GuestPmuConfig> = {}): PmuIntercepts {
  const cap = kvmPmuCapability(model, { mediated: true });
  return mediatedIntercepts(model, resolveGuestPmuConfig(cap, req));
}

const hex = (s: ReadonlySet<number>): string[] =>
  [...s].sort((a, b) => a - b).map((m) => m.toString(16));
const range = (base: number, n: number, stride = 1): number[] =>
  Array.from({ length: n }, (_, i) => base + i * stride);

describe('the legacy design', () => {
  it('intercepts every PMU MSR and RDPMC', () => {
    assert.equal(legacyIntercepts().passthrough.size, 0);
    assert.equal(legacyIntercepts().rdpmcExits, true);
    const cap = kvmPmuCapability(CPU_MODELS['intel-skylake'], { mediated: false });
    const i = pmuIntercepts(new GuestPmu(cap, resolveGuestPmuConfig(cap)));
    assert.equal(i.passthrough.size, 0);
    assert.equal(i.rdpmcExits, true);
  });

  it('is what a host that does not qualify gets, even when asking for the mediated vPMU', () => {
    for (const name of ['intel-haswell', 'amd-zen3'] as const) {
      const i = mediated(CPU_MODELS[name]);
      assert.equal(i.passthrough.size, 0);
      assert.equal(i.rdpmcExits, true);
    }
  });
});

describe('the mediated design, Intel (vmx_recalc_pmu_msr_intercepts)', () => {
  it('a guest matching the host (Skylake: 4 GP, 3 fixed, 48 bits, v2) has counters, globals and RDPMC passed through', () => {
    const i = mediated(CPU_MODELS['intel-skylake']);
    assert.deepEqual(
      hex(i.passthrough),
      hex(
        new Set([...range(0xc1, 4), ...range(0x4c1, 4), ...range(0x309, 3), 0x38e, 0x38f, 0x390]),
      ),
    );
    assert.equal(i.rdpmcExits, false);
  });

  it('selectors, FIXED_CTR_CTRL and GLOBAL_STATUS_SET are always intercepted', () => {
    const i = mediated(CPU_MODELS['intel-skylake']);
    for (const msr of [...range(0x186, 8), 0x38d, 0x391, 0x345])
      assert.equal(i.passthrough.has(msr), false);
  });

  it('Sapphire Rapids: fixed counter 3 exists on the host but not in the guest, so globals and RDPMC are intercepted', () => {
    const i = mediated(CPU_MODELS['intel-sapphire-rapids']);
    assert.deepEqual(
      hex(i.passthrough),
      hex(new Set([...range(0xc1, 8), ...range(0x4c1, 8), ...range(0x309, 3)])),
    );
    assert.equal(i.rdpmcExits, true);
  });

  it('counters beyond the guest count stay intercepted, and then so do globals and RDPMC', () => {
    const i = mediated(CPU_MODELS['intel-skylake'], { gpCounters: 2, fixedCounters: 1 });
    assert.deepEqual(hex(i.passthrough), hex(new Set([0xc1, 0xc2, 0x4c1, 0x4c2, 0x309])));
    assert.equal(i.rdpmcExits, true);
  });

  it('IA32_PMCx is passed through only with full-width writes in the guest', () => {
    const i = mediated(CPU_MODELS['intel-skylake'], { perfCapabilities: 0n });
    assert.equal(i.passthrough.has(0xc1), true);
    assert.equal(i.passthrough.has(0x4c1), false);
  });

  it("a counter width other than the host's makes RDPMC exit but leaves the globals alone", () => {
    for (const req of [{ gpWidth: 32 }, { fixedWidth: 40 }]) {
      const i = mediated(CPU_MODELS['intel-skylake'], req);
      assert.equal(i.rdpmcExits, true);
      assert.equal(i.passthrough.has(MSR.IA32_PERF_GLOBAL_CTRL), true);
    }
  });

  it('version 1 intercepts the globals (and, with 0 fixed counters vs 3, RDPMC)', () => {
    const i = mediated(CPU_MODELS['intel-skylake'], { version: 1 });
    assert.equal(i.passthrough.has(MSR.IA32_PERF_GLOBAL_CTRL), false);
    assert.equal(i.passthrough.has(0xc1), true);
    assert.equal(i.rdpmcExits, true);
  });

  it('a vCPU without a PMU (version 0) has no mediated PMU: everything intercepted', () => {
    const i = mediated(CPU_MODELS['intel-skylake'], { version: 0 });
    assert.equal(i.passthrough.size, 0);
    assert.equal(i.rdpmcExits, true);
  });
});

describe('the mediated design, AMD (svm_recalc_pmu_msr_intercepts)', () => {
  const ctr = (i: number): number => MSR.MSR_F15H_PERF_CTR0 + 2 * i;
  const globals = [0xc0000300, 0xc0000301, 0xc0000302, 0xc0000303];

  it('Zen 4 with all six counters: K7 + F15H counters and all four PerfMonV2 globals, no RDPMC exit', () => {
    const i = mediated(CPU_MODELS['amd-zen4']);
    assert.deepEqual(
      hex(i.passthrough),
      hex(new Set([...range(0xc0010004, 4), ...range(ctr(0), 6, 2), ...globals])),
    );
    assert.equal(i.rdpmcExits, false);
    for (const msr of [...range(0xc0010000, 4), ...range(MSR.MSR_F15H_PERF_CTL0, 6, 2)]) {
      assert.equal(i.passthrough.has(msr), false);
    }
  });

  it('fewer counters than the host: the missing ones, the globals and RDPMC are intercepted', () => {
    const i = mediated(CPU_MODELS['amd-zen4'], { gpCounters: 3 });
    assert.deepEqual(
      hex(i.passthrough),
      hex(new Set([...range(0xc0010004, 3), ...range(ctr(0), 3, 2)])),
    );
    assert.equal(i.rdpmcExits, true);
  });

  it('v1 (no PerfMonV2 for the guest): globals intercepted, RDPMC not (counts and widths match)', () => {
    const i = mediated(CPU_MODELS['amd-zen4'], { version: 1 });
    for (const msr of globals) assert.equal(i.passthrough.has(msr), false);
    assert.equal(i.passthrough.has(ctr(5)), true);
    assert.equal(i.rdpmcExits, false);
  });

  it('without PerfCtrExtCore only the K7 counters are passed through', () => {
    const i = mediated(CPU_MODELS['amd-zen4'], { version: 1, gpCounters: 4 });
    assert.deepEqual(hex(i.passthrough), hex(new Set(range(0xc0010004, 4))));
    assert.equal(i.rdpmcExits, true);
  });
});

describe('properties', () => {
  const names = Object.keys(CPU_MODELS) as CpuModelName[];
  const request = fc.record(
    {
      version: fc.integer({ min: 0, max: 2 }),
      gpCounters: fc.integer({ min: 0, max: 8 }),
      fixedCounters: fc.integer({ min: 0, max: 3 }),
      gpWidth: fc.integer({ min: 16, max: 48 }),
      fixedWidth: fc.integer({ min: 16, max: 48 }),
    },
    { requiredKeys: [] },
  );

  it('only counters the guest has, and globals by the rule, are ever passed through', () => {
    fc.assert(
      fc.property(fc.constantFrom(...names), request, (name, req) => {
        const model = CPU_MODELS[name];
        const cap = kvmPmuCapability(model, { mediated: true });
        const pmu = new GuestPmu(cap, resolveGuestPmuConfig(cap, req));
        const i = pmuIntercepts(pmu);
        const sameCounts =
          pmu.nrArchGpCounters === cap.host.numCountersGp &&
          pmu.nrArchFixedCounters === cap.host.numCountersFixed;
        const globalsOpen = cap.mediated && pmu.version > 0 && sameCounts && pmu.version >= 2;
        for (const msr of i.passthrough) {
          const isGlobal =
            msr === 0x38e ||
            msr === 0x38f ||
            msr === 0x390 ||
            (msr >= 0xc0000300 && msr <= 0xc0000303);
          if (isGlobal) {
            assert.ok(globalsOpen, `global 0x${msr.toString(16)} passed through`);
            continue;
          }
          assert.ok(
            pmu.isValidMsr(msr),
            `0x${msr.toString(16)} passed through but not a counter of the guest`,
          );
          const pmc = pmu.ops.msrIdxToPmc(pmu, msr);
          const fw = msr >= 0x4c1 && msr < 0x4c9;
          assert.ok(fw || (pmc !== null && pmc.type !== undefined));
          // Never a selector.
          assert.ok(!(msr >= 0x186 && msr < 0x18e) && msr !== 0x38d && msr !== 0x391);
          assert.ok(
            !(msr >= 0xc0010000 && msr < 0xc0010004) &&
              !(msr >= 0xc0010200 && msr < 0xc001020c && msr % 2 === 0),
          );
        }
        if (!cap.mediated || !pmu.version) assert.equal(i.passthrough.size, 0);
        if (!sameCounts || !cap.mediated || !pmu.version) assert.equal(i.rdpmcExits, true);
      }),
      RUNS,
    );
  });
});

describe("the host's fixed-counter width is perf's cntval_bits (fidelity)", () => {
  // perf_get_x86_pmu_capability (arch/x86/events/core.c, as of "perf/x86/core:
  // Do not set bit width for unavailable counters"): bit_width_fixed =
  // num_counters_fixed ? x86_pmu.cntval_bits : 0, and intel_pmu_init sets
  // cntval_bits from CPUID 0xA EAX[23:16], the GP width. CPUID 0xA EDX[12:5]
  // (the fixed counters' own width) is not consulted. KVM caps the guest's
  // fixed width at it (intel_pmu_refresh) and kvm_need_rdpmc_intercept (pmu.c)
  // compares the guest's fixed bitmask with BIT_ULL(bit_width_fixed) - 1.
  const narrowFixed: CpuModel = {
    ...CPU_MODELS['intel-skylake'],
    name: 'skylake-40-bit-fixed',
    fixedWidth: 40,
  };

  it('KVM offers the GP width (48) for the fixed counters, not the 40 bits of CPUID EDX', () => {
    const cap = kvmPmuCapability(narrowFixed, { mediated: true });
    assert.equal(cap.host.bitWidthFixed, 48);
    assert.equal(cap.bitWidthFixed, 48);
    assert.equal(resolveGuestPmuConfig(cap).fixedWidth, 48);
  });

  it('a guest whose fixed counters are 40 bits wide gets RDPMC intercepted (40 != 48)', () => {
    assert.equal(mediated(narrowFixed, { fixedWidth: 40 }).rdpmcExits, true);
    assert.equal(mediated(narrowFixed).rdpmcExits, false);
  });
});
