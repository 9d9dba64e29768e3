/**
 * vcpu.run (KVM_RUN) semantics: what exits and why, what the guest reaches
 * without an exit (docs/mediated-vpmu.md 4.2) on each design, requests and
 * injection around VM-entry, emulated instructions, timers, the fastpath
 * refusal (4.4), and that nothing of a run is left behind when it ends.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GuestFault, KvmError } from '../../src/common/errors.ts';
import { CPU_MODELS, type CpuModelName } from '../../src/hw/cpu-models.ts';
import { EVTSEL, LVT, MSR, PERF_CAP, RDPMC } from '../../src/hw/msr.ts';
import type { GuestCpu } from '../../src/kvm/guest-cpu.ts';
import type { GuestPmuConfig } from '../../src/kvm/pmu-types.ts';
import { pmuIntercepts } from '../../src/kvm/msr-intercepts.ts';
import { IA32_TSC_DEADLINE, type VcpuImpl } from '../../src/kvm/vcpu.ts';
import { HostMachine } from '../../src/sim/host.ts';

const COUNT_ALL = EVTSEL.EN | EVTSEL.OS | EVTSEL.USR;
const INTEL_INSTRUCTIONS = 0xc0n | COUNT_ALL;
const INTEL_BRANCHES = 0xc4n | COUNT_ALL;
const AMD_INSTRUCTIONS = 0xc0n | COUNT_ALL;

interface Setup {
  host: HostMachine;
  vcpu: VcpuImpl;
}

function setup(
  cpu: CpuModelName,
  options: {
    mediated?: boolean;
    pmu?: Partial<GuestPmuConfig>;
    hostCpu?: number;
    cpus?: number;
  } = {},
): Setup {
  const host = new HostMachine({
    cpu,
    cpus: options.cpus ?? 1,
    kvm: { enableMediatedPmu: options.mediated ?? true },
  });
  const vcpu = host.kvm
    .createVm()
    .createVcpu({ pmu: options.pmu, hostCpu: options.hostCpu }) as VcpuImpl;
  return { host, vcpu };
}

/** Exits (by reason) caused by `fn`, run inside the guest. */
function exitsDuring(vcpu: VcpuImpl, fn: () => unknown): Record<string, number> {
  const before = { ...vcpu.stats.exitReasons };
  try {
    fn();
  } catch (error) {
    if (!(error instanceof GuestFault)) throw error;
  }
  const delta: Record<string, number> = {};
  for (const [reason, n] of Object.entries(vcpu.stats.exitReasons)) {
    const d = n - (before[reason] ?? 0);
    if (d) delta[reason] = d;
  }
  return delta;
}

function faults(fn: () => unknown): boolean {
  try {
    fn();
    return false;
  } catch (error) {
    if (error instanceof GuestFault) return true;
    throw error;
  }
}

describe('vcpu.run: entering and leaving', () => {
  it('returns what the program returns, in guest mode only while it runs', () => {
    const { host, vcpu } = setup('intel-sapphire-rapids');
    const cpu = host.cpus[0]!;
    const seen = vcpu.run(() => ({ guestMode: cpu.guestMode, loaded: vcpu.loaded }));
    assert.deepEqual(seen, { guestMode: true, loaded: true });
    assert.equal(cpu.guestMode, false);
    assert.equal(vcpu.loaded, false);
    assert.equal(host.perfCore.isGuestContextLoaded(0), false);
    assert.equal(cpu.rdmsr(MSR.X2APIC_LVTPC), BigInt(LVT.DM_NMI));
  });

  it('an exception from the program leaves through the exit path, and the vCPU runs again', () => {
    for (const mediated of [true, false]) {
      const { host, vcpu } = setup('amd-zen4', { mediated });
      const cpu = host.cpus[0]!;
      assert.throws(
        () =>
          vcpu.run((g) => {
            g.wrmsr(MSR.MSR_K7_EVNTSEL0, AMD_INSTRUCTIONS);
            throw new Error('guest triple fault');
          }),
        /triple fault/,
      );
      assert.equal(cpu.guestMode, false);
      assert.equal(cpu.guestModeExit, null);
      assert.equal(host.perfCore.isGuestContextLoaded(0), false);
      assert.equal(cpu.rdmsr(MSR.X2APIC_LVTPC), BigInt(LVT.DM_NMI));
      // A GuestFault the program does not catch is the same: it ends the run.
      assert.throws(() => vcpu.run((g) => g.rdmsr(0x12345678)), GuestFault);
      assert.equal(
        vcpu.run((g) => g.rdmsr(MSR.MSR_K7_EVNTSEL0)),
        AMD_INSTRUCTIONS,
      );
    }
  });

  it('KVM_RUN is not reentrant: EBUSY', () => {
    const { vcpu } = setup('intel-skylake');
    let inner: unknown = null;
    vcpu.run(() => {
      try {
        vcpu.run(() => 1);
      } catch (error) {
        inner = error;
      }
    });
    assert.ok(inner instanceof KvmError);
    assert.equal(inner.errno, 'EBUSY');
    assert.equal(
      vcpu.run(() => 2),
      2,
    );
  });

  it('rejects a program that is not a function, and malformed guest operands', () => {
    const { vcpu } = setup('intel-skylake');
    assert.throws(() => vcpu.run(null as unknown as () => void), TypeError);
    vcpu.run((g) => {
      assert.throws(() => g.rdmsr(-1), TypeError);
      assert.throws(() => g.rdmsr(2 ** 32), TypeError);
      assert.throws(() => g.wrmsr(MSR.IA32_PMC0, 1n << 64n), TypeError);
      assert.throws(() => g.wrmsr(MSR.IA32_PMC0, -1n), TypeError);
      assert.throws(() => g.rdpmc(1.5), TypeError);
      assert.throws(() => g.exec({ instructions: -1 }), RangeError);
      assert.throws(() => g.onInterrupt(256, () => {}), RangeError);
    });
    assert.equal(vcpu.stats.exits, 0);
  });

  it('runs on the host CPU it was created for', () => {
    const { host, vcpu } = setup('intel-sapphire-rapids', { cpus: 2, hostCpu: 1 });
    const [cpu0, cpu1] = host.cpus;
    vcpu.run((g) => {
      assert.equal(cpu1!.guestMode, true);
      assert.equal(cpu0!.guestMode, false);
      g.exec({ instructions: 1_000_000 });
    });
    assert.equal(cpu0!.tsc, 0);
    assert.equal(cpu1!.tsc, 1_000_000);
    const vm = host.kvm.createVm();
    assert.throws(
      () => vm.createVcpu({ hostCpu: 2 }),
      (e: unknown) => e instanceof KvmError && e.errno === 'EINVAL',
    );
  });
});

