/**
 * kvm-unit-tests x86/pmu.c, ported to the model's public API.
 *
 * The guest side is kept as close to the C as the model allows: `pmu_init`
 * (lib/x86/pmu.c) enumerates the PMU from CPUID, every check_* function runs
 * in the guest with the same MSR traffic, and `report()` failures are
 * collected per guest run. Each describe() is one guest (one VM, one vCPU)
 * running main()'s sequence: check_invalid_rdpmc_gp, check_counters() with the
 * legacy counter MSRs, again with full-width writes (Intel, if
 * PERF_CAPABILITIES.FW_WRITES), check_gp_counters_write_width, and again with
 * the K7 MSRs (AMD).
 *
 * Differences from the C, all forced by the model's API:
 * - The measured loop (LOOP_ASM) is one block of Work retiring what the asm
 *   retires besides its two WRMSRs (N iterations of mov, add, 7 nops and
 *   loop, the clflush/mfence/IBPB jmp, the movs and xors around them). The
 *   GuestCpu's rdmsr/wrmsr/rdpmc/cpuid retire one instruction each, as on
 *   KVM (kvm_skip_emulated_instruction when they exit), so of
 *   __precise_loop's enabling and disabling WRMSR exactly one is counted,
 *   which is the one WRMSR inside upstream's EXTRA_INSNS (3 + 3).
 * - PMIs are delivered at the overflow, not held pending until check_irq()'s
 *   STI: the handler only notes it, and check_irq() runs cnt_overflow's body.
 * - Not ported: set_ref_cycle_expectations (no RDTSC in the GuestCpu; the
 *   ref-cycles bounds are used unscaled) and check_tsx_cycles (the model has
 *   no TSX; upstream returns early without RTM as well).
 *
 * Additions, marked "Not upstream" where they are: main()'s printed
 * enumeration checked against what KVM offers (checkEnumeration), the exact
 * number of injected PMIs and the LVTPC mask-on-delivery rule in
 * check_counter_overflow, and a legacy PERFCTR write with bit 31 set in
 * check_rdpmc (upstream's value has it clear, so never sign-extends).
 */
import { before, describe, it } from 'node:test';
import { MSR, type CpuModel, type GuestCpu, type Vcpu, type Work } from '../../src/index.ts';
import {
  CONFIGS,
  EVENTSEL,
  GP_VECTOR,
  MSR_P6_EVNTSEL0,
  PMU_CAP_FW_WRITES,
  Report,
  faultVector,
  oneVcpu,
  rdmsrSafe,
  rdpmcSafe,
  widthMask,
  type Config,
} from './helpers.ts';

const N = 1_000_000;
const IBPB_JMP_INSNS = 9;
const IBPB_JMP_BRANCHES = 2;
/* GLOBAL_CTRL enable + disable + clflush/mfence + IBPB_JMP */
const EXTRA_INSNS = 3 + 3 + 2 + IBPB_JMP_INSNS;
const LOOP_INSNS = N * 10 + EXTRA_INSNS;
const LOOP_BRANCHES = N + IBPB_JMP_BRANCHES;

/**
 * LOOP_ASM as Work. Instructions and branches are the asm's; the rest are
 * plausible for its 64 MB stride walk and inside every bound of the tables
 * below: cycles and reference cycles (3 per iteration), LLC references and
 * misses from the clflush and the stride, the IBPB-forced mispredicts.
 */
const LOOP: Work = {
  // LOOP_INSNS counts one of the two WRMSRs, which wrmsr() retires itself.
  instructions: LOOP_INSNS - 1,
  branches: LOOP_BRANCHES,
  cycles: 3 * N,
  refCycles: 3 * N,
  llcReferences: N / 2,
  llcMisses: N / 4,
  branchMisses: IBPB_JMP_BRANCHES,
  loads: N,
};

/* The number of instructions and branches of the kvm_fep_asm() blob. */
const KVM_FEP_INSNS = 22;
const KVM_FEP_BRANCHES = 5;

const PMI_VECTOR = 32;
const FIXED_CNT_INDEX = 32;
const AMD64_NUM_COUNTERS = 4;
const AMD64_NUM_COUNTERS_CORE = 6;
const PMC_DEFAULT_WIDTH = 48;
const APIC_LVT_MASKED = 1n << 16n;
const U64 = widthMask(64);

interface PmuEvent {
  name: string;
  unitSel: number;
  min: number;
  max: number;
}

const intelGpEvents = (): PmuEvent[] => [
  { name: 'core cycles', unitSel: 0x003c, min: 1 * N, max: 50 * N },
  { name: 'instructions', unitSel: 0x00c0, min: 10 * N, max: 10.2 * N },
  { name: 'ref cycles', unitSel: 0x013c, min: 1 * N, max: 30 * N },
  { name: 'llc references', unitSel: 0x4f2e, min: 1, max: 2.5 * N },
  { name: 'llc misses', unitSel: 0x412e, min: 1, max: 1 * N },
  { name: 'branches', unitSel: 0x00c4, min: 1 * N, max: 1.1 * N },
  { name: 'branch misses', unitSel: 0x00c5, min: 1, max: 0.1 * N },
];
const amdGpEvents = (): PmuEvent[] => [
  { name: 'core cycles', unitSel: 0x0076, min: 1 * N, max: 50 * N },
  { name: 'instructions', unitSel: 0x00c0, min: 10 * N, max: 10.2 * N },
  { name: 'branches', unitSel: 0x00c2, min: 1 * N, max: 1.1 * N },
  { name: 'branch misses', unitSel: 0x00c3, min: 1, max: 0.1 * N },
];
const fixedEvents: readonly PmuEvent[] = [
  { name: 'fixed 0', unitSel: MSR.IA32_FIXED_CTR0, min: 10 * N, max: 10.2 * N },
  { name: 'fixed 1', unitSel: MSR.IA32_FIXED_CTR0 + 1, min: 1 * N, max: 30 * N },
  { name: 'fixed 2', unitSel: MSR.IA32_FIXED_CTR0 + 2, min: 0.1 * N, max: 30 * N },
];
const INTEL_INSTRUCTIONS_IDX = 1;
const INTEL_BRANCHES_IDX = 5;
const AMD_INSTRUCTIONS_IDX = 1;
const AMD_BRANCHES_IDX = 2;

