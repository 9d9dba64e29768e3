/**
 * Hosts before Sapphire Rapids lack the VM-exit control "save
 * IA32_PERF_GLOBAL_CTRL". Upstream commit d374b89edbb9 ("KVM: VMX: Support
 * the mediated PMU on CPUs without VM_EXIT_SAVE_IA32_PERF_GLOBAL_CTRL" in
 * arch/x86/kvm/vmx/vmx.c) makes KVM, on such CPUs only
 * (!cpu_has_save_perf_global_ctrl() in vmx_recalc_pmu_msr_intercepts), put
 * GLOBAL_CTRL in the VM-exit MSR-store list of every mediated vCPU; while
 * GLOBAL_CTRL is passed through, vmx_refresh_guest_perf_global_control copies
 * the stored value to pmu->global_ctrl and VMWRITEs it to the VMCS guest
 * field, so the next VM-entry loads what the guest last wrote. The guest sees
 * the same as with the VMCS control: a WRMSR it made without an exit survives
 * any number of exits.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MSR, type CpuModelName } from '../../src/index.ts';
import { EVENTSEL, hostFor, rawEvent, vmFor, type Config } from './helpers.ts';

const INSTRUCTIONS = rawEvent(0xc0, 0);

function mediated(cpu: CpuModelName): Config {
  return { cpu, vendor: 'intel', design: 'mediated', label: `${cpu}/mediated` };
}

/** cpu_has_save_perf_global_ctrl(): false before Sapphire Rapids (commit d374b89edbb9 names Skylake and Ice Lake). */
/**
 * passedThrough: GLOBAL_CTRL is intercepted unless the guest has every
 * hardware counter (kvm_need_perf_global_ctrl_intercept); 7.0 gives a guest 3
 * fixed counters, so only Skylake's (4 GP, 3 fixed) is passed through.
 */
const CASES: readonly {
  cpu: CpuModelName;
  save: 'msr-store-list' | 'vmcs-field';
  passedThrough: boolean;
}[] = [
  { cpu: 'intel-skylake', save: 'msr-store-list', passedThrough: true },
  { cpu: 'intel-icelake', save: 'msr-store-list', passedThrough: false },
  { cpu: 'intel-sapphire-rapids', save: 'vmcs-field', passedThrough: false },
  { cpu: 'intel-emerald-rapids', save: 'vmcs-field', passedThrough: false },
];

for (const { cpu, save, passedThrough } of CASES) {
  const c = mediated(cpu);
  describe(`VM-exit saves the guest's GLOBAL_CTRL on ${c.label}`, () => {
    it(`through the ${save} (vmx_recalc_pmu_msr_intercepts)`, () => {
      const vcpu = vmFor(hostFor(c), c).createVcpu();
      assert.equal(vcpu.globalCtrlSave, save);
    });

    it(`a GLOBAL_CTRL write (${passedThrough ? 'passed through' : 'intercepted'}) survives exits (vmx_refresh_guest_perf_global_control)`, () => {
      const vcpu = vmFor(hostFor(c), c).createVcpu();
      vcpu.run((g) => {
        g.wrmsr(MSR.IA32_PERFCTR0, 0n);
        g.wrmsr(MSR.IA32_PERFEVTSEL0, EVENTSEL.OS | EVENTSEL.USR | EVENTSEL.ENABLE | INSTRUCTIONS);
        g.wrmsr(MSR.IA32_PERF_GLOBAL_CTRL, 0n);
        const exitsBefore = vcpu.stats.exits;
        g.wrmsr(MSR.IA32_PERF_GLOBAL_CTRL, 0b101n);
        assert.equal(vcpu.stats.exits - exitsBefore, passedThrough ? 0 : 1);
        const before = g.rdpmc(0);
        g.cpuid(0);
        g.cpuid(0);
        assert.equal(g.rdmsr(MSR.IA32_PERF_GLOBAL_CTRL), 0b101n);
        // Counter 0 stayed enabled across the exits: it counted both CPUIDs
        // (kvm_pmu_instruction_retired) and the RDMSR and RDPMC.
        assert.ok(g.rdpmc(0) - before >= 3n);
        g.wrmsr(MSR.IA32_PERF_GLOBAL_CTRL, 0n);
        g.cpuid(0);
        const stopped = g.rdpmc(0);
        g.cpuid(0);
        assert.equal(g.rdpmc(0), stopped, 'disabled through GLOBAL_CTRL, still after exits');
      });
    });
  });
}
