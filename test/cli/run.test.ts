/**
 * `vpmu run`'s argument parsers (src/cli/run.ts): --sweep path=v1,v2,...,
 * --shard i/n, and which sweep values a shard runs. Bad input is a
 * UsageError naming the flag (exit 2 through runCommand).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from '../common/fc.ts';
import { UsageError } from '../../src/cli/errors.ts';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DEFAULT_SCENARIO,
  parseShard,
  parseSweep,
  parseTraceWindow,
  run,
  shardValues,
} from '../../src/cli/run.ts';

const usage = (flag: string, pattern?: RegExp) => (e: unknown) =>
  e instanceof UsageError &&
  e.message.startsWith(`${flag}: `) &&
  (!pattern || pattern.test(e.message));

describe('parseSweep', () => {
  it('path=v1,v2,...: the values in order, trimmed', () => {
    assert.deepEqual(parseSweep('guests.0.perf.frequency=100,1000,4000'), {
      path: 'guests.0.perf.frequency',
      values: ['100', '1000', '4000'],
    });
    assert.deepEqual(parseSweep(' duration = 0.1 , 0.2 '), {
      path: 'duration',
      values: ['0.1', '0.2'],
    });
  });

  it('one value is a sweep of one; empty items are dropped', () => {
    assert.deepEqual(parseSweep('seed=3'), { path: 'seed', values: ['3'] });
    assert.deepEqual(parseSweep('seed=1,,2,'), { path: 'seed', values: ['1', '2'] });
  });

  it('only the first = splits: values may contain one', () => {
    assert.deepEqual(parseSweep('costs.perf.period=a=b'), {
      path: 'costs.perf.period',
      values: ['a=b'],
    });
  });

  it('values are kept as text, repeats included (the scenario reads them as YAML)', () => {
    assert.deepEqual(parseSweep('designs=[emulated],[mediated]').values, [
      '[emulated]',
      '[mediated]',
    ]);
    assert.deepEqual(parseSweep('seed=1,1').values, ['1', '1']);
  });

  it('no path, no =, or no value: UsageError naming --sweep', () => {
    assert.throws(() => parseSweep('nonsense'), usage('--sweep', /expected path=value1,value2/));
    assert.throws(() => parseSweep('=1,2'), usage('--sweep', /got '=1,2'/));
    assert.throws(() => parseSweep(''), usage('--sweep'));
    assert.throws(() => parseSweep('seed='), usage('--sweep', /no values after 'seed='/));
    assert.throws(() => parseSweep('seed= , ,'), usage('--sweep', /no values/));
  });
});

describe('parseShard', () => {
  it('i/n, 1-based', () => {
    assert.deepEqual(parseShard('1/1'), { index: 1, count: 1 });
    assert.deepEqual(parseShard('2/8'), { index: 2, count: 8 });
    assert.deepEqual(parseShard(' 8/8 '), { index: 8, count: 8 });
    assert.deepEqual(parseShard('01/02'), { index: 1, count: 2 });
  });

  it('anything else: UsageError naming --shard', () => {
    for (const bad of ['3/2', '0/2', '1/0', '0/0', '5/99999999999999999999']) {
      assert.throws(() => parseShard(bad), usage('--shard', /i must be from 1 to n/), bad);
    }
    for (const bad of ['', '1', '1/', '/2', '1/2/3', '-1/2', '1.5/2', 'a/b', '1 / 2', '1/2x']) {
      assert.throws(() => parseShard(bad), usage('--shard', /expected i\/n/), bad);
    }
  });
});

describe('shardValues', () => {
  it('no shard: every value, as a copy', () => {
    const values = ['a', 'b'];
    const all = shardValues(values, null);
    assert.deepEqual(all, values);
    assert.notEqual(all, values);
  });

  it('round-robin: shard i of n takes values i-1, i-1+n, ...', () => {
    const values = ['a', 'b', 'c', 'd', 'e'];
    assert.deepEqual(shardValues(values, { index: 1, count: 2 }), ['a', 'c', 'e']);
    assert.deepEqual(shardValues(values, { index: 2, count: 2 }), ['b', 'd']);
    assert.deepEqual(shardValues(values, { index: 3, count: 3 }), ['c']);
    assert.deepEqual(shardValues(values, { index: 1, count: 1 }), values);
  });

  it('more shards than values: the extra shards are empty', () => {
    assert.deepEqual(shardValues(['a', 'b'], { index: 2, count: 4 }), ['b']);
    assert.deepEqual(shardValues(['a', 'b'], { index: 4, count: 4 }), []);
    assert.deepEqual(shardValues([], { index: 1, count: 3 }), []);
  });

  it('the shards of a sweep partition it: every value in exactly one shard, order kept', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer(), { maxLength: 30 }),
        fc.integer({ min: 1, max: 12 }),
        (values, count) => {
          const shards = Array.from({ length: count }, (_, i) =>
            shardValues(values, { index: i + 1, count }),
          );
          // Interleaving the shards back in round-robin order gives the sweep again.
          const merged: number[] = [];
          for (let k = 0; k < values.length; k++)
            merged.push(shards[k % count]![Math.floor(k / count)]!);
          assert.deepEqual(merged, values);
          assert.equal(
            shards.reduce((s, x) => s + x.length, 0),
            values.length,
          );
          // As even as can be.
          const sizes = shards.map((x) => x.length);
          assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('defaults', () => {
  it('run with no scenario runs specint-sampling', () => {
    assert.equal(DEFAULT_SCENARIO, 'specint-sampling');
  });
});

describe('--trace', () => {
  it('--trace-window START:END in simulated seconds; either side may be left out', () => {
    assert.deepEqual(parseTraceWindow('0.1:0.25'), { start: 0.1, end: 0.25 });
    assert.deepEqual(parseTraceWindow(':0.5'), { start: 0, end: 0.5 });
    assert.deepEqual(parseTraceWindow('0.5:'), { start: 0.5, end: Infinity });
    assert.deepEqual(parseTraceWindow(' 1 : 2 '), { start: 1, end: 2 });
  });

  it('a window that is empty, reversed, negative or not numbers: UsageError naming --trace-window', () => {
    for (const bad of ['0.2:0.1', '1:1', '-1:2', 'a:b', '0.1', '0.1:0.2:0.3', '1e999:']) {
      assert.throws(() => parseTraceWindow(bad), usage('--trace-window', /START:END/), bad);
    }
  });

  it('bad combinations and a missing directory are refused before anything runs', async () => {
    const write = () => assert.fail('nothing is printed');
    await assert.rejects(
      run('specint-sampling', { trace: '/nonexistent-dir/t.json' }, write),
      usage('--trace', /directory '\/nonexistent-dir' does not exist/),
    );
    await assert.rejects(
      run('specint-sampling', { trace: 't.json', sweep: 'seed=1,2' }, write),
      usage('--trace', /not a --sweep/),
    );
    await assert.rejects(
      run('specint-sampling', { traceWindow: '0:1' }, write),
      (e: unknown) => e instanceof UsageError && /go with --trace/.test(e.message),
    );
    await assert.rejects(
      run('specint-sampling', { trace: 't.json', traceMaxEvents: '0' }, write),
      usage('--trace-max-events'),
    );
    // A window past the end of the run would keep no event: the scenario's
    // duration (1 s for specint-sampling), or the --duration given.
    await assert.rejects(
      run('specint-sampling', { trace: 't.json', traceWindow: '1:2' }, write),
      usage('--trace-window', /a START below the run's 1 simulated seconds, got '1:2'/),
    );
    await assert.rejects(
      run('specint-sampling', { trace: 't.json', traceWindow: '0.5:', duration: '0.01' }, write),
      usage('--trace-window', /a START below the run's 0.01 simulated seconds/),
    );
  });

  it('writes the trace file beside the report', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vpmu-trace-'));
    try {
      const file = join(dir, 'run.json');
      let out = '';
      const code = await run(
        'specint-sampling',
        { trace: file, duration: '0.01', json: true, traceMaxEvents: '300', progress: false },
        (t) => (out += t),
      );
      assert.equal(code, 0);
      const report = JSON.parse(out) as { results: { design: string }[] };
      const trace = JSON.parse(readFileSync(file, 'utf8')) as {
        traceEvents: { ph: string; pid: number }[];
        otherData: { designs: { design: string; events: number }[] };
      };
      assert.deepEqual(
        trace.otherData.designs.map((d) => d.design),
        report.results.map((r) => r.design),
      );
      for (const d of trace.otherData.designs) assert.equal(d.events, 300);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('flags of the samples or a sweep, on one run', () => {
  it('--no-sensitivity without --samples, --jobs without --samples or --sweep: refused, not ignored', async () => {
    const write = () => assert.fail('nothing is printed');
    await assert.rejects(
      run(undefined, { sensitivity: false, duration: '0.01' }, write),
      usage('--no-sensitivity', /only with --samples/),
    );
    await assert.rejects(
      run(undefined, { jobs: '2', duration: '0.01' }, write),
      usage('--jobs', /only with --samples or --sweep/),
    );
  });

  it('--jobs above 64 is refused: each worker costs some 20 MB, and past the cores they take turns', async () => {
    const write = () => assert.fail('nothing is printed');
    await assert.rejects(
      run(undefined, { jobs: '65', samples: '2', duration: '0.01' }, write),
      usage('--jobs', /64/),
    );
  });
});

describe('a sweep of a field that names the run', () => {
  it('--seed with --sweep seed=..., --duration with --sweep duration=...: refused, not ignored', async () => {
    await assert.rejects(
      run(undefined, { sweep: 'seed=1,2', seed: '5' }, () => {}),
      usage('--seed', /the sweep sets the seed/),
    );
    await assert.rejects(
      run(undefined, { sweep: 'duration=0.01,0.02', duration: '0.005' }, () => {}),
      usage('--duration', /the sweep sets the duration/),
    );
  });

  it('the shards of --sweep seed=... or duration=... merge into the single sweep', async () => {
    // Each shard's runs carry the swept seed or duration: that is the
    // sweep, not a shard of another one.
    const { merge } = await import('../../src/cli/merge.ts');
    const dir = mkdtempSync(join(tmpdir(), 'vpmu-sweep-field-'));
    try {
      for (const sweep of ['seed=1,2', 'duration=0.002,0.003']) {
        const json = async (shard?: string) => {
          let out = '';
          await run(
            undefined,
            {
              sweep,
              json: true,
              ...(sweep.startsWith('seed') ? { duration: '0.002' } : {}),
              ...(shard ? { shard } : {}),
            },
            (t) => (out += t),
          );
          return out;
        };
        const files = ['1/2', '2/2'].map((s) => join(dir, `${s.replace('/', 'of')}.json`));
        writeFileSync(files[0]!, await json('1/2'));
        writeFileSync(files[1]!, await json('2/2'));
        let merged = '';
        assert.equal(await merge(files, { json: true }, (t) => (merged += t)), 0, sweep);
        assert.equal(merged, await json(), sweep);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
