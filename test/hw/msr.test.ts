import { describe, test } from 'node:test';
import assert from 'node:assert/strict';

import {
  EVTSEL,
  FIXED_CTRL,
  GLOBAL,
  LVT,
  MSR,
  PERF_CAP,
  RDPMC,
  msrName,
} from '../../src/hw/msr.ts';

describe('MSR indices (docs/x86-pmu.md section 3)', () => {
  test('Intel', () => {
    assert.equal(MSR.IA32_PERFCTR0, 0xc1);
    assert.equal(MSR.IA32_PERFCTR7, 0xc8);
    assert.equal(MSR.IA32_PMC0, 0x4c1);
    assert.equal(MSR.IA32_PMC7, 0x4c8);
    assert.equal(MSR.IA32_PERFEVTSEL0, 0x186);
    assert.equal(MSR.IA32_PERFEVTSEL7, 0x18d);
    assert.equal(MSR.IA32_FIXED_CTR0, 0x309);
    assert.equal(MSR.IA32_FIXED_CTR3, 0x30c);
    assert.equal(MSR.IA32_FIXED_CTR_CTRL, 0x38d);
    assert.equal(MSR.IA32_PERF_GLOBAL_STATUS, 0x38e);
    assert.equal(MSR.IA32_PERF_GLOBAL_CTRL, 0x38f);
    assert.equal(MSR.IA32_PERF_GLOBAL_OVF_CTRL, 0x390);
    assert.equal(MSR.IA32_PERF_GLOBAL_STATUS_SET, 0x391);
    assert.equal(MSR.IA32_PERF_CAPABILITIES, 0x345);
    assert.equal(MSR.X2APIC_LVTPC, 0x834);
    assert.equal(MSR.X2APIC_EOI, 0x80b);
  });

  test('AMD', () => {
    assert.equal(MSR.MSR_K7_EVNTSEL0, 0xc0010000);
    assert.equal(MSR.MSR_K7_EVNTSEL3, 0xc0010003);
    assert.equal(MSR.MSR_K7_PERFCTR0, 0xc0010004);
    assert.equal(MSR.MSR_K7_PERFCTR3, 0xc0010007);
    // msr-index.h: MSR_F15H_PERF_CTL0..5 / MSR_F15H_PERF_CTR0..5 interleave.
    assert.deepEqual(
      [MSR.MSR_F15H_PERF_CTL0, MSR.MSR_F15H_PERF_CTL1, MSR.MSR_F15H_PERF_CTL2],
      [0xc0010200, 0xc0010202, 0xc0010204],
    );
    assert.deepEqual(
      [MSR.MSR_F15H_PERF_CTL3, MSR.MSR_F15H_PERF_CTL4, MSR.MSR_F15H_PERF_CTL5],
      [0xc0010206, 0xc0010208, 0xc001020a],
    );
    assert.deepEqual(
      [MSR.MSR_F15H_PERF_CTR0, MSR.MSR_F15H_PERF_CTR1, MSR.MSR_F15H_PERF_CTR2],
      [0xc0010201, 0xc0010203, 0xc0010205],
    );
    assert.deepEqual(
      [MSR.MSR_F15H_PERF_CTR3, MSR.MSR_F15H_PERF_CTR4, MSR.MSR_F15H_PERF_CTR5],
      [0xc0010207, 0xc0010209, 0xc001020b],
    );
    assert.equal(MSR.MSR_AMD64_PERF_CNTR_GLOBAL_STATUS, 0xc0000300);
    assert.equal(MSR.MSR_AMD64_PERF_CNTR_GLOBAL_CTL, 0xc0000301);
    assert.equal(MSR.MSR_AMD64_PERF_CNTR_GLOBAL_STATUS_CLR, 0xc0000302);
    assert.equal(MSR.MSR_AMD64_PERF_CNTR_GLOBAL_STATUS_SET, 0xc0000303);
  });

  test('the table is frozen', () => {
    assert.ok(Object.isFrozen(MSR));
  });

  test('msrName names known MSRs and falls back to hex', () => {
    assert.equal(msrName(0x38f), 'IA32_PERF_GLOBAL_CTRL');
    assert.equal(msrName(0x4c3), 'IA32_PMC2');
    assert.equal(msrName(0xc0010203), 'MSR_F15H_PERF_CTR1');
    assert.equal(msrName(0x12345), 'MSR 0x12345');
  });
});

describe('bit layouts', () => {
  test('PERFEVTSEL', () => {
    assert.equal(EVTSEL.EVENT, 0xffn);
    assert.equal(EVTSEL.UMASK, 0xff00n);
    assert.deepEqual(
      [
        EVTSEL.USR,
        EVTSEL.OS,
        EVTSEL.EDGE,
        EVTSEL.PC,
        EVTSEL.INT,
        EVTSEL.ANY,
        EVTSEL.EN,
        EVTSEL.INV,
      ],
      [16n, 17n, 18n, 19n, 20n, 21n, 22n, 23n].map((b) => 1n << b),
    );
    assert.equal(EVTSEL.CMASK, 0xffn << 24n);
    assert.equal(EVTSEL.IN_TX, 1n << 32n);
    assert.equal(EVTSEL.IN_TXCP, 1n << 33n);
    assert.equal(EVTSEL.AMD_EVENT_HI, 0xfn << 32n);
    assert.equal(EVTSEL.AMD_GUEST_ONLY, 1n << 40n);
    assert.equal(EVTSEL.AMD_HOST_ONLY, 1n << 41n);
  });

  test('FIXED_CTR_CTRL nibble, GLOBAL, PERF_CAPABILITIES, LVT, RDPMC', () => {
    assert.deepEqual(
      [FIXED_CTRL.OS, FIXED_CTRL.USR, FIXED_CTRL.ANY, FIXED_CTRL.PMI, FIXED_CTRL.bits],
      [1, 2, 4, 8, 4],
    );
    assert.equal(GLOBAL.FIXED_SHIFT, 32);
    assert.equal(GLOBAL.STATUS_BUFFER_OVF, 1n << 62n);
    assert.equal(GLOBAL.STATUS_COND_CHGD, 1n << 63n);
    assert.equal(PERF_CAP.FW_WRITES, 1n << 13n);
    assert.equal(PERF_CAP.PERF_METRICS, 1n << 15n);
    assert.equal(LVT.MASKED, 1 << 16);
    assert.equal(LVT.DM_NMI, 0x400);
    assert.equal(RDPMC.FIXED, 0x4000_0000);
    assert.equal(RDPMC.INDEX_MASK, 0xffff);
  });
});