/** struct pmu_caps (lib/x86/pmu.h). */
interface PmuCaps {
  isIntel: boolean;
  version: number;
  nrFixedCounters: number;
  fixedCounterWidth: number;
  nrGpCounters: number;
  gpCounterWidth: number;
  archEventMaskLength: number;
  archEventAvailable: number;
  msrGpCounterBase: number;
  msrGpEventSelectBase: number;
  msrGlobalStatus: number;
  msrGlobalCtl: number;
  msrGlobalStatusClr: number;
  perfCap: bigint;
}

interface PmuCounter {
  ctr: number;
  idx: number;
  config: bigint;
  count: bigint;
}

/** The guest program: pmu.c's globals and functions over one vCPU. */
class KutPmu {
  g!: GuestCpu;
  pmu!: PmuCaps;
  gpEvents: PmuEvent[] = [];
  fixedCountersNum = 0;
  irqReceived = 0;
  /** LVTPC as the PMI handler found it (not upstream: checks the mask-on-delivery rule). */
  lvtpcAtPmi: bigint[] = [];
  readonly r = new Report();

  constructor(readonly vcpu: Vcpu) {}

  run(fn: () => void): void {
    this.vcpu.run((g) => {
      this.g = g;
      fn();
    });
  }

  // ---- lib/x86/pmu.c and pmu.h

  pmuInit(): void {
    const g = this.g;
    const isIntel = g.cpuid(0).ebx === 0x756e6547; // "Genu"
    const p: PmuCaps = {
      isIntel,
      version: 0,
      nrFixedCounters: 0,
      fixedCounterWidth: 0,
      nrGpCounters: 0,
      gpCounterWidth: 0,
      archEventMaskLength: 0,
      archEventAvailable: 0,
      msrGpCounterBase: 0,
      msrGpEventSelectBase: 0,
      msrGlobalStatus: 0,
      msrGlobalCtl: 0,
      msrGlobalStatusClr: 0,
      perfCap: 0n,
    };
    if (isIntel) {
      const a = g.cpuid(0xa);
      p.version = a.eax & 0xff;
      if (p.version > 1) {
        p.nrFixedCounters = a.edx & 0x1f;
        p.fixedCounterWidth = (a.edx >>> 5) & 0xff;
      }
      p.nrGpCounters = (a.eax >>> 8) & 0xff;
      p.gpCounterWidth = (a.eax >>> 16) & 0xff;
      p.archEventMaskLength = a.eax >>> 24;
      /* CPUID.0xA.EBX bit is '1' if an arch event is NOT available. */
      p.archEventAvailable = ~a.ebx & ((1 << p.archEventMaskLength) - 1);
      // this_cpu_has(X86_FEATURE_PDCM): the model's CPUID.1 is not populated,
      // and KVM gives PDCM exactly with a vPMU, where the MSR reads.
      const caps = rdmsrSafe(g, MSR.IA32_PERF_CAPABILITIES);
      if (caps.vector === 0) p.perfCap = caps.value;
      p.msrGpCounterBase = MSR.IA32_PERFCTR0;
      p.msrGpEventSelectBase = MSR_P6_EVNTSEL0;
      if (p.version > 1) {
        p.msrGlobalStatus = MSR.IA32_PERF_GLOBAL_STATUS;
        p.msrGlobalCtl = MSR.IA32_PERF_GLOBAL_CTRL;
        p.msrGlobalStatusClr = MSR.IA32_PERF_GLOBAL_OVF_CTRL;
      }
    } else {
      if (g.cpuid(0x80000001).ecx & (1 << 23)) {
        /* Performance Monitoring Version 2 Supported */
        const ext = g.cpuid(0x80000022);
        if (ext.eax & 1) {
          p.version = 2;
          p.nrGpCounters = ext.ebx & 0xf;
        } else {
          p.nrGpCounters = AMD64_NUM_COUNTERS_CORE;
        }
        p.msrGpCounterBase = MSR.MSR_F15H_PERF_CTR0;
        p.msrGpEventSelectBase = MSR.MSR_F15H_PERF_CTL0;
      } else {
        p.nrGpCounters = AMD64_NUM_COUNTERS;
        p.msrGpCounterBase = MSR.MSR_K7_PERFCTR0;
        p.msrGpEventSelectBase = MSR.MSR_K7_EVNTSEL0;
      }
      p.gpCounterWidth = PMC_DEFAULT_WIDTH;
      p.archEventMaskLength = 32;
      p.archEventAvailable = -1;
      if (p.version > 1) {
        p.msrGlobalStatus = MSR.MSR_AMD64_PERF_CNTR_GLOBAL_STATUS;
        p.msrGlobalCtl = MSR.MSR_AMD64_PERF_CNTR_GLOBAL_CTL;
        p.msrGlobalStatusClr = MSR.MSR_AMD64_PERF_CNTR_GLOBAL_STATUS_CLR;
      }
    }
    this.pmu = p;
    this.pmuResetAllCounters();
  }

