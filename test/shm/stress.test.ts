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

// The positive control: a harness that never reports anything would pass the
// tests above too. check-outside-mutex reads the other side's counter before
// taking the mutex (the explorer's counterexample: the read, then the other
// side's 0 -> 1 under the mutex, then this side's increment), a window real
// threads hit. The run ends once both checks have seen it; 60 s bounds it.
test('positive control: check-outside-mutex on 2 real threads is reported by the workers and by the sampler', async () => {
  const r = await runStress({
    variant: 'check-outside-mutex',
    threads: 2,
    seconds: 60,
    seed: 3,
    untilViolation: true,
  });
  assert.ok(r.violations.invariant > 0, `workers saw no overlap: ${JSON.stringify(r.violations)}`);
  assert.ok(
    r.violations.invariantSampled > 0,
    `the sampler saw no overlap: ${JSON.stringify(r.violations)}`,
  );
  // What the workers acquired they released: the counters still balance.
  assert.deepEqual(r.finalCounters, [0, 0]);
});
