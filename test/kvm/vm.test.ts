/**
 * A VM's PMU lifecycle (docs/mediated-vpmu.md 4.1; arch/x86/kvm/x86.c,
 * virt/kvm/kvm_main.c): the mediated PMU is created by the first vCPU, is
 * sticky, fails with EBUSY (and KVM's advice in dmesg) while include-guest
 * events exist, and is released once when the VM is destroyed; no in-kernel
 * LAPIC means no PMU; KVM_CAP_PMU_CAPABILITY only before the first vCPU.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KvmError, PerfError } from '../../src/common/errors.ts';
import { CPU_MODELS, type CpuModel, type CpuModelName } from '../../src/hw/cpu-models.ts';
import { EVTSEL, MSR } from '../../src/hw/msr.ts';
import type { GuestPmuConfig } from '../../src/kvm/pmu-types.ts';
import type { VcpuImpl } from '../../src/kvm/vcpu.ts';
import { MEDIATED_PMU_EBUSY_MESSAGE } from '../../src/kvm/vm-pmu-lifecycle.ts';
import type { KvmVm } from '../../src/kvm/vm.ts';
import { HostMachine, type HostOptions } from '../../src/sim/host.ts';

function mediatedHost(
  cpu: CpuModelName = 'intel-sapphire-rapids',
  extra: HostOptions = {},
): HostMachine {
  return new HostMachine({ cpu, kvm: { enableMediatedPmu: true }, ...extra });
}

function kvmError(errno: string): (e: unknown) => boolean {
  return (e: unknown) => e instanceof KvmError && e.errno === errno;
}

/** A vCPU configuration KVM rejects after kvm_arch_vcpu_precreate (the vCPU creation fails). */
const BAD_PMU = { version: -1 } as unknown as Partial<GuestPmuConfig>;

function warnings(host: HostMachine): string[] {
  return host.dmesg.filter((l) => /WARN/.test(l));
}