  gpCounterMsr(i: number): number {
    const p = this.pmu;
    return p.msrGpCounterBase === MSR.MSR_F15H_PERF_CTR0
      ? p.msrGpCounterBase + 2 * i
      : p.msrGpCounterBase + i;
  }

  gpEventSelectMsr(i: number): number {
    const p = this.pmu;
    return p.msrGpEventSelectBase === MSR.MSR_F15H_PERF_CTL0
      ? p.msrGpEventSelectBase + 2 * i
      : p.msrGpEventSelectBase + i;
  }

  hasPerfGlobalCtrl(): boolean {
    return this.pmu.version > 1;
  }

  hasPerfGlobalStatus(): boolean {
    return this.pmu.version > 1;
  }

  archEventIsAvailable(i: number): boolean {
    return (this.pmu.archEventAvailable & (1 << i)) !== 0;
  }

  hasFullWrites(): boolean {
    return (this.pmu.perfCap & PMU_CAP_FW_WRITES) !== 0n;
  }

  useFullWrites(): boolean {
    return this.pmu.msrGpCounterBase === MSR.IA32_PMC0;
  }

  pmuResetAllCounters(): void {
    for (let i = 0; i < this.pmu.nrGpCounters; i++) {
      this.g.wrmsr(this.gpEventSelectMsr(i), 0n);
      this.g.wrmsr(this.gpCounterMsr(i), 0n);
    }
    if (!this.pmu.nrFixedCounters) return;
    this.g.wrmsr(MSR.IA32_FIXED_CTR_CTRL, 0n);
    for (let i = 0; i < this.pmu.nrFixedCounters; i++) this.g.wrmsr(MSR.IA32_FIXED_CTR0 + i, 0n);
  }

  pmuClearGlobalStatus(): void {
    this.g.wrmsr(this.pmu.msrGlobalStatusClr, this.g.rdmsr(this.pmu.msrGlobalStatus));
  }

  // ---- x86/pmu.c

  /** main(): everything before check_counters(). */
  main(c: Config): void {
    this.g.onInterrupt(PMI_VECTOR, () => this.cntOverflow());
    this.pmuInit();
    if (this.hasPerfGlobalCtrl()) this.g.wrmsr(this.pmu.msrGlobalCtl, 0n);
    this.r.push(this.pmu.isIntel ? 'Intel' : 'AMD');
    this.gpEvents = this.pmu.isIntel ? intelGpEvents() : amdGpEvents();
    this.adjustEventsRange();
    this.fixedCountersNum = Math.min(this.pmu.nrFixedCounters, fixedEvents.length);
    this.g.wrmsr(MSR.X2APIC_LVTPC, BigInt(PMI_VECTOR));
    this.r.report(this.pmu.isIntel === (c.vendor === 'intel'), 'vendor');
  }

  adjustEventsRange(): void {
    // Intel with GLOBAL_CTRL: precise instructions and branches (no overcount errata here).
    if (this.pmu.isIntel && this.hasPerfGlobalCtrl()) {
      const insns = this.gpEvents[INTEL_INSTRUCTIONS_IDX]!;
      insns.min = insns.max = LOOP_INSNS;
      const branches = this.gpEvents[INTEL_BRANCHES_IDX]!;
      branches.min = branches.max = LOOP_BRANCHES;
    }
    // has_ibpb(): the branch-miss lower bound stays 1.
  }

  instructionIdx(): number {
    return this.pmu.isIntel ? INTEL_INSTRUCTIONS_IDX : AMD_INSTRUCTIONS_IDX;
  }

  /** __loop(): the loop without touching GLOBAL_CTRL. */
  loopPlain(): void {
    // LOOP_ASM("nop", ...): both WRMSR slots are NOPs, and both retire while counting.
    this.g.exec({ ...LOOP, instructions: LOOP_INSNS + 1 });
  }

  /** loop(cntrs): __precise_loop enables exactly `cntrs` around the blob when GLOBAL_CTRL exists. */
  loop(cntrs: bigint): void {
    if (!this.hasPerfGlobalCtrl()) return this.loopPlain();
    this.g.wrmsr(this.pmu.msrGlobalCtl, cntrs);
    this.g.exec(LOOP);
    this.g.wrmsr(this.pmu.msrGlobalCtl, 0n);
  }

  /**
   * The PMI arrives at the overflow, inside the measured window, where
   * upstream's guest has interrupts off: it is only noted here, and
   * cnt_overflow's body (whose RDMSR/WRMSRs retire like any instruction) runs
   * at check_irq()'s STI, after the counters are disabled, as upstream's does.
   */
  cntOverflow(): void {
    this.irqReceived++;
  }

  /** check_irq(): STI, the held PMI's cnt_overflow runs, CLI. */
  checkIrq(): boolean {
    const received = this.irqReceived > 0;
    for (; this.irqReceived > 0; this.irqReceived--) {
      this.lvtpcAtPmi.push(this.g.rdmsr(MSR.X2APIC_LVTPC));
      this.g.wrmsr(MSR.X2APIC_LVTPC, this.g.rdmsr(MSR.X2APIC_LVTPC) & ~APIC_LVT_MASKED);
      this.g.wrmsr(MSR.X2APIC_EOI, 0n);
    }
    return received;
  }

