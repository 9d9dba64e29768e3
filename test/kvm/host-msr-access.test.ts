/**
 * Userspace (KVM_GET_MSRS / KVM_SET_MSRS, hostInitiated) against PMU MSRs the
 * vCPU does not have. Upstream (x86.c): kvm_{get,set}_msr_common's default
 * case returns KVM_MSR_RET_UNSUPPORTED when kvm_pmu_is_valid_msr() says no,
 * and kvm_do_msr_access then lets userspace read 0 from, and write 0 to, an
 * MSR KVM advertises (kvm_is_advertised_msr: msrs_to_save as
 * kvm_init_msr_lists probes msrs_to_save_pmu, plus emulated_msrs), so that a
 * VMM can save and restore every MSR of KVM_GET_MSR_INDEX_LIST whatever the
 * guest's CPUID. Anything else, and every guest access, fails (#GP).
 *
 * kvm_probe_msr_to_save keeps a PMU MSR when the host has it (rdmsr_safe) and
 * - PERFCTR0+i / EVENTSEL0+i: i < kvm_pmu_cap.num_counters_gp;
 * - FIXED_CTR0+i: i < kvm_pmu_cap.num_counters_fixed (the list has 3);
 * - AMD PERF_CNTR_GLOBAL_*: KVM supports PERFMON_V2.
 * FIXED_CTR_CTRL, GLOBAL_STATUS and GLOBAL_CTRL are listed (GLOBAL_OVF_CTRL
 * and the IA32_PMCx aliases are not), the K7 MSRs and F15H PERF_CTL/CTR0-5
 * too (on an AMD host; an Intel one has none of them).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from '../common/fc.ts';
import { CPU_MODELS, CPU_MODEL_NAMES, type CpuModelName } from '../../src/hw/cpu-models.ts';
import { MSR } from '../../src/hw/msr.ts';
import { GuestPmu } from '../../src/kvm/guest-pmu.ts';
import { kvmPmuCapability, resolveGuestPmuConfig } from '../../src/kvm/pmu-capability.ts';
import { isLegacyPerfMsr, isPmuMsr } from '../../src/kvm/pmu-msrs.ts';
import { isFault, type GuestPmuConfig } from '../../src/kvm/pmu-types.ts';

function make(name: CpuModelName, req: Partial<GuestPmuConfig> = {}): GuestPmu {
  const cap = kvmPmuCapability(CPU_MODELS[name]);
  return new GuestPmu(cap, resolveGuestPmuConfig(cap, req));
}

/** Userspace reads 0 and may write 0, but nothing else; the guest gets #GP. */
function assertAdvertisedButAbsent(pmu: GuestPmu, msr: number): void {
  const what = `MSR 0x${msr.toString(16)}`;
  assert.equal(pmu.getMsr(msr, true), 0n, `${what}: KVM_GET_MSRS`);
  assert.equal(pmu.setMsr(msr, 0n, true), 'ok', `${what}: KVM_SET_MSRS of 0`);
  assert.ok(isFault(pmu.setMsr(msr, 1n, true)), `${what}: KVM_SET_MSRS of 1`);
  assert.ok(isFault(pmu.getMsr(msr)), `${what}: guest RDMSR`);
  assert.ok(isFault(pmu.setMsr(msr, 0n)), `${what}: guest WRMSR of 0`);
}

/** Not advertised: userspace fails as the guest does. */
function assertUnsupported(pmu: GuestPmu, msr: number): void {
  const what = `MSR 0x${msr.toString(16)}`;
  assert.ok(isFault(pmu.getMsr(msr, true)), `${what}: KVM_GET_MSRS`);
  assert.ok(isFault(pmu.setMsr(msr, 0n, true)), `${what}: KVM_SET_MSRS of 0`);
}

