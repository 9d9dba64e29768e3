import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from '../common/fc.ts';
import { GuestFault, KvmError } from '../../src/common/errors.ts';
import { CPU_MODELS, type CpuModel, type CpuModelName } from '../../src/hw/cpu-models.ts';
import { MSR } from '../../src/hw/msr.ts';
import { compileEventFilter } from '../../src/kvm/event-filter.ts';
import { GuestPmu } from '../../src/kvm/guest-pmu.ts';
import { isLegacyPerfMsr, isPmuMsr } from '../../src/kvm/pmu-msrs.ts';
import { kvmPmuCapability, resolveGuestPmuConfig } from '../../src/kvm/pmu-capability.ts';
import {
  isFault,
  orGuestFault,
  type GuestPmuBackend,
  type GuestPmuConfig,
  type KvmPmc,
} from '../../src/kvm/pmu-types.ts';

const RUNS = { numRuns: 200 };
const EN = 1n << 22n;
const USR = 1n << 16n;
const OS = 1n << 17n;
const INT = 1n << 20n;

/** A backend that records its calls and, like the legacy design, adds an external count. */
class RecordingBackend implements GuestPmuBackend {
  readonly calls: string[] = [];
  /** Counts "the perf event" added since the last write, per pmc.idx. */
  readonly extra = new Map<number, number>();
  reprogramCounter(pmc: KvmPmc): void {
    this.calls.push(`reprogram ${pmc.idx}`);
  }
  writeCounter(pmc: KvmPmc, value: number): void {
    this.extra.delete(pmc.idx);
    this.calls.push(`write ${pmc.idx} ${value}`);
  }
  readCounter(pmc: KvmPmc): number {
    return pmc.counter + (this.extra.get(pmc.idx) ?? 0);
  }
  globalCtrlChanged(oldValue: bigint, newValue: bigint): void {
    this.calls.push(`gctrl ${oldValue.toString(16)}->${newValue.toString(16)}`);
  }
  stopCounter(pmc: KvmPmc): void {
    this.calls.push(`stop ${pmc.idx}`);
  }
}

function make(
  name: CpuModelName,
  opts: { mediated?: boolean; req?: Partial<GuestPmuConfig>; backend?: GuestPmuBackend } = {},
): GuestPmu {
  const cap = kvmPmuCapability(CPU_MODELS[name], { mediated: opts.mediated ?? false });
  return new GuestPmu(cap, resolveGuestPmuConfig(cap, opts.req ?? {}), { backend: opts.backend });
}

function ok(r: unknown): void {
  assert.equal(
    r,
    'ok',
    `expected ok, got ${JSON.stringify(r, (_, v: unknown) => (typeof v === 'bigint' ? v.toString(16) : v))}`,
  );
}

function gp(r: unknown): void {
  assert.ok(isFault(r), `expected #GP, got ${String(r)}`);
}

