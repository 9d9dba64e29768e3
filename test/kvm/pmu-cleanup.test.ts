/**
 * kvm_pmu_cleanup() (arch/x86/kvm/pmu.c): the perf-emulated vPMU releases the
 * perf event of a guest counter the guest stopped using. The expected values
 * follow upstream's code, cited beside each test:
 *  - kvm_arch_vcpu_load() (x86.c) sets need_cleanup and KVM_REQ_PMU only when
 *    the vCPU was scheduled out inside KVM_RUN (vcpu->scheduled_out, set by
 *    the kvm_sched_out preempt notifier; a halted vCPU blocks in
 *    kvm_vcpu_block) and pmu->version && pmu->event_count;
 *  - kvm_pmu_handle_event() then calls kvm_pmu_cleanup(), which releases the
 *    event of each counter not in pmc_in_use and not pmc_is_locally_enabled,
 *    through pmc_stop_counter() (pmc->counter keeps the count), and zeroes
 *    pmc_in_use;
 *  - pmc_in_use is set only by kvm_pmu_set_msr() -> kvm_pmu_mark_pmc_in_use(),
 *    for the MSRs msr_idx_to_pmc() knows: Intel's fixed counters, PERFEVTSELx
 *    and IA32_PERFCTRx (not the full-width IA32_PMCx), AMD's counters and
 *    selectors. Reads (RDMSR, RDPMC) do not set it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CpuModelName } from '../../src/hw/cpu-models.ts';
import { EVTSEL, MSR } from '../../src/hw/msr.ts';
import type { GuestCpu } from '../../src/kvm/guest-cpu.ts';
import type { VcpuImpl } from '../../src/kvm/vcpu.ts';
import { HostMachine } from '../../src/sim/host.ts';

const INSTRUCTIONS = 0xc0n | EVTSEL.EN | EVTSEL.OS | EVTSEL.USR;

interface Counter0 {
  sel: number;
  ctr: number;
}

const COUNTER0: Record<'intel' | 'amd', Counter0> = {
  intel: { sel: MSR.IA32_PERFEVTSEL0, ctr: MSR.IA32_PERFCTR0 },
  amd: { sel: MSR.MSR_F15H_PERF_CTL0, ctr: MSR.MSR_F15H_PERF_CTR0 },
};

function setup(cpu: CpuModelName, mediated = false) {
  const host = new HostMachine({ cpu, kvm: { enableMediatedPmu: mediated } });
  const vcpu = host.kvm.createVm().createVcpu() as VcpuImpl;
  const c = COUNTER0[host.model.vendor];
  /** Perf events open on the host (perf_event_open's and KVM's). */
  const open = () => host.perfCore.openEvents;
  /** One KVM_RUN in which the guest halts once: the vCPU blocks and is scheduled back in. */
  const halt = () => vcpu.run((g) => g.hlt());
  return { host, vcpu, c, open, halt };
}

/** Program counter 0 to count instructions, retire `n`, stop it; returns its value. */
function countAndStop(g: GuestCpu, c: Counter0, n: number): bigint {
  g.wrmsr(c.sel, INSTRUCTIONS);
  g.exec({ instructions: n });
  g.wrmsr(c.sel, 0n);
  return g.rdmsr(c.ctr);
}

const MODELS: CpuModelName[] = ['intel-sapphire-rapids', 'amd-zen4', 'amd-zen3', 'intel-haswell'];

