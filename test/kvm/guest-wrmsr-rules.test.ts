/**
 * Guest WRMSR and RDMSR of every PMU MSR index, on random guest PMUs, against
 * an oracle written from upstream's code (not from the model's):
 * - x86.c kvm_set_msr_common / kvm_get_msr_common: the legacy P6 and K7
 *   MSRs read 0 and drop writes when kvm_pmu_is_valid_msr() says no; any
 *   other invalid index #GPs.
 * - pmu.c kvm_pmu_is_valid_msr: GLOBAL_STATUS, GLOBAL_CTRL, GLOBAL_OVF_CTRL
 *   (the Intel indices, on either vendor) need version > 1; then the vendor.
 * - pmu.c kvm_pmu_set_msr / kvm_pmu_get_msr: GLOBAL_STATUS read-only for the
 *   guest (#GP on Intel's index, ignored on AMD's), GLOBAL_CTRL #GP on bits
 *   of absent counters (AMD's GLOBAL_CTL drops them), GLOBAL_OVF_CTRL #GP on
 *   reserved bits and reads 0, AMD STATUS_CLR/SET read 0.
 * - vmx/pmu_intel.c intel_is_valid_msr / intel_pmu_set_msr / _get_msr:
 *   FIXED_CTR_CTRL with version > 1, #GP outside OS|USR|PMI (0xb) of existing
 *   fixed counters; PERFEVTSELx #GP on bits 63:32 and 21 (these guests set
 *   no CPUID.7 bits, so no TSX: tsx.test.ts); IA32_PMCx only with FW_WRITES,
 *   #GP above the width; legacy PERFCTRx writes sign-extended from 32 bits,
 *   then truncated;
 *   fixed counters truncated.
 * - svm/pmu.c amd_is_valid_msr / amd_pmu_set_msr / _get_msr: K7 MSRs with
 *   any PMU, F15H MSRs with PerfCtrExtCore, both #GP for a counter the guest
 *   lacks; selectors drop reserved bits 0xfffffff000280000; counters
 *   truncated to 48 bits.
 * The guest CPUID the oracle reads is the model's resolved configuration
 * (version, counts, widths, PERF_CAPABILITIES, PerfCtrExtCore).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from '../common/fc.ts';
import { CPU_MODELS, CPU_MODEL_NAMES } from '../../src/hw/cpu-models.ts';
import { GuestPmu } from '../../src/kvm/guest-pmu.ts';
import { kvmPmuCapability, resolveGuestPmuConfig } from '../../src/kvm/pmu-capability.ts';
import { isFault } from '../../src/kvm/pmu-types.ts';

const U64 = (1n << 64n) - 1n;
const mask = (bits: number): bigint => (1n << BigInt(bits)) - 1n;
const sext32 = (v: bigint): bigint => BigInt.asUintN(64, BigInt.asIntN(32, v));

/** What upstream does with a guest WRMSR: #GP, or the value a later RDMSR returns ('dropped': no state). */
type Expected = { fault: true } | { fault: false; readBack: bigint | 'dropped' | 'unchecked' };
const GP: Expected = { fault: true };
const ok = (readBack: bigint | 'dropped' | 'unchecked'): Expected => ({ fault: false, readBack });

const LEGACY = new Set([0xc1, 0xc2, 0x186, 0x187, ...range(0xc0010000, 8)]);

function range(base: number, n: number, stride = 1): number[] {
  return Array.from({ length: n }, (_, i) => base + stride * i);
}

/** The Intel-index globals, which kvm_pmu_is_valid_msr gives every v2+ PMU. */
function intelGlobals(pmu: GuestPmu, msr: number, data: bigint): Expected | null {
  if (msr < 0x38e || msr > 0x390) return null;
  if (pmu.version <= 1) return LEGACY.has(msr) ? ok('dropped') : GP;
  const nrGp = pmu.nrArchGpCounters;
  const nrFixed = pmu.nrArchFixedCounters;
  const ctrlRsvd = ~(mask(nrGp) | (mask(nrFixed) << 32n)) & U64;
  const statusRsvd = ctrlRsvd & ~(3n << 62n);
  if (msr === 0x38e) return GP; // GLOBAL_STATUS: read-only for the guest
  if (msr === 0x38f) return data & ctrlRsvd ? GP : ok(data);
  return data & statusRsvd ? GP : ok(0n); // GLOBAL_OVF_CTRL reads 0
}

