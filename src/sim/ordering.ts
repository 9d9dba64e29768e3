/**
 * The headline check: does the simulated ordering of the designs' overheads
 * match the published one (emulated >> mediated >= passthrough-all)? A
 * simulated pair ordered against the published pair fails the check; pairs
 * published as (nearly) equal are not judged.
 */
import type { SimulationReport } from './results.ts';

export interface OrderingCheck {
  ok: boolean;
  /** A sentence for the report, or '' when the scenario has no published figure. */
  message: string;
}

export function orderingCheck(report: SimulationReport): OrderingCheck {
  const published = report.published?.overheadPercent;
  if (!published) return { ok: true, message: '' };
  const simulated = new Map(report.results.map((r) => [r.design, r.overheadPercent]));
  const designs = report.results.map((r) => r.design).filter((d) => published[d] !== undefined);
  const byPublished = [...designs].sort((a, b) => published[b]! - published[a]!);
  const violations: string[] = [];
  for (let i = 0; i < byPublished.length; i++) {
    for (let j = i + 1; j < byPublished.length; j++) {
      const hi = byPublished[i]!;
      const lo = byPublished[j]!;
      if (simulated.get(hi)! < simulated.get(lo)!) violations.push(`${hi} < ${lo}`);
    }
  }
  const order = byPublished.map((d) => `${d} ${simulated.get(d)!.toFixed(2)}%`).join(' > ');
  if (violations.length === 0) return { ok: true, message: `ordering as published: ${order}` };
  return { ok: false, message: `ordering differs from the published one: ${violations.join(', ')} (simulated: ${order})` };
}
