/**
 * The cost model: what each virtualization and perf operation costs, in
 * cycles of the CPU it runs on. Every parameter has a default, its source (a
 * published measurement, docs/costs-and-rates.md section 1, or a stated
 * assumption), and a plausible range
 * [low, high] with the reason for its bounds: narrow where a measurement
 * exists, honestly wide where the figure is assumed. `vpmu run --samples`
 * draws cost models from these ranges (src/sim/uncertainty.ts).
 * Overhead is never a parameter: the simulator counts the operations the
 * modelled kernel code really performs (exits by reason, MSR accesses of the
 * perf driver and of the world switch, perf calls) and prices them here.
 * No figure is fitted to the published overhead table it is compared with.
 */
import { deepFreeze } from '../common/freeze.ts';
import { MAX_COST_CYCLES } from './run-limits.ts';
import { showValue } from '../common/printable.ts';

export interface CostParameter {
  readonly name: string;
  readonly cycles: number;
  /** The plausible range [low, high] in cycles; low <= cycles <= high. */
  readonly range: readonly [number, number];
  /** Where the spread comes from, or the reasoning for the bounds. */
  readonly rangeSource: string;
  readonly description: string;
  readonly source: string;
  /** True when no per-operation measurement was found and the figure is assumed. */
  readonly assumption: boolean;
}

/** A [low, high] range, frozen (Object.freeze alone would widen the tuple's type). */
function frozenRange(low: number, high: number): readonly [number, number] {
  return Object.freeze([low, high] as [number, number]);
}

/** A parameter; its name's literal type is kept, so CostName lists every name. */
function p<const N extends string>(
  name: N,
  cycles: number,
  range: readonly [number, number],
  rangeSource: string,
  description: string,
  source: string,
  assumption = false,
): CostParameter & { readonly name: N } {
  if (!(range[0] <= cycles && cycles <= range[1]))
    throw new RangeError(
      `cost parameter ${name}: ${cycles} outside its range [${range.join(', ')}]`,
    );
  return Object.freeze({
    name,
    cycles,
    range: frozenRange(range[0], range[1]),
    rangeSource,
    description,
    source,
    assumption,
  });
}

