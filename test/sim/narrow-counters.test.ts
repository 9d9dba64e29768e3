/**
 * Guests whose counters are narrower than perf's period (issue: reliability
 * part 2, item 4). Without full-width writes Linux keeps max_period at
 * 2^31 - 1 and x86_perf_event_set_period() writes
 * (u64)(-left) & x86_pmu.cntval_mask (arch/x86/events/core.c): the value is
 * cut to the counter's width, never negative. A guest perf session on 2- to
 * 16-bit counters must therefore run, not crash the guest kernel's driver.
 *
 * Narrower still, Linux's own checks decide (arch/x86/events/core.c):
 * - check_hw_exists flips the low 16 bits of a general-purpose counter and
 *   reads it back. Through KVM's perf-emulated vPMU a counter narrower than
 *   16 bits does not keep them (a legacy write is masked to the width, a
 *   full-width one beyond it is refused), so the guest registers no core PMU
 *   and perf_event_open() of a hardware event fails with ENOENT
 *   (perf_init_event finds no PMU). The same for an AMD guest without a PMU:
 *   KVM reads its K7 counters as 0 and drops writes (kvm_get_msr_common).
 * - perf programs fixed counters with the general-purpose width
 *   (x86_pmu.cntval_mask; CPUID's fixed width is not used), so 0- and 1-bit
 *   fixed counters overflow on nearly every event: a PMI storm, which ends
 *   because a PMI is not delivered inside its own handler (NMIs blocked until
 *   IRET) and the guest kernel throttles the event (max_samples_per_tick).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Scenario } from '../../src/sim/scenario-schema.ts';
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

function withOverrides(name: string, overrides: Record<string, string>): Scenario {
  let { scenario } = loadScenario(name);
  for (const [path, value] of Object.entries(overrides))
    scenario = applyOverride(scenario, path, value, '--set');
  return scenario;
}

describe('guest counters too narrow for Linux', () => {
  for (const width of [0, 1]) {
    it(`${width}-bit fixed counters: a throttled PMI storm on every design, not an internal error`, () => {
      const scenario = withOverrides('specint-sampling', {
        'guests.0.pmu.fixedWidth': String(width),
      });
      const report = simulate(scenarioToInput(scenario), { duration: 0.001 });
      // Every design the scenario lists ran to its end.
      assert.deepEqual(
        report.results.map((r) => r.design),
        scenario.designs,
      );
      const emulated = report.results.find((r) => r.design === 'emulated')!;
      // The fixed instructions counter overflows on nearly every instruction,
      // far more often than -F 1000 asks: the guest kernel throttles it.
      const throttled = emulated.guestEvents.filter((e) => (e.throttled ?? 0) > 0);
      assert.ok(
        throttled.some((e) => e.event === 'instructions'),
        `throttled: ${throttled.map((e) => e.event).join(', ')}`,
      );
    });
  }

  for (const width of [0, 15]) {
    it(`${width}-bit general-purpose counters (perf-emulated): check_hw_exists fails, every hardware event is ENOENT`, () => {
      const scenario = withOverrides('specint-sampling', {
        'guests.0.pmu.gpWidth': String(width),
        designs: '[emulated]',
      });
      const [emulated] = simulate(scenarioToInput(scenario), { duration: 0.001 }).results;
      assert.deepEqual(
        emulated!.guestEvents.map((e) => [e.event, e.refused, e.counted]),
        scenario.guests[0]!.perf!.events.map((name) => [name, 'ENOENT', 0]),
      );
    });
  }

  it('16-bit general-purpose counters keep the probe: the events open', () => {
    const scenario = withOverrides('specint-sampling', {
      'guests.0.pmu.gpWidth': '16',
      designs: '[emulated]',
    });
    const [emulated] = simulate(scenarioToInput(scenario), { duration: 0.001 }).results;
    assert.deepEqual(
      emulated!.guestEvents.filter((e) => e.refused !== undefined),
      [],
    );
  });

  it('an AMD guest with PMU version 0 under perf record: ENOENT on every design, no crash', () => {
    const scenario = withOverrides('specint-sampling', {
      'machine.cpu': 'amd-zen4',
      'guests.0.pmu.version': '0',
      'guests.0.perf.events': '[cycles, instructions, branches]',
    });
    const report = simulate(scenarioToInput(scenario), { duration: 0.001 });
    for (const r of report.results) {
      assert.deepEqual(
        r.guestEvents.map((e) => [e.event, e.refused]),
        [
          ['cycles', 'ENOENT'],
          ['instructions', 'ENOENT'],
          ['branches', 'ENOENT'],
        ],
        r.design,
      );
    }
  });
});
