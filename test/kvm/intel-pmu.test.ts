import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from '../common/fc.ts';
import { CPU_MODELS, type CpuModelName } from '../../src/hw/cpu-models.ts';
import { MSR } from '../../src/hw/msr.ts';
import { compileEventFilter } from '../../src/kvm/event-filter.ts';
import { GuestPmu } from '../../src/kvm/guest-pmu.ts';
import {
  guestPmuCpuid,
  kvmPmuCapability,
  resolveGuestPmuConfig,
} from '../../src/kvm/pmu-capability.ts';
import { isFault, type GuestPmuConfig } from '../../src/kvm/pmu-types.ts';
import {
  intelPmuOps,
  KVM_MAX_NR_INTEL_FIXED_COUNTERS,
  KVM_MAX_NR_INTEL_GP_COUNTERS,
} from '../../src/kvm/intel-pmu.ts';

const RUNS = { numRuns: 200 };
const EN = 1n << 22n;
const W48 = (1n << 48n) - 1n;

function make(name: CpuModelName, req: Partial<GuestPmuConfig> = {}, mediated = false): GuestPmu {
  const cap = kvmPmuCapability(CPU_MODELS[name], { mediated });
  return new GuestPmu(cap, resolveGuestPmuConfig(cap, req));
}

function ok(r: unknown): void {
  assert.equal(r, 'ok');
}

function gp(r: unknown): void {
  assert.ok(isFault(r), `expected #GP, got ${String(r)}`);
}

describe('refresh (intel_pmu_refresh)', () => {
  it('computes the reserved-bit masks', () => {
    const pmu = make('intel-skylake', { gpCounters: 3, fixedCounters: 2 });
    assert.equal(pmu.globalCtrlRsvd, ~(0x7n | (0x3n << 32n)) & ((1n << 64n) - 1n));
    assert.equal(pmu.globalStatusRsvd, pmu.globalCtrlRsvd & ~(3n << 62n));
    // OS | USR | PMI of fixed counters 0 and 1 only.
    assert.equal(pmu.fixedCtrCtrlRsvd, ~0xbbn & ((1n << 64n) - 1n));
    assert.equal(pmu.reservedBits, 0xffff_ffff_0020_0000n);
    assert.equal(pmu.counterBitmaskGp, W48);
  });

  it('takes the CPUID version as is: KVM caps counts and widths, not the version', () => {
    const cap = kvmPmuCapability(CPU_MODELS['intel-sapphire-rapids']);
    const raw: GuestPmuConfig = {
      ...resolveGuestPmuConfig(cap),
      version: 5,
      gpCounters: 12,
      fixedCounters: 4,
      gpWidth: 64,
    };
    const pmu = new GuestPmu(cap, raw);
    assert.equal(pmu.version, 5);
    assert.equal(pmu.nrArchGpCounters, 8);
    assert.equal(pmu.nrArchFixedCounters, 3);
    assert.equal(pmu.counterBitmaskGp, W48);
  });

  it('refuses a capability with more GP counters than KVM has slots for', () => {
    // kvm_init_pmu_capability caps num_counters_gp at KVM_MAX_NR_INTEL_GP_COUNTERS;
    // a hand-built capability past it used to leave counters 8.. undefined.
    const cap = kvmPmuCapability(CPU_MODELS['intel-sapphire-rapids']);
    const over = { ...cap, numCountersGp: KVM_MAX_NR_INTEL_GP_COUNTERS + 2 };
    const config = { ...resolveGuestPmuConfig(cap), gpCounters: over.numCountersGp };
    assert.throws(() => new GuestPmu(over, config), RangeError);
    assert.throws(() => new GuestPmu(over, config), /at most 8/);
  });

  it('gives version 1 no fixed counters, no FIXED_CTR_CTRL and no GLOBAL_* MSRs', () => {
    const cap = kvmPmuCapability(CPU_MODELS['intel-skylake']);
    const pmu = new GuestPmu(cap, { ...resolveGuestPmuConfig(cap), version: 1 });
    assert.equal(pmu.nrArchFixedCounters, 0);
    assert.equal(pmu.counterBitmaskFixed, 0n);
    gp(pmu.getMsr(MSR.IA32_FIXED_CTR_CTRL));
    gp(pmu.getMsr(MSR.IA32_FIXED_CTR0));
    gp(pmu.setMsr(MSR.IA32_FIXED_CTR_CTRL, 0n));
  });

  it('maps fixed counters to instructions, cycles, ref cycles (intel_get_fixed_pmc_eventsel)', () => {
    const pmu = make('intel-sapphire-rapids');
    assert.deepEqual(
      pmu.fixedCounters.map((p) => p.eventsel),
      [0xc0n, 0x3cn, 0x300n],
    );
    assert.equal(KVM_MAX_NR_INTEL_FIXED_COUNTERS, 3);
    assert.equal(KVM_MAX_NR_INTEL_GP_COUNTERS, 8);
  });
});