describe('vcpu.run: exits by reason', () => {
  it('counts every exit under its reason (emulated design)', () => {
    const { vcpu } = setup('intel-sapphire-rapids', { mediated: false });
    vcpu.run((g) => {
      g.rdmsr(MSR.IA32_PERFEVTSEL0);
      g.wrmsr(MSR.IA32_PERFEVTSEL0, 0n);
      g.wrmsr(MSR.IA32_PMC0, 5n);
      g.rdpmc(0);
      g.cpuid(0xa);
      g.cpuid(0);
      g.exec({ instructions: 10_000 }); // native: no exit
      g.execEmulated({ instructions: 3, branches: 1 }); // one exit per instruction
      assert.ok(faults(() => g.rdmsr(0xdead))); // a #GP is still an exit
    });
    assert.deepEqual(vcpu.stats.exitReasons, {
      MSR_READ: 2,
      MSR_WRITE: 2,
      RDPMC: 1,
      CPUID: 2,
      EMULATED_INSTRUCTION: 3,
    });
    assert.equal(vcpu.stats.exits, 10);
    assert.equal(vcpu.stats.pmis, 0);
  });

  it('HLT, I/O doorbells, the guest timer and device interrupts exit with their own reasons', () => {
    const { vcpu } = setup('intel-sapphire-rapids');
    const log: string[] = [];
    vcpu.run((g) => {
      g.hlt();
      g.ioDoorbell();
      g.timerInterrupt(() => log.push('timer'));
      g.deviceInterrupt(() => log.push('device'));
      g.wrmsr(0x6e0, 12345n); // IA32_TSC_DEADLINE: KVM's WRMSR fastpath
      assert.equal(g.rdmsr(0x6e0), 12345n);
    });
    assert.deepEqual(log, ['timer', 'device']);
    assert.deepEqual(vcpu.stats.exitReasons, {
      HLT: 1,
      IO_INSTRUCTION: 1,
      PREEMPTION_TIMER: 1,
      EXTERNAL_INTERRUPT: 1,
      MSR_WRITE: 1,
      MSR_READ: 1,
    });
    // No counter counts instructions: HLT, the timer and the TSC deadline took the fastpath.
    assert.equal(vcpu.stats.fastpathExits, 3);
  });

  it('host timer interrupts exit a long native block; counting is exact across the world switches', () => {
    for (const mediated of [true, false]) {
      const { host, vcpu } = setup('intel-sapphire-rapids', { mediated });
      const tickNs = host.perfCore.tickNs;
      const n = 100_000_000; // 50 ms at 2 GHz: about 12 ticks
      const counted = vcpu.run((g) => {
        g.wrmsr(MSR.IA32_PERFEVTSEL0, INTEL_INSTRUCTIONS);
        g.exec({ instructions: n });
        return g.rdpmc(0);
      });
      // + the enabling WRMSR (counted by KVM after its handler).
      assert.equal(counted, BigInt(n) + 1n);
      const ticks = Math.floor(host.cpus[0]!.nowNs / tickNs);
      assert.equal(vcpu.stats.exitReasons.EXTERNAL_INTERRUPT, ticks, `mediated=${mediated}`);
    }
  });

  it('a PMI raised inside its own handler waits for the handler to return (NMI / IF blocking)', () => {
    // An NMI blocks NMIs until IRET, an interrupt gate clears IF until then:
    // KVM injects only in an open window (nmi_allowed / interrupt_allowed).
    const { vcpu } = setup('intel-sapphire-rapids');
    const events: string[] = [];
    vcpu.run((g) => {
      g.wrmsr(MSR.X2APIC_LVTPC, 0xe0n);
      let depth = 0;
      let runs = 0;
      g.onInterrupt(0xe0, () => {
        depth++;
        runs++;
        events.push(`enter ${depth}`);
        g.wrmsr(MSR.X2APIC_LVTPC, 0xe0n); // unmask (the APIC masked it on delivery)
        if (runs < 3) vcpu.requestPmi();
        g.cpuid(0); // an exit: the PMI just requested is not injected into this handler
        events.push(`leave ${depth}`);
        depth--;
      });
      vcpu.requestPmi();
      g.cpuid(0);
    });
    assert.deepEqual(events, ['enter 1', 'leave 1', 'enter 1', 'leave 1', 'enter 1', 'leave 1']);
  });

  it('a guest handler that re-arms its own interrupt forever is cut off (injections in a row are bounded)', () => {
    const { vcpu } = setup('intel-sapphire-rapids');
    assert.throws(
      () =>
        vcpu.run((g) => {
          // Each injected PMI runs a handler whose CPUID exit re-requests a PMI.
          g.wrmsr(MSR.X2APIC_LVTPC, 0xe0n);
          g.onInterrupt(0xe0, () => {
            g.wrmsr(MSR.X2APIC_LVTPC, 0xe0n);
            vcpu.requestPmi();
            g.cpuid(0);
          });
          vcpu.requestPmi();
          g.cpuid(0);
        }),
      /interrupts back to back/,
    );
    assert.equal(
      vcpu.run(() => 'alive'),
      'alive',
    );
  });
});

