/**
 * The mediated vPMU's world switch (kvm_mediated_pmu_load / _put,
 * intel_/amd_mediated_pmu_load / _put; docs/mediated-vpmu.md 4.3), its PMI
 * path (3.3: vector 0xF5, KVM_REQ_PMI, injection through the guest's LVTPC)
 * and the parts of 4.2 / 4.5 it carries out (eventsel_hw, GuestOnly, the
 * filter in hardware).
 *
 * The host CPU's MSR port is wrapped to record, in order, every access KVM
 * makes around VM-entry and VM-exit; perf's own accesses inside
 * perf_{load,put}_guest_context are summarised by their call.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CpuModelName } from '../../src/hw/cpu-models.ts';
import { EVTSEL, LVT, MSR } from '../../src/hw/msr.ts';
import type { GuestCpu } from '../../src/kvm/guest-cpu.ts';
import type { GuestPmuConfig } from '../../src/kvm/pmu-types.ts';
import type { VcpuImpl } from '../../src/kvm/vcpu.ts';
import { PERF_GUEST_MEDIATED_PMI_VECTOR } from '../../src/perf/kvm-exports.ts';
import { HostMachine } from '../../src/sim/host.ts';
import { hex, recorder, splitAtLoad } from './world-switch-recorder.ts';

const COUNT_ALL = EVTSEL.EN | EVTSEL.OS | EVTSEL.USR;
const INTEL_INSTRUCTIONS = 0xc0n | COUNT_ALL;
const INTEL_BRANCHES = 0xc4n | COUNT_ALL;
const AMD_INSTRUCTIONS = 0xc0n | COUNT_ALL;
const WRAP = 1n << 48n;
const PMI = 0xe0;

function setup(
  cpu: CpuModelName,
  options: { pmu?: Partial<GuestPmuConfig>; design?: 'mediated' | 'passthrough-all' } = {},
): { host: HostMachine; vcpu: VcpuImpl } {
  const host = new HostMachine({
    cpu,
    kvm: { enableMediatedPmu: true, mediatedDesign: options.design ?? 'mediated' },
  });
  const vcpu = host.kvm.createVm().createVcpu({ pmu: options.pmu }) as VcpuImpl;
  assert.equal(vcpu.designName, options.design ?? 'mediated');
  return { host, vcpu };
}

describe('kvm_mediated_pmu_load / _put: Intel', () => {
  it('put then load, in order, with the exact MSR sequence', () => {
    const { host, vcpu } = setup('intel-sapphire-rapids', { pmu: { gpCounters: 2 } });
    const rec = recorder(host);
    const { put, load } = vcpu.run((g) => {
      g.wrmsr(MSR.X2APIC_LVTPC, BigInt(PMI));
      g.wrmsr(MSR.IA32_PERFEVTSEL0 + 1, INTEL_BRANCHES);
      g.wrmsr(MSR.IA32_FIXED_CTR_CTRL, 0x0b0n); // fixed 1: OS, USR, PMI
      g.wrmsr(MSR.IA32_PERF_GLOBAL_CTRL, 0x3n | (2n << 32n));
      g.wrmsr(MSR.IA32_PMC0 + 1, 0x100n); // passed through
      g.exec({ instructions: 1000, branches: 10 });
      rec.clear();
      g.cpuid(0);
      return splitAtLoad(rec.log);
    });
    assert.deepEqual(put, [
      // VM-exit: the VMCS saves the guest's GLOBAL_CTRL and loads the host's 0.
      `vmcs GLOBAL_CTRL <- 0x0 (was ${hex(0x3n | (2n << 32n))})`,
      // intel_mediated_pmu_put: status read (0 here, so no OVF_CTRL), FIXED_CTR_CTRL zeroed.
      'rdmsr IA32_PERF_GLOBAL_STATUS',
      'wrmsr IA32_FIXED_CTR_CTRL 0x0',
      // kvm_pmu_put_guest_pmcs: read each counter, zero what is non-zero.
      'rdpmc 0',
      'rdpmc 1',
      'wrmsr IA32_PMC1 0x0',
      'wrmsr IA32_PERFEVTSEL1 0x0',
      'rdpmc fixed0',
      'rdpmc fixed1',
      'wrmsr IA32_FIXED_CTR1 0x0',
      'rdpmc fixed2',
      'perf.putGuestLvtpc',
      `wrmsr X2APIC_LVTPC ${hex(LVT.DM_NMI)}`,
      'perf.putGuestContext',
    ]);
    assert.deepEqual(load, [
      'perf.loadGuestContext',
      'wrmsr IA32_PERF_GLOBAL_CTRL 0x0',
      'perf.loadGuestLvtpc',
      `wrmsr X2APIC_LVTPC ${hex(PERF_GUEST_MEDIATED_PMI_VECTOR)}`,
      // Counters only where the hardware differs (it holds 0 after the put); selectors always.
      'rdpmc 0',
      'wrmsr IA32_PERFEVTSEL0 0x0',
      'rdpmc 1',
      `wrmsr IA32_PMC1 ${hex(0x100n + 10n)}`,
      `wrmsr IA32_PERFEVTSEL1 ${hex(INTEL_BRANCHES)}`,
      'rdpmc fixed0',
      'rdpmc fixed1',
      `wrmsr IA32_FIXED_CTR1 ${hex(1000n)}`,
      'rdpmc fixed2',
      // intel_mediated_pmu_load: status already equal (0), then FIXED_CTR_CTRL.
      'rdmsr IA32_PERF_GLOBAL_STATUS',
      'wrmsr IA32_FIXED_CTR_CTRL 0xb0',
      // VM-entry loads the guest's GLOBAL_CTRL from the VMCS.
      `vmcs GLOBAL_CTRL <- ${hex(0x3n | (2n << 32n))} (was 0x0)`,
    ]);
  });

  it('the guest LVTPC mask reaches the hardware LVTPC, nothing else of it', () => {
    const { host, vcpu } = setup('intel-sapphire-rapids');
    const cpu = host.cpus[0]!;
    for (const [guest, hw] of [
      [LVT.MASKED, PERF_GUEST_MEDIATED_PMI_VECTOR | LVT.MASKED], // reset value
      [PMI, PERF_GUEST_MEDIATED_PMI_VECTOR],
      [LVT.DM_NMI, PERF_GUEST_MEDIATED_PMI_VECTOR],
      [LVT.DM_NMI | LVT.MASKED | 0x33, PERF_GUEST_MEDIATED_PMI_VECTOR | LVT.MASKED],
    ] as const) {
      const seen = vcpu.run((g) => {
        g.wrmsr(MSR.X2APIC_LVTPC, BigInt(guest));
        return [cpu.rdmsr(MSR.X2APIC_LVTPC), g.rdmsr(MSR.X2APIC_LVTPC)];
      });
      assert.deepEqual(seen, [BigInt(hw), BigInt(guest)]);
      assert.equal(cpu.rdmsr(MSR.X2APIC_LVTPC), BigInt(LVT.DM_NMI));
    }
  });

  it('a counter write is elided only when the hardware already holds the value', () => {
    const { host, vcpu } = setup('intel-sapphire-rapids', { pmu: { gpCounters: 1 } });
    const rec = recorder(host);
    const cpu = host.cpus[0]!;
    // A host event holds GP counter 0 (with a value) until the guest is loaded.
    const ev = host.perf.open({ config: 0x00c4, excludeGuest: true, pinned: true }, { cpu: 0 });
    host.exec({ instructions: 1000, branches: 500 });
    assert.notEqual(cpu.rdpmc(0), 0n);
    const counterWrites = () => rec.log.filter((l) => l.startsWith('wrmsr IA32_PMC'));
    rec.clear();
    vcpu.run((g) => {
      // The guest's counter is 0 and the hardware held the host's count: written.
      assert.deepEqual(counterWrites(), ['wrmsr IA32_PMC0 0x0']);
      assert.equal(g.rdpmc(0), 0n);
      rec.clear();
      g.cpuid(0);
      // perf_put_guest_context gave counter 0 back to the host event, with its
      // value: the next load has to overwrite it again.
      assert.deepEqual(counterWrites(), ['wrmsr IA32_PMC0 0x0']);
    });
    assert.equal(ev.read().value, 500n);
    ev.close();
    rec.clear();
    vcpu.run((g) => {
      // Closing the event left its last count in the counter (perf only
      // disables it): the entry overwrote it.
      assert.deepEqual(counterWrites(), ['wrmsr IA32_PMC0 0x0']);
      rec.clear();
      // Nobody else uses the counter now: the hardware holds the guest's 0, no write.
      g.cpuid(0);
      assert.deepEqual(counterWrites(), []);
      g.wrmsr(MSR.IA32_PMC0, 5n); // passed through
      rec.clear();
      g.cpuid(0);
      // The put zeroes it, so the load must write 5 back.
      assert.deepEqual(counterWrites(), ['wrmsr IA32_PMC0 0x0', 'wrmsr IA32_PMC0 0x5']);
    });
  });

  it('GLOBAL_STATUS: saved and cleared at the put, restored with STATUS_SET (and stray bits cleared with OVF_CTRL) at the load', () => {
    const { host, vcpu } = setup('intel-sapphire-rapids', { pmu: { gpCounters: 2 } });
    const cpu = host.cpus[0]!;
    const rec = recorder(host);
    vcpu.run((g) => {
      g.wrmsr(MSR.IA32_PMC0, WRAP - 10n);
      g.wrmsr(MSR.IA32_PERFEVTSEL0, INTEL_INSTRUCTIONS); // no INT: status only
      g.exec({ instructions: 100 });
      assert.equal(cpu.rdmsr(MSR.IA32_PERF_GLOBAL_STATUS), 1n);
      rec.clear();
      // A stray status bit in hardware (say, a host counter's) before the next load.
      rec.enabled = false;
      const hook = vcpu.design.afterExit.bind(vcpu.design);
      vcpu.design.afterExit = () => {
        hook();
        cpu.wrmsr(MSR.IA32_PERF_GLOBAL_STATUS_SET, 1n << 1n);
        rec.enabled = true;
      };
      g.cpuid(0);
      vcpu.design.afterExit = hook;
      rec.enabled = true;
      const { load } = splitAtLoad(rec.log);
      assert.deepEqual(
        load.filter((l) => /STATUS|OVF/.test(l)),
        [
          'rdmsr IA32_PERF_GLOBAL_STATUS',
          'wrmsr IA32_PERF_GLOBAL_OVF_CTRL 0x2', // the stray bit goes
          'wrmsr IA32_PERF_GLOBAL_STATUS_SET 0x1', // the guest's comes back
        ],
      );
      assert.equal(cpu.rdmsr(MSR.IA32_PERF_GLOBAL_STATUS), 1n);
      assert.equal(g.rdmsr(MSR.IA32_PERF_GLOBAL_STATUS), 1n);
      rec.clear();
      g.cpuid(0);
      const { put: put2 } = splitAtLoad(rec.log);
      assert.deepEqual(
        put2.filter((l) => /STATUS|OVF/.test(l)),
        ['rdmsr IA32_PERF_GLOBAL_STATUS', 'wrmsr IA32_PERF_GLOBAL_OVF_CTRL 0x1'],
      );
      // The guest clears its status (intercepted on this host): no restore next time.
      g.wrmsr(MSR.IA32_PERF_GLOBAL_OVF_CTRL, 1n);
      assert.equal(cpu.rdmsr(MSR.IA32_PERF_GLOBAL_STATUS), 0n);
    });
    assert.equal(cpu.rdmsr(MSR.IA32_PERF_GLOBAL_STATUS), 0n);
    assert.equal(vcpu.pmu.globalStatus, 0n);
  });

  it('a passed-through GLOBAL_CTRL is saved at VM-exit and loaded at VM-entry (Skylake)', () => {
    const { host, vcpu } = setup('intel-skylake');
    const rec = recorder(host);
    const exits = () => vcpu.stats.exits;
    vcpu.run((g) => {
      const e0 = exits();
      g.wrmsr(MSR.IA32_PERF_GLOBAL_CTRL, 0x5n | (1n << 33n));
      assert.equal(exits(), e0, 'GLOBAL_CTRL is passed through');
      rec.clear();
      g.cpuid(0);
      assert.equal(vcpu.pmu.globalCtrl, 0x5n | (1n << 33n));
      assert.deepEqual(
        rec.log.filter((l) => l.startsWith('vmcs')),
        [
          `vmcs GLOBAL_CTRL <- 0x0 (was ${hex(0x5n | (1n << 33n))})`,
          `vmcs GLOBAL_CTRL <- ${hex(0x5n | (1n << 33n))} (was 0x0)`,
        ],
      );
      // KVM's emulated-instruction counting follows the saved value (counter 1 is off).
      g.wrmsr(MSR.IA32_PERFEVTSEL0, INTEL_INSTRUCTIONS);
      g.wrmsr(MSR.IA32_PERFEVTSEL0 + 1, INTEL_INSTRUCTIONS);
      g.execEmulated({ instructions: 4 });
      // + the two EVTSEL WRMSRs, counted by KVM after their handlers (the first enables counter 0).
      assert.deepEqual([g.rdpmc(0), g.rdpmc(1)], [4n + 2n, 0n]);
    });
  });

  it('the event filter in hardware: a denied GP event loses ENABLE, a denied fixed counter its field', () => {
    const { host, vcpu } = setup('intel-sapphire-rapids', { pmu: { gpCounters: 2 } });
    const cpu = host.cpus[0]!;
    const vm = host.kvm.vms[0]!;
    vm.setPmuEventFilter({ action: 'deny', events: [0xc4n], fixedCounterBitmap: 0b10 });
    vcpu.run((g) => {
      g.wrmsr(MSR.IA32_PERFEVTSEL0, INTEL_INSTRUCTIONS);
      g.wrmsr(MSR.IA32_PERFEVTSEL0 + 1, INTEL_BRANCHES);
      g.wrmsr(MSR.IA32_FIXED_CTR_CTRL, 0x333n);
      g.wrmsr(MSR.IA32_PERF_GLOBAL_CTRL, 0x3n | (7n << 32n));
      // What the guest reads is what it wrote; what the hardware has is filtered.
      assert.equal(g.rdmsr(MSR.IA32_PERFEVTSEL0 + 1), INTEL_BRANCHES);
      assert.equal(cpu.rdmsr(MSR.IA32_PERFEVTSEL0 + 1), INTEL_BRANCHES & ~EVTSEL.EN);
      assert.equal(cpu.rdmsr(MSR.IA32_PERFEVTSEL0), INTEL_INSTRUCTIONS);
      assert.equal(g.rdmsr(MSR.IA32_FIXED_CTR_CTRL), 0x333n);
      assert.equal(cpu.rdmsr(MSR.IA32_FIXED_CTR_CTRL), 0x303n);
      g.exec({ instructions: 1000, branches: 100 });
      assert.deepEqual(
        [0, 1].map((i) => g.rdmsr(MSR.IA32_PMC0 + i)),
        // 1000 + the 4 WRMSRs from counter 0's enabling one on + the 2 guest RDMSRs.
        [1000n + 6n, 0n],
      );
      assert.deepEqual(
        [0, 1, 2].map((j) => g.rdmsr(MSR.IA32_FIXED_CTR0 + j)),
        // Fixed 0 counts instructions from the GLOBAL_CTRL WRMSR that enables it:
        // that WRMSR, 2 RDMSRs, 1000, 2 RDMSRs. Ref cycles: the work's only.
        [1000n + 5n, 0n, 1000n],
      );
    });
    // Lifting the filter reprograms every counter (the next load has ENABLE and the field).
    vm.setPmuEventFilter({ action: 'deny', events: [] });
    vcpu.run((g) => {
      assert.equal(cpu.rdmsr(MSR.IA32_PERFEVTSEL0 + 1), INTEL_BRANCHES);
      assert.equal(cpu.rdmsr(MSR.IA32_FIXED_CTR_CTRL), 0x333n);
      g.exec({ instructions: 10, branches: 3 });
      assert.equal(g.rdmsr(MSR.IA32_PMC0 + 1), 3n);
    });
  });

  it('one put and one load per intercepted access; none for passed-through ones', () => {
    const { host, vcpu } = setup('intel-skylake');
    const rec = recorder(host);
    vcpu.run((g) => {
      rec.clear();
      g.wrmsr(MSR.IA32_PMC0, 5n);
      g.rdmsr(MSR.IA32_PERF_GLOBAL_STATUS);
      g.rdpmc(0);
      g.exec({ instructions: 100 });
      assert.deepEqual(
        rec.log.filter((l) => l.startsWith('perf.')),
        [],
      );
      g.wrmsr(MSR.IA32_PERFEVTSEL0, 0n);
      g.cpuid(0xa);
      const worldSwitch = [
        'perf.putGuestLvtpc',
        'perf.putGuestContext',
        'perf.loadGuestContext',
        'perf.loadGuestLvtpc',
      ];
      assert.deepEqual(
        rec.log.filter((l) => l.startsWith('perf.')),
        [...worldSwitch, ...worldSwitch],
      );
    });
  });
});

describe('kvm_mediated_pmu_load / _put: AMD', () => {
  it('put then load, in order, with the exact MSR sequence (PerfMonV2)', () => {
    const { host, vcpu } = setup('amd-zen4', { pmu: { gpCounters: 2 } });
    const rec = recorder(host);
    const { put, load } = vcpu.run((g) => {
      g.wrmsr(MSR.MSR_F15H_PERF_CTL0 + 2, AMD_INSTRUCTIONS);
      g.wrmsr(MSR.MSR_F15H_PERF_CTR0 + 2, WRAP - 10n);
      g.exec({ instructions: 100 }); // counter 1 wraps: status bit 1
      rec.clear();
      g.cpuid(0);
      return splitAtLoad(rec.log);
    });
    const hw1 = AMD_INSTRUCTIONS | EVTSEL.AMD_GUEST_ONLY;
    assert.deepEqual(put, [
      // Guest counts (2) differ from the host's (6): GLOBAL_CTL is intercepted, not read back.
      'wrmsr MSR_AMD64_PERF_CNTR_GLOBAL_CTL 0x0',
      'rdmsr MSR_AMD64_PERF_CNTR_GLOBAL_STATUS',
      'wrmsr MSR_AMD64_PERF_CNTR_GLOBAL_STATUS_CLR 0x2',
      'rdpmc 0',
      'rdpmc 1',
      'wrmsr MSR_F15H_PERF_CTR1 0x0',
      'wrmsr MSR_F15H_PERF_CTL1 0x0',
      'perf.putGuestLvtpc',
      `wrmsr X2APIC_LVTPC ${hex(LVT.DM_NMI)}`,
      'perf.putGuestContext',
    ]);
    assert.deepEqual(load, [
      'perf.loadGuestContext',
      'wrmsr MSR_AMD64_PERF_CNTR_GLOBAL_CTL 0x0',
      'perf.loadGuestLvtpc',
      `wrmsr X2APIC_LVTPC ${hex(PERF_GUEST_MEDIATED_PMI_VECTOR | LVT.MASKED)}`,
      'rdpmc 0',
      'wrmsr MSR_F15H_PERF_CTL0 0x0',
      'rdpmc 1',
      // WRAP - 10, +1 for the CTR1 WRMSR (it retires after its write), +100, +1
      // for the CPUID (kvm_skip_emulated_instruction, before the load): 0x5c.
      `wrmsr MSR_F15H_PERF_CTR1 ${hex(100n - 10n + 1n + 1n)}`,
      `wrmsr MSR_F15H_PERF_CTL1 ${hex(hw1)}`,
      // amd_mediated_pmu_load: clear what the hardware has (nothing), set the guest's, enable.
      'rdmsr MSR_AMD64_PERF_CNTR_GLOBAL_STATUS',
      'wrmsr MSR_AMD64_PERF_CNTR_GLOBAL_STATUS_SET 0x2',
      'wrmsr MSR_AMD64_PERF_CNTR_GLOBAL_CTL 0x3',
    ]);
  });

  it('a passed-through GLOBAL_CTL is read back at the exit (guest = host counts)', () => {
    const { host, vcpu } = setup('amd-zen4');
    const rec = recorder(host);
    vcpu.run((g) => {
      g.wrmsr(MSR.MSR_AMD64_PERF_CNTR_GLOBAL_CTL, 0x21n);
      rec.clear();
      g.cpuid(0);
      assert.deepEqual(rec.log.slice(0, 2), [
        'rdmsr MSR_AMD64_PERF_CNTR_GLOBAL_CTL',
        'wrmsr MSR_AMD64_PERF_CNTR_GLOBAL_CTL 0x0',
      ]);
      assert.equal(vcpu.pmu.globalCtrl, 0x21n);
      assert.equal(g.rdmsr(MSR.MSR_AMD64_PERF_CNTR_GLOBAL_CTL), 0x21n);
    });
  });

  it('KVM forces GuestOnly (and clears HostOnly) in eventsel_hw: a loaded counter ignores host-mode work', () => {
    const { host, vcpu } = setup('amd-zen4');
    const cpu = host.cpus[0]!;
    vcpu.run((g) => {
      g.wrmsr(MSR.MSR_F15H_PERF_CTL0, AMD_INSTRUCTIONS | EVTSEL.AMD_HOST_ONLY);
      // The guest's view: reserved bits (HostOnly, GuestOnly) are dropped.
      assert.equal(g.rdmsr(MSR.MSR_F15H_PERF_CTL0), AMD_INSTRUCTIONS);
      assert.equal(cpu.rdmsr(MSR.MSR_F15H_PERF_CTL0), AMD_INSTRUCTIONS | EVTSEL.AMD_GUEST_ONLY);
      g.exec({ instructions: 100 });
      // The window between VM-exit and the put: host mode, guest state still loaded.
      cpu.guestMode = false;
      cpu.retire({ instructions: 5000, cpl: 0 });
      cpu.guestMode = true;
      // + the enabling WRMSR and the RDMSR, each retired once.
      assert.equal(g.rdpmc(0), 100n + 2n);
    });
  });

  // kvm_mediated_pmu_refresh_event_filter on AMD: is_gp_event_allowed compares
  // AMD64_EVENTSEL_EVENT (bits 7:0 and 35:32), so denying 0x1C2 takes ENABLE
  // from a 0x1C2 selector only, never from 0x0C2 (KVM selftest
  // pmu_event_filter_test.c, test_amd_deny_list, in hardware terms).
  it('the event filter in hardware: a 12-bit select denied loses ENABLE, its low byte alone does not', () => {
    const { host, vcpu } = setup('amd-zen4', { pmu: { gpCounters: 2 } });
    const cpu = host.cpus[0]!;
    const branches = 0xc2n | COUNT_ALL;
    const branchesHi = branches | (1n << 32n); // event select 0x1C2
    host.kvm.vms[0]!.setPmuEventFilter({
      action: 'deny',
      events: [0xc2n | (1n << 32n)], // RAW_EVENT(0x1C2, 0)
    });
    vcpu.run((g) => {
      g.wrmsr(MSR.MSR_F15H_PERF_CTL0, branches);
      g.wrmsr(MSR.MSR_F15H_PERF_CTL0 + 2, branchesHi);
      assert.equal(
        g.rdmsr(MSR.MSR_F15H_PERF_CTL0 + 2),
        branchesHi,
        'the guest reads what it wrote',
      );
      assert.equal(cpu.rdmsr(MSR.MSR_F15H_PERF_CTL0) & EVTSEL.EN, EVTSEL.EN, '0x0C2 allowed');
      assert.equal(cpu.rdmsr(MSR.MSR_F15H_PERF_CTL0 + 2) & EVTSEL.EN, 0n, '0x1C2 denied');
      // Only ENABLE goes: the select, both nibbles, and the umask reach the hardware.
      assert.equal(cpu.rdmsr(MSR.MSR_F15H_PERF_CTL0 + 2) & 0xf_0000_ffffn, 0x1_0000_00c2n);
    });
  });
});

describe('mediated PMIs (docs/mediated-vpmu.md 3.3)', () => {
  /** A guest counter that overflows after `n` instructions, with INT, and an unmasked LVTPC. */
  function armOverflow(g: GuestCpu, intel: boolean, n: bigint, lvtpc: number = PMI): void {
    g.wrmsr(MSR.X2APIC_LVTPC, BigInt(lvtpc));
    if (intel) {
      g.wrmsr(MSR.IA32_PMC0, WRAP - n);
      g.wrmsr(MSR.IA32_PERFEVTSEL0, INTEL_INSTRUCTIONS | EVTSEL.INT);
    } else {
      g.wrmsr(MSR.MSR_F15H_PERF_CTR0, WRAP - n);
      g.wrmsr(MSR.MSR_F15H_PERF_CTL0, AMD_INSTRUCTIONS | EVTSEL.INT);
    }
  }

  for (const cpuName of ['intel-sapphire-rapids', 'amd-zen4'] as const) {
    const intel = cpuName.startsWith('intel');
    it(`${cpuName}: overflow -> 0xF5 exit -> KVM_REQ_PMI -> injected on the guest's vector, at the overflow`, () => {
      const { host, vcpu } = setup(cpuName);
      const log: string[] = [];
      vcpu.run((g) => {
        g.onInterrupt(PMI, () => log.push(`pmi at ${g.rdpmc(0)}`));
        armOverflow(g, intel, 300n);
        const before = { ...vcpu.stats.exitReasons };
        g.exec({ instructions: 1000 });
        log.push(`exec returned at ${g.rdpmc(0)}`);
        assert.equal(
          (vcpu.stats.exitReasons.EXTERNAL_INTERRUPT ?? 0) - (before.EXTERNAL_INTERRUPT ?? 0),
          1,
        );
      });
      // The handler ran inside exec, when the counter had just wrapped.
      // WRAP - 300, +1 for the enabling WRMSR: the wrap is 299 in; the handler's
      // RDPMC retires after reading 0; 701 more follow.
      assert.deepEqual(log, ['pmi at 0', `exec returned at ${1 + 701}`]);
      assert.equal(vcpu.stats.pmis, 1);
      assert.equal(host.perfExports.mediatedPmis[0], 1);
      // The 0xF5 handler EOIs the host LAPIC; perf's NMI handler saw nothing.
      assert.equal(host.cpus[0]!.lapic.eois, 1);
      assert.equal(host.cpus[0]!.interruptsDelivered.nmi, 0);
    });

    it(`${cpuName}: ${intel ? 'Intel masks LVTPC on delivery: no second PMI until the guest unmasks' : 'AMD does not mask LVTPC on delivery'}`, () => {
      const { vcpu } = setup(cpuName);
      const pmis: bigint[] = [];
      vcpu.run((g) => {
        g.onInterrupt(PMI, () => pmis.push(g.rdmsr(MSR.X2APIC_LVTPC)));
        armOverflow(g, intel, 100n);
        g.exec({ instructions: 100 });
        // Overflow again.
        g.wrmsr(intel ? MSR.IA32_PMC0 : MSR.MSR_F15H_PERF_CTR0, WRAP - 100n);
        g.exec({ instructions: 100 });
        if (intel) {
          assert.equal(pmis.length, 1);
          g.wrmsr(MSR.X2APIC_LVTPC, BigInt(PMI)); // the handler's late unmask
          g.wrmsr(MSR.IA32_PMC0, WRAP - 100n);
          g.exec({ instructions: 100 });
        }
      });
      const masked = BigInt(PMI | LVT.MASKED);
      assert.deepEqual(pmis, intel ? [masked, masked] : [BigInt(PMI), BigInt(PMI)]);
      assert.equal(vcpu.stats.pmis, 2);
    });

    it(`${cpuName}: a masked guest LVTPC: the overflow sets status but raises nothing, no exit`, () => {
      const { host, vcpu } = setup(cpuName);
      let handled = 0;
      vcpu.run((g) => {
        g.onInterrupt(PMI, () => handled++);
        armOverflow(g, intel, 10n, PMI | LVT.MASKED);
        const e0 = vcpu.stats.exits;
        g.exec({ instructions: 100 });
        assert.equal(vcpu.stats.exits, e0);
        const status = g.rdmsr(
          intel ? MSR.IA32_PERF_GLOBAL_STATUS : MSR.MSR_AMD64_PERF_CNTR_GLOBAL_STATUS,
        );
        assert.equal(status & 1n, 1n);
      });
      assert.equal(handled, 0);
      assert.equal(vcpu.stats.pmis, 0);
      assert.equal(host.perfExports.mediatedPmis[0], 0);
      assert.equal(host.cpus[0]!.interruptsDelivered.masked, 1);
    });

    it(`${cpuName}: a guest LVTPC in NMI mode gets its PMI as an NMI (vector 2)`, () => {
      const { vcpu } = setup(cpuName);
      const log: string[] = [];
      vcpu.run((g) => {
        g.onInterrupt(2, () => log.push('nmi'));
        g.onInterrupt(PMI, () => log.push('vector'));
        armOverflow(g, intel, 10n, LVT.DM_NMI);
        g.exec({ instructions: 100 });
      });
      assert.deepEqual(log, ['nmi']);
    });
  }

  it('an emulated-instruction overflow is a software PMI: no 0xF5, still injected', () => {
    const { host, vcpu } = setup('intel-skylake');
    let n = 0;
    vcpu.run((g) => {
      g.onInterrupt(PMI, () => n++);
      armOverflow(g, true, 2n);
      g.execEmulated({ instructions: 3 });
      // WRAP - 2, +1 for the enabling WRMSR, then 3: wrap at the first, 2 after.
      assert.equal(g.rdpmc(0), 2n);
      assert.equal(g.rdmsr(MSR.IA32_PERF_GLOBAL_STATUS), 1n);
    });
    assert.equal(n, 1);
    assert.equal(host.perfExports.mediatedPmis[0], 0);
  });

  it("perf's NMI handler stands aside while the guest LVTPC is loaded", () => {
    const { host, vcpu } = setup('intel-sapphire-rapids');
    const x86 = host.perfCore.x86!;
    vcpu.run(() => {
      assert.equal(x86.isGuestLvtpcLoaded(0), true);
      assert.equal(x86.handleIrq(0), false);
    });
    assert.equal(x86.isGuestLvtpcLoaded(0), false);
  });
});

describe('the passthrough-all ablation (not upstream)', () => {
  it('selectors reach the hardware unfiltered: the event filter no longer holds', () => {
    const { host, vcpu } = setup('intel-skylake', { design: 'passthrough-all' });
    host.kvm.vms[0]!.setPmuEventFilter({ action: 'deny', events: [0xc0n] });
    const counted = vcpu.run((g) => {
      const e0 = vcpu.stats.exits;
      g.wrmsr(MSR.IA32_PERFEVTSEL0, INTEL_INSTRUCTIONS);
      assert.equal(vcpu.stats.exits, e0);
      g.exec({ instructions: 100 });
      return g.rdpmc(0);
    });
    // + the passed-through enabling WRMSR, retired by the hardware after its write.
    assert.equal(counted, 100n + 1n);
    // The put still leaves nothing behind.
    assert.equal(host.cpus[0]!.rdmsr(MSR.IA32_PERFEVTSEL0), 0n);
    assert.equal(host.cpus[0]!.rdpmc(0), 0n);
  });
});
