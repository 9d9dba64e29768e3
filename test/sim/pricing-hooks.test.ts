/**
 * Nothing the cost model prices escapes the meter. The meter charges through
 * the model's trace points (common/tracepoint.ts); these tests drive each
 * priced operation on a real host and VM and compare what the meter charged
 * with how often the operation really happened, counted independently of the
 * trace points: by the model's own statistics (exit counters, interrupts the
 * hardware delivered, perf events KVM created, samples written) or by
 * counting calls into the perf core that implements the operation. A new
 * code path that reaches an operation without its trace point, or a cost
 * parameter added without a hook, fails here.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GuestKernel } from '../../src/guest/guest-kernel.ts';
import { PerfSession } from '../../src/guest/perf-session.ts';
import type { PhysicalCpu } from '../../src/hw/cpu.ts';
import { EVTSEL, LVT, MSR } from '../../src/hw/msr.ts';
import type { EmulatedVpmu } from '../../src/kvm/emulated-vpmu.ts';
import type { GuestCpu } from '../../src/kvm/guest-cpu.ts';
import { IA32_TSC_DEADLINE, type VcpuImpl } from '../../src/kvm/vcpu.ts';
import type { PerfCore } from '../../src/perf/core.ts';
import { PerfKvmExports } from '../../src/perf/kvm-exports.ts';
import { KVM_PERF_CALLS, type KvmPerfCall } from '../../src/perf/tracepoints.ts';
import { KVM_CALL_PARAMETER, CostMeter } from '../../src/sim/cost-meter.ts';
import { COST_MODELS, CostModel } from '../../src/sim/cost-model.ts';
import { HostMachine } from '../../src/sim/host.ts';

const WRAP = 1n << 48n;
const INSTRUCTIONS_WITH_PMI = 0xc0n | EVTSEL.EN | EVTSEL.OS | EVTSEL.USR | EVTSEL.INT;

interface World {
  host: HostMachine;
  cpu: PhysicalCpu;
  vcpu: VcpuImpl;
  meter: CostMeter;
  /** Calls that reached the host perf core's implementation of each operation. */
  reached: Map<string, number>;
  /** Guest-side facts counted by the guest's own handlers. */
  guest: { timerHandlers: number; deviceHandlers: number; ticks: number; samples: number };
}

/** Count the calls into `core`'s methods (the oracle: not the trace points). */
function countCalls(core: PerfCore, names: readonly (keyof PerfCore)[], into: Map<string, number>) {
  for (const name of names) {
    const original = (core[name] as (...a: unknown[]) => unknown).bind(core);
    into.set(name, 0);
    Object.defineProperty(core, name, {
      value: (...args: unknown[]) => {
        into.set(name, into.get(name)! + 1);
        return original(...args);
      },
    });
  }
}

/** A priced one-CPU host with one VM, attached as the simulator attaches the meter. */
function world(
  design: 'mediated' | 'emulated',
  model: 'intel-sapphire-rapids' | 'intel-skylake' = 'intel-sapphire-rapids',
): World {
  const host = new HostMachine({
    cpu: model,
    cpus: 1,
    kvm: { enableMediatedPmu: design === 'mediated' },
  });
  const cpu = host.cpus[0]!;
  const reached = new Map<string, number>();
  countCalls(
    host.perfCore,
    [
      'open',
      'close',
      'setPeriod',
      'disable',
      'enable',
      'read',
      'readValue',
      'loadGuestContext',
      'putGuestContext',
    ],
    reached,
  );
  const meter = new CostMeter(new CostModel());
  meter.instrumentCpu(cpu);
  meter.attachHost(host);
  meter.current = cpu;
  const vcpu = host.kvm.createVm().createVcpu({ hostCpu: 0 }) as VcpuImpl;
  assert.equal(vcpu.designName, design);
  meter.attachVcpu(vcpu, 'vm0');
  return {
    host,
    cpu,
    vcpu,
    meter,
    reached,
    guest: { timerHandlers: 0, deviceHandlers: 0, ticks: 0, samples: 0 },
  };
}

function charged(meter: CostMeter, parameter: string): number {
  return meter.breakdown.find((e) => e.parameter === parameter)?.count ?? 0;
}

/** A guest that programs counter 0 to overflow (PMI) every `period` instructions. */
function overflowingCounter(g: GuestCpu, period: bigint): void {
  g.wrmsr(MSR.X2APIC_LVTPC, BigInt(LVT.DM_NMI));
  g.onInterrupt(2, () => {
    g.wrmsr(MSR.IA32_PERF_GLOBAL_OVF_CTRL, 1n);
    g.wrmsr(MSR.IA32_PMC0, WRAP - period);
  });
  g.wrmsr(MSR.IA32_PMC0, WRAP - period);
  g.wrmsr(MSR.IA32_PERFEVTSEL0, INSTRUCTIONS_WITH_PMI);
  g.wrmsr(MSR.IA32_PERF_GLOBAL_CTRL, 1n);
}