/**
 * Each PMU access of a vCPU, with whether it must exit. Rules of
 * docs/mediated-vpmu.md 4.2 (and docs/kvm-vpmu.md for where upstream differs).
 */
function intelAccesses(g: GuestCpu): [string, () => unknown][] {
  return [
    ['rdmsr PERFCTR0', () => g.rdmsr(MSR.IA32_PERFCTR0)],
    ['wrmsr PERFCTR0', () => g.wrmsr(MSR.IA32_PERFCTR0, 1n)],
    ['rdmsr PMC0', () => g.rdmsr(MSR.IA32_PMC0)],
    ['wrmsr PMC0', () => g.wrmsr(MSR.IA32_PMC0, 2n)],
    ['rdmsr PMC3', () => g.rdmsr(MSR.IA32_PMC0 + 3)],
    ['rdmsr FIXED_CTR0', () => g.rdmsr(MSR.IA32_FIXED_CTR0)],
    ['wrmsr FIXED_CTR2', () => g.wrmsr(MSR.IA32_FIXED_CTR0 + 2, 3n)],
    ['rdmsr FIXED_CTR3', () => g.rdmsr(MSR.IA32_FIXED_CTR0 + 3)],
    ['rdmsr PERFEVTSEL0', () => g.rdmsr(MSR.IA32_PERFEVTSEL0)],
    ['wrmsr PERFEVTSEL0', () => g.wrmsr(MSR.IA32_PERFEVTSEL0, 0n)],
    ['wrmsr FIXED_CTR_CTRL', () => g.wrmsr(MSR.IA32_FIXED_CTR_CTRL, 0n)],
    ['rdmsr GLOBAL_CTRL', () => g.rdmsr(MSR.IA32_PERF_GLOBAL_CTRL)],
    ['wrmsr GLOBAL_CTRL', () => g.wrmsr(MSR.IA32_PERF_GLOBAL_CTRL, 0x1n)],
    ['rdmsr GLOBAL_STATUS', () => g.rdmsr(MSR.IA32_PERF_GLOBAL_STATUS)],
    ['wrmsr GLOBAL_OVF_CTRL', () => g.wrmsr(MSR.IA32_PERF_GLOBAL_OVF_CTRL, 0n)],
    ['wrmsr GLOBAL_STATUS_SET', () => g.wrmsr(MSR.IA32_PERF_GLOBAL_STATUS_SET, 0n)],
    ['rdpmc 0', () => g.rdpmc(0)],
    ['rdpmc fixed 0', () => g.rdpmc(RDPMC.FIXED | 0)],
  ];
}

