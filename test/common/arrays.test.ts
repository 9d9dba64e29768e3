import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { removeAt } from '../../src/common/arrays.ts';
import fc from './fc.ts';

describe('removeAt', () => {
  it('leaves an array as splice(i, 1) does, for any index, in range or not', () => {
    fc.assert(
      fc.property(fc.array(fc.integer()), fc.nat(20), (items, i) => {
        const bySplice = [...items];
        bySplice.splice(i, 1);
        const byRemoveAt = [...items];
        removeAt(byRemoveAt, i);
        assert.deepEqual(byRemoveAt, bySplice);
      }),
    );
  });
});