  isGp(evt: PmuCounter): boolean {
    if (!this.pmu.isIntel) return true;
    return evt.ctr < MSR.IA32_FIXED_CTR0 || evt.ctr >= MSR.IA32_PMC0;
  }

  eventToGlobalIdx(cnt: PmuCounter): number {
    const p = this.pmu;
    if (p.isIntel) {
      return (
        cnt.ctr - (this.isGp(cnt) ? p.msrGpCounterBase : MSR.IA32_FIXED_CTR0 - FIXED_CNT_INDEX)
      );
    }
    if (p.msrGpCounterBase === MSR.MSR_F15H_PERF_CTR0) return (cnt.ctr - p.msrGpCounterBase) / 2;
    return cnt.ctr - p.msrGpCounterBase;
  }

  getCounterEvent(cnt: PmuCounter): PmuEvent | null {
    if (this.isGp(cnt)) {
      return this.gpEvents.find((e) => BigInt(e.unitSel) === (cnt.config & 0xffffn)) ?? null;
    }
    return fixedEvents[cnt.ctr - MSR.IA32_FIXED_CTR0] ?? null;
  }

  globalEnable(cnt: PmuCounter): void {
    if (!this.hasPerfGlobalCtrl()) return;
    cnt.idx = this.eventToGlobalIdx(cnt);
    const ctl = this.pmu.msrGlobalCtl;
    this.g.wrmsr(ctl, this.g.rdmsr(ctl) | (1n << BigInt(cnt.idx)));
  }

  globalDisable(cnt: PmuCounter): void {
    if (!this.hasPerfGlobalCtrl()) return;
    const ctl = this.pmu.msrGlobalCtl;
    this.g.wrmsr(ctl, this.g.rdmsr(ctl) & ~(1n << BigInt(cnt.idx)));
  }

  startEventRaw(evt: PmuCounter, count: bigint): void {
    const g = this.g;
    evt.count = count;
    g.wrmsr(evt.ctr, evt.count);
    if (this.isGp(evt)) {
      g.wrmsr(this.gpEventSelectMsr(this.eventToGlobalIdx(evt)), evt.config | EVENTSEL.ENABLE);
    } else {
      let ctrl = g.rdmsr(MSR.IA32_FIXED_CTR_CTRL) & 0xffffffffn;
      const shift = BigInt((evt.ctr - MSR.IA32_FIXED_CTR0) * 4);
      let usrospmi = 0n;
      if (evt.config & EVENTSEL.OS) usrospmi |= 1n << 0n;
      if (evt.config & EVENTSEL.USR) usrospmi |= 1n << 1n;
      if (evt.config & EVENTSEL.INT) usrospmi |= 1n << 3n; // PMI on overflow
      ctrl = (ctrl & ~(0xfn << shift)) | (usrospmi << shift);
      g.wrmsr(MSR.IA32_FIXED_CTR_CTRL, ctrl);
    }
    g.wrmsr(MSR.X2APIC_LVTPC, BigInt(PMI_VECTOR));
  }

  startEvent(evt: PmuCounter): void {
    this.startEventRaw(evt, 0n);
    this.globalEnable(evt);
  }

  stopEventRaw(evt: PmuCounter): void {
    const g = this.g;
    if (this.isGp(evt)) {
      g.wrmsr(this.gpEventSelectMsr(this.eventToGlobalIdx(evt)), evt.config & ~EVENTSEL.ENABLE);
    } else {
      const ctrl = g.rdmsr(MSR.IA32_FIXED_CTR_CTRL) & 0xffffffffn;
      const shift = BigInt((evt.ctr - MSR.IA32_FIXED_CTR0) * 4);
      g.wrmsr(MSR.IA32_FIXED_CTR_CTRL, ctrl & ~(0xfn << shift));
    }
    evt.count = g.rdmsr(evt.ctr);
  }

  stopEvent(evt: PmuCounter): void {
    this.globalDisable(evt);
    this.stopEventRaw(evt);
  }

  measureMany(evts: PmuCounter[]): void {
    let cntrs = 0n;
    for (const e of evts) {
      this.startEventRaw(e, 0n);
      cntrs |= 1n << BigInt(this.eventToGlobalIdx(e));
    }
    this.loop(cntrs);
    for (const e of evts) this.stopEventRaw(e);
  }

  measureOne(evt: PmuCounter): void {
    this.measureMany([evt]);
  }

  measure(evt: PmuCounter, count: bigint): void {
    const cntrs = 1n << BigInt(this.eventToGlobalIdx(evt));
    this.startEventRaw(evt, count);
    this.loop(cntrs);
    this.stopEventRaw(evt);
  }

  verifyEvent(count: bigint, e: PmuEvent | null): boolean {
    if (!e) return false;
    return count >= BigInt(Math.ceil(e.min)) && count <= BigInt(Math.floor(e.max));
  }

  verifyCounter(cnt: PmuCounter): boolean {
    return this.verifyEvent(cnt.count, this.getCounterEvent(cnt));
  }

  counter(ctr: number, config: bigint): PmuCounter {
    return { ctr, idx: 0, config, count: 0n };
  }

  checkGpCounter(evt: PmuEvent): void {
    const cnt = this.counter(0, EVENTSEL.OS | EVENTSEL.USR | BigInt(evt.unitSel));
    for (let i = 0; i < this.pmu.nrGpCounters; i++) {
      cnt.ctr = this.gpCounterMsr(i);
      this.measureOne(cnt);
      this.r.report(
        this.verifyEvent(cnt.count, evt),
        `${evt.name}-${i}`,
        `${evt.min} <= ${cnt.count} <= ${evt.max}`,
      );
    }
  }

