/**
 * validateWork: the check of every block a caller retires (guest.exec,
 * host.exec). Each quantity of WORK_KEYS must be a non-negative safe integer
 * (instructions required, the rest optional), the CPL 0 or 3.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WORK_KEYS, type Work } from '../../src/hw/events.ts';
import { validateWork } from '../../src/hw/validate-work.ts';
import fc from '../common/fc.ts';

const quantity = fc.nat({ max: Number.MAX_SAFE_INTEGER });
const validWork = fc.record(
  {
    instructions: quantity,
    branches: quantity,
    cycles: quantity,
    refCycles: quantity,
    llcReferences: quantity,
    llcMisses: quantity,
    branchMisses: quantity,
    loads: quantity,
    stores: quantity,
    cpl: fc.constantFrom(0, 3),
  },
  { requiredKeys: ['instructions'] },
);
const badQuantity = fc.oneof(
  fc.integer({ max: -1 }),
  fc.double({ noInteger: true }),
  fc.constantFrom(Number.MAX_SAFE_INTEGER + 1, Infinity, NaN, null, '1', 1n),
);

describe('validateWork', () => {
  it('accepts every block of safe non-negative integers at CPL 0 or 3', () => {
    fc.assert(
      fc.property(validWork, (work) => {
        validateWork(work, 'test');
      }),
    );
  });

  it('refuses a bad value of any key of WORK_KEYS, naming that key', () => {
    fc.assert(
      fc.property(validWork, fc.constantFrom(...WORK_KEYS), badQuantity, (work, key, bad) => {
        const block = { ...work, [key]: bad };
        assert.throws(
          () => validateWork(block, 'test'),
          (e: Error) => e instanceof RangeError && e.message.startsWith(`test: work.${key} `),
        );
      }),
    );
  });

  it('requires instructions', () => {
    assert.throws(() => validateWork({ cycles: 5 } as unknown as Work, 'w'), /work\.instructions/);
  });

  it('refuses a CPL other than 0 or 3, and what is not an object', () => {
    fc.assert(
      fc.property(
        validWork,
        fc.integer().filter((c) => c !== 0 && c !== 3),
        (work, cpl) => {
          assert.throws(
            () => validateWork({ ...work, cpl } as Work, 'w'),
            /work\.cpl must be 0 or 3/,
          );
        },
      ),
    );
    assert.throws(() => validateWork(null as unknown as Work, 'w'), TypeError);
  });

  it('property: a key that is not a field of Work is refused, naming it', () => {
    const fields = new Set<string>([...WORK_KEYS, 'cpl']);
    fc.assert(
      fc.property(
        validWork,
        fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,11}$/).filter((k) => !fields.has(k)),
        (work, key) => {
          const block = { ...work, [key]: 1 };
          assert.throws(
            () => validateWork(block, 'w'),
            (e: Error) =>
              e instanceof TypeError &&
              e.message.startsWith('w: work: unknown field ') &&
              e.message.includes(`'${key}'`),
          );
        },
      ),
    );
  });

  it('a misspelt field names the one it resembles; a caller’s own extra fields pass', () => {
    // Without the check, { cycle: 3 } read as no cycles: cycles defaulted to instructions.
    assert.throws(
      () => validateWork({ instructions: 5, cycle: 3 } as Work, 'guest.exec'),
      /^TypeError: guest\.exec: work: unknown field 'cycle', did you mean 'cycles'\?$/,
    );
    assert.doesNotThrow(() =>
      validateWork({ instructions: 5, cpu: 1, pid: 7 } as Work, 'host.exec', ['cpu', 'pid']),
    );
    assert.throws(
      () => validateWork({ instructions: 5, cpus: 1 } as Work, 'host.exec', ['cpu', 'pid']),
      /did you mean 'cpu'\?/,
    );
  });
});