describe('PERFEVTSELx (intel_pmu_set_msr)', () => {
  it('#GP on reserved bits: 63:32 (no TSX: IN_TX, IN_TXCP too) and AnyThread (21)', () => {
    const pmu = make('intel-sapphire-rapids');
    for (const bit of [21n, 32n, 33n, 34n, 40n, 63n])
      gp(pmu.setMsr(MSR.IA32_PERFEVTSEL0 + 2, 0xc0n | (1n << bit)));
    assert.equal(pmu.getMsr(MSR.IA32_PERFEVTSEL0 + 2), 0n);
  });

  it('accepts every other bit, keeps it, and programs it (eventselHw) unchanged without a filter', () => {
    const pmu = make('intel-sapphire-rapids', {}, true);
    const v = 0xffdf_ffffn; // all of 31:0 but ANY
    ok(pmu.setMsr(MSR.IA32_PERFEVTSEL0 + 7, v));
    assert.equal(pmu.getMsr(MSR.IA32_PERFEVTSEL0 + 7), v);
    assert.equal(pmu.gpCounters[7]!.eventselHw, v);
  });

  it('does not exist beyond the guest count', () => {
    const pmu = make('intel-skylake', { gpCounters: 2 });
    gp(pmu.setMsr(MSR.IA32_PERFEVTSEL0 + 2, 0n));
    ok(pmu.setMsr(MSR.IA32_PERFEVTSEL0 + 1, 0xc0n | EN)); // EVNTSEL1: a real counter
  });
});

describe('FIXED_CTR_CTRL', () => {
  it('allows OS, USR, PMI of existing counters; AnyThread or a field of a missing counter is #GP', () => {
    const pmu = make('intel-skylake', { fixedCounters: 2 });
    ok(pmu.setMsr(MSR.IA32_FIXED_CTR_CTRL, 0xbbn));
    gp(pmu.setMsr(MSR.IA32_FIXED_CTR_CTRL, 0x4n)); // AnyThread, counter 0
    gp(pmu.setMsr(MSR.IA32_FIXED_CTR_CTRL, 0x40n)); // AnyThread, counter 1
    gp(pmu.setMsr(MSR.IA32_FIXED_CTR_CTRL, 0x100n)); // counter 2 does not exist
    gp(pmu.setMsr(MSR.IA32_FIXED_CTR_CTRL, 1n << 32n)); // adaptive PEBS (never offered)
    assert.equal(pmu.getMsr(MSR.IA32_FIXED_CTR_CTRL), 0xbbn);
  });

  it('reprograms only the counters whose field changed', () => {
    const calls: number[] = [];
    const cap = kvmPmuCapability(CPU_MODELS['intel-skylake']);
    const pmu = new GuestPmu(cap, resolveGuestPmuConfig(cap), {
      backend: {
        reprogramCounter: (pmc) => calls.push(pmc.idx),
        writeCounter: () => {},
        readCounter: (pmc) => pmc.counter,
        globalCtrlChanged: () => {},
      },
    });
    ok(pmu.setMsr(MSR.IA32_FIXED_CTR_CTRL, 0x003n));
    ok(pmu.setMsr(MSR.IA32_FIXED_CTR_CTRL, 0x303n));
    assert.deepEqual(calls, [32, 34]);
  });

  it('upstream gap: rewriting a filtered field unchanged gives it back to hardware (mediated)', () => {
    const pmu = make('intel-skylake', {}, true);
    pmu.setFilter(
      compileEventFilter({ action: 'deny', events: [], fixedCounterBitmap: 0b1 }, 'intel'),
    );
    ok(pmu.setMsr(MSR.IA32_FIXED_CTR_CTRL, 0x003n));
    assert.equal(pmu.fixedCtrCtrlHw, 0n); // field 0 changed: re-filtered
    ok(pmu.setMsr(MSR.IA32_FIXED_CTR_CTRL, 0x033n));
    // Only field 1 changed, so field 0 is not re-filtered: fixed_ctr_ctrl_hw = data.
    assert.equal(pmu.fixedCtrCtrlHw, 0x033n);
  });
});