  checkGpCounters(): void {
    this.gpEvents.forEach((e, i) => {
      if (this.archEventIsAvailable(i)) this.checkGpCounter(e);
      else this.r.skip(`GP event '${e.name}' is disabled`);
    });
  }

  checkFixedCounters(): void {
    const cnt = this.counter(0, EVENTSEL.OS | EVENTSEL.USR);
    for (let i = 0; i < this.fixedCountersNum; i++) {
      cnt.ctr = fixedEvents[i]!.unitSel;
      this.measureOne(cnt);
      this.r.report(
        this.verifyEvent(cnt.count, fixedEvents[i]!),
        `fixed-${i}`,
        `count ${cnt.count}`,
      );
    }
  }

  getOneEvent(idx: number): PmuEvent | null {
    if (this.archEventIsAvailable(idx)) return this.gpEvents[idx % this.gpEvents.length]!;
    return this.gpEvents.find((_, i) => this.archEventIsAvailable(i)) ?? null;
  }

  checkCountersMany(): void {
    const cnt: PmuCounter[] = [];
    for (let i = 0; cnt.length < this.pmu.nrGpCounters; i++) {
      const evt = this.getOneEvent(i);
      if (!evt) continue;
      cnt.push(
        this.counter(
          this.gpCounterMsr(cnt.length),
          EVENTSEL.OS | EVENTSEL.USR | BigInt(evt.unitSel),
        ),
      );
    }
    for (let i = 0; i < this.fixedCountersNum; i++) {
      cnt.push(this.counter(fixedEvents[i]!.unitSel, EVENTSEL.OS | EVENTSEL.USR));
    }
    this.measureMany(cnt);
    const bad = cnt.findIndex((c) => !this.verifyCounter(c));
    this.r.report(
      bad === -1,
      'all counters',
      bad === -1 ? '' : `counter 0x${cnt[bad]!.ctr.toString(16)} = ${cnt[bad]!.count}`,
    );
  }

  measureForOverflow(cnt: PmuCounter): bigint {
    this.measure(cnt, 0n);
    /*
     * To generate overflow, i.e. roll over to '0', the initial count just
     * needs to be preset to the negative expected count.  However, as per
     * Intel's SDM, the preset count needs to be incremented by 1 to ensure
     * the overflow interrupt is generated immediately instead of possibly
     * waiting for the overflow to propagate through the counter.
     */
    if (cnt.count <= 1n) throw new Error(`measure_for_overflow: count ${cnt.count}`);
    return (1n - cnt.count) & U64;
  }

  checkCounterOverflow(): void {
    const p = this.pmu;
    const cnt = this.counter(
      this.gpCounterMsr(0),
      EVENTSEL.OS | EVENTSEL.USR | BigInt(this.gpEvents[this.instructionIdx()]!.unitSel),
    );
    const overflowPreset = this.measureForOverflow(cnt);
    /* clear status before test */
    if (this.hasPerfGlobalStatus()) this.pmuClearGlobalStatus();
    const pmisBefore = this.vcpu.stats.pmis;
    let pmisExpected = 0;
    this.lvtpcAtPmi = [];
    this.r.push('overflow');
    for (let i = 0; i < p.nrGpCounters + 1; i++) {
      if (i === p.nrGpCounters) {
        if (!p.isIntel) break;
        cnt.ctr = fixedEvents[0]!.unitSel;
        cnt.count = this.measureForOverflow(cnt);
        cnt.count &= widthMask(p.fixedCounterWidth);
      } else {
        cnt.ctr = this.gpCounterMsr(i);
        cnt.count = overflowPreset;
        if (this.useFullWrites()) cnt.count &= widthMask(p.gpCounterWidth);
      }
      if (i % 2) cnt.config |= EVENTSEL.INT;
      else cnt.config &= ~EVENTSEL.INT;
      const idx = this.eventToGlobalIdx(cnt);
      if (i % 2) pmisExpected++;
      this.measure(cnt, cnt.count);
      if (p.isIntel) this.r.report(cnt.count === 1n, `cntr-${i}`, `count ${cnt.count}`);
      else
        this.r.report(
          cnt.count === 0xffffffffffffn || cnt.count < 7n,
          `cntr-${i}`,
          `count ${cnt.count}`,
        );

      if (!this.hasPerfGlobalStatus()) {
        this.checkIrq(); // not reported upstream; the held PMI is taken here
        continue;
      }

      let status = this.g.rdmsr(p.msrGlobalStatus);
      this.r.report(
        (status & (1n << BigInt(idx))) !== 0n,
        `status-${i}`,
        `status 0x${status.toString(16)}`,
      );
      this.g.wrmsr(p.msrGlobalStatusClr, status);
      status = this.g.rdmsr(p.msrGlobalStatus);
      this.r.report((status & (1n << BigInt(idx))) === 0n, `status clear-${i}`);
      this.r.report(this.checkIrq() === (i % 2 === 1), `irq-${i}`);
    }
    // Not upstream: exactly one injected PMI per INT-enabled overflow (v1 PMUs included),
    // and the LVTPC mask bit set on delivery for Intel-compatible guests only.
    const pmis = this.vcpu.stats.pmis - pmisBefore;
    this.r.report(pmis === pmisExpected, 'PMI count', `${pmis} PMIs, expected ${pmisExpected}`);
    this.r.report(
      this.lvtpcAtPmi.length === pmisExpected,
      'PMI handler runs',
      `${this.lvtpcAtPmi.length}`,
    );
    const masked = this.lvtpcAtPmi.filter((v) => (v & APIC_LVT_MASKED) !== 0n).length;
    this.r.report(
      masked === (p.isIntel ? pmisExpected : 0),
      'LVTPC mask on delivery',
      `${masked} of ${this.lvtpcAtPmi.length}`,
    );
    this.checkIrq();
    this.r.pop();
  }

