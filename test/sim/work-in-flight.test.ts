/**
 * Work that overruns the simulated duration (issue: reliability part 2,
 * item 5): an I/O or wake-up of any size is retired a chunk at a time, so a
 * run ends at its duration whatever work is in flight. Before, one I/O of
 * 10^11 instructions simulated 100 s of a 0.01 s scenario and 10^16 never
 * finished.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from '../common/fc.ts';
import { CPU_MODELS } from '../../src/hw/cpu-models.ts';
import { scenarioToInput } from '../../src/sim/from-scenario.ts';
import { applyOverride, loadScenario } from '../../src/sim/scenario.ts';
import { simulate } from '../../src/sim/simulator.ts';

const DURATION_S = 0.002;
/** The slack past the duration: a chunk of work (0.25 ms), an I/O's wait for its device, the exits' cost. */
const SLACK_S = 0.001;

function runWith(workload: string): ReturnType<typeof simulate> {
  let { scenario } = loadScenario('fio-exits');
  scenario = applyOverride(scenario, 'guests.0.workload', workload, '--set');
  return simulate(scenarioToInput(scenario), { duration: DURATION_S });
}

describe('work in flight at the end of the run', () => {
  it('property: any per-I/O or per-wake-up instruction count ends at the duration', () => {
    const tscHz = CPU_MODELS['intel-sapphire-rapids'].tscHz;
    fc.assert(
      fc.property(
        fc.constantFrom('fio', 'idle'),
        fc.integer({ min: 3, max: 16 }),
        fc.double({ min: 1, max: 9.99, noNaN: true }),
        (kind, exponent, mantissa) => {
          const instructions = mantissa * 10 ** exponent;
          const workload =
            kind === 'fio'
              ? `{kind: fio, instructionsPerIo: ${instructions}}`
              : `{kind: idle, instructionsPerWakeup: ${instructions}}`;
          for (const r of runWith(workload).results) {
            assert.ok(
              r.elapsedCycles <= (DURATION_S + SLACK_S) * tscHz,
              `${r.design}: ${r.elapsedCycles} cycles for a ${DURATION_S} s run of ${workload}`,
            );
            assert.ok(r.workCycles > 0, `${r.design}: the guest retired nothing`);
          }
        },
      ),
      { numRuns: 12 },
    );
  });
});
