/**
 * `vpmu run --sweep ... --shard i/n --json` and `vpmu merge`, end to end in
 * child processes: the shards merged (in any order, with more shards than
 * values too) print exactly what the single sweep prints, in JSON and in
 * text; shards that do not make one sweep are refused with one line, exit 2.
 * Runs simulate a few milliseconds, so the figures themselves mean nothing.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runVpmu, type CliRun as Run } from './cli-child.ts';

const SWEEP = [
  'run',
  'specint-sampling',
  '--sweep',
  'guests.0.perf.frequency=100,1000,4000',
  '--duration',
  '0.003',
  '--seed',
  '7',
  '--no-progress',
];

let dir = '';
const path = (name: string) => join(dir, name);
const vpmu = runVpmu;

/** Run a shard of the sweep (with another seed if given) and keep its JSON in a file. */
async function shard(spec: string, seed?: string): Promise<string> {
  const file = path(`shard-${spec.replace('/', 'of')}${seed !== undefined ? '-other' : ''}.json`);
  const args =
    seed !== undefined ? SWEEP.map((a, i) => (SWEEP[i - 1] === '--seed' ? seed : a)) : SWEEP;
  const r = await vpmu([...args, '--shard', spec, '--json']);
  assert.equal(r.code, 0, r.stderr);
  writeFileSync(file, r.stdout);
  return file;
}

/** One line on stderr, exit 2, matching `pattern`. */
function refused(r: Run, pattern: RegExp): void {
  assert.equal(r.code, 2, r.stderr);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, pattern);
}

describe('vpmu merge of sweep shards', () => {
  let singleJson: Promise<Run>;
  let singleText: Promise<Run>;
  let halves: Promise<[string, string]>;
  let quarters: Promise<string[]>;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'vpmu-sweep-merge-'));
    singleJson = vpmu([...SWEEP, '--json']);
    singleText = vpmu(SWEEP);
    halves = Promise.all([shard('1/2'), shard('2/2')]);
    // Four shards of three values: the fourth runs nothing.
    quarters = Promise.all(['1/4', '2/4', '3/4', '4/4'].map((s) => shard(s)));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('a shard holds every n-th value, starting at its own position', async () => {
    const [one, two] = await halves;
    const values = (file: string) =>
      (JSON.parse(readFileSync(file, 'utf8')) as { summary: { value: string }[] }).summary.map(
        (row) => row.value,
      );
    assert.deepEqual(values(one), ['100', '4000']);
    assert.deepEqual(values(two), ['1000']);
  });

  it('two shards, merged in either order: exactly the single sweep, in JSON and in text', async () => {
    const [one, two] = await halves;
    const json = await singleJson;
    assert.equal(json.code, 0, json.stderr);
    const merged = await vpmu(['merge', two, one, '--json']);
    assert.equal(merged.code, json.code, merged.stderr);
    assert.equal(merged.stdout, json.stdout);
    const text = await singleText;
    const mergedText = await vpmu(['merge', one, two]);
    assert.equal(mergedText.code, text.code, mergedText.stderr);
    assert.equal(mergedText.stdout, text.stdout);
  });

  it('more shards than values (one shard ran nothing): still exactly the single sweep', async () => {
    const files = await quarters;
    const merged = await vpmu(['merge', ...files.reverse(), '--json']);
    assert.equal(merged.code, 0, merged.stderr);
    assert.equal(merged.stdout, (await singleJson).stdout);
  });

  it('a missing shard, a shard twice, or a shard of another sweep: one line, exit 2', async () => {
    const [one, two] = await halves;
    refused(await vpmu(['merge', one]), /^vpmu: merge: missing shard 2\/2$/m);
    refused(await vpmu(['merge', one, two, one]), /shard 1\/2 again/);
    const otherSeed = await shard('2/2', '8');
    refused(await vpmu(['merge', one, otherSeed]), /a shard of another sweep/);
    const [quarter] = await quarters;
    refused(await vpmu(['merge', one, two, quarter!]), /shard 4\/4, but .* is of 2/);
  });

  it('a hand-edited shard: a value dropped, a bad field, or a samples shard mixed in', async () => {
    const [one, two] = await halves;
    const data = JSON.parse(readFileSync(one, 'utf8')) as {
      summary: unknown[];
      runs: unknown[];
      shard: string;
    };
    const second = JSON.parse(readFileSync(two, 'utf8')) as typeof data & { exactSummary: [] };
    writeFileSync(
      path('dropped.json'),
      JSON.stringify({ ...second, summary: [], runs: [], exactSummary: [] }),
    );
    refused(
      await vpmu(['merge', one, path('dropped.json')]),
      /dropped\.json: shard 2\/2 has 0 values, but shard 1\/2 has 2/,
    );
    writeFileSync(path('bad-shard.json'), JSON.stringify({ ...data, shard: 'first' }));
    refused(await vpmu(['merge', path('bad-shard.json'), two]), /bad-shard\.json: shard: /);
    writeFileSync(path('no-runs.json'), JSON.stringify({ ...data, runs: 'none' }));
    refused(await vpmu(['merge', path('no-runs.json'), two]), /no-runs\.json: runs: /);
    // A run cut to what the text table reads: the HTML page reads the rest
    // (its cost table), so the file is refused, not an internal error there.
    const runs = data.runs as Record<string, unknown>[];
    const cut = runs.map(({ costParameters: _, ...run }) => run);
    writeFileSync(path('cut-run.json'), JSON.stringify({ ...data, runs: cut }));
    refused(
      await vpmu(['merge', path('cut-run.json'), two, '--html', path('cut.html')]),
      /cut-run\.json: runs\.0\.costParameters: .*\(not a shard of vpmu run --sweep/,
    );
    writeFileSync(path('samples.json'), '{"format": "vpmu-samples-shard/1"}');
    refused(
      await vpmu(['merge', one, path('samples.json')]),
      /samples\.json: expected a shard of the same sweep/,
    );
  });

  it('--html over one of the shard files is refused before anything is read', async () => {
    const [one, two] = await halves;
    const before = readFileSync(one, 'utf8');
    refused(await vpmu(['merge', one, two, '--html', one]), /is one of the shard files/);
    assert.equal(readFileSync(one, 'utf8'), before);
  });
});
