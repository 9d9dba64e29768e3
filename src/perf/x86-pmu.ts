/**
 * The x86 core PMU driver ('cpu'): arch/x86/events/core.c with the Intel
 * (intel/core.c) and AMD (amd/core.c) parts it needs.
 *
 * It programs the PMU only through an MsrPort (docs/architecture.md principle 2)
 * and learns the PMU from CPUID and PERF_CAPABILITIES as Linux does, so the
 * same driver runs on the host CPU and, inside a guest, on the vCPU, where
 * every access it makes meets KVM's intercept policy. The access sequences
 * follow docs/costs-and-rates.md section 3 (the simulator prices them).
 */
import { removeAt } from '../common/arrays.ts';
import { item } from '../common/item.ts';
import { PerfError } from '../common/errors.ts';
import { CPUID7_EBX } from '../hw/cpu.ts';
import type { CpuModel } from '../hw/cpu-models.ts';
import {
  NAMED_EVENTS,
  isNamedEvent,
  type NamedEventEncoding,
  type NamedEventName,
} from '../hw/events.ts';
import { EVTSEL, FIXED_CTRL, LVT, MSR, RDPMC } from '../hw/msr.ts';
import type { PerfEventAttr } from './attr.ts';
import type { X86CpuPort, X86PmuDescription } from './x86-pmu-enumerate.ts';
import { EventState, type HwConfig, type KernelEvent } from './event.ts';
import { INTEL_FIXED_ONLY, gpCounterMask, hweight } from './x86-constraints.ts';
import { CAP_MEDIATED_VPMU, type PerfPmu } from './pmu.ts';

/** INTEL_PMC_IDX_FIXED: fixed counter j is counter index 32 + j. */
export const FIXED_IDX = 32;

/** The architectural event bit in CPUID 0xA EBX for each generic event. */
const ARCH_EVENT_BIT: Readonly<Record<NamedEventName, number>> = {
  cycles: 0,
  instructions: 1,
  'ref-cycles': 2,
  'cache-references': 3,
  'cache-misses': 4,
  branches: 5,
  'branch-misses': 6,
  'topdown-slots': 7,
};

/** config_mask: the raw config bits the driver keeps (X86_RAW_EVENT_MASK / AMD64_RAW_EVENT_MASK). */
const RAW_MASK_INTEL = EVTSEL.EVENT | EVTSEL.UMASK | EVTSEL.EDGE | EVTSEL.INV | EVTSEL.CMASK;
const RAW_MASK_AMD = RAW_MASK_INTEL | EVTSEL.AMD_EVENT_HI;
/** IN_TX and IN_TXCP, which hsw_hw_config passes through on a host with TSX. */
const TSX_BITS = EVTSEL.IN_TX | EVTSEL.IN_TXCP;
/** counter2_constraint: the GP counters a checkpointed (IN_TXCP) event may use. */
const COUNTER2_ONLY = 1 << 2;

/**
 * hsw_hw_config's EOPNOTSUPP for a checkpointed (IN_TXCP) event sampling
 * with attr.sample_period in (0, 0x7fffffff): an overflow would abort the
 * transaction, be checkpointed back and recur. A counting event, or a longer
 * period, is allowed ("so that perf stat from KVM works": KVM's
 * pmc_reprogram_counter gives IN_TXCP guest events period 0). In frequency
 * mode attr.sample_freq is the same union field. Its other refusal, IN_TX /
 * IN_TXCP with PEBS (precise_ip), has no counterpart: PEBS is not modelled.
 */
function checkCheckpointedSampling(raw: bigint, attr: PerfEventAttr): void {
  if ((raw & EVTSEL.IN_TXCP) === 0n) return;
  const period = attr.samplePeriod ?? attr.sampleFreq ?? 0;
  if (period > 0 && period < 0x7fffffff)
    throw new PerfError('EOPNOTSUPP', `a checkpointed (IN_TXCP) event sampling at ${period}`);
}

/**
 * An event's selector with EN set, as a number for MsrPort.wrmsrNumber:
 * selectors end at bit 41 (AMD's HostOnly), exact in a number, and eventInit
 * never sets EN in hw.config (the raw masks leave it out), so adding the bit
 * sets it (`|` would cut an AMD selector to 32 bits).
 */
function enabledSelector(config: bigint): number {
  return Number(config) + Number(EVTSEL.EN);
}

