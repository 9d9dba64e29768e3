/**
 * The Intel architectural PMU, versions 1 to 5 (SDM vol. 3 ch. 20), at the
 * register level: GP counters with their legacy (0xC1) and full-width (0x4C1)
 * aliases, event selectors, fixed counters and FIXED_CTR_CTRL, and the v2+
 * global control / status MSRs. #GP where the hardware raises it.
 */
import { COUNT_CPL0, COUNT_CPL3, COUNT_GUEST, COUNT_HOST, CounterBank } from './counter-bank.ts';
import { hasPerfMetrics, type CpuModel } from './cpu-models.ts';
import { FIXED_COUNTER_QUANTITY, intelEventQuantity, Quantity } from './events.ts';
import { gp } from './fault.ts';
import { FIXED_CTRL, GLOBAL, MSR, PERF_CAP, RDPMC } from './msr.ts';
import { mask, signExtend32, signExtend32Number, type HardwarePmu } from './pmu.ts';

/** Selector bits as plain numbers (bits 31:0), for decoding without bigint arithmetic. */
const SEL_USR = 1 << 16;
const SEL_OS = 1 << 17;
const SEL_INT = 1 << 20;
const SEL_EN = 1 << 22;
const SEL_INV = 1 << 23;
/** IN_TX (bit 32) and IN_TXCP (bit 33) as bits of the selector's high half. */
const SEL_HI_IN_TX = 1;
const SEL_HI_IN_TXCP = 2;

/** A counter as bigint; an idle (zero) counter, the common case, allocates nothing. */
function counterValue(value: number): bigint {
  return value === 0 ? 0n : BigInt(value);
}

/** A #GP on WRMSR, its message formatted only when one is raised (WRMSR itself allocates nothing). */
function writeFault(msr: number, value: bigint, why: string): Error {
  return gp(`wrmsr 0x${msr.toString(16)} <- 0x${value.toString(16)}: ${why}`);
}

/** The registers an MSR index can name, as small integers (the decode switch compares numbers). */
const REG_LEGACY = 0; // IA32_PERFCTRn: the legacy alias, its writes sign-extended from 32 bits
const REG_PMC = 1; // IA32_PMCn: the full-width alias
const REG_EVTSEL = 2;
const REG_FIXED = 3;
const REG_CAPS = 4;
const REG_FIXED_CTR_CTRL = 5;
const REG_STATUS = 6;
const REG_GLOBAL_CTRL = 7;
const REG_OVF_CTRL = 8;
const REG_STATUS_SET = 9;
const REG_METRICS = 10; // IA32_PERF_METRICS
type RegisterKind =
  | typeof REG_LEGACY
  | typeof REG_PMC
  | typeof REG_EVTSEL
  | typeof REG_FIXED
  | typeof REG_CAPS
  | typeof REG_FIXED_CTR_CTRL
  | typeof REG_STATUS
  | typeof REG_GLOBAL_CTRL
  | typeof REG_OVF_CTRL
  | typeof REG_STATUS_SET
  | typeof REG_METRICS;

/** Fixed counters the model decodes: FIXED_CTR_CTRL is read as a 32-bit number, 4 bits each. */
const MAX_FIXED = 8;