/** The default model: recent Intel server parts (~2 GHz TSC). */
const DEFAULT_PARAMETERS = [
  p(
    'exit.roundtrip',
    1100,
    [1000, 1700],
    'measured: 1,020-1,100 cycles on recent Intel without mitigations, 1,600+ with them (lore Z1q4vxmEmZbkOiqC@mias.mediconcil.de); the bounds span both',
    'VM-exit + VM-entry round trip with a trivial handler (CPUID), no mediated PMU',
    'kvm-unit-tests vmexit CPUID ~1,020-1,100 cycles, recent Intel (lore Z1ecILHBlpkiAThl@google.com)',
  ),
  p(
    'exit.msr-handler',
    200,
    [100, 1000],
    'judgement: at least a dispatch and a few branches (~100); at most a pmc_refresh-like walk under the PMU lock (~1,000), still well under the 2,900-cycle MSR-write exit it is part of',
    "KVM's emulation of one intercepted PMU MSR access (kvm_pmu_get_msr/set_msr dispatch), beyond the round trip",
    'assumed: a table walk and a few branches; no isolated measurement found',
    true,
  ),
  p(
    'exit.apic-handler',
    500,
    [200, 1500],
    'judgement: bounded above by the APICv-on WRMSR exit with injection (2,468, lore 1587468026-15753) minus the round trip and the injection',
    'emulating an x2APIC LVTPC / EOI write, beyond the round trip',
    'assumed: kvm_lapic_reg_write without interrupt delivery; the published 2,468-4,781 cycle figures include injection',
    true,
  ),
  p(
    'exit.rdpmc-handler',
    150,
    [80, 600],
    'judgement: a counter lookup and a read of the backing event or the guest value; not measured',
    'emulating an intercepted RDPMC (kvm_pmu_rdpmc), beyond the round trip',
    'assumed',
    true,
  ),
  p(
    'exit.interrupt-handler',
    500,
    [200, 2000],
    'judgement: from a bare IRQ entry to a handler with a softirq tail; not measured',
    'dispatching a host interrupt that caused an exit (handle_exit_irqoff + the IRQ entry)',
    'assumed',
    true,
  ),
  p(
    'exit.hlt',
    1100,
    [1000, 1700],
    'as exit.roundtrip, whose measurement it borrows',
    'HLT exit round trip (the wait itself is idle time, not charged)',
    'assumed equal to exit.roundtrip',
    true,
  ),
  p(
    'exit.io-handler',
    2500,
    [1200, 6000],
    'judgement: from an MSR-exit-sized kernel handler to close to a userspace round trip',
    'an I/O doorbell exit handled in the kernel (ioeventfd signal)',
    'assumed: between an MSR exit and a userspace exit',
    true,
  ),
  p(
    'exit.emulation-handler',
    2000,
    [1000, 6000],
    "judgement: fetch, decode and execute in KVM's emulator; one to a few thousand cycles",
    "KVM's x86 emulator for one forced-emulation instruction",
    'assumed',
    true,
  ),
  p(
    'inject.interrupt',
    900,
    [450, 1900],
    'derived: the APICv-on difference (2,919 -> 2,468, ~450) as low; twice the APICv-off derivation as high (lore 1587468026-15753)',
    'injecting an interrupt into the guest (kvm_apic_local_deliver, event injection at entry)',
    'assumed: derived: TSC-deadline WRMSR + immediate injection 3,851 cycles (APICv off, Skylake-SP, lore 1587468026-15753) minus an MSR-write exit ~2,900',
    true,
  ),
  p(
    'vmcs.global-ctrl-switch',
    30,
    [15, 60],
    'measured ~30 per entry (lore 1584071718-17163); a GLOBAL_CTRL VMREAD alone is ~15-20 (commit d3ba32d1ff2a); doubled for other parts',
    'atomic switch of PERF_GLOBAL_CTRL at VM-entry/exit (VMCS or MSR-load list)',
    'VMCALL 1,559 -> 1,529 cycles when skipped: ~30 per entry, Skylake-SP (lore 1584071718-17163)',
  ),
  p(
    'vmx.global-ctrl-msr-store',
    60,
    [20, 250],
    'assumed: low ~20, a VMWRITE alone (the order of a GLOBAL_CTRL VMREAD, commit d3ba32d1ff2a); high a full RDMSR (125+, lore 20201001205857.GH7474) plus a VMWRITE and the slot lookup',
    'per VM-exit of a mediated vCPU on a host without VM_EXIT_SAVE_IA32_PERF_GLOBAL_CTRL: the hardware stores GLOBAL_CTRL into the VM-exit MSR-store list, and KVM copies it to pmu->global_ctrl and VMWRITEs it back (commit d374b89edbb9)',
    'assumed: no per-entry measurement found; one microcoded MSR store plus a VMWRITE, of the order of the ~50 cycles a VMREAD + VMWRITE pair costs (Sean Christopherson, kvm list, 19 Nov 2024, on the mediated PMU RFC)',
    true,
  ),
  p(
    'msr.wrmsr',
    125,
    [110, 300],
    'measured 125+ on Intel (lore 20201001205857.GH7474): "+" leaves the top open, so up to ~2.5x',
    'a native WRMSR (non-counter MSR: selectors, GLOBAL_*, FIXED_CTR_CTRL)',
    'generic WRMSR 125+ cycles, Intel (lore 20201001205857.GH7474@linux.intel.com)',
  ),
  p(
    'msr.wrmsr-counter',
    110,
    [80, 150],
    'derived range ~80-150 from the elision savings on EMR / Turin (commit b0b6a8d3be16)',
    'a native WRMSR to a counter (PMC or FIXED_CTR)',
    '~80-150 cycles each, derived from the mediated-load write elision savings, EMR / Turin (commit b0b6a8d3be16)',
  ),
  p(
    'msr.rdmsr',
    100,
    [50, 200],
    'judgement: half to twice a WRMSR; not measured in isolation',
    'a native RDMSR of a PMU MSR',
    'assumed slightly cheaper than WRMSR; not found',
    true,
  ),
  p(
    'msr.rdpmc',
    30,
    [15, 80],
    'judgement: "tens of cycles"; not measured in isolation',
    'a native RDPMC',
    'assumed: "tens of cycles"; not found as an isolated figure',
    true,
  ),
  p(
    'msr.x2apic',
    60,
    [30, 200],
    'judgement: an x2APIC MSR is cheaper than a PMU MSR natively, up to a few hundred cycles',
    'a native x2APIC register access (LVTPC write, EOI)',
    'assumed',
    true,
  ),
  p(
    'pmi.entry',
    600,
    [400, 1200],
    'derived from the native PMI handler (1.0-1.14 us, commit 6c1c07b33eb0) with half to double of the part assigned to entry/exit',
    'NMI/interrupt entry and exit around a PMI handler, and its dispatch',
    'assumed: derived: native intel_pmu_handle_irq ~1.0-1.14 us, Broadwell-EP (commit 6c1c07b33eb0), minus its MSR accesses and sample output',
    true,
  ),
  p(
    'perf.sample',
    700,
    [350, 1400],
    'derived from the same 1.0-1.14 us PMI figure: half to double of the part assigned to the sample',
    'perf_event_overflow writing one sample to the ring buffer',
    'assumed: derived: the rest of the same ~1.07 us native PMI figure',
    true,
  ),
  p(
    'perf.record-userspace',
    3000,
    [1000, 10_000],
    'judgement: a copy of a ~100-byte record and an amortized write() of perf.data; no measurement found',
    "the perf record tool's per-sample work: copying the sample from the mmap ring buffer into perf.data",
    'assumed: ~1.5 us per sample of memcpy and amortized write(); not measured here',
    true,
  ),
  p(
    'perf.create',
    10000,
    [4000, 500_000],
    'judgement, honestly wide: typical creation is not published; the published figures are worst cases with synchronize_rcu (21 ms, lore 20191027105243.34339-6) and release+create at ~2.5 ms (Intel RFC Nov 2018)',
    'perf_event_create_kernel_counter, typical case',
    'assumed: published figures are worst cases (up to 21 ms with synchronize_rcu, lore 20191027105243.34339-6; ~2.5 ms release+create, Intel RFC Nov 2018)',
    true,
  ),
  p(
    'perf.release',
    5000,
    [2000, 250_000],
    'as perf.create: typical not published, worst cases are milliseconds',
    'perf_event_release_kernel, typical case',
    'assumed, as perf.create',
    true,
  ),
  p(
    'perf.period',
    11880,
    [3000, 14_000],
    'measured 5.4 us on an E5-2699 (2.2 GHz); newer cores likely cheaper, so down to a quarter, and up to +20 %',
    'perf_event_period() as called by KVM',
    '~5.4 us on an E5-2699 at 2.2 GHz (lore 20200317075315.70933-1-like.xu@linux.intel.com)',
  ),
  p(
    'perf.pause',
    2000,
    [500, 6000],
    'judgement: perf_event_disable + read without IPIs (same CPU); not measured',
    'perf_event_pause(): disable and read the count (software part)',
    'assumed',
    true,
  ),
  p(
    'perf.enable',
    2000,
    [500, 6000],
    'as perf.pause',
    'perf_event_enable() (software part)',
    'assumed',
    true,
  ),
  p(
    'perf.read',
    500,
    [200, 2000],
    'judgement: a local perf_event_read_value; not measured',
    'perf_event_read_value() (software part), e.g. KVM reading a backing event',
    'assumed',
    true,
  ),
  p(
    'perf.guest-context',
    300,
    [100, 1500],
    'judgement: bookkeeping over the CPU context (time updates, a flag), not measured',
    'perf_load_guest_context / perf_put_guest_context bookkeeping (software part; MSR accesses priced separately)',
    'assumed',
    true,
  ),
  p(
    'perf.rotate',
    1000,
    [300, 5000],
    'judgement: list rotation and scheduling bookkeeping over a few events; not measured',
    'multiplexing rotation bookkeeping (software part)',
    'assumed',
    true,
  ),
  p(
    'perf.tick',
    300,
    [100, 1500],
    'judgement: per-context frequency bookkeeping; not measured',
    'perf_event_task_tick per context with frequency events (software part)',
    'assumed',
    true,
  ),
  p(
    'tick.handler',
    1000,
    [500, 4000],
    'judgement: hrtimer expiry and scheduler_tick; a few hundred to a few thousand cycles',
    'a timer tick handler (hrtimer expiry, scheduler tick) excluding perf',
    'assumed',
    true,
  ),
] as const satisfies readonly CostParameter[];

