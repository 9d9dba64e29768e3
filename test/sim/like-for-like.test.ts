/**
 * The like-for-like comparison (issue 8 section 8): each published figure
 * against the simulated figure of the design that produced it, Linux 7.0's
 * design beside it, agreement within 1.5x, and otherwise the priced operation
 * with the largest share of the simulated overhead. Expected values are
 * relationships computed here from the report's own per-operation data, not
 * copies of the module's output.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { VpmuDesignName } from '../../src/kvm/vpmu-design.ts';
import {
  LIKE_FOR_LIKE_FACTOR,
  likeForLike,
  linux70Counterpart,
} from '../../src/sim/like-for-like.ts';
import type { DesignResult, SimulationReport } from '../../src/sim/results.ts';
import { reportFixture } from '../report/fixtures.ts';
import fc from '../common/fc.ts';

const DESIGNS: VpmuDesignName[] = [
  'emulated',
  'rfc-v1-passthrough-all',
  'rfc-v1',
  'passthrough-all',
  'mediated',
];

function withPublished(published: Partial<Record<VpmuDesignName, number>>): SimulationReport {
  const report = reportFixture({ designs: DESIGNS });
  report.published = {
    test: 'basic-sampling',
    source: 'RFC v1 cover letter',
    overheadPercent: published,
  };
  return report;
}

function resultOf(report: SimulationReport, design: VpmuDesignName): DesignResult {
  const r = report.results.find((x) => x.design === design);
  assert.ok(r, `no result for ${design}`);
  return r;
}

/** The operation with the most cycles, found here from the breakdown. */
function costliest(result: DesignResult): string {
  let best = result.costBreakdown[0]!;
  for (const e of result.costBreakdown) if (e.cycles > best.cycles) best = e;
  return best.parameter;
}

describe('like for like', () => {
  it('each published design against its own simulated figure, with the Linux 7.0 design beside it', () => {
    const report = withPublished({
      emulated: 33.62,
      'rfc-v1-passthrough-all': 4.24,
      'rfc-v1': 6.21,
    });
    const rows = likeForLike(report);
    assert.deepEqual(
      rows.map((r) => [r.design, r.linux70Design]),
      [
        ['emulated', 'emulated'],
        ['rfc-v1-passthrough-all', 'passthrough-all'],
        ['rfc-v1', 'mediated'],
      ],
    );
    for (const row of rows) {
      assert.equal(row.simulated, resultOf(report, row.design).overheadPercent);
      assert.equal(row.linux70Simulated, resultOf(report, row.linux70Design).overheadPercent);
    }
  });

  it('linux70Counterpart keeps the ablation and maps every series onto 7.0', () => {
    assert.equal(linux70Counterpart('rfc-v1'), 'mediated');
    assert.equal(linux70Counterpart('mediated-topdown'), 'mediated');
    assert.equal(linux70Counterpart('rfc-v1-passthrough-all'), 'passthrough-all');
    assert.equal(linux70Counterpart('passthrough-all-topdown'), 'passthrough-all');
    assert.equal(linux70Counterpart('emulated'), 'emulated');
  });

  it('agreement is a ratio within 1.5x either way; outside, the costliest operation is named', () => {
    const report = withPublished({});
    const simulated = resultOf(report, 'rfc-v1').overheadPercent;
    fc.assert(
      fc.property(
        fc.double({ min: simulated / 4, max: simulated * 4, noNaN: true }),
        (published) => {
          report.published!.overheadPercent = { 'rfc-v1': published };
          const [row] = likeForLike(report);
          assert.ok(row);
          const ratio = simulated / published;
          const inside = ratio <= LIKE_FOR_LIKE_FACTOR && ratio >= 1 / LIKE_FOR_LIKE_FACTOR;
          assert.equal(row.agrees, inside);
          if (inside) assert.equal(row.dominant, undefined);
          else assert.equal(row.dominant?.parameter, costliest(resultOf(report, 'rfc-v1')));
        },
      ),
    );
  });

  it("the dominant operation's points are its cycle share of the design's overhead", () => {
    const report = withPublished({ emulated: 10 }); // the fixture's emulated is ~32 %: outside
    const [row] = likeForLike(report);
    const result = resultOf(report, 'emulated');
    const top = result.costBreakdown.find((e) => e.parameter === costliest(result))!;
    const total = result.costBreakdown.reduce((s, e) => s + e.cycles, 0);
    assert.equal(row?.dominant?.parameter, top.parameter);
    assert.equal(row?.dominant?.count, top.count);
    assert.ok(
      Math.abs(row.dominant.overheadPoints - (result.overheadPercent * top.cycles) / total) < 1e-9,
    );
    assert.ok(row.dominant.overheadPoints <= result.overheadPercent);
  });

  it('a published design the scenario did not run has no simulated figure and no verdict', () => {
    const report = reportFixture({ designs: ['emulated', 'mediated'] });
    report.published = { test: 't', source: 's', overheadPercent: { 'rfc-v1': 6.21 } };
    const [row] = likeForLike(report);
    assert.equal(row?.simulated, undefined);
    assert.equal(row?.agrees, undefined);
    assert.equal(row?.linux70Simulated, resultOf(report, 'mediated').overheadPercent);
  });

  it('no published figures: no rows', () => {
    const report = reportFixture({ published: false });
    assert.deepEqual(likeForLike(report), []);
  });
});
