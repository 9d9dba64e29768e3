/**
 * What a perf core (core.ts) is built over: the CPUs it drives, through the
 * port the x86 driver programs, and the kernel's configuration (Kconfig,
 * CONFIG_HZ, sysctls) with the accounting protocol it runs.
 */
import type { AccountingProtocol } from './mediated-protocol.ts';
import type { X86CpuPort } from './x86-pmu-enumerate.ts';

/** What perf needs of a CPU: the PMU port, CPUID, and its clock. */
export interface PerfCpu extends X86CpuPort {
  readonly id: number;
  /** This CPU's clock in ns. */
  readonly nowNs: number;
  /** The uncore's free-running memory-read count, where the CPU has an uncore. */
  readonly uncoreDataReads?: number;
  /** An observer's read of a counter (no instruction executed), where the CPU offers one. */
  peekCounter?(ecx: number): number;
}

export interface PerfCoreOptions {
  cpus: readonly PerfCpu[];
  /** CONFIG_PERF_GUEST_MEDIATED_PMU: the accounting and the mediated APIs exist. */
  mediatedKconfig: boolean;
  /** Whether the hardware qualifies for PERF_PMU_CAP_MEDIATED_VPMU (decided by the vendor driver). */
  hardwareMediatedCapable: boolean;
  /** The accounting protocol perf runs: required with mediatedKconfig, unused without. */
  accounting?: AccountingProtocol;
  /** The kernel log. */
  log: (line: string) => void;
  /** Uncore PMU to register: name and its one event, or null (a guest has none). */
  uncore: { name: string; event: string } | null;
  /** CONFIG_HZ: the tick rate. 250 upstream default. */
  hz?: number;
  /** perf_event_mux_interval_ms; default 1000/HZ. */
  muxIntervalMs?: number;
  /** perf_event_max_sample_rate; default 100000. */
  maxSampleRate?: number;
}