function amdAccesses(g: GuestCpu): [string, () => unknown][] {
  return [
    ['rdmsr K7_PERFCTR0', () => g.rdmsr(MSR.MSR_K7_PERFCTR0)],
    ['wrmsr K7_PERFCTR3', () => g.wrmsr(MSR.MSR_K7_PERFCTR0 + 3, 1n)],
    ['rdmsr F15H_PERF_CTR0', () => g.rdmsr(MSR.MSR_F15H_PERF_CTR0)],
    ['wrmsr F15H_PERF_CTR5', () => g.wrmsr(MSR.MSR_F15H_PERF_CTR0 + 10, 2n)],
    ['rdmsr K7_EVNTSEL0', () => g.rdmsr(MSR.MSR_K7_EVNTSEL0)],
    ['wrmsr F15H_PERF_CTL0', () => g.wrmsr(MSR.MSR_F15H_PERF_CTL0, 0n)],
    ['rdmsr GLOBAL_CTL', () => g.rdmsr(MSR.MSR_AMD64_PERF_CNTR_GLOBAL_CTL)],
    ['wrmsr GLOBAL_CTL', () => g.wrmsr(MSR.MSR_AMD64_PERF_CNTR_GLOBAL_CTL, 0x3fn)],
    ['rdmsr GLOBAL_STATUS', () => g.rdmsr(MSR.MSR_AMD64_PERF_CNTR_GLOBAL_STATUS)],
    ['wrmsr GLOBAL_STATUS_CLR', () => g.wrmsr(MSR.MSR_AMD64_PERF_CNTR_GLOBAL_STATUS_CLR, 0n)],
    ['wrmsr GLOBAL_STATUS_SET', () => g.wrmsr(MSR.MSR_AMD64_PERF_CNTR_GLOBAL_STATUS_SET, 0n)],
    ['rdpmc 0', () => g.rdpmc(0)],
    ['rdpmc 5', () => g.rdpmc(5)],
  ];
}

/** The accesses of a vCPU that exited. */
function exiting(vcpu: VcpuImpl, intel: boolean): string[] {
  return vcpu.run((g) => {
    const out: string[] = [];
    for (const [name, access] of intel ? intelAccesses(g) : amdAccesses(g)) {
      const d = exitsDuring(vcpu, access);
      const n = Object.values(d).reduce((a, b) => a + b, 0);
      assert.ok(n <= 1, `${name}: ${n} exits`);
      if (n) out.push(name);
    }
    return out;
  });
}

const ALWAYS_INTEL = [
  'rdmsr PERFEVTSEL0',
  'wrmsr PERFEVTSEL0',
  'wrmsr FIXED_CTR_CTRL',
  'wrmsr GLOBAL_STATUS_SET',
];
const GLOBALS_INTEL = [
  'rdmsr GLOBAL_CTRL',
  'wrmsr GLOBAL_CTRL',
  'rdmsr GLOBAL_STATUS',
  'wrmsr GLOBAL_OVF_CTRL',
];
const RDPMC_INTEL = ['rdpmc 0', 'rdpmc fixed 0'];
const ALWAYS_AMD = ['rdmsr K7_EVNTSEL0', 'wrmsr F15H_PERF_CTL0'];
const GLOBALS_AMD = [
  'rdmsr GLOBAL_CTL',
  'wrmsr GLOBAL_CTL',
  'rdmsr GLOBAL_STATUS',
  'wrmsr GLOBAL_STATUS_CLR',
  'wrmsr GLOBAL_STATUS_SET',
];

function sorted(a: string[]): string[] {
  return [...a].sort();
}

