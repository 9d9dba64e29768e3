/**
 * The sampling design (src/sim/sampling.ts) and the Sobol estimators
 * (src/sim/sensitivity.ts), on functions whose indices are known in closed
 * form, so the expected values do not come from the code under test.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { SeededRandom } from '../../src/sim/random.ts';
import { interval, latinHypercube, onRange, quantile } from '../../src/sim/sampling.ts';
import { mixRow, sobolIndices } from '../../src/sim/sensitivity.ts';

describe('latinHypercube', () => {
  it('puts exactly one point in each of the n strata of every dimension', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 6 }),
        fc.integer(),
        (n, d, seed) => {
          const rows = latinHypercube(n, d, new SeededRandom(seed));
          assert.equal(rows.length, n);
          for (let j = 0; j < d; j++) {
            const strata = rows.map((r) => Math.floor(r[j]! * n)).sort((a, b) => a - b);
            assert.deepEqual(
              strata,
              Array.from({ length: n }, (_, k) => k),
            );
            for (const r of rows) assert.ok(r[j]! >= 0 && r[j]! < 1);
          }
        },
      ),
    );
  });

  it('is determined by its seed, and another seed gives another design', () => {
    const a = latinHypercube(8, 3, new SeededRandom(5));
    assert.deepEqual(a, latinHypercube(8, 3, new SeededRandom(5)));
    assert.notDeepEqual(a, latinHypercube(8, 3, new SeededRandom(6)));
  });
});

describe('onRange', () => {
  it('maps 0 to low, 1 to high, and the middle to the geometric mean (log-uniform)', () => {
    assert.equal(onRange(0, 100, 10_000), 100);
    assert.ok(Math.abs(onRange(1, 100, 10_000) - 10_000) < 1e-9);
    assert.ok(Math.abs(onRange(0.5, 100, 10_000) - 1000) < 1e-9);
  });
  it('is uniform when the range starts at 0, and constant on a point range', () => {
    assert.equal(onRange(0.25, 0, 100), 25);
    assert.equal(onRange(0.7, 42, 42), 42);
  });
});

describe('quantile and interval', () => {
  it('interpolates between order statistics', () => {
    assert.equal(quantile([3, 1, 2], 0.5), 2);
    assert.equal(quantile([0, 10], 0.25), 2.5);
    // 0..100: the 5th and 95th percentiles are 5 and 95.
    const hundred = Array.from({ length: 101 }, (_, k) => 100 - k);
    assert.deepEqual(interval(hundred), { p05: 5, p50: 50, p95: 95 });
  });
});

/** Evaluate f on the Saltelli design: A, B and each A_B^i, from two independent LHS matrices. */
function saltelli(
  f: (x: number[]) => number,
  n: number,
  k: number,
  toInput: (u: number) => number,
): { fA: number[]; fB: number[]; fAB: number[][] } {
  const A = latinHypercube(n, k, new SeededRandom(11, 1)).map((r) => r.map(toInput));
  const B = latinHypercube(n, k, new SeededRandom(11, 2)).map((r) => r.map(toInput));
  return {
    fA: A.map(f),
    fB: B.map(f),
    fAB: Array.from({ length: k }, (_, i) => A.map((a, r) => f(mixRow(a, B[r]!, i)))),
  };
}

