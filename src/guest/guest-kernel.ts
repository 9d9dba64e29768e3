/**
 * A guest kernel, as far as the PMU goes: Linux's perf core (the very same
 * PerfCore the host runs, docs/architecture.md principle 2) built over the vCPU's
 * GuestCpu, its NMI handler for PMIs, and its tick. Every MSR access this
 * perf makes goes through KVM's intercept policy.
 */
import type { GuestCpu } from '../kvm/guest-cpu.ts';
import type { PerfCpu } from '../perf/core-config.ts';
import { PerfCore } from '../perf/core.ts';

export class GuestKernel {
  readonly perf: PerfCore;
  /** Guest timer interrupts handled. */
  ticks = 0;

  constructor(
    guest: GuestCpu,
    clockNs: () => number,
    hz: number,
    log: (line: string) => void,
    /** Called at each NMI (a PMI) the guest takes, before perf handles it. */
    onNmi: () => void = () => {},
  ) {
    const port: PerfCpu = {
      id: 0,
      get nowNs() {
        return clockNs();
      },
      rdmsr: (msr) => guest.rdmsr(msr),
      wrmsr: (msr, value) => guest.wrmsr(msr, value),
      rdpmc: (ecx) => guest.rdpmc(ecx),
      wrmsrNumber: (msr, value) => guest.wrmsrNumber(msr, value),
      rdpmcNumber: (ecx) => guest.rdpmcNumber(ecx),
      cpuid: (leaf, subleaf) => guest.cpuid(leaf, subleaf),
    };
    // A guest has no uncore PMU and no mediated-PMU accounting of its own.
    this.perf = new PerfCore({
      cpus: [port],
      mediatedKconfig: false,
      hardwareMediatedCapable: false,
      log,
      uncore: null,
      hz,
    });
    guest.onInterrupt(2, () => {
      onNmi();
      this.perf.handleNmi(0);
    });
  }

  /** When the guest's next timer interrupt is due (tick or perf's multiplexing timer). */
  nextTimerNs(): number {
    return this.perf.nextTimerNs(0);
  }

  /** The timer interrupt handler. */
  tick(): void {
    this.ticks++;
    this.perf.runTimers(0);
  }
}