/** Per-CPU driver state: struct cpu_hw_events. */
class CpuHwEvents {
  /** Events collected on the PMU (cpuc->event_list), in add order. */
  readonly events: KernelEvent[] = [];
  /** Counter chosen for each collected event (cpuc->assign). */
  assign: number[] = [];
  /** Events added since the last enable (cpuc->n_added). */
  added = 0;
  /** Collected count when the open transaction began, or -1. */
  txnStart = -1;
  disableDepth = 0;
  /** Inside the PMI handler: the PMU is off (cpuc->enabled = 0) until the handler re-enables it. */
  inPmi = false;
  /** FIXED_CTR_CTRL as the driver wants it, and as last written (4 bits per fixed counter: a number). */
  fixedCtrl = 0;
  fixedCtrlWritten = 0;
  /** Counters of exclude_host (guest-only) and exclude_guest (host-only) events. */
  guestOnlyMask = 0n;
  hostOnlyMask = 0n;
  /** The same masks as (low, high) 32-bit halves: rebuilt as bigints only when they change. */
  guestOnlyLo = 0;
  guestOnlyHi = 0;
  hostOnlyLo = 0;
  hostOnlyHi = 0;
  /** GLOBAL_CTRL to enable with (every counter but the guest-only ones), kept with the masks. */
  hostGlobalCtrl: bigint | null = null;
  /** perf_guest_get_msrs' GLOBAL_CTRL pair, kept with the masks (read at every VM-entry). */
  guestSwitch: { host: bigint; guest: bigint } | null = null;
  /** The guest's LVTPC is loaded (mediated PMU): perf leaves LVTPC alone and ignores NMIs. */
  guestLvtpcLoaded = false;
}

export type OverflowCallback = (cpu: number, event: KernelEvent) => void;

/**
 * Whether the vendor driver marks the core PMU PERF_PMU_CAP_MEDIATED_VPMU:
 * intel_pmu_init() marks every Intel core PMU, amd_core_pmu_init() only one
 * with PerfMonV2. KVM's own prerequisites (Intel: v4+ and full-width writes)
 * are a separate check (kvm/params.ts).
 */
export function driverMarksMediatedVpmu(model: Pick<CpuModel, 'vendor' | 'perfMonV2'>): boolean {
  return model.vendor === 'intel' || model.perfMonV2;
}

export class X86Pmu implements PerfPmu {
  readonly name = 'cpu';
  readonly capabilities: readonly string[];
  readonly mediatedCapable: boolean;
  readonly hasCounters = true;
  // Per CPU, as `ports`: both read with `!` at a cpu < ports.length (core.ts
  // states why). scheduleEvents: i, k < n = events.length <= nrGp + nrFixed
  // (add() refuses more) <= 32 + 32, the scratch size (nrGp clipped to 32,
  // nrFixed from a 32-bit mask). enable(): assign[i]! at i < events.length =
  // assign.length (a schedule sets it, del() removes from both, a failed
  // transaction is cancelled).
  private readonly hw: CpuHwEvents[];
  /** GLOBAL_CTRL with every counter enabled (x86_pmu.intel_ctrl). */
  private readonly allCountersMask: bigint;

  constructor(
    readonly desc: X86PmuDescription,
    private readonly ports: readonly X86CpuPort[],
    /** Whether the kernel offers PERF_PMU_CAP_MEDIATED_VPMU (hardware qualifies and Kconfig on). */
    mediatedCapable: boolean,
    private readonly overflowed: OverflowCallback,
  ) {
    this.mediatedCapable = mediatedCapable;
    this.capabilities = mediatedCapable ? [CAP_MEDIATED_VPMU] : [];
    this.hw = ports.map(() => new CpuHwEvents());
    let mask = (1n << BigInt(desc.nrGp)) - 1n;
    for (let j = 0; j < desc.nrFixed; j++)
      if (desc.fixedMask & (1 << j)) mask |= 1n << BigInt(FIXED_IDX + j);
    this.allCountersMask = mask;
  }

  /**
   * perf_events_lapic_init (init_hw_perf_events, and x86_pmu_starting_cpu for
   * each CPU): LVTPC delivers PMIs as NMIs.
   */
  lapicInit(cpu: number): void {
    this.port(cpu).wrmsrNumber(MSR.X2APIC_LVTPC, LVT.DM_NMI);
  }

  /** CPUID.7.0:EBX HLE or RTM as boot_cpu_data has it (read at the first event that asks). */
  private tsx: boolean | undefined;

