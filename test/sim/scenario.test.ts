import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { BUILTIN_SCENARIOS } from '../common/builtin-scenarios.ts';
import {
  applyOverride,
  keepsPublishedFigures,
  COST_MODEL_NAMES,
  DEFAULT_RECORD_FREQUENCY,
  listBuiltinScenarios,
  loadScenario,
  parseEventSpec,
  parseScenario,
  ScenarioError,
  ScenarioSchema,
  scenarioJsonSchema,
  type Scenario,
  type ScenarioProblem,
} from '../../src/sim/scenario.ts';

const MINIMAL = `name: tiny
description: one idle guest
machine:
  cpu: intel-sapphire-rapids
guests:
  - name: vm0
    workload:
      kind: idle
`;

/** The problems parseScenario reports for `text` (fails if it parses). */
function problems(text: string, file = 'scenarios/x.yaml'): ScenarioProblem[] {
  try {
    parseScenario(text, file);
  } catch (error) {
    assert.ok(error instanceof ScenarioError, String(error));
    assert.equal(error.message.split('\n').length, error.problems.length);
    return error.problems;
  }
  assert.fail('expected a ScenarioError');
}

/** The only problem, as its formatted line. */
function oneProblem(text: string): string {
  const found = problems(text);
  assert.equal(found.length, 1, found.map((p) => p.message).join('\n'));
  const p = found[0]!;
  return `${p.file}:${p.line}:${p.column}: ${p.path}: ${p.message}`;
}

describe('built-in scenarios', () => {
  const builtins = listBuiltinScenarios();

  test('the six are listed, sorted, each with a description', () => {
    assert.deepEqual(
      builtins.map((b) => b.name),
      BUILTIN_SCENARIOS,
    );
    for (const b of builtins) {
      assert.ok(b.description.length > 40, b.name);
      assert.match(b.file, /scenarios[/\\][a-z-]+\.yaml$/);
    }
  });

  test('every built-in loads by name, and its name matches its file', () => {
    for (const b of builtins) {
      const { scenario, file } = loadScenario(b.name);
      assert.equal(scenario.name, b.name);
      assert.equal(file, b.file);
      assert.ok(COST_MODEL_NAMES.includes(scenario.costModel));
    }
  });

  test('specint-sampling: the published basic-sampling row, 6 events at -F 1000', () => {
    const s = loadScenario('specint-sampling').scenario;
    assert.equal(s.machine.cpu, 'intel-sapphire-rapids');
    // The RFC v1 cover letter (26 Jan 2024): "emulated vPMU", "all passthrough"
    // (the RFC modified to pass every MSR through) and "passthrough with event
    // filters" (the RFC as posted), each under the design that produced it.
    assert.deepEqual(s.designs, [
      'emulated',
      'rfc-v1-passthrough-all',
      'rfc-v1',
      'passthrough-all',
      'mediated',
    ]);
    assert.deepEqual(s.published?.overheadPercent, {
      emulated: 33.62,
      'rfc-v1-passthrough-all': 4.24,
      'rfc-v1': 6.21,
    });
    assert.equal(s.published?.test, 'basic-sampling');
    const perf = s.guests[0]!.perf!;
    assert.equal(perf.mode, 'record');
    assert.equal(perf.frequency, 1000);
    assert.equal(perf.events.length, 6);
  });

  test('specint-multiplex: 10 events none of which a fixed counter takes', () => {
    const s = loadScenario('specint-multiplex').scenario;
    assert.deepEqual(s.published?.overheadPercent, {
      emulated: 79.32,
      'rfc-v1-passthrough-all': 7.34,
      'rfc-v1': 10.45,
    });
    const events = s.guests[0]!.perf!.events;
    assert.equal(events.length, 10);
    for (const e of events) {
      const { config } = parseEventSpec(e);
      assert.ok(
        !['cycles', 'instructions', 'ref-cycles', 'topdown-slots', 0xc0, 0x3c].includes(config),
        e,
      );
    }
  });

  test('host-contention pins 8 exclude-guest events on CPU 0; mediated-refused orders its sessions in time', () => {
    const h = loadScenario('host-contention').scenario;
    const monitor = h.host.perf[0]!;
    assert.equal(monitor.events.length, 8);
    assert.deepEqual(monitor.cpus, [0]);
    assert.equal(monitor.pinned, true);
    assert.equal(monitor.excludeGuest, true);
    const r = loadScenario('mediated-refused').scenario;
    const [early, late] = r.host.perf;
    assert.equal(early!.excludeGuest, false);
    assert.ok(early!.stopAt! < r.guests[1]!.startAt && r.guests[1]!.startAt < late!.startAt);
    assert.ok(early!.startAt < r.guests[0]!.startAt);
  });
});

