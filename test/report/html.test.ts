import assert from 'node:assert/strict';
import { test } from 'node:test';
import { renderHtml, renderSweepHtml } from '../../src/report/html.ts';
import { reportFixture, sweepFixture } from './fixtures.ts';

interface Figure {
  chart: string;
  body: string;
}

function figures(html: string): Figure[] {
  return [...html.matchAll(/<figure data-chart="([^"]+)">([\s\S]*?)<\/figure>/g)].map((m) => ({
    chart: m[1]!,
    body: m[2]!,
  }));
}

/** vega's data marks: `<g class="mark-rect role-mark ...">` groups holding the drawn elements. */
function markElements(svg: string): number {
  let n = 0;
  for (const m of svg.matchAll(/<g class="mark-[a-z]+ role-mark[^"]*"[^>]*>([\s\S]*?)<\/g>/g)) {
    n += (m[1]!.match(/<(path|line|rect|text|circle)\b/g) ?? []).length;
  }
  return n;
}

function assertSelfContained(html: string): void {
  assert.doesNotMatch(
    html,
    /\b(src|href)\s*=\s*["']?\s*(https?:)?\/\//i,
    'a src/href to another origin',
  );
  assert.doesNotMatch(html, /<script\b/i, 'a script element');
  assert.doesNotMatch(html, /<link\b/i, 'a link element');
  assert.doesNotMatch(html, /@import|url\(\s*["']?(https?:)?\/\//i, 'a style loading something');
  assert.doesNotMatch(html, /@font-face/i);
  assert.match(html, /<meta http-equiv="Content-Security-Policy" content="default-src 'none'/);
}

test('renderHtml: one self-contained page, four figures each with an SVG holding vega marks', async () => {
  const html = await renderHtml(reportFixture({ refusal: true }));
  assert.match(html, /^<!doctype html>\n<html lang="en">/);
  assertSelfContained(html);
  const found = figures(html);
  assert.deepEqual(
    found.map((f) => f.chart),
    ['overhead', 'error', 'timeline', 'cycles'],
  );
  for (const f of found) {
    assert.equal((f.body.match(/<svg\b/g) ?? []).length, 1, `${f.chart}: one svg`);
    assert.match(f.body, /role-mark/, `${f.chart}: vega marks`);
    assert.ok(markElements(f.body) > 0, `${f.chart}: mark elements`);
    assert.match(f.body, /<figcaption>[^<]+<\/figcaption>/);
  }
});

test('the charts draw the data: bars per design and series, 50 timeline ticks per design', async () => {
  const html = await renderHtml(reportFixture());
  const byChart = Object.fromEntries(figures(html).map((f) => [f.chart, f.body]));
  // 3 simulated + 3 published bars.
  const overheadBars = byChart.overhead!.match(/<g class="mark-rect role-mark[\s\S]*?<\/g>/)![0];
  assert.equal((overheadBars.match(/<path\b/g) ?? []).length, 6);
  assert.match(byChart.overhead!, /published/);
  assert.match(byChart.overhead!, />33\.62</);
  // 6 events x 3 designs.
  const errorBars = byChart.error!.match(/<g class="mark-rect role-mark[\s\S]*?<\/g>/)![0];
  assert.equal((errorBars.match(/<path\b/g) ?? []).length, 18);
  // Faceted by design: one group of tick marks per design.
  const ticks = [
    ...byChart.timeline!.matchAll(/<g class="mark-rect role-mark[^"]*"[^>]*>([\s\S]*?)<\/g>/g),
  ];
  assert.deepEqual(
    ticks.map((t) => (t[1]!.match(/<path\b/g) ?? []).length),
    [50, 50, 50],
  );
  for (const kind of ['world-switch', 'exit', 'pmi', 'tick'])
    assert.match(byChart.timeline!, new RegExp(`>${kind}<`));
});

test('the tables: scenario header, overhead vs published, events, host refusals, exits by reason, the cost model', async () => {
  const html = await renderHtml(reportFixture({ refusal: true }));
  assert.match(html, /<h1>vpmu: basic-sampling<\/h1>/);
  assert.match(html, /<dt>CPU<\/dt><dd>intel-sapphire-rapids<\/dd>/);
  assert.match(
    html,
    /<td class="num">31\.87%<\/td><td class="num">33\.62%<\/td><td class="num">-1\.75 pp<\/td>/,
  );
  assert.match(html, /The simulated ordering matches the published one/);
  assert.match(html, /emulated 31\.87% &gt;&gt; mediated 6\.05% &gt; passthrough-all 4\.40%/);
  assert.match(html, /<td class="num">\(62\.50%\)<\/td>/);
  assert.match(html, /<td class="bad" colspan="4">&lt;refused: EOPNOTSUPP&gt;<\/td>/);
  assert.match(html, /<td class="bad">EBUSY<\/td>/);
  assert.match(
    html,
    /<td><code>MSR_WRITE<\/code><\/td><td class="num">482,113<\/td><td class="num">12,006<\/td><td class="num">0<\/td>/,
  );
  assert.match(html, /<tr class="total"><td>total VM-exits<\/td>/);
  assert.match(html, /<td>PMIs injected<\/td><td class="num">712<\/td>/);
  assert.match(html, /<td>rdpmc \(hardware\)<\/td>/);
  assert.match(
    html,
    /<td><code>perf\.period<\/code><\/td><td class="num">11,880<\/td><td>~5\.4 us on an E5-2699 at 2\.2 GHz<\/td><td><span class="tag sourced">sourced<\/span><\/td>/,
  );
  assert.match(
    html,
    /<td><code>perf\.create<\/code><\/td><td class="num">10,000<\/td><td>[^<]*<\/td><td><span class="tag">assumption<\/span><\/td>/,
  );
});

test('text from the scenario file is escaped, in the page and in the charts', async () => {
  const evil = '<script>alert(1)</script>';
  const report = reportFixture({
    scenario: `x${evil}`,
    description: `d${evil}"'&`,
    guests: [`<img src=x onerror=alert(2)>`],
  });
  report.results[0]!.guestEvents[0]!.event = `e${evil}`;
  report.costParameters[0]!.source = `s${evil}`;
  report.published!.test = `t${evil}`;
  const html = await renderHtml(report);
  assertSelfContained(html);
  assert.doesNotMatch(html, /<script/i);
  assert.doesNotMatch(html, /<img/i);
  assert.match(html, /<h1>vpmu: x&lt;script&gt;alert\(1\)&lt;\/script&gt;<\/h1>/);
  assert.match(html, /<title>vpmu: x&lt;script&gt;/);
  assert.match(html, /d&lt;script&gt;alert\(1\)&lt;\/script&gt;&quot;&#39;&amp;/);
  assert.match(html, /&lt;img src=x onerror=alert\(2\)&gt;/);
  assert.match(html, /<code>e&lt;script&gt;alert\(1\)&lt;\/script&gt;<\/code>/);
});

test('empty data: a short note instead of a broken chart', async () => {
  const noEvents = await renderHtml(reportFixture({ noGuestEvents: true, timeline: 0 }));
  assert.deepEqual(
    figures(noEvents).map((f) => f.chart),
    ['overhead', 'cycles'],
  );
  assert.match(noEvents, /<p class="note" data-empty="error">No guest events were measured/);
  assert.match(
    noEvents,
    /<p class="note" data-empty="timeline">The report has no timeline entries/,
  );

  const nothing = reportFixture({ published: false });
  nothing.results = [];
  nothing.costParameters = [];
  const html = await renderHtml(nothing);
  assert.equal(figures(html).length, 0);
  assert.match(html, /data-empty="overhead">No design was simulated/);
  assert.match(html, /The report lists no cost parameters/);
  assertSelfContained(html);
});

test('a non-finite error is left out of the chart and listed', async () => {
  const report = reportFixture({ designs: ['mediated'] });
  Object.assign(report.results[0]!.guestEvents[2]!, { truth: 0, errorPercent: Infinity });
  const html = await renderHtml(report);
  const error = figures(html).find((f) => f.chart === 'error')!;
  const bars = error.body.match(/<g class="mark-rect role-mark[\s\S]*?<\/g>/)![0];
  assert.equal((bars.match(/<path\b/g) ?? []).length, 5);
  assert.match(html, /Not charted \(no finite error, the truth is 0\): mediated vm0 branches/);
});

test('without a published figure the overhead chart has one series and no published column', async () => {
  const html = await renderHtml(reportFixture({ published: false }));
  const overhead = figures(html).find((f) => f.chart === 'overhead')!;
  const bars = overhead.body.match(/<g class="mark-rect role-mark[\s\S]*?<\/g>/)![0];
  assert.equal((bars.match(/<path\b/g) ?? []).length, 3);
  assert.doesNotMatch(html, /<th class="num">published<\/th>/);
});

test('renderSweepHtml: a self-contained page with the sweep chart and one row per value', async () => {
  const html = await renderSweepHtml(sweepFixture());
  assertSelfContained(html);
  const found = figures(html);
  assert.deepEqual(
    found.map((f) => f.chart),
    ['sweep'],
  );
  assert.ok(markElements(found[0]!.body) > 0);
  // Two panels (overhead, mean |error|), a line per design and the points in each.
  assert.equal((found[0]!.body.match(/<g class="mark-line role-mark/g) ?? []).length, 6);
  assert.equal((found[0]!.body.match(/<g class="mark-symbol role-mark/g) ?? []).length, 2);
  assert.match(html, /<h1>vpmu: basic-sampling, sweep of host\.pinnedEvents<\/h1>/);
  assert.equal((html.match(/<tr><td>\d<\/td>/g) ?? []).length, 4);
  assert.match(html, /<tr><td>0<\/td><td class="num">31\.87%<\/td><td class="num">15\.15%<\/td>/);

  const empty = await renderSweepHtml([]);
  assert.equal(figures(empty).length, 0);
  assert.match(empty, /data-empty="sweep">The sweep has no results/);
});

test('throttled and filtered guest events are named under the table, escaped, each with why', async () => {
  const report = reportFixture();
  const plain = await renderHtml(report);
  assert.doesNotMatch(plain, /Throttled:|Filtered:/);
  const [first, second] = report.results[0]!.guestEvents;
  first!.throttled = 2;
  second!.filtered = true;
  second!.event = 'r<c4>';
  const html = await renderHtml(report);
  assertSelfContained(html);
  assert.match(
    html,
    new RegExp(
      `<p class="note">Throttled: <code>${first!.event}</code>\\. The guest kernel lowered`,
    ),
  );
  assert.match(
    html,
    /<p class="note">Filtered: <code>r&lt;c4&gt;<\/code>\. The VM's event filter stops the counter/,
  );
});