  /**
   * boot_cpu_has(X86_FEATURE_RTM) || boot_cpu_has(X86_FEATURE_HLE), after
   * the kernel's tsx_init. The kernel reads CPUID once at boot; the model
   * reads it when an event first sets IN_TX / IN_TXCP, so that a guest kernel
   * that never does pays no CPUID exit for it.
   */
  private bootCpuHasTsx(): boolean {
    return (this.tsx ??= (this.port(0).cpuid(7, 0).ebx & (CPUID7_EBX.HLE | CPUID7_EBX.RTM)) !== 0);
  }

  // ---------------------------------------------------------------- event_init

  eventInit(attr: PerfEventAttr): HwConfig {
    const { desc } = this;
    let raw: bigint;
    let name: string;
    let fixedIndex = -1;
    if (typeof attr.config === 'string') {
      if (!isNamedEvent(attr.config))
        throw new PerfError('ENOENT', `unknown hardware event '${attr.config}'`);
      const named: NamedEventEncoding = NAMED_EVENTS[attr.config];
      const encoding = desc.vendor === 'intel' ? named.intel : named.amd;
      const bit = ARCH_EVENT_BIT[attr.config];
      if (encoding === null || (desc.vendor === 'intel' && (desc.unavailableEvents >> bit) & 1)) {
        throw new PerfError('ENOENT', `'${attr.config}' is not supported by this PMU`);
      }
      raw = BigInt(encoding);
      name = attr.config;
      if (desc.vendor === 'intel' && named.fixed !== null && desc.fixedMask & (1 << named.fixed)) {
        fixedIndex = named.fixed;
        // Linux maps ref-cycles and topdown slots to fixed-only pseudo-encodings.
        for (const [pseudo, index] of INTEL_FIXED_ONLY) if (index === fixedIndex) raw = pseudo;
      }
    } else {
      const given = BigInt(attr.config);
      name = `r${given.toString(16)}`;
      if (desc.vendor === 'intel' && given & EVTSEL.ANY) {
        // intel_pmu_hw_config(): AnyThread needs arch perfmon v3 (EINVAL before),
        // and then counts the SMT sibling's events too, which this model, without
        // SMT, has not got.
        if (desc.version < 3)
          throw new PerfError('EINVAL', `${name}: AnyThread (bit 21) needs perfmon v3`);
        throw new PerfError(
          'EOPNOTSUPP',
          `${name}: AnyThread (bit 21) counts the SMT sibling too; SMT is not modelled`,
        );
      }
      // x86_pmu_get_event_config(): attr.config & config_mask. Other bits (EN,
      // INT, USR, OS, Intel's 63:32 but TSX's) are dropped, not refused: USR and OS come
      // from exclude_user and exclude_kernel, EN and INT from the driver.
      raw = given & (desc.vendor === 'intel' ? RAW_MASK_INTEL : RAW_MASK_AMD);
      // hsw_hw_config: with the host's TSX, IN_TX and IN_TXCP go to hw.config too.
      if (desc.vendor === 'intel' && given & TSX_BITS && this.bootCpuHasTsx()) {
        raw |= given & TSX_BITS;
        checkCheckpointedSampling(raw, attr);
      }
      const pseudoIndex = desc.vendor === 'intel' ? INTEL_FIXED_ONLY.get(raw) : undefined;
      if (pseudoIndex !== undefined) {
        if (!(desc.fixedMask & (1 << pseudoIndex)))
          throw new PerfError(
            'EINVAL',
            `${name} needs fixed counter ${pseudoIndex}, which this PMU lacks`,
          );
        fixedIndex = pseudoIndex;
      } else if (
        desc.vendor === 'intel' &&
        (raw & (EVTSEL.EDGE | EVTSEL.INV | EVTSEL.CMASK)) === 0n
      ) {
        // FIXED_EVENT_CONSTRAINT(0x00c0, 0) and (0x003c, 1): the raw architectural
        // encodings of instructions and cycles may also take their fixed counter.
        // Fixed counters 2 and 3 take only the pseudo-encodings above: a raw
        // 0x013c (ref cycles) or 0x01a4 (slots) is a GP event.
        const pseudoFixed = new Set(INTEL_FIXED_ONLY.values());
        for (const named of Object.values<NamedEventEncoding>(NAMED_EVENTS)) {
          if (named.fixed === null || pseudoFixed.has(named.fixed)) continue;
          if (BigInt(named.intel ?? -1) === raw && desc.fixedMask & (1 << named.fixed))
            fixedIndex = named.fixed;
        }
      }
    }

    // x86_pmu_hw_config: every event interrupts on overflow (counting events fold the count).
    let config = raw | EVTSEL.INT;
    if (!attr.excludeUser) config |= EVTSEL.USR;
    if (!attr.excludeKernel) config |= EVTSEL.OS;
    if (desc.vendor === 'amd') {
      // amd_core_hw_config: exclude_host -> GuestOnly, exclude_guest -> HostOnly; both -> count nothing.
      if (attr.excludeHost && attr.excludeGuest) config &= ~(EVTSEL.USR | EVTSEL.OS);
      else if (attr.excludeHost) config |= EVTSEL.AMD_GUEST_ONLY;
      else if (attr.excludeGuest) config |= EVTSEL.AMD_HOST_ONLY;
    }
    let fixedBits = FIXED_CTRL.PMI;
    if (config & EVTSEL.OS) fixedBits |= FIXED_CTRL.OS;
    if (config & EVTSEL.USR) fixedBits |= FIXED_CTRL.USR;
    const fixedOnly = desc.vendor === 'intel' && INTEL_FIXED_ONLY.has(raw);
    let gpMask = fixedOnly ? 0 : gpCounterMask(desc, raw);
    // hsw_get_event_constraints: a checkpointed event runs on GP counter 2 only.
    if (raw & EVTSEL.IN_TXCP) gpMask &= COUNTER2_ONLY;
    return { config, fixedIndex, gpMask, fixedBits, name };
  }

