/**
 * The passthrough vPMU of RFC v1, "KVM: x86/pmu: Introduce passthrough vPMU"
 * (Xiong Zhang, Mingwei Zhang, Dapeng Mi et al., 26 Jan 2024, 41 patches;
 * Intel only): the design the published overhead table was measured on
 * (docs/kvm-vpmu.md "Posted series"). Not upstream; it is here so that table
 * can be compared like for like.
 *
 * What differs from 7.0's mediated vPMU, as the RFC's code shows it:
 * - the intercept policy (msr-intercepts.ts rfcV1Intercepts): the global
 *   MSRs and RDPMC are passed through whatever the host's counter counts;
 * - the world switch (patch 23/41, "Implement the save/restore of PMU state
 *   for Intel CPU", with 24/41 and 27/41): every counter and selector is
 *   written at each restore (no elision of values the hardware holds), the
 *   selectors and FIXED_CTR_CTRL are read back from the hardware at each
 *   save, GLOBAL_STATUS_SET is written at every restore, and PERF_METRICS is
 *   cleared at every restore on a host that has it.
 * The placement is 7.0's (patch 32/41: restore before the entry loop, save
 * after it, IRQs off), and GLOBAL_CTRL is switched by the VMCS at entry and
 * exit (patch 28/41), as in 7.0 (MediatedVpmu.vmEntry / vmExit).
 */
import { hasPerfMetrics } from '../hw/cpu-models.ts';
import { MSR, RDPMC } from '../hw/msr.ts';
import type { GuestPmu } from './guest-pmu.ts';
import { MediatedVpmu } from './mediated-vpmu.ts';
import { rfcV1Intercepts, type PmuIntercepts } from './msr-intercepts.ts';

export class RfcV1PassthroughVpmu extends MediatedVpmu {
  // Non-null assertions: counter indices as in MediatedVpmu (below the guest
  // PMU's nrArch* counts, which GuestPmu's arrays cover).
  override intercepts(): PmuIntercepts {
    if (this.cachedIntercepts) return this.cachedIntercepts;
    return (this.cachedIntercepts = this.withAblation(rfcV1Intercepts(this.ctx.pmu())));
  }

  /** perf_guest_enter, the PMI vector switch, then intel_restore_pmu_context. */
  override beforeEntry(): void {
    const { cpu, perf, vlapic } = this.ctx;
    const pmu = this.ctx.pmu();
    perf.loadGuestContext(cpu.id);
    perf.loadGuestLvtpc(cpu.id, vlapic.lvtpc);

    cpu.wrmsr(MSR.IA32_PERF_GLOBAL_CTRL, 0n);
    const hwStatus = cpu.rdmsr(MSR.IA32_PERF_GLOBAL_STATUS);
    if (hwStatus) cpu.wrmsr(MSR.IA32_PERF_GLOBAL_OVF_CTRL, hwStatus);
    cpu.wrmsr(MSR.IA32_PERF_GLOBAL_STATUS_SET, pmu.globalStatus);
    for (let i = 0; i < pmu.nrArchGpCounters; i++) {
      const pmc = pmu.gpCounters[i]!;
      cpu.wrmsrNumber(this.gpCounterMsr(i), pmc.counter);
      cpu.wrmsrNumber(this.gpEventselMsr(i), Number(pmc.eventselHw)); // selectors end below bit 53
    }
    // Patch 24/41: RDPMC is not intercepted, so counters the guest lacks are zeroed.
    for (let i = pmu.nrArchGpCounters; i < pmu.cap.numCountersGp; i++) {
      cpu.wrmsr(this.gpCounterMsr(i), 0n);
      cpu.wrmsr(this.gpEventselMsr(i), 0n);
    }
    cpu.wrmsr(MSR.IA32_FIXED_CTR_CTRL, pmu.fixedCtrCtrlHw);
    for (let i = 0; i < pmu.nrArchFixedCounters; i++)
      cpu.wrmsrNumber(MSR.IA32_FIXED_CTR0 + i, pmu.fixedCounters[i]!.counter);
    for (let i = pmu.nrArchFixedCounters; i < pmu.cap.numCountersFixed; i++)
      cpu.wrmsr(MSR.IA32_FIXED_CTR0 + i, 0n);
    // Patch 27/41: topdown metrics are not offered, so the host's are cleared.
    if (hasPerfMetrics(cpu.model)) cpu.wrmsr(MSR.MSR_PERF_METRICS, 0n);
    this.loaded = true;
  }

  /** intel_save_pmu_context, then the PMI vector back to the host's NMI and perf_guest_exit. */
  override afterExit(): void {
    const { cpu, perf } = this.ctx;
    const pmu = this.ctx.pmu();
    // GLOBAL_CTRL was saved at the VM-exit itself (vmExit).
    pmu.globalStatus = cpu.rdmsr(MSR.IA32_PERF_GLOBAL_STATUS);
    if (pmu.globalStatus) cpu.wrmsr(MSR.IA32_PERF_GLOBAL_OVF_CTRL, pmu.globalStatus);
    for (let i = 0; i < pmu.nrArchGpCounters; i++) {
      const pmc = pmu.gpCounters[i]!;
      pmc.counter = cpu.rdpmcNumber(i);
      const eventsel = cpu.rdmsr(this.gpEventselMsr(i));
      this.keepSelector(pmu, i, eventsel);
      if (eventsel) cpu.wrmsr(this.gpEventselMsr(i), 0n);
      if (pmc.counter) cpu.wrmsr(this.gpCounterMsr(i), 0n);
    }
    const fixedCtrl = cpu.rdmsr(MSR.IA32_FIXED_CTR_CTRL);
    if (this.passthroughAll) pmu.fixedCtrCtrl = pmu.fixedCtrCtrlHw = fixedCtrl;
    if (fixedCtrl) cpu.wrmsr(MSR.IA32_FIXED_CTR_CTRL, 0n);
    for (let i = 0; i < pmu.nrArchFixedCounters; i++) {
      const pmc = pmu.fixedCounters[i]!;
      pmc.counter = cpu.rdpmcNumber(RDPMC.FIXED | i);
      if (pmc.counter) cpu.wrmsr(MSR.IA32_FIXED_CTR0 + i, 0n);
    }
    this.loaded = false;
    perf.putGuestLvtpc(cpu.id);
    perf.putGuestContext(cpu.id);
  }

  /**
   * The RFC stores the selector it read back as the guest's. With selectors
   * intercepted the hardware holds what KVM wrote (eventsel_hw, the filtered
   * value), so only the ablation, where the guest wrote the hardware, learns
   * anything new from it.
   */
  private keepSelector(pmu: GuestPmu, i: number, eventsel: bigint): void {
    if (!this.passthroughAll) return;
    const pmc = pmu.gpCounters[i]!;
    pmc.eventsel = pmc.eventselHw = eventsel;
  }
}
