/**
 * perf_event_attr validation (src/perf/attr.ts): what perf_event_open checks
 * before any PMU sees the event.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from '../common/fc.ts';
import { PerfError } from '../../src/common/errors.ts';
import {
  copyAttr,
  isSampling,
  MAX_SAMPLE_RATE,
  validateAttr,
  type PerfEventAttr,
} from '../../src/perf/attr.ts';
import { throwsErrno } from './helpers.ts';

const FC = { numRuns: 200 };

describe('validateAttr', () => {
  it('accepts named and raw configs', () => {
    validateAttr({ config: 'instructions' });
    validateAttr({ config: 0 });
    validateAttr({ config: 0x412e });
  });

  it('refuses a non-object attr with EFAULT', () => {
    throwsErrno(() => validateAttr(null as unknown as PerfEventAttr), 'EFAULT', PerfError);
    throwsErrno(() => validateAttr(42 as unknown as PerfEventAttr), 'EFAULT', PerfError);
  });

  it('refuses raw configs that are not non-negative safe integers with EINVAL', () => {
    for (const config of [-1, 1.5, Number.NaN, Infinity, 2 ** 53]) {
      throwsErrno(() => validateAttr({ config }), 'EINVAL', PerfError);
    }
    throwsErrno(() => validateAttr({ config: true as unknown as number }), 'EINVAL', PerfError);
    throwsErrno(
      () => validateAttr({ config: undefined as unknown as number }),
      'EINVAL',
      PerfError,
    );
  });

  it('refuses samplePeriod together with sampleFreq (attr.freq picks one)', () => {
    throwsErrno(
      () => validateAttr({ config: 'cycles', samplePeriod: 1000, sampleFreq: 1000 }),
      'EINVAL',
    );
  });

  it('refuses a samplePeriod that is not a whole number, or past a number’s exact range', () => {
    for (const samplePeriod of [-1, 2.5, Number.NaN, 2 ** 53, Infinity]) {
      throwsErrno(() => validateAttr({ config: 'cycles', samplePeriod }), 'EINVAL');
    }
  });

  // kernel/events/core.c: is_sampling_event() is attr.sample_period != 0, and
  // perf_event_open() checks sample_period only for bit 63: 0 is a counting event.
  it('takes a samplePeriod or sampleFreq of 0 (a counting event), as perf_event_open does', () => {
    validateAttr({ config: 'cycles', samplePeriod: 0 }, MAX_SAMPLE_RATE);
    validateAttr({ config: 'cycles', sampleFreq: 0 }, MAX_SAMPLE_RATE);
    assert.equal(isSampling(copyAttr({ config: 'cycles', samplePeriod: 0 })), false);
    assert.equal(isSampling(copyAttr({ config: 'cycles', sampleFreq: 0 })), false);
  });

  it('refuses a sampleFreq that is negative, not whole, or above the rate it is given', () => {
    assert.equal(MAX_SAMPLE_RATE, 100_000);
    for (const sampleFreq of [-5, 0.5, MAX_SAMPLE_RATE + 1, 1e9]) {
      throwsErrno(() => validateAttr({ config: 'cycles', sampleFreq }, MAX_SAMPLE_RATE), 'EINVAL');
    }
    validateAttr({ config: 'cycles', sampleFreq: MAX_SAMPLE_RATE }, MAX_SAMPLE_RATE);
    validateAttr({ config: 'cycles', sampleFreq: 1 }, MAX_SAMPLE_RATE);
    // perf_event_create_kernel_counter() does not check the sysctl: no rate given.
    validateAttr({ config: 'cycles', sampleFreq: MAX_SAMPLE_RATE + 1 });
  });

  it('property: any frequency in [1, max] is accepted, any above is refused', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 * MAX_SAMPLE_RATE }), (sampleFreq) => {
        let ok = true;
        try {
          validateAttr({ config: 'cycles', sampleFreq }, MAX_SAMPLE_RATE);
        } catch (error) {
          assert.ok(error instanceof PerfError && error.errno === 'EINVAL');
          ok = false;
        }
        return ok === sampleFreq <= MAX_SAMPLE_RATE;
      }),
      FC,
    );
  });

  it('property: any positive safe period is accepted', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), (samplePeriod) => {
        validateAttr({ config: 'cycles', samplePeriod });
      }),
      FC,
    );
  });
});

describe('isSampling', () => {
  it('is true for a period or a frequency, false for a counting event', () => {
    assert.equal(isSampling({ config: 'cycles' }), false);
    assert.equal(isSampling({ config: 'cycles', samplePeriod: 7 }), true);
    assert.equal(isSampling({ config: 'cycles', sampleFreq: 7 }), true);
  });
});

describe('copyAttr (perf_copy_attr)', () => {
  it('the event keeps its own frozen copy: changing the caller’s object afterwards changes nothing', () => {
    const attr: PerfEventAttr = { config: 'cycles', samplePeriod: 1000 };
    const copy = copyAttr(attr);
    attr.samplePeriod = 5;
    assert.equal(copy.samplePeriod, 1000);
    assert.ok(Object.isFrozen(copy));
  });
});
