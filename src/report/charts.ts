/**
 * The HTML report's charts: vega-lite specs over a SimulationReport, compiled
 * and rendered to SVG strings on the server (no script in the page). A spec
 * builder returns undefined when there is nothing to draw; the page shows a
 * note instead.
 */
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { VpmuDesignName } from '../kvm/vpmu-design.ts';
import type { SimulationReport, TimelineEntry } from '../sim/results.ts';
import type { SweepSummary } from './summary.ts';
import { item } from '../common/item.ts';

type Logger = NonNullable<NonNullable<Parameters<typeof compile>[1]>['logger']>;

/** vega-lite's warnings (e.g. a dropped encoding) are not the reader's business; errors are ours. */
const QUIET: Logger = {
  level(this: Logger, _level?: number) {
    return this;
  },
  warn(this: Logger) {
    return this;
  },
  info(this: Logger) {
    return this;
  },
  debug(this: Logger) {
    return this;
  },
  error(...messages: readonly unknown[]): never {
    throw new Error(`vega-lite: ${messages.map(String).join(' ')}`);
  },
};

/** Each design's colour, in legend order: a design keeps its colour whichever others a run has. */
const DESIGN_COLORS: Record<VpmuDesignName, string> = {
  emulated: '#e45756',
  mediated: '#4c78a8',
  'passthrough-all': '#54a24b',
  'mediated-topdown': '#72b7b2',
  'passthrough-all-topdown': '#88d27a',
  'rfc-v1': '#b279a2',
  'rfc-v1-passthrough-all': '#f58518',
  none: '#9d9d9d',
};
const DESIGNS = Object.keys(DESIGN_COLORS) as VpmuDesignName[];
/** For a design the table does not know (a hand-written report): vega's default scheme. */
const OTHER_COLORS = ['#eeca3b', '#ff9da6', '#9d755d', '#bab0ac'];
const KINDS: TimelineEntry['kind'][] = ['world-switch', 'exit', 'pmi', 'tick', 'rotation'];
const KIND_COLORS = ['#4c78a8', '#e45756', '#f58518', '#72b7b2', '#b279a2'];

const CONFIG = {
  font: 'sans-serif',
  background: '#ffffff',
  view: { stroke: null },
  axis: { labelFontSize: 11, titleFontSize: 12, titleFontWeight: 'normal', gridColor: '#e8e8e8' },
  legend: { labelFontSize: 11, titleFontSize: 12, titleFontWeight: 'normal' },
  header: { labelFontSize: 12, titleFontSize: 12 },
} as const;

const designColor = (designs: string[]) => {
  const known = DESIGNS.filter((d) => designs.includes(d));
  const others = designs.filter((d) => !DESIGNS.includes(d as VpmuDesignName));
  return {
    field: 'design',
    type: 'nominal' as const,
    title: 'design',
    scale: {
      domain: [...known, ...others],
      range: [
        ...known.map((d) => DESIGN_COLORS[d]),
        ...others.map((_, i) => OTHER_COLORS[i % OTHER_COLORS.length]),
      ],
    },
  };
};

let chartNumber = 0;

/** Compiles a vega-lite spec and renders it to an SVG string, ids made unique in the page. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const compiled = compile({ config: CONFIG, ...spec }, { logger: QUIET }).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none', logLevel: 0 });
  try {
    const svg = await view.toSVG();
    const prefix = `c${++chartNumber}-`;
    return svg
      .replace(/\bid="([^"]+)"/g, `id="${prefix}$1"`)
      .replace(/url\(#([^)]+)\)/g, `url(#${prefix}$1)`);
  } finally {
    view.finalize();
  }
}

/** (a) Overhead per design; the published figure as a second bar beside it. */
export function overheadSpec(report: SimulationReport): TopLevelSpec | undefined {
  if (report.results.length === 0) return undefined;
  const published = report.published?.overheadPercent ?? {};
  const values: { design: string; series: string; overhead: number }[] = [];
  for (const r of report.results) {
    values.push({ design: r.design, series: 'simulated', overhead: r.overheadPercent });
    const figure = published[r.design];
    if (figure !== undefined)
      values.push({ design: r.design, series: 'published', overhead: figure });
  }
  const series = [...new Set(values.map((v) => v.series))];
  return {
    data: { values },
    width: Math.max(240, report.results.length * series.length * 44 + report.results.length * 30),
    height: 240,
    encoding: {
      x: {
        field: 'design',
        type: 'nominal',
        sort: report.results.map((r) => r.design),
        axis: { labelAngle: 0, title: null },
      },
      xOffset: { field: 'series', type: 'nominal', sort: ['simulated', 'published'] },
      y: { field: 'overhead', type: 'quantitative', title: 'overhead (%)' },
      color: {
        field: 'series',
        type: 'nominal',
        title: null,
        scale: { domain: ['simulated', 'published'], range: ['#4c78a8', '#bab0ac'] },
        legend: series.length > 1 ? { orient: 'top' } : null,
      },
    },
    layer: [
      { mark: { type: 'bar' } },
      {
        mark: { type: 'text', dy: -6, fontSize: 10 },
        encoding: { text: { field: 'overhead', type: 'quantitative', format: '.2f' } },
      },
    ],
  };
}