  // ---------------------------------------------------------------- scheduling

  startTxn(cpu: number): void {
    this.hw[cpu]!.txnStart = this.hw[cpu]!.events.length;
  }

  /** x86_pmu_add: collect; outside a transaction, check right away that everything fits. */
  add(cpu: number, event: KernelEvent): boolean {
    const hw = this.hw[cpu]!;
    if (hw.events.length >= this.desc.nrGp + this.desc.nrFixed) return false;
    hw.events.push(event);
    if (hw.txnStart >= 0) return true;
    if (!this.scheduleEvents(hw)) {
      hw.events.pop();
      return false;
    }
    hw.added++;
    return true;
  }

  commitTxn(cpu: number): boolean {
    const hw = this.hw[cpu]!;
    if (!this.scheduleEvents(hw)) return false; // the core cancels
    hw.added += hw.events.length - hw.txnStart;
    hw.txnStart = -1;
    return true;
  }

  cancelTxn(cpu: number): void {
    const hw = this.hw[cpu]!;
    if (hw.txnStart >= 0) hw.events.length = hw.txnStart;
    hw.txnStart = -1;
  }

  /**
   * x86_schedule_events: keep every event on the counter it had if possible
   * (fast path); else assign by constraint weight, lightest first, each taking
   * a free fixed counter if it can, else the lowest free GP counter. On
   * success the assignment replaces hw.assign; on failure hw.assign is kept.
   */
  private scheduleEvents(hw: CpuHwEvents): boolean {
    const { nrGp } = this.desc;
    const events = hw.events;
    const n = events.length;
    const assign = this.assignScratch;
    const used = this.usedScratch;
    used.fill(0);
    let fast = true;
    for (let i = 0; i < n; i++) {
      const e = events[i]!;
      const prev = e.idx;
      if (prev < 0 || !this.counterFits(e, prev) || used[prev] === 1) {
        fast = false;
        break;
      }
      assign[i] = prev;
      used[prev] = 1;
    }
    if (fast) return this.assignmentTaken(hw, n);

    // Lightest constraint first (fewest possible counters), ties in add order.
    used.fill(0);
    const order = this.orderScratch;
    const weight = this.weightScratch;
    for (let i = 0; i < n; i++) {
      const e = events[i]!;
      weight[i] = hweight(e.hw.gpMask) + (e.hw.fixedIndex >= 0 ? 1 : 0);
      let k = i;
      while (k > 0 && weight[order[k - 1]!]! > weight[i]!) {
        order[k] = order[k - 1]!;
        k--;
      }
      order[k] = i;
    }
    for (let k = 0; k < n; k++) {
      const i = order[k]!;
      const e = events[i]!;
      let chosen = -1;
      if (e.hw.fixedIndex >= 0 && used[FIXED_IDX + e.hw.fixedIndex] === 0)
        chosen = FIXED_IDX + e.hw.fixedIndex;
      else {
        for (let c = 0; c < nrGp; c++) {
          if (used[c] === 0 && (e.hw.gpMask >> c) & 1) {
            chosen = c;
            break;
          }
        }
      }
      if (chosen < 0) return false;
      assign[i] = chosen;
      used[chosen] = 1;
    }
    return this.assignmentTaken(hw, n);
  }