describe('kvmPmuCapability (kvm_init_pmu_capability)', () => {
  it('caps the Intel version at 2, with or without the mediated vPMU', () => {
    for (const name of ['intel-haswell', 'intel-skylake', 'intel-sapphire-rapids'] as const) {
      for (const mediated of [false, true])
        assert.equal(kvmPmuCapability(CPU_MODELS[name], { mediated }).version, 2);
    }
  });

  it('caps GP counters at 8 (Intel) / 6 (AMD) and fixed counters at 3', () => {
    const spr = kvmPmuCapability(CPU_MODELS['intel-sapphire-rapids']);
    assert.equal(spr.numCountersGp, 8);
    assert.equal(spr.numCountersFixed, 3); // the host has 4: topdown slots is not offered
    assert.equal(spr.host.numCountersFixed, 4);
    const big: CpuModel = { ...CPU_MODELS['intel-sapphire-rapids'], gpCounters: 12 };
    assert.equal(kvmPmuCapability(big).numCountersGp, 8);
    assert.equal(kvmPmuCapability(CPU_MODELS['amd-zen4']).numCountersGp, 6);
  });

  it('enables the mediated vPMU only where the host qualifies (Intel v4 + FW writes, AMD PerfMonV2)', () => {
    const m = (n: CpuModelName): boolean =>
      kvmPmuCapability(CPU_MODELS[n], { mediated: true }).mediated;
    assert.equal(m('intel-haswell'), false);
    assert.equal(m('intel-skylake'), true);
    assert.equal(m('intel-sapphire-rapids'), true);
    assert.equal(m('amd-zen3'), false);
    assert.equal(m('amd-zen4'), true);
    assert.equal(kvmPmuCapability(CPU_MODELS['intel-skylake']).mediated, false); // default off
    assert.equal(
      kvmPmuCapability(CPU_MODELS['intel-skylake'], { mediated: true, enablePmu: false }).mediated,
      false,
    );
  });

  it('PERF_CAPABILITIES: full-width writes always; no LBR/PEBS with the mediated vPMU', () => {
    const fw = 1n << 13n;
    for (const name of ['intel-skylake', 'intel-icelake', 'intel-sapphire-rapids'] as const) {
      assert.equal(kvmPmuCapability(CPU_MODELS[name], { mediated: true }).perfCapabilities, fw);
      assert.ok(kvmPmuCapability(CPU_MODELS[name]).perfCapabilities & fw);
    }
    assert.equal(kvmPmuCapability(CPU_MODELS['amd-zen4']).perfCapabilities, 0n);
  });

  it('turns the vPMU off without enough GP counters or with an Intel PMU of version 0', () => {
    const few: CpuModel = { ...CPU_MODELS['amd-zen4'], gpCounters: 3 };
    assert.equal(kvmPmuCapability(few).enablePmu, false);
    const v0: CpuModel = { ...CPU_MODELS['intel-skylake'], pmuVersion: 0 };
    const cap = kvmPmuCapability(v0);
    assert.equal(cap.enablePmu, false);
    assert.equal(cap.version, 0);
    assert.equal(cap.numCountersGp, 0);
  });
});

describe('resolveGuestPmuConfig', () => {
  const cap = kvmPmuCapability(CPU_MODELS['intel-sapphire-rapids']);

  it('defaults to what KVM supports', () => {
    const c = resolveGuestPmuConfig(cap);
    assert.deepEqual(c, {
      version: 2,
      gpCounters: 8,
      fixedCounters: 3,
      gpWidth: 48,
      fixedWidth: 48,
      unavailableEvents: 0,
      fixedCounterMask: 0,
      perfCapabilities: cap.perfCapabilities,
    });
  });

  it('clamps the version, counts and widths to KVM', () => {
    const c = resolveGuestPmuConfig(cap, {
      version: 5,
      gpCounters: 12,
      fixedCounters: 4,
      gpWidth: 64,
      fixedWidth: 40,
    });
    assert.equal(c.version, 2);
    assert.equal(c.gpCounters, 8);
    assert.equal(c.fixedCounters, 3);
    assert.equal(c.gpWidth, 48);
    assert.equal(c.fixedWidth, 40);
  });

  it('version 1 has no fixed counters; version 0 is no PMU', () => {
    const v1 = resolveGuestPmuConfig(cap, { version: 1 });
    assert.equal(v1.fixedCounters, 0);
    assert.equal(v1.fixedWidth, 0);
    const v0 = resolveGuestPmuConfig(cap, { version: 0, gpCounters: 4 });
    assert.equal(v0.gpCounters, 0);
    assert.equal(v0.perfCapabilities, 0n);
  });

  it('rejects PERF_CAPABILITIES bits KVM does not support and malformed fields with EINVAL', () => {
    for (const req of [
      { perfCapabilities: 1n << 15n },
      { gpCounters: -1 },
      { version: 1.5 },
      { fixedCounters: 32 },
    ]) {
      assert.throws(
        () => resolveGuestPmuConfig(cap, req),
        (e: unknown) => e instanceof KvmError && e.errno === 'EINVAL',
      );
    }
  });

  it('keeps the events the host lacks unavailable', () => {
    const host: CpuModel = { ...CPU_MODELS['intel-skylake'], unavailableEvents: 0b100 };
    const c = resolveGuestPmuConfig(kvmPmuCapability(host), { unavailableEvents: 0b1 });
    assert.equal(c.unavailableEvents, 0b101);
  });
});

