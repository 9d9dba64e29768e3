/**
 * Derived figures the three report formats share: design names, the overhead
 * ordering and how it compares with the published one, mean count error,
 * exits by reason across designs, and the rows of a sweep.
 */
import type { VpmuDesignName } from '../kvm/vpmu-design.ts';
import type { DesignResult, GuestRefusal, SimulationReport } from '../sim/results.ts';
import { formatPercent } from './format.ts';

/** What each design is, in the words of docs/mediated-vpmu.md. */
export const DESIGN_TITLES: Record<VpmuDesignName, string> = {
  emulated: 'perf-emulated vPMU (legacy)',
  mediated: 'mediated vPMU (selectors intercepted)',
  'passthrough-all': 'everything passed through',
  none: 'no vPMU',
};

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

/** Mean |error %| over a design's guest events with a finite error; undefined when there is none. */
export function meanAbsErrorPercent(result: DesignResult): number | undefined {
  const errors = result.guestEvents.map((e) => e.errorPercent).filter((e) => Number.isFinite(e));
  if (errors.length === 0) return undefined;
  return errors.reduce((sum, e) => sum + Math.abs(e), 0) / errors.length;
}

export type Relation = '>>' | '>' | '~';

/** How two overheads compare: '>>' at least twice and a point apart, '>' apart at 0.01 %, else '~'. */
export function relation(a: number, b: number): Relation {
  if (a - b >= 1 && a >= 2 * b) return '>>';
  if (a - b >= 0.005) return '>';
  return '~';
}

interface Point {
  design: string;
  overheadPercent: number;
}

/** 'emulated 33.10% >> mediated 6.30% > passthrough-all 4.10%', highest first. */
export function orderingText(points: Point[]): string {
  const sorted = [...points].sort((a, b) => b.overheadPercent - a.overheadPercent);
  return sorted
    .map((p, i) => {
      const next = sorted[i + 1];
      const text = `${p.design} ${formatPercent(p.overheadPercent)}`;
      return next ? `${text} ${relation(p.overheadPercent, next.overheadPercent)} ` : text;
    })
    .join('');
}

export interface OrderingCheck {
  /** The simulated ordering, highest overhead first. */
  simulated: string;
  /** The published ordering of the designs both have; absent without a published figure. */
  published?: string;
  /**
   * Whether every pair the publication orders comes out the same way (a
   * simulated tie is not an inversion; a published tie is not judged): the
   * rule of src/sim/ordering.ts, which decides `vpmu run`'s exit code.
   */
  consistent?: boolean;
  /** Pairs that came out the other way round: 'mediated above emulated'. */
  inversions: string[];
}

export function orderingCheck(report: SimulationReport): OrderingCheck {
  const simulated = report.results.map((r) => ({
    design: r.design,
    overheadPercent: r.overheadPercent,
  }));
  const check: OrderingCheck = { simulated: orderingText(simulated), inversions: [] };
  const published = report.published?.overheadPercent;
  if (!published) return check;
  const both = simulated.filter((p) => Number.isFinite(published[p.design]));
  if (both.length === 0) return check;
  check.published = orderingText(
    both.map((p) => ({ design: p.design, overheadPercent: published[p.design]! })),
  );
  for (const a of both) {
    for (const b of both) {
      if (published[a.design]! > published[b.design]! && a.overheadPercent < b.overheadPercent) {
        check.inversions.push(`${b.design} above ${a.design}`);
      }
    }
  }
  check.consistent = check.inversions.length === 0;
  return check;
}

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
