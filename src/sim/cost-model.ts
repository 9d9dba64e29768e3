/**
 * The cost model: what each virtualization and perf operation costs, in
 * cycles of the CPU it runs on. Every parameter has a default and its source
 * (docs/costs-and-rates.md section 1) or a stated assumption.
 * Overhead is never a parameter: the simulator counts the operations the
 * modelled kernel code really performs (exits by reason, MSR accesses of the
 * perf driver and of the world switch, perf calls) and prices them here.
 * No figure is fitted to the published overhead table it is compared with.
 */
import { deepFreeze } from '../common/freeze.ts';
import { item } from '../common/item.ts';

export interface CostParameter {
  readonly name: string;
  readonly cycles: number;
  readonly description: string;
  readonly source: string;
  /** True when no per-operation measurement was found and the figure is assumed. */
  readonly assumption: boolean;
}

/** A parameter; its name's literal type is kept, so CostName lists every name. */
function p<const N extends string>(
  name: N,
  cycles: number,
  description: string,
  source: string,
  assumption = false,
): CostParameter & { readonly name: N } {
  return Object.freeze({ name, cycles, description, source, assumption });
}

/** The default model: recent Intel server parts (~2 GHz TSC). */
const DEFAULT_PARAMETERS = [
  p(
    'exit.roundtrip',
    1100,
    'VM-exit + VM-entry round trip with a trivial handler (CPUID), no mediated PMU',
    'kvm-unit-tests vmexit CPUID ~1,020-1,100 cycles, recent Intel (lore Z1ecILHBlpkiAThl@google.com)',
  ),
  p(
    'exit.msr-handler',
    200,
    "KVM's emulation of one intercepted PMU MSR access (kvm_pmu_get_msr/set_msr dispatch), beyond the round trip",
    'assumed: a table walk and a few branches; no isolated measurement found',
    true,
  ),
  p(
    'exit.apic-handler',
    500,
    'emulating an x2APIC LVTPC / EOI write, beyond the round trip',
    'assumed: kvm_lapic_reg_write without interrupt delivery; the published 2,468-4,781 cycle figures include injection',
    true,
  ),
  p(
    'exit.rdpmc-handler',
    150,
    'emulating an intercepted RDPMC (kvm_pmu_rdpmc), beyond the round trip',
    'assumed',
    true,
  ),
  p(
    'exit.interrupt-handler',
    500,
    'dispatching a host interrupt that caused an exit (handle_exit_irqoff + the IRQ entry)',
    'assumed',
    true,
  ),
  p(
    'exit.hlt',
    1100,
    'HLT exit round trip (the wait itself is idle time, not charged)',
    'assumed equal to exit.roundtrip',
    true,
  ),
  p(
    'exit.io-handler',
    2500,
    'an I/O doorbell exit handled in the kernel (ioeventfd signal)',
    'assumed: between an MSR exit and a userspace exit',
    true,
  ),
  p(
    'exit.emulation-handler',
    2000,
    "KVM's x86 emulator for one forced-emulation instruction",
    'assumed',
    true,
  ),
  p(
    'inject.interrupt',
    900,
    'injecting an interrupt into the guest (kvm_apic_local_deliver, event injection at entry)',
    'assumed: derived: TSC-deadline WRMSR + immediate injection 3,851 cycles (APICv off, Skylake-SP, lore 1587468026-15753) minus an MSR-write exit ~2,900',
    true,
  ),
  p(
    'vmcs.global-ctrl-switch',
    30,
    'atomic switch of PERF_GLOBAL_CTRL at VM-entry/exit (VMCS or MSR-load list)',
    'VMCALL 1,559 -> 1,529 cycles when skipped: ~30 per entry, Skylake-SP (lore 1584071718-17163)',
  ),
  p(
    'msr.wrmsr',
    125,
    'a native WRMSR (non-counter MSR: selectors, GLOBAL_*, FIXED_CTR_CTRL)',
    'generic WRMSR 125+ cycles, Intel (lore 20201001205857.GH7474@linux.intel.com)',
  ),
  p(
    'msr.wrmsr-counter',
    110,
    'a native WRMSR to a counter (PMC or FIXED_CTR)',
    '~80-150 cycles each, derived from the mediated-load write elision savings, EMR / Turin (commit b0b6a8d3be16)',
  ),
  p(
    'msr.rdmsr',
    100,
    'a native RDMSR of a PMU MSR',
    'assumed slightly cheaper than WRMSR; not found',
    true,
  ),
  p(
    'msr.rdpmc',
    30,
    'a native RDPMC',
    'assumed: "tens of cycles"; not found as an isolated figure',
    true,
  ),
  p('msr.x2apic', 60, 'a native x2APIC register access (LVTPC write, EOI)', 'assumed', true),
  p(
    'pmi.entry',
    600,
    'NMI/interrupt entry and exit around a PMI handler, and its dispatch',
    'assumed: derived: native intel_pmu_handle_irq ~1.0-1.14 us, Broadwell-EP (commit 6c1c07b33eb0), minus its MSR accesses and sample output',
    true,
  ),
  p(
    'perf.sample',
    700,
    'perf_event_overflow writing one sample to the ring buffer',
    'assumed: derived: the rest of the same ~1.07 us native PMI figure',
    true,
  ),
  p(
    'perf.record-userspace',
    3000,
    "the perf record tool's per-sample work: copying the sample from the mmap ring buffer into perf.data",
    'assumed: ~1.5 us per sample of memcpy and amortized write(); not measured here',
    true,
  ),
  p(
    'perf.create',
    10000,
    'perf_event_create_kernel_counter, typical case',
    'assumed: published figures are worst cases (up to 21 ms with synchronize_rcu, lore 20191027105243.34339-6; ~2.5 ms release+create, Intel RFC Nov 2018)',
    true,
  ),
  p(
    'perf.release',
    5000,
    'perf_event_release_kernel, typical case',
    'assumed, as perf.create',
    true,
  ),
  p(
    'perf.period',
    11880,
    'perf_event_period() as called by KVM',
    '~5.4 us on an E5-2699 at 2.2 GHz (lore 20200317075315.70933-1-like.xu@linux.intel.com)',
  ),
  p(
    'perf.pause',
    2000,
    'perf_event_pause(): disable and read the count (software part)',
    'assumed',
    true,
  ),
  p('perf.enable', 2000, 'perf_event_enable() (software part)', 'assumed', true),
  p(
    'perf.read',
    500,
    'perf_event_read_value() (software part), e.g. KVM reading a backing event',
    'assumed',
    true,
  ),
  p(
    'perf.guest-context',
    300,
    'perf_load_guest_context / perf_put_guest_context bookkeeping (software part; MSR accesses priced separately)',
    'assumed',
    true,
  ),
  p('perf.rotate', 1000, 'multiplexing rotation bookkeeping (software part)', 'assumed', true),
  p(
    'perf.tick',
    300,
    'perf_event_task_tick per context with frequency events (software part)',
    'assumed',
    true,
  ),
  p(
    'tick.handler',
    1000,
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

/** A resolved model: parameter cycles by name, with overrides applied. */
export class CostModel {
  readonly name: string;
  readonly parameters: readonly NamedCostParameter[];
  private readonly cycles = new Map<CostName, number>();

  constructor(name = 'default', overrides: Readonly<Record<string, number>> = {}) {
    const base = COST_MODELS[name];
    if (!base)
      throw new RangeError(
        `unknown cost model '${name}' (have: ${Object.keys(COST_MODELS).join(', ')})`,
      );
    this.name = name;
    for (const [key, value] of Object.entries(overrides)) {
      if (!base.some((q) => q.name === key)) {
        throw new RangeError(
          `costs.${key}: no such cost parameter (have: ${base.map((q) => q.name).join(', ')})`,
        );
      }
      if (!Number.isFinite(value) || value < 0)
        throw new RangeError(
          `costs.${key}: expected a non-negative number of cycles, got ${value}`,
        );
    }
    this.parameters = base.map((q) =>
      q.name in overrides
        ? Object.freeze({
            ...q,
            cycles: item(overrides, q.name),
            source: `override (default ${q.cycles}: ${q.source})`,
          })
        : q,
    );
    for (const q of this.parameters) this.cycles.set(q.name, q.cycles);
  }

  get(name: CostName): number {
    const c = this.cycles.get(name);
    if (c === undefined) throw new RangeError(`no cost parameter '${name}'`);
    return c;
  }
}
