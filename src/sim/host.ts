/**
 * The machine: CPUs of one model, the host kernel's perf and KVM, the kernel
 * log, and host tasks retiring work (docs/api.md "Host").
 *
 * Work runs through the CPU's clock; perf's timers (the tick and the
 * multiplexing timer) fire at their deadlines inside a block of work, which is
 * split there.
 */
import { showValue } from '../common/printable.ts';
import { KvmError } from '../common/errors.ts';
import { resolveCpuModel } from '../hw/cpu-model-check.ts';
import type { CpuModel, CpuModelName } from '../hw/cpu-models.ts';
import { PhysicalCpu } from '../hw/cpu.ts';
import type { Work } from '../hw/events.ts';
import { KvmModule, type Kvm } from '../kvm/kvm.ts';
import { resolveKvmParams } from '../kvm/params.ts';
import { checkVpmuSeries, type VpmuSeries } from '../kvm/vpmu-series.ts';
import { PerfCore, DEFAULT_TASK_PID } from '../perf/core.ts';
import { PERF_GUEST_MEDIATED_PMI_VECTOR, PerfKvmExports } from '../perf/kvm-exports.ts';
import { ACCOUNTING_VARIANTS } from '../perf/mediated-protocol.ts';
import { createPerf, type Perf, type PerfEvent } from '../perf/perf.ts';
import { driverMarksMediatedVpmu } from '../perf/x86-pmu.ts';
import { validateWork } from '../hw/validate-work.ts';
import { item } from '../common/item.ts';
import { unknownKey } from '../common/spelling.ts';

export interface HostOptions {
  /** CPU model preset or a custom model; default 'intel-sapphire-rapids'. */
  cpu?: CpuModelName | CpuModel;
  /** Logical CPUs; default 1. */
  cpus?: number;
  kvm?: {
    enablePmu?: boolean;
    enableMediatedPmu?: boolean;
    /** Ablation only (not upstream): run mediated VMs with every PMU MSR passed through. */
    mediatedDesign?: (typeof MEDIATED_DESIGNS)[number];
    /**
     * The KVM code the mediated vPMU runs (docs/kvm-vpmu.md "Posted series"):
     * 'linux-7.0' (merged, the default), 'topdown-metrics' (7.0 with the posted
     * Feb 2026 series giving guests fixed counter 3 and PERF_METRICS) or
     * 'passthrough-rfc-v1' (the Jan 2024 RFC the published table was measured on; Intel only).
     */
    series?: VpmuSeries;
  };
  kconfig?: { PERF_GUEST_MEDIATED_PMU?: boolean };
  /** Linux's hardlockup detector: a pinned include-guest cycles event per CPU. Default false. */
  nmiWatchdog?: boolean;
  /** Which accounting protocol perf runs: 'upstream' (merged) or 'v6' (as posted). Default 'upstream'. */
  accountingVariant?: 'upstream' | 'v6';
  /** CONFIG_HZ; default 250. */
  hz?: number;
  /**
   * The host kernel's tsx= (arch/x86/kernel/cpu/tsx.c, tsx_init): 'off'
   * disables TSX through IA32_TSX_CTRL, clearing HLE and RTM from CPUID (so
   * perf and KVM see no TSX), on a part that has TSX_CTRL; 'on' leaves it
   * enabled; 'auto' is 'off' on a part with X86_BUG_TAA, else 'on'. A part
   * without TSX_CTRL keeps its TSX either way. Default 'auto'
   * (CONFIG_X86_INTEL_TSX_MODE_AUTO from 7.0: "x86/tsx: Set default TSX
   * mode to auto"; OFF before).
   */
  tsx?: TsxMode;
}

export interface Host {
  readonly model: CpuModel;
  readonly perf: Perf;
  readonly kvm: Kvm;
  readonly dmesg: readonly string[];
  /** A host task retires work (default CPL 3, task pid 1, CPU 0). */
  exec(work: Work & { cpu?: number; pid?: number }): void;
}

/** The hardlockup detector's period: watchdog_thresh (10 s) of cycles. */
export const WATCHDOG_THRESH_S = 10;

/** What host.exec takes beside a block of Work: where it runs. */
const HOST_EXEC_FIELDS = ['cpu', 'pid'] as const;

export class HostMachine implements Host {
  readonly model: CpuModel;
  readonly cpus: PhysicalCpu[];
  readonly perfCore: PerfCore;
  readonly perfExports: PerfKvmExports;
  readonly perf: Perf;
  readonly kvm: KvmModule;
  readonly dmesg: string[] = [];
  readonly watchdogEvents: PerfEvent[] = [];

