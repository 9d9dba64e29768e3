import { describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { CpuFault, gp } from '../../src/hw/fault.ts';

describe('CpuFault', () => {
  test('#GP is vector 13 and names itself in the message', () => {
    const f = gp('wrmsr 0x38e: read-only');
    assert.ok(f instanceof CpuFault);
    assert.ok(f instanceof Error);
    assert.equal(f.exception, '#GP');
    assert.equal(f.vector, 13);
    assert.equal(f.name, 'CpuFault');
    assert.equal(f.message, '#GP: wrmsr 0x38e: read-only');
  });

  test('#UD is vector 6', () => {
    assert.equal(new CpuFault('#UD', 'x').vector, 6);
  });
});
