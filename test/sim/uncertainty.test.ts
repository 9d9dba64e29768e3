/**
 * The uncertainty plan and report (src/sim/uncertainty.ts), the run pool
 * (src/sim/run-pool.ts) and shards (src/sim/uncertainty-shards.ts) through
 * the library API: draws stay in their ranges, A_B^i differs from A in one
 * parameter only, the report is a function of the seed, worker threads and
 * merged shards give the report one thread gives, and bad merges are refused.
 * Runs are a few simulated milliseconds each.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { merge } from '../../src/cli/merge.ts';
import { UsageError } from '../../src/cli/errors.ts';
import { before, describe, it } from 'node:test';
import { scenarioToInput } from '../../src/sim/from-scenario.ts';
import { executeRuns, runUncertaintyOnThreads, simulateAll } from '../../src/sim/run-pool.ts';
import { BadInput, variantNames } from '../../src/check/model-catalogue.ts';
import { loadScenario } from '../../src/sim/scenario.ts';
import { checkNominalReport } from '../../src/sim/report-schema.ts';
import type { SimulationInput } from '../../src/sim/simulator.ts';
import type { SimulationReport } from '../../src/sim/results.ts';
import {
  planUncertainty,
  runCosts,
  runNominal,
  runRole,
  runUncertainty,
  sampledParameters,
  shardRuns,
  uncertaintyReport,
  type UncertaintyOptions,
  type UncertaintyPlan,
} from '../../src/sim/uncertainty.ts';
import {
  mergeShards,
  SHARD_FORMAT,
  shardFromText,
  shardToText,
  type ShardFile,
} from '../../src/sim/uncertainty-shards.ts';

const OPTIONS: UncertaintyOptions = { samples: 3, duration: 0.003, seed: 4 };
let input: SimulationInput;
let nominal: SimulationReport;
let plan: UncertaintyPlan;

before(() => {
  input = scenarioToInput(loadScenario('specint-sampling').scenario);
  nominal = runNominal(input, OPTIONS);
  plan = planUncertainty(input, OPTIONS, nominal);
});

describe('the plan', () => {
  it('samples every parameter whose range is not a point; an override pins one', () => {
    assert.equal(plan.parameters.length, sampledParameters(input).length);
    const pinned = sampledParameters({ ...input, costs: { 'perf.period': 5000 } });
    assert.ok(!pinned.some((p) => p.name === 'perf.period'));
    assert.equal(pinned.length, plan.parameters.length - 1);
  });

  it('N (k + 2) + 1 runs: the nominal run, A, B, and A_B^i for each charged parameter', () => {
    const n = OPTIONS.samples;
    const charged = new Set(
      nominal.results.flatMap((r) => r.costBreakdown.map((c) => c.parameter)),
    );
    assert.deepEqual(
      plan.analysed.map((i) => plan.parameters[i]!.name).sort(),
      plan.parameters
        .map((p) => p.name)
        .filter((name) => charged.has(name))
        .sort(),
    );
    assert.equal(plan.runs, 1 + n * (plan.analysed.length + 2));
    assert.deepEqual(runRole(plan, 0), { kind: 'nominal' });
    assert.deepEqual(runRole(plan, 1), { kind: 'A', row: 0 });
    assert.deepEqual(runRole(plan, 1 + n), { kind: 'B', row: 0 });
    assert.deepEqual(runRole(plan, 1 + 2 * n + n + 1), {
      kind: 'AB',
      parameter: plan.analysed[1],
      row: 1,
    });
    assert.throws(() => runRole(plan, plan.runs), RangeError);
  });

  it('every drawn cost lies in its range; A_B^i is A with parameter i from B, nothing else', () => {
    const n = OPTIONS.samples;
    for (let run = 1; run < plan.runs; run++) {
      const costs = runCosts(plan, run);
      for (const p of plan.parameters) {
        const v = costs[p.name] as number;
        assert.ok(v >= p.low * (1 - 1e-12) && v <= p.high * (1 + 1e-12), `${p.name} ${v}`);
      }
    }
    const i = plan.analysed[0]!;
    const name = plan.parameters[i]!.name;
    for (let row = 0; row < n; row++) {
      const a = runCosts(plan, 1 + row);
      const b = runCosts(plan, 1 + n + row);
      const ab = runCosts(plan, 1 + 2 * n + row);
      for (const p of plan.parameters)
        assert.equal(ab[p.name], p.name === name ? b[p.name] : a[p.name], p.name);
    }
  });

  it('refuses fewer than 2 samples', () => {
    assert.throws(() => planUncertainty(input, { samples: 1 }, nominal), /samples: expected/);
  });
});

describe('the report', () => {
  let outcomes: Awaited<ReturnType<typeof executeRuns>>;
  before(async () => {
    const runs = shardRuns(plan).slice(1);
    outcomes = await executeRuns(plan, runs, { jobs: 1 });
  });

  it('intervals are ordered, one per design and guest event; sensitivity ranked by total per design', () => {
    const u = uncertaintyReport(plan, nominal, outcomes);
    assert.deepEqual(
      u.designs.map((d) => d.design),
      nominal.results.map((r) => r.design),
    );
    for (const d of u.designs) {
      const { p05, p50, p95 } = d.overheadInterval;
      assert.ok(p05 <= p50 && p50 <= p95, d.design);
      // A design without a published figure (7.0's, beside the RFC's) has no verdict.
      if (d.published === undefined) assert.equal(d.publishedInInterval, undefined);
      else assert.equal(d.publishedInInterval, p05 <= d.published && d.published <= p95);
      for (const e of d.guestEvents) assert.ok(e.errorInterval.p05 <= e.errorInterval.p95);
      const totals = u.sensitivity.filter((s) => s.design === d.design).map((s) => s.total);
      assert.equal(totals.length, plan.analysed.length);
      assert.deepEqual(
        totals,
        [...totals].sort((x, y) => y - x),
      );
    }
    assert.ok(u.orderingHolds! >= 0 && u.orderingHolds! <= 1);
  });

  it('is the same from worker threads (--jobs 2), in whatever order they finish', async () => {
    const runs = shardRuns(plan).slice(1);
    const threaded = await executeRuns(plan, runs, { jobs: 2 });
    assert.deepEqual(threaded, outcomes);
  });

  it('is a function of the seed: the same seed again is identical, another seed differs', () => {
    const small: UncertaintyOptions = { samples: 2, duration: 0.002, seed: 9, sensitivity: false };
    const one = runUncertainty(input, small);
    const two = runUncertainty(input, small);
    assert.deepEqual(one, two);
    const other = runUncertainty(input, { ...small, seed: 10 });
    assert.notDeepEqual(
      one.designs.map((d) => d.overheadInterval),
      other.designs.map((d) => d.overheadInterval),
    );
    assert.equal(one.runs, 3, 'without sensitivity: the nominal run and N');
    assert.deepEqual(one.sensitivity, []);
  });

  it('through the public API: runUncertaintyOnThreads (2 workers) gives what runUncertainty gives', async () => {
    const api = await import('../../src/index.ts');
    const small: UncertaintyOptions = { samples: 2, duration: 0.002, seed: 3 };
    const threaded = await api.runUncertaintyOnThreads(input, { ...small, jobs: 2 });
    assert.deepEqual(threaded, api.runUncertainty(input, small));
  });

  it('rejects a missing or duplicated outcome', () => {
    assert.throws(() => uncertaintyReport(plan, nominal, outcomes.slice(1)), /missing/);
    assert.throws(
      () => uncertaintyReport(plan, nominal, [...outcomes, outcomes[0]!]),
      /given twice/,
    );
  });

  it('shards (any count, any order, through their text form) merge into the same report', () => {
    const single = uncertaintyReport(plan, nominal, outcomes);
    const byRun = new Map(outcomes.map((o) => [o.run, o]));
    for (const count of [1, 2, 5]) {
      const files: ShardFile[] = Array.from({ length: count }, (_, k) => ({
        format: SHARD_FORMAT,
        shard: { index: k + 1, count },
        input,
        options: { ...OPTIONS, sensitivity: true },
        ...(k === 0 ? { nominal } : {}),
        outcomes: shardRuns(plan, { index: k + 1, count })
          .filter((run) => run !== 0)
          .map((run) => byRun.get(run)!),
      }));
      const texts = files.map(shardToText).reverse();
      assert.deepEqual(mergeShards(texts.map(shardFromText)), single, `${count} shards`);
    }
  });

  it('refuses a shard file whose outcomes or nominal report are not what a run writes', async () => {
    const byRun = new Map(outcomes.map((o) => [o.run, o]));
    const text = (edit: (file: Record<string, unknown>) => void) => {
      const file = JSON.parse(
        shardToText({
          format: SHARD_FORMAT,
          shard: { index: 1, count: 1 },
          input,
          options: { ...OPTIONS, sensitivity: true },
          nominal,
          outcomes: shardRuns(plan)
            .filter((run) => run !== 0)
            .map((run) => byRun.get(run)!),
        }),
      ) as Record<string, unknown>;
      edit(file);
      return JSON.stringify(file);
    };
    const merged = (t: string) => mergeShards([shardFromText(t)], ['s.json']);
    const first = (f: Record<string, unknown>) => (f.outcomes as Record<string, unknown>[])[0]!;
    const designs = nominal.results.length;
    const refused: [(f: Record<string, unknown>) => void, RegExp][] = [
      [(f) => ((f.outcomes as unknown[])[0] = null), /^Error: s\.json: outcome: expected \{ run, /],
      [(f) => (first(f).run = '1'), /s\.json: outcome of run '1': expected .* a whole run number/],
      [
        (f) => (first(f).overheadPercent = [1]),
        new RegExp(`s\\.json: outcome of run 1: overheadPercent: expected ${designs} numbers`),
      ],
      [
        (f) => ((first(f).overheadPercent as unknown[])[0] = null),
        /s\.json: outcome of run 1: overheadPercent: expected/,
      ],
      [
        (f) => delete first(f).eventErrors,
        /outcome of run 1: eventErrors: expected .* \(got nothing\)/,
      ],
      [
        (f) => ((first(f).eventErrors as unknown[][])[0] = []),
        /outcome of run 1: eventErrors: expected per design a list of numbers/,
      ],
      [
        (f) => (first(f).orderingHolds = 'yes'),
        /orderingHolds: expected true, false or null \(got 'yes'\)/,
      ],
      [
        (f) => (f.input = { ...input, guests: [] }),
        /^Error: s\.json: input\.guests: expected a non-empty list/,
      ],
      [
        (f) => (f.options = { ...OPTIONS, samples: 10_000_000 }),
        /^Error: s\.json: options\.samples: expected a whole number from 2 to 100000, got 10000000/,
      ],
    ];
    for (const [edit, message] of refused) assert.throws(() => merged(text(edit)), message);
    // The nominal report is refused as the file is read.
    const report = (edit: (r: Record<string, unknown>) => void) => {
      const r = structuredClone(nominal) as unknown as Record<string, unknown>;
      edit(r);
      return r;
    };
    const design = (r: Record<string, unknown>) => (r.results as Record<string, unknown>[])[0]!;
    const nominalRefused: [unknown, RegExp][] = [
      [5, /^Error: nominal: Invalid input: expected object/],
      [{}, /^Error: nominal\.scenario: /],
      [report((r) => (r.results = [])), /^Error: nominal\.results: Too small/],
      [report((r) => delete r.costParameters), /^Error: nominal\.costParameters: /],
      [report((r) => delete design(r).timeline), /^Error: nominal\.results\.0\.timeline: /],
      [
        report((r) => ((design(r).guestEvents as unknown[])[0] = { guest: 'g' })),
        /^Error: nominal\.results\.0\.guestEvents\.0\.event: /,
      ],
      [
        report((r) => ((design(r).guestEvents as Record<string, unknown>[])[0]!.filtered = 'yes')),
        /^Error: nominal\.results\.0\.guestEvents\.0\.filtered: /,
      ],
    ];
    // The library (shardFromText) checks what the merge reads, with one
    // message; `vpmu merge`, which renders the report whole, checks all of it
    // (checkNominalReport), naming the field. The library loads no zod.
    for (const [bad, message] of nominalRefused)
      assert.throws(() => checkNominalReport(bad), message);
    for (const bad of [5, {}, report((r) => (r.results = [])), nominalRefused[5]![0]])
      assert.throws(
        () => shardFromText(text((f) => (f.nominal = bad))),
        /^Error: nominal: expected the nominal run's report/,
      );
    assert.doesNotThrow(() => checkNominalReport(nominal));
    // vpmu merge runs the whole check, naming the file (exit 2 on the command line).
    const dir = mkdtempSync(join(tmpdir(), 'vpmu-nominal-'));
    try {
      const file = join(dir, 'cut.json');
      writeFileSync(
        file,
        text((f) => delete (f.nominal as Record<string, unknown>).costParameters),
      );
      await assert.rejects(
        merge([file], {}, () => {}),
        (e: unknown) =>
          e instanceof UsageError && e.message.startsWith(`${file}: nominal.costParameters: `),
      );
    } finally {
      rmSync(dir, { recursive: true });
    }
    // The file unedited merges.
    assert.equal(merged(text(() => {})).samples, OPTIONS.samples);
  });

  it('refuses shards of different runs, a shard twice, a missing one', () => {
    const file = (index: number, count: number, seed = 4): ShardFile => ({
      format: SHARD_FORMAT,
      shard: { index, count },
      input,
      options: { ...OPTIONS, seed, sensitivity: true },
      ...(index === 1 ? { nominal } : {}),
      outcomes: [],
    });
    assert.throws(
      () => mergeShards([file(1, 2), file(2, 2, 5)], ['a', 'b']),
      /^Error: b: a shard of another run/,
    );
    assert.throws(
      () => mergeShards([file(1, 2), file(1, 2)], ['a', 'b']),
      /b: shard 1\/2 again \(also a\)/,
    );
    assert.throws(() => mergeShards([file(1, 3), file(3, 3)]), /missing shard 2\/3/);
    assert.throws(() => shardFromText('{"format":"other"}'), /expected a shard file/);
    // A truncated file says what it should have been, not only JSON.parse's complaint.
    assert.throws(
      () => shardFromText('{"format":"vpmu-samp'),
      /^Error: expected a shard file of vpmu run .*\(got text that is not JSON: /,
    );
    // From JavaScript: not a list, or objects that were not read with shardFromText.
    assert.throws(
      () => mergeShards(null as unknown as ShardFile[]),
      /^Error: expected a list of shard files \(got null\)/,
    );
    assert.throws(
      () => mergeShards([{}] as unknown as ShardFile[], ['a.json']),
      /^Error: a\.json: expected a shard read with shardFromText/,
    );
    assert.throws(() => shardFromText(5 as unknown as string), /as text \(got number\)/);
    assert.throws(
      () => runUncertainty(input, undefined as unknown as UncertaintyOptions),
      /^TypeError: runUncertainty: expected options such as \{ samples: 32 \}, got nothing/,
    );
  });

  it('a misspelt or missing option of the thread pool is refused before any run', async () => {
    const never = {} as SimulationInput;
    await assert.rejects(
      runUncertaintyOnThreads(never, { samples: 8, jobz: 2 } as never),
      /^TypeError: runUncertaintyOnThreads: unknown option 'jobz', did you mean 'jobs'\?/,
    );
    await assert.rejects(
      runUncertaintyOnThreads(never, { samples: 8 } as never),
      /^RangeError: runUncertaintyOnThreads: jobs: expected a whole number of threads from 1 to 64, got nothing/,
    );
    await assert.rejects(
      runUncertaintyOnThreads(never, { samples: 1, jobs: 2 }),
      /^RangeError: runUncertainty: samples: expected a whole number from 2 to 100000, got 1/,
    );
    // A thousand workers would need some 20 GB: the bound is MAX_JOBS, 64, as on the CLI.
    await assert.rejects(
      simulateAll([], { jobs: 65 }),
      /^RangeError: simulateAll: jobs: expected a whole number of threads from 1 to 64, got 65/,
    );
    await assert.rejects(
      simulateAll(undefined as never, { jobs: 1 }),
      /^TypeError: simulateAll: expected a list/,
    );
    await assert.rejects(
      simulateAll([5] as never, { jobs: 1 }),
      /simulateAll: inputs\[0\]: expected \{ input, options \}, got 5/,
    );
    await assert.rejects(
      simulateAll([], undefined as never),
      /simulateAll: expected options such as \{ jobs: 2 \}, got nothing/,
    );
    await assert.rejects(
      simulateAll([], { jobs: 1, progress: 'yes' } as never),
      /simulateAll: progress: expected a function, got 'yes'/,
    );
    assert.throws(
      () => runUncertainty(never, { samples: 8, jobs: 2 } as never),
      /^TypeError: runUncertainty: unknown option 'jobs'.*\(threads: runUncertaintyOnThreads\)/,
    );
    assert.throws(
      () => variantNames('acounting' as never),
      (e: unknown) => e instanceof BadInput,
    );
    assert.deepEqual(await simulateAll([], { jobs: 1 }), []);
  });

  it('every option is checked before the first run', () => {
    // An input simulate would refuse: the option's error comes first, so no run was made.
    const never = {} as SimulationInput;
    const refused: [UncertaintyOptions, RegExp][] = [
      [
        { samples: 1 },
        /^RangeError: runUncertainty: samples: expected a whole number from 2 to 100000, got 1/,
      ],
      [{ samples: 2.5 }, /samples: expected a whole number/],
      // The plan draws every sample's point before a run: 10^7 held it for minutes.
      [{ samples: 100_001 }, /samples: expected a whole number from 2 to 100000, got 100001/],
      [{} as UncertaintyOptions, /samples: expected a whole number from 2 to 100000, got nothing/],
      [{ samples: 8, seed: 1.5 }, /^RangeError: runUncertainty: seed: expected a whole number/],
      [{ samples: 8, duration: 0 }, /duration: expected simulated seconds above 0, got 0/],
      [{ samples: 8, duration: NaN }, /duration: expected simulated seconds above 0, got NaN/],
      [
        { samples: 8, sensitivity: 'no' as unknown as boolean },
        /^TypeError: runUncertainty: sensitivity: expected true or false, got 'no'/,
      ],
    ];
    for (const [options, message] of refused) {
      assert.throws(() => runUncertainty(never, options), message);
      assert.throws(() => runNominal(never, options), message);
    }
  });
});