  checkGpCounterCmask(): void {
    const idx = this.instructionIdx();
    const cnt = this.counter(
      this.gpCounterMsr(0),
      EVENTSEL.OS | EVENTSEL.USR | BigInt(this.gpEvents[idx]!.unitSel),
    );
    cnt.config |= 0x2n << EVENTSEL.CMASK_SHIFT;
    this.measureOne(cnt);
    this.r.report(cnt.count < BigInt(this.gpEvents[idx]!.min), 'cmask', `count ${cnt.count}`);
  }

  /** do_rdpmc_fast under test_for_exception: undefined if it #GPs. */
  rdpmcFast(cnt: PmuCounter): bigint | undefined {
    let idx = (cnt.idx | 0x80000000) >>> 0;
    if (!this.isGp(cnt)) idx = (idx | (1 << 30)) >>> 0;
    const { vector, value } = rdpmcSafe(this.g, idx);
    if (vector && vector !== GP_VECTOR) throw new Error(`rdpmc fast: vector ${vector}`);
    return vector ? undefined : value;
  }

  checkRdpmc(): void {
    const p = this.pmu;
    const val = 0xff0123456789n;
    this.r.push('rdpmc');
    for (let i = 0; i < p.nrGpCounters; i++) {
      const cnt: PmuCounter = { ctr: this.gpCounterMsr(i), idx: i, config: 0n, count: 0n };
      /*
       * Without full-width writes, only the low 32 bits are writable,
       * and the value is sign-extended.
       */
      let x =
        p.msrGpCounterBase === MSR.IA32_PERFCTR0 ? BigInt.asUintN(64, BigInt.asIntN(32, val)) : val;
      /* Mask according to the number of supported bits */
      x &= widthMask(p.gpCounterWidth);
      this.g.wrmsr(this.gpCounterMsr(i), val);
      const got = this.g.rdpmc(i);
      this.r.report(got === x, `cntr-${i}`, `0x${got.toString(16)} != 0x${x.toString(16)}`);
      const fast = this.rdpmcFast(cnt);
      if (fast === undefined) this.r.skip(`fast-${i}`);
      else this.r.report(fast === (val & 0xffffffffn), `fast-${i}`);
      // Not upstream (val has bit 31 clear): a legacy write with bit 31 set is sign-extended.
      if (p.msrGpCounterBase === MSR.IA32_PERFCTR0) {
        this.g.wrmsr(this.gpCounterMsr(i), 0x80000000n);
        const ext = this.g.rdpmc(i);
        const want = widthMask(p.gpCounterWidth) & ~0x7fffffffn;
        this.r.report(ext === want, `sign extension-${i}`, `0x${ext.toString(16)}`);
      }
    }
    for (let i = 0; i < this.fixedCountersNum; i++) {
      const x = val & widthMask(p.fixedCounterWidth);
      const cnt: PmuCounter = { ctr: MSR.IA32_FIXED_CTR0 + i, idx: i, config: 0n, count: 0n };
      this.g.wrmsr(MSR.IA32_FIXED_CTR0 + i, x);
      this.r.report(this.g.rdpmc((i | (1 << 30)) >>> 0) === x, `fixed cntr-${i}`);
      const fast = this.rdpmcFast(cnt);
      if (fast === undefined) this.r.skip(`fixed fast-${i}`);
      else this.r.report(fast === (x & 0xffffffffn), `fixed fast-${i}`);
    }
    this.r.pop();
  }

  checkRunningCounterWrmsr(): void {
    const idx = this.instructionIdx();
    const evt = this.counter(
      this.gpCounterMsr(0),
      EVENTSEL.OS | EVENTSEL.USR | BigInt(this.gpEvents[idx]!.unitSel),
    );
    this.r.push('running counter wrmsr');
    this.startEvent(evt);
    this.loopPlain();
    this.g.wrmsr(this.gpCounterMsr(0), 0n);
    this.stopEvent(evt);
    this.r.report(evt.count < BigInt(this.gpEvents[idx]!.min), 'cntr', `count ${evt.count}`);

    /* clear status before overflow test */
    if (this.hasPerfGlobalStatus()) this.pmuClearGlobalStatus();
    this.startEvent(evt);
    let count = U64; // -1
    if (this.useFullWrites()) count &= widthMask(this.pmu.gpCounterWidth);
    this.g.wrmsr(this.gpCounterMsr(0), count);
    this.loopPlain();
    this.stopEvent(evt);
    if (this.hasPerfGlobalStatus()) {
      const status = this.g.rdmsr(this.pmu.msrGlobalStatus);
      this.r.report((status & 1n) !== 0n, 'status msr bit');
    }
    this.r.pop();
  }

