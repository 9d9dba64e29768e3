/**
 * IA32_PERF_CAPABILITIES as userspace (KVM_{GET,SET}_MSRS, hostInitiated)
 * and the guest see it: a port of the KVM selftest
 * tools/testing/selftests/kvm/x86/vmx_pmu_caps_test.c, whose expectations
 * come from x86.c (kvm_set_msr_common / kvm_get_msr_common, do_set_msr's
 * immutable feature MSRs, kvm_do_msr_access's "read 0, write 0" rule for
 * advertised MSRs; "KVM: x86: Reject userspace attempts to access
 * PERF_CAPABILITIES w/o PDCM", Aug 2024) and vmx.c (vmx_set_msr: a non-zero
 * LBR format must be KVM's, a non-zero PEBS format needs KVM's PEBS bits).
 *
 * `hostCap` is what the selftest reads with kvm_get_feature_msr: KVM's
 * supported PERF_CAPABILITIES (kvm_caps.supported_perf_cap), i.e.
 * KvmPmuCapability.perfCapabilities. The model's guest has PDCM exactly when
 * it has a PMU, so "clear PDCM" is a refresh to version 0.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CPU_MODELS, CPU_MODEL_NAMES } from '../../src/hw/cpu-models.ts';
import { KvmError } from '../../src/common/errors.ts';
import { MSR } from '../../src/hw/msr.ts';
import { GuestPmu } from '../../src/kvm/guest-pmu.ts';
import { kvmPmuCapability, resolveGuestPmuConfig } from '../../src/kvm/pmu-capability.ts';
import { isFault } from '../../src/kvm/pmu-types.ts';

const PERF_CAPABILITIES = MSR.IA32_PERF_CAPABILITIES;
const bit = (i: number): bigint => 1n << BigInt(i);
const U64 = (1n << 64n) - 1n;

// vmx_pmu_caps_test.c's union perf_capabilities.
const LBR_FORMAT = 0x3fn;
const PEBS_FORMAT = 0xf00n;
/** immutable_caps: lbr_format, pebs_trap, pebs_arch_reg, pebs_format, pebs_baseline, pebs_timing_info. */
const IMMUTABLE_CAPS = LBR_FORMAT | bit(6) | bit(7) | PEBS_FORMAT | bit(14) | bit(17);
/** format_caps: lbr_format, pebs_format. */
const FORMAT_CAPS = LBR_FORMAT | PEBS_FORMAT;

/** Every Intel host, under each design KVM offers on it. */
const HOSTS = CPU_MODEL_NAMES.filter((n) => CPU_MODELS[n].vendor === 'intel').flatMap((name) =>
  [false, true].map((mediated) => ({
    name: `${name}${mediated ? ' (mediated)' : ''}`,
    cap: kvmPmuCapability(CPU_MODELS[name], { mediated }),
  })),
);

function vcpuOn(cap: ReturnType<typeof kvmPmuCapability>): GuestPmu {
  return new GuestPmu(cap, resolveGuestPmuConfig(cap, {}));
}

function setOk(pmu: GuestPmu, value: bigint, what: string): void {
  const r = pmu.setMsr(PERF_CAPABILITIES, value, true);
  assert.equal(r, 'ok', `${what}: writing 0x${value.toString(16)} failed: ${JSON.stringify(r)}`);
}

function setFails(pmu: GuestPmu, value: bigint, what: string): void {
  assert.ok(
    isFault(pmu.setMsr(PERF_CAPABILITIES, value, true)),
    `${what}: writing 0x${value.toString(16)} did not fail`,
  );
}

function setBits(value: bigint): number[] {
  const bits: number[] = [];
  for (let i = 0; i < 64; i++) if (value & bit(i)) bits.push(i);
  return bits;
}