describe('defaults', () => {
  test('a minimal scenario gets every default', () => {
    const s = parseScenario(MINIMAL, 'tiny.yaml');
    assert.deepEqual(s.machine, {
      cpu: 'intel-sapphire-rapids',
      cpus: 1,
      hz: 250,
      nmiWatchdog: false,
    });
    assert.equal(s.costModel, 'default');
    assert.deepEqual(s.costs, {});
    assert.equal(s.duration, 1);
    assert.equal(s.seed, 1);
    assert.deepEqual(s.designs, ['emulated', 'mediated']);
    assert.deepEqual(s.host, { perf: [], tasks: [] });
    assert.equal(s.published, undefined);
    const g = s.guests[0]!;
    assert.equal(g.hostCpu, 0);
    assert.equal(g.hz, 250);
    assert.equal(g.startAt, 0);
    assert.equal(g.perf, undefined);
    assert.equal(g.pmu, undefined);
    assert.deepEqual(g.workload, {
      kind: 'idle',
      wakeupsPerSecond: 100,
      instructionsPerWakeup: 5000,
    });
  });

  test('workload defaults by kind', () => {
    const parse = (w: string) =>
      parseScenario(MINIMAL.replace('kind: idle', w), 'w.yaml').guests[0]!.workload;
    assert.deepEqual(parse('kind: specint'), {
      kind: 'specint',
      ipc: 1.5,
      branchesPerKilo: 200,
      branchMissPercent: 2,
      llcRefsPerKilo: 10,
      llcMissPercent: 30,
      loadsPerKilo: 250,
      storesPerKilo: 100,
      userPercent: 95,
      phaseVariation: 0.1,
    });
    assert.deepEqual(parse('kind: fio'), {
      kind: 'fio',
      iops: 20000,
      instructionsPerIo: 20000,
      exitsPerIo: 2,
      ipc: 1,
    });
  });

  test('perf record with neither frequency nor period samples at 4000 Hz; a host session counts on every CPU', () => {
    const s = parseScenario(
      `${MINIMAL.replace('  cpu: intel-sapphire-rapids', '  cpu: intel-sapphire-rapids\n  cpus: 3')}    perf: { mode: record, events: [cycles] }
host:
  perf:
    - { name: h, mode: stat, events: [instructions] }
    - { name: p, mode: record, period: 10000, events: ['r01c2:u'] }
`,
      'f.yaml',
    );
    assert.equal(s.guests[0]!.perf!.frequency, DEFAULT_RECORD_FREQUENCY);
    assert.equal(s.guests[0]!.perf!.period, undefined);
    const [h, p] = s.host.perf;
    assert.deepEqual(h!.cpus, [0, 1, 2]);
    assert.equal(h!.excludeGuest, true);
    assert.equal(h!.pinned, false);
    assert.equal(h!.startAt, 0);
    assert.equal(h!.frequency, undefined);
    assert.equal(p!.period, 10000);
    assert.equal(p!.frequency, undefined);
  });

  test('perfCapabilities: a whole number or a hex string, as bigint', () => {
    const caps = (v: string) =>
      parseScenario(`${MINIMAL}    pmu: { perfCapabilities: ${v}, gpCounters: 4 }\n`, 'p.yaml')
        .guests[0]!.pmu!;
    assert.equal(caps('"0x2000"').perfCapabilities, 0x2000n);
    assert.equal(caps('8192').perfCapabilities, 8192n);
    assert.equal(caps('0x2000').perfCapabilities, 0x2000n); // YAML reads unquoted hex as a number
    assert.equal(caps('"0xffffffffffffffff"').perfCapabilities, (1n << 64n) - 1n);
    assert.equal(caps('1').gpCounters, 4);
  });

  test('parseEventSpec decodes names, raw encodings and modifiers', () => {
    assert.deepEqual(parseEventSpec('cycles'), {
      spec: 'cycles',
      config: 'cycles',
      excludeUser: false,
      excludeKernel: false,
    });
    assert.deepEqual(parseEventSpec('r01c2:u'), {
      spec: 'r01c2:u',
      config: 0x1c2,
      excludeUser: false,
      excludeKernel: true,
    });
    assert.equal(parseEventSpec('branches:k').excludeUser, true);
    assert.throws(() => parseEventSpec('cycle'), /did you mean 'cycles'/);
  });
});

