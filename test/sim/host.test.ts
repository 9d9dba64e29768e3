/**
 * The machine (src/sim/host.ts, docs/api.md "Host"): options, CPUs, the boot-time
 * state perf sets up, host tasks retiring work, perf's timers firing inside a
 * block, the NMI watchdog, and how KVM's parameters follow the hardware and
 * the Kconfig.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from '../common/fc.ts';
import { CPU_MODEL_NAMES, CPU_MODELS } from '../../src/hw/cpu-models.ts';
import { createHost, HostMachine, WATCHDOG_THRESH_S } from '../../src/sim/host.ts';

const MS = 1_000_000;
const machine = (options: ConstructorParameters<typeof HostMachine>[0] = {}) =>
  new HostMachine(options);

describe('createHost options', () => {
  it('defaults: Sapphire Rapids, one CPU, KVM PMU on and mediated off, an empty log', () => {
    const host = createHost();
    assert.equal(host.model, CPU_MODELS['intel-sapphire-rapids']);
    assert.equal((host as HostMachine).cpus.length, 1);
    assert.deepEqual(
      { ...host.kvm.params },
      { enablePmu: true, enableMediatedPmu: false, series: 'linux-7.0' },
    );
    assert.deepEqual(host.dmesg, []);
    assert.equal((host as HostMachine).perfCore.hz, 250);
  });

  it('every preset builds, with its model resolved', () => {
    for (const name of CPU_MODEL_NAMES) assert.equal(createHost({ cpu: name }).model.name, name);
  });

  it('refuses bad options with one clear error', () => {
    assert.throws(() => createHost(null as never), TypeError);
    for (const cpus of [0, 1025, 1.5])
      assert.throws(() => createHost({ cpus }), /cpus must be an integer from 1 to 1024/);
    assert.throws(
      () => createHost({ cpu: 'intel-pentium' as never }),
      /unknown CPU model 'intel-pentium'/,
    );
    assert.throws(
      () => createHost({ accountingVariant: 'v5' as never }),
      /accountingVariant must be 'upstream' or 'v6'/,
    );
    for (const hz of [0, 10_001, 2.5])
      assert.throws(() => createHost({ hz }), /hz must be an integer/);
  });

  it('hz sets the tick, the multiplexing interval and max_samples_per_tick', () => {
    const host = machine({ hz: 1000 });
    assert.deepEqual(
      [host.perfCore.tickNs, host.perfCore.muxIntervalNs, host.perfCore.maxSamplesPerTick],
      [1 * MS, 1 * MS, 100],
    );
  });
});

describe('boot state', () => {
  it('each CPU is a PhysicalCpu of the model with LVTPC programmed for NMI delivery', () => {
    const host = machine({ cpus: 3, cpu: 'amd-zen4' });
    assert.deepEqual(
      host.cpus.map((c) => c.id),
      [0, 1, 2],
    );
    for (const cpu of host.cpus) {
      assert.equal(cpu.model, host.model);
      assert.equal(cpu.lapic.lvtpc, 0x400);
    }
  });

  it('task 1 runs on CPU 0; the other CPUs are idle', () => {
    const host = machine({ cpus: 2 });
    assert.deepEqual([host.perfCore.taskOn(0), host.perfCore.taskOn(1)], [1, -1]);
  });
});

describe('exec', () => {
  it('runs work on the named CPU and task, advancing only that CPU clock', () => {
    const host = machine({ cpus: 2 });
    host.exec({ instructions: 4000, cpu: 1, pid: 7 });
    assert.equal(host.cpus[1]!.nowNs, 2000);
    assert.equal(host.cpus[0]!.nowNs, 0);
    assert.equal(host.perfCore.taskOn(1), 7);
  });

  it('a task moving to another CPU leaves the first one idle', () => {
    const host = machine({ cpus: 2 });
    host.exec({ instructions: 10, cpu: 0, pid: 5 });
    host.exec({ instructions: 10, cpu: 1, pid: 5 });
    assert.deepEqual([host.perfCore.taskOn(0), host.perfCore.taskOn(1)], [-1, 5]);
  });

  it('host work runs at CPL 3 unless told otherwise', () => {
    const host = machine();
    const user = host.perf.open({ config: 'instructions', excludeKernel: true }, { cpu: 0 });
    const kernel = host.perf.open({ config: 'instructions', excludeUser: true }, { cpu: 0 });
    host.exec({ instructions: 100 });
    host.exec({ instructions: 30, cpl: 0 });
    assert.deepEqual([user.read().value, kernel.read().value], [100n, 30n]);
  });

  it('refuses bad work, CPUs and pids', () => {
    const host = createHost({ cpus: 2 });
    assert.throws(() => host.exec({ instructions: 1, cpu: 2 }), RangeError);
    assert.throws(() => host.exec({ instructions: 1, cpu: -1 }), RangeError);
    assert.throws(() => host.exec({ instructions: 1, pid: 0 }), /pid 0 is not a task id/);
    assert.throws(() => host.exec({ instructions: -5 }), RangeError);
    assert.throws(() => host.exec({ instructions: 1.5 }), RangeError);
    assert.throws(() => host.exec({} as never), RangeError);
    assert.throws(() => host.exec({ instructions: 1, cpl: 1 as never }), RangeError);
    assert.throws(() => host.exec(null as never), TypeError);
  });

  it("perf's timers fire at their deadlines inside a block: the work is split there", () => {
    const host = machine();
    for (let i = 0; i < 9; i++) host.perf.open({ config: 'branches' }, { cpu: 0 });
    assert.equal(host.perfCore.nextTimerNs(0), 4 * MS);
    host.exec({ instructions: (host.model.tscHz / 1000) * 10, branches: 1000 }); // one 10 ms block
    assert.equal(host.perfCore.rotations, 2, 'at 4 and 8 ms');
    assert.equal(host.perfCore.nextTimerNs(0), 12 * MS);
    assert.equal(host.cpus[0]!.nowNs, 10 * MS);
  });

  it('property: splitting a block at timer deadlines loses and invents nothing', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 30_000_000 }), { minLength: 1, maxLength: 8 }),
        (blocks) => {
          const host = machine();
          const events = Array.from({ length: 9 }, () =>
            host.perf.open({ config: 'branches' }, { cpu: 0 }),
          );
          const ins = host.perf.open({ config: 'instructions', pinned: true }, { cpu: 0 });
          let total = 0;
          for (const b of blocks) {
            host.exec({ instructions: b, branches: Math.floor(b / 7) });
            total += b;
          }
          assert.equal(ins.read().value, BigInt(total));
          assert.equal(host.cpus[0]!.tsc, total);
          const counted = events.reduce((s, e) => s + e.read().value, 0n);
          assert.ok(counted <= BigInt(blocks.reduce((s, b) => s + Math.floor(b / 7), 0)) * 8n);
        },
      ),
      { numRuns: 40 },
    );
  });
});

describe('interrupts', () => {
  it('a vector nobody handles is logged', () => {
    const host = machine();
    host.cpus[0]!.hostInterrupt({ nmi: false, vector: 0x33 });
    assert.ok(host.dmesg.some((l) => /No irq handler for vector/.test(l)));
  });

  it('the 0xF5 vector goes to the mediated-PMI handler, NMIs to perf', () => {
    const host = machine();
    host.cpus[0]!.hostInterrupt({ nmi: false, vector: 0xf5 });
    assert.equal(host.perfExports.mediatedPmis[0], 1);
    const e = host.perf.open({ config: 'branches', samplePeriod: 4 }, { cpu: 0 });
    host.exec({ instructions: 100, branches: 8 });
    assert.equal(e.samples, 2);
  });
});

describe('the NMI watchdog option', () => {
  it('opens one pinned cycles event per CPU with a watchdog_thresh period and says so', () => {
    const host = machine({ cpus: 2, nmiWatchdog: true });
    assert.equal(host.watchdogEvents.length, 2);
    assert.ok(host.watchdogEvents.every((w) => w.name === 'cycles' && w.state === 'active'));
    assert.equal(WATCHDOG_THRESH_S, 10);
    assert.equal(host.perf.nrIncludeGuestEvents, 2);
    assert.ok(host.dmesg.some((l) => l.startsWith('NMI watchdog: Enabled')));
    assert.deepEqual(machine().watchdogEvents, []);
  });

  it('fires once per watchdog_thresh of cycles', () => {
    const host = machine({ nmiWatchdog: true });
    const w = host.watchdogEvents[0]!;
    for (let i = 0; i < 25; i++) host.exec({ instructions: host.model.tscHz }); // 25 s
    assert.equal(w.samples, 2);
  });
});

describe('KVM parameters', () => {
  it('enable_mediated_pmu stays on only on qualifying hardware with the Kconfig', () => {
    const ok = machine({ kvm: { enableMediatedPmu: true } });
    assert.equal(ok.kvm.params.enableMediatedPmu, true);
    for (const cpu of ['intel-haswell', 'amd-zen3'] as const) {
      const host = machine({ cpu, kvm: { enableMediatedPmu: true } });
      assert.equal(host.kvm.params.enableMediatedPmu, false);
      assert.ok(
        host.dmesg.some((l) => /enable_mediated_pmu forced off/.test(l)),
        cpu,
      );
    }
    const noPmu = machine({ kvm: { enablePmu: false, enableMediatedPmu: true } });
    assert.deepEqual(
      { ...noPmu.kvm.params },
      { enablePmu: false, enableMediatedPmu: false, series: 'linux-7.0' },
    );
    const off = machine({
      kconfig: { PERF_GUEST_MEDIATED_PMU: false },
      kvm: { enableMediatedPmu: true },
    });
    assert.equal(off.kvm.params.enableMediatedPmu, false);
    assert.equal(typeof off.perf.createMediatedPmu, 'undefined');
  });

  it('a VM with a mediated PMU is counted by perf from its first vCPU until it is destroyed', () => {
    const host = machine({ kvm: { enableMediatedPmu: true } });
    const vm = host.kvm.createVm();
    assert.equal(host.perf.nrMediatedPmuVms, 0);
    vm.createVcpu();
    vm.createVcpu();
    assert.equal(host.perf.nrMediatedPmuVms, 1);
    assert.throws(() => host.perf.open({ config: 'cycles' }, { cpu: 0 }), /EOPNOTSUPP/);
    vm.destroy();
    assert.equal(host.perf.nrMediatedPmuVms, 0);
    host.perf.open({ config: 'cycles' }, { cpu: 0 });
  });
});