describe('VM lifecycle: the mediated PMU', () => {
  it('is created by the first vCPU, not by the VM, and only once per VM', () => {
    const host = mediatedHost();
    const vm = host.kvm.createVm();
    assert.equal(vm.design, 'mediated');
    assert.equal(vm.mediatedPmu, false);
    assert.equal(host.perf.nrMediatedPmuVms, 0);
    vm.createVcpu();
    assert.equal(vm.mediatedPmu, true);
    assert.equal(host.perf.nrMediatedPmuVms, 1);
    vm.createVcpu();
    vm.createVcpu({ pmu: { gpCounters: 2 } });
    assert.equal(host.perf.nrMediatedPmuVms, 1);
    const other = host.kvm.createVm();
    other.createVcpu();
    assert.equal(host.perf.nrMediatedPmuVms, 2);
  });

  it('is released once on destroy (a second destroy is a no-op, no WARN)', () => {
    const host = mediatedHost();
    const a = host.kvm.createVm();
    const b = host.kvm.createVm();
    a.createVcpu();
    b.createVcpu();
    a.destroy();
    assert.equal(host.perf.nrMediatedPmuVms, 1);
    a.destroy();
    assert.equal(host.perf.nrMediatedPmuVms, 1);
    b.destroy();
    assert.equal(host.perf.nrMediatedPmuVms, 0);
    assert.deepEqual(warnings(host), []);
    // A VM that never created a vCPU holds nothing to release.
    host.kvm.createVm().destroy();
    assert.equal(host.perf.nrMediatedPmuVms, 0);
    assert.deepEqual(warnings(host), []);
  });

  it('is sticky: a vCPU creation failing after it was created does not undo it', () => {
    const host = mediatedHost();
    const vm = host.kvm.createVm() as KvmVm;
    assert.throws(() => vm.createVcpu({ pmu: BAD_PMU }), kvmError('EINVAL'));
    assert.equal(vm.vcpus.length, 0);
    assert.equal(vm.mediatedPmu, true);
    assert.equal(host.perf.nrMediatedPmuVms, 1);
    // ... so the PMU can no longer be disabled,
    assert.throws(() => vm.disablePmu(), kvmError('EINVAL'));
    // and the next vCPU does not create it again.
    vm.createVcpu();
    assert.equal(host.perf.nrMediatedPmuVms, 1);
    vm.destroy();
    assert.equal(host.perf.nrMediatedPmuVms, 0);
    assert.deepEqual(warnings(host), []);
  });

  it('a failed vCPU creation is not counted as created (kvm_vm_ioctl_create_vcpu: vcpu_decrement)', () => {
    // Without a mediated PMU nothing is sticky: the PMU can still be disabled.
    const host = new HostMachine({ cpu: 'intel-sapphire-rapids' });
    const vm = host.kvm.createVm();
    assert.throws(() => vm.createVcpu({ pmu: BAD_PMU }), kvmError('EINVAL'));
    vm.disablePmu();
    assert.equal(vm.design, 'none');
  });

  it('EBUSY while an include-guest event exists: KvmError -16, KVM advice in dmesg, nothing created', () => {
    const host = mediatedHost();
    const ev = host.perf.open({ config: 'cycles' }, { cpu: 0 }); // exclude_guest = 0
    assert.equal(host.perf.nrIncludeGuestEvents, 1);
    const vm = host.kvm.createVm();
    let error: unknown = null;
    try {
      vm.createVcpu();
    } catch (e) {
      error = e;
    }
    assert.ok(error instanceof KvmError);
    assert.equal(error.errno, 'EBUSY');
    assert.equal(error.code, -16);
    assert.ok(host.dmesg.includes(MEDIATED_PMU_EBUSY_MESSAGE));
    assert.match(MEDIATED_PMU_EBUSY_MESSAGE, /nmi_watchdog/);
    assert.equal(vm.mediatedPmu, false);
    assert.equal(host.perf.nrMediatedPmuVms, 0);
    // Once the event is gone the VM gets its mediated PMU.
    ev.close();
    vm.createVcpu();
    assert.equal(vm.mediatedPmu, true);
    // And while it holds it, include-guest events are refused; exclude_guest ones are fine.
    assert.throws(
      () => host.perf.open({ config: 'cycles' }, { cpu: 0 }),
      (e: unknown) => e instanceof PerfError && e.errno === 'EOPNOTSUPP',
    );
    host.perf.open({ config: 'cycles', excludeGuest: true }, { cpu: 0 }).close();
    vm.destroy();
    host.perf.open({ config: 'cycles' }, { cpu: 0 }).close();
  });

  it('the NMI watchdog (a pinned include-guest event per CPU) makes every mediated VM fail with EBUSY', () => {
    const host = mediatedHost('amd-zen4', { nmiWatchdog: true, cpus: 2 });
    const vm = host.kvm.createVm();
    assert.throws(() => vm.createVcpu(), kvmError('EBUSY'));
    assert.throws(() => vm.createVcpu({ hostCpu: 1 }), kvmError('EBUSY'));
    assert.equal(host.dmesg.filter((l) => l === MEDIATED_PMU_EBUSY_MESSAGE).length, 2);
    // The failed precreate counted no vCPU: the VMM may still disable the PMU and go on.
    vm.disablePmu();
    const vcpu = vm.createVcpu() as VcpuImpl;
    assert.equal(vm.design, 'none');
    assert.equal(
      vcpu.run((g) => g.cpuid(0x80000022).eax),
      0,
    );
    // Stopping the watchdog lets a new VM have its mediated PMU.
    for (const e of host.watchdogEvents) e.close();
    const vm2 = host.kvm.createVm();
    vm2.createVcpu();
    assert.equal(vm2.mediatedPmu, true);
  });
});

