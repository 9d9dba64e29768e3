import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from '../common/fc.ts';

import { LocalApic } from '../../src/hw/lapic.ts';
import { LVT } from '../../src/hw/msr.ts';

describe('LocalApic', () => {
  test('resets with LVTPC masked and nothing in service', () => {
    const apic = new LocalApic();
    assert.equal(apic.lvtpc, LVT.MASKED);
    assert.equal(apic.inService, 0);
    assert.equal(apic.eois, 0);
    assert.equal(apic.deliverPmi(true), null);
    assert.equal(apic.deliverPmi(false), null);
  });

  test('fixed delivery: the vector, one in service until EOI', () => {
    const apic = new LocalApic();
    apic.writeLvtpc(0x31);
    assert.deepEqual(apic.deliverPmi(false), { nmi: false, vector: 0x31 });
    assert.deepEqual(apic.deliverPmi(false), { nmi: false, vector: 0x31 });
    assert.equal(apic.inService, 2);
    apic.eoi();
    assert.equal(apic.inService, 1);
    assert.equal(apic.eois, 1);
  });

  test('NMI delivery: vector 2 whatever the vector field, nothing in service', () => {
    const apic = new LocalApic();
    apic.writeLvtpc(LVT.DM_NMI | 0x55);
    assert.deepEqual(apic.deliverPmi(false), { nmi: true, vector: 2 });
    assert.equal(apic.inService, 0);
  });

  test('setMaskOnDelivery masks after delivering (Intel); the caller unmasks', () => {
    const apic = new LocalApic();
    apic.writeLvtpc(0x40);
    assert.deepEqual(apic.deliverPmi(true), { nmi: false, vector: 0x40 });
    assert.equal(apic.lvtpc, LVT.MASKED | 0x40);
    assert.equal(apic.deliverPmi(true), null);
    apic.writeLvtpc(0x40);
    assert.notEqual(apic.deliverPmi(true), null);
  });

  test('property: writes keep exactly vector, delivery mode and mask; masked never delivers', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff_ffff }), fc.boolean(), (value, intel) => {
        const apic = new LocalApic();
        apic.writeLvtpc(value);
        assert.equal(apic.lvtpc, value & (LVT.VECTOR | LVT.DELIVERY_MODE_MASK | LVT.MASKED));
        const d = apic.deliverPmi(intel);
        if (value & LVT.MASKED) {
          assert.equal(d, null);
          return;
        }
        assert.notEqual(d, null);
        const nmi = (value & LVT.DELIVERY_MODE_MASK) === LVT.DM_NMI;
        assert.deepEqual(d, nmi ? { nmi: true, vector: 2 } : { nmi: false, vector: value & 0xff });
        assert.equal((apic.lvtpc & LVT.MASKED) !== 0, intel);
      }),
      { numRuns: 200 },
    );
  });
});
