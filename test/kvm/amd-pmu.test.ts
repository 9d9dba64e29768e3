import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from '../common/fc.ts';
import { CPU_MODELS, type CpuModelName } from '../../src/hw/cpu-models.ts';
import { MSR } from '../../src/hw/msr.ts';
import { createHost } from '../../src/sim/host.ts';
import { AMD_RESERVED_BITS, KVM_MAX_NR_AMD_GP_COUNTERS } from '../../src/kvm/amd-pmu.ts';
import { compileEventFilter } from '../../src/kvm/event-filter.ts';
import { GuestPmu } from '../../src/kvm/guest-pmu.ts';
import {
  guestPmuCpuid,
  kvmPmuCapability,
  resolveGuestPmuConfig,
} from '../../src/kvm/pmu-capability.ts';
import { isFault, type GuestPmuConfig } from '../../src/kvm/pmu-types.ts';

const RUNS = { numRuns: 200 };
const EN = 1n << 22n;
const GUEST_ONLY = 1n << 40n;
const HOST_ONLY = 1n << 41n;
const CTL = (i: number): number => MSR.MSR_F15H_PERF_CTL0 + 2 * i;
const CTR = (i: number): number => MSR.MSR_F15H_PERF_CTR0 + 2 * i;

function make(
  name: CpuModelName = 'amd-zen4',
  req: Partial<GuestPmuConfig> = {},
  mediated = false,
): GuestPmu {
  const cap = kvmPmuCapability(CPU_MODELS[name], { mediated });
  return new GuestPmu(cap, resolveGuestPmuConfig(cap, req));
}

function ok(r: unknown): void {
  assert.equal(r, 'ok');
}

function gp(r: unknown): void {
  assert.ok(isFault(r), `expected #GP, got ${String(r)}`);
}

describe('refresh (amd_pmu_refresh)', () => {
  it('Zen 4: version 2 (PerfMonV2), the counter count from 0x80000022 EBX, 48-bit counters', () => {
    const pmu = make('amd-zen4', { gpCounters: 3 });
    assert.equal(pmu.version, 2);
    assert.equal(pmu.nrArchGpCounters, 3);
    assert.equal(pmu.counterBitmaskGp, (1n << 48n) - 1n);
    assert.equal(pmu.globalCtrlRsvd, ~0x7n & ((1n << 64n) - 1n));
    assert.equal(pmu.globalStatusRsvd, pmu.globalCtrlRsvd);
    assert.equal(pmu.nrArchFixedCounters, 0);
    assert.equal(pmu.reservedBits, AMD_RESERVED_BITS);
  });

  it('Zen 3: version 1; six counters with PerfCtrExtCore, else the four legacy ones', () => {
    assert.equal(make('amd-zen3').version, 1);
    assert.equal(make('amd-zen3').nrArchGpCounters, 6);
    assert.equal(make('amd-zen3').perfCtrCore, true);
    const four = make('amd-zen3', { gpCounters: 4 });
    assert.equal(four.nrArchGpCounters, 4);
    assert.equal(four.perfCtrCore, false);
    assert.equal(KVM_MAX_NR_AMD_GP_COUNTERS, 6);
  });

  it('a v1 guest on a PerfMonV2 host has no global MSRs', () => {
    const pmu = make('amd-zen4', { version: 1 });
    for (const msr of [0xc0000300, 0xc0000301, 0xc0000302, 0xc0000303]) {
      gp(pmu.getMsr(msr));
      gp(pmu.setMsr(msr, 0n));
    }
  });
});

describe('PERF_CTLx / EVNTSELx (amd_pmu_set_msr)', () => {
  it('reserved bits are dropped silently, GuestOnly/HostOnly included', () => {
    const pmu = make();
    const v =
      0xc0n | EN | (1n << 21n) | (1n << 19n) | GUEST_ONLY | HOST_ONLY | (1n << 63n) | (0x3n << 32n);
    ok(pmu.setMsr(CTL(0), v));
    assert.equal(pmu.getMsr(CTL(0)), 0xc0n | EN | (0x3n << 32n));
  });

  it('programs GuestOnly=1, HostOnly=0 (eventselHw), in both designs', () => {
    for (const mediated of [false, true]) {
      const pmu = make('amd-zen4', {}, mediated);
      ok(pmu.setMsr(CTL(1), 0x76n | EN));
      assert.equal(pmu.gpCounters[1]!.eventselHw, 0x76n | EN | GUEST_ONLY);
    }
  });

  it('mediated: a filtered event loses ENABLE in hardware only; the 12-bit select is matched', () => {
    const pmu = make('amd-zen4', {}, true);
    pmu.setFilter(compileEventFilter({ action: 'deny', events: [0x1_0000_00c0n] }, 'amd')); // select 0x1c0
    ok(pmu.setMsr(CTL(0), 0xc0n | (1n << 32n) | EN));
    ok(pmu.setMsr(CTL(1), 0xc0n | EN));
    assert.equal(pmu.gpCounters[0]!.eventselHw, 0xc0n | (1n << 32n) | GUEST_ONLY);
    assert.equal(pmu.gpCounters[1]!.eventselHw, 0xc0n | EN | GUEST_ONLY);
    assert.equal(pmu.getMsr(CTL(0)), 0xc0n | (1n << 32n) | EN);
  });
});

