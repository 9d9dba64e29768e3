/**
 * The AMD core PMU (APM vol. 2 ch. 13.2): legacy K7 counters (four), the F15H
 * PERF_CTL/PERF_CTR pairs with PerfCtrExtCore (six; the K7 MSRs alias the
 * first four), and PerfMonV2's global control / status MSRs. No fixed
 * counters. Host/GuestOnly bits select the mode a counter counts in.
 */
import { COUNT_CPL0, COUNT_CPL3, COUNT_GUEST, COUNT_HOST, CounterBank } from './counter-bank.ts';
import type { CpuModel } from './cpu-models.ts';
import { amdEventQuantity } from './events.ts';
import { gp } from './fault.ts';
import { EVTSEL, MSR } from './msr.ts';
import { mask, type HardwarePmu } from './pmu.ts';

/** PERF_CTL bits the part implements; others are reserved (dropped on write). */
const PERF_CTL_VALID =
  0xffffffffn | EVTSEL.AMD_EVENT_HI | EVTSEL.AMD_GUEST_ONLY | EVTSEL.AMD_HOST_ONLY;

type AmdRegisterKind = 'ctl' | 'ctr' | 'status' | 'globalctl' | 'clr' | 'set';

export class AmdPmu implements HardwarePmu {
  // Non-null assertions here index `perfCtl` and `bank.value` below
  // nrCounters: decode() returns only indices of counters the model has, and
  // rdpmcNumber() compares the index with nrCounters first.
  readonly bank: CounterBank;
  readonly nrCounters: number;
  /** PERF_CTL, one per counter. */
  private readonly perfCtl: bigint[];
  private globalCtl: bigint;
  private status = 0n;
  private readonly countersMask: bigint;

  constructor(
    private readonly model: CpuModel,
    private readonly raisePmi: () => void,
  ) {
    this.nrCounters = model.perfCtrExtCore ? model.gpCounters : Math.min(4, model.gpCounters);
    this.bank = new CounterBank(this.nrCounters);
    this.perfCtl = new Array<bigint>(this.nrCounters).fill(0n);
    for (let i = 0; i < this.nrCounters; i++) this.bank.limit[i] = 2 ** model.gpWidth;
    this.countersMask = mask(this.nrCounters);
    // PerfMonV2 resets GLOBAL_CTL to all counters enabled, so legacy drivers keep working.
    this.globalCtl = this.countersMask;
    this.buildRegisterTable();
  }

  get globalStatus(): bigint {
    return this.status;
  }

  isCounterMsr(msr: number): boolean {
    return this.decode(msr)?.kind === 'ctr';
  }

  /** Which register an MSR index names on this part: built once, as a table. */
  private readonly registers = new Map<number, { kind: AmdRegisterKind; index: number }>();

  private buildRegisterTable(): void {
    const add = (msr: number, kind: AmdRegisterKind, index = 0) =>
      this.registers.set(msr, Object.freeze({ kind, index }));
    // The legacy K7 MSRs address the first four counters, those that exist.
    for (let i = 0; i < Math.min(4, this.nrCounters); i++) {
      add(MSR.MSR_K7_EVNTSEL0 + i, 'ctl', i);
      add(MSR.MSR_K7_PERFCTR0 + i, 'ctr', i);
    }
    if (this.model.perfCtrExtCore) {
      for (let i = 0; i < this.nrCounters; i++) {
        add(MSR.MSR_F15H_PERF_CTL0 + 2 * i, 'ctl', i);
        add(MSR.MSR_F15H_PERF_CTR0 + 2 * i, 'ctr', i);
      }
    }
    if (this.model.perfMonV2) {
      add(MSR.MSR_AMD64_PERF_CNTR_GLOBAL_STATUS, 'status');
      add(MSR.MSR_AMD64_PERF_CNTR_GLOBAL_CTL, 'globalctl');
      add(MSR.MSR_AMD64_PERF_CNTR_GLOBAL_STATUS_CLR, 'clr');
      add(MSR.MSR_AMD64_PERF_CNTR_GLOBAL_STATUS_SET, 'set');
    }
  }

  private decode(msr: number): { kind: AmdRegisterKind; index: number } | null {
    return this.registers.get(msr) ?? null;
  }

