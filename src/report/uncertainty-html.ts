/**
 * The HTML page of `vpmu run --samples N --html F`: the nominal run's page
 * with an uncertainty section after the overhead: an interval chart (each
 * design's 90 % interval, its median, the nominal run and the published
 * figure), a ranked chart of the Sobol indices per design, and their tables.
 */
import type { TopLevelSpec } from 'vega-lite';
import type { UncertaintyReport } from '../sim/uncertainty.ts';
import { escapeHtml as esc, formatPercent } from './format.ts';
import { figure, htmlTable, num, renderHtml, type CellLike } from './html.ts';
import { formatInterval } from './uncertainty.ts';
import { item } from '../common/item.js';

/** Each design: a rule over its 90 % interval, a point at the median, ticks at nominal and published. */
export function intervalSpec(u: UncertaintyReport): TopLevelSpec | undefined {
  if (u.designs.length === 0) return undefined;
  const values = u.designs.map((d, i) => ({
    design: d.design,
    p05: d.overheadInterval.p05,
    p50: d.overheadInterval.p50,
    p95: d.overheadInterval.p95,
    nominal: item(u.nominal.results, i).overheadPercent,
    ...(d.published !== undefined ? { published: d.published } : {}),
  }));
  const order = u.designs.map((d) => d.design);
  const y = { field: 'design', type: 'nominal', sort: order, title: null };
  return {
    data: { values },
    width: 520,
    height: Math.max(80, u.designs.length * 40),
    layer: [
      {
        mark: { type: 'rule', strokeWidth: 3, color: '#4c78a8' },
        encoding: {
          y,
          x: { field: 'p05', type: 'quantitative', title: 'overhead (%): 90 % interval, median' },
          x2: { field: 'p95' },
        },
      },
      {
        mark: { type: 'point', filled: true, size: 80, color: '#4c78a8' },
        encoding: { y, x: { field: 'p50', type: 'quantitative' } },
      },
      {
        mark: { type: 'tick', color: '#1d1d1f', thickness: 2, size: 18 },
        encoding: { y, x: { field: 'nominal', type: 'quantitative' } },
      },
      {
        transform: [{ filter: 'isValid(datum.published)' }],
        mark: { type: 'point', shape: 'diamond', size: 90, color: '#e45756', filled: true },
        encoding: { y, x: { field: 'published', type: 'quantitative' } },
      },
    ],
  } as TopLevelSpec;
}

/** The Sobol indices, ranked by total effect, one panel per design. */
export function sensitivitySpec(u: UncertaintyReport, top = 8): TopLevelSpec | undefined {
  const values = u.designs.flatMap((d) =>
    u.sensitivity
      .filter((s) => s.design === d.design)
      .slice(0, top)
      .flatMap((s, rank) => [
        { design: d.design, parameter: s.parameter, rank, index: 'total effect', value: s.total },
        {
          design: d.design,
          parameter: s.parameter,
          rank,
          index: 'first order',
          value: s.firstOrder,
        },
      ]),
  );
  if (values.length === 0) return undefined;
  return {
    data: { values },
    facet: {
      row: { field: 'design', type: 'nominal', title: null, sort: u.designs.map((d) => d.design) },
    },
    resolve: { scale: { y: 'independent' } },
    spec: {
      width: 420,
      height: { step: 14 },
      mark: { type: 'bar' },
      encoding: {
        y: { field: 'parameter', type: 'nominal', sort: { field: 'rank' }, title: null },
        yOffset: { field: 'index', type: 'nominal', sort: ['total effect', 'first order'] },
        x: {
          field: 'value',
          type: 'quantitative',
          title: 'Sobol index (share of the overhead variance)',
        },
        color: {
          field: 'index',
          type: 'nominal',
          title: null,
          scale: { domain: ['total effect', 'first order'], range: ['#e45756', '#f2b5b4'] },
          legend: { orient: 'top' },
        },
      },
    },
  };
}

/** The section a --samples run adds to the page. */
export async function uncertaintySection(u: UncertaintyReport): Promise<string> {
  const [intervals, drivers] = await Promise.all([
    figure(
      'interval',
      intervalSpec(u),
      `Overhead of each design over ${u.samples} cost models drawn from the parameters' ranges: the bar is the 90 % interval, the dot the median, the black tick the nominal run, the red diamond the published figure.`,
      'No design was simulated.',
    ),
    figure(
      'sensitivity',
      sensitivitySpec(u),
      "Which cost parameters drive each design's overhead: Sobol total-effect and first-order indices (Saltelli et al. 2010; Jansen 1999), highest total effect first. Measure the top ones on your own host first (docs/calibration.md).",
      'No sensitivity indices (run without --no-sensitivity).',
    ),
  ]);
  const head: CellLike[] = [
    'design',
    num('nominal'),
    num('median [90 % interval]'),
    num('published'),
    'in interval',
  ];
  const rows = u.designs.map((d, i) => [
    d.design,
    num(formatPercent(item(u.nominal.results, i).overheadPercent)),
    num(formatInterval(d.overheadInterval)),
    num(d.published === undefined ? '-' : formatPercent(d.published)),
    d.publishedInInterval === undefined ? '-' : d.publishedInInterval ? 'yes' : 'no',
  ]);
  const sensHead: CellLike[] = [
    'design',
    'parameter',
    num('total [95 % CI]'),
    num('first order [95 % CI]'),
  ];
  const f = (x: number) => x.toFixed(3);
  const sensRows = u.sensitivity.map((s) => [
    s.design,
    s.parameter,
    num(`${f(s.total)} [${f(s.totalInterval[0])}, ${f(s.totalInterval[1])}]`),
    num(`${f(s.firstOrder)} [${f(s.firstOrderInterval[0])}, ${f(s.firstOrderInterval[1])}]`),
  ]);
  const ordering =
    u.orderingHolds === undefined
      ? ''
      : `<p>The published ordering holds in ${esc(formatPercent(u.orderingHolds * 100, 0))} of the samples.</p>`;
  return `<section id="uncertainty"><h2>Uncertainty</h2>
<p>${esc(`${u.samples} cost models drawn from the parameters' ranges (Latin hypercube, seed ${u.seed}); ${u.parameters.length} parameters vary; ${u.runs} runs.`)}</p>
${intervals}
${htmlTable(head, rows)}
${ordering}
</section>
<section id="sensitivity"><h2>What drives the overhead</h2>
${drivers}
${sensRows.length > 0 ? htmlTable(sensHead, sensRows) : ''}
${u.notCharged.length > 0 ? `<p class="note">${esc(`Not charged in this scenario (no index): ${u.notCharged.join(', ')}.`)}</p>` : ''}
</section>`;
}

export async function renderUncertaintyHtml(u: UncertaintyReport): Promise<string> {
  return renderHtml(u.nominal, await uncertaintySection(u));
}