describe('VM lifecycle: no PMU', () => {
  // kvm_arch_vcpu_precreate: without irqchip_in_kernel() the mediated vPMU turns
  // the VM's PMU off (no perf_create_mediated_pmu, so no EBUSY); the legacy
  // design keeps it (see test/conformance/matrix.test.ts).
  for (const [cpu, mediated] of [
    ['intel-sapphire-rapids', true],
    ['amd-zen4', true],
  ] as const) {
    it(`${cpu}${mediated ? ' (mediated)' : ''}: no in-kernel LAPIC, no PMU: version 0, no mediated PMU, no EBUSY`, () => {
      const host = new HostMachine({ cpu, kvm: { enableMediatedPmu: mediated } });
      host.perf.open({ config: 'instructions' }, { cpu: 0 }); // include-guest: would make EBUSY
      const vm = host.kvm.createVm({ lapic: false });
      const vcpu = vm.createVcpu() as VcpuImpl;
      assert.equal(vm.design, 'none');
      assert.equal(vm.mediatedPmu, false);
      assert.equal(host.perf.nrMediatedPmuVms, 0);
      assert.equal(vcpu.pmu.version, 0);
      const intel = cpu.startsWith('intel');
      vcpu.run((g) => {
        if (intel) {
          assert.equal(g.cpuid(0xa).eax, 0);
          assert.equal(g.cpuid(0xa).edx, 0);
          // Legacy perf MSRs read 0 and drop writes; the rest #GP; RDPMC #GP.
          assert.equal(g.rdmsr(MSR.IA32_PERFCTR0), 0n);
          g.wrmsr(MSR.IA32_PERFEVTSEL0, 0xc0n | EVTSEL.EN);
          assert.equal(g.rdmsr(MSR.IA32_PERFEVTSEL0), 0n);
          assert.throws(() => g.rdmsr(MSR.IA32_PMC0));
          assert.throws(() => g.rdmsr(MSR.IA32_PERF_GLOBAL_CTRL));
        } else {
          assert.equal(g.cpuid(0x80000022).eax, 0);
          assert.equal(g.cpuid(0x80000001).ecx & (1 << 23), 0);
          assert.equal(g.rdmsr(MSR.MSR_K7_PERFCTR0), 0n);
          assert.throws(() => g.rdmsr(MSR.MSR_F15H_PERF_CTR0));
        }
        assert.throws(() => g.rdpmc(0));
        const before = vcpu.stats.exits;
        g.exec({ instructions: 100 });
        assert.equal(vcpu.stats.exits, before);
      });
      assert.equal(vcpu.intercepts.passthrough.size, 0);
      vm.destroy();
    });
  }

  it('KVM_CAP_PMU_CAPABILITY(DISABLE): before the first vCPU only, else EINVAL', () => {
    for (const mediated of [true, false]) {
      const host = new HostMachine({ cpu: 'intel-skylake', kvm: { enableMediatedPmu: mediated } });
      const vm = host.kvm.createVm();
      vm.disablePmu();
      assert.equal(vm.design, 'none');
      const vcpu = vm.createVcpu() as VcpuImpl;
      assert.equal(vm.mediatedPmu, false);
      assert.equal(host.perf.nrMediatedPmuVms, 0);
      assert.equal(
        vcpu.run((g) => g.cpuid(0xa).eax & 0xff),
        0,
      );
      assert.throws(() => vm.disablePmu(), kvmError('EINVAL'));

      const late = host.kvm.createVm();
      late.createVcpu();
      assert.throws(() => late.disablePmu(), kvmError('EINVAL'));
      assert.equal(late.design, mediated ? 'mediated' : 'emulated');
    }
  });

  it('enable_pmu=0: every VM has no PMU', () => {
    const host = new HostMachine({
      cpu: 'amd-zen4',
      kvm: { enablePmu: false, enableMediatedPmu: true },
    });
    assert.deepEqual(
      { ...host.kvm.params },
      { enablePmu: false, enableMediatedPmu: false, series: 'linux-7.0' },
    );
    const vm = host.kvm.createVm();
    assert.equal(vm.design, 'none');
    // kvm_vm_ioctl_enable_cap: KVM_CAP_PMU_CAPABILITY is -EINVAL when !enable_pmu.
    assert.throws(() => vm.disablePmu(), kvmError('EINVAL'));
    vm.createVcpu();
    assert.equal(host.perf.nrMediatedPmuVms, 0);
  });
});

describe('VM lifecycle: which design', () => {
  it('enable_mediated_pmu is off by default: perf-emulated VMs, no accounting', () => {
    const host = new HostMachine({ cpu: 'intel-sapphire-rapids' });
    assert.equal(host.kvm.params.enableMediatedPmu, false);
    const vm = host.kvm.createVm();
    assert.equal(vm.design, 'emulated');
    host.perf.open({ config: 'cycles' }, { cpu: 0 }); // include-guest coexists
    vm.createVcpu();
    assert.equal(vm.mediatedPmu, false);
    assert.equal(host.perf.nrMediatedPmuVms, 0);
  });

  for (const [cpu, kconfig, why] of [
    ['amd-zen3', true, /PerfMonV2/],
    ['intel-haswell', true, /version 4/],
    ['intel-sapphire-rapids', false, /CONFIG_PERF_GUEST_MEDIATED_PMU/],
  ] as const) {
    it(`${cpu}${kconfig ? '' : ' without the Kconfig'}: enable_mediated_pmu is forced off, with a notice`, () => {
      const host = new HostMachine({
        cpu,
        kvm: { enableMediatedPmu: true },
        kconfig: { PERF_GUEST_MEDIATED_PMU: kconfig },
      });
      assert.equal(host.kvm.params.enableMediatedPmu, false);
      assert.ok(
        host.dmesg.some((l) => /enable_mediated_pmu forced off/.test(l) && why.test(l)),
        host.dmesg.join('\n'),
      );
      const vm = host.kvm.createVm();
      assert.equal(vm.design, 'emulated');
      vm.createVcpu();
      assert.equal(vm.mediatedPmu, false);
      if (!kconfig) assert.equal(typeof host.perf.createMediatedPmu, 'undefined');
    });
  }
});