describe('refresh: the RESET value of GLOBAL_CTRL', () => {
  it('is GENMASK(nr_gp - 1, 0) for v2+', () => {
    assert.equal(make('intel-sapphire-rapids').globalCtrl, 0xffn);
    assert.equal(make('intel-skylake', { req: { gpCounters: 3 } }).globalCtrl, 0x7n);
    assert.equal(make('amd-zen4').globalCtrl, 0x3fn);
  });

  it('is also set for a mediated v1 vCPU (hardware loads it), but not a legacy one', () => {
    assert.equal(make('intel-skylake', { req: { version: 1 } }).globalCtrl, 0n);
    assert.equal(make('intel-skylake', { mediated: true, req: { version: 1 } }).globalCtrl, 0xfn);
    assert.equal(make('amd-zen4', { mediated: true, req: { version: 1 } }).globalCtrl, 0x3fn);
  });

  it('is applied at refresh only: a PERF_CAPABILITIES change refreshes, nothing else resets it', () => {
    const pmu = make('intel-skylake');
    ok(pmu.setMsr(MSR.IA32_PERF_GLOBAL_CTRL, 0x1n));
    ok(pmu.setMsr(MSR.IA32_PERF_CAPABILITIES, 0n, true));
    assert.equal(pmu.globalCtrl, 0xfn);
  });

  it('tells a mediated backend (write_global_ctrl)', () => {
    const backend = new RecordingBackend();
    make('intel-skylake', { mediated: true, backend });
    assert.deepEqual(backend.calls, ['gctrl 0->f']);
  });
});

describe('global MSRs (kvm_pmu_get_msr / kvm_pmu_set_msr)', () => {
  it('GLOBAL_CTRL: a bit of a counter the guest lacks is #GP', () => {
    const pmu = make('intel-skylake', { req: { gpCounters: 2, fixedCounters: 1 } });
    ok(pmu.setMsr(MSR.IA32_PERF_GLOBAL_CTRL, 0x1_0000_0003n));
    gp(pmu.setMsr(MSR.IA32_PERF_GLOBAL_CTRL, 0x4n));
    gp(pmu.setMsr(MSR.IA32_PERF_GLOBAL_CTRL, 0x2_0000_0000n));
    gp(pmu.setMsr(MSR.IA32_PERF_GLOBAL_CTRL, 1n << 63n));
    assert.equal(pmu.getMsr(MSR.IA32_PERF_GLOBAL_CTRL), 0x1_0000_0003n);
  });

  it('GLOBAL_CTRL: reprograms the counters whose bit changed and tells the backend every write', () => {
    const backend = new RecordingBackend();
    const pmu = make('intel-skylake', { backend });
    backend.calls.length = 0;
    ok(pmu.setMsr(MSR.IA32_PERF_GLOBAL_CTRL, 0x7_0000_0005n));
    assert.deepEqual(backend.calls, [
      'reprogram 1',
      'reprogram 3',
      'reprogram 32',
      'reprogram 33',
      'reprogram 34',
      'gctrl f->700000005',
    ]);
    backend.calls.length = 0;
    ok(pmu.setMsr(MSR.IA32_PERF_GLOBAL_CTRL, 0x7_0000_0005n));
    assert.deepEqual(backend.calls, ['gctrl 700000005->700000005']);
  });

  it('GLOBAL_STATUS is read-only for an Intel guest; userspace may write valid bits', () => {
    const pmu = make('intel-skylake');
    gp(pmu.setMsr(MSR.IA32_PERF_GLOBAL_STATUS, 1n));
    ok(pmu.setMsr(MSR.IA32_PERF_GLOBAL_STATUS, (1n << 63n) | (1n << 62n) | (1n << 32n) | 1n, true));
    gp(pmu.setMsr(MSR.IA32_PERF_GLOBAL_STATUS, 1n << 4n, true));
    assert.equal(
      pmu.getMsr(MSR.IA32_PERF_GLOBAL_STATUS),
      (1n << 63n) | (1n << 62n) | (1n << 32n) | 1n,
    );
  });

  it('GLOBAL_OVF_CTRL clears the written bits, #GPs on reserved bits, reads 0', () => {
    const pmu = make('intel-skylake');
    ok(pmu.setMsr(MSR.IA32_PERF_GLOBAL_STATUS, 0x3n | (1n << 33n), true));
    ok(pmu.setMsr(MSR.IA32_PERF_GLOBAL_OVF_CTRL, 0x1n | (1n << 33n)));
    assert.equal(pmu.globalStatus, 0x2n);
    gp(pmu.setMsr(MSR.IA32_PERF_GLOBAL_OVF_CTRL, 1n << 40n));
    assert.equal(pmu.getMsr(MSR.IA32_PERF_GLOBAL_OVF_CTRL), 0n);
    // Userspace writes are accepted but do nothing.
    ok(pmu.setMsr(MSR.IA32_PERF_GLOBAL_OVF_CTRL, 0x2n, true));
    assert.equal(pmu.globalStatus, 0x2n);
  });

  it('Intel GLOBAL_STATUS_SET (0x391) is not emulated: #GP', () => {
    const pmu = make('intel-sapphire-rapids');
    gp(pmu.getMsr(MSR.IA32_PERF_GLOBAL_STATUS_SET));
    gp(pmu.setMsr(MSR.IA32_PERF_GLOBAL_STATUS_SET, 1n));
  });

  it('need a v2+ PMU', () => {
    const pmu = make('intel-skylake', { req: { version: 1 } });
    for (const msr of [
      MSR.IA32_PERF_GLOBAL_STATUS,
      MSR.IA32_PERF_GLOBAL_CTRL,
      MSR.IA32_PERF_GLOBAL_OVF_CTRL,
    ]) {
      gp(pmu.getMsr(msr));
      gp(pmu.setMsr(msr, 0n));
    }
  });

  it('an AMD v2 guest also reaches the Intel GLOBAL_* indices, with Intel semantics (upstream quirk)', () => {
    const pmu = make('amd-zen4');
    assert.equal(pmu.getMsr(MSR.IA32_PERF_GLOBAL_CTRL), 0x3fn);
    gp(pmu.setMsr(MSR.IA32_PERF_GLOBAL_CTRL, 1n << 6n)); // AMD's own GLOBAL_CTL would drop the bit
    ok(pmu.setMsr(MSR.MSR_AMD64_PERF_CNTR_GLOBAL_CTL, (1n << 6n) | 1n));
    assert.equal(pmu.globalCtrl, 1n);
    gp(pmu.setMsr(MSR.IA32_PERF_GLOBAL_STATUS, 0n));
  });
});