describe('vcpu.run: what passes through (mediated, docs/mediated-vpmu.md 4.2)', () => {
  it('Skylake, guest = host (4 GP, 3 fixed, v2, full width): counters, globals and RDPMC pass through', () => {
    const { vcpu } = setup('intel-skylake');
    assert.deepEqual(sorted(exiting(vcpu, true)), sorted([...ALWAYS_INTEL, 'rdmsr FIXED_CTR3']));
  });

  it('Sapphire Rapids: 3 of 4 fixed counters offered, so globals and RDPMC are intercepted', () => {
    const { vcpu } = setup('intel-sapphire-rapids');
    assert.deepEqual(
      sorted(exiting(vcpu, true)),
      sorted([...ALWAYS_INTEL, ...GLOBALS_INTEL, ...RDPMC_INTEL, 'rdmsr FIXED_CTR3']),
    );
  });

  it('fewer GP counters than the host: the rest, globals and RDPMC are intercepted (and #GP)', () => {
    const { vcpu } = setup('intel-skylake', { pmu: { gpCounters: 2 } });
    assert.deepEqual(
      sorted(exiting(vcpu, true)),
      sorted([...ALWAYS_INTEL, ...GLOBALS_INTEL, ...RDPMC_INTEL, 'rdmsr PMC3', 'rdmsr FIXED_CTR3']),
    );
    vcpu.run((g) => {
      assert.ok(faults(() => g.rdmsr(MSR.IA32_PMC0 + 3)));
      assert.ok(faults(() => g.rdpmc(3)));
      assert.equal(g.rdpmc(1), 0n);
    });
  });

  it('guest PMU version 1: no globals to pass through; RDPMC exits (no fixed counters: counts differ)', () => {
    const { vcpu } = setup('intel-skylake', { pmu: { version: 1 } });
    const out = exiting(vcpu, true);
    for (const name of [...GLOBALS_INTEL, ...RDPMC_INTEL]) assert.ok(out.includes(name), name);
    // Fixed counters do not exist for a v1 guest: intercepted.
    assert.ok(out.includes('rdmsr FIXED_CTR0'));
  });

  it('without full-width writes the IA32_PMCx aliases stay intercepted', () => {
    const { vcpu } = setup('intel-skylake', { pmu: { perfCapabilities: 0n } });
    const out = exiting(vcpu, true);
    assert.ok(out.includes('rdmsr PMC0') && out.includes('wrmsr PMC0'));
    assert.ok(!out.includes('rdmsr PERFCTR0') && !out.includes('wrmsr PERFCTR0'));
    assert.equal(vcpu.pmu.fwWritesEnabled, false);
    assert.equal(PERF_CAP.FW_WRITES & vcpu.pmu.perfCapabilities, 0n);
  });

  it('a narrower GP width keeps the counters passed through but intercepts RDPMC', () => {
    const { vcpu } = setup('intel-skylake', { pmu: { gpWidth: 32 } });
    assert.deepEqual(
      sorted(exiting(vcpu, true)),
      sorted([...ALWAYS_INTEL, ...RDPMC_INTEL, 'rdmsr FIXED_CTR3']),
    );
  });

  it('AMD Zen 4, guest = host (PerfMonV2, 6 counters): counters, globals and RDPMC pass through', () => {
    const { vcpu } = setup('amd-zen4');
    assert.deepEqual(sorted(exiting(vcpu, false)), sorted(ALWAYS_AMD));
  });

  it('AMD guest without PerfMonV2: globals intercepted, RDPMC still passed through (counts equal)', () => {
    const { vcpu } = setup('amd-zen4', { pmu: { version: 1 } });
    assert.deepEqual(sorted(exiting(vcpu, false)), sorted([...ALWAYS_AMD, ...GLOBALS_AMD]));
  });

  it('the exits observed are exactly the intercept policy', () => {
    for (const [cpu, pmu] of [
      ['intel-skylake', {}],
      ['intel-sapphire-rapids', {}],
      ['intel-skylake', { gpCounters: 3 }],
      ['amd-zen4', {}],
      ['amd-zen4', { gpCounters: 4 }],
    ] as const) {
      const { vcpu } = setup(cpu, { pmu });
      const policy = pmuIntercepts(vcpu.pmu);
      assert.deepEqual(vcpu.intercepts.passthrough, policy.passthrough);
      assert.equal(vcpu.intercepts.rdpmcExits, policy.rdpmcExits);
      vcpu.run((g) => {
        for (const msr of [...policy.passthrough]) {
          assert.deepEqual(
            exitsDuring(vcpu, () => g.rdmsr(msr)),
            {},
            `rdmsr 0x${msr.toString(16)}`,
          );
        }
      });
    }
  });

  it('a passed-through access reaches the hardware; an intercepted one is answered by KVM', () => {
    const { host, vcpu } = setup('intel-skylake');
    const cpu = host.cpus[0]!;
    vcpu.run((g) => {
      g.wrmsr(MSR.IA32_PMC0 + 1, 0x1234n);
      assert.equal(cpu.rdpmc(1), 0x1234n);
      g.wrmsr(MSR.IA32_PERFEVTSEL0 + 1, INTEL_BRANCHES);
      // The selector exited: KVM programmed it at the re-entry, hardware has it now.
      assert.equal(cpu.rdmsr(MSR.IA32_PERFEVTSEL0 + 1), INTEL_BRANCHES);
      g.exec({ instructions: 100, branches: 7 });
      assert.equal(g.rdpmc(1), 0x1234n + 7n);
      // A full-width write above the width faults in the hardware, as a #GP to the guest.
      assert.ok(faults(() => g.wrmsr(MSR.IA32_PMC0, 1n << 48n)));
    });
  });
});

describe('vcpu.run: the emulated design intercepts every PMU access', () => {
  for (const cpu of ['intel-sapphire-rapids', 'intel-skylake', 'amd-zen4', 'amd-zen3'] as const) {
    it(cpu, () => {
      const { vcpu } = setup(cpu, { mediated: false });
      assert.equal(vcpu.designName, 'emulated');
      assert.equal(vcpu.intercepts.passthrough.size, 0);
      assert.equal(vcpu.intercepts.rdpmcExits, true);
      const intel = cpu.startsWith('intel');
      vcpu.run((g) => {
        for (const [name, access] of intel ? intelAccesses(g) : amdAccesses(g)) {
          const d = exitsDuring(vcpu, access);
          assert.equal(
            Object.values(d).reduce((a, b) => a + b, 0),
            1,
            name,
          );
        }
      });
    });
  }
});