  /**
   * kvm_fep_asm(): wrmsr (GLOBAL_CTRL = BIT(0) | BIT(1), or a nop), mov, mov,
   * cmp, five KVM_FEP jne, five "mov $0xa, eax; cpuid", mov, xor, xor, wrmsr
   * (GLOBAL_CTRL = 0, or a nop).
   */
  kvmFepAsm(globalCtl: number | null): void {
    const g = this.g;
    if (globalCtl !== null) {
      g.wrmsr(globalCtl, 0b11n); // counted: it retires after enabling the counters
    } else {
      g.exec({ instructions: 1 }); // nop
    }
    g.exec({ instructions: 3 }); // mov %ecx, %edi; mov $0, %eax; cmp $0, %eax
    g.execEmulated({ instructions: KVM_FEP_BRANCHES, branches: KVM_FEP_BRANCHES }); // KVM_FEP "jne 1f" x5
    for (let i = 0; i < 5; i++) {
      g.exec({ instructions: 1 }); // mov $0xa, %eax
      g.cpuid(0xa); // exits; KVM counts it (kvm_skip_emulated_instruction)
    }
    g.exec({ instructions: 3 }); // mov %edi, %ecx; xor %eax, %eax; xor %edx, %edx
    if (globalCtl !== null) g.wrmsr(globalCtl, 0n);
    else g.exec({ instructions: 1 }); // nop
  }

  checkEmulatedInstr(): void {
    const p = this.pmu;
    const gpCounterWidth = widthMask(p.gpCounterWidth);
    const branchIdx = p.isIntel ? INTEL_BRANCHES_IDX : AMD_BRANCHES_IDX;
    const brnchCnt = this.counter(
      this.gpCounterMsr(0),
      EVENTSEL.OS | EVENTSEL.USR | BigInt(this.gpEvents[branchIdx]!.unitSel),
    );
    const instrCnt = this.counter(
      this.gpCounterMsr(1),
      EVENTSEL.OS | EVENTSEL.USR | BigInt(this.gpEvents[this.instructionIdx()]!.unitSel),
    );
    const hasPerfGlobalCtrl = this.hasPerfGlobalCtrl();
    this.r.push('emulated instruction');
    if (this.hasPerfGlobalStatus()) this.pmuClearGlobalStatus();
    this.startEventRaw(brnchCnt, 0n);
    this.startEventRaw(instrCnt, 0n);
    const brnchStart = BigInt.asUintN(64, BigInt(-KVM_FEP_BRANCHES));
    const instrStart = BigInt.asUintN(64, BigInt(-KVM_FEP_INSNS));
    this.g.wrmsr(this.gpCounterMsr(0), brnchStart & gpCounterWidth);
    this.g.wrmsr(this.gpCounterMsr(1), instrStart & gpCounterWidth);
    this.kvmFepAsm(hasPerfGlobalCtrl ? p.msrGlobalCtl : null);
    this.stopEventRaw(brnchCnt);
    this.stopEventRaw(instrCnt);

    // Check that the end count - start count is at least the expected
    // number of instructions and branches.
    const instr = BigInt.asUintN(64, instrCnt.count - instrStart);
    const brnch = BigInt.asUintN(64, brnchCnt.count - brnchStart);
    if (hasPerfGlobalCtrl)
      this.r.report(instr === BigInt(KVM_FEP_INSNS), 'instruction count', `${instr}`);
    else this.r.report(instr >= BigInt(KVM_FEP_INSNS), 'instruction count', `${instr}`);
    if (hasPerfGlobalCtrl)
      this.r.report(brnch === BigInt(KVM_FEP_BRANCHES), 'branch count', `${brnch}`);
    else this.r.report(brnch >= BigInt(KVM_FEP_BRANCHES), 'branch count', `${brnch}`);
    if (this.hasPerfGlobalStatus()) {
      // Additionally check that those counters overflowed properly.
      const status = this.g.rdmsr(p.msrGlobalStatus);
      this.r.report((status & 1n) !== 0n, 'branch counter overflow');
      this.r.report((status & 2n) !== 0n, 'instruction counter overflow');
    }
    this.r.pop();
  }

  checkGpCountersWriteWidth(): void {
    const p = this.pmu;
    const g = this.g;
    const val64 = 0xffffff0123456789n;
    const val32 = val64 & 0xffffffffn;
    const valMaxWidth = val64 & widthMask(p.gpCounterWidth);
    const expect = (msr: number, want: bigint, what: string) => {
      const got = g.rdmsr(msr);
      this.r.report(
        got === want,
        what,
        `rdmsr 0x${msr.toString(16)} = 0x${got.toString(16)}, want 0x${want.toString(16)}`,
      );
    };
    /*
     * MSR_IA32_PERFCTRn supports 64-bit writes,
     * but only the lowest 32 bits are valid.
     */
    for (let i = 0; i < p.nrGpCounters; i++) {
      for (const v of [val32, valMaxWidth, val64]) {
        g.wrmsr(MSR.IA32_PERFCTR0 + i, v);
        expect(MSR.IA32_PERFCTR0 + i, val32, `PERFCTR${i} <- 0x${v.toString(16)}`);
        expect(MSR.IA32_PMC0 + i, val32, `PMC${i} after PERFCTR${i} <- 0x${v.toString(16)}`);
      }
    }
    /*
     * MSR_IA32_PMCn supports writing values up to GP counter width,
     * and only the lowest bits of GP counter width are valid.
     */
    for (let i = 0; i < p.nrGpCounters; i++) {
      g.wrmsr(MSR.IA32_PMC0 + i, val32);
      expect(MSR.IA32_PMC0 + i, val32, `PMC${i} <- val_32`);
      expect(MSR.IA32_PERFCTR0 + i, val32, `PERFCTR${i} after PMC${i} <- val_32`);
      g.wrmsr(MSR.IA32_PMC0 + i, valMaxWidth);
      expect(MSR.IA32_PMC0 + i, valMaxWidth, `PMC${i} <- val_max_width`);
      expect(MSR.IA32_PERFCTR0 + i, valMaxWidth, `PERFCTR${i} after PMC${i} <- val_max_width`);
      this.r.report(
        faultVector(() => g.wrmsr(MSR.IA32_PMC0 + i, val64)) === GP_VECTOR,
        `writing unsupported width to MSR_IA32_PMC${i} raises #GP`,
      );
    }
  }