describe('MSRs a vCPU does not have', () => {
  it('legacy PERFCTR0/1, EVNTSEL0/1 and K7 MSRs read 0 and drop writes instead of #GP', () => {
    const pmu = make('intel-skylake', { req: { version: 0 } });
    for (const msr of [0xc1, 0xc2, 0x186, 0x187, 0xc0010000, 0xc0010003, 0xc0010004, 0xc0010007]) {
      assert.ok(isLegacyPerfMsr(msr));
      assert.equal(pmu.getMsr(msr), 0n);
      ok(pmu.setMsr(msr, 0x1234n));
    }
    // On an Intel guest the AMD K7 indices are "legacy" too.
    assert.equal(make('intel-skylake').getMsr(0xc0010004), 0n);
  });

  it('others #GP, including counters beyond the guest count', () => {
    const pmu = make('intel-skylake', { req: { gpCounters: 1, fixedCounters: 1 } });
    for (const msr of [0xc3, 0x4c2, 0x188, 0x30a, 0xc0010200]) {
      gp(pmu.getMsr(msr));
      gp(pmu.setMsr(msr, 0n));
    }
    // 0xc2 is PERFCTR1: the guest has one counter, but the legacy alias reads 0.
    assert.equal(pmu.getMsr(0xc2), 0n);
    gp(make('intel-skylake').getMsr(0x1234));
    assert.equal(isPmuMsr(0x1234), false);
    assert.equal(isPmuMsr(0x38f), true);
    assert.equal(isPmuMsr(0xc0000303), true);
  });
});