export class IntelPmu implements HardwarePmu {
  // Non-null assertions here index `eventsel` below nrGp and `bank.value`
  // below nrGp + nrFixed: decode() returns only indices of counters the model
  // has, and rdpmcNumber() compares the index with those counts first.
  readonly bank: CounterBank;
  readonly nrGp: number;
  readonly nrFixed: number;
  /** One per GP counter, as a number (exact: the highest valid bit is IN_TXCP, bit 33). */
  private readonly eventsel: number[];
  /** The same selectors as RDMSR returns them, made at the first read after a change. */
  private readonly eventselRead: (bigint | undefined)[];
  private fixedCtrCtrl = 0n;
  /** The same, as a number (valid bits: 4 per fixed counter, at most 8 counters). */
  private fixedCtrCtrlNumber = 0;
  private globalCtrl: bigint;
  /**
   * The last GLOBAL_CTRL value other than 0 and every counter that passed the
   * reserved-bit check (a guest's, loaded at every VM-entry): `&` allocates a
   * bigint, a comparison does not.
   */
  private globalCtrlChecked = 0n;
  private status = 0n;
  /** One bit per counter of GLOBAL_CTRL / GLOBAL_STATUS. */
  readonly countersMask: bigint;
  /**
   * Topdown metrics: IA32_PERF_METRICS (0x329), GLOBAL_CTRL bit 48 and
   * GLOBAL_STATUS bit 48, on a part with fixed counter 3 whose
   * PERF_CAPABILITIES has bit 15 (SDM vol. 3 20.3.9.3; perf's
   * intel_pmu_init reads the same bit as x86_pmu.intel_cap.perf_metrics).
   */
  readonly perfMetrics: boolean;
  /** PERF_METRICS as last written (the hardware's own updates from slot counting are not modelled). */
  private metrics = 0n;
  private readonly fixedCtrlReserved: bigint;
  private readonly statusWritable: bigint;
  /** Reserved-bit masks, inverted once (bigint ~ allocates). */
  private readonly gpMax: bigint;
  private readonly fixedMax: bigint;
  /** The same two limits as numbers (counters are at most 48 bits wide). */
  private readonly gpMaxNumber: number;
  private readonly fixedMaxNumber: number;
  private readonly globalCtrlReserved: bigint;
  private readonly ovfCtrlReserved: bigint;

  constructor(
    private readonly model: CpuModel,
    private readonly raisePmi: () => void,
  ) {
    this.nrGp = model.gpCounters;
    this.nrFixed = model.pmuVersion >= 2 ? model.fixedCounters : 0;
    if (this.nrFixed > MAX_FIXED)
      throw new RangeError(`${model.name}: ${this.nrFixed} fixed counters (at most ${MAX_FIXED})`);
    this.bank = new CounterBank(this.nrGp + this.nrFixed);
    this.eventsel = new Array<number>(this.nrGp).fill(0);
    this.eventselRead = new Array<bigint | undefined>(this.nrGp).fill(0n);
    for (let i = 0; i < this.nrGp; i++) this.bank.limit[i] = 2 ** model.gpWidth;
    for (let j = 0; j < this.nrFixed; j++) {
      this.bank.limit[this.nrGp + j] = 2 ** model.fixedWidth;
      // Fixed counters past the four the SDM defines count nothing the model knows.
      this.bank.quantity[this.nrGp + j] = FIXED_COUNTER_QUANTITY[j] ?? Quantity.None;
      this.bank.modeMask[this.nrGp + j] = COUNT_HOST | COUNT_GUEST;
    }
    let counters = mask(this.nrGp);
    for (let j = 0; j < this.nrFixed; j++) counters |= 1n << BigInt(GLOBAL.FIXED_SHIFT + j);
    this.countersMask = counters;
    this.perfMetrics = hasPerfMetrics(model);
    const metricsBit = this.perfMetrics ? GLOBAL.PERF_METRICS : 0n;
    // Power-on GLOBAL_CTRL enables every GP counter (SDM: reset value), so a v1
    // style driver that only touches EN still counts.
    this.globalCtrl = mask(this.nrGp);
    let fixedValid = 0n;
    for (let j = 0; j < this.nrFixed; j++) fixedValid |= 0xbn << BigInt(4 * j); // OS, USR, PMI (+ AnyThread on v3, v4)
    // AnyThread came with v3 (SDM 20.2.3) and is deprecated, hence reserved, from v5.
    if (model.pmuVersion >= 3 && model.pmuVersion < 5)
      for (let j = 0; j < this.nrFixed; j++) fixedValid |= 0x4n << BigInt(4 * j);
    this.fixedCtrlReserved = ~fixedValid & mask(64);
    this.statusWritable =
      counters | metricsBit | GLOBAL.STATUS_BUFFER_OVF | GLOBAL.STATUS_COND_CHGD;
    this.gpMax = mask(model.gpWidth);
    this.fixedMax = mask(model.fixedWidth);
    this.gpMaxNumber = 2 ** model.gpWidth - 1;
    this.fixedMaxNumber = 2 ** model.fixedWidth - 1;
    this.globalCtrlReserved = ~(this.countersMask | metricsBit);
    this.ovfCtrlReserved = ~this.statusWritable;
    this.allLo = Number(this.countersMask & 0xffffffffn);
    this.allHi = Number(this.countersMask >> 32n);
    this.buildRegisterTable();
    this.recomputeAll();
  }

