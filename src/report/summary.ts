/**
 * Derived figures the three report formats share: design names, the overhead
 * ordering and how it compares with the published one, mean count error,
 * exits by reason across designs, and the rows of a sweep.
 */
import type { VpmuDesignName } from '../kvm/vpmu-design.ts';
import type { DesignResult, GuestRefusal, SimulationReport } from '../sim/results.ts';
import { deepFreeze } from '../common/freeze.ts';
import { LIKE_FOR_LIKE_FACTOR, likeForLike } from '../sim/like-for-like.ts';
import { formatCount, formatPercent } from './format.ts';

/**
 * Why a guest event is named under its table, in the words the text and HTML
 * reports both print after the names.
 */
export const GUEST_EVENT_NOTES = deepFreeze({
  throttled:
    'the guest kernel lowered its sample rate: PMIs took too long; a throttled event stops counting until the next tick',
  filtered:
    "the VM's event filter stops the counter each is on: KVM counts nothing there, and the guest is not told",
} as const);

/** What each design is, in the words of docs/mediated-vpmu.md. */
export const DESIGN_TITLES: Record<VpmuDesignName, string> = deepFreeze({
  emulated: 'perf-emulated vPMU (legacy)',
  mediated: 'mediated vPMU of Linux 7.0 (selectors intercepted)',
  'passthrough-all': 'everything passed through (7.0 world switch)',
  'mediated-topdown': '7.0 with the posted topdown series (fixed counter 3, PERF_METRICS)',
  'passthrough-all-topdown': 'everything passed through (topdown series)',
  'rfc-v1': 'passthrough vPMU of RFC v1, Jan 2024 (selectors intercepted)',
  'rfc-v1-passthrough-all': 'RFC v1 with everything passed through',
  none: 'no vPMU',
});

export function designTitle(design: string): string {
  return DESIGN_TITLES[design as VpmuDesignName] ?? design;
}

/** A refusal's message without the errno it may start with ('EBUSY: ...'), which the reports print apart. */
export function refusalMessage(refusal: GuestRefusal): string {
  const prefix = `${refusal.errno}:`;
  return refusal.message.startsWith(prefix)
    ? refusal.message.slice(prefix.length).trimStart()
    : refusal.message;
}

/**
 * Mean |error %| over a design's guest events with a finite error; undefined
 * when there is none. An event perf refused measured nothing: it is left out.
 */
export function meanAbsErrorPercent(result: DesignResult): number | undefined {
  const errors = result.guestEvents
    .filter((e) => e.refused === undefined)
    .map((e) => e.errorPercent)
    .filter((e) => Number.isFinite(e));
  if (errors.length === 0) return undefined;
  return errors.reduce((sum, e) => sum + Math.abs(e), 0) / errors.length;
}

// The ordering check is the simulator's (it decides `vpmu run`'s exit code); the reports show it.
export {
  orderingCheck,
  orderingText,
  relation,
  type OrderingCheck,
  type Relation,
} from '../sim/ordering.ts';

/** Exit reasons over all designs, most frequent first (ties by name). */
export function exitReasons(results: DesignResult[]): string[] {
  const totals = new Map<string, number>();
  for (const r of results) {
    for (const [reason, n] of Object.entries(r.exits))
      totals.set(reason, (totals.get(reason) ?? 0) + n);
  }
  return [...totals]
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .map(([reason]) => reason);
}

/** Designs in the order they first appear across reports. */
export function designsOf(reports: SimulationReport[]): VpmuDesignName[] {
  const seen = new Set<VpmuDesignName>();
  for (const report of reports) for (const r of report.results) seen.add(r.design);
  return [...seen];
}

export interface SweepRow {
  value: string;
  overheadPercent: Partial<Record<VpmuDesignName, number>>;
  meanAbsErrorPercent: Partial<Record<VpmuDesignName, number>>;
}

export interface SweepSummary {
  /** The swept parameter ('sweep' when the reports do not say). */
  parameter: string;
  designs: VpmuDesignName[];
  rows: SweepRow[];
}

export function sweepSummary(reports: SimulationReport[]): SweepSummary {
  return {
    parameter: reports.find((r) => r.sweep)?.sweep?.parameter ?? 'sweep',
    designs: designsOf(reports),
    rows: reports.map((report, i) => {
      const row: SweepRow = {
        value: report.sweep?.value ?? String(i + 1),
        overheadPercent: {},
        meanAbsErrorPercent: {},
      };
      for (const r of report.results) {
        row.overheadPercent[r.design] = r.overheadPercent;
        const error = meanAbsErrorPercent(r);
        if (error !== undefined) row.meanAbsErrorPercent[r.design] = error;
      }
      return row;
    }),
  };
}

/** The facts under a report's title, in order: label, value, and the phrase the terminal prints. */
export function reportFacts(
  report: SimulationReport,
): { label: string; value: string; phrase: string }[] {
  const facts = [
    { label: 'CPU', value: report.cpu, phrase: `cpu ${report.cpu}` },
    { label: 'cost model', value: report.costModel, phrase: `cost model ${report.costModel}` },
    {
      label: 'simulated time',
      value: `${report.duration} s`,
      phrase: `${report.duration} s simulated`,
    },
    { label: 'seed', value: String(report.seed), phrase: `seed ${report.seed}` },
  ];
  if (report.sweep) {
    const { parameter, value } = report.sweep;
    facts.push({
      label: 'sweep',
      value: `${parameter} = ${value}`,
      phrase: `${parameter}=${value}`,
    });
  }
  return facts;
}

/** The like-for-like table both reports print: a header row, one row per published figure, and a note per disagreement. */
export interface LikeForLikeTable {
  head: string[];
  rows: string[][];
  /** The published source, for the caption. */
  source: string;
  /** One sentence per figure outside the factor, naming the operation that dominates. */
  notes: string[];
  /** Whether every simulated figure agrees within the factor. */
  allAgree: boolean;
}

export function likeForLikeTable(report: SimulationReport): LikeForLikeTable | undefined {
  const rows = likeForLike(report);
  if (!report.published || rows.length === 0) return undefined;
  const pct = (v: number | undefined) => (v === undefined ? 'not run' : formatPercent(v));
  return {
    head: ['measured on', 'published', 'simulated', 'ratio', 'Linux 7.0 design', '7.0 simulated'],
    rows: rows.map((r) => [
      r.design,
      formatPercent(r.published),
      pct(r.simulated),
      r.ratio === undefined ? '-' : `${r.ratio.toFixed(2)}x ${r.agrees ? 'within' : 'outside'}`,
      r.linux70Design,
      pct(r.linux70Simulated),
    ]),
    source: `${report.published.test}; ${report.published.source}`,
    notes: rows.flatMap(({ design, dominant: d, simulated }) =>
      d && simulated !== undefined
        ? [
            `${design} is outside ${LIKE_FOR_LIKE_FACTOR}x: its largest priced operation is ${d.parameter}, ${d.overheadPoints.toFixed(2)} pp of the simulated ${formatPercent(simulated)} (${formatCount(d.count)} times)`,
          ]
        : [],
    ),
    allAgree: rows.every((r) => r.agrees === true),
  };
}
