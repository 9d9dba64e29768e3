/**
 * The legacy perf-emulated vPMU (arch/x86/kvm/pmu.c before the mediated
 * PMU; docs/mediated-vpmu.md section 5): KVM is just another perf user. Every
 * guest PMU access exits; a guest counter that is enabled, globally enabled
 * and allowed by the filter is backed by a pinned, exclude_host perf event in
 * the vCPU thread's context, whose overflow (sample period = the guest
 * counter's distance to wrap) sets the guest's status bit and requests a PMI.
 * Those events compete with host events for counters: when they lose, the
 * guest silently loses counts.
 */
import { PerfError } from '../common/errors.ts';
import type { PhysicalCpu } from '../hw/cpu.ts';
import { EVTSEL } from '../hw/msr.ts';
import type { KernelEvent } from '../perf/event.ts';
import type { PerfKvmExports } from '../perf/kvm-exports.ts';
import type { GuestPmu } from './guest-pmu.ts';
import type { GuestPmuBackend, KvmPmc } from './pmu-types.ts';
import { LEGACY_INTERCEPTS, type PmuIntercepts } from './msr-intercepts.ts';
import type { VpmuDesign } from './vpmu-design.ts';

export interface EmulatedVcpuContext {
  readonly cpu: PhysicalCpu;
  readonly perf: PerfKvmExports;
  /** The vCPU thread's pid: KVM's events are task events of that thread. */
  readonly pid: number;
  pmu(): GuestPmu;
  /** KVM_REQ_PMI. */
  requestPmi(): void;
  log(line: string): void;
}

/** struct kvm_pmc's perf side. */
interface PmcBacking {
  event: KernelEvent | null;
  /** pmc->current_config: what the event was created for. */
  currentConfig: bigint | null;
  isPaused: boolean;
}

export class EmulatedVpmu implements VpmuDesign {
  readonly name = 'emulated';
  private readonly backing = new Map<KvmPmc, PmcBacking>();
  /** reprogram_pmi: counters to reprogram before the next entry (KVM_REQ_PMU). */
  private readonly reprogramPending = new Set<KvmPmc>();
  /** GLOBAL_CTRL values perf asked KVM to switch at entry (Intel), saved for the exit. */
  private hostGlobalCtrl: bigint | null = null;
  /** Perf events KVM created and released, for reports. */
  eventsCreated = 0;
  eventsReleased = 0;

  readonly backend: GuestPmuBackend = {
    reprogramCounter: (pmc) => this.reprogramCounter(pmc),
    writeCounter: (pmc, value) => this.writeCounter(pmc, value),
    readCounter: (pmc) => this.readCounter(pmc),
    globalCtrlChanged: () => {},
    stopCounter: (pmc) => this.releaseEvent(pmc),
    countEmulated: (pmc, value) => this.countEmulated(pmc, value),
  };

  constructor(private readonly ctx: EmulatedVcpuContext) {}

  intercepts(): PmuIntercepts {
    return LEGACY_INTERCEPTS;
  }

  /**
   * Every VM-entry, fastpath re-entries included (atomic_switch_perf_msrs in
   * vmx_vcpu_run): the VMCS (or MSR-load list) switches GLOBAL_CTRL to perf's
   * guest value.
   */
  vmEntry(): void {
    const values = this.ctx.perf.guestSwitchGlobalCtrl(this.ctx.cpu.id);
    if (values) {
      this.ctx.cpu.switchGlobalCtrl(values.guest);
      this.hostGlobalCtrl = values.host;
    }
  }

  /** Every VM-exit: back to the host's GLOBAL_CTRL. */
  vmExit(): void {
    if (this.hostGlobalCtrl !== null) {
      this.ctx.cpu.switchGlobalCtrl(this.hostGlobalCtrl);
      this.hostGlobalCtrl = null;
    }
  }

  /** No PMU state to load: the perf events back the counters on the host too. */
  beforeEntry(): void {}

  afterExit(): void {}