  get globalStatus(): bigint {
    return this.status;
  }

  isCounterMsr(msr: number): boolean {
    const kind = this.decode(msr)?.kind;
    return kind === REG_LEGACY || kind === REG_PMC || kind === REG_FIXED;
  }

  /** Which register an MSR index names on this part: built once, as a table. */
  private readonly registers = new Map<number, { kind: RegisterKind; index: number }>();

  private buildRegisterTable(): void {
    const { nrGp, nrFixed, model } = this;
    const add = (msr: number, kind: RegisterKind, index = 0) =>
      this.registers.set(msr, Object.freeze({ kind, index }));
    for (let i = 0; i < nrGp; i++) {
      add(MSR.IA32_PERFCTR0 + i, REG_LEGACY, i);
      if (model.fullWidthWrites) add(MSR.IA32_PMC0 + i, REG_PMC, i);
      add(MSR.IA32_PERFEVTSEL0 + i, REG_EVTSEL, i);
    }
    for (let j = 0; j < nrFixed; j++) add(MSR.IA32_FIXED_CTR0 + j, REG_FIXED, j);
    add(MSR.IA32_PERF_CAPABILITIES, REG_CAPS);
    if (model.pmuVersion >= 2) {
      add(MSR.IA32_FIXED_CTR_CTRL, REG_FIXED_CTR_CTRL);
      add(MSR.IA32_PERF_GLOBAL_STATUS, REG_STATUS);
      add(MSR.IA32_PERF_GLOBAL_CTRL, REG_GLOBAL_CTRL);
      add(MSR.IA32_PERF_GLOBAL_OVF_CTRL, REG_OVF_CTRL);
    }
    if (model.pmuVersion >= 4) add(MSR.IA32_PERF_GLOBAL_STATUS_SET, REG_STATUS_SET);
    if (this.perfMetrics) add(MSR.MSR_PERF_METRICS, REG_METRICS);
    for (const [msr, reg] of this.registers) {
      if (msr >= 0x1000)
        throw new Error(`intel-pmu: MSR 0x${msr.toString(16)} is outside the decode array`);
      this.registerArray[msr] = reg;
    }
  }

  /** The same table as an array over 0..0xfff, where every Intel PMU MSR lies: no hashing per access. */
  private readonly registerArray = new Array<{ kind: RegisterKind; index: number } | undefined>(
    0x1000,
  );

  private decode(msr: number): { kind: RegisterKind; index: number } | null {
    return msr >= 0 && msr < 0x1000 ? (this.registerArray[msr] ?? null) : null;
  }

  rdmsr(msr: number): bigint {
    const reg = this.decode(msr);
    if (!reg) throw gp(`rdmsr 0x${msr.toString(16)}: no such MSR on ${this.model.name}`);
    switch (reg.kind) {
      case REG_LEGACY:
      case REG_PMC:
        return BigInt(this.bank.value[reg.index]!);
      case REG_EVTSEL:
        return (this.eventselRead[reg.index] ??= counterValue(this.eventsel[reg.index]!));
      case REG_FIXED:
        return BigInt(this.bank.value[this.nrGp + reg.index]!);
      case REG_CAPS:
        return this.perfCapabilities;
      case REG_FIXED_CTR_CTRL:
        return this.fixedCtrCtrl;
      case REG_STATUS:
        return this.status;
      case REG_GLOBAL_CTRL:
        return this.globalCtrl;
      case REG_METRICS:
        return this.metrics;
      default: // OVF_CTRL and STATUS_SET read as 0
        return 0n;
    }
  }