describe('GP counters: IA32_PERFCTRx and IA32_PMCx', () => {
  it('a legacy PERFCTRx write takes the low 32 bits sign-extended (guest), as is (userspace)', () => {
    const pmu = make('intel-sapphire-rapids');
    ok(pmu.setMsr(MSR.IA32_PERFCTR0, 0x1234_8000_0000n));
    assert.equal(pmu.getMsr(MSR.IA32_PERFCTR0), 0xffff_8000_0000n);
    ok(pmu.setMsr(MSR.IA32_PERFCTR0, 0x1234_7fff_ffffn));
    assert.equal(pmu.getMsr(MSR.IA32_PERFCTR0), 0x7fff_ffffn);
    ok(pmu.setMsr(MSR.IA32_PERFCTR0, 0x1234_8000_0000n, true));
    assert.equal(pmu.getMsr(MSR.IA32_PERFCTR0), 0x1234_8000_0000n);
    // Bits above the width are dropped, never #GP, on the legacy alias.
    ok(pmu.setMsr(MSR.IA32_PERFCTR0, (1n << 64n) - 1n, true));
    assert.equal(pmu.getMsr(MSR.IA32_PMC0), W48);
  });

  it('a full-width IA32_PMCx write with bits above the width is #GP', () => {
    const pmu = make('intel-sapphire-rapids', { gpWidth: 40 });
    ok(pmu.setMsr(MSR.IA32_PMC0 + 3, (1n << 40n) - 1n));
    gp(pmu.setMsr(MSR.IA32_PMC0 + 3, 1n << 40n));
    gp(pmu.setMsr(MSR.IA32_PMC0 + 3, 1n << 40n, true));
    assert.equal(pmu.getMsr(MSR.IA32_PERFCTR0 + 3), (1n << 40n) - 1n);
  });

  it('IA32_PMCx exists only with full-width writes in the guest PERF_CAPABILITIES', () => {
    const pmu = make('intel-sapphire-rapids', { perfCapabilities: 0n });
    assert.equal(pmu.fwWritesEnabled, false);
    gp(pmu.getMsr(MSR.IA32_PMC0));
    gp(pmu.setMsr(MSR.IA32_PMC0, 1n));
    ok(pmu.setMsr(MSR.IA32_PERFCTR0, 1n));
  });

  it('counters beyond the guest count #GP, except PERFCTR0/1 which read 0', () => {
    const none = make('intel-skylake', { gpCounters: 0 });
    assert.equal(none.getMsr(MSR.IA32_PERFCTR0), 0n);
    assert.equal(none.getMsr(MSR.IA32_PERFCTR0 + 1), 0n);
    ok(none.setMsr(MSR.IA32_PERFCTR0 + 1, 5n));
    gp(none.getMsr(MSR.IA32_PERFCTR0 + 2));
    gp(none.getMsr(MSR.IA32_PMC0));
    const four = make('intel-skylake');
    gp(four.getMsr(MSR.IA32_PERFCTR0 + 4));
    gp(four.setMsr(MSR.IA32_PMC0 + 4, 0n));
  });
});

describe('fixed counters', () => {
  it('writes are truncated to the width (KVM does not #GP), reads masked', () => {
    const pmu = make('intel-sapphire-rapids', { fixedWidth: 36 });
    ok(pmu.setMsr(MSR.IA32_FIXED_CTR0 + 2, (1n << 64n) - 1n));
    assert.equal(pmu.getMsr(MSR.IA32_FIXED_CTR0 + 2), (1n << 36n) - 1n);
  });

  it('beyond the guest count (and fixed counter 3, never offered) #GP', () => {
    const pmu = make('intel-sapphire-rapids', { fixedCounters: 2 });
    gp(pmu.getMsr(MSR.IA32_FIXED_CTR0 + 2));
    gp(make('intel-sapphire-rapids').setMsr(MSR.IA32_FIXED_CTR0 + 3, 0n));
  });
});

