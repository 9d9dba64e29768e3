import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../bin/vpmu.mjs', import.meta.url));
const vpmu = (...args: string[]) => {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
};

test('vpmu check on upstream: holds, exit 0', () => {
  const r = vpmu(
    'check',
    'accounting',
    '--variant',
    'upstream',
    '--vms',
    '2',
    '--events',
    '2',
    '--rounds',
    '2',
  );
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /verdict +holds: every property holds in every interleaving/);
  assert.match(r.stdout, /states\/s/);
  assert.equal(r.stderr, '');
});

test('vpmu check on a mutant: the shortest trace and a replay line, exit 1; --replay prints the same trace', () => {
  const r = vpmu('check', '--variant', 'no-mutex');
  assert.equal(r.code, 1);
  assert.match(r.stdout, /VIOLATED invariant/);
  assert.match(r.stdout, /a shortest one/);
  assert.match(r.stdout, /#1 +vm0 +perf_create_mediated_pmu/);
  const schedule = /--replay '([^']+)'/.exec(r.stdout)![1]!;
  assert.equal(schedule, 'accounting:no-mutex:vms=1,events=1,rounds=1:0.0.0.1.1.0.0.1');
  const again = vpmu('check', '--replay', schedule);
  assert.equal(again.code, 1);
  const trace = (out: string) => out.slice(out.indexOf('#1 '));
  assert.equal(trace(again.stdout), trace(r.stdout));
});

test('vpmu check --json: one object with the documented fields', () => {
  const holds = JSON.parse(vpmu('check', '--json').stdout) as Record<string, unknown>;
  for (const key of [
    'model',
    'variant',
    'strategy',
    'verdict',
    'states',
    'transitions',
    'seconds',
    'statesPerSecond',
    'threads',
  ]) {
    assert.ok(key in holds, key);
  }
  assert.equal(holds.verdict, 'holds');
  assert.equal(holds.schedule, undefined);
  const r = vpmu('check', 'vm-lifecycle', '--variant', 'precreate-outside-lock', '--json');
  assert.equal(r.code, 1);
  const violated = JSON.parse(r.stdout) as {
    verdict: string;
    schedule: string;
    trace: { thread: string; step: string }[];
  };
  assert.equal(violated.verdict, 'violated');
  assert.match(violated.schedule, /^vm-lifecycle:precreate-outside-lock:/);
  assert.ok(violated.trace.length > 0 && typeof violated.trace[0]!.step === 'string');
});

test('vpmu check --jobs 2 on a graph past 2^18 states: the threads, and the states and transitions of --jobs 1', () => {
  const params = ['--vms', '6', '--events', '6', '--rounds', '2', '--json'];
  const one = JSON.parse(vpmu('check', ...params, '--jobs', '1').stdout) as Record<string, unknown>;
  const two = JSON.parse(vpmu('check', ...params, '--jobs', '2').stdout) as Record<string, unknown>;
  assert.equal(one.threads, 1);
  assert.equal(two.threads, 2);
  assert.deepEqual(
    [two.verdict, two.states, two.transitions, two.complete],
    [one.verdict, one.states, one.transitions, one.complete],
  );
  const text = vpmu('check', '--vms', '6', '--events', '6', '--rounds', '2', '--jobs', '2');
  assert.match(text.stdout, /^explored .* states\/s, 2 threads\)$/m);
});

test('bad input: one line naming the flag, exit 2, no stack trace', () => {
  for (const args of [
    ['check', '--vms', 'three'],
    ['check', '--variant', 'nope'],
    ['check', '--strategy', 'bfs'],
    ['check', 'accounting', '--vcpus', '2'],
    ['check', '--stray-release', '--vms', '2'],
    ['check', '--properties', 'liveness'],
    ['check', '--jobs', '0'],
    ['check', '--jobs', 'two'],
    ['check', '--jobs', '65'],
    ['check', '--replay', 'accounting:upstream:vms=1:9'],
    ['stress', '--variant', 'nope'],
    ['stress', '--seconds', '0'],
  ]) {
    const r = vpmu(...args);
    assert.equal(r.code, 2, args.join(' '));
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, /^vpmu: --[a-z-]+: /);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  }
});

test('vpmu stress --json: upstream on 2 threads, no violation, exit 0', () => {
  const r = vpmu('stress', '--variant', 'upstream', '--threads', '2', '--seconds', '1', '--json');
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as {
    violations: Record<string, number>;
    opsPerSecond: { total: number };
  };
  assert.equal(out.violations.invariant, 0);
  assert.ok(out.opsPerSecond.total > 0);
});

// Positive control for real threads (see test/shm/stress.test.ts): a racy
// variant is reported, in JSON and as text, with exit 1.
test('vpmu stress on a racy variant: violations reported by workers and sampler, exit 1 (--json and text)', () => {
  // Under a loaded machine the sampler may need longer to catch an overlap:
  // --seconds bounds the run, the spawn's timeout is above it.
  const slow = (...a: string[]) => {
    const r = spawnSync(process.execPath, [BIN, ...a], { encoding: 'utf8', timeout: 200_000 });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  const args = [
    'stress',
    '--variant',
    'check-outside-mutex',
    '--seconds',
    '90',
    '--until-violation',
  ];
  const json = slow(...args, '--json');
  assert.equal(json.code, 1, json.stderr);
  const out = JSON.parse(json.stdout) as { violations: Record<string, number> };
  assert.ok(out.violations.invariant! > 0, json.stdout);
  assert.ok(out.violations.invariantSampled! > 0, json.stdout);
  const text = slow(...args);
  assert.equal(text.code, 1, text.stderr);
  assert.match(
    text.stdout,
    /violations +[\d,]+ acquisitions saw the other side held, [1-9][\d,]* samples saw both held/,
  );
});

test('vpmu stress --threads is capped at 16 (each worker is about 30 MB): one line, exit 2', () => {
  const r = vpmu('stress', '--threads', '17', '--seconds', '1');
  assert.equal(r.code, 2);
  assert.equal(r.stderr, "vpmu: --threads: expected a whole number from 1 to 16, got '17'\n");
});