/** A guest kernel with perf record on its vCPU, priced as the simulator prices it. */
function recordingGuest(w: World, g: GuestCpu, recording: boolean): PerfSession {
  const kernel = new GuestKernel(
    g,
    () => w.cpu.nowNs,
    1000,
    () => {},
  );
  w.meter.attachGuestPerf(kernel.perf, w.cpu, 'vm0', recording);
  const session = new PerfSession(kernel.perf, {
    mode: recording ? 'record' : 'stat',
    events: ['instructions'],
    ...(recording ? { period: 200_000 } : {}),
  });
  session.open([{ cpu: 0 }], w.cpu.nowNs);
  for (let i = 0; i < 20; i++) {
    g.exec({ instructions: 100_000, cycles: 100_000 });
    if (w.cpu.nowNs >= kernel.nextTimerNs()) {
      g.timerInterrupt(() => kernel.tick());
      w.guest.ticks++;
    }
  }
  return session;
}

function sessionSamples(session: PerfSession): number {
  return session.events.reduce((n, e) => n + (e.kernel?.samples ?? 0), 0);
}

interface PricedOperation {
  design: 'mediated' | 'emulated';
  /** The host model, where the operation exists only on some (default Sapphire Rapids). */
  model?: 'intel-skylake';
  /** Make the operation happen (inside KVM_RUN unless it is a host operation). */
  drive(w: World): void;
  /** How often it happened, counted without the trace points. */
  happened(w: World): number;
}

const exits = (w: World, ...reasons: string[]) =>
  reasons.reduce((n, r) => n + (w.vcpu.stats.exitReasons[r] ?? 0), 0);

/**
 * Every parameter of the default cost model, with a way to reach it. A
 * parameter missing here fails the first test below.
 */
