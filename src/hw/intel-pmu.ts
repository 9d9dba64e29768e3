/**
 * The Intel architectural PMU, versions 1 to 5 (SDM vol. 3 ch. 20), at the
 * register level: GP counters with their legacy (0xC1) and full-width (0x4C1)
 * aliases, event selectors, fixed counters and FIXED_CTR_CTRL, and the v2+
 * global control / status MSRs. #GP where the hardware raises it.
 */
import { COUNT_CPL0, COUNT_CPL3, COUNT_GUEST, COUNT_HOST, CounterBank } from './counter-bank.ts';
import type { CpuModel } from './cpu-models.ts';
import { FIXED_COUNTER_QUANTITY, intelEventQuantity } from './events.ts';
import { gp } from './fault.ts';
import { EVTSEL, FIXED_CTRL, GLOBAL, MSR, PERF_CAP, RDPMC } from './msr.ts';
import { mask, signExtend32, type HardwarePmu } from './pmu.ts';

export class IntelPmu implements HardwarePmu {
  readonly bank: CounterBank;
  readonly nrGp: number;
  readonly nrFixed: number;
  private readonly eventsel: bigint[];
  private fixedCtrCtrl = 0n;
  private globalCtrl: bigint;
  private status = 0n;
  /** Bits valid in GLOBAL_CTRL (one per counter). */
  readonly countersMask: bigint;
  private readonly eventselReserved: bigint;
  private readonly fixedCtrlReserved: bigint;
  private readonly statusWritable: bigint;

  constructor(
    private readonly model: CpuModel,
    private readonly raisePmi: () => void,
  ) {
    this.nrGp = model.gpCounters;
    this.nrFixed = model.pmuVersion >= 2 ? model.fixedCounters : 0;
    this.bank = new CounterBank(this.nrGp + this.nrFixed);
    this.eventsel = new Array<bigint>(this.nrGp).fill(0n);
    for (let i = 0; i < this.nrGp; i++) this.bank.limit[i] = 2 ** model.gpWidth;
    for (let j = 0; j < this.nrFixed; j++) {
      this.bank.limit[this.nrGp + j] = 2 ** model.fixedWidth;
      this.bank.quantity[this.nrGp + j] = FIXED_COUNTER_QUANTITY[j]!;
      this.bank.modeMask[this.nrGp + j] = COUNT_HOST | COUNT_GUEST;
    }
    let counters = mask(this.nrGp);
    for (let j = 0; j < this.nrFixed; j++) counters |= 1n << BigInt(GLOBAL.FIXED_SHIFT + j);
    this.countersMask = counters;
    // Power-on GLOBAL_CTRL enables every GP counter (SDM: reset value), so a v1
    // style driver that only touches EN still counts.
    this.globalCtrl = mask(this.nrGp);
    // Bits 63:32 are reserved (no TSX modelled: IN_TX/IN_TXCP are reserved too).
    this.eventselReserved = ~0xffffffffn & mask(64);
    let fixedValid = 0n;
    for (let j = 0; j < this.nrFixed; j++) fixedValid |= 0xbn << BigInt(4 * j); // OS, USR, PMI (+ AnyThread on v3, v4)
    // AnyThread came with v3 (SDM 20.2.3) and is deprecated, hence reserved, from v5.
    if (model.pmuVersion >= 3 && model.pmuVersion < 5) for (let j = 0; j < this.nrFixed; j++) fixedValid |= 0x4n << BigInt(4 * j);
    this.fixedCtrlReserved = ~fixedValid & mask(64);
    this.statusWritable = counters | GLOBAL.STATUS_BUFFER_OVF | GLOBAL.STATUS_COND_CHGD;
    this.recomputeAll();
  }

  get globalStatus(): bigint {
    return this.status;
  }

  handlesMsr(msr: number): boolean {
    return this.decode(msr) !== null;
  }