describe('sobolIndices (Saltelli 2010 first order, Jansen total effect)', () => {
  it('called from JavaScript with bad arguments: an error naming the argument', () => {
    const f = [1, 2, 3, 4];
    const refused: [() => unknown, RegExp][] = [
      [
        () => sobolIndices(undefined as never, f, f),
        /^sobolIndices: f\(A\): expected a list of numbers/,
      ],
      [() => sobolIndices(f, {} as never, f), /^sobolIndices: f\(B\): expected a list of numbers/],
      [
        () => sobolIndices(f, f, [1, 2, NaN, 4]),
        /^sobolIndices: f\(A_B\)\[2\]: expected a finite number/,
      ],
      [() => sobolIndices(f, f, ['1', 2, 3, 4] as never), /^sobolIndices: f\(A_B\)\[0\]/],
      [() => sobolIndices([1], [1], [1]), /^sobolIndices: f\(A\): expected at least 2 values/],
      [() => sobolIndices(f, f, [1, 2]), /need 4 values each/],
      [() => sobolIndices(f, f, f, null as never), /expected an options object/],
      [() => sobolIndices(f, f, f, { bootstrap: -1 }), /bootstrap: expected a whole number/],
      [() => sobolIndices(f, f, f, { bootstrap: 0.5 }), /bootstrap: expected a whole number/],
      [() => sobolIndices(f, f, f, { seed: 'x' as never }), /seed: expected a whole number/],
    ];
    for (const [call, message] of refused)
      assert.throws(
        call,
        (e: unknown) =>
          (e instanceof TypeError || e instanceof RangeError) && message.test(e.message),
      );
    assert.equal(sobolIndices(f, [4, 3, 2, 1], f, { bootstrap: 1 }).firstOrder, 0);
  });

  it('the Ishigami function (a=7, b=0.1): the published analytic indices', () => {
    // Ishigami and Homma (1990); the analytic values as tabulated in Saltelli et al.,
    // "Global Sensitivity Analysis: The Primer" (2008), section 4.8:
    // S1 0.3139, S2 0.4424, S3 0; ST1 0.5576, ST2 0.4424, ST3 0.2437.
    const ishigami = ([x1, x2, x3]: number[]) =>
      Math.sin(x1!) + 7 * Math.sin(x2!) ** 2 + 0.1 * x3! ** 4 * Math.sin(x1!);
    const { fA, fB, fAB } = saltelli(ishigami, 8192, 3, (u) => -Math.PI + 2 * Math.PI * u);
    const s = fAB.map((f) => sobolIndices(fA, fB, f, { bootstrap: 50 }));
    const expected = [
      [0.3139, 0.5576],
      [0.4424, 0.4424],
      [0, 0.2437],
    ];
    expected.forEach(([first, total], i) => {
      assert.ok(Math.abs(s[i]!.firstOrder - first!) < 0.04, `S${i + 1} ${s[i]!.firstOrder}`);
      assert.ok(Math.abs(s[i]!.total - total!) < 0.04, `ST${i + 1} ${s[i]!.total}`);
      const [lo, hi] = s[i]!.totalInterval;
      assert.ok(lo <= s[i]!.total && s[i]!.total <= hi, 'the point estimate lies in its interval');
    });
  });

  it('a linear model Y = 1 X1 + 2 X2 + 0 X3 (uniform inputs): S_i = ST_i = c_i^2 / sum c^2', () => {
    const f = ([x1, x2, x3]: number[]) => x1! + 2 * x2! + 0 * x3!;
    const { fA, fB, fAB } = saltelli(f, 2048, 3, (u) => u);
    const s = fAB.map((g) => sobolIndices(fA, fB, g, { bootstrap: 50 }));
    [0.2, 0.8, 0].forEach((v, i) => {
      assert.ok(Math.abs(s[i]!.firstOrder - v) < 0.03, `S${i + 1} ${s[i]!.firstOrder}`);
      assert.ok(Math.abs(s[i]!.total - v) < 0.03, `ST${i + 1} ${s[i]!.total}`);
    });
    // An input the output ignores has exactly zero total effect.
    assert.equal(s[2]!.total, 0);
  });

  it('a constant output has no variance to explain: indices 0', () => {
    const s = sobolIndices([1, 1, 1], [1, 1, 1], [1, 1, 1]);
    assert.equal(s.firstOrder, 0);
    assert.equal(s.total, 0);
  });

  it('refuses mismatched lengths', () => {
    assert.throws(() => sobolIndices([1, 2], [1], [1, 2]), RangeError);
  });
});
