/**
 * The like-for-like block in the three report formats: each published figure
 * is reported against the design that produced it, named, with the Linux 7.0
 * design beside it; a figure outside 1.5x names the operation with the most
 * cycles in that design (found here from the report's own cost breakdown).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { VpmuDesignName } from '../../src/kvm/vpmu-design.ts';
import { errorSpec } from '../../src/report/charts.ts';
import { renderHtml } from '../../src/report/html.ts';
import { toJson } from '../../src/report/json.ts';
import { renderText } from '../../src/report/text.ts';
import type { SimulationReport } from '../../src/sim/results.ts';
import { reportFixture } from './fixtures.ts';

const DESIGNS: VpmuDesignName[] = ['emulated', 'rfc-v1', 'mediated'];

/** rfc-v1 published near its simulated figure (agrees), emulated far below it (does not). */
function report(): SimulationReport {
  const r = reportFixture({ designs: DESIGNS });
  const sim = (d: VpmuDesignName) => r.results.find((x) => x.design === d)!.overheadPercent;
  r.published = {
    test: 'basic-sampling',
    source: 'RFC v1 cover letter (Jan 2024)',
    overheadPercent: { emulated: sim('emulated') / 3, 'rfc-v1': sim('rfc-v1') * 0.9 },
  };
  return r;
}

function costliest(r: SimulationReport, design: VpmuDesignName): string {
  const result = r.results.find((x) => x.design === design)!;
  return [...result.costBreakdown].sort((a, b) => b.cycles - a.cycles)[0]!.parameter;
}

test('text: a like-for-like table naming each design, 7.0 beside it, and the operation behind a miss', () => {
  const r = report();
  const text = renderText(r, { color: false });
  const block = text.slice(text.indexOf('Published figures, like for like'));
  assert.ok(block.length > 0, 'no like-for-like block');
  const lines = block.split('\n');
  const rfc = lines.find((l) => /^ +rfc-v1 /.test(l));
  assert.ok(rfc, 'no rfc-v1 row');
  assert.match(rfc, /within/);
  assert.match(rfc, / mediated /); // the Linux 7.0 design beside it
  const emulated = lines.find((l) => /^ +emulated /.test(l));
  assert.match(emulated ?? '', /outside/);
  assert.match(block, new RegExp(`emulated is outside 1\\.5x: .*${costliest(r, 'emulated')}`));
  assert.doesNotMatch(block, /rfc-v1 is outside/);
});

test('--json: likeForLike rows with the design, the verdict, 7.0 beside it and the dominant operation', () => {
  const r = report();
  const json = toJson(r);
  const rows = json.likeForLike ?? [];
  assert.deepEqual(
    rows.map((x) => [x.design, x.agrees, x.linux70Design]),
    [
      ['emulated', false, 'emulated'],
      ['rfc-v1', true, 'mediated'],
    ],
  );
  assert.equal(rows[0]?.dominant?.parameter, costliest(r, 'emulated'));
  assert.equal(rows[1]?.dominant, undefined);
  // It survives JSON: what `vpmu run --json` prints.
  const parsed = JSON.parse(JSON.stringify(json)) as { likeForLike: unknown[] };
  assert.equal(parsed.likeForLike.length, 2);
});

test('--json without a published figure has no likeForLike key', () => {
  assert.equal('likeForLike' in toJson(reportFixture({ published: false })), false);
});

test('html: a like-for-like table naming each design and the dominant operation', async () => {
  const r = report();
  const html = await renderHtml(r);
  const start = html.indexOf('Published figures, like for like');
  assert.ok(start >= 0, 'no like-for-like section');
  const section = html.slice(start, html.indexOf('</section>', start));
  assert.match(section, /<strong>rfc-v1<\/strong>/);
  assert.match(section, /<strong>emulated<\/strong>/);
  assert.match(section, /mediated/);
  assert.match(section, new RegExp(`emulated is outside 1\\.5x: .*${costliest(r, 'emulated')}`));
});

test('charts: a design keeps its colour whichever other designs a run has', () => {
  const colours = (designs: VpmuDesignName[]) => {
    const spec = JSON.stringify(errorSpec(reportFixture({ designs })));
    const scale = /"domain":(\[[^\]]*\]),"range":(\[[^\]]*\])/.exec(spec);
    assert.ok(scale, 'no design colour scale');
    const domain = JSON.parse(scale[1]!) as string[];
    const range = JSON.parse(scale[2]!) as string[];
    return new Map(domain.map((d, i) => [d, range[i]]));
  };
  const all = colours([
    'emulated',
    'rfc-v1',
    'rfc-v1-passthrough-all',
    'passthrough-all',
    'mediated',
  ]);
  const two = colours(['emulated', 'passthrough-all']);
  assert.equal(two.get('passthrough-all'), all.get('passthrough-all'));
  assert.equal(new Set(all.values()).size, all.size, 'every design its own colour');
});