  /** Which register an MSR index names on this part, or null. */
  private decode(msr: number): { kind: string; index: number } | null {
    const { nrGp, nrFixed, model } = this;
    if (msr >= MSR.IA32_PERFCTR0 && msr < MSR.IA32_PERFCTR0 + nrGp) return { kind: 'legacy', index: msr - MSR.IA32_PERFCTR0 };
    if (model.fullWidthWrites && msr >= MSR.IA32_PMC0 && msr < MSR.IA32_PMC0 + nrGp) return { kind: 'pmc', index: msr - MSR.IA32_PMC0 };
    if (msr >= MSR.IA32_PERFEVTSEL0 && msr < MSR.IA32_PERFEVTSEL0 + nrGp) return { kind: 'evtsel', index: msr - MSR.IA32_PERFEVTSEL0 };
    if (msr >= MSR.IA32_FIXED_CTR0 && msr < MSR.IA32_FIXED_CTR0 + nrFixed) return { kind: 'fixed', index: msr - MSR.IA32_FIXED_CTR0 };
    if (msr === MSR.IA32_PERF_CAPABILITIES) return { kind: 'caps', index: 0 };
    if (model.pmuVersion >= 2) {
      if (msr === MSR.IA32_FIXED_CTR_CTRL) return { kind: 'fixedctrl', index: 0 };
      if (msr === MSR.IA32_PERF_GLOBAL_STATUS) return { kind: 'status', index: 0 };
      if (msr === MSR.IA32_PERF_GLOBAL_CTRL) return { kind: 'globalctrl', index: 0 };
      if (msr === MSR.IA32_PERF_GLOBAL_OVF_CTRL) return { kind: 'ovfctrl', index: 0 };
    }
    if (model.pmuVersion >= 4 && msr === MSR.IA32_PERF_GLOBAL_STATUS_SET) return { kind: 'statusset', index: 0 };
    return null;
  }

  rdmsr(msr: number): bigint {
    const reg = this.decode(msr);
    if (!reg) throw gp(`rdmsr 0x${msr.toString(16)}: no such MSR`);
    switch (reg.kind) {
      case 'legacy':
      case 'pmc':
        return BigInt(this.bank.value[reg.index]!);
      case 'evtsel':
        return this.eventsel[reg.index]!;
      case 'fixed':
        return BigInt(this.bank.value[this.nrGp + reg.index]!);
      case 'caps':
        return this.model.perfCapabilities;
      case 'fixedctrl':
        return this.fixedCtrCtrl;
      case 'status':
        return this.status;
      case 'globalctrl':
        return this.globalCtrl;
      default: // OVF_CTRL and STATUS_SET read as 0
        return 0n;
    }
  }

  wrmsr(msr: number, value: bigint): void {
    const reg = this.decode(msr);
    if (!reg) throw gp(`wrmsr 0x${msr.toString(16)}: no such MSR`);
    const where = `wrmsr 0x${msr.toString(16)} <- 0x${value.toString(16)}`;
    switch (reg.kind) {
      case 'legacy':
        this.bank.value[reg.index] = signExtend32(value, this.model.gpWidth);
        return;
      case 'pmc':
        if (value & ~mask(this.model.gpWidth)) throw gp(`${where}: bits above the counter width`);
        this.bank.value[reg.index] = Number(value);
        return;
      case 'evtsel':
        if (value & this.eventselReserved) throw gp(`${where}: reserved event-select bits`);
        this.eventsel[reg.index] = value;
        this.recomputeGp(reg.index);
        return;
      case 'fixed':
        if (value & ~mask(this.model.fixedWidth)) throw gp(`${where}: bits above the counter width`);
        this.bank.value[this.nrGp + reg.index] = Number(value);
        return;
      case 'caps':
        throw gp(`${where}: IA32_PERF_CAPABILITIES is read-only`);
      case 'fixedctrl':
        if (value & this.fixedCtrlReserved) throw gp(`${where}: reserved FIXED_CTR_CTRL bits`);
        this.fixedCtrCtrl = value;
        for (let j = 0; j < this.nrFixed; j++) this.recomputeFixed(j);
        return;
      case 'status':
        throw gp(`${where}: IA32_PERF_GLOBAL_STATUS is read-only`);
      case 'globalctrl':
        if (value & ~this.countersMask) throw gp(`${where}: reserved GLOBAL_CTRL bits`);
        this.globalCtrl = value;
        this.recomputeAll();
        return;
      case 'ovfctrl':
        if (value & ~this.statusWritable) throw gp(`${where}: reserved GLOBAL_OVF_CTRL bits`);
        this.status &= ~value;
        return;
      case 'statusset':
        // STATUS_SET has no CondChgd (bit 63 is reserved there; only STATUS_RESET clears it).
        if (value & ~(this.statusWritable & ~GLOBAL.STATUS_COND_CHGD)) throw gp(`${where}: reserved GLOBAL_STATUS_SET bits`);
        this.status |= value;
        return;
    }
  }