  /**
   * What main() prints (PMU version, GP counters and width, event mask
   * length and available events, fixed counters and width), against what KVM
   * offers on this host: version min(host, 2), at most 8 GP (Intel) / 6 (AMD)
   * and 3 fixed counters, the host's widths and event vector.
   */
  checkEnumeration(model: CpuModel): void {
    const p = this.pmu;
    const r = this.r;
    if (p.isIntel) {
      r.report(p.version === Math.min(model.pmuVersion, 2), 'PMU version', `${p.version}`);
      r.report(
        p.nrGpCounters === Math.min(model.gpCounters, 8),
        'GP counters',
        `${p.nrGpCounters}`,
      );
      r.report(p.gpCounterWidth === model.gpWidth, 'GP counter width', `${p.gpCounterWidth}`);
      r.report(
        p.archEventMaskLength === model.eventsLength,
        'Event Mask length',
        `${p.archEventMaskLength}`,
      );
      const all = (1 << model.eventsLength) - 1;
      r.report(
        p.archEventAvailable === (~model.unavailableEvents & all),
        'Arch Events (mask)',
        `0x${p.archEventAvailable.toString(16)}`,
      );
      r.report(
        p.nrFixedCounters === Math.min(model.fixedCounters, 3),
        'Fixed counters',
        `${p.nrFixedCounters}`,
      );
      r.report(
        p.fixedCounterWidth === model.fixedWidth,
        'Fixed counter width',
        `${p.fixedCounterWidth}`,
      );
      r.report(this.hasFullWrites(), 'PERF_CAPABILITIES.FW_WRITES');
    } else {
      r.report(p.version === (model.perfMonV2 ? 2 : 0), 'PMU version (PerfMonV2)', `${p.version}`);
      r.report(p.nrGpCounters === AMD64_NUM_COUNTERS_CORE, 'GP counters', `${p.nrGpCounters}`);
      r.report(p.msrGpCounterBase === MSR.MSR_F15H_PERF_CTR0, 'PerfCtrExtCore');
    }
  }

  checkInvalidRdpmcGp(): void {
    this.r.report(rdpmcSafe(this.g, 64).vector === GP_VECTOR, 'Expected #GP on RDPMC(64)');
  }
}

/** check_counters(), one `it` per check, in upstream's order (is_fep_available: KVM_FEP is modelled). */
function checkCounters(kut: KutPmu, prefix: string, where: string): void {
  const checks: [string, () => void][] = [
    ['check_emulated_instr', () => kut.checkEmulatedInstr()],
    ['check_gp_counters', () => kut.checkGpCounters()],
    ['check_fixed_counters', () => kut.checkFixedCounters()],
    ['check_rdpmc', () => kut.checkRdpmc()],
    ['check_counters_many', () => kut.checkCountersMany()],
    ['check_counter_overflow', () => kut.checkCounterOverflow()],
    ['check_gp_counter_cmask', () => kut.checkGpCounterCmask()],
    ['check_running_counter_wrmsr', () => kut.checkRunningCounterWrmsr()],
  ];
  for (const [name, fn] of checks) {
    it(`${prefix}${name}`, async (t) => {
      kut.run(() => {
        if (prefix) kut.r.push(prefix.replace(/: $/, ''));
        fn();
        if (prefix) kut.r.pop();
      });
      await kut.r.assertClean(`${where} ${prefix}${name}`, t);
    });
  }
}

for (const c of CONFIGS) {
  describe(`kvm-unit-tests x86/pmu.c on ${c.label}`, () => {
    const { host, vcpu } = oneVcpu(c);
    const kut = new KutPmu(vcpu);

    it('main: pmu_init, CPUID 0xA / 0x80000022 enumeration, check_invalid_rdpmc_gp', async (t) => {
      kut.run(() => {
        kut.main(c);
        kut.checkEnumeration(host.model);
        kut.checkInvalidRdpmcGp();
      });
      await kut.r.assertClean(c.label, t);
    });

    checkCounters(kut, '', c.label);

    if (c.vendor === 'intel') {
      it('main: the guest has full-width writes (PERF_CAPABILITIES.FW_WRITES)', async (t) => {
        kut.run(() => kut.r.report(kut.hasFullWrites(), 'pmu_has_full_writes'));
        await kut.r.assertClean(c.label, t);
      });
      describe('full-width writes', () => {
        // pmu_activate_full_writes: setup, not a check.
        before(() => {
          kut.pmu.msrGpCounterBase = MSR.IA32_PMC0;
        });
        checkCounters(kut, 'full-width writes: ', c.label);
        it('full-width writes: check_gp_counters_write_width', async (t) => {
          kut.run(() => kut.checkGpCountersWriteWidth());
          await kut.r.assertClean(c.label, t);
        });
      });
    } else {
      describe('K7', () => {
        // The legacy K7 MSRs, 4 counters: setup, not a check.
        before(() => {
          kut.pmu.nrGpCounters = AMD64_NUM_COUNTERS;
          kut.pmu.msrGpCounterBase = MSR.MSR_K7_PERFCTR0;
          kut.pmu.msrGpEventSelectBase = MSR.MSR_K7_EVNTSEL0;
        });
        checkCounters(kut, 'K7: ', c.label);
      });
    }
  });
}