  /**
   * The scratch assignment of n events becomes hw.assign (an array kept, not
   * one per schedule; grown by appending and shrunk by pop, which stay on
   * V8's fast paths where setting `length` is a runtime call).
   */
  private assignmentTaken(hw: CpuHwEvents, n: number): true {
    const assign = hw.assign;
    for (let i = 0; i < n; i++) assign[i] = this.assignScratch[i]!;
    while (assign.length > n) assign.pop();
    return true;
  }

  /** Scratch for scheduleEvents: counters in use (GP 0.., fixed 32..), the order and weights. */
  private readonly usedScratch = new Uint8Array(64);
  private readonly assignScratch = new Int32Array(64);
  private readonly orderScratch = new Int32Array(64);
  private readonly weightScratch = new Int32Array(64);

  private counterFits(e: KernelEvent, idx: number): boolean {
    if (idx >= FIXED_IDX) return idx - FIXED_IDX === e.hw.fixedIndex;
    return idx < this.desc.nrGp && ((e.hw.gpMask >> idx) & 1) === 1;
  }

  /** x86_pmu_del: stop with update, and give the counter back. */
  del(cpu: number, event: KernelEvent): void {
    const hw = this.hw[cpu]!;
    const i = hw.events.indexOf(event);
    if (i < 0) return;
    if (event.idx >= 0) this.stop(cpu, event);
    removeAt(hw.events, i);
    removeAt(hw.assign, i);
    event.lastIdx = event.idx;
    event.idx = -1;
    this.updateMasks(hw);
  }

  // ---------------------------------------------------------------- enable / disable

  disable(cpu: number): void {
    if (this.hw[cpu]!.disableDepth++ === 0) this.disableAll(cpu);
  }

  /** x86_pmu_enable: program what was added or moved, then enable everything. */
  enable(cpu: number): void {
    const hw = this.hw[cpu]!;
    if (hw.disableDepth === 0) throw new Error('x86 pmu: enable without disable');
    if (hw.disableDepth > 1) {
      hw.disableDepth--;
      return;
    }
    // Program with the PMU still disabled (depth 1), so fixed-counter changes
    // are only cached in fixedCtrl and enableAll() writes FIXED_CTR_CTRL once.
    if (hw.added > 0) {
      // Events that keep running but must move: stop them on their old counter.
      for (let i = 0; i < hw.events.length; i++) {
        const e = hw.events[i]!;
        if (e.idx >= 0 && e.idx !== hw.assign[i]) {
          this.stop(cpu, e);
          e.idx = -1;
        }
      }
      for (let i = 0; i < hw.events.length; i++) {
        const e = hw.events[i]!;
        if (e.idx === hw.assign[i]) continue;
        e.idx = hw.assign[i]!;
        if (!e.throttled) this.start(cpu, e);
      }
      hw.added = 0;
      this.updateMasks(hw);
      if (!hw.guestLvtpcLoaded) this.port(cpu).wrmsrNumber(MSR.X2APIC_LVTPC, LVT.DM_NMI);
    }
    hw.disableDepth = 0;
    this.enableAll(cpu);
  }

  private disableAll(cpu: number): void {
    const port = this.port(cpu);
    if (this.desc.vendor === 'intel' && this.desc.version >= 2)
      port.wrmsr(MSR.IA32_PERF_GLOBAL_CTRL, 0n);
    else if (this.desc.perfMonV2) port.wrmsr(MSR.MSR_AMD64_PERF_CNTR_GLOBAL_CTL, 0n);
    else {
      // x86_pmu_disable_all: clear EN in every active selector.
      for (const e of this.hw[cpu]!.events) {
        if (e.idx < 0 || e.idx >= FIXED_IDX) continue;
        const sel = port.rdmsr(this.evtselMsr(e.idx));
        if (sel & EVTSEL.EN) port.wrmsr(this.evtselMsr(e.idx), sel & ~EVTSEL.EN);
      }
    }
  }