  /** kvm_pmu_handle_event: pending reprograms, then the cleanup if one was asked for. */
  handlePmuRequest(): void {
    for (const pmc of [...this.reprogramPending]) {
      this.reprogramPending.delete(pmc);
      this.reprogramCounter(pmc);
    }
    if (this.ctx.pmu().needCleanup) this.cleanup();
  }

  get perfEventCount(): number {
    return this.eventsCreated - this.eventsReleased;
  }

  /**
   * kvm_pmu_cleanup: release the perf event of each counter whose MSRs the
   * guest did not write since the last cleanup (pmc_in_use) and that is not
   * locally enabled (pmc_stop_counter: the count is folded into pmc->counter
   * first, so a later reprogram creates a new event from that value).
   */
  private cleanup(): void {
    const pmu = this.ctx.pmu();
    pmu.needCleanup = false;
    pmu.forEachPmc((pmc) => {
      if ((pmu.pmcInUse >> BigInt(pmc.idx)) & 1n) return;
      if (this.backing.get(pmc)?.event && !pmu.isPmcLocallyEnabled(pmc)) this.releaseEvent(pmc);
    });
    pmu.pmcInUse = 0n;
  }

  destroy(): void {
    for (const pmc of this.backing.keys()) this.releaseEvent(pmc);
  }

  private state(pmc: KvmPmc): PmcBacking {
    let b = this.backing.get(pmc);
    if (!b) {
      b = { event: null, currentConfig: null, isPaused: true };
      this.backing.set(pmc, b);
    }
    return b;
  }

  /** get_sample_period: events until the guest counter wraps (a full range at 0). */
  private samplePeriod(pmc: KvmPmc, counter: number): number {
    const modulus = this.ctx.pmu().pmcModulus(pmc);
    const left = (modulus - (counter % modulus)) % modulus;
    return left === 0 ? modulus : left;
  }

  /**
   * The guest counter now, as pmc_read_counter would compute it, but with
   * the backing event's count peeked (PerfKvmExports.peekCount) rather than
   * read: nothing executed or priced, so a trace may look without changing
   * the run.
   */
  peekCounter(pmc: KvmPmc): number {
    const b = this.backing.get(pmc);
    const counted = b?.event && !b.isPaused ? this.ctx.perf.peekCount(b.event) : 0;
    return (pmc.counter + counted) % this.ctx.pmu().pmcModulus(pmc);
  }

  /** pmc_read_counter: the saved value plus what the running perf event counted. */
  private readCounter(pmc: KvmPmc): number {
    const b = this.state(pmc);
    let counter = pmc.counter;
    if (b.event && !b.isPaused) counter += this.ctx.perf.readCounter(b.event);
    return counter % this.ctx.pmu().pmcModulus(pmc);
  }

  /**
   * pmc_write_counter: the value is made relative to the event's running
   * count (cheaper than pausing it), and the sample period is recomputed from
   * pmc->counter, as upstream does.
   */
  private writeCounter(pmc: KvmPmc, value: number): void {
    const b = this.state(pmc);
    const modulus = this.ctx.pmu().pmcModulus(pmc);
    const running = b.event && !b.isPaused ? this.ctx.perf.readCounter(b.event) : 0;
    pmc.counter = (((value - running) % modulus) + modulus) % modulus;
    if (b.event && !b.isPaused && b.event.isSampling)
      this.ctx.perf.setPeriod(b.event, this.samplePeriod(pmc, pmc.counter));
  }

  /**
   * kvm_pmu_incr_counter: pmc->emulated_counter++ and reprogram_counter, i.e.
   * pmc_pause_counter (fold and reset the perf event's count), add, and
   * pmc_resume_counter with the sample period re-derived from the exact value,
   * so a hardware overflow after emulated increments lands on the event that
   * wraps the guest counter. (pmc_write_counter would instead rebase against
   * the running count and leave the period late by what the event counted
   * since its last reprogram.)
   */
  private countEmulated(pmc: KvmPmc, value: number): void {
    const b = this.state(pmc);
    const running = b.event !== null && !b.isPaused;
    this.pauseCounter(pmc);
    pmc.counter = value;
    if (running) this.resumeCounter(pmc);
  }