describe('IA32_PERF_CAPABILITIES (vmx_pmu_caps_test)', () => {
  for (const { name, cap } of HOSTS) {
    const hostCap = cap.perfCapabilities;

    it(`${name}: guest_wrmsr_perf_capabilities: guest writes #GP; immutable after KVM_RUN`, () => {
      const pmu = vcpuOn(cap);
      setOk(pmu, hostCap, 'before KVM_RUN');
      for (const v of [hostCap, 0n, ...setBits(U64).map((i) => hostCap ^ bit(i))])
        assert.ok(
          isFault(pmu.setMsr(PERF_CAPABILITIES, v, false)),
          `guest write 0x${v.toString(16)}`,
        );
      pmu.vcpuHasRun = true;
      assert.equal(pmu.getMsr(PERF_CAPABILITIES, true), hostCap);
      setOk(pmu, hostCap, 'the same value after KVM_RUN');
      setFails(pmu, 0n, 'after KVM_RUN');
      for (let i = 0; i < 64; i++) setFails(pmu, hostCap ^ bit(i), 'after KVM_RUN');
    });

    it(`${name}: basic_perf_capabilities: 0, then everything KVM supports`, () => {
      const pmu = vcpuOn(cap);
      setOk(pmu, 0n, 'basic');
      setOk(pmu, hostCap, 'basic');
    });

    it(`${name}: fungible_perf_capabilities: each non-format bit alone, and all but it`, () => {
      const pmu = vcpuOn(cap);
      for (const i of setBits(hostCap & ~IMMUTABLE_CAPS)) {
        setOk(pmu, bit(i), 'fungible');
        setOk(pmu, hostCap & ~bit(i), 'fungible');
      }
      setOk(pmu, hostCap, 'fungible');
    });

    it(`${name}: immutable_perf_capabilities: unsupported bits, partial PEBS, other LBR/PEBS formats`, () => {
      const pmu = vcpuOn(cap);
      for (const i of setBits(((~hostCap & U64) | IMMUTABLE_CAPS) & ~FORMAT_CAPS))
        setFails(pmu, hostCap ^ bit(i), `toggling immutable bit ${i}`);
      // KVM supports the host's LBR format and 0 only; likewise the PEBS format.
      for (let f = 1n; f <= 0x3fn; f++) {
        if (f === (hostCap & LBR_FORMAT)) continue;
        setFails(pmu, (hostCap & ~LBR_FORMAT) | f, `LBR format 0x${f.toString(16)}`);
      }
      for (let f = 1n; f <= 0xfn; f++) {
        if (f === (hostCap & PEBS_FORMAT) >> 8n) continue;
        setFails(pmu, (hostCap & ~PEBS_FORMAT) | (f << 8n), `PEBS format ${f}`);
      }
    });

    it(`${name}: perf_capabilities_unsupported: without PDCM reads are 0, only 0 may be written`, () => {
      const pmu = vcpuOn(cap);
      setOk(pmu, hostCap, 'with PDCM');
      assert.equal(pmu.getMsr(PERF_CAPABILITIES, true), hostCap);
      pmu.refresh({ ...pmu.config, version: 0 }); // vcpu_clear_cpuid_feature(PDCM)
      assert.equal(pmu.getMsr(PERF_CAPABILITIES, true), 0n);
      setOk(pmu, 0n, 'without PDCM');
      for (let i = 0; i < 64; i++) setFails(pmu, bit(i), 'without PDCM');
    });
  }
});

describe('a guest configuration with PERF_CAPABILITIES (resolveGuestPmuConfig)', () => {
  // The configuration stands for the KVM_SET_MSRS a VMM makes before KVM_RUN:
  // what vmx_set_msr refuses there is refused here (EINVAL).
  it("refuses an LBR format other than KVM's own, and PEBS bits without all of KVM's", () => {
    const cap = kvmPmuCapability(CPU_MODELS['intel-icelake']);
    assert.equal(cap.perfCapabilities & LBR_FORMAT, 5n);
    const pebs = cap.perfCapabilities & (bit(6) | bit(7) | PEBS_FORMAT);
    assert.notEqual(pebs, 0n);
    assert.throws(() => resolveGuestPmuConfig(cap, { perfCapabilities: 4n }), KvmError);
    assert.throws(() => resolveGuestPmuConfig(cap, { perfCapabilities: pebs & ~bit(6) }), KvmError);
    assert.equal(
      resolveGuestPmuConfig(cap, { perfCapabilities: 5n | pebs }).perfCapabilities,
      5n | pebs,
    );
  });
});