  private enableAll(cpu: number): void {
    const hw = this.hw[cpu]!;
    const port = this.port(cpu);
    if (hw.fixedCtrl !== hw.fixedCtrlWritten) {
      port.wrmsrNumber(MSR.IA32_FIXED_CTR_CTRL, hw.fixedCtrl);
      hw.fixedCtrlWritten = hw.fixedCtrl;
    }
    if (this.desc.vendor === 'intel' && this.desc.version >= 2) {
      port.wrmsr(
        MSR.IA32_PERF_GLOBAL_CTRL,
        hw.hostGlobalCtrl ?? this.allCountersMask & ~hw.guestOnlyMask,
      );
    } else if (this.desc.perfMonV2) {
      port.wrmsr(MSR.MSR_AMD64_PERF_CNTR_GLOBAL_CTL, this.allCountersMask);
    } else {
      for (const e of hw.events) {
        if (e.idx >= 0 && e.idx < FIXED_IDX && !e.throttled)
          port.wrmsrNumber(this.evtselMsr(e.idx), enabledSelector(e.hw.config));
      }
    }
  }

  private updateMasks(hw: CpuHwEvents): void {
    // Counter indices are GP 0..31 and fixed 32..63: two 32-bit halves, no bigint per event.
    let guestLo = 0;
    let guestHi = 0;
    let hostLo = 0;
    let hostHi = 0;
    for (const e of hw.events) {
      const idx = e.idx;
      if (idx < 0) continue;
      const bit = 1 << (idx & 31);
      if (e.attr.excludeHost) {
        if (idx < 32) guestLo |= bit;
        else guestHi |= bit;
      }
      if (e.attr.excludeGuest) {
        if (idx < 32) hostLo |= bit;
        else hostHi |= bit;
      }
    }
    if (guestLo !== hw.guestOnlyLo || guestHi !== hw.guestOnlyHi || hw.hostGlobalCtrl === null) {
      hw.guestOnlyLo = guestLo;
      hw.guestOnlyHi = guestHi;
      hw.guestOnlyMask = (BigInt(guestHi >>> 0) << 32n) | BigInt(guestLo >>> 0);
      hw.hostGlobalCtrl = this.allCountersMask & ~hw.guestOnlyMask;
      hw.guestSwitch = null;
    }
    if (hostLo !== hw.hostOnlyLo || hostHi !== hw.hostOnlyHi) {
      hw.hostOnlyLo = hostLo;
      hw.hostOnlyHi = hostHi;
      hw.hostOnlyMask = (BigInt(hostHi >>> 0) << 32n) | BigInt(hostLo >>> 0);
      hw.guestSwitch = null;
    }
  }

  // ---------------------------------------------------------------- per-event ops

  /** x86_pmu_stop: disable the counter and, with PERF_EF_UPDATE, fold its count in. */
  stop(cpu: number, event: KernelEvent, update = true): void {
    if (event.idx < 0) return;
    this.disableEvent(cpu, event);
    if (update) this.read(cpu, event);
  }

  /** x86_pmu_start: with PERF_EF_RELOAD program the period, then enable the counter. */
  start(cpu: number, event: KernelEvent, reload = true): void {
    if (event.idx < 0) return;
    if (reload) this.setPeriod(cpu, event);
    this.enableEvent(cpu, event);
  }

  /** x86_perf_event_update: one RDPMC, the delta since the last read, masked to the width. */
  read(cpu: number, event: KernelEvent): void {
    if (event.idx < 0) return;
    const now = this.port(cpu).rdpmcNumber(this.rdpmcIndex(event.idx));
    const range = 2 ** this.desc.gpWidth; // cntval_bits: one width for all counters
    let delta = now - event.prevCount;
    if (delta < 0) delta += range;
    event.prevCount = now;
    event.count += delta;
    event.periodLeft -= delta;
  }