describe('RDPMC ECX (intel_rdpmc_ecx_to_pmc)', () => {
  const cpl0 = { cpl: 0, cr4Pce: false };
  it('type 0 is GP, type 0x4000 (bit 30) fixed; other types and indices out of range #GP', () => {
    const pmu = make('intel-sapphire-rapids', { gpWidth: 40 });
    ok(pmu.setMsr(MSR.IA32_PERFCTR0 + 7, 7n));
    ok(pmu.setMsr(MSR.IA32_FIXED_CTR0 + 2, 9n));
    assert.equal(pmu.rdpmc(7, cpl0), 7n);
    assert.equal(pmu.rdpmc(0x4000_0002, cpl0), 9n);
    gp(pmu.rdpmc(8, cpl0));
    gp(pmu.rdpmc(0x4000_0003, cpl0));
    gp(pmu.rdpmc(0x8000_0000, cpl0)); // the old "fast" read
    gp(pmu.rdpmc(0x2000_0000, cpl0));
    gp(pmu.rdpmc(0x0001_0000, cpl0));
  });

  it('v1 has no fixed counters to read', () => {
    gp(make('intel-skylake', { version: 1 }).rdpmc(0x4000_0000, cpl0));
  });
});

describe('supported PERF_CAPABILITIES (vmx_get_perf_capabilities)', () => {
  const fw = 1n << 13n;
  it('legacy: full-width writes, the LBR format (not architectural LBR), PEBS without baseline where pebs_ept', () => {
    const caps = (n: CpuModelName): bigint =>
      intelPmuOps.supportedPerfCapabilities(CPU_MODELS[n], false);
    // The host's PEBS trap, arch-regs and record-format fields, passed on as they are.
    const pebs = (n: CpuModelName): bigint =>
      CPU_MODELS[n].perfCapabilities & ((3n << 6n) | 0xf00n);
    assert.equal(caps('intel-haswell'), fw | 4n);
    assert.equal(caps('intel-skylake'), fw | 5n);
    assert.ok(pebs('intel-icelake') & 0xf00n);
    assert.equal(caps('intel-icelake'), fw | 5n | pebs('intel-icelake'));
    assert.equal(caps('intel-sapphire-rapids'), fw | pebs('intel-sapphire-rapids'));
    for (const n of ['intel-icelake', 'intel-sapphire-rapids'] as const)
      assert.equal(caps(n) & (1n << 14n), 0n);
  });

  it('mediated: full-width writes only', () => {
    assert.equal(intelPmuOps.supportedPerfCapabilities(CPU_MODELS['intel-icelake'], true), fw);
  });
});

describe('CPUID 0xA', () => {
  // __do_cpuid_func (arch/x86/kvm/cpuid.c), case 0xa: EDX[15]
  // (anythread_deprecated) is set whenever kvm_pmu_cap.version, whatever the
  // guest's version, and PERFEVTSEL bit 21 (ANY) stays in pmu->reserved_bits
  // (intel_pmu_refresh: 0xffffffff00200000), so AnyThread is #GP for every guest.
  it('encodes version, counts, widths, the event vector, and AnyThread-deprecated', () => {
    const cap = kvmPmuCapability(CPU_MODELS['intel-sapphire-rapids']);
    const regs = guestPmuCpuid(
      cap,
      resolveGuestPmuConfig(cap, { gpCounters: 6, fixedWidth: 40 }),
      0xa,
    );
    assert.deepEqual(regs, {
      eax: 2 | (6 << 8) | (48 << 16) | (8 << 24),
      ebx: 0,
      ecx: 0,
      edx: 3 | (40 << 5) | (1 << 15),
    });
    assert.deepEqual(guestPmuCpuid(cap, resolveGuestPmuConfig(cap, { version: 0 }), 0xa), {
      eax: 0,
      ebx: 0,
      ecx: 0,
      edx: 0,
    });
    assert.equal(guestPmuCpuid(cap, resolveGuestPmuConfig(cap), 0x80000022), null);
  });

  it('round-trips the resolved configuration (property)', () => {
    const cap = kvmPmuCapability(CPU_MODELS['intel-icelake']);
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 }),
        fc.integer({ min: 0, max: 8 }),
        fc.integer({ min: 0, max: 3 }),
        fc.integer({ min: 1, max: 48 }),
        fc.integer({ min: 1, max: 48 }),
        (version, gpCounters, fixedCounters, gpWidth, fixedWidth) => {
          const c = resolveGuestPmuConfig(cap, {
            version,
            gpCounters,
            fixedCounters,
            gpWidth,
            fixedWidth,
          });
          const r = guestPmuCpuid(cap, c, 0xa)!;
          if (!version) return assert.equal(r.eax, 0);
          assert.equal(r.eax & 0xff, c.version);
          assert.equal((r.eax >> 8) & 0xff, c.gpCounters);
          assert.equal((r.eax >> 16) & 0xff, c.gpWidth);
          assert.equal(r.edx & 0x1f, c.fixedCounters);
          assert.equal((r.edx >> 5) & 0xff, c.fixedWidth);
        },
      ),
      RUNS,
    );
  });
});
