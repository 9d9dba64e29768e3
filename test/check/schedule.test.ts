/**
 * A replayable schedule (src/check/schedule.ts) is written by `vpmu check`
 * on a violation and read back by `--replay`: what is written must read back
 * as the same schedule, a lasso's loop included wherever it starts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from '../common/fc.ts';
import { formatSchedule, parseSchedule, type Schedule } from '../../src/check/schedule.ts';

const schedule = (path: number[], loopStart: number): Schedule => ({
  kind: 'accounting',
  variant: 'no-mutex',
  params: { vms: 2, events: 1, rounds: 1 },
  properties: null,
  path,
  loopStart,
});

describe('replayable schedules', () => {
  it('a lasso whose loop starts at the initial state keeps its loop marker', () => {
    const text = formatSchedule(schedule([1, 0, 1], 0));
    assert.equal(text, 'accounting:no-mutex:vms=2,events=1,rounds=1:/1.0.1');
    assert.equal(parseSchedule(text).loopStart, 0);
  });

  it('property: a written schedule reads back as the same schedule (paths, lassos, parameters)', () => {
    const arbitrary = fc
      .array(fc.nat({ max: 15 }), { maxLength: 12 })
      .chain((path) =>
        fc.tuple(
          fc.constant(path),
          path.length === 0 ? fc.constant(-1) : fc.integer({ min: -1, max: path.length - 1 }),
        ),
      );
    fc.assert(
      fc.property(arbitrary, ([path, loopStart]) => {
        const s = schedule(path, loopStart);
        assert.deepEqual(parseSchedule(formatSchedule(s)), s);
      }),
    );
  });
});