  rdpmc(ecx: number): bigint {
    const type = ecx >>> 16;
    const index = ecx & RDPMC.INDEX_MASK;
    if (type === 0 && index < this.nrGp) return BigInt(this.bank.value[index]!);
    if (type === RDPMC.FIXED >>> 16 && index < this.nrFixed) return BigInt(this.bank.value[this.nrGp + index]!);
    throw gp(`rdpmc 0x${ecx.toString(16)}: no such counter`);
  }

  retire(quantities: Float64Array, cpl: number, guest: boolean): void {
    this.bank.retire(quantities, cpl, guest, this);
  }

  /** OverflowSink: status bits for the wrapped counters, then a PMI if one asked for it. */
  overflow(wrapped: number, interrupt: boolean): void {
    for (let i = 0; i < this.bank.size; i++) {
      if ((wrapped & (1 << i)) === 0) continue;
      this.status |= i < this.nrGp ? 1n << BigInt(i) : 1n << BigInt(GLOBAL.FIXED_SHIFT + i - this.nrGp);
    }
    if (interrupt) this.raisePmi();
  }

  private globallyEnabled(bit: number): boolean {
    if (this.model.pmuVersion < 2) return true;
    return (this.globalCtrl & (1n << BigInt(bit))) !== 0n;
  }

  private recomputeAll(): void {
    for (let i = 0; i < this.nrGp; i++) this.recomputeGp(i);
    for (let j = 0; j < this.nrFixed; j++) this.recomputeFixed(j);
  }

  private recomputeGp(i: number): void {
    const sel = this.eventsel[i]!;
    const bank = this.bank;
    bank.quantity[i] = intelEventQuantity(Number(sel & EVTSEL.EVENT), Number((sel & EVTSEL.UMASK) >> 8n));
    bank.cplMask[i] = (sel & EVTSEL.OS ? COUNT_CPL0 : 0) | (sel & EVTSEL.USR ? COUNT_CPL3 : 0);
    bank.modeMask[i] = COUNT_HOST | COUNT_GUEST; // Intel counters do not tell host from guest
    bank.cmask[i] = Number((sel & EVTSEL.CMASK) >> 24n);
    bank.invert[i] = sel & EVTSEL.INV ? 1 : 0;
    bank.interrupt[i] = sel & EVTSEL.INT ? 1 : 0;
    bank.active[i] = (sel & EVTSEL.EN) !== 0n && this.globallyEnabled(i) ? 1 : 0;
  }

  private recomputeFixed(j: number): void {
    const field = Number((this.fixedCtrCtrl >> BigInt(FIXED_CTRL.bits * j)) & 0xfn);
    const i = this.nrGp + j;
    const bank = this.bank;
    bank.cplMask[i] = (field & FIXED_CTRL.OS ? COUNT_CPL0 : 0) | (field & FIXED_CTRL.USR ? COUNT_CPL3 : 0);
    bank.interrupt[i] = field & FIXED_CTRL.PMI ? 1 : 0;
    bank.active[i] = (field & (FIXED_CTRL.OS | FIXED_CTRL.USR)) !== 0 && this.globallyEnabled(GLOBAL.FIXED_SHIFT + j) ? 1 : 0;
  }

  /** Full-width writes supported (PERF_CAPABILITIES bit 13). */
  get fullWidthWrites(): boolean {
    return (this.model.perfCapabilities & PERF_CAP.FW_WRITES) !== 0n;
  }
}