describe('counters', () => {
  it('K7 PERFCTR0-3 / EVNTSEL0-3 alias F15H PERF_CTR0-3 / PERF_CTL0-3', () => {
    const pmu = make();
    ok(pmu.setMsr(MSR.MSR_K7_PERFCTR0 + 2, 1234n));
    assert.equal(pmu.getMsr(CTR(2)), 1234n);
    ok(pmu.setMsr(CTL(3), 0xc2n | EN));
    assert.equal(pmu.getMsr(MSR.MSR_K7_EVNTSEL0 + 3), 0xc2n | EN);
  });

  it('writes are masked to 48 bits, never #GP', () => {
    const pmu = make();
    ok(pmu.setMsr(CTR(5), (1n << 64n) - 1n));
    assert.equal(pmu.getMsr(CTR(5)), (1n << 48n) - 1n);
  });

  it('F15H MSRs need PerfCtrExtCore; counters beyond the count #GP', () => {
    const four = make('amd-zen3', { gpCounters: 4 });
    gp(four.getMsr(CTR(0)));
    gp(four.setMsr(CTL(0), 0n));
    ok(four.setMsr(MSR.MSR_K7_PERFCTR0 + 3, 1n));
    const three = make('amd-zen4', { gpCounters: 3 });
    gp(three.getMsr(CTR(3)));
    gp(three.getMsr(MSR.MSR_K7_PERFCTR0 + 3)); // a valid K7 MSR with no counter behind it
    gp(three.setMsr(MSR.MSR_K7_EVNTSEL0 + 3, 0n));
  });

  it('RDPMC ECX is the counter index, the value 48 bits wide', () => {
    const pmu = make('amd-zen4', { gpCounters: 4 });
    ok(pmu.setMsr(CTR(3), 77n));
    assert.equal(pmu.rdpmc(3, { cpl: 0, cr4Pce: false }), 77n);
    gp(pmu.rdpmc(4, { cpl: 0, cr4Pce: false }));
    gp(pmu.rdpmc(0x4000_0000, { cpl: 0, cr4Pce: false }));
  });
});

describe('PerfMonV2 global MSRs (kvm_pmu_set_msr)', () => {
  it('GLOBAL_STATUS: guest writes are ignored; userspace writes need valid bits', () => {
    const pmu = make();
    ok(pmu.setMsr(MSR.MSR_AMD64_PERF_CNTR_GLOBAL_STATUS, 0x3n));
    assert.equal(pmu.globalStatus, 0n);
    ok(pmu.setMsr(MSR.MSR_AMD64_PERF_CNTR_GLOBAL_STATUS, 0x3n, true));
    assert.equal(pmu.getMsr(MSR.MSR_AMD64_PERF_CNTR_GLOBAL_STATUS), 0x3n);
    gp(pmu.setMsr(MSR.MSR_AMD64_PERF_CNTR_GLOBAL_STATUS, 1n << 6n, true));
  });

  it('GLOBAL_CTL drops reserved bits instead of #GP', () => {
    const pmu = make('amd-zen4', { gpCounters: 2 });
    ok(pmu.setMsr(MSR.MSR_AMD64_PERF_CNTR_GLOBAL_CTL, (1n << 64n) - 1n));
    assert.equal(pmu.getMsr(MSR.MSR_AMD64_PERF_CNTR_GLOBAL_CTL), 0x3n);
  });

  it('STATUS_CLR clears the written bits (no reserved-bit #GP); STATUS_SET ORs the valid ones; both read 0', () => {
    const pmu = make('amd-zen4', { gpCounters: 4 });
    ok(pmu.setMsr(MSR.MSR_AMD64_PERF_CNTR_GLOBAL_STATUS_SET, 0xffn));
    assert.equal(pmu.globalStatus, 0xfn);
    ok(pmu.setMsr(MSR.MSR_AMD64_PERF_CNTR_GLOBAL_STATUS_CLR, 0x5n | (1n << 63n)));
    assert.equal(pmu.globalStatus, 0xan);
    assert.equal(pmu.getMsr(MSR.MSR_AMD64_PERF_CNTR_GLOBAL_STATUS_SET), 0n);
    assert.equal(pmu.getMsr(MSR.MSR_AMD64_PERF_CNTR_GLOBAL_STATUS_CLR), 0n);
    // Userspace writes to CLR/SET do nothing.
    ok(pmu.setMsr(MSR.MSR_AMD64_PERF_CNTR_GLOBAL_STATUS_SET, 0x1n, true));
    ok(pmu.setMsr(MSR.MSR_AMD64_PERF_CNTR_GLOBAL_STATUS_CLR, 0x2n, true));
    assert.equal(pmu.globalStatus, 0xan);
  });
});