describe('vcpu.run: requests and injection', () => {
  it('an emulated-instruction overflow requests a PMI, injected at the re-entry before execEmulated returns', () => {
    for (const mediated of [true, false]) {
      const { vcpu } = setup('intel-sapphire-rapids', { mediated });
      const log = vcpu.run((g) => {
        const out: string[] = [];
        g.onInterrupt(0xe0, () => out.push(`pmi ${g.rdmsr(MSR.IA32_PERF_GLOBAL_STATUS)}`));
        g.wrmsr(MSR.X2APIC_LVTPC, 0xe0n);
        g.wrmsr(MSR.IA32_PMC0, (1n << 48n) - 2n);
        g.wrmsr(MSR.IA32_PERFEVTSEL0, INTEL_INSTRUCTIONS | EVTSEL.INT);
        g.execEmulated({ instructions: 1 });
        out.push('after 1');
        g.execEmulated({ instructions: 1 });
        out.push('after 2');
        out.push(`counter ${g.rdmsr(MSR.IA32_PMC0)}`);
        return out;
      });
      // 2^48 - 2, +1 for the enabling WRMSR: the first emulated instruction wraps
      // the counter; the PMI runs at that exit's re-entry, its RDMSR retires (1),
      // the second emulated instruction (2).
      assert.deepEqual(log, ['pmi 1', 'after 1', 'after 2', 'counter 2'], `mediated=${mediated}`);
      assert.equal(vcpu.stats.pmis, 1);
    }
  });

  it('emulated instructions count in software (instructions, branches, CPL) and reach hardware at the next load', () => {
    const { host, vcpu } = setup('intel-skylake');
    const cpu = host.cpus[0]!;
    vcpu.run((g) => {
      g.wrmsr(MSR.IA32_PERFEVTSEL0, INTEL_INSTRUCTIONS);
      g.wrmsr(MSR.IA32_PERFEVTSEL0 + 1, INTEL_BRANCHES);
      g.wrmsr(MSR.IA32_PERFEVTSEL0 + 2, 0xc0n | EVTSEL.EN | EVTSEL.USR); // user only
      g.wrmsr(MSR.IA32_FIXED_CTR_CTRL, 0x3n); // fixed 0: instructions, OS+USR
      g.wrmsr(MSR.IA32_PERF_GLOBAL_CTRL, 0xfn | (1n << 32n));
      g.execEmulated({ instructions: 5, branches: 2 });
      g.execEmulated({ instructions: 3, cpl: 3 });
      // Counters are passed through here: these reads are the hardware's.
      // Counter 0 (OS+USR, globally enabled from RESET): its enabling WRMSR, the 4
      // after it, 8 emulated. Fixed 0 from the GLOBAL_CTRL WRMSR: it, 8 emulated,
      // then the 3 RDPMCs before it. Counter 2 (USR only): the 3 at CPL 3.
      assert.equal(cpu.rdpmc(0), 1n + 4n + 8n);
      assert.deepEqual(
        [g.rdpmc(0), g.rdpmc(1), g.rdpmc(2), g.rdpmc(RDPMC.FIXED | 0)],
        [1n + 4n + 8n, 2n, 3n, 1n + 8n + 3n],
      );
    });
    assert.equal(vcpu.stats.exitReasons.EMULATED_INSTRUCTION, 8);
  });
});

/** Counts perf_put_guest_context() calls: one per mediated world switch out of the guest. */
function countPuts(host: HostMachine): () => number {
  let puts = 0;
  const put = host.perfExports.putGuestContext.bind(host.perfExports);
  host.perfExports.putGuestContext = (cpu: number) => {
    puts++;
    put(cpu);
  };
  return () => puts;
}

describe("vcpu: the guest's LVTPC as KVM stores it (fidelity)", () => {
  // kvm_lapic_reg_write (arch/x86/kvm/lapic.c), reached for x2APIC through
  // kvm_lapic_msr_write (bits 63:32 reserved): APIC_LVTPC is ANDed with
  // apic_lvt_mask[LVT_PERFORMANCE_COUNTER] = LVT_MASK | APIC_MODE_MASK, where
  // LVT_MASK = APIC_LVT_MASKED | APIC_SEND_PENDING | APIC_VECTOR_MASK:
  // 0x117ff. The delivery-status bit (12) is kept as written; bits 15:13 go.
  it('keeps bits 16, 12, 10:8 and 7:0 of a write and drops bits 15:13', () => {
    for (const mediated of [true, false]) {
      const { vcpu } = setup('intel-sapphire-rapids', { mediated });
      const back = vcpu.run((g) => {
        g.wrmsr(MSR.X2APIC_LVTPC, 0x1_f7ffn);
        const all = g.rdmsr(MSR.X2APIC_LVTPC);
        g.wrmsr(MSR.X2APIC_LVTPC, 0x10e0n);
        return [all, g.rdmsr(MSR.X2APIC_LVTPC)];
      });
      assert.deepEqual(back, [0x1_17ffn, 0x10e0n]);
    }
  });

  it('the delivery-status bit does not change how a PMI is delivered', () => {
    const { vcpu } = setup('intel-sapphire-rapids');
    const vectors = vcpu.run((g) => {
      const seen: number[] = [];
      g.onInterrupt(0xe0, () => seen.push(0xe0));
      g.wrmsr(MSR.X2APIC_LVTPC, 0x10e0n);
      vcpu.requestPmi();
      g.cpuid(0);
      return seen;
    });
    assert.deepEqual(vectors, [0xe0]);
  });
});

