/**
 * The guest LVTPC as KVM delivers a PMI through it: arch/x86/kvm/lapic.c,
 * kvm_apic_local_deliver() (nothing while masked; after an accepted
 * interrupt, the mask bit set on an Intel-compatible guest) and
 * __apic_accept_irq() by delivery mode (APIC_DM_FIXED / _LOWEST: the vector;
 * _NMI: an NMI; _SMI, _REMRD, _INIT, _STARTUP: accepted, result 1, but no
 * interrupt for a guest handler; _EXTINT: "should only be called ... with
 * LVT0", not accepted, result 0, so LVTPC is not masked either).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { VirtualLapic } from '../../src/kvm/vlapic.ts';

const MASKED = 1 << 16;
/** APIC_DM_* (apicdef.h), in LVT bits 10:8. */
const DM = { FIXED: 0, LOWEST: 1, SMI: 2, REMRD: 3, NMI: 4, INIT: 5, STARTUP: 6, EXTINT: 7 };

function lapic(intel: boolean, mode: number, vector = 0xfe): VirtualLapic {
  const apic = new VirtualLapic(intel);
  apic.writeLvtpc(BigInt((mode << 8) | vector));
  return apic;
}

describe('PMI delivery through the guest LVTPC (kvm_apic_local_deliver)', () => {
  it('fixed and lowest-priority inject the vector; NMI an NMI', () => {
    assert.deepEqual(lapic(true, DM.FIXED).deliverPmi(), { nmi: false, vector: 0xfe });
    assert.deepEqual(lapic(true, DM.LOWEST).deliverPmi(), { nmi: false, vector: 0xfe });
    assert.deepEqual(lapic(true, DM.NMI).deliverPmi(), { nmi: true, vector: 2 });
  });

  it('masks LVTPC after an accepted PMI on an Intel-compatible guest only; a masked LVTPC delivers nothing', () => {
    for (const mode of [DM.FIXED, DM.LOWEST, DM.NMI, DM.SMI, DM.REMRD, DM.INIT, DM.STARTUP]) {
      const intel = lapic(true, mode);
      intel.deliverPmi();
      assert.equal(intel.lvtpc & MASKED, MASKED, `mode ${mode}`);
      assert.equal(intel.deliverPmi(), null);
      const amd = lapic(false, mode);
      amd.deliverPmi();
      assert.equal(amd.lvtpc & MASKED, 0, `mode ${mode}`);
    }
  });

  it('SMI, remote read, INIT and SIPI are no interrupt for a guest handler', () => {
    for (const mode of [DM.SMI, DM.REMRD, DM.INIT, DM.STARTUP])
      assert.equal(lapic(true, mode).deliverPmi(), null, `mode ${mode}`);
  });

  it('ExtINT is not accepted from LVTPC: nothing is delivered and LVTPC stays unmasked', () => {
    const apic = lapic(true, DM.EXTINT);
    assert.equal(apic.deliverPmi(), null);
    assert.equal(apic.lvtpc & MASKED, 0);
  });
});
