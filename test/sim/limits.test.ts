/**
 * Resource limits of a scenario (issue: reliability part 2, item 7), checked
 * before anything large is built: the file's size before it is read, the
 * number of host perf sessions and tasks, and the host perf events counting
 * on any one CPU (docs/scenarios.md, "Limits").
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import fc from '../common/fc.ts';
import {
  MAX_HOST_EVENTS_PER_CPU,
  MAX_HOST_PERF_SESSIONS,
  MAX_INPUT_FILE_BYTES,
} from '../../src/sim/run-limits.ts';
import { ScenarioError } from '../../src/sim/scenario-errors.ts';
import { loadScenario, parseScenario } from '../../src/sim/scenario.ts';

const dir = mkdtempSync(join(tmpdir(), 'vpmu-limits-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const EVENTS = Array.from({ length: 32 }, (_, i) => `r${(i + 1).toString(16).padStart(2, '0')}c4`);

/** A scenario on `cpus` CPUs with the given host sessions: [events, cpus or undefined for all]. */
function scenarioText(cpus: number, sessions: readonly [number, number[] | undefined][]): string {
  const lines = [
    'name: limits',
    'description: host perf sessions',
    `machine: { cpu: intel-sapphire-rapids, cpus: ${cpus} }`,
    'duration: 0.001',
    'guests: [{ name: vm0, hostCpu: 0, workload: { kind: specint } }]',
    'host:',
    '  perf:',
  ];
  sessions.forEach(([events, on], i) => {
    const where = on ? `, cpus: [${on.join(', ')}]` : '';
    lines.push(
      `    - { name: s${i}, mode: stat, events: [${EVENTS.slice(0, events).join(', ')}]${where} }`,
    );
  });
  if (sessions.length === 0) lines[lines.length - 1] = '  perf: []';
  return `${lines.join('\n')}\n`;
}

function problems(text: string): string[] {
  try {
    parseScenario(text, 'limits.yaml');
    return [];
  } catch (error) {
    if (!(error instanceof ScenarioError)) throw error;
    return error.problems.map((p) => `${p.path}: ${p.message}`);
  }
}

describe('scenario limits', () => {
  it('a file over 1 MiB is refused before it is read', () => {
    const file = join(dir, 'huge.yaml');
    writeFileSync(file, `# ${'x'.repeat(MAX_INPUT_FILE_BYTES)}\n${scenarioText(1, [])}`);
    assert.throws(
      () => loadScenario(file),
      (e: unknown) =>
        e instanceof ScenarioError &&
        /expected a scenario file of at most 1 MiB \(got \d+ bytes\)/.test(e.message),
    );
    // The same scenario without the padding is fine.
    writeFileSync(file, scenarioText(1, []));
    assert.equal(loadScenario(file).scenario.name, 'limits');
  });

  it(`at most ${MAX_HOST_PERF_SESSIONS} host perf sessions`, () => {
    const sessions = Array.from({ length: MAX_HOST_PERF_SESSIONS + 1 }, (): [number, undefined] => [
      1,
      undefined,
    ]);
    assert.deepEqual(problems(scenarioText(1, sessions.slice(1))), []);
    assert.deepEqual(problems(scenarioText(1, sessions)), [
      `host.perf: expected at most ${MAX_HOST_PERF_SESSIONS} items (got ${MAX_HOST_PERF_SESSIONS + 1})`,
    ]);
  });

  it(`property: refused exactly when some CPU has more than ${MAX_HOST_EVENTS_PER_CPU} host events, at the session that crosses it`, () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }).chain((cpus) =>
          fc.record({
            cpus: fc.constant(cpus),
            sessions: fc.array(
              fc.tuple(
                fc.integer({ min: 1, max: 32 }),
                fc.option(fc.uniqueArray(fc.integer({ min: 0, max: cpus - 1 }), { minLength: 1 }), {
                  nil: undefined,
                }),
              ),
              { maxLength: 40 },
            ),
          }),
        ),
        ({ cpus, sessions }) => {
          // The expected verdict, counted here from the sessions themselves.
          const perCpu = new Array<number>(cpus).fill(0);
          const expected: string[] = [];
          sessions.forEach(([events, on], i) => {
            for (const cpu of on ?? perCpu.keys()) {
              const before = perCpu[cpu]!;
              perCpu[cpu] = before + events;
              if (before <= MAX_HOST_EVENTS_PER_CPU && before + events > MAX_HOST_EVENTS_PER_CPU)
                expected.push(
                  `host.perf[${i}].events: expected at most ${MAX_HOST_EVENTS_PER_CPU} host perf events counting on CPU ${cpu} in all sessions (got ${before + events} with this one)`,
                );
            }
          });
          assert.deepEqual(problems(scenarioText(cpus, sessions)), expected);
        },
      ),
      { numRuns: 60 },
    );
  });
});