describe('vcpu: the HLT/WRMSR fastpath (docs/mediated-vpmu.md 4.4)', () => {
  it('is taken (no world switch) unless an enabled counter counts instructions', () => {
    const { host, vcpu } = setup('intel-sapphire-rapids');
    const puts = countPuts(host);
    // The TSC-deadline WRMSR: handle_fastpath_set_msr_irqoff returns
    // EXIT_FASTPATH_REENTER_GUEST, so the guest is re-entered with no put.
    const deadline = (g: GuestCpu) => g.wrmsr(IA32_TSC_DEADLINE, 1n << 40n);
    vcpu.run((g) => {
      g.wrmsr(MSR.IA32_PERFEVTSEL0, INTEL_BRANCHES); // branches only: fastpath allowed
      const p0 = puts();
      deadline(g);
      assert.equal(vcpu.stats.fastpathExits, 1);
      assert.equal(puts(), p0, 'a re-entering fastpath exit has no put');
      g.wrmsr(MSR.IA32_PERFEVTSEL0 + 1, INTEL_INSTRUCTIONS);
      const p1 = puts();
      deadline(g);
      assert.equal(vcpu.stats.fastpathExits, 1, 'refused: an instruction counter is enabled');
      assert.equal(puts(), p1 + 1);
      // A fixed counter 0 (instructions) counts too; a globally disabled one does not.
      g.wrmsr(MSR.IA32_PERFEVTSEL0 + 1, 0n);
      g.wrmsr(MSR.IA32_FIXED_CTR_CTRL, 0x3n);
      g.wrmsr(MSR.IA32_PERF_GLOBAL_CTRL, 1n << 32n);
      deadline(g);
      assert.equal(vcpu.stats.fastpathExits, 1);
      g.wrmsr(MSR.IA32_PERF_GLOBAL_CTRL, 0n);
      deadline(g);
      assert.equal(vcpu.stats.fastpathExits, 2);
    });
  });

  it('a HLT is emulated in the fastpath but halts the vCPU: the run loop is left, the put and load run', () => {
    // handle_fastpath_hlt: kvm_emulate_halt, then EXIT_FASTPATH_EXIT_HANDLED
    // for a vCPU that is not running (halted, nothing pending); vcpu_enter_guest
    // calls kvm_mediated_pmu_put after the fastpath loop whatever it returned
    // but REENTER_GUEST.
    const { host, vcpu } = setup('intel-sapphire-rapids');
    const puts = countPuts(host);
    vcpu.run((g) => {
      const p0 = puts();
      g.hlt();
      assert.equal(vcpu.stats.fastpathExits, 1, 'emulated by handle_fastpath_hlt');
      assert.equal(puts(), p0 + 1);
    });
    assert.equal(vcpu.stats.exitReasons.HLT, 1);
  });
});

describe('vcpu: CPUID', () => {
  it('reports the guest PMU (0xA on Intel) and passes leaf 0 through', () => {
    const { vcpu } = setup('intel-sapphire-rapids', { pmu: { gpCounters: 5 } });
    const [a, zero] = vcpu.run((g) => [g.cpuid(0xa), g.cpuid(0)]);
    assert.equal(a.eax & 0xff, 2);
    assert.equal((a.eax >> 8) & 0xff, 5);
    assert.equal((a.eax >> 16) & 0xff, 48);
    assert.equal(a.edx & 0x1f, 3);
    assert.equal(zero.ebx, 0x756e6547); // "Genu"
  });

  it('AMD: 0x80000022 reports PerfMonV2 and the counter count', () => {
    const { vcpu } = setup('amd-zen4', { pmu: { gpCounters: 5 } });
    const leaf = vcpu.run((g) => g.cpuid(0x80000022));
    assert.equal(leaf.eax & 1, 1);
    assert.equal(leaf.ebx & 0xf, 5);
  });
});

