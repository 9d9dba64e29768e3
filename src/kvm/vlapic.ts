/**
 * The guest's local APIC as KVM emulates it (arch/x86/kvm/lapic.c), as far as
 * the PMU needs: the LVTPC register the guest programs through x2APIC MSR
 * 0x834, EOI, and kvm_apic_local_deliver() for PMIs.
 */
import { LVT } from '../hw/msr.ts';

export type GuestInterrupt = { nmi: true; vector: 2 } | { nmi: false; vector: number };

export class VirtualLapic {
  /** Reset: masked (kvm_lapic_reset sets every LVT entry masked). */
  lvtpc: number = LVT.MASKED;
  eois = 0;

  constructor(
    /** Intel-compatible guest CPUID: LVTPC gets its mask bit set on delivery, as on Intel parts. */
    private readonly maskOnDelivery: boolean,
  ) {}

  writeLvtpc(value: bigint): void {
    this.lvtpc = Number(value & BigInt(LVT.VECTOR | LVT.DELIVERY_MODE_MASK | LVT.MASKED));
  }

  /** kvm_apic_local_deliver(APIC_LVTPC): the interrupt to inject, or null when masked. */
  deliverPmi(): GuestInterrupt | null {
    const lvt = this.lvtpc;
    if (lvt & LVT.MASKED) return null;
    if (this.maskOnDelivery) this.lvtpc = lvt | LVT.MASKED;
    if ((lvt & LVT.DELIVERY_MODE_MASK) === LVT.DM_NMI) return { nmi: true, vector: 2 };
    return { nmi: false, vector: lvt & LVT.VECTOR };
  }

  eoi(): void {
    this.eois++;
  }
}
