/**
 * The local APIC, as far as the PMU needs it: the LVT performance-counter
 * entry (LVTPC) that turns a counter overflow into an interrupt, and EOI.
 * Accessed through the x2APIC MSRs (LVTPC 0x834, EOI 0x80b).
 */
import { LVT } from './msr.ts';

export type InterruptDelivery = { nmi: true; vector: 2 } | { nmi: false; vector: number };

export class LocalApic {
  /** Reset value: masked, vector 0, fixed delivery (SDM: LVT entries reset masked). */
  lvtpc: number = LVT.MASKED;
  /** Interrupts delivered and not yet EOI'd (fixed delivery only; NMIs need no EOI). */
  inService = 0;
  eois = 0;

  /**
   * A PMI: what LVTPC turns it into, or null when masked. Intel parts set the
   * mask bit on delivery (the PMI handler unmasks it: Linux's "late ack");
   * AMD parts do not.
   */
  deliverPmi(setMaskOnDelivery: boolean): InterruptDelivery | null {
    const lvt = this.lvtpc;
    if (lvt & LVT.MASKED) return null;
    if (setMaskOnDelivery) this.lvtpc = lvt | LVT.MASKED;
    if ((lvt & LVT.DELIVERY_MODE_MASK) === LVT.DM_NMI) return { nmi: true, vector: 2 };
    this.inService++;
    return { nmi: false, vector: lvt & LVT.VECTOR };
  }

  writeLvtpc(value: number): void {
    // Writable: vector, delivery mode, mask. The delivery-status bit (12) is read-only.
    this.lvtpc = value & (LVT.VECTOR | LVT.DELIVERY_MODE_MASK | LVT.MASKED);
  }

  eoi(): void {
    this.eois++;
    if (this.inService > 0) this.inService--;
  }
}
