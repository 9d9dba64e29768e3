/**
 * Keys that name JavaScript's object internals (__proto__, constructor,
 * prototype) are refused in scenario files and in --set paths, at their
 * place, and never reach an object (issue: reliability part 2, item 8).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import fc from '../common/fc.ts';
import { ScenarioError } from '../../src/sim/scenario-errors.ts';
import { parseCostFile } from '../../src/sim/cost-file.ts';
import { applyOverride, parseScenario } from '../../src/sim/scenario.ts';

// The built-in scenario with a costs mapping added: under costs any key is a parameter name.
const BASE = `${readFileSync(new URL('../../scenarios/specint-sampling.yaml', import.meta.url), 'utf8')}\ncosts:\n  exit.roundtrip: 1100\n`;
const UNSAFE = ['__proto__', 'constructor', 'prototype'] as const;

/** Where a key can be added: after a line that opens a mapping, at that mapping's indentation. */
const MAPPINGS = [
  { after: 'machine:', indent: '  ', path: 'machine' },
  { after: '  - name: vm0', indent: '    ', path: 'guests[0]' },
  { after: '    workload:', indent: '      ', path: 'guests[0].workload' },
  { after: 'published:', indent: '  ', path: 'published' },
  // A map of names to cycles: any key is a name here, so only the refusal stops it.
  { after: 'costs:', indent: '  ', path: 'costs' },
] as const;

function problemsOf(text: string): ScenarioError {
  try {
    parseScenario(text, 'x.yaml');
  } catch (e) {
    if (e instanceof ScenarioError) return e;
    throw e;
  }
  assert.fail('the scenario was accepted');
}

describe('unsafe keys', () => {
  it('property: an unsafe key anywhere in a scenario is refused at its line, and pollutes nothing', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...MAPPINGS),
        fc.constantFrom(...UNSAFE),
        fc.constantFrom('1', '{ polluted: true }', '[1, 2]', 'mediated'),
        (at, key, value) => {
          const lines = BASE.split('\n');
          const i = lines.indexOf(at.after);
          assert.ok(i >= 0, `the base scenario has '${at.after}'`);
          lines.splice(i + 1, 0, `${at.indent}"${key}": ${value}`);
          const error = problemsOf(lines.join('\n'));
          const problem = error.problems.find((p) => p.path === `${at.path}.${key}`);
          assert.ok(problem, `a problem at ${at.path}.${key}: ${error.message}`);
          assert.equal(problem.line, i + 2);
          assert.equal(problem.column, at.indent.length + 1);
          assert.equal(({} as Record<string, unknown>).polluted, undefined);
        },
      ),
    );
  });

  it('a top-level costs: { "__proto__": ... } is refused, not dropped', () => {
    const error = problemsOf(`${BASE}  "__proto__":\n    perf.tick: 5\n`);
    assert.ok(
      error.problems.some((p) => p.path === 'costs.__proto__'),
      error.message,
    );
  });

  it('--set: an unsafe path segment is refused and Object.prototype stays clean', () => {
    const scenario = parseScenario(BASE, 'x.yaml');
    for (const key of UNSAFE) {
      for (const path of [`${key}.x`, `machine.${key}`, `guests.0.${key}.polluted`]) {
        assert.throws(
          () => applyOverride(scenario, path, 'true', '--set'),
          (e: unknown) => e instanceof ScenarioError && e.message.includes(key),
        );
      }
    }
    assert.equal(({} as Record<string, unknown>).x, undefined);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  it('a calibration file refuses them too, at their place (it shares the YAML reader)', () => {
    for (const key of UNSAFE) {
      assert.throws(
        () => parseCostFile(`parameters:\n  exit.roundtrip: 1100\n  "${key}": 5\n`, 'c.yaml'),
        (e: unknown) =>
          e instanceof ScenarioError &&
          e.problems.some((p) => p.line === 3 && p.column === 3 && p.path === `parameters.${key}`),
      );
    }
  });
});