describe('IA32_PERF_CAPABILITIES', () => {
  it('guest writes #GP; the guest reads what KVM holds', () => {
    const pmu = make('intel-sapphire-rapids', { mediated: true });
    gp(pmu.setMsr(MSR.IA32_PERF_CAPABILITIES, 1n << 13n));
    assert.equal(pmu.getMsr(MSR.IA32_PERF_CAPABILITIES), 1n << 13n);
  });

  it('userspace writes are validated against KVM support and refresh the PMU', () => {
    const backend = new RecordingBackend();
    const pmu = make('intel-sapphire-rapids', { mediated: true, backend });
    assert.ok(pmu.fwWritesEnabled);
    gp(pmu.setMsr(MSR.IA32_PERF_CAPABILITIES, 1n << 15n, true));
    ok(pmu.setMsr(MSR.IA32_PMC0, 5n));
    backend.calls.length = 0;
    ok(pmu.setMsr(MSR.IA32_PERF_CAPABILITIES, 0n, true));
    assert.ok(backend.calls.includes('stop 0')); // kvm_pmu_reset
    assert.equal(pmu.fwWritesEnabled, false);
    assert.equal(pmu.gpCounters[0]!.counter, 0);
    gp(pmu.getMsr(MSR.IA32_PMC0));
  });

  it('is immutable after the vCPU has run (same value accepted)', () => {
    const pmu = make('intel-sapphire-rapids');
    pmu.vcpuHasRun = true;
    ok(pmu.setMsr(MSR.IA32_PERF_CAPABILITIES, pmu.perfCapabilities, true));
    gp(pmu.setMsr(MSR.IA32_PERF_CAPABILITIES, 0n, true));
    assert.throws(() => pmu.refresh(pmu.config), KvmError);
  });

  // Without PDCM: KVM_MSR_RET_UNSUPPORTED, which kvm_do_msr_access turns into
  // "reads 0, only 0 may be written" for userspace (vmx_pmu_caps_test,
  // perf_capabilities_unsupported); the guest gets #GP.
  it('does not exist for the guest on AMD or without a PMU (no PDCM); userspace reads 0, writes 0 only', () => {
    for (const pmu of [make('amd-zen4'), make('intel-skylake', { req: { version: 0 } })]) {
      gp(pmu.getMsr(MSR.IA32_PERF_CAPABILITIES));
      assert.equal(pmu.getMsr(MSR.IA32_PERF_CAPABILITIES, true), 0n);
      ok(pmu.setMsr(MSR.IA32_PERF_CAPABILITIES, 0n, true));
      gp(pmu.setMsr(MSR.IA32_PERF_CAPABILITIES, 1n << 13n, true));
    }
  });
});

describe('rdpmc (kvm_pmu_rdpmc)', () => {
  const cpl0 = { cpl: 0, cr4Pce: false };
  it('#GP without a PMU', () => {
    gp(make('intel-skylake', { req: { version: 0 } }).rdpmc(0, cpl0));
    gp(make('amd-zen4', { req: { version: 0 } }).rdpmc(0, cpl0));
  });

  it('#GP at CPL > 0 with CR4.PCE clear; fine with PCE or at CPL 0', () => {
    const pmu = make('intel-skylake');
    ok(pmu.setMsr(MSR.IA32_PMC0, 42n));
    gp(pmu.rdpmc(0, { cpl: 3, cr4Pce: false }));
    assert.equal(pmu.rdpmc(0, { cpl: 3, cr4Pce: true }), 42n);
    assert.equal(pmu.rdpmc(0, cpl0), 42n);
  });

  it('an invalid index #GPs even at CPL 0', () => {
    gp(make('intel-skylake').rdpmc(4, cpl0));
    gp(make('amd-zen4').rdpmc(6, cpl0));
  });

  it('reads through the backend (the legacy design adds its perf count), masked to the width', () => {
    const backend = new RecordingBackend();
    const pmu = make('intel-skylake', { backend, req: { gpWidth: 32 } });
    ok(pmu.setMsr(MSR.IA32_PERFCTR0, 0xffff_fff0n));
    backend.extra.set(0, 0x20);
    assert.equal(pmu.rdpmc(0, cpl0), 0x10n);
    assert.equal(pmu.getMsr(MSR.IA32_PERFCTR0), 0x10n);
  });
});

