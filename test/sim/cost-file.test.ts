/**
 * Calibration files (src/sim/cost-file.ts): measured values and ranges
 * replace the defaults; every problem is placed at file:line:column with the
 * field and what was expected; docs/calibration.md's example is a valid file.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { loadCostFile, parseCostFile, withCostFile } from '../../src/sim/cost-file.ts';
import * as scenarioApi from '../../src/sim/scenario.ts';
import * as fromScenario from '../../src/sim/from-scenario.ts';
import { CostModel } from '../../src/sim/cost-model.ts';
import { ScenarioError } from '../../src/sim/scenario-errors.ts';

function problems(text: string): string[] {
  try {
    parseCostFile(text, 'host.yaml');
  } catch (error) {
    assert.ok(error instanceof ScenarioError, String(error));
    return error.message.split('\n');
  }
  assert.fail('expected the file to be refused');
}

describe('a calibration file', () => {
  it('a number pins a parameter; a mapping brings its range and source', () => {
    const file = parseCostFile(
      [
        'host: lab box',
        'parameters:',
        '  exit.roundtrip: 1450',
        "  perf.period: { cycles: 6100, range: [5800, 6500], source: 'funclatency, 200 calls' }",
      ].join('\n'),
      'host.yaml',
    );
    assert.equal(file.host, 'lab box');
    const input = withCostFile({ costModel: 'default', costs: { 'perf.tick': 10 } }, file);
    const model = new CostModel(input.costModel, input.costs);
    const byName = (n: string) => model.parameters.find((p) => p.name === n)!;
    assert.deepEqual(byName('exit.roundtrip').range, [1450, 1450]);
    assert.deepEqual(byName('perf.period').range, [5800, 6500]);
    assert.match(byName('perf.period').source, /^funclatency, 200 calls \(default 11880: /);
    assert.match(byName('exit.roundtrip').source, /^measured \(host\.yaml\)/);
    assert.equal(model.get('perf.tick'), 10, "the scenario's own overrides stay");
  });

  it('each problem at its line and column, with the field and what was expected', () => {
    assert.deepEqual(
      problems(
        [
          'parameters:',
          '  exit.roundtrp: 1450',
          '  perf.period: { cycles: 6100, range: [6500, 7000] }',
          '  msr.rdpmc: -3',
          '  perf.create: { cycles: 100, rnage: [1, 2] }',
          'hots: x',
        ].join('\n'),
      ),
      [
        "host.yaml:2:3: parameters[\"exit.roundtrp\"]: expected a parameter of the 'default' cost model (docs/cost-model.md); did you mean 'exit.roundtrip'? (got 'exit.roundtrp')",
        'host.yaml:3:39: parameters["perf.period"].range: expected [low, high] with low <= cycles (6100) <= high (got [6500, 7000])',
        'host.yaml:4:14: parameters["msr.rdpmc"]: expected at least 0 (got -3)',
        "host.yaml:5:31: parameters[\"perf.create\"].rnage: unknown key, did you mean 'range'? (got 'rnage')",
        "host.yaml:6:1: hots: unknown key, did you mean 'host'? (got 'hots')",
      ],
    );
  });

  it('an empty file, broken YAML, a missing parameters key', () => {
    assert.deepEqual(problems(''), [
      'host.yaml:1:1: (top level): expected a mapping with parameters (got an empty file)',
    ]);
    assert.match(problems('parameters: [')[0]!, /^host\.yaml:1:\d+: \(yaml\): expected valid YAML/);
    assert.deepEqual(problems('host: x'), [
      'host.yaml:1:1: parameters: required: expected a mapping (got nothing)',
    ]);
  });

  it('a cost beyond 10^9 cycles is refused, as a value or as the top of a range', () => {
    // 10^15 cycles made a 10 ms run spin in the host tick's catch-up loop.
    assert.deepEqual(problems('parameters:\n  exit.roundtrip: 1e15'), [
      'host.yaml:2:19: parameters["exit.roundtrip"]: expected at most 1000000000 (got 1000000000000000)',
    ]);
    assert.deepEqual(
      problems('parameters:\n  exit.roundtrip: { cycles: 1500, range: [1000, 1e300] }'),
      [
        'host.yaml:2:49: parameters["exit.roundtrip"].range[1]: expected at most 1000000000 (got 1e+300)',
      ],
    );
    // The library refuses the same values when they come without a file.
    assert.throws(
      () => new CostModel('default', { 'exit.roundtrip': 1e15 }),
      /at most 1000000000, .*got 1000000000000000/,
    );
    assert.throws(
      () => new CostModel('default', { 'exit.roundtrip': { cycles: 1500, range: [1000, 1e300] } }),
      /high is at most 1000000000/,
    );
    new CostModel('default', { 'exit.roundtrip': 1e9 });
  });

  it('a value of neither form names both forms', () => {
    assert.deepEqual(problems('parameters:\n  exit.roundtrip: { cycles: 1480, range: [1480] }'), [
      'host.yaml:2:19: parameters["exit.roundtrip"]: expected cycles (a number) or { cycles, range: [low, high], source } (got a mapping)',
    ]);
    assert.deepEqual(problems('parameters:\n  exit.roundtrip: fast'), [
      'host.yaml:2:19: parameters["exit.roundtrip"]: expected cycles (a number) or { cycles, range: [low, high], source } (got \'fast\')',
    ]);
  });

  it('withCostFile and scenarioToInput from JavaScript: a TypeError or ScenarioError naming the argument', () => {
    const { scenarioToInput } = fromScenario;
    const costs = parseCostFile('parameters:\n  exit.roundtrip: 1500', 'host.yaml');
    const input = scenarioToInput(scenarioApi.loadScenario('fio-exits').scenario);
    for (const [call, message] of [
      [() => withCostFile(undefined as never, costs), /^withCostFile: expected a simulation input/],
      [() => withCostFile(input, undefined as never), /^withCostFile: expected a cost file/],
      [() => withCostFile(input, {} as never), /^withCostFile: expected a cost file/],
      [() => scenarioToInput(undefined as never), /^scenarioToInput: expected a scenario/],
      [() => scenarioToInput([] as never), /^scenarioToInput: expected a scenario/],
    ] as const)
      assert.throws(call, (e: unknown) => e instanceof TypeError && message.test(e.message));
    // An object of the wrong shape: each field named, as in a file.
    assert.throws(
      () => scenarioToInput({} as never),
      (e: unknown) =>
        e instanceof ScenarioError &&
        e.message
          .split('\n')
          .includes('scenarioToInput: name: required: expected a string (got nothing)'),
    );
    const loaded = scenarioApi.loadScenario('fio-exits').scenario;
    assert.throws(
      () => scenarioToInput({ ...loaded, duration: -1 }),
      (e: unknown) => e instanceof ScenarioError && /^scenarioToInput: duration: /.test(e.message),
    );
    assert.deepEqual(withCostFile(input, costs).costs['exit.roundtrip'], {
      cycles: 1500,
      source: 'measured (host.yaml)',
    });
  });

  it('scenarioToInput validates again without changing a loaded scenario', () => {
    for (const { name } of scenarioApi.listBuiltinScenarios()) {
      const { scenario } = scenarioApi.loadScenario(name);
      assert.deepEqual(scenarioApi.checkScenario(scenario, 'test'), scenario, name);
    }
  });

  it('called from JavaScript with something other than text: a TypeError saying so', () => {
    const { loadScenario, parseScenario } = scenarioApi;
    for (const [call, message] of [
      [
        () => parseCostFile(undefined as unknown as string, 'host.yaml'),
        /^host\.yaml: expected the text of/,
      ],
      [() => loadCostFile(5 as unknown as string), /^loadCostFile: expected a file path/],
      [
        () => parseScenario(Buffer.from('name: x') as unknown as string, 's.yaml'),
        /^s\.yaml: expected the text of/,
      ],
      [
        () => loadScenario(undefined as unknown as string),
        /^loadScenario: expected a built-in scenario name/,
      ],
    ] as const)
      assert.throws(call, (e: unknown) => e instanceof TypeError && message.test(e.message));
  });

  it("docs/calibration.md's example is a valid file", () => {
    const doc = readFileSync(new URL('../../docs/calibration.md', import.meta.url), 'utf8');
    const example = /```yaml\n([\s\S]*?)```/.exec(doc)?.[1];
    assert.ok(example, 'the page has a yaml example');
    const file = parseCostFile(example, 'docs/calibration.md');
    assert.ok(Object.keys(file.parameters).length >= 2);
  });
});