  rdmsr(msr: number): bigint {
    const reg = this.decode(msr);
    if (!reg) throw gp(`rdmsr 0x${msr.toString(16)}: no such MSR on ${this.model.name}`);
    switch (reg.kind) {
      case 'ctl':
        return this.perfCtl[reg.index]!;
      case 'ctr':
        return BigInt(this.bank.value[reg.index]!);
      case 'status':
        return this.status;
      case 'globalctl':
        return this.globalCtl;
      default:
        return 0n;
    }
  }

  wrmsr(msr: number, value: bigint): void {
    const reg = this.decode(msr);
    if (!reg) throw gp(`wrmsr 0x${msr.toString(16)}: no such MSR on ${this.model.name}`);
    switch (reg.kind) {
      case 'ctl':
        this.perfCtl[reg.index] = value & PERF_CTL_VALID;
        this.recompute(reg.index);
        return;
      case 'ctr':
        this.bank.value[reg.index] = Number(value & mask(this.model.gpWidth));
        return;
      case 'status':
        // Read-only, and in the PPR's access types "RO" means "Writes
        // ignored", not #GP; KVM emulates it so for an intercepted write
        // (kvm_pmu_set_msr: "Per PPR, Read-only MSR. Writes are ignored.").
        return;
      case 'globalctl':
        this.globalCtl = value & this.countersMask;
        for (let i = 0; i < this.nrCounters; i++) this.recompute(i);
        return;
      case 'clr':
        this.status &= ~(value & this.countersMask);
        return;
      case 'set':
        this.status |= value & this.countersMask;
        return;
    }
  }

  wrmsrNumber(msr: number, value: number): void {
    const reg = this.decode(msr);
    if (reg?.kind === 'ctr') {
      // Bits above the counter width are dropped, as the bigint write masks them.
      this.bank.value[reg.index] = value % 2 ** this.model.gpWidth;
      return;
    }
    this.wrmsr(msr, BigInt(value));
  }

  rdpmc(ecx: number): bigint {
    return BigInt(this.rdpmcNumber(ecx));
  }

  /** RDPMC's value as a number (counters fit 48 bits): the one implementation. */
  rdpmcNumber(ecx: number): number {
    if (ecx >= 0 && ecx < this.nrCounters) return this.bank.value[ecx]!;
    throw gp(`rdpmc 0x${ecx.toString(16)}: no such counter`);
  }

  retire(quantities: Float64Array, cpl: number, guest: boolean): void {
    this.bank.retire(quantities, cpl, guest, this);
  }

  overflow(wrapped: number, interrupt: boolean): void {
    if (this.model.perfMonV2) this.status |= BigInt(wrapped);
    if (interrupt) this.raisePmi();
  }

  private recompute(i: number): void {
    // Bits 31:0 as one number, bits 63:32 (event select high nibble, Host/GuestOnly) as another.
    const lo = Number(this.perfCtl[i]! & 0xffffffffn);
    const hi = Number(this.perfCtl[i]! >> 32n);
    const bank = this.bank;
    const select = (lo & 0xff) | ((hi & 0xf) << 8);
    bank.quantity[i] = amdEventQuantity(select, (lo >>> 8) & 0xff);
    bank.cplMask[i] = (lo & (1 << 17) ? COUNT_CPL0 : 0) | (lo & (1 << 16) ? COUNT_CPL3 : 0);
    const guestOnly = (hi & (1 << 8)) !== 0; // bit 40
    const hostOnly = (hi & (1 << 9)) !== 0; // bit 41
    // Neither or both: count in both modes.
    bank.modeMask[i] =
      hostOnly === guestOnly ? COUNT_HOST | COUNT_GUEST : hostOnly ? COUNT_HOST : COUNT_GUEST;
    bank.cmask[i] = lo >>> 24;
    bank.invert[i] = lo & (1 << 23) ? 1 : 0;
    bank.interrupt[i] = lo & (1 << 20) ? 1 : 0;
    const globallyOn = !this.model.perfMonV2 || (this.globalCtl & (1n << BigInt(i))) !== 0n;
    bank.active[i] = lo & (1 << 22) && globallyOn ? 1 : 0;
  }
}
