/**
 * The guest's local APIC as KVM emulates it (arch/x86/kvm/lapic.c), as far as
 * the PMU needs: the LVTPC register the guest programs through x2APIC MSR
 * 0x834, EOI, and kvm_apic_local_deliver() for PMIs.
 */
import { LVT } from '../hw/msr.ts';

/** apic_lvt_mask[LVT_PERFORMANCE_COUNTER] (lapic.c). */
const LVTPC_WRITABLE = LVT.MASKED | LVT.SEND_PENDING | LVT.VECTOR | LVT.DELIVERY_MODE_MASK;

export type GuestInterrupt = { nmi: true; vector: 2 } | { nmi: false; vector: number };

export class VirtualLapic {
  /** Reset: masked (kvm_lapic_reset sets every LVT entry masked). */
  lvtpc: number = LVT.MASKED;
  eois = 0;

  constructor(
    /** Intel-compatible guest CPUID: LVTPC gets its mask bit set on delivery, as on Intel parts. */
    private readonly maskOnDelivery: boolean,
  ) {}

  /**
   * kvm_lapic_reg_write(APIC_LVTPC): the value ANDed with
   * apic_lvt_mask[LVT_PERFORMANCE_COUNTER] = LVT_MASK | APIC_MODE_MASK, i.e.
   * vector, delivery mode, mask and the delivery-status bit (which KVM keeps
   * as written, where the part's is read-only); bits 15:13 are dropped.
   */
  writeLvtpc(value: bigint): void {
    this.lvtpc = Number(value & BigInt(LVTPC_WRITABLE));
  }

  /**
   * kvm_apic_local_deliver(APIC_LVTPC): the interrupt to inject, or null.
   * Nothing when masked. Otherwise __apic_accept_irq by delivery mode: fixed
   * and lowest-priority inject the vector, NMI an NMI; SMI, remote read,
   * INIT and SIPI are accepted but are no interrupt a guest handler takes
   * (the model has no SMM and no INIT/SIPI: nothing is delivered); ExtINT
   * is not accepted (result 0). Only an accepted PMI sets LVTPC's mask bit,
   * on an Intel-compatible guest.
   */
  deliverPmi(): GuestInterrupt | null {
    const lvt = this.lvtpc;
    if (lvt & LVT.MASKED) return null;
    const mode = lvt & LVT.DELIVERY_MODE_MASK;
    if (mode === LVT.DM_EXTINT) return null;
    if (this.maskOnDelivery) this.lvtpc = lvt | LVT.MASKED;
    if (mode === LVT.DM_NMI) return { nmi: true, vector: 2 };
    if (mode === LVT.DM_FIXED || mode === LVT.DM_LOWEST)
      return { nmi: false, vector: lvt & LVT.VECTOR };
    return null;
  }

  eoi(): void {
    this.eois++;
  }
}
