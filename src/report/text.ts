/**
 * The terminal report: what a perf user recognises. Per design, a perf stat
 * block per guest (count, truth, error, and the `(xx.xx%)` perf prints for a
 * multiplexed event), perf record's samples against the expected number, host
 * events and refusals; then the overhead of each design beside the published
 * figure, and exits, PMIs and MSR accesses by design.
 */
import { printable } from '../common/printable.ts';
import Table from 'cli-table3';
import pc from 'picocolors';
import type {
  DesignResult,
  GuestEventResult,
  HostEventResult,
  SimulationReport,
} from '../sim/results.ts';
import {
  formatCount,
  formatPercent,
  formatRunning,
  formatSignedPercent,
  countedCell,
  notCounted,
} from './format.ts';
import {
  designTitle,
  exitReasons,
  likeForLikeTable,
  meanAbsErrorPercent,
  orderingCheck,
  refusalMessage,
  reportFacts,
  sweepSummary,
  type SweepSummary,
  GUEST_EVENT_NOTES,
} from './summary.ts';
import { item } from '../common/item.ts';

export interface TextOptions {
  /** ANSI colour; the CLI passes `process.stdout.isTTY && !process.env.NO_COLOR`. */
  color: boolean;
}

type Colors = ReturnType<typeof pc.createColors>;
type Row = Table.HorizontalTableRow;

const BLANK_CHARS = {
  top: '',
  'top-mid': '',
  'top-left': '',
  'top-right': '',
  bottom: '',
  'bottom-mid': '',
  'bottom-left': '',
  'bottom-right': '',
  left: '  ',
  'left-mid': '',
  mid: '',
  'mid-mid': '',
  right: '',
  'right-mid': '',
  middle: '  ',
};

/** A borderless table, as perf prints them; lines indented by two spaces, no trailing blanks. */
function table(rows: Row[], align: Table.HorizontalAlignment[], indent = '  '): string {
  const t = new Table({
    chars: { ...BLANK_CHARS, left: indent },
    style: { head: [], border: [], 'padding-left': 0, 'padding-right': 0 },
    colAligns: align,
  });
  t.push(...rows);
  return t
    .toString()
    .split('\n')
    .map((line) => line.trimEnd())
    .join('\n');
}

function colorError(c: Colors, errorPercent: number | undefined): string {
  if (errorPercent === undefined) return '';
  const text = formatSignedPercent(errorPercent);
  const size = Math.abs(errorPercent);
  if (!Number.isFinite(size) || size >= 10) return c.red(text);
  if (size >= 1) return c.yellow(text);
  return c.green(text);
}

function header(report: SimulationReport, c: Colors): string[] {
  const lines = [c.bold(`vpmu: ${printable(report.scenario)}`)];
  if (report.description) lines.push(`  ${printable(report.description)}`);
  lines.push(
    `  ${reportFacts(report)
      .map((f) => f.phrase)
      .join(', ')}`,
  );
  return lines;
}

/** The published figures against the designs that produced them, Linux 7.0's beside. */
function likeForLikeBlock(report: SimulationReport, c: Colors): string[] {
  const t = likeForLikeTable(report);
  if (!t) return [];
  return [
    c.bold(`Published figures, like for like (${printable(t.source)})`),
    table(
      [t.head.map((h) => c.dim(h)), ...t.rows],
      ['left', 'right', 'right', 'right', 'left', 'right'],
    ),
    ...t.notes.map((n) => `  ${c.yellow(n)}`),
  ];
}

function overheadSummary(report: SimulationReport, c: Colors): string[] {
  const lines = [c.bold('Overhead (guest work lost to virtualization and PMU handling)')];
  if (report.results.length === 0) return [...lines, '  no design was simulated'];
  const published = report.published?.overheadPercent;
  const head: string[] = [
    'design',
    'simulated',
    ...(published ? ['published', 'difference'] : []),
    'exits',
    'PMIs',
    'mean |error|',
  ];
  const rows: Row[] = [head.map((h) => c.dim(h))];
  for (const r of report.results) {
    const figure = published?.[r.design];
    const row: Row = [r.design, formatPercent(r.overheadPercent)];
    if (published) {
      row.push(
        figure === undefined ? '-' : formatPercent(figure),
        figure === undefined
          ? ''
          : `${formatSignedPercent(r.overheadPercent - figure).replace('%', '')} pp`,
      );
    }
    const error = meanAbsErrorPercent(r);
    row.push(
      formatCount(r.totalExits),
      formatCount(r.guestPmis),
      error === undefined ? '-' : formatPercent(error),
    );
    rows.push(row);
  }
  lines.push(
    table(rows, [
      'left',
      'right',
      ...(published ? (['right', 'right'] as const) : []),
      'right',
      'right',
      'right',
    ]),
  );
  const check = orderingCheck(report);
  lines.push(`  ordering:  ${check.simulated}`);
  if (report.published && check.published !== undefined) {
    lines.push(
      `  published: ${check.published}  (${report.published.test}; ${report.published.source})`,
    );
    lines.push(
      check.consistent
        ? `  ${c.green('the simulated ordering matches the published one')}`
        : `  ${c.red(`the simulated ordering differs from the published one: ${check.inversions.join(', ')}`)}`,
    );
  }
  return lines;
}

