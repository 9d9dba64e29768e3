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

  it('a VM without an in-kernel LAPIC has no PMU, on either design', () => {
    for (const enableMediatedPmu of [false, true]) {
      const host = createHost({ cpu: 'intel-sapphire-rapids', kvm: { enableMediatedPmu } });
      const vm = host.kvm.createVm({ lapic: false });
      assert.equal(vm.design, 'none');
      const a = vm.createVcpu().run((g) => g.cpuid(0xa));
      assert.equal(a.eax & 0xff, 0, 'CPUID 0xA version 0');
    }
  });
});
