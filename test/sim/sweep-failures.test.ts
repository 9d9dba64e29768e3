/**
 * A sweep with one failing point keeps the points already run (issue:
 * reliability part 2, item 4): simulateEach returns every point's outcome in
 * order, a failure as its message, on this thread and on worker threads
 * alike; simulateAll still rejects on the first failure.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { scenarioToInput } from '../../src/sim/from-scenario.ts';
import { simulateAll, simulateEach } from '../../src/sim/run-pool.ts';
import { loadScenario } from '../../src/sim/scenario.ts';
import type { SimulationInput } from '../../src/sim/simulator.ts';

const good = scenarioToInput(loadScenario('specint-sampling').scenario);
// An input the scenario schema would refuse (the machine has one CPU), built
// by hand, so that the run itself fails.
const bad: SimulationInput = { ...good, guests: good.guests.map((g) => ({ ...g, hostCpu: 7 })) };
const points = [good, bad, good].map((input) => ({ input, options: { duration: 0.001 } }));

describe('a sweep point that fails', () => {
  for (const jobs of [1, 2]) {
    it(`--jobs ${jobs}: the other points are kept, in order, and the failure says why`, async () => {
      const outcomes = await simulateEach(points, { jobs });
      assert.deepEqual(
        outcomes.map((o) => o.ok),
        [true, false, true],
      );
      const [first, failed, third] = outcomes;
      if (!first?.ok || !third?.ok || !failed || failed.ok) throw new Error('unreachable');
      assert.deepEqual(
        first.report.results.map((r) => r.overheadPercent),
        third.report.results.map((r) => r.overheadPercent),
      );
      assert.match(failed.error, /no entry 7/);
      assert.doesNotMatch(failed.error, /\n|^Error: /);
    });
  }

  it('simulateAll rejects with the failure', async () => {
    await assert.rejects(simulateAll(points, { jobs: 1 }), /no entry 7/);
  });
});
