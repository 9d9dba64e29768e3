/**
 * The headline check: does the simulated ordering of the designs' overheads
 * match the published one (emulated >> mediated >= passthrough-all)? A pair
 * the publication orders that comes out the other way round is an inversion
 * and fails the check (`vpmu run` exits 1); a simulated tie is not an
 * inversion, and a published tie is not judged. The reports show the same
 * verdict.
 */
import type { SimulationReport } from './results.ts';
import { item } from '../common/item.ts';

export type Relation = '>>' | '>' | '~';

/** How two overheads compare: '>>' at least twice and 1 percentage point apart, '>' at least 0.005 points apart (visible at two decimals), else '~'. */
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
      const text = `${p.design} ${p.overheadPercent.toFixed(2)}%`;
      return next ? `${text} ${relation(p.overheadPercent, next.overheadPercent)} ` : text;
    })
    .join('');
}

export interface OrderingCheck {
  /** The simulated ordering, highest overhead first. */
  simulated: string;
  /** The published ordering of the designs both have; absent without a published figure. */
  published?: string;
  /** Whether every pair the publication orders comes out the same way; absent without a published figure. */
  consistent?: boolean;
  /** Pairs that came out the other way round: 'mediated above emulated'. */
  inversions: string[];
  /** False only when the publication's ordering is contradicted. */
  ok: boolean;
  /** A sentence for the command line ('' without a published figure). */
  message: string;
}

export function orderingCheck(report: SimulationReport): OrderingCheck {
  const simulated = report.results.map((r) => ({
    design: r.design,
    overheadPercent: r.overheadPercent,
  }));
  const check: OrderingCheck = {
    simulated: orderingText(simulated),
    inversions: [],
    ok: true,
    message: '',
  };
  const published = report.published?.overheadPercent;
  if (!published) return check;
  const both = simulated.filter((p) => Number.isFinite(published[p.design]));
  if (both.length === 0) return check;
  check.published = orderingText(
    both.map((p) => ({ design: p.design, overheadPercent: item(published, p.design) })),
  );
  for (const a of both) {
    for (const b of both) {
      if (
        item(published, a.design) > item(published, b.design) &&
        a.overheadPercent < b.overheadPercent
      ) {
        check.inversions.push(`${b.design} above ${a.design}`);
      }
    }
  }
  check.consistent = check.inversions.length === 0;
  check.ok = check.consistent;
  check.message = check.ok
    ? `ordering as published: ${check.simulated}`
    : `ordering differs from the published one: ${check.inversions.join(', ')} (simulated: ${check.simulated}; published: ${check.published})`;
  return check;
}