const OPERATIONS: Record<string, PricedOperation | { notPriced: string }> = {
  'exit.roundtrip': {
    design: 'emulated',
    drive: (w) =>
      w.vcpu.run((g) => {
        g.cpuid(0);
        g.rdmsr(MSR.IA32_PERF_GLOBAL_CTRL);
        g.ioDoorbell();
        g.hlt();
      }),
    happened: (w) => w.vcpu.stats.exits - exits(w, 'HLT'),
  },
  'exit.hlt': {
    design: 'mediated',
    drive: (w) => w.vcpu.run((g) => [1, 2, 3].forEach(() => g.hlt())),
    happened: (w) => exits(w, 'HLT'),
  },
  'exit.msr-handler': {
    design: 'emulated',
    drive: (w) =>
      w.vcpu.run((g) => {
        g.wrmsr(MSR.IA32_PERFEVTSEL0 + 1, 0n);
        g.rdmsr(MSR.IA32_PMC0);
      }),
    happened: (w) => exits(w, 'MSR_READ', 'MSR_WRITE'),
  },
  'exit.apic-handler': {
    design: 'mediated',
    drive: (w) => w.vcpu.run((g) => g.wrmsr(MSR.X2APIC_LVTPC, BigInt(LVT.DM_NMI))),
    happened: (w) => exits(w, 'MSR_WRITE'),
  },
  'exit.rdpmc-handler': {
    design: 'emulated',
    drive: (w) => w.vcpu.run((g) => [0, 1].forEach((i) => g.rdpmc(i))),
    happened: (w) => exits(w, 'RDPMC'),
  },
  'exit.interrupt-handler': {
    // The host's timer interrupts while the guest runs, and (emulated) the
    // PMIs of the perf events backing its counter.
    design: 'emulated',
    drive: (w) =>
      w.vcpu.run((g) => {
        overflowingCounter(g, 100_000n);
        g.exec({ instructions: 20e6, cycles: 20e6 });
      }),
    happened: (w) => exits(w, 'EXTERNAL_INTERRUPT', 'EXCEPTION_NMI'),
  },
  'exit.io-handler': {
    design: 'mediated',
    drive: (w) => w.vcpu.run((g) => [1, 2].forEach(() => g.ioDoorbell())),
    happened: (w) => exits(w, 'IO_INSTRUCTION'),
  },
  'exit.emulation-handler': {
    design: 'mediated',
    drive: (w) => w.vcpu.run((g) => g.execEmulated({ instructions: 5, branches: 2 })),
    happened: (w) => exits(w, 'EMULATED_INSTRUCTION'),
  },
  'inject.interrupt': {
    design: 'mediated',
    drive: (w) =>
      w.vcpu.run((g) => {
        g.timerInterrupt(() => w.guest.timerHandlers++);
        g.deviceInterrupt(() => w.guest.deviceHandlers++);
        g.timerInterrupt(() => w.guest.timerHandlers++);
      }),
    happened: (w) => w.guest.timerHandlers + w.guest.deviceHandlers,
  },
  'vmcs.global-ctrl-switch': {
    design: 'mediated',
    drive: (w) => w.vcpu.run((g) => [1, 2, 3].forEach(() => g.cpuid(0))),
    // Intel's VMCS switches PERF_GLOBAL_CTRL at each exit and each entry.
    happened: (w) => 2 * w.vcpu.stats.exits,
  },
  'vmx.global-ctrl-msr-store': {
    design: 'mediated',
    // Without VM_EXIT_SAVE_IA32_PERF_GLOBAL_CTRL the MSR-store list holds
    // GLOBAL_CTRL, stored at every VM-exit (commit d374b89edbb9).
    model: 'intel-skylake',
    drive: (w) => w.vcpu.run((g) => [1, 2, 3].forEach(() => g.cpuid(0))),
    happened: (w) => w.vcpu.stats.exits,
  },
  'msr.wrmsr': {
    design: 'mediated',
    drive: (w) => [1, 2].forEach(() => w.cpu.wrmsr(MSR.IA32_PERFEVTSEL0, 0n)),
    happened: () => 2,
  },
  'msr.wrmsr-counter': {
    design: 'mediated',
    drive: (w) => [1, 2, 3].forEach(() => w.cpu.wrmsr(MSR.IA32_PMC0, 0n)),
    happened: () => 3,
  },
  'msr.rdmsr': {
    design: 'mediated',
    drive: (w) => w.cpu.rdmsr(MSR.IA32_PERF_GLOBAL_STATUS),
    happened: () => 1,
  },
  'msr.rdpmc': {
    design: 'mediated',
    drive: (w) => [0, 1].forEach((i) => w.cpu.rdpmc(i)),
    happened: () => 2,
  },
  'msr.x2apic': {
    design: 'mediated',
    drive: (w) => {
      w.cpu.rdmsr(MSR.X2APIC_LVTPC);
      w.cpu.wrmsr(MSR.X2APIC_LVTPC, BigInt(LVT.DM_NMI));
    },
    happened: () => 2,
  },
  'pmi.entry': {
    // Host PMIs (the emulated design's backing events overflow) and the guest's own.
    design: 'emulated',
    drive: (w) => w.vcpu.run((g) => recordingGuest(w, g, true)),
    happened: (w) => w.cpu.interruptsDelivered.nmi + w.vcpu.stats.pmis,
  },
  'perf.sample': {
    design: 'mediated',
    drive: (w) => w.vcpu.run((g) => (w.guest.samples = sessionSamples(recordingGuest(w, g, true)))),
    happened: (w) => w.guest.samples,
  },
  'perf.record-userspace': {
    design: 'mediated',
    drive: (w) => w.vcpu.run((g) => (w.guest.samples = sessionSamples(recordingGuest(w, g, true)))),
    happened: (w) => w.guest.samples,
  },
  'perf.create': {
    design: 'emulated',
    drive: (w) => w.vcpu.run((g) => overflowingCounter(g, 1000n)),
    happened: (w) => (w.vcpu.design as EmulatedVpmu).eventsCreated,
  },
  'perf.release': {
    design: 'emulated',
    drive: (w) =>
      w.vcpu.run((g) => {
        overflowingCounter(g, 1000n);
        g.wrmsr(MSR.IA32_PERFEVTSEL0, 0xc4n | EVTSEL.EN | EVTSEL.OS);
      }),
    happened: (w) => (w.vcpu.design as EmulatedVpmu).eventsReleased,
  },
  'perf.period': {
    design: 'emulated',
    drive: (w) =>
      w.vcpu.run((g) => {
        overflowingCounter(g, 1000n);
        g.exec({ instructions: 100_000, cycles: 100_000 });
      }),
    happened: (w) => w.reached.get('setPeriod')!,
  },
  'perf.pause': {
    design: 'emulated',
    drive: (w) =>
      w.vcpu.run((g) => {
        overflowingCounter(g, 1000n);
        g.execEmulated({ instructions: 3 });
      }),
    happened: (w) => w.reached.get('disable')!,
  },
  'perf.enable': {
    design: 'emulated',
    drive: (w) =>
      w.vcpu.run((g) => {
        overflowingCounter(g, 1000n);
        g.execEmulated({ instructions: 3 });
      }),
    happened: (w) => w.reached.get('enable')!,
  },
  'perf.read': {
    design: 'emulated',
    drive: (w) =>
      w.vcpu.run((g) => {
        overflowingCounter(g, 1000n);
        g.rdmsr(MSR.IA32_PMC0);
        g.rdpmc(0);
      }),
    // KVM's reads (perf_event_read_value), not the reads perf_event_pause makes itself.
    happened: (w) => w.reached.get('readValue')! - w.reached.get('disable')!,
  },
  'perf.guest-context': {
    design: 'mediated',
    drive: (w) => w.vcpu.run((g) => [1, 2].forEach(() => g.cpuid(0))),
    happened: (w) => w.reached.get('loadGuestContext')! + w.reached.get('putGuestContext')!,
  },
  'perf.rotate': {
    // More host events than counters: perf multiplexes on its hrtimer.
    design: 'mediated',
    drive: (w) => {
      for (let i = 0; i < 12; i++)
        w.host.perf.open({ config: 'instructions', excludeGuest: true }, { cpu: 0 });
      w.vcpu.run((g) => g.exec({ instructions: 40e6, cycles: 40e6 }));
    },
    happened: (w) => w.host.perfCore.rotations,
  },
  'tick.handler': {
    // The host's timer interrupts (each one exits the guest) and the guest's.
    design: 'mediated',
    drive: (w) => w.vcpu.run((g) => recordingGuest(w, g, false)),
    happened: (w) => exits(w, 'EXTERNAL_INTERRUPT') + w.guest.ticks,
  },
  'perf.tick': {
    notPriced:
      'perf_event_task_tick has a cost parameter but no charge: the timer interrupt is priced as tick.handler',
  },
};