export const COST_MODELS: Readonly<Record<string, readonly NamedCostParameter[]>> = deepFreeze({
  default: DEFAULT_PARAMETERS,
});

/** The name of a cost parameter: derived from the table, so a misspelt name does not compile. */
export type CostName = (typeof DEFAULT_PARAMETERS)[number]['name'];
/** A parameter of a model, its name one of CostName. */
export type NamedCostParameter = CostParameter & { readonly name: CostName };

/**
 * A replacement for one parameter: a number (a value that pins it: its range
 * collapses to that value), or a measured value with its own range and source
 * (a calibration file, src/sim/cost-file.ts).
 */
export type CostOverride =
  | number
  | {
      readonly cycles: number;
      readonly range?: readonly [number, number];
      readonly source?: string;
    };

/** A resolved model: parameter cycles by name, with overrides applied. */
export class CostModel {
  readonly name: string;
  readonly parameters: readonly NamedCostParameter[];
  private readonly cycles = new Map<CostName, number>();

  constructor(name = 'default', overrides: Readonly<Record<string, CostOverride>> = {}) {
    if (overrides === null || typeof overrides !== 'object')
      throw new TypeError(`costs: expected an object of overrides, got ${showValue(overrides)}`);
    const base = COST_MODELS[name];
    if (!base)
      throw new RangeError(
        `unknown cost model '${name}' (have: ${Object.keys(COST_MODELS).join(', ')})`,
      );
    this.name = name;
    for (const [key, override] of Object.entries(overrides)) {
      if (!base.some((q) => q.name === key)) {
        throw new RangeError(
          `costs.${key}: no such cost parameter (have: ${base.map((q) => q.name).join(', ')})`,
        );
      }
      // A JavaScript caller may pass anything: a string, null, an object without cycles.
      const value: unknown =
        typeof override === 'number'
          ? override
          : (override as Partial<CostOverride & object> | null)?.cycles;
      // NaN fails too.
      if (!(typeof value === 'number' && value >= 0 && value <= MAX_COST_CYCLES))
        throw new RangeError(
          `costs.${key}: expected a non-negative number of cycles, at most ${MAX_COST_CYCLES}, or { cycles, range }, got ${showValue(override)}`,
        );
      const range = typeof override === 'number' ? undefined : override.range;
      if (range && !(0 <= range[0] && range[0] <= value && value <= range[1]))
        throw new RangeError(
          `costs.${key}: expected a range [low, high] with 0 <= low <= ${value} <= high, got [${range.join(', ')}]`,
        );
      if (range && !(range[1] <= MAX_COST_CYCLES))
        throw new RangeError(
          `costs.${key}: expected a range whose high is at most ${MAX_COST_CYCLES}, got [${range.join(', ')}]`,
        );
    }
    this.parameters = base.map((q) => {
      const override = overrides[q.name];
      if (override === undefined) return q;
      if (typeof override === 'number')
        return Object.freeze({
          ...q,
          cycles: override,
          range: frozenRange(override, override),
          rangeSource: 'pinned by an override',
          source: `override (default ${q.cycles}: ${q.source})`,
        });
      const range = override.range ?? [override.cycles, override.cycles];
      return Object.freeze({
        ...q,
        cycles: override.cycles,
        range: frozenRange(range[0], range[1]),
        rangeSource: override.range
          ? `given with the value (${override.source ?? 'calibration'})`
          : 'pinned by a measured value',
        source: `${override.source ?? 'calibration'} (default ${q.cycles}: ${q.source})`,
        assumption: false,
      });
    });
    for (const q of this.parameters) this.cycles.set(q.name, q.cycles);
  }

  get(name: CostName): number {
    const c = this.cycles.get(name);
    if (c === undefined) throw new RangeError(`no cost parameter '${name}'`);
    return c;
  }
}
