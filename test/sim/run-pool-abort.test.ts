/**
 * The pool listens on the caller's AbortSignal once, however many workers
 * it starts: with one listener per worker, `vpmu run --jobs 16` printed
 * Node's MaxListenersExceededWarning (more than ten on one EventTarget),
 * and a signal reused across calls kept the listeners of a pool that failed.
 */
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { describe, it } from 'node:test';
import { scenarioToInput } from '../../src/sim/from-scenario.ts';
import { RunsCancelled, simulateEach } from '../../src/sim/run-pool.ts';
import { loadScenario } from '../../src/sim/scenario.ts';

const input = scenarioToInput(loadScenario('specint-sampling').scenario);
const points = (n: number) =>
  Array.from({ length: n }, () => ({ input, options: { duration: 0.001 } }));

describe('the run pool and its AbortSignal', () => {
  it('holds one abort listener while three workers run, and none after', async () => {
    const controller = new AbortController();
    const seen: number[] = [];
    const outcomes = await simulateEach(points(3), {
      jobs: 3,
      signal: controller.signal,
      progress: () => seen.push(getEventListeners(controller.signal, 'abort').length),
    });
    assert.equal(outcomes.length, 3);
    assert.deepEqual(seen, [1, 1, 1]);
    assert.equal(getEventListeners(controller.signal, 'abort').length, 0);
  });

  it('an abort while workers run still rejects with RunsCancelled, and leaves no listener', async () => {
    const controller = new AbortController();
    await assert.rejects(
      simulateEach(points(4), {
        jobs: 2,
        signal: controller.signal,
        progress: () => controller.abort(),
      }),
      RunsCancelled,
    );
    assert.equal(getEventListeners(controller.signal, 'abort').length, 0);
  });
});