  /** pmc_pause_counter: fold the event's count into the counter and stop the event. */
  private pauseCounter(pmc: KvmPmc): void {
    const b = this.state(pmc);
    if (b.event && !b.isPaused) {
      const counted = this.ctx.perf.pauseCounter(b.event);
      pmc.counter = (pmc.counter + counted) % this.ctx.pmu().pmcModulus(pmc);
    }
    b.isPaused = true;
  }

  /** pmc_resume_counter: re-period and re-enable the existing event. */
  private resumeCounter(pmc: KvmPmc): boolean {
    const b = this.state(pmc);
    if (!b.event) return false;
    if (b.event.isSampling) this.ctx.perf.setPeriod(b.event, this.samplePeriod(pmc, pmc.counter));
    this.ctx.perf.enableCounter(b.event);
    b.isPaused = false;
    return true;
  }

  private releaseEvent(pmc: KvmPmc): void {
    const b = this.state(pmc);
    if (!b.event) return;
    this.pauseCounter(pmc);
    this.ctx.perf.releaseKernelCounter(b.event);
    this.eventsReleased++;
    b.event = null;
    b.currentConfig = null;
  }

  /** reprogram_counter. */
  private reprogramCounter(pmc: KvmPmc): void {
    const pmu = this.ctx.pmu();
    this.pauseCounter(pmc);
    if (
      !pmu.isPmcGloballyEnabled(pmc) ||
      !pmu.isPmcLocallyEnabled(pmc) ||
      !pmu.pmcEventIsAllowed(pmc)
    )
      return;

    let eventsel = pmc.eventsel;
    let config = eventsel;
    if (pmc.type === 'fixed') {
      const field = pmu.fixedCtrlField(pmc.index);
      if (field & 0x1) eventsel |= EVTSEL.OS;
      if (field & 0x2) eventsel |= EVTSEL.USR;
      if (field & 0x8) eventsel |= EVTSEL.INT;
      config = BigInt(field);
    }
    const b = this.state(pmc);
    if (b.currentConfig === config && this.resumeCounter(pmc)) return;
    this.releaseEvent(pmc);
    b.currentConfig = config;
    this.createEvent(pmc, eventsel);
  }

  /** pmc_reprogram_counter: perf_event_create_kernel_counter with KVM's attributes. */
  private createEvent(pmc: KvmPmc, eventsel: bigint): void {
    const pmu = this.ctx.pmu();
    const b = this.state(pmc);
    const config = eventsel & pmu.rawEventMask;
    // IN_TXCP "is not supported with nonzero period" (hsw_hw_config refuses a
    // checkpointed sampling event): pmc_reprogram_counter gives an Intel
    // guest's sample period 0 (a counting event) so that it is created at all.
    // On AMD bit 33 is EventSelect[9] (commit e644896f5106).
    const checkpointed = pmu.vendor === 'intel' && (config & EVTSEL.IN_TXCP) !== 0n;
    try {
      b.event = this.ctx.perf.createKernelCounter(
        {
          config: Number(config),
          pinned: true,
          excludeHost: true,
          excludeUser: (eventsel & EVTSEL.USR) === 0n,
          excludeKernel: (eventsel & EVTSEL.OS) === 0n,
          ...(checkpointed ? {} : { samplePeriod: this.samplePeriod(pmc, pmc.counter) }),
        },
        -1,
        this.ctx.pid,
        () => this.overflow(pmc),
      );
      this.eventsCreated++;
      b.isPaused = false;
    } catch (error) {
      if (!(error instanceof PerfError)) throw error;
      // Upstream: pr_debug_ratelimited and carry on; the guest counter just does not count.
      this.ctx.log(`kvm_pmu: event creation failed ${error.errno} for guest counter ${pmc.idx}`);
      b.event = null;
    }
  }

  /** kvm_perf_overflow: status bit, PMI request, and a reprogram before the next entry. */
  private overflow(pmc: KvmPmc): void {
    if (this.reprogramPending.has(pmc)) return;
    if (this.ctx.pmu().overflow(pmc.idx)) this.ctx.requestPmi();
    this.reprogramPending.add(pmc);
  }
}
