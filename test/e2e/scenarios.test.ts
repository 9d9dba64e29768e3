import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { BUILTIN_SCENARIOS } from '../common/builtin-scenarios.ts';

const BIN = fileURLToPath(new URL('../../bin/vpmu.mjs', import.meta.url));
const vpmu = (...args: string[]) => {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
};
const BUILTINS = BUILTIN_SCENARIOS;

test('vpmu scenarios: one line per built-in, name then description, exit 0', () => {
  const r = vpmu('scenarios');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  const lines = r.stdout.trimEnd().split('\n');
  assert.deepEqual(
    lines.map((l) => l.split(/\s+/)[0]),
    BUILTINS,
  );
  assert.match(lines[5]!, /^specint-sampling +A guest profiles .*33\.62 %/);
});

test('vpmu scenarios --json: name, description and an existing file each', () => {
  const r = vpmu('scenarios', '--json');
  assert.equal(r.code, 0, r.stderr);
  const list = JSON.parse(r.stdout) as { name: string; description: string; file: string }[];
  assert.deepEqual(
    list.map((s) => s.name),
    BUILTINS,
  );
  for (const s of list) {
    assert.deepEqual(Object.keys(s), ['name', 'description', 'file']);
    assert.ok(s.file.endsWith(`${s.name}.yaml`));
  }
});

test('vpmu scenarios <files>: validates; a bad file is one line per problem, exit 2', () => {
  const ok = vpmu('scenarios', 'specint-multiplex');
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /specint-multiplex\.yaml: ok \(specint-multiplex\)/);

  const dir = mkdtempSync(join(tmpdir(), 'vpmu-e2e-'));
  try {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(
      bad,
      'name: bad\ndescription: d\nmachine: { cpu: intel-icelake }\nguests:\n  - name: vm0\n    workload: { kind: spec }\n',
    );
    const r = vpmu('scenarios', bad);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
    assert.equal(
      r.stderr,
      `${bad}:6:23: guests[0].workload.kind: expected one of specint, fio, idle; did you mean 'specint'? (got 'spec')\n`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const unknown = vpmu('scenarios', 'specint');
  assert.equal(unknown.code, 2);
  assert.match(
    unknown.stderr,
    /^specint: expected a scenario file or a built-in scenario: event-filter, fio-exits, /,
  );
  assert.doesNotMatch(unknown.stderr, /at |internal error/);
});

test('vpmu schema: JSON Schema 2020-12 of the scenario format, exit 0', () => {
  const r = vpmu('schema');
  assert.equal(r.code, 0, r.stderr);
  const schema = JSON.parse(r.stdout) as {
    $schema: string;
    properties: Record<string, unknown>;
    required: string[];
  };
  assert.equal(schema.$schema, 'https://json-schema.org/draft/2020-12/schema');
  for (const key of ['name', 'machine', 'guests', 'designs', 'host'])
    assert.ok(key in schema.properties, key);
  assert.ok(schema.required.includes('guests'));
  assert.ok(r.stdout.startsWith('{\n  "$schema"'), 'two-space indent');
});

test('bad arguments: one usage line, exit 2', () => {
  const r = vpmu('scenarios', '--bogus');
  assert.equal(r.code, 2);
  assert.match(r.stderr, /unknown option '--bogus'/);
  const s = vpmu('schema', 'extra');
  assert.equal(s.code, 2);
});

test("vpmu scenarios on files that are not YAML: each one's first 20 problems, then how many more", () => {
  const dir = mkdtempSync(join(tmpdir(), 'vpmu-not-yaml-'));
  try {
    // 30 lines that each fail to parse as YAML, then a file with one problem.
    const prose = join(dir, 'notes.md');
    writeFileSync(prose, Array.from({ length: 30 }, (_, i) => `- a: b: ${i}`).join('\n'));
    const empty = join(dir, 'empty.yaml');
    writeFileSync(empty, '');
    const r = vpmu('scenarios', prose, empty);
    assert.equal(r.code, 2, r.stderr);
    const lines = r.stderr.trimEnd().split('\n');
    assert.equal(lines.length, 22, r.stderr);
    for (const line of lines.slice(0, 20)) assert.ok(line.startsWith(`${prose}:`), line);
    assert.equal(lines[20], `${prose}: ... and 10 more problems (30 in all)`);
    assert.match(lines[21]!, /^.*empty\.yaml:1:1: \(top level\): expected a mapping/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
