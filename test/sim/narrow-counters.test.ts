/**
 * Guests whose counters are narrower than perf's period (issue: reliability
 * part 2, item 4). Without full-width writes Linux keeps max_period at
 * 2^31 - 1 and x86_perf_event_set_period() writes
 * (u64)(-left) & x86_pmu.cntval_mask (arch/x86/events/core.c): the value is
 * cut to the counter's width, never negative. A guest perf session on 2- to
 * 16-bit counters must therefore run, not crash the guest kernel's driver.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { scenarioToInput } from '../../src/sim/from-scenario.ts';
import { applyOverride, loadScenario } from '../../src/sim/scenario.ts';
import { simulate } from '../../src/sim/simulator.ts';

describe('narrow guest counters', () => {
  for (const width of [2, 8, 16]) {
    it(`${width}-bit guest counters: the sampling guest runs on every design`, () => {
      let { scenario } = loadScenario('specint-sampling');
      scenario = applyOverride(scenario, 'guests.0.pmu.gpWidth', String(width), '--set');
      scenario = applyOverride(scenario, 'guests.0.pmu.fixedWidth', String(width), '--set');
      const report = simulate(scenarioToInput(scenario), { duration: 0.005 });
      assert.deepEqual(
        report.results.map((r) => r.design),
        ['emulated', 'rfc-v1-passthrough-all', 'rfc-v1', 'passthrough-all', 'mediated'],
      );
      for (const r of report.results) assert.ok(r.overheadPercent >= 0 && r.overheadPercent <= 100);
    });
  }
});