describe('VM: the event filter and the end of the VM', () => {
  it('a filter set before the vCPUs applies to them; one set later reprograms the existing ones', () => {
    const host = mediatedHost('intel-skylake');
    const vm = host.kvm.createVm();
    vm.setPmuEventFilter({ action: 'deny', events: [0xc0n] });
    const vcpu = vm.createVcpu() as VcpuImpl;
    const sel = 0xc0n | EVTSEL.EN | EVTSEL.OS | EVTSEL.USR;
    const count = () =>
      vcpu.run((g) => {
        g.wrmsr(MSR.IA32_PMC0, 0n);
        g.wrmsr(MSR.IA32_PERFEVTSEL0, sel);
        g.exec({ instructions: 100 });
        return g.rdmsr(MSR.IA32_PMC0);
      });
    assert.equal(count(), 0n);
    vm.setPmuEventFilter({ action: 'allow', events: [0xc0n] });
    // The selector is still enabled from the first run: the PMC0 WRMSR (retired
    // after its write) and the EVTSEL WRMSR count too (kvm_skip_emulated_instruction).
    assert.equal(count(), 100n + 2n);
    // A bad filter is refused and leaves the one in force.
    assert.throws(
      () => vm.setPmuEventFilter({ action: 'deny', events: [], flags: 2 }),
      kvmError('EINVAL'),
    );
    assert.throws(
      () => vm.setPmuEventFilter({ action: 'deny', events: new Array<bigint>(301).fill(0n) }),
      kvmError('E2BIG'),
    );
    assert.equal(count(), 100n + 2n);
  });

  // kvm_arch_vm_ioctl hands KVM_SET_PMU_EVENT_FILTER to
  // kvm_vm_ioctl_set_pmu_event_filter, which checks only the struct it copied:
  // neither enable_pmu nor the VM's KVM_CAP_PMU_CAPABILITY is consulted, so a VM
  // without a PMU takes a filter (and still refuses a bad one) like any other.
  it('a VM without a PMU (enable_pmu=0, or KVM_CAP_PMU_CAPABILITY(DISABLE)) takes a filter, and refuses a bad one', () => {
    const noPmuHost = new HostMachine({ cpu: 'amd-zen4', kvm: { enablePmu: false } });
    const disabledHost = mediatedHost('intel-skylake');
    const vms = [noPmuHost.kvm.createVm(), disabledHost.kvm.createVm()];
    vms[1]!.disablePmu();
    for (const vm of vms) {
      assert.equal(vm.design, 'none');
      vm.setPmuEventFilter({ action: 'deny', events: [0xc0n], fixedCounterBitmap: 1 });
      const vcpu = vm.createVcpu();
      vm.setPmuEventFilter({ action: 'allow', events: [], flags: 1 });
      assert.throws(
        () => vm.setPmuEventFilter({ action: 'deny', events: [], flags: 2 }),
        kvmError('EINVAL'),
      );
      assert.equal(
        vcpu.run((g) => g.cpuid(0xa).eax & 0xff),
        0,
        'still no PMU',
      );
    }
  });

  it('a destroyed VM refuses further ioctls (EBADF: its file is closed)', () => {
    const host = mediatedHost();
    const vm = host.kvm.createVm();
    vm.createVcpu();
    vm.destroy();
    assert.throws(() => vm.createVcpu(), kvmError('EBADF'));
    assert.throws(() => vm.setPmuEventFilter({ action: 'deny', events: [] }), kvmError('EBADF'));
    assert.throws(() => vm.disablePmu(), kvmError('EBADF'));
    assert.equal(host.perf.nrMediatedPmuVms, 0);
  });

  it('rejects malformed options', () => {
    const host = mediatedHost();
    assert.throws(() => host.kvm.createVm(null as unknown as object), TypeError);
    const vm = host.kvm.createVm();
    assert.throws(() => vm.createVcpu({ hostCpu: -1 }), kvmError('EINVAL'));
    assert.throws(() => vm.createVcpu({ hostCpu: 1.5 }), kvmError('EINVAL'));
    // Refused before kvm_arch_vcpu_precreate: no mediated PMU was created.
    assert.equal(vm.mediatedPmu, false);
  });
});

