/**
 * The report of `vpmu run --samples N`: the nominal run's report, then each
 * design's overhead as a median and a 90 % interval over N cost models drawn
 * from the parameters' ranges, whether the published figure lies in it, how
 * often the published ordering holds, each guest event's error interval, and
 * the parameters that drive each design's overhead (Sobol indices). Text for
 * a terminal and JSON (`results[].overheadInterval`, top-level `sensitivity`);
 * the HTML page is in uncertainty-html.ts. docs/reports.md describes both.
 */
import type { Interval } from '../sim/sampling.ts';
import type { SensitivityEntry, UncertaintyReport } from '../sim/uncertainty.ts';
import { formatPercent, formatSignedPercent, round } from './format.ts';
import { toJson } from './json.ts';
import { renderText, type TextOptions } from './text.ts';
import { item } from '../common/item.js';

/** How many drivers per design the text report names. */
export const TOP_DRIVERS = 3;

/** '46.03% [38.20%, 55.01%]': a median and its 90 % interval. */
export function formatInterval(i: Interval, signed = false): string {
  const f = signed ? formatSignedPercent : formatPercent;
  return `${f(i.p50)} [${f(i.p05)}, ${f(i.p95)}]`;
}

/** The `top` parameters with the largest total effect on each design's overhead. */
export function topDrivers(
  u: UncertaintyReport,
  design: string,
  top = TOP_DRIVERS,
): SensitivityEntry[] {
  return u.sensitivity.filter((s) => s.design === design).slice(0, top);
}

function pad(cells: string[][], align: ('l' | 'r')[]): string[] {
  const widths = align.map((_, j) => Math.max(...cells.map((row) => (row[j] ?? '').length)));
  return cells.map(
    (row) =>
      `  ${row
        .map((cell, j) =>
          align[j] === 'r' ? cell.padStart(item(widths, j)) : cell.padEnd(item(widths, j)),
        )
        .join('  ')
        .trimEnd()}`,
  );
}

const index = (x: number) => x.toFixed(2);

/** The uncertainty part of the text report (after the nominal run's report). */
export function renderUncertaintyText(u: UncertaintyReport, options: TextOptions): string {
  const lines = [renderText(u.nominal, options).trimEnd(), ''];
  lines.push(
    `Uncertainty: ${u.samples} cost models drawn from the parameters' ranges (Latin hypercube, seed ${u.seed}), ${u.parameters.length} parameters vary; ${u.runs.toLocaleString('en-US')} runs`,
  );
  const head = ['design', 'nominal', 'median [90 % interval]', 'published', 'in interval'];
  const rows = u.designs.map((d, i) => [
    d.design,
    formatPercent(item(u.nominal.results, i).overheadPercent),
    formatInterval(d.overheadInterval),
    d.published === undefined ? '-' : formatPercent(d.published),
    d.publishedInInterval === undefined ? '-' : d.publishedInInterval ? 'yes' : 'no',
  ]);
  lines.push(...pad([head, ...rows], ['l', 'r', 'r', 'r', 'l']));
  if (u.orderingHolds !== undefined)
    lines.push(
      `  the published ordering holds in ${formatPercent(u.orderingHolds * 100, 0)} of the samples`,
    );
  lines.push('', 'Guest event error, median [90 % interval]');
  const eventRows = u.designs.flatMap((d) =>
    d.guestEvents.map((e) => [d.design, e.guest, e.event, formatInterval(e.errorInterval, true)]),
  );
  lines.push(
    ...(eventRows.length > 0
      ? pad([['design', 'guest', 'event', 'error'], ...eventRows], ['l', 'l', 'l', 'r'])
      : ['  (no guest events)']),
  );
  if (u.sensitivity.length > 0) {
    lines.push(
      '',
      `What drives the overhead: Sobol total-effect index [95 % CI] and first-order index, top ${TOP_DRIVERS} per design`,
    );
    const rows = u.designs.flatMap((d) =>
      topDrivers(u, d.design).map((s) => [
        d.design,
        s.parameter,
        `${index(s.total)} [${index(s.totalInterval[0])}, ${index(s.totalInterval[1])}]`,
        index(s.firstOrder),
      ]),
    );
    lines.push(
      ...pad([['design', 'parameter', 'total', 'first order'], ...rows], ['l', 'l', 'r', 'r']),
    );
    if (u.notCharged.length > 0)
      lines.push(`  not charged in this scenario (no index): ${u.notCharged.join(', ')}`);
  }
  return `${lines.join('\n')}\n`;
}

const pct = (x: number) => round(x, 4);
const interval = (i: Interval): Interval => ({ p05: pct(i.p05), p50: pct(i.p50), p95: pct(i.p95) });
const idx = (x: number) => round(x, 4);

/** The JSON of a --samples run: the nominal report's JSON with intervals, `uncertainty` and `sensitivity`. */
export function toUncertaintyJson(u: UncertaintyReport): Record<string, unknown> {
  const base = toJson(u.nominal) as unknown as Record<string, unknown> & {
    results: Record<string, unknown>[];
  };
  const results = base.results.map((r, d) => {
    const du = item(u.designs, d);
    const events = r.guestEvents as Record<string, unknown>[];
    return {
      ...r,
      overheadInterval: interval(du.overheadInterval),
      ...(du.publishedInInterval !== undefined
        ? { publishedInInterval: du.publishedInInterval }
        : {}),
      guestEvents: events.map((e, j) => ({
        ...e,
        errorInterval: interval(item(du.guestEvents, j).errorInterval),
      })),
    };
  });
  return {
    ...base,
    results,
    uncertainty: {
      samples: u.samples,
      seed: u.seed,
      runs: u.runs,
      method:
        'Latin hypercube, log-uniform on each range; Sobol indices by Saltelli et al. 2010 (first order) and Jansen 1999 (total effect)',
      parameters: u.parameters.map((p) => ({
        name: p.name,
        cycles: p.cycles,
        low: p.low,
        high: p.high,
      })),
      notCharged: u.notCharged,
      ...(u.orderingHolds !== undefined ? { orderingHolds: round(u.orderingHolds, 4) } : {}),
    },
    sensitivity: u.sensitivity.map((s) => ({
      design: s.design,
      parameter: s.parameter,
      firstOrder: idx(s.firstOrder),
      total: idx(s.total),
      firstOrderInterval: s.firstOrderInterval.map(idx),
      totalInterval: s.totalInterval.map(idx),
    })),
  };
}
