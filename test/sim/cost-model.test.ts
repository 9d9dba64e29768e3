/**
 * The cost model (src/sim/cost-model.ts): every default parameter is priced,
 * sourced and honestly flagged; overrides apply and say so; bad names and
 * values are refused with the field named; docs/cost-model.md is the table
 * the code has (scripts/cost-model-doc.ts regenerates it byte for byte).
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import fc from '../common/fc.ts';
import { COST_MODELS, CostModel } from '../../src/sim/cost-model.ts';

const DEFAULTS = COST_MODELS.default!;
const NAMES = DEFAULTS.map((p) => p.name);
const root = (path: string) => new URL(`../../${path}`, import.meta.url);

describe('the default cost model', () => {
  it('exists, and is the model a CostModel gets without a name', () => {
    assert.ok(DEFAULTS.length > 0);
    const model = new CostModel();
    assert.equal(model.name, 'default');
    assert.deepEqual(model.parameters, DEFAULTS);
  });

  it('every parameter: a unique dotted name, cycles a finite number >= 0, a description, a source', () => {
    assert.equal(new Set(NAMES).size, NAMES.length, 'parameter names are unique');
    for (const p of DEFAULTS) {
      assert.match(p.name, /^[a-z0-9-]+\.[a-z0-9-]+$/, p.name);
      assert.ok(Number.isFinite(p.cycles) && p.cycles >= 0, `${p.name}: cycles ${p.cycles}`);
      assert.ok(p.description.trim().length > 10, `${p.name}: description`);
      assert.ok(p.source.trim().length > 0, `${p.name}: source`);
      assert.ok(Object.isFrozen(p), `${p.name} is frozen`);
    }
  });

  it("the assumption flag is consistent: 'assumed' in the source exactly when flagged", () => {
    for (const p of DEFAULTS) {
      assert.equal(/\bassumed\b/i.test(p.source), p.assumption, `${p.name}: ${p.source}`);
    }
    // Measured figures cite where (lore, a commit, a suite); they are the minority of rows but exist.
    const measured = DEFAULTS.filter((p) => !p.assumption);
    assert.ok(measured.length >= 4);
    for (const p of measured) assert.match(p.source, /lore|commit|kvm-unit-tests|\d/, p.name);
  });

  it('prices every parameter the cost meter charges (get() knows each name)', () => {
    const model = new CostModel();
    for (const p of DEFAULTS) assert.equal(model.get(p.name), p.cycles);
    for (const name of [
      'exit.roundtrip',
      'exit.msr-handler',
      'exit.apic-handler',
      'exit.rdpmc-handler',
      'exit.interrupt-handler',
      'exit.hlt',
      'exit.io-handler',
      'exit.emulation-handler',
      'inject.interrupt',
      'vmcs.global-ctrl-switch',
      'msr.wrmsr',
      'msr.wrmsr-counter',
      'msr.rdmsr',
      'msr.rdpmc',
      'msr.x2apic',
      'pmi.entry',
      'perf.sample',
      'perf.record-userspace',
      'perf.create',
      'perf.release',
      'perf.period',
      'perf.pause',
      'perf.enable',
      'perf.read',
      'perf.guest-context',
      'perf.rotate',
      'tick.handler',
    ] as const) {
      assert.ok(NAMES.includes(name), `the meter charges '${name}'`);
    }
  });
});

describe('plausible ranges', () => {
  it('every parameter: low <= cycles <= high, and a reason for the bounds', () => {
    for (const p of DEFAULTS) {
      const [low, high] = p.range;
      assert.ok(0 <= low && low <= p.cycles && p.cycles <= high, `${p.name}: [${low}, ${high}]`);
      assert.ok(p.rangeSource.trim().length > 10, `${p.name}: why this range`);
      assert.ok(Object.isFrozen(p.range), `${p.name}: range frozen`);
    }
  });

  it('narrow where measured, wide where assumed: no measured range spans more than 5x, assumed ones at least 2x', () => {
    for (const p of DEFAULTS) {
      const ratio = p.range[1] / p.range[0];
      // exit.hlt borrows exit.roundtrip's measured range ('as exit.roundtrip, ...').
      const borrowed = /^as [a-z]+\.[a-z-]+/.test(p.rangeSource);
      if (!p.assumption) assert.ok(ratio <= 5, `${p.name} (measured): ${ratio.toFixed(2)}x`);
      else if (!borrowed) assert.ok(ratio >= 2, `${p.name} (assumed): only ${ratio.toFixed(2)}x`);
    }
  });

  it('a measured value with its own range and source replaces the default and is no longer an assumption', () => {
    const model = new CostModel('default', {
      'perf.create': { cycles: 20_000, range: [15_000, 30_000], source: 'perf trace on host A' },
      'exit.roundtrip': { cycles: 1500 },
    });
    const create = model.parameters.find((p) => p.name === 'perf.create')!;
    assert.equal(model.get('perf.create'), 20_000);
    assert.deepEqual(create.range, [15_000, 30_000]);
    assert.equal(create.assumption, false);
    assert.match(create.source, /^perf trace on host A \(default 10000: /);
    const exit = model.parameters.find((p) => p.name === 'exit.roundtrip')!;
    assert.deepEqual(exit.range, [1500, 1500]);
  });

  it('refuses a range that does not hold its value', () => {
    assert.throws(
      () => new CostModel('default', { 'msr.rdpmc': { cycles: 10, range: [20, 40] } }),
      /^RangeError: costs\.msr\.rdpmc: expected a range \[low, high\] with 0 <= low <= 10 <= high, got \[20, 40\]/,
    );
  });
});

describe('overrides', () => {
  it('apply, are reported as an override with the default kept, and leave the rest alone', () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.constantFrom(...NAMES), fc.integer({ min: 0, max: 1_000_000 }), {
          maxKeys: 6,
        }),
        (overrides) => {
          const model = new CostModel('default', overrides);
          for (const p of model.parameters) {
            const base = DEFAULTS.find((q) => q.name === p.name)!;
            if (p.name in overrides) {
              assert.equal(p.cycles, overrides[p.name]);
              assert.equal(model.get(p.name), overrides[p.name]);
              assert.equal(p.source, `override (default ${base.cycles}: ${base.source})`);
              // A value alone pins the parameter: sampling leaves it where it was put.
              assert.deepEqual(p.range, [overrides[p.name], overrides[p.name]]);
              assert.equal(p.assumption, base.assumption);
              assert.equal(p.description, base.description);
            } else {
              assert.equal(p, base);
            }
          }
          assert.deepEqual(
            model.parameters.map((p) => p.name),
            NAMES,
            'order kept',
          );
        },
      ),
      { numRuns: 100 },
    );
  });

  it('0 is a valid price (an operation made free), fractions too', () => {
    const model = new CostModel('default', { 'perf.period': 0, 'msr.rdpmc': 12.5 });
    assert.equal(model.get('perf.period'), 0);
    assert.equal(model.get('msr.rdpmc'), 12.5);
  });

  it('do not change the shared default table', () => {
    const before = DEFAULTS.map((p) => p.cycles);
    new CostModel('default', { 'exit.roundtrip': 1 });
    assert.deepEqual(
      DEFAULTS.map((p) => p.cycles),
      before,
    );
    assert.equal(new CostModel().get('exit.roundtrip'), before[NAMES.indexOf('exit.roundtrip')]);
  });
});

describe('bad input: RangeError naming the field', () => {
  it('an override that is not a number or { cycles, range } shows what it was', () => {
    for (const [override, shown] of [
      ['5', "'5'"],
      [null, 'null'],
      [{}, 'a mapping'],
      [{ cycles: '5' }, 'a mapping'],
    ] as const)
      assert.throws(
        () => new CostModel('default', { 'perf.period': override as unknown as number }),
        (e: unknown) =>
          e instanceof RangeError &&
          e.message.startsWith('costs.perf.period: expected a non-negative number of cycles') &&
          e.message.endsWith(`got ${shown}`),
        String(shown),
      );
    assert.throws(
      () => new CostModel('default', null as unknown as Record<string, number>),
      /^TypeError: costs: expected an object of overrides, got null/,
    );
  });

  it('an unknown parameter names it and lists the known ones', () => {
    assert.throws(
      () => new CostModel('default', { 'exit.round-trip': 5 }),
      (e: unknown) =>
        e instanceof RangeError &&
        e.message.startsWith('costs.exit.round-trip: no such cost parameter') &&
        e.message.includes('exit.roundtrip'),
    );
  });

  it('a negative, NaN or infinite price names the parameter', () => {
    for (const bad of [-1, -0.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.throws(
        () => new CostModel('default', { 'perf.period': bad }),
        (e: unknown) =>
          e instanceof RangeError &&
          e.message.startsWith('costs.perf.period: expected a non-negative number of cycles'),
        String(bad),
      );
    }
  });

  it('an unknown model names it and the models there are', () => {
    assert.throws(
      () => new CostModel('fast'),
      (e: unknown) =>
        e instanceof RangeError && /unknown cost model 'fast' \(have: default\)/.test(e.message),
    );
  });

  it('get() of a name the model lacks', () => {
    // A misspelt name does not compile; the run-time check is for names that come from files.
    // @ts-expect-error 'exit.nope' is not a CostName
    assert.throws(() => new CostModel().get('exit.nope'), /no cost parameter 'exit\.nope'/);
  });
});

describe('docs/cost-model.md', () => {
  const script = root('scripts/cost-model-doc.ts');
  const skip = existsSync(script)
    ? false
    : 'scripts/cost-model-doc.ts does not exist yet: nothing generates docs/cost-model.md';

  it(
    'is what scripts/cost-model-doc.ts generates from COST_MODELS, byte for byte',
    { skip },
    async () => {
      // Imported, not run: the module writes the file only when it is the main script.
      const { costModelDoc } = (await import(script.href)) as { costModelDoc: () => string };
      const committed = readFileSync(root('docs/cost-model.md'), 'utf8');
      assert.equal(
        costModelDoc(),
        committed,
        'docs/cost-model.md is stale: run node --import tsx scripts/cost-model-doc.ts',
      );
      // Every parameter is in it, with its price.
      for (const p of DEFAULTS) {
        assert.ok(
          committed.includes(`| \`${p.name}\` | ${p.cycles.toLocaleString('en-US')} |`),
          p.name,
        );
      }
    },
  );
});