/** (b) Guest count error % per event per design. Non-finite errors are left out (listed by the page). */
export function errorSpec(report: SimulationReport): TopLevelSpec | undefined {
  const guests = new Set(report.results.flatMap((r) => r.guestEvents.map((e) => e.guest)));
  const values = report.results.flatMap((r) =>
    r.guestEvents
      .filter((e) => Number.isFinite(e.errorPercent))
      .map((e) => ({
        event: guests.size > 1 ? `${e.guest}: ${e.event}` : e.event,
        design: r.design,
        error: e.errorPercent,
      })),
  );
  if (values.length === 0) return undefined;
  const events = [...new Set(values.map((v) => v.event))];
  const designs = report.results.map((r) => r.design);
  return {
    data: { values },
    width: Math.min(960, Math.max(320, events.length * (designs.length * 12 + 16))),
    height: 240,
    layer: [
      {
        mark: { type: 'bar' },
        encoding: {
          x: {
            field: 'event',
            type: 'nominal',
            sort: events,
            axis: { title: null, labelAngle: events.length > 6 ? -35 : 0, labelLimit: 220 },
          },
          xOffset: { field: 'design', type: 'nominal', sort: designs },
          y: { field: 'error', type: 'quantitative', title: 'count error (%)' },
          color: { ...designColor(designs), legend: { orient: 'top' } },
        },
      },
      {
        // A tick at each value: an exact count (error 0) still shows, where its bar has no height.
        mark: { type: 'tick', orient: 'horizontal', thickness: 2 },
        encoding: {
          x: { field: 'event', type: 'nominal', sort: events },
          xOffset: { field: 'design', type: 'nominal', sort: designs },
          y: { field: 'error', type: 'quantitative' },
          color: { ...designColor(designs), legend: null },
        },
      },
      { mark: { type: 'rule', color: '#444' }, encoding: { y: { datum: 0 } } },
    ],
  };
}

type TimeUnit = readonly [limitNs: number, unit: string, ns: number];
const LARGEST_TIME_UNIT: TimeUnit = [Infinity, 'ms', 1e6];
const TIME_UNITS: readonly TimeUnit[] = [
  [10_000, 'ns', 1],
  [10_000_000, 'µs', 1e3],
  LARGEST_TIME_UNIT,
];

/** At most this many entries per design are drawn. */
export const TIMELINE_LIMIT = 2000;

/**
 * (c) The timeline window of each design: time since the window's first entry
 * on x, one lane per guest and kind on y, coloured by kind.
 */
export function timelineSpec(report: SimulationReport): TopLevelSpec | undefined {
  const withEntries = report.results.filter((r) => r.timeline.length > 0);
  if (withEntries.length === 0) return undefined;
  const guests = new Set(withEntries.flatMap((r) => r.timeline.map((t) => t.guest)));
  let span = 0;
  for (const r of withEntries) {
    const times = r.timeline.slice(0, TIMELINE_LIMIT).map((t) => t.timeNs);
    span = Math.max(span, Math.max(...times) - Math.min(...times));
  }
  // The largest unit when nothing is below its limit (a span that is NaN).
  const [, unit, ns] = TIME_UNITS.find(([limit]) => span < limit) ?? LARGEST_TIME_UNIT;
  const lanes: string[] = [];
  const values = withEntries.flatMap((r) => {
    const entries = r.timeline.slice(0, TIMELINE_LIMIT);
    const start = Math.min(...entries.map((t) => t.timeNs));
    return entries.map((t) => {
      const lane = guests.size > 1 ? `${t.guest} ${t.kind}` : t.kind;
      lanes.push(lane);
      return {
        design: r.design,
        time: (t.timeNs - start) / ns,
        lane,
        kind: t.kind,
        label: t.label,
      };
    });
  });
  const laneOrder = [...new Set(lanes)].sort((a, b) => {
    const kind = (lane: string) => KINDS.findIndex((k) => lane.endsWith(k));
    const guest = (lane: string) => (guests.size > 1 ? lane.slice(0, lane.lastIndexOf(' ')) : '');
    return guest(a).localeCompare(guest(b)) || kind(a) - kind(b);
  });
  const kinds = KINDS.filter((k) => values.some((v) => v.kind === k));
  return {
    data: { values },
    facet: {
      row: {
        field: 'design',
        type: 'nominal',
        sort: withEntries.map((r) => r.design),
        title: null,
        header: { labelAngle: 0, labelAlign: 'left', labelAnchor: 'start', labelOrient: 'top' },
      },
    },
    spacing: 12,
    resolve: { scale: { x: 'independent', y: 'independent' } },
    spec: {
      width: 720,
      height: { step: 16 },
      mark: { type: 'tick', thickness: 2, orient: 'vertical' },
      encoding: {
        x: {
          field: 'time',
          type: 'quantitative',
          title: `time since the window's first entry (${unit})`,
        },
        y: { field: 'lane', type: 'nominal', sort: laneOrder, title: null },
        color: {
          field: 'kind',
          type: 'nominal',
          title: 'kind',
          scale: { domain: kinds, range: kinds.map((k) => item(KIND_COLORS, KINDS.indexOf(k))) },
          legend: { orient: 'top' },
        },
      },
    },
  };
}