  constructor(options: HostOptions = {}) {
    checkHostOptions(options);
    this.model = resolveCpuModel(options.cpu);
    const n = options.cpus ?? 1;
    this.cpus = Array.from({ length: n }, (_, i) => new PhysicalCpu(i, this.model));
    // tsx_init runs before perf's init reads CPUID (and before KVM loads).
    if (tsxInitDisables(this.model, options.tsx ?? 'auto'))
      for (const cpu of this.cpus) cpu.disableTsx();
    const log = (line: string) => this.log(line);
    this.perfCore = new PerfCore({
      cpus: this.cpus,
      mediatedKconfig: options.kconfig?.PERF_GUEST_MEDIATED_PMU ?? true,
      hardwareMediatedCapable: driverMarksMediatedVpmu(this.model),
      accounting: ACCOUNTING_VARIANTS[options.accountingVariant ?? 'upstream'],
      log,
      uncore: {
        name: this.model.vendor === 'intel' ? 'uncore_imc' : 'amd_df',
        event: 'data_reads',
      },
      hz: options.hz,
    });
    this.perfExports = new PerfKvmExports(this.perfCore, this.cpus);
    this.perf = createPerf(this.perfCore);
    for (const cpu of this.cpus) {
      cpu.hostInterrupt = (d) => {
        if (d.nmi) this.perfCore.handleNmi(cpu.id);
        else if (d.vector === PERF_GUEST_MEDIATED_PMI_VECTOR)
          this.perfExports.handleMediatedPmi(cpu.id);
        else this.log(`do_IRQ: ${cpu.id}.${d.vector} No irq handler for vector`);
      };
    }
    this.perfCore.switchTask(0, DEFAULT_TASK_PID);
    if (options.nmiWatchdog) {
      for (const cpu of this.cpus) {
        this.watchdogEvents.push(
          this.perf.open(
            { config: 'cycles', pinned: true, samplePeriod: this.model.tscHz * WATCHDOG_THRESH_S },
            { cpu: cpu.id },
          ),
        );
      }
      this.log('NMI watchdog: Enabled. Permanently consumes one hw-PMU counter.');
    }
    const params = resolveKvmParams(options.kvm, this.model, this.perfExports, log);
    const timers = {
      nextDeadlineNs: (cpu: number) => this.perfCore.nextTimerNs(cpu),
      run: (cpu: number) => this.perfCore.runTimers(cpu),
    };
    this.kvm = new KvmModule(
      params,
      { cpus: this.cpus, perf: this.perfExports, log, timers },
      options.kvm?.mediatedDesign === 'passthrough-all',
    );
  }

  log(line: string): void {
    this.dmesg.push(line);
  }

  exec(work: Work & { cpu?: number; pid?: number }): void {
    validateWork(work, 'host.exec', HOST_EXEC_FIELDS);
    const cpuId = work.cpu ?? 0;
    if (!Number.isInteger(cpuId) || cpuId < 0 || cpuId >= this.cpus.length) {
      throw new RangeError(
        `host.exec: cpu ${cpuId} does not exist (this host has ${this.cpus.length})`,
      );
    }
    const pid = work.pid ?? DEFAULT_TASK_PID;
    if (!Number.isInteger(pid) || pid < 1)
      throw new RangeError(`host.exec: pid ${pid} is not a task id (>= 1)`);
    const guest = this.kvm.runningOn(cpuId);
    if (guest) {
      // The CPU is in a guest program (inside vcpu.run): host work there
      // would be counted on the wrong side of the world switch.
      throw new KvmError(
        'EBUSY',
        `host.exec: cpu ${cpuId} is running vCPU ${guest.id} (inside vcpu.run); run host work on another CPU or after the guest program returns`,
      );
    }
    const cpu = item(this.cpus, cpuId);
    this.perfCore.switchTask(cpuId, pid);
    const block: Work = { ...work, cpl: work.cpl ?? 3 };
    delete (block as { cpu?: number }).cpu;
    delete (block as { pid?: number }).pid;
    this.runUntilDone(cpu, block);
  }

  /** Retire a block on a CPU, stopping at each perf timer deadline inside it. */
  runUntilDone(cpu: PhysicalCpu, block: Work): void {
    let rest: Work | null = block;
    while (rest) {
      rest = cpu.retireUntil(rest, this.perfCore.nextTimerNs(cpu.id));
      this.perfCore.runTimers(cpu.id);
    }
  }
}

/** The kernel's tsx= values (tsx_init; anything else it takes as 'off', with an error). */
const TSX_MODES = ['on', 'off', 'auto'] as const;
export type TsxMode = (typeof TSX_MODES)[number];

/**
 * tsx_init: whether the kernel disables TSX through IA32_TSX_CTRL. Only a
 * part with TSX_CTRL (tsx_ctrl_is_supported); 'auto' (x86_get_tsx_auto_mode)
 * disables it where X86_BUG_TAA: no TAA_NO, and TSX or TSX_CTRL present.
 */
function tsxInitDisables(model: CpuModel, mode: TsxMode): boolean {
  if (!model.tsxCtrl) return false;
  if (mode === 'auto') return !model.taaNo;
  return mode === 'off';
}