describe('KVM_CAP_PMU_CAPABILITY and the effective enable_pmu (fidelity)', () => {
  // kvm_vm_ioctl_enable_cap (arch/x86/kvm/x86.c), as of "KVM: x86/pmu: Start
  // stubbing in mediated PMU support": -EINVAL if !enable_pmu or
  // args[0] & ~KVM_CAP_PMU_VALID_MASK (only KVM_PMU_CAP_DISABLE, bit 0);
  // then, under kvm->lock and only while !kvm->created_vcpus &&
  // !kvm->arch.created_mediated_pmu, kvm->arch.enable_pmu =
  // !(args[0] & KVM_PMU_CAP_DISABLE): args[0] = 0 turns the PMU back on.
  it('args[0] = 0 re-enables a disabled PMU before the first vCPU', () => {
    const host = mediatedHost();
    const vm = host.kvm.createVm();
    vm.disablePmu();
    assert.equal(vm.design, 'none');
    vm.setPmuCapability(0);
    assert.equal(vm.design, 'mediated');
    vm.createVcpu();
    assert.equal(vm.mediatedPmu, true);
    assert.equal(host.perf.nrMediatedPmuVms, 1);
  });

  it('bits outside KVM_PMU_CAP_DISABLE are EINVAL and change nothing', () => {
    const host = mediatedHost();
    const vm = host.kvm.createVm();
    for (const flags of [2, 3, 0x100]) {
      assert.throws(() => vm.setPmuCapability(flags), kvmError('EINVAL'));
      assert.equal(vm.design, 'mediated');
    }
    vm.setPmuCapability(1);
    assert.equal(vm.design, 'none');
    assert.throws(() => vm.setPmuCapability(2), kvmError('EINVAL'));
    assert.equal(vm.design, 'none');
  });

  // kvm_init_pmu_capability (arch/x86/kvm/pmu.c): enable_pmu = false when perf
  // reports no GP counters, WARN_ON_ONCE(num_counters_gp < MIN_NR_GP_COUNTERS)
  // (AMD64_NUM_COUNTERS = 4 on AMD), or an Intel PMU of version 0; then
  // "if (!enable_pmu || ...) enable_mediated_pmu = false". The module's
  // enable_pmu is what KVM_CAP_PMU_CAPABILITY and kvm_arch_vcpu_precreate read.
  const threeCounterZen4: CpuModel = {
    ...CPU_MODELS['amd-zen4'],
    name: 'zen4-3-gp',
    gpCounters: 3,
  };

  it('a host with fewer GP counters than the architecture requires: enable_pmu and the mediated vPMU forced off', () => {
    const host = new HostMachine({ cpu: threeCounterZen4, kvm: { enableMediatedPmu: true } });
    assert.equal(host.kvm.params.enablePmu, false);
    assert.equal(host.kvm.params.enableMediatedPmu, false);
    const vm = host.kvm.createVm();
    assert.equal(vm.design, 'none');
    assert.throws(() => vm.disablePmu(), kvmError('EINVAL'));
    assert.throws(() => vm.setPmuCapability(0), kvmError('EINVAL'));
    vm.createVcpu();
    // kvm_arch_vcpu_precreate never called perf_create_mediated_pmu(): host
    // include-guest events stay allowed.
    assert.equal(vm.mediatedPmu, false);
    assert.equal(host.perf.nrMediatedPmuVms, 0);
    assert.doesNotThrow(() => host.perf.open({ config: 'cycles' }, { cpu: 0 }));
  });

  // intel_pmu_is_mediated_pmu_supported (arch/x86/kvm/vmx/pmu_intel.c) reads
  // the host's MSR_IA32_PERF_CAPABILITIES: "host_pmu->version < 4 ||
  // !(host_perf_cap & PERF_CAP_FW_WRITES)" returns false, and
  // kvm_init_pmu_capability then clears enable_mediated_pmu.
  it('an Intel v4+ host whose PERF_CAPABILITIES lacks FW_WRITES: no mediated vPMU, no mediated PMU in perf', () => {
    const sprNoFwBit: CpuModel = {
      ...CPU_MODELS['intel-sapphire-rapids'],
      name: 'spr-no-fw-bit',
      perfCapabilities: CPU_MODELS['intel-sapphire-rapids'].perfCapabilities & ~(1n << 13n),
    };
    const host = new HostMachine({ cpu: sprNoFwBit, kvm: { enableMediatedPmu: true } });
    assert.equal(host.kvm.params.enableMediatedPmu, false);
    const vm = host.kvm.createVm();
    assert.equal(vm.design, 'emulated');
    vm.createVcpu();
    assert.equal(vm.mediatedPmu, false);
    assert.equal(host.perf.nrMediatedPmuVms, 0);
  });
});
