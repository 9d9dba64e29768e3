/**
 * The guest kernel (src/guest/guest-kernel.ts): Linux's perf core booted
 * inside vcpu.run over the GuestCpu, on the emulated and the mediated
 * designs, on Intel and AMD. It finds the guest PMU through CPUID (exits
 * KVM answers from the guest's configuration), counts a guest block
 * exactly, takes its PMIs as NMIs, and rotates on its own tick.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CpuModelName } from '../../src/hw/cpu-models.ts';
import type { GuestPmuConfig } from '../../src/kvm/pmu-types.ts';
import type { VcpuImpl } from '../../src/kvm/vcpu.ts';
import { GuestKernel } from '../../src/guest/guest-kernel.ts';
import { PerfSession, eventQuantity } from '../../src/guest/perf-session.ts';
import { SPECINT_DEFAULTS, Truth, computeBlocks } from '../../src/guest/workloads.ts';
import { HostMachine } from '../../src/sim/host.ts';

type Design = 'emulated' | 'mediated';
const DESIGNS: Design[] = ['emulated', 'mediated'];
const CPUS: CpuModelName[] = ['intel-sapphire-rapids', 'amd-zen4'];

function boot(model: CpuModelName, design: Design, pmu?: Partial<GuestPmuConfig>, hz = 250) {
  const host = new HostMachine({ cpu: model, kvm: { enableMediatedPmu: design === 'mediated' } });
  const vcpu = host.kvm.createVm().createVcpu(pmu ? { pmu } : {}) as VcpuImpl;
  // kvm_vcpu_has_mediated_pmu: a version-0 vCPU gets no mediated load/put.
  assert.equal(vcpu.designName, pmu?.version === 0 ? 'emulated' : design);
  const cpu = host.cpus[0]!;
  const log: string[] = [];
  let nmis = 0;
  const kernel = vcpu.run(
    (guest) =>
      new GuestKernel(
        guest,
        () => cpu.nowNs,
        hz,
        (l) => log.push(l),
        () => nmis++,
      ),
  );
  return { host, vcpu, cpu, kernel, log, nmis: () => nmis };
}

describe('GuestKernel: booting perf in the guest', () => {
  for (const model of CPUS) {
    for (const design of DESIGNS) {
      it(`${model}, ${design}: enumerates the PMU KVM offers, through CPUID exits`, () => {
        const { vcpu, kernel } = boot(model, design);
        assert.ok((vcpu.stats.exitReasons.CPUID ?? 0) > 0, 'CPUID exits');
        const desc = kernel.perf.x86!.desc;
        assert.equal(desc.vendor, model.startsWith('intel') ? 'intel' : 'amd');
        // What KVM offers this guest (src/kvm/guest-pmu.ts): Intel v2, 8 GP + 3 fixed; Zen 4 v2, 6 GP.
        const expected =
          model === 'intel-sapphire-rapids'
            ? { version: 2, nrGp: 8, nrFixed: 3, gpWidth: 48 }
            : { version: 2, nrGp: 6, nrFixed: 0, gpWidth: 48 };
        assert.deepEqual(
          { version: desc.version, nrGp: desc.nrGp, nrFixed: desc.nrFixed, gpWidth: desc.gpWidth },
          expected,
        );
        assert.equal(desc.nrGp, vcpu.pmu.gpCounters.length);
        assert.equal(desc.nrFixed, vcpu.pmu.fixedCounters.length);
        // A guest has no mediated-PMU accounting of its own, and no uncore.
        assert.equal(kernel.perf.accounting, null);
        assert.deepEqual(
          kernel.perf.pmus.map((p) => p.name),
          ['cpu', 'software'],
        );
      });
    }
  }

  it('sees the PMU userspace configured (fewer counters), on both designs', () => {
    for (const design of DESIGNS) {
      const { kernel } = boot('intel-sapphire-rapids', design, { gpCounters: 2, fixedCounters: 1 });
      assert.equal(kernel.perf.x86!.desc.nrGp, 2);
      assert.equal(kernel.perf.x86!.desc.nrFixed, 1);
    }
  });

  it('a VM without a PMU (version 0): perf finds no hardware PMU, software events only', () => {
    const { kernel } = boot('intel-sapphire-rapids', 'mediated', { version: 0 });
    assert.equal(kernel.perf.x86, null);
    assert.deepEqual(
      kernel.perf.pmus.map((p) => p.name),
      ['software'],
    );
  });

  it('its tick follows its own HZ', () => {
    for (const hz of [100, 1000]) {
      const { kernel, cpu, vcpu } = boot('intel-sapphire-rapids', 'mediated', undefined, hz);
      const next = kernel.nextTimerNs();
      assert.ok(Math.abs(next - cpu.nowNs - 1e9 / hz) <= 1e9 / hz, `${hz}: next ${next}`);
      vcpu.run(() => kernel.tick());
      assert.equal(kernel.ticks, 1);
    }
  });
});

describe('GuestKernel: counting guest work', () => {
  for (const model of CPUS) {
    for (const design of DESIGNS) {
      it(`${model}, ${design}: perf stat in the guest counts a guest block exactly`, () => {
        const { host, vcpu, kernel, cpu } = boot(model, design);
        const events = ['cycles', 'instructions', 'branches', 'branch-misses', 'instructions:u'];
        const session = new PerfSession(kernel.perf, { mode: 'stat', events });
        const truth = new Truth();
        const readings = vcpu.run((guest) => {
          session.open([{ cpu: 0 }], cpu.nowNs);
          for (const block of computeBlocks(SPECINT_DEFAULTS, 4_000_000)) {
            truth.record(block, cpu.model.topdownSlotsPerCycle);
            guest.exec(block);
          }
          return session.read();
        });
        for (const r of readings) {
          assert.equal(r.refused, undefined, r.event.spec);
          const expected = truth.total(
            eventQuantity(r.event, host.model.vendor),
            !r.event.excludeUser,
            !r.event.excludeKernel,
          );
          assert.ok(expected > 0);
          // Every guest instruction retires once (kvm_skip_emulated_instruction): a
          // kernel-mode instructions event also counts the guest perf's own MSR
          // accesses and RDPMCs in its window, at most all of them.
          const own = vcpu.stats.retiredOperations;
          assert.ok(
            r.raw >= expected && r.raw <= expected + own,
            `${r.event.spec}: ${r.raw} vs ${expected} (+ at most ${own})`,
          );
          assert.equal(r.scaled, r.raw);
          assert.equal(r.running, r.enabled);
        }
      });
    }
  }

  it('PMIs arrive as NMIs: the hook runs first, then perf takes the sample (both designs)', () => {
    for (const design of DESIGNS) {
      const { vcpu, kernel, nmis } = boot('intel-sapphire-rapids', design);
      const session = new PerfSession(kernel.perf, {
        mode: 'record',
        period: 100_000,
        events: ['instructions'],
      });
      // The guest's perf reads its counters in the guest (inside KVM_RUN).
      const samples = vcpu.run((guest) => {
        session.open([{ cpu: 0 }], 0);
        guest.exec({ instructions: 1_000_000, cycles: 700_000 });
        return session.read()[0]!.samples;
      });
      assert.ok(samples >= 9 && samples <= 10, `${design}: ${samples} samples`);
      assert.equal(nmis(), vcpu.stats.pmis, `${design}: one NMI per injected PMI`);
      assert.ok(vcpu.stats.pmis >= samples);
    }
  });

  it('multiplexes on its tick when its events outnumber its counters', () => {
    for (const design of DESIGNS) {
      const { vcpu, kernel, cpu } = boot('intel-sapphire-rapids', design, { gpCounters: 2 }, 1000);
      const session = new PerfSession(kernel.perf, {
        mode: 'stat',
        events: ['branches', 'branch-misses', 'cache-references', 'cache-misses'],
      });
      const truth = new Truth();
      const readings = vcpu.run((guest) => {
        session.open([{ cpu: 0 }], cpu.nowNs);
        // 20 ms of work, 1 ms at a time, with the guest's timer taken when due.
        for (let ms = 0; ms < 20; ms++) {
          for (const block of computeBlocks(SPECINT_DEFAULTS, cpu.model.tscHz / 1000)) {
            truth.record(block, cpu.model.topdownSlotsPerCycle);
            guest.exec(block);
          }
          if (cpu.nowNs >= kernel.nextTimerNs()) guest.timerInterrupt(() => kernel.tick());
        }
        return session.read();
      });
      assert.ok(kernel.ticks >= 15, `${kernel.ticks} ticks`);
      assert.ok(kernel.perf.rotations > 5, `${design}: ${kernel.perf.rotations} rotations`);
      for (const r of readings) {
        assert.ok(r.running < r.enabled, `${design} ${r.event.spec}`);
        const expected = truth.total(eventQuantity(r.event, 'intel'), true, true);
        assert.ok(
          Math.abs(r.scaled - expected) / expected < 0.1,
          `${design} ${r.event.spec}: ${r.scaled} vs ${expected}`,
        );
      }
    }
  });
});