function intelExpected(pmu: GuestPmu, msr: number, data: bigint): Expected {
  const globals = intelGlobals(pmu, msr, data);
  if (globals) return globals;
  const v = pmu.version;
  const nrGp = v ? pmu.nrArchGpCounters : 0;
  const nrFixed = v ? pmu.nrArchFixedCounters : 0;
  const gpMask = pmu.counterBitmaskGp;
  const fixedMask = pmu.counterBitmaskFixed;
  const fw = v > 0 && (pmu.config.perfCapabilities & (1n << 13n)) !== 0n;
  const invalid = (): Expected => (LEGACY.has(msr) ? ok('dropped') : GP);
  if (msr === 0x38d) {
    if (v <= 1) return invalid();
    let allowed = 0n;
    for (let i = 0; i < nrFixed; i++) allowed |= 0xbn << BigInt(4 * i);
    return data & ~allowed ? GP : ok(data);
  }
  if (msr >= 0x186 && msr < 0x186 + 8) {
    if (msr - 0x186 >= nrGp) return invalid();
    return data & 0xffffffff00200000n ? GP : ok(data);
  }
  if (msr >= 0xc1 && msr < 0xc1 + 8) {
    if (msr - 0xc1 >= nrGp) return invalid();
    return ok(sext32(data) & gpMask);
  }
  if (msr >= 0x4c1 && msr < 0x4c1 + 8) {
    if (!fw || msr - 0x4c1 >= nrGp) return invalid();
    return data & ~gpMask ? GP : ok(data);
  }
  if (msr >= 0x309 && msr < 0x309 + 4) {
    if (msr - 0x309 >= nrFixed) return invalid();
    return ok(data & fixedMask);
  }
  return invalid();
}

function amdExpected(pmu: GuestPmu, msr: number, data: bigint): Expected {
  const globals = intelGlobals(pmu, msr, data);
  if (globals) return globals;
  const v = pmu.version;
  const nrGp = pmu.nrArchGpCounters;
  const invalid = (): Expected => (LEGACY.has(msr) ? ok('dropped') : GP);
  const selector = (idx: number): Expected => (idx < nrGp ? ok(data & ~0xfffffff000280000n) : GP);
  const counter = (idx: number): Expected => (idx < nrGp ? ok(data & mask(48)) : GP);
  if (msr >= 0xc0010000 && msr < 0xc0010004) return v ? selector(msr - 0xc0010000) : invalid();
  if (msr >= 0xc0010004 && msr < 0xc0010008) return v ? counter(msr - 0xc0010004) : invalid();
  if (msr >= 0xc0010200 && msr <= 0xc001020b) {
    if (!pmu.perfCtrCore) return invalid();
    const idx = (msr - 0xc0010200) >> 1;
    return msr & 1 ? counter(idx) : selector(idx);
  }
  if (msr >= 0xc0000300 && msr <= 0xc0000303) {
    if (v <= 1) return invalid();
    if (msr === 0xc0000301) return ok(data & mask(nrGp)); // GLOBAL_CTL drops absent counters
    return msr === 0xc0000300 ? ok('unchecked') : ok(0n); // STATUS: writes ignored; CLR/SET read 0
  }
  return invalid();
}

const INDICES = [
  ...range(0xc1, 9),
  ...range(0x4c1, 9),
  ...range(0x186, 9),
  ...range(0x309, 5),
  ...range(0x38d, 5),
  ...range(0xc0010000, 8),
  ...range(0xc0010200, 13),
  ...range(0xc0000300, 4),
];

const VALUE = fc.oneof(
  fc.bigInt({ min: 0n, max: U64 }),
  fc.bigInt({ min: 0n, max: 0xffffffffn }),
  fc.nat(63).map((b) => 1n << BigInt(b)),
  fc.constantFrom(0n, 0x80000000n, mask(48), U64),
);

const REQUEST = fc.record(
  {
    version: fc.integer({ min: 0, max: 3 }),
    gpCounters: fc.integer({ min: 0, max: 10 }),
    fixedCounters: fc.integer({ min: 0, max: 4 }),
    gpWidth: fc.integer({ min: 8, max: 52 }),
    fixedWidth: fc.integer({ min: 8, max: 52 }),
    perfCapabilities: fc.constantFrom(0n, 1n << 13n),
  },
  { requiredKeys: [] },
);

describe('guest WRMSR/RDMSR of PMU MSRs against upstream rules (property)', () => {
  it('faults exactly where upstream #GPs, and reads back what upstream stores', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...CPU_MODEL_NAMES),
        fc.boolean(),
        REQUEST,
        fc.constantFrom(...INDICES),
        VALUE,
        (name, mediated, req, msr, data) => {
          const model = CPU_MODELS[name];
          const cap = kvmPmuCapability(model, { mediated });
          if (model.vendor === 'amd') delete req.perfCapabilities;
          const pmu = new GuestPmu(cap, resolveGuestPmuConfig(cap, req));
          const want = (model.vendor === 'intel' ? intelExpected : amdExpected)(pmu, msr, data);
          const got = pmu.setMsr(msr, data);
          const where = `${name} v${pmu.version} wrmsr 0x${msr.toString(16)} <- 0x${data.toString(16)}`;
          assert.equal(isFault(got), want.fault, `${where}: ${JSON.stringify(got)}`);
          if (want.fault) return;
          const read = pmu.getMsr(msr);
          if (want.readBack === 'unchecked') return;
          if (want.readBack === 'dropped') assert.equal(read, 0n, `${where}: reads 0`);
          else assert.equal(read, want.readBack, `${where}: read back`);
        },
      ),
      { numRuns: 3000 },
    );
  });
});