describe('PerfMonV2 global MSRs as a guest sees them, on both designs', () => {
  it('a guest WRMSR to GLOBAL_STATUS is ignored, intercepted or passed through', () => {
    // Emulated: kvm_pmu_set_msr() ignores it ("Per PPR, Read-only MSR. Writes
    // are ignored."). Mediated: svm_recalc_pmu_msr_intercepts() passes
    // GLOBAL_STATUS through, and the hardware's "RO" access type ignores the
    // write too. Either way no #GP, and STATUS_SET / STATUS_CLR still work
    // (STATUS_SET emulated since lore 20250711172746.1579423-1-seanjc@google.com).
    for (const enableMediatedPmu of [false, true]) {
      const host = createHost({ cpu: 'amd-zen4', kvm: { enableMediatedPmu } });
      const vcpu = host.kvm.createVm().createVcpu();
      vcpu.run((g) => {
        g.wrmsr(MSR.MSR_AMD64_PERF_CNTR_GLOBAL_STATUS_SET, 0b101n);
        g.wrmsr(MSR.MSR_AMD64_PERF_CNTR_GLOBAL_STATUS, 0n);
        g.wrmsr(MSR.MSR_AMD64_PERF_CNTR_GLOBAL_STATUS, 0b010n);
        assert.equal(
          g.rdmsr(MSR.MSR_AMD64_PERF_CNTR_GLOBAL_STATUS),
          0b101n,
          `mediated ${enableMediatedPmu}`,
        );
        g.wrmsr(MSR.MSR_AMD64_PERF_CNTR_GLOBAL_STATUS_CLR, (1n << 64n) - 1n);
        assert.equal(g.rdmsr(MSR.MSR_AMD64_PERF_CNTR_GLOBAL_STATUS), 0n);
      });
    }
  });
});

describe('CPUID 0x80000001 ECX[23] / 0x80000022', () => {
  it('reports PerfCtrExtCore, PerfMonV2 and the counter count', () => {
    const cap4 = kvmPmuCapability(CPU_MODELS['amd-zen4']);
    const c = resolveGuestPmuConfig(cap4, { gpCounters: 5 });
    assert.deepEqual(guestPmuCpuid(cap4, c, 0x80000022), { eax: 1, ebx: 5, ecx: 0, edx: 0 });
    assert.equal(guestPmuCpuid(cap4, c, 0x80000001)!.ecx, 1 << 23);
    const v1 = resolveGuestPmuConfig(cap4, { version: 1, gpCounters: 4 });
    assert.deepEqual(guestPmuCpuid(cap4, v1, 0x80000022), { eax: 0, ebx: 0, ecx: 0, edx: 0 });
    assert.equal(guestPmuCpuid(cap4, v1, 0x80000001)!.ecx, 0);
    const cap3 = kvmPmuCapability(CPU_MODELS['amd-zen3']);
    assert.equal(guestPmuCpuid(cap3, resolveGuestPmuConfig(cap3), 0x80000001)!.ecx, 1 << 23);
    assert.deepEqual(guestPmuCpuid(cap3, resolveGuestPmuConfig(cap3), 0x80000022), {
      eax: 0,
      ebx: 0,
      ecx: 0,
      edx: 0,
    });
    assert.equal(guestPmuCpuid(cap4, c, 0xa), null);
  });

  it('agrees with the PMU KVM builds from it (property)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<CpuModelName>('amd-zen3', 'amd-zen4'),
        fc.integer({ min: 0, max: 3 }),
        fc.integer({ min: 0, max: 8 }),
        (name, version, gpCounters) => {
          const cap = kvmPmuCapability(CPU_MODELS[name]);
          const config = resolveGuestPmuConfig(cap, { version, gpCounters });
          const pmu = new GuestPmu(cap, config);
          const ext = guestPmuCpuid(cap, config, 0x80000001)!.ecx !== 0;
          const v2 = guestPmuCpuid(cap, config, 0x80000022)!;
          assert.equal(pmu.perfCtrCore, ext);
          assert.equal(pmu.version, config.version);
          if (v2.eax & 1) assert.equal(pmu.nrArchGpCounters, v2.ebx & 0xf);
          else if (pmu.version) assert.equal(pmu.nrArchGpCounters, ext ? 6 : 4);
        },
      ),
      RUNS,
    );
  });
});
