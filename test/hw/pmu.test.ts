import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from '../common/fc.ts';

import { mask, signExtend32 } from '../../src/hw/pmu.ts';

describe('signExtend32', () => {
  test('examples at width 48', () => {
    assert.equal(signExtend32(0n, 48), 0);
    assert.equal(signExtend32(0x7fff_ffffn, 48), 0x7fff_ffff);
    assert.equal(signExtend32(0x8000_0000n, 48), 2 ** 48 - 2 ** 31);
    assert.equal(signExtend32(0xffff_ffffn, 48), 2 ** 48 - 1);
    assert.equal(signExtend32(0xdead_0000_0000_0001n, 48), 1);
  });

  test('property: equals -(2^32 - low) or low, modulo 2^width', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
        fc.integer({ min: 32, max: 52 }),
        (v, width) => {
          const low = v & 0xffff_ffffn;
          const signed = low >= 0x8000_0000n ? low - (1n << 32n) : low;
          const want =
            ((signed % (1n << BigInt(width))) + (1n << BigInt(width))) % (1n << BigInt(width));
          assert.equal(signExtend32(v, width), Number(want));
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('mask', () => {
  test('low width bits', () => {
    assert.equal(mask(0), 0n);
    assert.equal(mask(1), 1n);
    assert.equal(mask(48), 0xffff_ffff_ffffn);
    assert.equal(mask(64), (1n << 64n) - 1n);
  });
});