describe('problems: file:line:column, path, expected and got', () => {
  test('an unknown key, with a suggestion when one is close, at the key', () => {
    const text = MINIMAL.replace('    workload:', '    hz: 250\n    hostCPU: 0\n    workload:');
    assert.equal(
      oneProblem(text),
      "scenarios/x.yaml:8:5: guests[0].hostCPU: unknown key, did you mean 'hostCpu'? (got 'hostCPU')",
    );
    assert.equal(
      oneProblem(`${MINIMAL}colour: red\n`),
      'scenarios/x.yaml:9:1: colour: unknown key, expected one of name, description, published, machine, ' +
        "costModel, costs, duration, seed, designs, guests, host (got 'colour')",
    );
    // Inside the discriminated union: the keys of the chosen kind.
    assert.equal(
      oneProblem(MINIMAL.replace('kind: idle', 'kind: fio\n      iopz: 5')),
      "scenarios/x.yaml:9:7: guests[0].workload.iopz: unknown key, did you mean 'iops'? (got 'iopz')",
    );
  });

  test('a wrong type, at the value', () => {
    assert.equal(
      oneProblem(MINIMAL.replace('    workload:', '    hostCpu: first\n    workload:')),
      "scenarios/x.yaml:7:14: guests[0].hostCpu: expected a number (got 'first')",
    );
    assert.equal(
      oneProblem(
        MINIMAL.replace(
          'guests:\n  - name: vm0\n    workload:\n      kind: idle\n',
          'guests: vm0\n',
        ),
      ),
      "scenarios/x.yaml:5:9: guests: expected a list (got 'vm0')",
    );
    assert.equal(
      oneProblem(`${MINIMAL}duration: 1.5.2\n`),
      "scenarios/x.yaml:9:11: duration: expected a number (got '1.5.2')",
    );
  });

  test('out of range', () => {
    assert.equal(
      oneProblem(
        MINIMAL.replace('  cpu: intel-sapphire-rapids', '  cpu: intel-sapphire-rapids\n  cpus: 65'),
      ),
      'scenarios/x.yaml:5:9: machine.cpus: expected at most 64 (got 65)',
    );
    assert.equal(
      oneProblem(`${MINIMAL}duration: 0\n`),
      'scenarios/x.yaml:9:11: duration: expected at least 0.001 (got 0)',
    );
    assert.equal(
      oneProblem(`${MINIMAL}    perf: { mode: record, frequency: 200000, events: [cycles] }\n`),
      'scenarios/x.yaml:9:38: guests[0].perf.frequency: expected at most 100000, ' +
        'perf_event_max_sample_rate (got 200000)',
    );
    assert.equal(
      oneProblem(`${MINIMAL}    perf: { mode: stat, events: [] }\n`),
      'scenarios/x.yaml:9:33: guests[0].perf.events: expected at least 1 item (got an empty list)',
    );
  });

  test('a bad enum value, with a suggestion', () => {
    assert.equal(
      oneProblem(MINIMAL.replace('kind: idle', 'kind: spec')),
      "scenarios/x.yaml:8:13: guests[0].workload.kind: expected one of specint, fio, idle; did you mean 'specint'? (got 'spec')",
    );
    assert.equal(
      oneProblem(MINIMAL.replace('cpu: intel-sapphire-rapids', 'cpu: intel-saphire-rapids')),
      'scenarios/x.yaml:4:8: machine.cpu: expected one of intel-haswell, intel-skylake, intel-icelake, ' +
        'intel-sapphire-rapids, intel-emerald-rapids, amd-zen3, amd-zen4; ' +
        "did you mean 'intel-sapphire-rapids'? (got 'intel-saphire-rapids')",
    );
    assert.equal(
      oneProblem(`${MINIMAL}designs: [mediated, legacy]\n`),
      'scenarios/x.yaml:9:21: designs[1]: expected one of emulated, mediated, passthrough-all, ' +
        "mediated-topdown, rfc-v1, rfc-v1-passthrough-all (got 'legacy')",
    );
    assert.equal(
      oneProblem(
        MINIMAL.replace('  cpu: intel-sapphire-rapids', '  cpu: intel-sapphire-rapids\n  hz: 200'),
      ),
      'scenarios/x.yaml:5:7: machine.hz: expected one of 100, 250, 300, 1000 (got 200)',
    );
    assert.match(
      oneProblem(`${MINIMAL}    perf: { mode: stat, events: [cycles, brnaches] }\n`),
      /^scenarios\/x\.yaml:9:42: guests\[0\]\.perf\.events\[1\]: expected a perf event: .* did you mean 'branches'\? \(got 'brnaches'\)$/,
    );
  });

  test('a missing required key, at its parent mapping', () => {
    assert.equal(
      oneProblem(MINIMAL.replace('description: one idle guest\n', '')),
      'scenarios/x.yaml:1:1: description: required: expected a string (got nothing)',
    );
    assert.equal(
      oneProblem(MINIMAL.replace('    workload:\n      kind: idle\n', '    hostCpu: 0\n')),
      'scenarios/x.yaml:6:5: guests[0].workload: required: expected a mapping (got nothing)',
    );
    assert.equal(
      oneProblem(MINIMAL.replace('      kind: idle', '      wakeupsPerSecond: 5')),
      'scenarios/x.yaml:8:7: guests[0].workload.kind: required: expected one of specint, fio, idle (got nothing)',
    );
  });

  test('cross-field: hostCpu >= cpus, duplicate names, frequency and period together', () => {
    assert.equal(
      oneProblem(MINIMAL.replace('    workload:', '    hostCpu: 1\n    workload:')),
      'scenarios/x.yaml:7:14: guests[0].hostCpu: expected a CPU below machine.cpus (1) (got 1)',
    );
    assert.equal(
      oneProblem(`${MINIMAL}  - name: vm0\n    workload: { kind: fio }\n`),
      "scenarios/x.yaml:9:11: guests[1].name: expected a unique name, guests[0] is also 'vm0' (got 'vm0')",
    );
    assert.equal(
      oneProblem(
        `${MINIMAL}    perf:\n      mode: record\n      frequency: 1000\n      period: 5000\n      events: [cycles]\n`,
      ),
      'scenarios/x.yaml:12:15: guests[0].perf.period: expected either frequency or period, not both ' +
        '(got period 5000 with frequency 1000)',
    );
    assert.equal(
      oneProblem(`${MINIMAL}    perf: { mode: stat, period: 5, events: [cycles] }\n`),
      'scenarios/x.yaml:9:33: guests[0].perf.period: expected no period with mode stat, which counts; ' +
        'period is for mode record (got 5)',
    );
    assert.equal(
      oneProblem(`${MINIMAL}    perf: { mode: stat, events: [cycles, instructions, cycles] }\n`),
      'scenarios/x.yaml:9:56: guests[0].perf.events[2]: expected each event once, this one is also ' +
        "events[0] (got 'cycles')",
    );
  });

  test('cross-field: host sessions and tasks, time', () => {
    const host = (yaml: string) => `${MINIMAL}host:\n${yaml}`;
    assert.equal(
      oneProblem(host('  perf:\n    - { name: a, mode: stat, events: [cycles], cpus: [0, 1] }\n')),
      'scenarios/x.yaml:11:58: host.perf[0].cpus[1]: expected a CPU below machine.cpus (1) (got 1)',
    );
    assert.equal(
      oneProblem(
        host(
          '  perf:\n    - { name: a, mode: stat, events: [cycles] }\n    - { name: a, mode: stat, events: [cycles] }\n',
        ),
      ),
      "scenarios/x.yaml:12:15: host.perf[1].name: expected a unique name, host.perf[0] is also 'a' (got 'a')",
    );
    assert.equal(
      oneProblem(
        host(
          '  perf:\n    - { name: a, mode: stat, events: [cycles], startAt: 0.5, stopAt: 0.5 }\n',
        ),
      ),
      'scenarios/x.yaml:11:70: host.perf[0].stopAt: expected a time after startAt (0.5) and at most duration (1) (got 0.5)',
    );
    assert.equal(
      oneProblem(MINIMAL.replace('    workload:', '    startAt: 2\n    workload:')),
      'scenarios/x.yaml:7:14: guests[0].startAt: expected a time below duration (1) (got 2)',
    );
    assert.equal(
      oneProblem(
        host(
          '  tasks:\n    - { share: 0.6, workload: { kind: idle } }\n    - { share: 0.5, workload: { kind: idle } }\n',
        ),
      ),
      'scenarios/x.yaml:12:16: host.tasks[1].share: expected the host tasks on CPU 0 to share less than 1 ' +
        'in total, leaving time for vCPUs (got 0.5, 1.1 in total)',
    );
  });

  test('YAML syntax errors, at their place; nothing else is checked', () => {
    const found = problems('name: x\ndescription: [a, b\nmachine:\n  cpu: : x\n');
    assert.ok(found.length >= 1);
    assert.ok(
      found.every((p) => p.path === '(yaml)' && p.message.startsWith('expected valid YAML: ')),
    );
    assert.deepEqual(found.map((p) => [p.line, p.column]).at(-1), [4, 8]);
    assert.equal(
      oneProblem(`${MINIMAL}duration: 1\nduration: 2\n`),
      'scenarios/x.yaml:10:1: (yaml): expected valid YAML: map keys must be unique',
    );
    assert.equal(
      oneProblem(''),
      'scenarios/x.yaml:1:1: (top level): expected a mapping with name, description, machine and guests (got an empty file)',
    );
  });

  test('several problems: all reported, in file order, one line each', () => {
    const text = `name: Bad_Name
description: d
machine: { cpu: amd-zen4, cpus: 0 }
guests:
  - name: vm0
    workload: { kind: specint, ipc: 0 }
`;
    const err = (() => {
      try {
        parseScenario(text, 'b.yaml');
      } catch (e) {
        return e as ScenarioError;
      }
      assert.fail('expected a ScenarioError');
    })();
    assert.deepEqual(err.message.split('\n'), [
      "b.yaml:1:7: name: expected lowercase letters, digits and '-', starting with a letter or digit (got 'Bad_Name')",
      'b.yaml:3:33: machine.cpus: expected at least 1 (got 0)',
      'b.yaml:6:37: guests[0].workload.ipc: expected more than 0 (got 0)',
    ]);
  });
});