describe('incrementEmulated (kvm_pmu_instruction_retired / kvm_pmu_branch_retired)', () => {
  const sel = (event: bigint): bigint => event | EN | USR | OS;

  it('counts into enabled counters that count the event, masked to the width; wrap = status bit + PMI per INT', () => {
    const backend = new RecordingBackend();
    const pmu = make('intel-skylake', { backend, req: { gpWidth: 8 } });
    ok(pmu.setMsr(MSR.IA32_PERFEVTSEL0, sel(0xc0n) | INT)); // instructions, PMI
    ok(pmu.setMsr(MSR.IA32_PERFEVTSEL0 + 1, sel(0xc0n))); // instructions, no PMI
    ok(pmu.setMsr(MSR.IA32_PERFEVTSEL0 + 2, sel(0xc4n))); // branches
    ok(pmu.setMsr(MSR.IA32_PERFEVTSEL0 + 3, sel(0x3cn))); // cycles: never emulated
    ok(pmu.setMsr(MSR.IA32_PERFCTR0, 0xfen));
    ok(pmu.setMsr(MSR.IA32_PERFCTR0 + 1, 0xfen));
    assert.equal(pmu.incrementEmulated('instructions', 0), false);
    assert.equal(pmu.incrementEmulated('instructions', 0), true);
    assert.equal(pmu.gpCounters[0]!.counter, 0);
    assert.equal(pmu.gpCounters[1]!.counter, 0);
    assert.equal(pmu.globalStatus, 0b11n);
    assert.equal(pmu.incrementEmulated('branches', 3), false);
    assert.equal(pmu.gpCounters[2]!.counter, 1);
    assert.equal(pmu.gpCounters[3]!.counter, 0);
    assert.ok(backend.calls.includes('write 2 1'));
  });

  it('skips counters that are disabled (EN, GLOBAL_CTRL), filtered, of another umask, or of the other CPL', () => {
    const pmu = make('intel-skylake');
    ok(pmu.setMsr(MSR.IA32_PERFEVTSEL0, 0xc0n | USR | OS)); // no EN
    ok(pmu.setMsr(MSR.IA32_PERFEVTSEL0 + 1, sel(0x01c0n))); // umask 1
    ok(pmu.setMsr(MSR.IA32_PERFEVTSEL0 + 2, 0xc0n | EN | USR)); // user only
    ok(pmu.setMsr(MSR.IA32_PERFEVTSEL0 + 3, sel(0xc0n))); // counts
    pmu.incrementEmulated('instructions', 0);
    assert.deepEqual(
      pmu.gpCounters.slice(0, 4).map((p) => p.counter),
      [0, 0, 0, 1],
    );
    pmu.incrementEmulated('instructions', 3);
    assert.deepEqual(
      pmu.gpCounters.slice(0, 4).map((p) => p.counter),
      [0, 0, 1, 2],
    );
    ok(pmu.setMsr(MSR.IA32_PERF_GLOBAL_CTRL, 0x7n));
    pmu.incrementEmulated('instructions', 3);
    assert.equal(pmu.gpCounters[3]!.counter, 2);
    ok(pmu.setMsr(MSR.IA32_PERF_GLOBAL_CTRL, 0xfn));
    pmu.setFilter(compileEventFilter({ action: 'deny', events: [0xc0n] }, 'intel'));
    pmu.incrementEmulated('instructions', 3);
    assert.equal(pmu.gpCounters[3]!.counter, 2);
  });

  it('fixed counter 0 counts emulated instructions, by its FIXED_CTR_CTRL field', () => {
    const pmu = make('intel-skylake');
    ok(pmu.setMsr(MSR.IA32_FIXED_CTR_CTRL, 0x0a1n)); // fixed 0: OS; fixed 1: USR|PMI (cycles)
    // GLOBAL_CTRL's RESET value enables GP counters only.
    pmu.incrementEmulated('instructions', 0);
    assert.equal(pmu.fixedCounters[0]!.counter, 0);
    ok(pmu.setMsr(MSR.IA32_PERF_GLOBAL_CTRL, 0x7_0000_000fn));
    pmu.incrementEmulated('instructions', 0);
    pmu.incrementEmulated('instructions', 3);
    assert.equal(pmu.fixedCounters[0]!.counter, 1);
    assert.equal(pmu.fixedCounters[1]!.counter, 0);
    ok(pmu.setMsr(MSR.IA32_FIXED_CTR0, 0xffff_ffff_ffffn));
    ok(pmu.setMsr(MSR.IA32_FIXED_CTR_CTRL, 0x9n)); // OS|PMI
    assert.equal(pmu.incrementEmulated('instructions', 0), true);
    assert.equal(pmu.globalStatus, 1n << 32n);
  });

  it('uses the vendor encodings (AMD branches 0xc2)', () => {
    const pmu = make('amd-zen4');
    ok(pmu.setMsr(MSR.MSR_F15H_PERF_CTL0, sel(0xc2n)));
    ok(pmu.setMsr(MSR.MSR_F15H_PERF_CTL0 + 2, sel(0xc4n)));
    pmu.incrementEmulated('branches', 0);
    assert.equal(pmu.gpCounters[0]!.counter, 1);
    assert.equal(pmu.gpCounters[1]!.counter, 0);
  });

  it('ignores GLOBAL_CTRL on a v1 PMU', () => {
    const pmu = make('intel-skylake', { req: { version: 1 } });
    ok(pmu.setMsr(MSR.IA32_PERFEVTSEL0, sel(0xc0n)));
    pmu.incrementEmulated('instructions', 0);
    assert.equal(pmu.gpCounters[0]!.counter, 1);
  });
});