/** Parameters drawn by name in the cycles chart; the rest are summed as 'other'. */
const CYCLES_TOP = 9;

/** Where the cycles went: cost-model cycles per parameter, stacked per design. */
export function cyclesSpec(report: SimulationReport): TopLevelSpec | undefined {
  const totals = new Map<string, number>();
  for (const r of report.results) {
    for (const c of r.costBreakdown)
      totals.set(c.parameter, (totals.get(c.parameter) ?? 0) + c.cycles);
  }
  const ranked = [...totals].filter(([, cycles]) => cycles > 0).sort((a, b) => b[1] - a[1]);
  if (ranked.length === 0) return undefined;
  const named = new Set(ranked.slice(0, CYCLES_TOP).map(([name]) => name));
  const values: { design: string; parameter: string; cycles: number }[] = [];
  for (const r of report.results) {
    const byParameter = new Map<string, number>();
    for (const c of r.costBreakdown) {
      if (c.cycles <= 0) continue;
      const key = named.has(c.parameter) ? c.parameter : 'other parameters';
      byParameter.set(key, (byParameter.get(key) ?? 0) + c.cycles);
    }
    for (const [parameter, cycles] of byParameter)
      values.push({ design: r.design, parameter, cycles });
  }
  const order = [...named, ...(ranked.length > CYCLES_TOP ? ['other parameters'] : [])];
  return {
    data: { values },
    width: 640,
    height: { step: 26 },
    mark: { type: 'bar' },
    encoding: {
      y: {
        field: 'design',
        type: 'nominal',
        sort: report.results.map((r) => r.design),
        title: null,
      },
      x: {
        field: 'mcycles',
        type: 'quantitative',
        aggregate: 'sum',
        title: 'million cycles',
      },
      color: {
        field: 'parameter',
        type: 'nominal',
        title: 'cost parameter',
        sort: order,
        scale: { scheme: 'tableau10', domain: order },
        legend: { orient: 'bottom', columns: 3, labelLimit: 280 },
      },
      order: { field: 'rank', type: 'quantitative' },
    },
    transform: [
      { calculate: `indexof(${JSON.stringify(order)}, datum.parameter)`, as: 'rank' },
      { calculate: 'datum.cycles / 1e6', as: 'mcycles' },
    ],
  };
}

/** A sweep: each design's overhead, and its mean |error|, against the swept value. */
export function sweepSpec(summary: SweepSummary): TopLevelSpec | undefined {
  if (summary.rows.length === 0 || summary.designs.length === 0) return undefined;
  const numeric = summary.rows.every(
    (r) => r.value.trim() !== '' && Number.isFinite(Number(r.value)),
  );
  const values = summary.rows.flatMap((row, i) =>
    summary.designs.flatMap((design) => {
      const overhead = row.overheadPercent[design];
      if (overhead === undefined) return [];
      return [
        {
          x: numeric ? Number(row.value) : row.value,
          order: i,
          design,
          overhead,
          error: row.meanAbsErrorPercent[design] ?? null,
        },
      ];
    }),
  );
  const integers = numeric && summary.rows.every((r) => Number.isInteger(Number(r.value)));
  const x = numeric
    ? {
        field: 'x',
        type: 'quantitative',
        title: summary.parameter,
        axis: integers ? { format: 'd', tickMinStep: 1 } : { format: '~g' },
      }
    : {
        field: 'x',
        type: 'ordinal',
        title: summary.parameter,
        sort: summary.rows.map((r) => r.value),
        axis: { labelAngle: 0 },
      };
  const panel = (field: string, title: string) => ({
    width: 560,
    height: 200,
    mark: { type: 'line', point: true },
    encoding: {
      x,
      y: { field, type: 'quantitative', title },
      color: { ...designColor(summary.designs), legend: { orient: 'top' } },
      order: { field: 'order', type: 'quantitative' },
    },
  });
  const panels: object[] = [panel('overhead', 'overhead (%)')];
  if (values.some((v) => v.error !== null)) {
    panels.push({
      ...panel('error', 'mean |count error| (%)'),
      transform: [{ filter: 'datum.error !== null' }],
    });
  }
  return { data: { values }, vconcat: panels, spacing: 24 } as TopLevelSpec;
}