describe('loadScenario', () => {
  test('a file path wins; problems name the path', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vpmu-scenario-'));
    try {
      const good = join(dir, 'good.yaml');
      writeFileSync(good, MINIMAL);
      assert.equal(loadScenario(good).scenario.name, 'tiny');
      assert.equal(loadScenario(good).file, good);
      const bad = join(dir, 'bad.yaml');
      writeFileSync(bad, MINIMAL.replace('kind: idle', 'kind: busy'));
      assert.throws(
        () => loadScenario(bad),
        (e: unknown) => {
          assert.ok(e instanceof ScenarioError);
          assert.equal(e.problems[0]!.file, bad);
          assert.equal(e.problems[0]!.line, 8);
          return true;
        },
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('an unknown name: one problem listing the built-ins, with a suggestion', () => {
    assert.throws(
      () => loadScenario('specint-sampl'),
      (e: unknown) => {
        assert.ok(e instanceof ScenarioError);
        assert.equal(e.problems.length, 1);
        assert.equal(
          e.message,
          'specint-sampl: expected a scenario file or a built-in scenario: event-filter, fio-exits, host-contention, ' +
            "mediated-refused, specint-multiplex, specint-sampling; did you mean 'specint-sampling'? (got 'specint-sampl')",
        );
        return true;
      },
    );
    assert.throws(
      () => loadScenario('no/such/file.yaml'),
      /no\/such\/file\.yaml: expected an existing scenario file/,
    );
  });
});

describe('applyOverride', () => {
  const base = (): Scenario => loadScenario('specint-sampling').scenario;

  test('sets a field and validates again; the input is left alone', () => {
    const s = base();
    const out = applyOverride(s, 'guests.0.perf.frequency', '100', '--sweep');
    assert.equal(out.guests[0]!.perf!.frequency, 100);
    assert.equal(s.guests[0]!.perf!.frequency, 1000);
    assert.equal(
      applyOverride(s, 'machine.nmiWatchdog', 'true', '--set').machine.nmiWatchdog,
      true,
    );
    assert.deepEqual(applyOverride(s, 'designs', '[mediated]', '--set').designs, ['mediated']);
    // Cost parameter names have dots: everything after 'costs.' is the name.
    assert.equal(applyOverride(s, 'costs.perf.tick', '150', '--set').costs['perf.tick'], 150);
  });

  test('frequency and period replace each other; nested objects are created', () => {
    const s = base();
    const byPeriod = applyOverride(s, 'guests.0.perf.period', '100000', '--sweep');
    assert.equal(byPeriod.guests[0]!.perf!.period, 100000);
    assert.equal(byPeriod.guests[0]!.perf!.frequency, undefined);
    const back = applyOverride(byPeriod, 'guests.0.perf.frequency', '500', '--sweep');
    assert.equal(back.guests[0]!.perf!.frequency, 500);
    assert.equal(back.guests[0]!.perf!.period, undefined);
    const pmu = applyOverride(s, 'guests.0.pmu.gpCounters', '4', '--set');
    assert.equal(pmu.guests[0]!.pmu!.gpCounters, 4);
    const caps = applyOverride(
      applyOverride(s, 'guests.0.pmu.perfCapabilities', '"0x2000"', '--set'),
      'seed',
      '7',
      '--set',
    );
    assert.equal(caps.guests[0]!.pmu!.perfCapabilities, 0x2000n);
    assert.equal(caps.seed, 7);
  });

  test("setting a workload's kind starts the new kind from its own defaults", () => {
    const s = base();
    // The same as replacing the whole mapping, which was always accepted.
    const byKind = applyOverride(s, 'guests.0.workload.kind', 'fio', '--set');
    const byMapping = applyOverride(s, 'guests.0.workload', '{kind: fio}', '--set');
    assert.equal(byKind.guests[0]!.workload.kind, 'fio');
    assert.deepEqual(byKind.guests[0]!.workload, byMapping.guests[0]!.workload);
    // A later --set refines the new kind; setting the same kind again keeps it.
    const refined = applyOverride(byKind, 'guests.0.workload.iops', '1234', '--set');
    const again = applyOverride(refined, 'guests.0.workload.kind', 'fio', '--set');
    assert.deepEqual(again.guests[0]!.workload, { ...byMapping.guests[0]!.workload, iops: 1234 });
    // The old kind's values are not carried over: specint's ipc is its own.
    const specint = s.guests[0]!.workload;
    assert.equal(specint.kind, 'specint');
    const backToSpecint = applyOverride(again, 'guests.0.workload.kind', 'specint', '--set');
    assert.deepEqual(
      backToSpecint.guests[0]!.workload,
      applyOverride(s, 'guests.0.workload', '{kind: specint}', '--set').guests[0]!.workload,
    );
  });

  test('an override of what ran drops the published figures; duration, seed, costs and designs keep them', () => {
    const s = base();
    assert.ok(s.published, 'specint-sampling has published figures');
    for (const [path, value] of [
      ['guests.0.workload.kind', 'fio'],
      ['guests.0.perf.frequency', '100'],
      ['machine.nmiWatchdog', 'true'],
      ['machine.cpu', 'amd-zen4'],
    ] as const)
      assert.equal(applyOverride(s, path, value, '--set').published, undefined, path);
    for (const [path, value] of [
      ['duration', '0.5'],
      ['seed', '9'],
      ['costs.perf.tick', '150'],
      ['designs', '[mediated, emulated]'],
    ] as const)
      assert.deepEqual(applyOverride(s, path, value, '--set').published, s.published, path);
    assert.equal(keepsPublishedFigures('costs.exit.roundtrip'), true);
    assert.equal(keepsPublishedFigures('guests.0.hz'), false);
  });

  test('bad paths and values name the origin and the path', () => {
    const s = base();
    const message = (path: string, value: string) => {
      try {
        applyOverride(s, path, value, '--sweep');
      } catch (e) {
        assert.ok(e instanceof ScenarioError);
        assert.equal(e.problems.length, 1);
        return e.message;
      }
      assert.fail('expected a ScenarioError');
    };
    assert.equal(
      message('guests.0.perf.frequency', '200000'),
      '--sweep: guests[0].perf.frequency: expected at most 100000, perf_event_max_sample_rate (got 200000)',
    );
    assert.equal(
      message('guests.0.perf.frequncy', '100'),
      "--sweep: guests[0].perf.frequncy: unknown key, did you mean 'frequency'? (got 'frequncy')",
    );
    assert.equal(
      message('guests.2.hz', '100'),
      "--sweep: guests[2]: expected an index below 1, the list's length (got 2)",
    );
    assert.equal(
      message('guests.first.hz', '100'),
      "--sweep: guests.first: expected a numeric index into the list guests (got 'first')",
    );
    assert.equal(
      message('machine..cpus', '2'),
      "--sweep: expected a dotted path such as guests.0.perf.frequency (got 'machine..cpus')",
    );
    assert.equal(message('duration', 'soon'), "--sweep: duration: expected a number (got 'soon')");
    assert.match(message('duration', '[1'), /^--sweep: duration: expected a YAML value: /);
    assert.equal(
      message('machine.cpus.0', '1'),
      '--sweep: machine.cpus: expected a mapping or a list to set a field in (got 1)',
    );
  });
});

describe('JSON Schema', () => {
  const schema = scenarioJsonSchema() as {
    $schema: string;
    title: string;
    type: string;
    properties: Record<string, { description?: string }>;
    required: string[];
    additionalProperties: boolean;
  };

  test('draft 2020-12, the top-level properties, each described', () => {
    assert.equal(schema.$schema, 'https://json-schema.org/draft/2020-12/schema');
    assert.equal(schema.title, 'vpmu scenario');
    assert.equal(schema.type, 'object');
    assert.equal(schema.additionalProperties, false);
    assert.deepEqual(Object.keys(schema.properties), [
      'name',
      'description',
      'published',
      'machine',
      'costModel',
      'costs',
      'duration',
      'seed',
      'designs',
      'guests',
      'host',
    ]);
    assert.deepEqual(schema.required.sort(), ['description', 'guests', 'machine', 'name']);
    for (const [key, prop] of Object.entries(schema.properties)) assert.ok(prop.description, key);
  });

  test('every property at every depth has a description', () => {
    const missing: string[] = [];
    const walk = (node: unknown, path: string) => {
      if (!node || typeof node !== 'object') return;
      const n = node as Record<string, unknown>;
      for (const [k, v] of Object.entries(
        (n.properties ?? {}) as Record<string, Record<string, unknown>>,
      )) {
        if (!v.description) missing.push(`${path}.${k}`);
        walk(v, `${path}.${k}`);
      }
      for (const key of ['items', 'additionalProperties']) walk(n[key], `${path}.${key}`);
      for (const key of ['anyOf', 'oneOf'])
        for (const x of (n[key] as unknown[]) ?? []) walk(x, path);
    };
    walk(schema, '');
    assert.deepEqual(missing, []);
  });

  test('a built-in satisfies it structurally: required keys present, no unknown keys', () => {
    const check = (node: Record<string, unknown>, value: unknown, path: string) => {
      if (node.oneOf) {
        const kind = (value as { kind: string }).kind;
        const option = (node.oneOf as Record<string, unknown>[]).find(
          (o) => (o.properties as Record<string, { const?: string }>).kind?.const === kind,
        );
        assert.ok(option, `${path}: no option for kind ${kind}`);
        return check(option, value, path);
      }
      if (node.type === 'object' && node.properties) {
        const obj = value as Record<string, unknown>;
        for (const key of (node.required as string[]) ?? [])
          assert.ok(key in obj, `${path}.${key} required`);
        const props = node.properties as Record<string, Record<string, unknown>>;
        for (const [k, v] of Object.entries(obj)) {
          assert.ok(k in props, `${path}.${k} is not in the schema`);
          check(props[k]!, v, `${path}.${k}`);
        }
      } else if (node.type === 'array') {
        assert.ok(Array.isArray(value), path);
        for (const [i, v] of (value as unknown[]).entries())
          check(node.items as Record<string, unknown>, v, `${path}[${i}]`);
      }
    };
    for (const b of listBuiltinScenarios()) {
      const raw: unknown = parseYaml(readFileSync(b.file, 'utf8'));
      check(schema, raw, b.name);
      assert.ok(ScenarioSchema.safeParse(raw).success, b.name);
    }
  });
});