  wrmsr(msr: number, value: bigint): void {
    const reg = this.decode(msr);
    if (!reg) throw gp(`wrmsr 0x${msr.toString(16)}: no such MSR on ${this.model.name}`);
    switch (reg.kind) {
      case REG_LEGACY:
        this.bank.value[reg.index] = signExtend32(value, this.model.gpWidth);
        return;
      case REG_PMC:
        if (value > this.gpMax) throw writeFault(msr, value, 'bits above the counter width');
        this.bank.value[reg.index] = Number(value);
        return;
      case REG_EVTSEL:
        // Bits 63:32 are reserved but for TSX's IN_TX / IN_TXCP: a comparison
        // first, which allocates no bigint.
        if (value > 0xffffffffn && !this.tsxBitsAllowed(reg.index, Number(value >> 32n)))
          throw writeFault(msr, value, 'reserved event-select bits');
        this.writeEventsel(reg.index, Number(value));
        return;
      case REG_FIXED:
        if (value > this.fixedMax) throw writeFault(msr, value, 'bits above the counter width');
        this.bank.value[this.nrGp + reg.index] = Number(value);
        return;
      case REG_CAPS:
        throw writeFault(msr, value, 'IA32_PERF_CAPABILITIES is read-only');
      case REG_FIXED_CTR_CTRL:
        if (value === this.fixedCtrCtrl) return; // unchanged (it was valid when written)
        if (value !== 0n && value & this.fixedCtrlReserved)
          throw writeFault(msr, value, 'reserved FIXED_CTR_CTRL bits');
        this.fixedCtrCtrl = value;
        this.fixedCtrCtrlNumber = Number(value);
        for (let j = 0; j < this.nrFixed; j++) this.recomputeFixed(j);
        return;
      case REG_STATUS:
        throw writeFault(msr, value, 'IA32_PERF_GLOBAL_STATUS is read-only');
      case REG_GLOBAL_CTRL:
        // Comparisons allocate no bigint: 0 and "every counter" need no reserved-bit check.
        if (value === this.globalCtrl) return;
        if (value !== 0n && value !== this.countersMask && value !== this.globalCtrlChecked) {
          if (value & this.globalCtrlReserved)
            throw writeFault(msr, value, 'reserved GLOBAL_CTRL bits');
          this.globalCtrlChecked = value;
        }
        this.globalCtrl = value;
        this.recomputeAll();
        return;
      case REG_OVF_CTRL:
        if (value & this.ovfCtrlReserved)
          throw writeFault(msr, value, 'reserved GLOBAL_OVF_CTRL bits');
        this.status &= ~value;
        return;
      case REG_STATUS_SET:
        // STATUS_SET has no CondChgd (bit 63 is reserved there; only STATUS_RESET clears it).
        if (value & ~(this.statusWritable & ~GLOBAL.STATUS_COND_CHGD))
          throw writeFault(msr, value, 'reserved GLOBAL_STATUS_SET bits');
        this.status |= value;
        return;
      case REG_METRICS:
        this.metrics = value;
        return;
    }
  }

  wrmsrNumber(msr: number, value: number): void {
    const reg = this.decode(msr);
    if (reg !== null) {
      switch (reg.kind) {
        case REG_LEGACY:
          this.bank.value[reg.index] = signExtend32Number(value, this.model.gpWidth);
          return;
        case REG_PMC:
          if (value > this.gpMaxNumber)
            throw writeFault(msr, BigInt(value), 'bits above the counter width');
          this.bank.value[reg.index] = value;
          return;
        case REG_FIXED:
          if (value > this.fixedMaxNumber)
            throw writeFault(msr, BigInt(value), 'bits above the counter width');
          this.bank.value[this.nrGp + reg.index] = value;
          return;
        case REG_EVTSEL:
          // The selector writes of every world switch and every perf enable: no bigint.
          if (value > 0xffffffff && !this.tsxBitsAllowed(reg.index, Math.floor(value / 2 ** 32)))
            throw writeFault(msr, BigInt(value), 'reserved event-select bits');
          this.writeEventsel(reg.index, value);
          return;
      }
    }
    this.wrmsr(msr, BigInt(value));
  }