  /**
   * x86_perf_event_set_period: program -left so the counter overflows after
   * `left` events. Returns whether a new period began: only then was the
   * overflow the end of a sample period (a period longer than the counter
   * can count takes several wraps, and the intermediate ones are no sample).
   */
  private setPeriod(cpu: number, event: KernelEvent): boolean {
    const period = event.isSampling ? event.samplePeriod : this.desc.maxPeriod;
    if (!event.isSampling) event.samplePeriod = period;
    let left = event.periodLeft;
    let newPeriod = false;
    if (left <= -period) left = period;
    else if (left <= 0) left += period;
    if (left !== event.periodLeft) {
      event.periodLeft = left;
      event.lastPeriod = period;
      newPeriod = true;
    }
    // Quirk: certain CPUs dont like it if just 1 hw_event is left. KVM's
    // guest (exclude_host) events are exempt (Sean Christopherson's
    // 'Exempt KVM guest events from the minimum period requirements').
    if (left < 2 && !event.attr.excludeHost) left = 2;
    if (left < 1) left = 1;
    // period_left keeps the whole remainder: only the programmed value is cut to the counter range.
    if (left > this.desc.maxPeriod) left = this.desc.maxPeriod;
    // wrmsrl(event_base, (u64)(-left) & cntval_mask), for fixed counters too: a period
    // beyond a narrow counter's range (max_period stays 2^31 - 1 without full-width
    // writes) is cut to the counter's width, never written negative.
    const range = 2 ** this.desc.gpWidth;
    const value = left < range ? range - left : (range - (left % range)) % range;
    event.prevCount = value;
    this.port(cpu).wrmsrNumber(this.counterMsr(event.idx), value);
    return newPeriod;
  }

  private enableEvent(cpu: number, event: KernelEvent): void {
    const hw = this.hw[cpu]!;
    if (event.idx >= FIXED_IDX) {
      const shift = FIXED_CTRL.bits * (event.idx - FIXED_IDX);
      hw.fixedCtrl = ((hw.fixedCtrl & ~(0xf << shift)) | (event.hw.fixedBits << shift)) >>> 0;
      if (hw.disableDepth === 0 && !hw.inPmi) this.enableAll(cpu);
      return;
    }
    this.port(cpu).wrmsrNumber(this.evtselMsr(event.idx), enabledSelector(event.hw.config));
  }

  private disableEvent(cpu: number, event: KernelEvent): void {
    const hw = this.hw[cpu]!;
    if (event.idx >= FIXED_IDX) {
      const shift = FIXED_CTRL.bits * (event.idx - FIXED_IDX);
      hw.fixedCtrl = (hw.fixedCtrl & ~(0xf << shift)) >>> 0;
      if (hw.disableDepth === 0 && !hw.inPmi) this.enableAll(cpu);
      return;
    }
    this.port(cpu).wrmsrNumber(this.evtselMsr(event.idx), Number(event.hw.config));
  }

  // ---------------------------------------------------------------- the PMI

  /**
   * The PMI handler (perf_event_nmi_handler -> x86_pmu.handle_irq). Returns
   * whether the PMU had something to handle (NMI_HANDLED).
   */
  handleIrq(cpu: number): boolean {
    const hw = this.hw[cpu]!;
    if (hw.guestLvtpcLoaded) return false; // the guest's PMU owns the hardware now
    // FIXED_CTR_CTRL changes made by the handler (throttling, a frequency-mode
    // restart) are cached and written once when it re-enables the PMU, as
    // intel_pmu_{en,dis}able_fixed only update cpuc->fixed_ctrl_val.
    hw.inPmi = true;
    try {
      if (this.desc.vendor === 'intel' && this.desc.version >= 2) return this.intelHandleIrq(cpu);
      if (this.desc.perfMonV2) return this.amdV2HandleIrq(cpu);
      return this.legacyHandleIrq(cpu);
    } finally {
      hw.inPmi = false;
    }
  }

  /** intel_pmu_handle_irq: 5 + 2k accesses plus the late LVTPC ack. */
  private intelHandleIrq(cpu: number): boolean {
    const port = this.port(cpu);
    port.wrmsr(MSR.IA32_PERF_GLOBAL_CTRL, 0n);
    let status = port.rdmsr(MSR.IA32_PERF_GLOBAL_STATUS);
    const handled = status !== 0n;
    for (let loops = 0; status !== 0n && loops < 100; loops++) {
      port.wrmsr(MSR.IA32_PERF_GLOBAL_OVF_CTRL, status);
      this.handleOverflowedCounters(cpu, status);
      status = port.rdmsr(MSR.IA32_PERF_GLOBAL_STATUS);
    }
    this.enableAll(cpu);
    port.wrmsrNumber(MSR.X2APIC_LVTPC, LVT.DM_NMI);
    return handled;
  }