describe('overflow (__kvm_perf_overflow)', () => {
  it('sets the GLOBAL_STATUS bit and says whether to inject (INT / PMI)', () => {
    const pmu = make('intel-skylake');
    ok(pmu.setMsr(MSR.IA32_PERFEVTSEL0 + 1, 0xc0n | EN | INT));
    assert.equal(pmu.overflow(1), true);
    assert.equal(pmu.overflow(0), false);
    assert.equal(pmu.overflow(33), false);
    ok(pmu.setMsr(MSR.IA32_FIXED_CTR_CTRL, 0x8n << 4n));
    assert.equal(pmu.overflow(33), true);
    assert.equal(pmu.globalStatus, 0b11n | (1n << 33n));
    assert.throws(() => pmu.overflow(4), RangeError);
    assert.throws(() => pmu.overflow(35), RangeError);
  });
});

describe('setFilter', () => {
  it('mediated: clears ENABLE in eventselHw / the field in fixedCtrCtrlHw, guest values untouched', () => {
    const backend = new RecordingBackend();
    const pmu = make('intel-skylake', { mediated: true, backend });
    ok(pmu.setMsr(MSR.IA32_PERFEVTSEL0, 0xc0n | EN | USR));
    ok(pmu.setMsr(MSR.IA32_PERFEVTSEL0 + 1, 0x3cn | EN | USR));
    ok(pmu.setMsr(MSR.IA32_FIXED_CTR_CTRL, 0x333n));
    backend.calls.length = 0;
    pmu.setFilter(
      compileEventFilter({ action: 'deny', events: [0xc0n], fixedCounterBitmap: 0b10 }, 'intel'),
    );
    assert.deepEqual(backend.calls, [
      'reprogram 0',
      'reprogram 1',
      'reprogram 2',
      'reprogram 3',
      'reprogram 32',
      'reprogram 33',
      'reprogram 34',
    ]);
    assert.equal(pmu.gpCounters[0]!.eventselHw, 0xc0n | USR);
    assert.equal(pmu.gpCounters[1]!.eventselHw, 0x3cn | EN | USR);
    assert.equal(pmu.getMsr(MSR.IA32_PERFEVTSEL0), 0xc0n | EN | USR);
    assert.equal(pmu.fixedCtrCtrlHw, 0x303n);
    assert.equal(pmu.getMsr(MSR.IA32_FIXED_CTR_CTRL), 0x333n);
    pmu.setFilter(null);
    assert.equal(pmu.gpCounters[0]!.eventselHw, 0xc0n | EN | USR);
    assert.equal(pmu.fixedCtrCtrlHw, 0x333n);
  });

  it('mediated: a selector write is filtered at once', () => {
    const pmu = make('intel-skylake', { mediated: true });
    pmu.setFilter(compileEventFilter({ action: 'allow', events: [0x3cn] }, 'intel'));
    ok(pmu.setMsr(MSR.IA32_PERFEVTSEL0, 0xc0n | EN));
    ok(pmu.setMsr(MSR.IA32_PERFEVTSEL0 + 1, 0x3cn | EN));
    assert.equal(pmu.gpCounters[0]!.eventselHw, 0xc0n);
    assert.equal(pmu.gpCounters[1]!.eventselHw, 0x3cn | EN);
  });

  it('legacy: eventselHw stays what the guest wrote (the backend filters by not creating the event)', () => {
    const pmu = make('intel-skylake');
    pmu.setFilter(compileEventFilter({ action: 'deny', events: [0xc0n] }, 'intel'));
    ok(pmu.setMsr(MSR.IA32_PERFEVTSEL0, 0xc0n | EN));
    assert.equal(pmu.gpCounters[0]!.eventselHw, 0xc0n | EN);
    assert.equal(pmu.pmcEventIsAllowed(pmu.gpCounters[0]!), false);
  });

  it('rejects a filter compiled for the other vendor', () => {
    assert.throws(
      () => make('amd-zen4').setFilter(compileEventFilter({ action: 'deny', events: [] }, 'intel')),
      RangeError,
    );
  });
});

describe('orGuestFault', () => {
  it('turns a Fault into GuestFault #GP (vector 13) and passes values through', () => {
    const pmu = make('intel-skylake');
    assert.equal(orGuestFault(pmu.getMsr(MSR.IA32_PERF_GLOBAL_CTRL)), 0xfn);
    assert.throws(
      () => orGuestFault(pmu.setMsr(MSR.IA32_PERF_GLOBAL_STATUS, 1n)),
      (e: unknown) => e instanceof GuestFault && e.exception === '#GP' && e.vector === 13,
    );
  });
});