  rdpmc(ecx: number): bigint {
    // ECX bit 29 reads PERF_METRICS (INTEL_PMC_FIXED_RDPMC_METRICS), 64 bits wide.
    if (ecx === RDPMC.METRICS && this.perfMetrics) return this.metrics;
    return counterValue(this.rdpmcNumber(ecx));
  }

  /** RDPMC's value as a number (counters fit 48 bits): the one implementation. */
  rdpmcNumber(ecx: number): number {
    const type = ecx >>> 16;
    const index = ecx & RDPMC.INDEX_MASK;
    if (type === 0 && index < this.nrGp) return this.bank.value[index]!;
    if (type === RDPMC.FIXED >>> 16 && index < this.nrFixed)
      return this.bank.value[this.nrGp + index]!;

    throw gp(`rdpmc 0x${ecx.toString(16)}: no such counter`);
  }

  retire(quantities: Float64Array, cpl: number, guest: boolean): void {
    this.bank.retire(quantities, cpl, guest, this);
  }

  /** OverflowSink: status bits for the wrapped counters, then a PMI if one asked for it. */
  overflow(wrapped: number, interrupt: boolean): void {
    for (let i = 0; i < this.bank.size; i++) {
      if ((wrapped & (1 << i)) === 0) continue;
      this.status |=
        i < this.nrGp ? 1n << BigInt(i) : 1n << BigInt(GLOBAL.FIXED_SHIFT + i - this.nrGp);
    }
    if (interrupt) this.raisePmi();
  }

  /** GLOBAL_CTRL as two 32-bit halves, so gating a counter is integer work. */
  private globalLo = 0;
  private globalHi = 0;
  /** Each counter's local enable, decoded at its control write. */
  private readonly locallyEnabled = new Uint8Array(32);

  private globallyEnabled(bit: number): boolean {
    if (this.model.pmuVersion < 2) return true;
    return bit < 32
      ? ((this.globalLo >>> bit) & 1) === 1
      : ((this.globalHi >>> (bit - 32)) & 1) === 1;
  }

  /** A GLOBAL_CTRL change only flips counters' global gates: no selector is decoded again. */
  private recomputeAll(): void {
    // Drivers flip GLOBAL_CTRL between 0 and every counter: those two need no bigint arithmetic.
    const ctrl = this.globalCtrl;
    if (ctrl === 0n) this.globalLo = this.globalHi = 0;
    else if (ctrl === this.countersMask) {
      this.globalLo = this.allLo;
      this.globalHi = this.allHi;
    } else {
      // Valid GLOBAL_CTRL bits end below bit 53 (checked at the write): one exact conversion.
      const value = Number(ctrl);
      this.globalLo = value % 2 ** 32;
      this.globalHi = Math.floor(value / 2 ** 32);
    }
    const bank = this.bank;
    const v1 = this.model.pmuVersion < 2;
    for (let i = 0; i < this.nrGp; i++) {
      bank.active[i] =
        this.locallyEnabled[i] === 1 && (v1 || ((this.globalLo >>> i) & 1) === 1) ? 1 : 0;
    }
    for (let j = 0; j < this.nrFixed; j++) {
      bank.active[this.nrGp + j] =
        this.locallyEnabled[this.nrGp + j] === 1 && (v1 || ((this.globalHi >>> j) & 1) === 1)
          ? 1
          : 0;
    }
  }

  /** GLOBAL_CTRL with every counter enabled, as two 32-bit halves. */
  private readonly allLo: number;
  private readonly allHi: number;