describe('userspace access to PMU MSRs the vCPU lacks (kvm_do_msr_access)', () => {
  it('Intel: GP counters and selectors past the guest count, up to KVM count', () => {
    const pmu = make('intel-sapphire-rapids', { gpCounters: 2 }); // KVM: 8
    for (let i = 2; i < 8; i++) {
      assertAdvertisedButAbsent(pmu, MSR.IA32_PERFCTR0 + i);
      assertAdvertisedButAbsent(pmu, MSR.IA32_PERFEVTSEL0 + i);
      assertUnsupported(pmu, MSR.IA32_PMC0 + i); // the full-width alias is not listed
    }
  });

  it('Intel: a v1 guest has no fixed counters, FIXED_CTR_CTRL or GLOBAL_*; OVF_CTRL and fixed counter 3 are not listed', () => {
    const pmu = make('intel-icelake', { version: 1 });
    for (let i = 0; i < 3; i++) assertAdvertisedButAbsent(pmu, MSR.IA32_FIXED_CTR0 + i);
    for (const msr of [
      MSR.IA32_FIXED_CTR_CTRL,
      MSR.IA32_PERF_GLOBAL_STATUS,
      MSR.IA32_PERF_GLOBAL_CTRL,
    ])
      assertAdvertisedButAbsent(pmu, msr);
    assertUnsupported(pmu, MSR.IA32_PERF_GLOBAL_OVF_CTRL);
    assertUnsupported(pmu, MSR.IA32_FIXED_CTR0 + 3);
    assertUnsupported(pmu, MSR.MSR_F15H_PERF_CTL0); // no such MSR on an Intel host
    assertUnsupported(pmu, MSR.MSR_AMD64_PERF_CNTR_GLOBAL_CTL);
  });

  it('Intel: counters past KVM count (a 4-counter host) are not listed', () => {
    const pmu = make('intel-skylake', { gpCounters: 1 });
    assertAdvertisedButAbsent(pmu, MSR.IA32_PERFCTR0 + 3);
    assertUnsupported(pmu, MSR.IA32_PERFCTR0 + 4);
    assertUnsupported(pmu, MSR.IA32_PERFEVTSEL0 + 7);
  });

  it('AMD: PerfMonV2 globals on a v1 guest (KVM supports PERFMON_V2), not on Zen 3', () => {
    const zen4v1 = make('amd-zen4', { version: 1 });
    for (
      let msr = MSR.MSR_AMD64_PERF_CNTR_GLOBAL_STATUS;
      msr <= MSR.MSR_AMD64_PERF_CNTR_GLOBAL_STATUS_SET;
      msr++
    )
      assertAdvertisedButAbsent(zen4v1, msr);
    assertUnsupported(make('amd-zen3'), MSR.MSR_AMD64_PERF_CNTR_GLOBAL_CTL);
    assertUnsupported(zen4v1, MSR.IA32_FIXED_CTR0);
    assertUnsupported(zen4v1, MSR.IA32_PERF_GLOBAL_CTRL);
  });

  it('AMD: F15H PERF_CTL/CTR0-5 without PerfCtrExtCore in the guest', () => {
    const pmu = make('amd-zen3', { gpCounters: 4 }); // v1, 4 counters: no PerfCtrExtCore
    assert.equal(pmu.perfCtrCore, false);
    for (let i = 0; i < 6; i++) {
      assertAdvertisedButAbsent(pmu, MSR.MSR_F15H_PERF_CTL0 + 2 * i);
      assertAdvertisedButAbsent(pmu, MSR.MSR_F15H_PERF_CTR0 + 2 * i);
    }
  });

  it('property: a KVM_GET_MSRS of a PMU MSR the vCPU lacks is 0 or fails, never another value; the guest always fails', () => {
    const names = CPU_MODEL_NAMES;
    fc.assert(
      fc.property(
        fc.constantFrom(...names),
        fc.record({ version: fc.nat(3), gpCounters: fc.nat(8), fixedCounters: fc.nat(3) }),
        fc.integer({ min: 0, max: 0xffff }),
        (name, req, pick) => {
          const pmu = make(name, req);
          const all = pmuMsrIndices();
          const msr = all[pick % all.length]!;
          if (pmu.isValidMsr(msr) || isLegacyPerfMsr(msr) || msr === MSR.IA32_PERF_CAPABILITIES)
            return;
          assert.ok(isFault(pmu.getMsr(msr)));
          const host = pmu.getMsr(msr, true);
          assert.ok(
            isFault(host) || host === 0n,
            `0x${msr.toString(16)} read ${JSON.stringify(host, (_, v: unknown) => (typeof v === 'bigint' ? v.toString(16) : v))}`,
          );
          assert.equal(isFault(pmu.setMsr(msr, 0n, true)), isFault(host));
          assert.ok(isFault(pmu.setMsr(msr, 2n, true)));
        },
      ),
      { numRuns: 300 },
    );
  });
});

let indices: number[] | null = null;
function pmuMsrIndices(): number[] {
  if (indices) return indices;
  indices = [];
  for (const [lo, hi] of [
    [0xc1, 0xc8],
    [0x186, 0x18d],
    [0x309, 0x30c],
    [0x38d, 0x391],
    [0x4c1, 0x4c8],
    [0xc0000300, 0xc0000303],
    [0xc0010000, 0xc0010007],
    [0xc0010200, 0xc001020b],
  ] as const)
    for (let m = lo; m <= hi; m++) if (isPmuMsr(m)) indices.push(m);
  return indices;
}