describe('kvm_pmu_cleanup: the emulated vPMU releases the events of counters the guest stopped using', () => {
  for (const model of MODELS) {
    it(`${model}: released after a full time slice without a write, re-created with its count kept`, () => {
      const { vcpu, c, open, halt } = setup(model);
      assert.equal(vcpu.designName, 'emulated');
      const before = open();
      const stopped = vcpu.run((g) => countAndStop(g, c, 1000));
      // The enabling WRMSR is retired by KVM after its handler enabled the
      // counter (kvm_skip_emulated_instruction -> kvm_pmu_instruction_retired),
      // the disabling one after it stopped: 1000 + 1.
      assert.equal(stopped, 1001n);
      assert.equal(open(), before + 1, 'the disabled counter keeps its event until a cleanup');

      // First cleanup: the disabling WRMSR marked the counter in use in this slice.
      halt();
      assert.equal(open(), before + 1, 'written since the last cleanup: kept');
      // Second cleanup: a whole slice without a write, and not locally enabled.
      halt();
      assert.equal(open(), before, 'one perf event less after the cleanup');

      // pmc_stop_counter folded the count into pmc->counter before the release.
      const after = vcpu.run((g) => {
        const kept = g.rdmsr(c.ctr);
        g.wrmsr(c.sel, INSTRUCTIONS); // reprogram_counter creates a new event
        const reopened = open();
        g.exec({ instructions: 500 });
        g.wrmsr(c.sel, 0n);
        return { kept, reopened, value: g.rdmsr(c.ctr) };
      });
      assert.equal(after.kept, 1001n);
      assert.equal(after.reopened, before + 1);
      assert.equal(after.value, 1001n + 1n + 500n);
    });
  }

  it('a counter that is still enabled is never released, however long the guest leaves it alone', () => {
    const { vcpu, c, open, halt } = setup('intel-sapphire-rapids');
    const before = open();
    vcpu.run((g) => g.wrmsr(c.sel, INSTRUCTIONS));
    for (let i = 0; i < 3; i++) halt();
    assert.equal(open(), before + 1); // pmc_is_locally_enabled
  });

  it('reads do not keep a counter in use: RDMSR and RDPMC leave pmc_in_use alone', () => {
    const { vcpu, c, open, halt } = setup('intel-sapphire-rapids');
    const before = open();
    vcpu.run((g) => countAndStop(g, c, 10));
    halt(); // clears pmc_in_use (the disabling WRMSR set it)
    vcpu.run((g) => {
      g.rdmsr(c.ctr);
      g.rdmsr(c.sel);
      g.rdpmc(0);
      g.hlt();
    });
    assert.equal(open(), before);
  });

  it('Intel: a write through the full-width alias IA32_PMC0 does not mark the counter, IA32_PERFCTR0 does', () => {
    // intel_msr_idx_to_pmc looks up fixed counters, PERFEVTSELx and
    // IA32_PERFCTRx only, so kvm_pmu_mark_pmc_in_use misses IA32_PMCx.
    for (const [msr, kept] of [
      [MSR.IA32_PMC0, false],
      [MSR.IA32_PERFCTR0, true],
    ] as const) {
      const { vcpu, c, open, halt } = setup('intel-sapphire-rapids');
      const before = open();
      vcpu.run((g) => countAndStop(g, c, 10));
      halt();
      vcpu.run((g) => {
        g.wrmsr(msr, 5n);
        g.hlt();
      });
      assert.equal(open(), kept ? before + 1 : before, `after a write to 0x${msr.toString(16)}`);
    }
  });

  it('no cleanup without the vCPU being scheduled out inside KVM_RUN: a new KVM_RUN is not a sched-in', () => {
    // vcpu_load() at the start of an ioctl calls kvm_arch_vcpu_load with
    // scheduled_out clear; only kvm_sched_in runs it with scheduled_out set.
    const { vcpu, c, open } = setup('amd-zen4');
    const before = open();
    vcpu.run((g) => countAndStop(g, c, 10));
    for (let i = 0; i < 3; i++) vcpu.run((g) => g.exec({ instructions: 10 }));
    assert.equal(open(), before + 1);
  });

  it('the mediated vPMU holds no perf event, so a halt asks for no cleanup', () => {
    // pmu->event_count stays 0: kvm_arch_vcpu_load makes no KVM_REQ_PMU.
    const { vcpu, c, halt } = setup('intel-sapphire-rapids', true);
    assert.equal(vcpu.designName, 'mediated');
    vcpu.run((g) => countAndStop(g, c, 10));
    halt();
    assert.equal(vcpu.design.perfEventCount, 0);
    assert.equal(vcpu.pmu.needCleanup, false);
    assert.notEqual(vcpu.pmu.pmcInUse, 0n, 'pmc_in_use is only cleared by a cleanup');
  });
});