  /**
   * Selector bits 63:32 given as `high`: only TSX's may be set, on a part
   * with TSX (SDM vol. 3 20.3.6.5): IN_TX (bit 32) on any selector, IN_TXCP
   * (bit 33) "may only be set for IA32_PERFEVTSEL2". Anything else is #GP.
   */
  private tsxBitsAllowed(index: number, high: number): boolean {
    if (!this.model.tsx) return false;
    const allowed = index === 2 ? SEL_HI_IN_TX | SEL_HI_IN_TXCP : SEL_HI_IN_TX;
    return high <= (SEL_HI_IN_TX | SEL_HI_IN_TXCP) && (high & ~allowed) === 0;
  }

  /** A valid selector written: decoded again only if it changed. */
  private writeEventsel(i: number, sel: number): void {
    if (sel === this.eventsel[i]) return;
    this.eventsel[i] = sel;
    this.eventselRead[i] = undefined;
    this.recomputeGp(i);
  }

  private recomputeGp(i: number): void {
    // The fields live in bits 31:0 (bitwise operators take those) but IN_TX.
    const sel = this.eventsel[i]!;
    const bank = this.bank;
    // IN_TX counts only inside transactional regions, and no modelled work
    // runs in one (IN_TXCP alone excludes aborted regions: counts as usual).
    const inTx = sel >= 2 ** 32 && (Math.floor(sel / 2 ** 32) & SEL_HI_IN_TX) !== 0;
    bank.quantity[i] = inTx ? Quantity.None : intelEventQuantity(sel & 0xff, (sel >>> 8) & 0xff);
    bank.cplMask[i] = (sel & SEL_OS ? COUNT_CPL0 : 0) | (sel & SEL_USR ? COUNT_CPL3 : 0);
    bank.modeMask[i] = COUNT_HOST | COUNT_GUEST; // Intel counters do not tell host from guest
    bank.cmask[i] = sel >>> 24;
    bank.invert[i] = sel & SEL_INV ? 1 : 0;
    bank.interrupt[i] = sel & SEL_INT ? 1 : 0;
    this.locallyEnabled[i] = sel & SEL_EN ? 1 : 0;
    bank.active[i] = this.locallyEnabled[i] === 1 && this.globallyEnabled(i) ? 1 : 0;
  }

  private recomputeFixed(j: number): void {
    // At most MAX_FIXED counters x 4 bits: the control fits the 32 bits >>> shifts.
    const field = (this.fixedCtrCtrlNumber >>> (FIXED_CTRL.bits * j)) & 0xf;
    const i = this.nrGp + j;
    const bank = this.bank;
    bank.cplMask[i] =
      (field & FIXED_CTRL.OS ? COUNT_CPL0 : 0) | (field & FIXED_CTRL.USR ? COUNT_CPL3 : 0);
    bank.interrupt[i] = field & FIXED_CTRL.PMI ? 1 : 0;
    this.locallyEnabled[i] = (field & (FIXED_CTRL.OS | FIXED_CTRL.USR)) !== 0 ? 1 : 0;
    bank.active[i] =
      this.locallyEnabled[i] === 1 && this.globallyEnabled(GLOBAL.FIXED_SHIFT + j) ? 1 : 0;
  }

  /**
   * IA32_PERF_CAPABILITIES as the part reports it: FW_WRITES (bit 13) only
   * with full-width writes, so a model without them cannot advertise them
   * (perf's intel_pmu_init and KVM both go by that bit).
   */
  get perfCapabilities(): bigint {
    const caps = this.model.perfCapabilities;
    return this.model.fullWidthWrites ? caps : caps & ~PERF_CAP.FW_WRITES;
  }

  /** Full-width writes supported (PERF_CAPABILITIES bit 13). */
  get fullWidthWrites(): boolean {
    return (this.perfCapabilities & PERF_CAP.FW_WRITES) !== 0n;
  }
}