function guestBlock(guest: string, events: GuestEventResult[], c: Colors): string[] {
  const sampling = events.some((e) => e.samples !== undefined || e.expectedSamples !== undefined);
  const head = [
    'counted',
    'event',
    'truth',
    'error',
    '',
    ...(sampling ? ['samples', 'expected', 'error'] : []),
  ];
  const rows: Row[] = [head.map((h) => c.dim(h))];
  for (const e of events) {
    const row: Row = [
      countedCell(e),
      e.event,
      formatCount(e.truth),
      colorError(c, e.errorPercent),
      formatRunning(e.timeEnabledNs, e.timeRunningNs),
    ];
    if (sampling) {
      const samplesError =
        e.samples !== undefined && e.expectedSamples !== undefined && e.expectedSamples > 0
          ? ((e.samples - e.expectedSamples) / e.expectedSamples) * 100
          : undefined;
      row.push(
        e.samples === undefined ? '' : formatCount(e.samples),
        e.expectedSamples === undefined ? '' : formatCount(e.expectedSamples),
        colorError(c, samplesError),
      );
    }
    rows.push(row);
  }
  const align: Table.HorizontalAlignment[] = [
    'right',
    'left',
    'right',
    'right',
    'left',
    'right',
    'right',
    'right',
  ];
  // perf record reports throttling; say which events stopped counting for a while, and why.
  const throttled = events.flatMap((e) =>
    e.throttled ? [{ event: e.event, times: e.throttled }] : [],
  );
  const notes = throttled.length
    ? [
        `    throttled: ${throttled.map((e) => `${e.event} ${formatCount(e.times)}x`).join(', ')}` +
          ` (${GUEST_EVENT_NOTES.throttled})`,
      ]
    : [];
  // The guest cannot tell a filtered counter from an idle one; the report can.
  const filtered = events.filter((e) => e.filtered).map((e) => printable(e.event));
  if (filtered.length)
    notes.push(`    filtered: ${filtered.join(', ')} (${GUEST_EVENT_NOTES.filtered})`);
  return [
    ` Performance counter stats for guest '${guest}':`,
    '',
    table(rows, align, '    '),
    ...notes,
    '',
  ];
}

function hostRow(h: HostEventResult, c: Colors): Row {
  if (h.refused) {
    return [
      printable(h.name),
      h.event,
      { content: c.red(`<refused: ${h.refused}>`), colSpan: 4, hAlign: 'left' },
    ];
  }
  const counted =
    h.counted === undefined
      ? '-'
      : notCounted(h.timeEnabledNs, h.timeRunningNs)
        ? '<not counted>'
        : formatCount(h.counted);
  return [
    printable(h.name),
    h.event,
    counted,
    h.truth === undefined ? '-' : formatCount(h.truth),
    colorError(c, h.errorPercent),
    formatRunning(h.timeEnabledNs, h.timeRunningNs),
  ];
}

