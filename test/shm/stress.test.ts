import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runStress } from '../../src/shm/stress.ts';

test('upstream on 2 real threads for a second: calls of every kind, no violation, balanced', async () => {
  const r = await runStress({ variant: 'upstream', threads: 2, seconds: 1, seed: 7 });
  assert.deepEqual(r.violations, { invariant: 0, invariantSampled: 0, negative: 0, warnings: 0 });
  assert.deepEqual(r.finalCounters, [0, 0]);
  assert.ok(r.counts.create > 0 && r.counts.account > 0);
  assert.equal(r.counts.create, r.counts.release);
  assert.equal(r.counts.account, r.counts.unaccount);
  assert.ok(r.opsPerSecond.total > 0);
});

test('v6, events only: every account takes the mutex, still no violation', async () => {
  const r = await runStress({ variant: 'v6', threads: 2, seconds: 0.5, mix: 'events' });
  assert.equal(r.violations.invariant + r.violations.negative, 0);
  assert.equal(r.counts.create, 0);
  assert.ok(r.counts.account > 0);
});