describe('the number forms of WRMSR and RDPMC', () => {
  // wrmsrNumber / rdpmcNumber are the same instructions as wrmsr / rdpmc
  // (the guest's perf writes periods and reads counts with them): the same
  // exits, the same values, the same retired instructions, passed through
  // or intercepted.
  const cases: [CpuModelName, boolean, number[], number[]][] = [
    [
      'intel-sapphire-rapids',
      true,
      [MSR.IA32_PMC0, MSR.IA32_PERFCTR0 + 1, MSR.IA32_FIXED_CTR0 + 2, MSR.X2APIC_LVTPC],
      [0, RDPMC.FIXED | 1],
    ],
    ['intel-sapphire-rapids', false, [MSR.IA32_PMC0, MSR.IA32_FIXED_CTR0], [0, RDPMC.FIXED | 1]],
    ['amd-zen4', true, [MSR.MSR_F15H_PERF_CTR0 + 2, MSR.MSR_K7_PERFCTR0], [0, 3]],
    ['amd-zen4', false, [MSR.MSR_F15H_PERF_CTR0], [1]],
  ];
  for (const [cpu, mediated, msrs, counters] of cases) {
    it(`${cpu}, ${mediated ? 'mediated' : 'perf-emulated'}`, () => {
      const observe = (numbers: boolean) => {
        const { vcpu } = setup(cpu, { mediated });
        return vcpu.run((g) => {
          const seen: unknown[] = [];
          for (const [k, msr] of msrs.entries()) {
            const value = msr === MSR.X2APIC_LVTPC ? LVT.DM_NMI : 0xfffff000 + k;
            const exits = exitsDuring(vcpu, () =>
              numbers ? g.wrmsrNumber(msr, value) : g.wrmsr(msr, BigInt(value)),
            );
            seen.push(exits, g.rdmsr(msr));
          }
          for (const ecx of counters) {
            let read: unknown;
            const exits = exitsDuring(vcpu, () => {
              read = numbers ? BigInt(g.rdpmcNumber(ecx)) : g.rdpmc(ecx);
            });
            seen.push(exits, read);
          }
          return [...seen, vcpu.stats.retiredOperations];
        });
      };
      assert.deepEqual(observe(true), observe(false));
    });
  }

  it('rejects a number that is not an integer in [0, 2^53)', () => {
    const { vcpu } = setup('intel-sapphire-rapids');
    vcpu.run((g) => {
      for (const bad of [-1, 0.5, 2 ** 53, Number.NaN])
        assert.throws(() => g.wrmsrNumber(MSR.IA32_PMC0, bad), TypeError);
    });
  });
});

describe('vcpu: a host CPU without full-width writes', () => {
  // vmx_get_perf_capabilities (vmx.c) starts from PERF_CAP_FW_WRITES whatever
  // the host has: KVM emulates full-width writes in the perf-emulated design.
  // The mediated vPMU needs them in hardware (the host's PERF_CAPABILITIES),
  // so KVM does not enable it there. A guest whose PERF_CAPABILITIES (set by
  // userspace) lacks FW_WRITES has no IA32_PMCx: intel_is_valid_msr finds no
  // get_fw_gp_pmc, so the access is #GP.
  const noFw = { ...CPU_MODELS['intel-skylake'], name: 'skylake-no-fw', fullWidthWrites: false };

  it('the host does not report FW_WRITES; KVM still offers it to a legacy guest, and IA32_PMC0 takes 48 bits', () => {
    const host = new HostMachine({ cpu: noFw, kvm: { enableMediatedPmu: true } });
    assert.equal(host.kvm.params.enableMediatedPmu, false, 'no mediated vPMU without FW writes');
    assert.equal(host.model.fullWidthWrites, false);
    const vcpu = host.kvm.createVm().createVcpu() as VcpuImpl;
    assert.equal(vcpu.designName, 'emulated');
    const [caps, value] = vcpu.run((g) => {
      g.wrmsr(MSR.IA32_PMC0, 1n << 40n);
      return [g.rdmsr(MSR.IA32_PERF_CAPABILITIES), g.rdmsr(MSR.IA32_PMC0)];
    });
    assert.equal(caps & PERF_CAP.FW_WRITES, PERF_CAP.FW_WRITES);
    assert.equal(value, 1n << 40n);
  });

  it('a guest PERF_CAPABILITIES without FW_WRITES: IA32_PMC0 is #GP, IA32_PERFCTR0 is not', () => {
    const host = new HostMachine({ cpu: noFw });
    const vcpu = host.kvm.createVm().createVcpu({ pmu: { perfCapabilities: 0n } }) as VcpuImpl;
    vcpu.run((g) => {
      assert.equal(g.rdmsr(MSR.IA32_PERF_CAPABILITIES) & PERF_CAP.FW_WRITES, 0n);
      assert.throws(() => g.wrmsr(MSR.IA32_PMC0, 1n), GuestFault);
      assert.throws(() => g.rdmsr(MSR.IA32_PMC0), GuestFault);
      g.wrmsr(MSR.IA32_PERFCTR0, 1n);
    });
  });
});
