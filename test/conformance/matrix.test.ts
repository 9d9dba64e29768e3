/**
 * The conformance matrix itself: which design each model x enable_mediated_pmu
 * gives (docs/mediated-vpmu.md 4.1). The ported suites rely on it through
 * helpers.vmFor, which checks vm.design for every VM they create.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createHost } from '../../src/index.ts';
import { CONFIGS, NON_QUALIFYING } from './helpers.ts';

describe('the model x design matrix', () => {
  for (const c of CONFIGS) {
    it(`${c.label}: enable_mediated_pmu=${c.design === 'mediated'} gives ${c.design} VMs`, () => {
      const host = createHost({ cpu: c.cpu, kvm: { enableMediatedPmu: c.design === 'mediated' } });
      assert.equal(host.kvm.params.enableMediatedPmu, c.design === 'mediated');
      const vm = host.kvm.createVm();
      assert.equal(vm.design, c.design);
      vm.createVcpu();
      // The mediated PMU is taken at the first vCPU (sticky) and released once at destroy.
      assert.equal(vm.mediatedPmu, c.design === 'mediated');
      assert.equal(host.perf.nrMediatedPmuVms, c.design === 'mediated' ? 1 : 0);
      vm.destroy();
      assert.equal(host.perf.nrMediatedPmuVms, 0);
    });
  }

  for (const cpu of NON_QUALIFYING) {
    it(`${cpu} does not qualify: enable_mediated_pmu is forced off and VMs get the emulated design`, () => {
      const host = createHost({ cpu, kvm: { enableMediatedPmu: true } });
      assert.equal(host.kvm.params.enableMediatedPmu, false);
      assert.ok(
        host.dmesg.some((l) => l.includes('mediated vPMU disabled')),
        host.dmesg.join('\n'),
      );
      assert.equal(host.kvm.createVm().design, 'emulated');
    });
  }

  // intel_pmu_init() marks every Intel core PMU PERF_PMU_CAP_MEDIATED_VPMU;
  // amd_core_pmu_init() only with PerfMonV2. KVM's prerequisites (Intel v4+ with
  // full-width writes: intel_pmu_is_mediated_pmu_supported) are its own check.
  it("perf's capability is the driver's; KVM's prerequisites are separate (Haswell: capable PMU, no mediated vPMU)", () => {
    for (const [cpu, capable] of [
      ['intel-haswell', true],
      ['intel-skylake', true],
      ['amd-zen3', false],
      ['amd-zen4', true],
    ] as const) {
      const host = createHost({ cpu, kvm: { enableMediatedPmu: true } });
      const core = host.perf.pmus.find((p) => p.name === 'cpu')!;
      assert.equal(core.capabilities.includes('MEDIATED_VPMU'), capable, cpu);
      // The include-guest accounting follows the PMU capability.
      const e = host.perf.open({ config: 'instructions' }, { cpu: 0 });
      assert.equal(host.perf.nrIncludeGuestEvents, capable ? 1 : 0, cpu);
      e.close();
    }
    const haswell = createHost({ cpu: 'intel-haswell', kvm: { enableMediatedPmu: true } });
    assert.equal(haswell.kvm.params.enableMediatedPmu, false);
    assert.ok(haswell.dmesg.some((l) => l.includes('needs version 4+ with full-width')));
  });

  // kvm_arch_vcpu_precreate (arch/x86/kvm/x86.c): with enable_mediated_pmu and
  // no irqchip_in_kernel(), kvm->arch.enable_pmu = false instead of creating the
  // mediated PMU; without enable_mediated_pmu nothing changes.
  it('a VM without an in-kernel LAPIC loses its PMU only with the mediated vPMU', () => {
    for (const enableMediatedPmu of [false, true]) {
      const host = createHost({ cpu: 'intel-sapphire-rapids', kvm: { enableMediatedPmu } });
      const vm = host.kvm.createVm({ lapic: false });
      const a = vm.createVcpu().run((g) => g.cpuid(0xa));
      assert.equal(vm.design, enableMediatedPmu ? 'none' : 'emulated');
      assert.equal(a.eax & 0xff, enableMediatedPmu ? 0 : 2, 'CPUID 0xA version');
    }
  });
});