function designBlock(r: DesignResult, c: Colors): string[] {
  const lines = [
    c.bold(
      `== ${r.design}: ${designTitle(r.design)}, overhead ${formatPercent(r.overheadPercent)} ==`,
    ),
    ...(r.ranAs !== undefined
      ? [
          c.yellow(
            `this host's PMU cannot run ${r.design}: KVM kept the ${designTitle(r.ranAs)} for its guests, and these are its figures`,
          ),
        ]
      : []),
    '',
  ];
  const guests = [...new Set(r.guestEvents.map((e) => e.guest))];
  for (const guest of guests) {
    lines.push(
      ...guestBlock(
        guest,
        r.guestEvents.filter((e) => e.guest === guest),
        c,
      ),
    );
  }
  if (guests.length === 0) lines.push('  no guest events', '');
  if (r.hostEvents.length > 0) {
    const rows: Row[] = [['name', 'event', 'counted', 'truth', 'error', ''].map((h) => c.dim(h))];
    rows.push(...r.hostEvents.map((h) => hostRow(h, c)));
    lines.push(
      ' Host events:',
      '',
      table(rows, ['left', 'left', 'right', 'right', 'right', 'left'], '    '),
      '',
    );
  }
  if (r.refusals.length > 0) {
    lines.push(' Guests refused:', '');
    const rows: Row[] = r.refusals.map((g) => [g.guest, c.red(g.errno), refusalMessage(g)]);
    lines.push(table(rows, ['left', 'left', 'left'], '    '), '');
  }
  return lines;
}

function exitsTable(report: SimulationReport, c: Colors): string[] {
  const results = report.results;
  if (results.length === 0) return [];
  const designs = results.map((r) => c.dim(r.design));
  const align: Table.HorizontalAlignment[] = ['left', ...results.map(() => 'right' as const)];
  const exitRows: Row[] = [[c.dim('reason'), ...designs]];
  for (const reason of exitReasons(results)) {
    exitRows.push([reason, ...results.map((r) => formatCount(r.exits[reason] ?? 0))]);
  }
  exitRows.push([c.bold('total'), ...results.map((r) => c.bold(formatCount(r.totalExits)))]);
  const workRows: Row[] = [
    [c.dim(''), ...designs],
    ['PMIs injected', ...results.map((r) => formatCount(r.guestPmis))],
    ['rdmsr', ...results.map((r) => formatCount(r.msrAccesses.rdmsr))],
    ['wrmsr', ...results.map((r) => formatCount(r.msrAccesses.wrmsr))],
    ['rdpmc', ...results.map((r) => formatCount(r.msrAccesses.rdpmc))],
    ['elapsed cycles', ...results.map((r) => formatCount(r.elapsedCycles))],
    ['guest work cycles', ...results.map((r) => formatCount(r.workCycles))],
  ];
  return [
    c.bold('VM-exits by reason'),
    table(exitRows, align),
    '',
    c.bold('PMIs and PMU MSR accesses'),
    table(workRows, align),
  ];
}

/** The whole report of one run, for a terminal. */
export function renderText(report: SimulationReport, options: TextOptions): string {
  const c = pc.createColors(options.color);
  const lines = [
    ...header(report, c),
    '',
    ...overheadSummary(report, c),
    '',
    ...likeForLikeBlock(report, c),
    '',
  ];
  for (const r of report.results) lines.push(...designBlock(r, c));
  lines.push(...exitsTable(report, c));
  return `${lines
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trimEnd()}\n`;
}

/**
 * A sweep: one row per swept value, each design's overhead and mean |error|.
 * `summary` is the reports' own unless given (a merge of shards gives the
 * unrounded rows the shards carried).
 */
export function renderSweepText(
  reports: SimulationReport[],
  summary: SweepSummary = sweepSummary(reports),
): string {
  if (reports.length === 0) return 'no sweep results\n';
  const first = item(reports, 0);
  const head: Row = [
    '',
    ...summary.designs.map((d) => ({ content: d, colSpan: 2, hAlign: 'center' as const })),
  ];
  const sub: Row = [
    summary.parameter,
    ...summary.designs.flatMap(() => ['overhead', 'mean |error|']),
  ];
  const rows: Row[] = [head, sub];
  for (const row of summary.rows) {
    const cells: Row = [row.value];
    for (const d of summary.designs) {
      const overhead = row.overheadPercent[d];
      const error = row.meanAbsErrorPercent[d];
      cells.push(
        overhead === undefined ? '-' : formatPercent(overhead),
        error === undefined ? '-' : formatPercent(error),
      );
    }
    rows.push(cells);
  }
  const align: Table.HorizontalAlignment[] = [
    'left',
    ...summary.designs.flatMap(() => ['right', 'right'] as const),
  ];
  const lines = [
    `vpmu: ${printable(first.scenario)}, sweep of ${printable(summary.parameter)} (${reports.length} runs, seed ${first.seed})`,
    '',
    table(rows, align),
  ];
  return `${lines.join('\n')}\n`;
}
