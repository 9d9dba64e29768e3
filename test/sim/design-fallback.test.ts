/**
 * A mediated design asked for on a host whose PMU cannot run it. KVM 7.0
 * decides at module load (kvm_init_pmu_capability): the mediated vPMU needs
 * an Intel PMU of version 4 or later with full-width counter writes, so on a
 * Haswell (architectural PMU v3) enable_mediated_pmu is cleared and every VM
 * gets the perf-emulated vPMU. The report must say so rather than print
 * emulated figures under the mediated name.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { renderText } from '../../src/report/text.ts';
import { toJson } from '../../src/report/json.ts';
import { scenarioToInput } from '../../src/sim/from-scenario.ts';
import { applyOverride, loadScenario } from '../../src/sim/scenario.ts';
import { simulate } from '../../src/sim/simulator.ts';

function run(cpu: string) {
  let { scenario } = loadScenario('specint-sampling');
  scenario = applyOverride(scenario, 'machine.cpu', cpu, '--set');
  scenario = applyOverride(scenario, 'designs', '[emulated, mediated]', '--set');
  return simulate(scenarioToInput(scenario), { duration: 0.01 });
}

describe('a mediated design on a host that cannot run it', () => {
  it('Haswell (PMU v3): KVM keeps the perf-emulated vPMU, and the result says it ran as emulated', () => {
    const report = run('intel-haswell');
    const [emulated, mediated] = report.results;
    assert.equal(mediated!.design, 'mediated');
    assert.equal(mediated!.ranAs, 'emulated');
    assert.equal(emulated!.ranAs, undefined);
    // The same vPMU on the same machine: the same figures.
    assert.equal(mediated!.overheadPercent, emulated!.overheadPercent);
    assert.equal(mediated!.totalExits, emulated!.totalExits);
    assert.equal(toJson(report).results[1]!.ranAs, 'emulated');
    assert.match(
      renderText(report, { color: false }),
      /this host's PMU cannot run mediated: KVM kept the perf-emulated vPMU/,
    );
  });

  it('Skylake (PMU v4, full-width writes): the mediated vPMU runs, no fallback reported', () => {
    const report = run('intel-skylake');
    const mediated = report.results.find((r) => r.design === 'mediated')!;
    assert.equal(mediated.ranAs, undefined);
    assert.equal('ranAs' in toJson(report).results[1]!, false);
    assert.doesNotMatch(renderText(report, { color: false }), /cannot run/);
  });
});