  /** amd_pmu_v2_handle_irq. */
  private amdV2HandleIrq(cpu: number): boolean {
    const port = this.port(cpu);
    port.wrmsr(MSR.MSR_AMD64_PERF_CNTR_GLOBAL_CTL, 0n);
    const status = port.rdmsr(MSR.MSR_AMD64_PERF_CNTR_GLOBAL_STATUS);
    if (status !== 0n) {
      this.handleOverflowedCounters(cpu, status);
      port.wrmsr(MSR.MSR_AMD64_PERF_CNTR_GLOBAL_STATUS_CLR, status);
    }
    this.enableAll(cpu);
    // No LVTPC write: the AMD local APIC does not set the mask bit when it
    // delivers a PMI, so there is nothing to unmask (amd_pmu_v2_handle_irq).
    return status !== 0n;
  }

  /** x86_pmu_handle_irq (no status register): an active counter whose top bit cleared has overflowed. */
  private legacyHandleIrq(cpu: number): boolean {
    const port = this.port(cpu);
    port.wrmsrNumber(MSR.X2APIC_LVTPC, LVT.DM_NMI);
    let handled = false;
    for (const e of [...this.hw[cpu]!.events]) {
      if (e.idx < 0 || e.throttled) continue;
      this.read(cpu, e);
      if (e.prevCount >= 2 ** (this.desc.gpWidth - 1)) continue;
      handled = true;
      if (this.setPeriod(cpu, e)) this.overflowed(cpu, e);
    }
    return handled;
  }

  private handleOverflowedCounters(cpu: number, status: bigint): void {
    // Counter bits are GP 0..31 and fixed 32..63: two 32-bit halves, no bigint per event.
    const lo = Number(BigInt.asUintN(32, status));
    const hi = Number(BigInt.asUintN(32, status >> 32n));
    for (const e of [...this.hw[cpu]!.events]) {
      if (e.idx < 0 || (((e.idx < 32 ? lo : hi) >>> (e.idx & 31)) & 1) === 0) continue;
      this.read(cpu, e);
      // intel_pmu_save_and_restart: no overflow to report before the period ends.
      if (this.setPeriod(cpu, e)) this.overflowed(cpu, e);
    }
  }

  // ---------------------------------------------------------------- guest support

  /**
   * perf_guest_get_msrs (legacy vPMU, Intel): the GLOBAL_CTRL to load at
   * VM-entry (no exclude_guest counters) and at VM-exit (no exclude_host).
   */
  guestSwitchGlobalCtrl(cpu: number): { host: bigint; guest: bigint } {
    const hw = this.hw[cpu]!;
    hw.guestSwitch ??= {
      host: this.allCountersMask & ~hw.guestOnlyMask,
      guest: this.allCountersMask & ~hw.hostOnlyMask,
    };
    return hw.guestSwitch;
  }

  setGuestLvtpcLoaded(cpu: number, loaded: boolean): void {
    this.hw[cpu]!.guestLvtpcLoaded = loaded;
  }

  isGuestLvtpcLoaded(cpu: number): boolean {
    return this.hw[cpu]!.guestLvtpcLoaded;
  }

  /** Events currently on hardware counters of a CPU (for tests and reports). */
  activeEvents(cpu: number): readonly KernelEvent[] {
    return item(this.hw, cpu).events.filter((e) => e.idx >= 0 && e.state === EventState.Active);
  }

  // ---------------------------------------------------------------- addresses

  private port(cpu: number): X86CpuPort {
    return this.ports[cpu]!;
  }

  evtselMsr(idx: number): number {
    if (this.desc.vendor === 'intel') return MSR.IA32_PERFEVTSEL0 + idx;
    return this.desc.perfCtrExtCore ? MSR.MSR_F15H_PERF_CTL0 + 2 * idx : MSR.MSR_K7_EVNTSEL0 + idx;
  }

  counterMsr(idx: number): number {
    if (this.desc.vendor === 'intel') {
      if (idx >= FIXED_IDX) return MSR.IA32_FIXED_CTR0 + idx - FIXED_IDX;
      return (this.desc.fullWidthWrites ? MSR.IA32_PMC0 : MSR.IA32_PERFCTR0) + idx;
    }
    return this.desc.perfCtrExtCore ? MSR.MSR_F15H_PERF_CTR0 + 2 * idx : MSR.MSR_K7_PERFCTR0 + idx;
  }

  rdpmcIndex(idx: number): number {
    return idx >= FIXED_IDX ? RDPMC.FIXED | (idx - FIXED_IDX) : idx;
  }
}