describe('every priced operation reaches the meter through a trace point', () => {
  it('every cost parameter is listed here, with a way to reach it', () => {
    const parameters = COST_MODELS.default!.map((p) => p.name).sort();
    assert.deepEqual(Object.keys(OPERATIONS).sort(), parameters);
  });

  for (const [parameter, operation] of Object.entries(OPERATIONS)) {
    if ('notPriced' in operation) {
      it(`${parameter}: not charged (${operation.notPriced})`, () => {
        const w = world('mediated');
        w.vcpu.run((g) => recordingGuest(w, g, true));
        assert.equal(charged(w.meter, parameter), 0);
      });
      continue;
    }
    it(`${parameter}: charged once per ${operation.design} operation`, () => {
      const w = world(operation.design, operation.model);
      operation.drive(w);
      const happened = operation.happened(w);
      assert.ok(happened > 0, `the test drove no ${parameter} operation`);
      assert.equal(charged(w.meter, parameter), happened);
    });
  }
});

describe("KVM's calls into perf", () => {
  /**
   * Each method of PerfKvmExports: the trace-point call it makes, or why it
   * has none. A method added without a decision fails the first test.
   */
  const METHODS: Record<string, KvmPerfCall | { notPriced: string }> = {
    createKernelCounter: 'perf_event_create_kernel_counter',
    releaseKernelCounter: 'perf_event_release_kernel',
    setPeriod: 'perf_event_period',
    pauseCounter: 'perf_event_pause',
    enableCounter: 'perf_event_enable',
    readCounter: 'perf_event_read_value',
    loadGuestContext: 'perf_load_guest_context',
    putGuestContext: 'perf_put_guest_context',
    loadGuestLvtpc: { notPriced: 'its LVTPC write is priced as an x2APIC access' },
    putGuestLvtpc: { notPriced: 'its LVTPC write is priced as an x2APIC access' },
    handleMediatedPmi: { notPriced: 'its EOI is priced as an x2APIC access' },
    registerMediatedPmiHandler: { notPriced: 'module load' },
    createMediatedPmu: { notPriced: 'VM creation, before the measured run' },
    releaseMediatedPmu: { notPriced: 'VM destruction' },
    runMediatedPmuOperation: { notPriced: 'the accounting protocol, run by the checker' },
    counterInError: { notPriced: 'reads a field' },
    peekCount: { notPriced: "an observer's read for traces: nothing executed" },
    switchTask: { notPriced: 'the scheduler, not KVM: host context switches are not priced' },
    guestSwitchGlobalCtrl: { notPriced: 'reads the values; the switch is vmcs.global-ctrl-switch' },
    mediatedKconfig: { notPriced: 'capability check' },
    coreMediatedCapable: { notPriced: 'capability check' },
    accountingProtocol: { notPriced: 'capability check' },
    traced: { notPriced: 'fires the trace point' },
  };

  it('every method of PerfKvmExports is decided', () => {
    const methods = Object.getOwnPropertyNames(PerfKvmExports.prototype).filter(
      (n) => n !== 'constructor',
    );
    assert.deepEqual(methods.sort(), Object.keys(METHODS).sort());
  });

  it('each priced entry point fires kvmCall with its kernel name, once, before perf runs it', () => {
    const host = new HostMachine({ cpus: 1 });
    const exports = host.perfExports;
    const fired: KvmPerfCall[] = [];
    host.perfCore.trace.kvmCall.attach((call) => fired.push(call));
    const attr = { config: 0xc0, pinned: true, excludeHost: true, samplePeriod: 1000 };
    const event = exports.createKernelCounter(attr, -1, 1000, () => {});
    const drive: Record<KvmPerfCall, () => unknown> = {
      perf_event_create_kernel_counter: () => exports.createKernelCounter(attr, 0, -1, () => {}),
      perf_event_period: () => exports.setPeriod(event, 2000),
      perf_event_read_value: () => exports.readCounter(event),
      perf_event_pause: () => exports.pauseCounter(event),
      perf_event_enable: () => exports.enableCounter(event),
      perf_load_guest_context: () => exports.loadGuestContext(0),
      perf_put_guest_context: () => exports.putGuestContext(0),
      perf_event_release_kernel: () => exports.releaseKernelCounter(event),
    };
    for (const call of Object.keys(drive) as KvmPerfCall[]) {
      fired.length = 0;
      drive[call]();
      assert.deepEqual(fired, [call]);
      const method = Object.entries(METHODS).find(([, c]) => c === call)?.[0];
      assert.ok(method, `${call} has a method`);
    }
    assert.equal(event.samplePeriod, 2000, 'the calls did their work');
  });

  it('each call has a price in the cost model', () => {
    const model = new CostModel();
    for (const call of KVM_PERF_CALLS) assert.ok(model.get(KVM_CALL_PARAMETER[call]) > 0, call);
  });
});

