/**
 * The cost meter (src/sim/cost-meter.ts) prices what the model does: each
 * charge is time on the CPU that did the work; each hardware MSR access is
 * priced by its class (counter write, other MSR, x2APIC); each VM-exit by
 * its reason (and, for MSR exits, by the MSR); injections, perf calls, PMIs
 * and timers; the timeline keeps only its window, up to a cap; the
 * breakdown is sorted by cycles.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from '../common/fc.ts';
import type { PhysicalCpu } from '../../src/hw/cpu.ts';
import type { CpuModelName } from '../../src/hw/cpu-models.ts';
import { MSR } from '../../src/hw/msr.ts';
import type { ExitReason } from '../../src/kvm/exits.ts';
import { IA32_TSC_DEADLINE, type VcpuImpl } from '../../src/kvm/vcpu.ts';
import { COST_MODELS, CostModel } from '../../src/sim/cost-model.ts';
import { CostMeter } from '../../src/sim/cost-meter.ts';
import { HostMachine } from '../../src/sim/host.ts';

/**
 * Every parameter a distinct power of two (1 << index), so any total of a
 * few charges decodes to exactly which parameters were charged.
 */
const NAMES = COST_MODELS.default!.map((p) => p.name);
const BITS = Object.fromEntries(NAMES.map((n, i) => [n, 2 ** i]));
const DISTINCT = new CostModel('default', BITS);
const price = (...names: string[]) => names.reduce((sum, n) => sum + BITS[n]!, 0);

function machine(cpu: CpuModelName = 'intel-sapphire-rapids', cpus = 2, mediated = true) {
  return new HostMachine({ cpu, cpus, kvm: { enableMediatedPmu: mediated } });
}

/** Counts charged, by parameter. */
function counts(meter: CostMeter): Record<string, number> {
  return Object.fromEntries(meter.breakdown.map((e) => [e.parameter, e.count]));
}

