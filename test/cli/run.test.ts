/**
 * `vpmu run`'s argument parsers (src/cli/run.ts): --sweep path=v1,v2,...,
 * --shard i/n, and which sweep values a shard runs. Bad input is a
 * UsageError naming the flag (exit 2 through runCommand).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { UsageError } from '../../src/cli/errors.ts';
import { DEFAULT_SCENARIO, parseShard, parseSweep, shardValues } from '../../src/cli/run.ts';

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
    for (const bad of ['3/2', '0/2', '1/0', '0/0']) {
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
      { seed: 2, numRuns: 200 },
    );
  });
});

describe('defaults', () => {
  it('run with no scenario runs specint-sampling', () => {
    assert.equal(DEFAULT_SCENARIO, 'specint-sampling');
  });
});
