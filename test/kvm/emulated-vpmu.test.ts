/**
 * The legacy perf-emulated vPMU (docs/mediated-vpmu.md section 5): every PMU
 * access exits, and a guest counter that is enabled, globally enabled and
 * allowed by the filter is backed by a pinned, exclude_host perf event of the
 * vCPU thread; those events are created, paused, resumed and released as the
 * guest reprograms; they compete with host events, and lose silently.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CpuModelName } from '../../src/hw/cpu-models.ts';
import { EVTSEL, LVT, MSR } from '../../src/hw/msr.ts';
import type { EmulatedVpmu } from '../../src/kvm/emulated-vpmu.ts';
import type { GuestPmuConfig } from '../../src/kvm/pmu-types.ts';
import type { VcpuImpl } from '../../src/kvm/vcpu.ts';
import type { PerfEventAttr } from '../../src/perf/attr.ts';
import type { KernelEvent } from '../../src/perf/event.ts';
import { HostMachine } from '../../src/sim/host.ts';

const WRAP = 1n << 48n;
const COUNT_ALL = EVTSEL.EN | EVTSEL.OS | EVTSEL.USR;
const INTEL_INSTRUCTIONS = 0xc0n | COUNT_ALL;
const INTEL_BRANCHES = 0xc4n | COUNT_ALL;
const AMD_INSTRUCTIONS = 0xc0n | COUNT_ALL;
const PMI = 0xe0;

interface Created {
  attr: PerfEventAttr;
  cpu: number;
  pid: number;
  event: KernelEvent;
}

function setup(
  cpu: CpuModelName,
  options: { pmu?: Partial<GuestPmuConfig>; nmiWatchdog?: boolean } = {},
): { host: HostMachine; vcpu: VcpuImpl; design: EmulatedVpmu; created: Created[] } {
  const host = new HostMachine({
    cpu,
    kvm: { enableMediatedPmu: false },
    nmiWatchdog: options.nmiWatchdog,
  });
  const created: Created[] = [];
  const exports = host.perfExports;
  const create = exports.createKernelCounter.bind(exports);
  exports.createKernelCounter = (attr, cpuId, pid, overflow) => {
    const event = create(attr, cpuId, pid, overflow);
    created.push({ attr, cpu: cpuId, pid, event });
    return event;
  };
  const vcpu = host.kvm.createVm().createVcpu({ pmu: options.pmu }) as VcpuImpl;
  assert.equal(vcpu.designName, 'emulated');
  return { host, vcpu, design: vcpu.design as EmulatedVpmu, created };
}

describe('the emulated vPMU: perf events behind guest counters', () => {
  it('a counting selector creates a pinned, exclude_host task event of the vCPU thread', () => {
    const { vcpu, created } = setup('intel-sapphire-rapids');
    vcpu.run((g) => {
      g.wrmsr(MSR.IA32_PMC0, WRAP - 1000n);
      g.wrmsr(MSR.IA32_PERFEVTSEL0, 0xc0n | EVTSEL.EN | EVTSEL.OS | EVTSEL.EDGE);
    });
    assert.equal(created.length, 1);
    const [{ attr, cpu, pid }] = created as [Created];
    assert.deepEqual(
      { ...attr },
      {
        config: 0xc0 | Number(EVTSEL.EDGE), // X86_RAW_EVENT_MASK keeps EDGE
        pinned: true,
        excludeHost: true,
        excludeUser: true, // no USR
        excludeKernel: false,
        samplePeriod: 1000, // (-counter) & width mask
      },
    );
    assert.equal(cpu, -1);
    assert.equal(pid, vcpu.pid);
  });

  it('a zero counter asks for a full-width period; fixed counters map to their architectural event', () => {
    const { vcpu, created } = setup('intel-sapphire-rapids');
    vcpu.run((g) => {
      g.wrmsr(MSR.IA32_PERF_GLOBAL_CTRL, 1n << 33n); // fixed 1 only
      g.wrmsr(MSR.IA32_FIXED_CTR_CTRL, 0xa0n); // fixed 1: USR, PMI
    });
    assert.equal(created.length, 1);
    assert.deepEqual(
      { ...created[0]!.attr },
      {
        config: 0x3c, // core cycles
        pinned: true,
        excludeHost: true,
        excludeUser: false,
        excludeKernel: true,
        samplePeriod: 2 ** 48,
      },
    );
  });

  it('nothing is created while the counter is disabled locally, globally, or by the filter', () => {
    const { host, vcpu, design, created } = setup('intel-sapphire-rapids');
    vcpu.run((g) => {
      g.wrmsr(MSR.IA32_PERF_GLOBAL_CTRL, 0n);
      g.wrmsr(MSR.IA32_PERFEVTSEL0, INTEL_INSTRUCTIONS);
      assert.equal(created.length, 0);
      g.wrmsr(MSR.IA32_PERFEVTSEL0 + 1, INTEL_BRANCHES & ~EVTSEL.EN);
      g.wrmsr(MSR.IA32_PERF_GLOBAL_CTRL, 0x3n);
      assert.equal(created.length, 1, 'only counter 0 is enabled');
    });
    host.kvm.vms[0]!.setPmuEventFilter({ action: 'deny', events: [0xc0n] });
    // The filter reprograms every counter: counter 0's event is paused, not counting.
    const counted = vcpu.run((g) => {
      g.exec({ instructions: 500 });
      return g.rdmsr(MSR.IA32_PERFCTR0);
    });
    // Only the GLOBAL_CTRL WRMSR that enabled it, counted by KVM
    // (kvm_skip_emulated_instruction) before the filter came.
    assert.equal(counted, 1n);
    assert.equal(design.eventsCreated, 1);
    assert.equal(host.dmesg.length, 0);
  });

  it('a new selector releases and re-creates; disabling pauses and re-enabling resumes the same event', () => {
    const { host, vcpu, design, created } = setup('amd-zen4');
    vcpu.run((g) => {
      g.wrmsr(MSR.MSR_F15H_PERF_CTL0, AMD_INSTRUCTIONS);
      g.exec({ instructions: 100 });
      g.wrmsr(MSR.MSR_F15H_PERF_CTL0, AMD_INSTRUCTIONS & ~EVTSEL.EN); // paused
      assert.equal(created[0]!.event.state, -1, 'paused: perf event off');
      g.exec({ instructions: 1000 });
      g.wrmsr(MSR.MSR_F15H_PERF_CTL0, AMD_INSTRUCTIONS); // same config: resumed
      assert.equal(created.length, 1);
      g.exec({ instructions: 10 });
      // Every instruction retires once: the two enabling WRMSRs count (KVM counts
      // an intercepted one after its handler), the disabling one does not.
      assert.equal(g.rdmsr(MSR.MSR_F15H_PERF_CTR0), 100n + 10n + 2n);
      g.wrmsr(MSR.MSR_F15H_PERF_CTL0, 0xc2n | COUNT_ALL); // another event: release + create
      g.exec({ instructions: 50, branches: 5 });
      // + the RDMSR above (retired after its read, still counting instructions), + 5 branches.
      assert.equal(g.rdmsr(MSR.MSR_F15H_PERF_CTR0), 100n + 10n + 2n + 1n + 5n);
    });
    assert.deepEqual([design.eventsCreated, design.eventsReleased], [2, 1]);
    assert.equal(created[0]!.event.state, -4, 'released');
    // AMD: KVM's event counts guest-only (exclude_host -> GuestOnly).
    assert.ok(created[1]!.event.hw.config & EVTSEL.AMD_GUEST_ONLY);
    host.kvm.vms[0]!.destroy();
    assert.deepEqual([design.eventsCreated, design.eventsReleased], [2, 2]);
    assert.equal(host.perfCore.openEvents, 0);
  });

  it('a guest counter counts guest work only, not the host (not even on the vCPU thread)', () => {
    for (const cpu of ['intel-sapphire-rapids', 'amd-zen4', 'amd-zen3'] as const) {
      const { host, vcpu } = setup(cpu);
      const intel = cpu.startsWith('intel');
      const ctr = intel ? MSR.IA32_PERFCTR0 : MSR.MSR_K7_PERFCTR0;
      vcpu.run((g) => {
        g.wrmsr(intel ? MSR.IA32_PERFEVTSEL0 : MSR.MSR_K7_EVNTSEL0, 0xc0n | COUNT_ALL);
        g.exec({ instructions: 1234 });
      });
      host.exec({ instructions: 100_000, pid: vcpu.pid });
      host.exec({ instructions: 100_000 });
      const value = vcpu.run((g) => {
        g.exec({ instructions: 1 });
        return g.rdmsr(ctr);
      });
      // 1234 + 1 + the enabling WRMSR (kvm_skip_emulated_instruction).
      assert.equal(value, 1234n + 1n + 1n, cpu);
    }
  });

  it('a write is relative to what the event counted (pmc_write_counter)', () => {
    const { vcpu } = setup('intel-sapphire-rapids');
    const value = vcpu.run((g) => {
      g.wrmsr(MSR.IA32_PERFEVTSEL0, INTEL_INSTRUCTIONS);
      g.exec({ instructions: 500 });
      g.wrmsr(MSR.IA32_PMC0, 42n);
      g.exec({ instructions: 8 });
      return g.rdmsr(MSR.IA32_PMC0);
    });
    // 42, then the WRMSR itself (KVM counts it after the write), then 8.
    assert.equal(value, 42n + 1n + 8n);
  });

  it('Intel: GLOBAL_CTRL is switched at entry/exit (host events off in the guest, KVM events off in the host)', () => {
    const { host, vcpu } = setup('intel-sapphire-rapids');
    const cpu = host.cpus[0]!;
    const hostEvent = host.perf.open({ config: 0x00c4, excludeGuest: true }, { cpu: 0 });
    let guestIdx = -1;
    let inGuest = 0n;
    vcpu.run((g) => {
      g.wrmsr(MSR.IA32_PERFEVTSEL0, INTEL_BRANCHES);
      g.cpuid(0); // reprogrammed; the next entry switches with the new event
      inGuest = cpu.rdmsr(MSR.IA32_PERF_GLOBAL_CTRL);
    });
    // KVM's pinned (task) event came first; the host's flexible one moved over.
    const hostIdx = (hostEvent as unknown as { kernel: KernelEvent }).kernel.idx;
    for (const e of host.perfCore.x86!.activeEvents(0)) if (e.attr.excludeHost) guestIdx = e.idx;
    const inHost = cpu.rdmsr(MSR.IA32_PERF_GLOBAL_CTRL);
    assert.ok(guestIdx >= 0 && hostIdx >= 0 && guestIdx !== hostIdx);
    assert.equal((inGuest >> BigInt(hostIdx)) & 1n, 0n, 'host exclude_guest event on in the guest');
    assert.equal((inGuest >> BigInt(guestIdx)) & 1n, 1n, "KVM's event off in the guest");
    assert.equal((inHost >> BigInt(hostIdx)) & 1n, 1n);
    assert.equal((inHost >> BigInt(guestIdx)) & 1n, 0n, "KVM's exclude_host event on in the host");
  });
});

describe('the emulated vPMU: overflow and PMIs', () => {
  for (const cpuName of ['intel-sapphire-rapids', 'amd-zen4', 'amd-zen3'] as const) {
    const intel = cpuName.startsWith('intel');
    it(`${cpuName}: the host event overflows at the guest's wrap: NMI exit, status bit, PMI injected`, () => {
      const { host, vcpu } = setup(cpuName);
      const ctr = intel ? MSR.IA32_PERFCTR0 : MSR.MSR_K7_PERFCTR0;
      const log: string[] = [];
      vcpu.run((g) => {
        g.onInterrupt(PMI, () => log.push(`pmi at ${g.rdmsr(ctr)}`));
        g.wrmsr(MSR.X2APIC_LVTPC, BigInt(PMI));
        // Intel: the legacy alias, sign-extended from 32 bits.
        g.wrmsr(ctr, intel ? (WRAP - 300n) & 0xffff_ffffn : WRAP - 300n);
        g.wrmsr(intel ? MSR.IA32_PERFEVTSEL0 : MSR.MSR_K7_EVNTSEL0, 0xc0n | COUNT_ALL | EVTSEL.INT);
        g.exec({ instructions: 1000 });
        log.push(`after ${g.rdmsr(ctr)}`);
        if (intel) log.push(`status ${g.rdmsr(MSR.IA32_PERF_GLOBAL_STATUS)}`);
      });
      // WRAP - 300, +1 for the enabling WRMSR: the wrap comes 299 instructions in;
      // the handler's RDMSR retires after reading 0; 701 more follow.
      assert.deepEqual(log, ['pmi at 0', `after ${1 + 701}`, ...(intel ? ['status 1'] : [])]);
      assert.equal(vcpu.stats.exitReasons.EXCEPTION_NMI, 1);
      assert.equal(vcpu.stats.pmis, 1);
      assert.equal(host.cpus[0]!.interruptsDelivered.nmi, 1);
      // Host LVTPC: back to NMI for perf.
      assert.equal(host.cpus[0]!.rdmsr(MSR.X2APIC_LVTPC), BigInt(LVT.DM_NMI));
    });
  }

  it('emulated instructions fold into the running event: the hardware overflow still lands on the wrap', () => {
    const { vcpu } = setup('intel-sapphire-rapids');
    const log: string[] = [];
    vcpu.run((g) => {
      g.onInterrupt(PMI, () => log.push(`pmi at ${g.rdmsr(MSR.IA32_PMC0)}`));
      g.wrmsr(MSR.X2APIC_LVTPC, BigInt(PMI));
      g.wrmsr(MSR.IA32_PMC0, WRAP - 20n);
      g.wrmsr(MSR.IA32_PERFEVTSEL0, INTEL_INSTRUCTIONS | EVTSEL.INT);
      g.exec({ instructions: 5 });
      g.execEmulated({ instructions: 5 });
      log.push(`now ${g.rdmsr(MSR.IA32_PMC0)}`);
      g.exec({ instructions: 15 });
      log.push(`after ${g.rdmsr(MSR.IA32_PMC0)}`);
    });
    // WRAP - 20, +1 enabling WRMSR, +5, +5 emulated; the RDMSR that logged it
    // retires (WRAP - 8); the wrap is 8 into the 15; the handler's RDMSR, then 7.
    assert.deepEqual(log, [`now ${WRAP - 9n}`, 'pmi at 0', `after ${1 + 7}`]);
  });

  it('an emulated-instruction overflow is counted in software: status and PMI, no NMI', () => {
    const { host, vcpu } = setup('amd-zen4');
    let pmis = 0;
    vcpu.run((g) => {
      g.onInterrupt(PMI, () => pmis++);
      g.wrmsr(MSR.X2APIC_LVTPC, BigInt(PMI));
      g.wrmsr(MSR.MSR_F15H_PERF_CTR0, WRAP - 2n);
      g.wrmsr(MSR.MSR_F15H_PERF_CTL0, AMD_INSTRUCTIONS | EVTSEL.INT);
      g.execEmulated({ instructions: 3 });
      // WRAP - 2, +1 for the enabling WRMSR, then 3: wrap at the first, 2 after.
      assert.equal(g.rdmsr(MSR.MSR_F15H_PERF_CTR0), 2n);
      assert.equal(g.rdmsr(MSR.MSR_AMD64_PERF_CNTR_GLOBAL_STATUS), 1n);
    });
    assert.equal(pmis, 1);
    assert.equal(host.cpus[0]!.interruptsDelivered.nmi, 0);
  });
});

describe('the emulated vPMU: competing with host events', () => {
  it('host pinned events holding every GP counter: the guest silently loses its counts (mediated does not)', () => {
    const hostEvents = (host: HostMachine) =>
      Array.from({ length: 8 }, () =>
        host.perf.open({ config: 0x00c4, excludeGuest: true, pinned: true }, { cpu: 0 }),
      );
    const guest = (vcpu: VcpuImpl) =>
      vcpu.run((g) => {
        g.wrmsr(MSR.IA32_PERFEVTSEL0, INTEL_BRANCHES);
        g.wrmsr(MSR.IA32_PERFEVTSEL0 + 1, INTEL_INSTRUCTIONS); // can take fixed counter 0
        g.exec({ instructions: 1000, branches: 200 });
        return [g.rdmsr(MSR.IA32_PMC0), g.rdmsr(MSR.IA32_PMC0 + 1)];
      });

    const { host, vcpu, created } = setup('intel-sapphire-rapids');
    const events = hostEvents(host);
    // Counter 0 lost everything, no fault, no message; counter 1 found a fixed counter.
    // Counter 1: its enabling WRMSR, 1000, the RDMSR of PMC0 (retired after its read).
    assert.deepEqual(guest(vcpu), [0n, 1000n + 2n]);
    assert.equal(host.perfExports.counterInError(created[0]!.event), true);
    assert.equal(host.dmesg.length, 0);
    for (const e of events) assert.equal(e.state, 'active');

    const mediated = new HostMachine({
      cpu: 'intel-sapphire-rapids',
      kvm: { enableMediatedPmu: true },
    });
    hostEvents(mediated);
    const mvcpu = mediated.kvm.createVm().createVcpu() as VcpuImpl;
    assert.deepEqual(guest(mvcpu), [200n, 1000n + 2n]);
  });

  it('a failing event creation is logged and the counter just does not count', () => {
    const { host, vcpu } = setup('intel-sapphire-rapids');
    // Someone else holds a mediated PMU: include-guest events (KVM's are) are refused.
    host.perf.createMediatedPmu!();
    const value = vcpu.run((g) => {
      g.wrmsr(MSR.IA32_PERFEVTSEL0, INTEL_INSTRUCTIONS);
      g.exec({ instructions: 100 });
      return g.rdmsr(MSR.IA32_PMC0);
    });
    // The hardware part is lost; KVM's software count of the intercepted
    // enabling WRMSR (pmc->emulated_counter) still lands.
    assert.equal(value, 1n);
    assert.deepEqual(host.dmesg, ['kvm_pmu: event creation failed EOPNOTSUPP for guest counter 0']);
  });

  it("KVM's events are include-guest events: accounted on a capable PMU, released on destroy", () => {
    for (const [cpu, capable] of [
      ['intel-sapphire-rapids', true],
      ['amd-zen3', false],
    ] as const) {
      const { host, vcpu } = setup(cpu);
      vcpu.run((g) => {
        for (let i = 0; i < 3; i++) {
          g.wrmsr(
            cpu.startsWith('intel') ? MSR.IA32_PERFEVTSEL0 + i : MSR.MSR_K7_EVNTSEL0 + i,
            0xc0n | COUNT_ALL,
          );
        }
      });
      assert.equal(host.perf.nrIncludeGuestEvents, capable ? 3 : 0, cpu);
      host.kvm.vms[0]!.destroy();
      assert.equal(host.perf.nrIncludeGuestEvents, 0);
    }
  });

  it('with the NMI watchdog the guest still gets counters (one fewer for its pinned events)', () => {
    const { host, vcpu } = setup('amd-zen4', { nmiWatchdog: true });
    const counts = vcpu.run((g) => {
      for (let i = 0; i < 6; i++) g.wrmsr(MSR.MSR_F15H_PERF_CTL0 + 2 * i, AMD_INSTRUCTIONS);
      g.exec({ instructions: 100 });
      return Array.from({ length: 6 }, (_, i) => g.rdmsr(MSR.MSR_F15H_PERF_CTR0 + 2 * i));
    });
    // CPU-pinned (watchdog) first, then the vCPU's task-pinned events: the last one loses.
    // Counter i counts its enabling WRMSR, the 5 - i after it, 100, and the i
    // RDMSRs before its own read: 106. The last lost its hardware event and
    // keeps KVM's software count of the 6 intercepted instructions it saw.
    assert.deepEqual(counts, [106n, 106n, 106n, 106n, 106n, 6n]);
    assert.equal(host.watchdogEvents[0]!.state, 'active');
  });
});