/** The designs a mediated-capable KVM can run: upstream's, and the everything-passed-through ablation. */
const MEDIATED_DESIGNS = ['mediated', 'passthrough-all'] as const;

/** Every option of createHost and of its kvm and kconfig parts, for refusing misspelt ones. */
const HOST_OPTIONS: Record<keyof HostOptions, true> = {
  cpu: true,
  cpus: true,
  kvm: true,
  kconfig: true,
  nmiWatchdog: true,
  accountingVariant: true,
  hz: true,
  tsx: true,
};
const KVM_OPTIONS: Record<keyof NonNullable<HostOptions['kvm']>, true> = {
  enablePmu: true,
  enableMediatedPmu: true,
  mediatedDesign: true,
  series: true,
};
const KCONFIG_OPTIONS: Record<keyof NonNullable<HostOptions['kconfig']>, true> = {
  PERF_GUEST_MEDIATED_PMU: true,
};

/** A plain options object: not null, not a list (whose keys would read as no options at all). */
const isOptionsObject = (value: unknown): value is object =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

function checkHostOptions(options: HostOptions): void {
  if (!isOptionsObject(options))
    throw new TypeError(`createHost: options must be an object, got ${showValue(options)}`);
  const unknown = unknownKey(options, Object.keys(HOST_OPTIONS));
  if (unknown !== undefined) throw new TypeError(`createHost: ${unknown}`);
  const kconfig: unknown = options.kconfig;
  if (kconfig !== undefined) {
    if (!isOptionsObject(kconfig))
      throw new TypeError(`createHost: kconfig must be an object, got ${showValue(kconfig)}`);
    const unknownConfig = unknownKey(kconfig, Object.keys(KCONFIG_OPTIONS), 'kconfig option');
    if (unknownConfig !== undefined) throw new TypeError(`createHost: kconfig: ${unknownConfig}`);
  }
  if (
    options.cpus !== undefined &&
    (!Number.isInteger(options.cpus) || options.cpus < 1 || options.cpus > 1024)
  ) {
    throw new RangeError(
      `createHost: cpus must be an integer from 1 to 1024, got ${String(options.cpus)}`,
    );
  }
  if (
    options.accountingVariant !== undefined &&
    !(options.accountingVariant in ACCOUNTING_VARIANTS)
  ) {
    throw new RangeError(
      `createHost: accountingVariant must be 'upstream' or 'v6', got ${showValue(options.accountingVariant)}`,
    );
  }
  const kvm: unknown = options.kvm;
  if (kvm !== undefined) {
    if (!isOptionsObject(kvm))
      throw new TypeError(`createHost: kvm must be an object, got ${showValue(kvm)}`);
    const unknownKvm = unknownKey(kvm, Object.keys(KVM_OPTIONS), 'kvm option');
    if (unknownKvm !== undefined) throw new TypeError(`createHost: kvm: ${unknownKvm}`);
    const { enablePmu, enableMediatedPmu, mediatedDesign, series } = kvm as Record<string, unknown>;
    for (const [name, v] of [
      ['enablePmu', enablePmu],
      ['enableMediatedPmu', enableMediatedPmu],
    ] as const) {
      if (v !== undefined && typeof v !== 'boolean')
        throw new TypeError(`createHost: kvm.${name} must be a boolean, got ${showValue(v)}`);
    }
    if (mediatedDesign !== undefined && !MEDIATED_DESIGNS.includes(mediatedDesign as never)) {
      throw new RangeError(
        `createHost: kvm.mediatedDesign must be one of ${MEDIATED_DESIGNS.join(', ')}, got ${showValue(mediatedDesign)}`,
      );
    }
    if (series !== undefined) checkVpmuSeries(series, 'createHost: kvm.series');
  }
  if (
    options.hz !== undefined &&
    (!Number.isInteger(options.hz) || options.hz < 1 || options.hz > 10_000)
  ) {
    throw new RangeError(
      `createHost: hz must be an integer from 1 to 10000, got ${String(options.hz)}`,
    );
  }
  if (options.tsx !== undefined && !TSX_MODES.includes(options.tsx))
    throw new RangeError(
      `createHost: tsx must be one of ${TSX_MODES.join(', ')}, got ${showValue(options.tsx)}`,
    );
  for (const [name, v] of [
    ['nmiWatchdog', options.nmiWatchdog],
    ['kconfig.PERF_GUEST_MEDIATED_PMU', options.kconfig?.PERF_GUEST_MEDIATED_PMU],
  ] as const) {
    if (v !== undefined && typeof v !== 'boolean')
      throw new TypeError(`createHost: ${name} must be a boolean, got ${showValue(v)}`);
  }
}

export function createHost(options?: HostOptions): Host {
  return new HostMachine(options);
}