describe('charge', () => {
  it('is time on the CPU given, and only there; count multiplies; the total is returned', () => {
    const host = machine();
    const [a, b] = host.cpus as [PhysicalCpu, PhysicalCpu];
    const meter = new CostMeter(new CostModel());
    const a0 = a.tsc;
    const b0 = b.tsc;
    assert.equal(meter.charge(a, 'exit.roundtrip'), 1100);
    assert.equal(meter.charge(b, 'perf.period', 3), 3 * 11880);
    assert.equal(a.tsc - a0, 1100);
    assert.equal(b.tsc - b0, 3 * 11880);
    assert.deepEqual(meter.breakdown, [
      { parameter: 'perf.period', count: 3, cycles: 35640 },
      { parameter: 'exit.roundtrip', count: 1, cycles: 1100 },
    ]);
  });

  it('uses the overridden price', () => {
    const host = machine();
    const meter = new CostMeter(new CostModel('default', { 'exit.roundtrip': 7 }));
    const before = host.cpus[0]!.tsc;
    meter.charge(host.cpus[0]!, 'exit.roundtrip', 2);
    assert.equal(host.cpus[0]!.tsc - before, 14);
  });

  it('an unknown parameter is a RangeError, and nothing is charged', () => {
    const host = machine();
    const meter = new CostMeter(new CostModel());
    // tsc refuses the name; a caller that bypasses the types still gets the RangeError.
    // @ts-expect-error 'exit.nope' is not a CostName
    assert.throws(() => meter.charge(host.cpus[0]!, 'exit.nope'), RangeError);
    assert.equal(host.cpus[0]!.tsc, 0);
    assert.deepEqual(meter.breakdown, []);
  });

  it('the breakdown is sorted by cycles, descending, and sums what was charged', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({ name: fc.constantFrom(...NAMES), count: fc.integer({ min: 0, max: 50 }) }),
          { maxLength: 40 },
        ),
        (charges) => {
          const host = machine('intel-sapphire-rapids', 1);
          const meter = new CostMeter(new CostModel());
          let total = 0;
          for (const c of charges) total += meter.charge(host.cpus[0]!, c.name, c.count);
          const breakdown = meter.breakdown;
          for (let i = 1; i < breakdown.length; i++) {
            assert.ok(breakdown[i - 1]!.cycles >= breakdown[i]!.cycles);
          }
          assert.equal(
            breakdown.reduce((s, e) => s + e.cycles, 0),
            total,
          );
          assert.equal(host.cpus[0]!.tsc, total);
          for (const e of breakdown) {
            const expected = charges.filter((c) => c.name === e.parameter);
            assert.equal(
              e.count,
              expected.reduce((s, c) => s + c.count, 0),
            );
          }
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('hardware MSR accesses (instrumentCpu)', () => {
  function pricedAccess(
    model: CpuModelName,
    access: (cpu: PhysicalCpu) => unknown,
  ): { params: Record<string, number>; accesses: { rdmsr: number; wrmsr: number; rdpmc: number } } {
    const host = machine(model, 1);
    const meter = new CostMeter(DISTINCT);
    meter.instrumentCpu(host.cpus[0]!);
    const before = host.cpus[0]!.tsc;
    access(host.cpus[0]!);
    const params = counts(meter);
    assert.equal(
      host.cpus[0]!.tsc - before,
      Object.entries(params).reduce((s, [n, c]) => s + BITS[n]! * c, 0),
    );
    return { params, accesses: { ...meter.msrAccesses } };
  }

  it('Intel: counter writes (PERFCTRn, PMCn, FIXED_CTRn) vs every other PMU MSR', () => {
    for (let i = 0; i < 8; i++) {
      for (const msr of [MSR.IA32_PERFCTR0 + i, MSR.IA32_PMC0 + i]) {
        assert.deepEqual(pricedAccess('intel-sapphire-rapids', (c) => c.wrmsr(msr, 5n)).params, {
          'msr.wrmsr-counter': 1,
        });
      }
      assert.deepEqual(
        pricedAccess('intel-sapphire-rapids', (c) => c.wrmsr(MSR.IA32_PERFEVTSEL0 + i, 0n)).params,
        { 'msr.wrmsr': 1 },
      );
    }
    for (let j = 0; j < 4; j++) {
      assert.deepEqual(
        pricedAccess('intel-sapphire-rapids', (c) => c.wrmsr(MSR.IA32_FIXED_CTR0 + j, 1n)).params,
        { 'msr.wrmsr-counter': 1 },
      );
    }
    for (const msr of [MSR.IA32_FIXED_CTR_CTRL, MSR.IA32_PERF_GLOBAL_CTRL]) {
      assert.deepEqual(pricedAccess('intel-sapphire-rapids', (c) => c.wrmsr(msr, 0n)).params, {
        'msr.wrmsr': 1,
      });
    }
    // Reads are one price, counter or not.
    const r = pricedAccess('intel-sapphire-rapids', (c) => {
      c.rdmsr(MSR.IA32_PMC0);
      c.rdmsr(MSR.IA32_PERFEVTSEL0);
      c.rdmsr(MSR.IA32_PERF_GLOBAL_CTRL);
    });
    assert.deepEqual(r.params, { 'msr.rdmsr': 3 });
    assert.deepEqual(r.accesses, { rdmsr: 3, wrmsr: 0, rdpmc: 0 });
  });

  it('AMD: K7 and F15H counters (every other F15H MSR is a control) vs selectors and global MSRs', () => {
    for (let i = 0; i < 4; i++) {
      assert.deepEqual(
        pricedAccess('amd-zen4', (c) => c.wrmsr(MSR.MSR_K7_PERFCTR0 + i, 1n)).params,
        { 'msr.wrmsr-counter': 1 },
      );
      assert.deepEqual(
        pricedAccess('amd-zen4', (c) => c.wrmsr(MSR.MSR_K7_EVNTSEL0 + i, 0n)).params,
        { 'msr.wrmsr': 1 },
      );
    }
    for (let i = 0; i < 6; i++) {
      assert.deepEqual(
        pricedAccess('amd-zen4', (c) => c.wrmsr(MSR.MSR_F15H_PERF_CTR0 + 2 * i, 1n)).params,
        { 'msr.wrmsr-counter': 1 },
      );
      assert.deepEqual(
        pricedAccess('amd-zen4', (c) => c.wrmsr(MSR.MSR_F15H_PERF_CTL0 + 2 * i, 0n)).params,
        { 'msr.wrmsr': 1 },
      );
    }
    assert.deepEqual(
      pricedAccess('amd-zen4', (c) => c.wrmsr(MSR.MSR_AMD64_PERF_CNTR_GLOBAL_CTL, 0n)).params,
      { 'msr.wrmsr': 1 },
    );
  });

  it('x2APIC registers (LVTPC, EOI) have their own price, read or written', () => {
    for (const model of ['intel-sapphire-rapids', 'amd-zen4'] as const) {
      const r = pricedAccess(model, (c) => {
        c.wrmsr(MSR.X2APIC_LVTPC, 0x400n);
        c.rdmsr(MSR.X2APIC_LVTPC);
        c.wrmsr(MSR.X2APIC_EOI, 0n);
      });
      assert.deepEqual(r.params, { 'msr.x2apic': 3 }, model);
      assert.deepEqual(r.accesses, { rdmsr: 1, wrmsr: 2, rdpmc: 0 });
    }
  });

  it('RDPMC', () => {
    const r = pricedAccess('intel-sapphire-rapids', (c) => {
      c.rdpmc(0);
      c.rdpmc(1 << 30);
    });
    assert.deepEqual(r.params, { 'msr.rdpmc': 2 });
    assert.deepEqual(r.accesses, { rdmsr: 0, wrmsr: 0, rdpmc: 2 });
  });

  it('the access still happens: values are written and read through', () => {
    const host = machine('intel-sapphire-rapids', 1);
    const meter = new CostMeter(new CostModel());
    meter.instrumentCpu(host.cpus[0]!);
    host.cpus[0]!.wrmsr(MSR.IA32_PMC0 + 2, 12345n);
    assert.equal(host.cpus[0]!.rdmsr(MSR.IA32_PMC0 + 2), 12345n);
    assert.equal(host.cpus[0]!.rdpmc(2), 12345n);
  });

  it('only the instrumented CPU is priced', () => {
    const host = machine('intel-sapphire-rapids', 2);
    const meter = new CostMeter(new CostModel());
    meter.instrumentCpu(host.cpus[1]!);
    const before = host.cpus[0]!.tsc;
    host.cpus[0]!.wrmsr(MSR.IA32_PMC0, 1n);
    assert.equal(host.cpus[0]!.tsc, before);
    assert.deepEqual(meter.msrAccesses, { rdmsr: 0, wrmsr: 0, rdpmc: 0 });
    host.cpus[1]!.wrmsr(MSR.IA32_PMC0, 1n);
    assert.equal(host.cpus[1]!.tsc, 110);
  });
});

describe('VM-exits and injections (attachVcpu)', () => {
  function vcpuOn(model: CpuModelName, mediated: boolean, hostCpu = 1) {
    const host = machine(model, 2, mediated);
    const vcpu = host.kvm.createVm().createVcpu({ hostCpu }) as VcpuImpl;
    const meter = new CostMeter(DISTINCT);
    meter.attachVcpu(vcpu, 'vm0');
    return { host, vcpu, meter, cpu: host.cpus[hostCpu]! };
  }

  /** What one exit costs, by reason / fastpath / MSR, fired the way vcpu.exit fires kvm_exit. */
  function exitPrice(model: CpuModelName, reason: ExitReason, fastpath = false, msr = -1): number {
    const { vcpu, cpu, host } = vcpuOn(model, true);
    const other = host.cpus[0]!.tsc;
    const before = cpu.tsc;
    vcpu.trace.exit.probe!(reason, fastpath, msr);
    assert.equal(host.cpus[0]!.tsc, other, 'charged to the vCPU’s host CPU only');
    return cpu.tsc - before;
  }

  it('by reason: the round trip plus the handler of that reason (Intel: plus the GLOBAL_CTRL switch twice)', () => {
    const vmcs = 2 * BITS['vmcs.global-ctrl-switch']!;
    const intel = (reason: ExitReason, fastpath = false, msr = -1) =>
      exitPrice('intel-sapphire-rapids', reason, fastpath, msr) - vmcs;
    const rt = 'exit.roundtrip';
    // An intercepted PMU MSR: KVM's PMU MSR emulation.
    assert.equal(intel('MSR_WRITE', false, MSR.IA32_PERFEVTSEL0), price(rt, 'exit.msr-handler'));
    assert.equal(
      intel('MSR_READ', false, MSR.IA32_PERF_GLOBAL_STATUS),
      price(rt, 'exit.msr-handler'),
    );
    // The x2APIC LVTPC (0x834) and EOI: the APIC write handler, not the PMU one.
    assert.equal(intel('MSR_WRITE', false, MSR.X2APIC_LVTPC), price(rt, 'exit.apic-handler'));
    assert.equal(intel('MSR_READ', false, MSR.X2APIC_LVTPC), price(rt, 'exit.apic-handler'));
    assert.equal(intel('MSR_WRITE', false, MSR.X2APIC_EOI), price(rt, 'exit.apic-handler'));
    // TSC deadline (0x6e0), fastpath or not: the round trip only.
    assert.equal(intel('MSR_WRITE', true, IA32_TSC_DEADLINE), price(rt));
    assert.equal(intel('MSR_WRITE', false, IA32_TSC_DEADLINE), price(rt));
    // Any MSR write KVM takes in its fastpath: no handler.
    assert.equal(intel('MSR_WRITE', true, MSR.IA32_PERFEVTSEL0), price(rt));
    assert.equal(intel('RDPMC'), price(rt, 'exit.rdpmc-handler'));
    assert.equal(intel('EXTERNAL_INTERRUPT'), price(rt, 'exit.interrupt-handler'));
    assert.equal(intel('EXCEPTION_NMI'), price(rt, 'exit.interrupt-handler'));
    assert.equal(intel('IO_INSTRUCTION'), price(rt, 'exit.io-handler'));
    assert.equal(intel('EMULATED_INSTRUCTION'), price(rt, 'exit.emulation-handler'));
    assert.equal(intel('CPUID'), price(rt));
    assert.equal(intel('PREEMPTION_TIMER', true), price(rt));
    // HLT: its own round trip price, the wait is not charged here.
    assert.equal(intel('HLT', true), price('exit.hlt'));
  });

  // Commit d374b89edbb9: without VM_EXIT_SAVE_IA32_PERF_GLOBAL_CTRL (Skylake,
  // Ice Lake) every mediated vCPU has GLOBAL_CTRL in its VM-exit MSR-store list;
  // with it (Sapphire Rapids) there is no store-list entry; the legacy design
  // never adds one.
  it('the MSR-store list of GLOBAL_CTRL is paid per exit only by mediated vCPUs of hosts without the VMCS save control', () => {
    for (const [model, mediated, expected] of [
      ['intel-skylake', true, 2],
      ['intel-icelake', true, 2],
      ['intel-sapphire-rapids', true, 0],
      ['intel-emerald-rapids', true, 0],
      ['intel-skylake', false, 0],
    ] as const) {
      const { vcpu, meter } = vcpuOn(model, mediated);
      vcpu.trace.exit.probe!('CPUID', false, -1);
      vcpu.trace.exit.probe!('CPUID', true, -1);
      assert.equal(
        counts(meter)['vmx.global-ctrl-msr-store'] ?? 0,
        expected,
        `${model} mediated=${mediated}`,
      );
    }
  });

  it('AMD has no VMCS GLOBAL_CTRL switch to pay', () => {
    assert.equal(exitPrice('amd-zen4', 'CPUID'), price('exit.roundtrip'));
    assert.equal(
      exitPrice('amd-zen4', 'MSR_WRITE', false, MSR.X2APIC_LVTPC),
      price('exit.roundtrip', 'exit.apic-handler'),
    );
    assert.equal(
      exitPrice('amd-zen4', 'MSR_WRITE', false, MSR.MSR_F15H_PERF_CTL0),
      price('exit.roundtrip', 'exit.msr-handler'),
    );
  });

  it('real guest exits are priced the same way (both designs, both vendors)', () => {
    for (const model of ['intel-sapphire-rapids', 'amd-zen4'] as const) {
      for (const mediated of [true, false]) {
        const { vcpu, meter, cpu } = vcpuOn(model, mediated);
        const vmcs = model.startsWith('intel') ? 2 * BITS['vmcs.global-ctrl-switch']! : 0;
        const during = (fn: Parameters<VcpuImpl['run']>[0]) => {
          const before = cpu.tsc;
          vcpu.run(fn);
          return cpu.tsc - before;
        };
        const label = `${model} ${mediated ? 'mediated' : 'emulated'}`;
        assert.equal(
          during((g) => g.wrmsr(MSR.X2APIC_LVTPC, 0x400n)),
          price('exit.roundtrip', 'exit.apic-handler') + vmcs,
          label,
        );
        assert.equal(
          during((g) => g.wrmsr(IA32_TSC_DEADLINE, 1_000_000n)),
          price('exit.roundtrip') + vmcs,
          label,
        );
        assert.equal(
          during((g) => g.cpuid(0xa)),
          price('exit.roundtrip') + vmcs,
          label,
        );
        assert.equal(
          during((g) => g.ioDoorbell()),
          price('exit.roundtrip', 'exit.io-handler') + vmcs,
        );
        assert.equal(
          during((g) => g.hlt()),
          price('exit.hlt') + vmcs,
          label,
        );
        assert.equal(vcpu.stats.exits, 5);
        assert.deepEqual(counts(meter)['exit.roundtrip'], 4);
      }
    }
  });

  it('injections are priced; an injected PMI (vector 2) is on the timeline', () => {
    const { vcpu, cpu, meter } = vcpuOn('intel-sapphire-rapids', true);
    meter.openTimelineWindow(cpu, 1e9);
    const before = cpu.tsc;
    vcpu.trace.inject.probe!(0xec);
    vcpu.trace.inject.probe!(2);
    assert.equal(cpu.tsc - before, 2 * BITS['inject.interrupt']!);
    assert.deepEqual(
      meter.timeline.map((t) => [t.guest, t.kind, t.label, t.cycles]),
      [['vm0', 'pmi', 'PMI injected', BITS['inject.interrupt']]],
    );
  });

  it('the timeline names the exit, marks the fastpath, and the mediated world switch on slow exits', () => {
    for (const mediated of [true, false]) {
      const { vcpu, cpu, meter } = vcpuOn('intel-sapphire-rapids', mediated);
      meter.openTimelineWindow(cpu, 1e9);
      vcpu.trace.exit.probe!('MSR_WRITE', true, IA32_TSC_DEADLINE);
      vcpu.trace.exit.probe!('RDPMC', false, -1);
      const expected: [string, string][] = [
        ['exit', 'MSR_WRITE (fastpath)'],
        ['exit', 'RDPMC'],
      ];
      if (mediated) expected.push(['world-switch', 'put + load']);
      assert.deepEqual(
        meter.timeline.map((t) => [t.kind, t.label]),
        expected,
      );
      assert.equal(
        meter.timeline[1]!.cycles,
        price('exit.roundtrip', 'exit.rdpmc-handler') + 2 * BITS['vmcs.global-ctrl-switch']!,
      );
    }
  });
});

describe('perf calls, PMIs and timers', () => {
  it("KVM's perf calls are charged to the CPU being simulated (none when there is none), results passed through", () => {
    const host = machine('intel-sapphire-rapids', 2);
    const exports = host.perfExports;
    const meter = new CostMeter(DISTINCT);
    meter.attachHost(host);
    const spent = () => host.cpus[1]!.tsc;
    const overflow = () => {};
    const attr = { config: 0xc0, pinned: true, excludeHost: true, samplePeriod: 1000 };

    exports.createKernelCounter(attr, -1, 1000, overflow);
    assert.deepEqual(meter.breakdown, [], 'no current CPU: nothing charged');
    meter.current = host.cpus[1]!;
    const calls: [string, () => unknown][] = [];
    let event = exports.createKernelCounter(attr, 1, -1, overflow);
    calls.push(['perf.create', () => (event = exports.createKernelCounter(attr, 1, -1, overflow))]);
    calls.push(['perf.period', () => exports.setPeriod(event, 5000)]);
    calls.push(['perf.read', () => exports.readCounter(event)]);
    calls.push(['perf.pause', () => exports.pauseCounter(event)]);
    calls.push(['perf.enable', () => exports.enableCounter(event)]);
    calls.push(['perf.release', () => exports.releaseKernelCounter(event)]);
    calls.push(['perf.guest-context', () => exports.loadGuestContext(1)]);
    calls.push(['perf.guest-context', () => exports.putGuestContext(1)]);
    for (const [parameter, call] of calls) {
      const before = spent();
      call();
      assert.equal(spent() - before, BITS[parameter], parameter);
    }
    assert.equal(host.cpus[0]!.tsc, 0, 'nothing on the other CPU');
    assert.equal(event.samplePeriod, 5000, 'the call still happened');
    assert.equal(counts(meter)['perf.create'], 2);
  });

  it('host PMIs cost pmi.entry on their CPU; timers cost tick.handler, rotations perf.rotate each when the interrupt returns', () => {
    const host = machine('intel-sapphire-rapids', 2);
    const trace = host.perfCore.trace;
    const meter = new CostMeter(DISTINCT);
    meter.attachHost(host);
    meter.openTimelineWindow(host.cpus[1]!, 1e9);
    host.perfCore.handleNmi(0);
    assert.equal(host.cpus[0]!.tsc, BITS['pmi.entry']);
    host.perfCore.runTimers(0);
    assert.equal(host.cpus[0]!.tsc, price('pmi.entry', 'tick.handler'));
    // Rotations inside a timer interrupt, as perf's multiplexing timer makes them.
    trace.timerEntry.probe!(1);
    for (let i = 0; i < 3; i++) trace.rotate.probe!(1);
    assert.equal(host.cpus[1]!.tsc, BITS['tick.handler'], 'rotations are charged on return');
    trace.timerExit.probe!(1);
    assert.equal(host.cpus[1]!.tsc, BITS['tick.handler']! + 3 * BITS['perf.rotate']!);
    assert.deepEqual(counts(meter), { 'pmi.entry': 1, 'tick.handler': 2, 'perf.rotate': 3 });
    assert.deepEqual(
      meter.timeline.map((t) => [t.guest, t.kind, t.cycles]),
      [['host', 'rotation', 3 * BITS['perf.rotate']!]],
    );
  });

  it('after detach() nothing is charged', () => {
    const host = machine('intel-sapphire-rapids', 1);
    const meter = new CostMeter(DISTINCT);
    meter.attachHost(host);
    meter.detach();
    host.perfCore.handleNmi(0);
    host.perfCore.runTimers(0);
    assert.equal(host.cpus[0]!.tsc, 0);
    assert.deepEqual(meter.breakdown, []);
  });

  it('on a real host, a counter overflow PMI is charged', () => {
    const host = machine('intel-sapphire-rapids', 1);
    const meter = new CostMeter(new CostModel());
    meter.attachHost(host);
    const event = host.perf.open({ config: 'instructions', samplePeriod: 10_000 }, { cpu: 0 });
    host.exec({ instructions: 100_000 });
    const pmis = counts(meter)['pmi.entry'] ?? 0;
    assert.ok(pmis >= 9 && pmis <= 10, `${pmis} PMIs`);
    assert.ok(event.read().value >= 100_000);
  });
});

describe('the timeline window', () => {
  it('records only its CPU, inside [start, start + length), times relative to the start', () => {
    const host = machine('intel-sapphire-rapids', 2);
    const [a, b] = host.cpus as [PhysicalCpu, PhysicalCpu];
    const meter = new CostMeter(new CostModel());
    a.stall(2000); // 1 us at 2 GHz
    meter.openTimelineWindow(a, 1000); // [1000 ns, 2000 ns)
    meter.note(a, 'vm0', 'exit', 'at start', 1);
    meter.note(b, 'vm0', 'exit', 'other CPU', 1);
    a.stall(1998); // 1999 ns
    meter.note(a, 'vm0', 'tick', 'last inside', 2);
    a.stall(2); // 2000 ns: the end is excluded
    meter.note(a, 'vm0', 'tick', 'at the end', 3);
    assert.deepEqual(
      meter.timeline.map((t) => ({ ...t, timeNs: Math.round(t.timeNs * 1000) / 1000 })),
      [
        { timeNs: 0, guest: 'vm0', kind: 'exit', label: 'at start', cycles: 1 },
        { timeNs: 999, guest: 'vm0', kind: 'tick', label: 'last inside', cycles: 2 },
      ],
    );
  });

  it('records nothing before a window is opened', () => {
    const host = machine('intel-sapphire-rapids', 1);
    const meter = new CostMeter(new CostModel());
    meter.note(host.cpus[0]!, 'vm0', 'exit', 'x', 1);
    assert.equal(meter.timeline.length, 0);
  });

  it('is capped at 4000 entries', () => {
    const host = machine('intel-sapphire-rapids', 1);
    const meter = new CostMeter(new CostModel());
    meter.openTimelineWindow(host.cpus[0]!, 1e12);
    for (let i = 0; i < 5000; i++) {
      host.cpus[0]!.stall(1);
      meter.note(host.cpus[0]!, 'vm0', 'exit', `e${i}`, 1);
    }
    assert.equal(meter.timeline.length, 4000);
    assert.equal(meter.timeline.at(-1)!.label, 'e3999');
    // Times are non-decreasing: entries are appended as the clock runs.
    for (let i = 1; i < meter.timeline.length; i++) {
      assert.ok(meter.timeline[i]!.timeNs >= meter.timeline[i - 1]!.timeNs);
    }
  });
});