describe('property: random MSR traffic on random configurations', () => {
  const intelMsrs = [
    ...Array.from({ length: 9 }, (_, i) => 0xc1 + i),
    ...Array.from({ length: 9 }, (_, i) => 0x4c1 + i),
    ...Array.from({ length: 9 }, (_, i) => 0x186 + i),
    ...Array.from({ length: 5 }, (_, i) => 0x309 + i),
    0x345,
    0x38d,
    0x38e,
    0x38f,
    0x390,
    0x391,
  ];
  const amdMsrs = [
    ...Array.from({ length: 8 }, (_, i) => 0xc0010000 + i),
    ...Array.from({ length: 13 }, (_, i) => 0xc0010200 + i),
    0xc0000300,
    0xc0000301,
    0xc0000302,
    0xc0000303,
    0x38e,
    0x38f,
    0x390,
    0xc1,
    0x186,
  ];
  const names = Object.keys(CPU_MODELS) as CpuModelName[];
  const value = fc.oneof(
    fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
    fc.bigInt({ min: 0n, max: 0xffffn }),
    fc.constantFrom(0n, 1n, 0x80000000n, 1n << 47n, 1n << 48n, (1n << 64n) - 1n),
    fc.bigInt({ min: 0n, max: 0xffn }).map((e) => e | EN | USR | OS),
  );
  const request = fc.record(
    {
      version: fc.integer({ min: 0, max: 3 }),
      gpCounters: fc.integer({ min: 0, max: 10 }),
      fixedCounters: fc.integer({ min: 0, max: 4 }),
      gpWidth: fc.integer({ min: 8, max: 64 }),
      fixedWidth: fc.integer({ min: 8, max: 64 }),
    },
    { requiredKeys: [] },
  );

  it('getMsr/setMsr/rdpmc never throw, and the state stays within its reserved-bit masks', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...names),
        fc.boolean(),
        request,
        fc.array(
          fc.tuple(
            fc.nat(),
            value,
            fc.boolean(),
            fc.constantFrom<'get' | 'set' | 'rdpmc' | 'emulate'>(
              'get',
              'set',
              'set',
              'rdpmc',
              'emulate',
            ),
          ),
          { maxLength: 60 },
        ),
        (name, mediated, req, ops) => {
          const model = CPU_MODELS[name];
          const pmu = make(name, { mediated, req });
          const msrs = model.vendor === 'intel' ? intelMsrs : amdMsrs;
          for (const [pick, v, host, op] of ops) {
            const msr = msrs[pick % msrs.length]!;
            let r: unknown;
            if (op === 'get') r = pmu.getMsr(msr, host);
            else if (op === 'set') r = pmu.setMsr(msr, v, host);
            else if (op === 'rdpmc')
              r = pmu.rdpmc(Number(v & 0xffffffffn), { cpl: host ? 3 : 0, cr4Pce: false });
            else r = pmu.incrementEmulated(host ? 'instructions' : 'branches', pick % 2 ? 0 : 3);
            assert.ok(typeof r === 'bigint' || typeof r === 'boolean' || r === 'ok' || isFault(r));
          }
          if (pmu.hasPerfGlobalCtrl) {
            assert.equal(pmu.globalCtrl & pmu.globalCtrlRsvd, 0n);
            assert.equal(pmu.globalStatus & pmu.globalStatusRsvd, 0n);
          }
          assert.equal(pmu.fixedCtrCtrl & pmu.fixedCtrCtrlRsvd, 0n);
          pmu.forEachPmc((pmc) => {
            assert.ok(pmc.counter >= 0 && BigInt(pmc.counter) <= pmu.pmcBitmask(pmc));
            if (pmc.type === 'gp') assert.equal(pmc.eventsel & pmu.reservedBits, 0n);
            if (pmc.type === 'gp' && model.vendor === 'amd' && pmc.eventsel !== 0n) {
              assert.equal(pmc.eventselHw & (3n << 40n), 1n << 40n);
            }
            if (pmc.type === 'gp' && pmu.mediated && !pmu.isPmcAllowed(pmc))
              assert.equal(pmc.eventselHw & EN, 0n);
          });
        },
      ),
      RUNS,
    );
  });
});