describe('the trace points the simulator needs are fired by the model, not by a wrapper', () => {
  it('hw: the PMI; perf: NMI entry before any MSR access, exit with the samples written', () => {
    const host = new HostMachine({ cpus: 1 });
    const order: string[] = [];
    const cpu = host.cpus[0]!;
    const accesses = () => cpu.accessCounts.reduce((a, b) => a + b, 0);
    let atPmi = -1;
    cpu.trace.pmi.attach((delivery, guestMode) => {
      atPmi = accesses();
      order.push(`pmi nmi=${delivery?.nmi} guest=${guestMode}`);
    });
    host.perfCore.trace.nmiEntry.attach(() => order.push(`entry +${accesses() - atPmi}`));
    host.perfCore.trace.nmiExit.attach((_c, handled, samples) =>
      order.push(`exit ${handled} ${samples} +${accesses() - atPmi > 0}`),
    );
    const event = host.perf.open({ config: 'instructions', samplePeriod: 10_000 }, { cpu: 0 });
    host.exec({ instructions: 25_000 });
    assert.deepEqual(order.slice(0, 6), [
      'pmi nmi=true guest=false',
      'entry +0',
      'exit true 1 +true',
      'pmi nmi=true guest=false',
      'entry +0',
      'exit true 1 +true',
    ]);
    assert.ok(event.read().value >= 25_000);
  });

  it('kvm: kvm_exit, the world switch (put, load) and kvm_entry in order, the fastpath without a switch', () => {
    const host = new HostMachine({ cpus: 1 });
    const vcpu = host.kvm.createVm().createVcpu() as VcpuImpl;
    const seen: string[] = [];
    vcpu.trace.exit.attach((reason, fastpath, msr) =>
      seen.push(`exit ${reason} ${fastpath} ${msr}`),
    );
    vcpu.trace.pmuSwitch.attach((half, done) => seen.push(`${half} ${done ? 'end' : 'begin'}`));
    vcpu.trace.entry.attach(() => seen.push('entry'));
    vcpu.run((g) => {
      seen.length = 0;
      g.wrmsr(IA32_TSC_DEADLINE, 1n);
      g.cpuid(0);
    });
    assert.deepEqual(seen, [
      `exit MSR_WRITE true ${IA32_TSC_DEADLINE}`,
      'entry',
      'exit CPUID false -1',
      'put begin',
      'put end',
      'load begin',
      'load end',
      'entry',
      // The end of KVM_RUN: the put, with no exit counted.
      'put begin',
      'put end',
    ]);
  });
});
