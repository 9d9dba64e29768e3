/**
 * The published figures against the design that produced them (like for
 * like), with Linux 7.0's figure beside each. The published table (RFC v1
 * cover letter, Jan 2024) was measured on RFC v1's passthrough vPMU, not on
 * 7.0's mediated vPMU; a scenario keys each published figure by the design
 * that produced it ('rfc-v1', 'rfc-v1-passthrough-all', 'emulated'), and this
 * module compares it with that design's simulated figure.
 *
 * A simulated figure within a factor of LIKE_FOR_LIKE_FACTOR of the published
 * one agrees; otherwise the report names the priced operation (cost-model
 * parameter) with the largest share of the simulated overhead: the one whose
 * price or count the difference most depends on. No cost is fitted to make
 * the figures agree.
 */
import type { VpmuDesignName } from '../kvm/vpmu-design.ts';
import { mediatedDesignName, mediatedDesignOf } from '../kvm/vpmu-design.ts';
import type { DesignResult, SimulationReport } from './results.ts';

/** Agreement: simulated / published within [1 / 1.5, 1.5]. */
export const LIKE_FOR_LIKE_FACTOR = 1.5;

/** A priced operation's part of a design's simulated overhead. */
export interface OperationShare {
  /** The cost-model parameter (docs/cost-model.md). */
  parameter: string;
  /** How often the run performed it. */
  count: number;
  /** Its cycles as percentage points of the design's overhead. */
  overheadPoints: number;
}

export interface LikeForLikeRow {
  /** The design that produced the published figure (its key in the scenario's `published`). */
  design: VpmuDesignName;
  published: number;
  /** The same design simulated; absent when the scenario did not run it. */
  simulated?: number;
  /** simulated / published. */
  ratio?: number;
  /** Whether the ratio lies within [1 / LIKE_FOR_LIKE_FACTOR, LIKE_FOR_LIKE_FACTOR]. */
  agrees?: boolean;
  /** The Linux 7.0 design that corresponds to it (the same design for 'emulated'). */
  linux70Design: VpmuDesignName;
  /** Its simulated figure; absent when not run. */
  linux70Simulated?: number;
  /** When it does not agree: the operation with the largest share of the simulated overhead. */
  dominant?: OperationShare;
}

/** The Linux 7.0 design that corresponds to `design`: the 7.0 series with the same ablation. */
export function linux70Counterpart(design: VpmuDesignName): VpmuDesignName {
  const mediated = mediatedDesignOf(design);
  return mediated ? mediatedDesignName('linux-7.0', mediated.passthroughAll) : design;
}

/**
 * Each priced operation's share of a design's overhead, largest first: the
 * overhead apportioned by the cycles each operation cost (the cost meter's
 * breakdown sums to the cycles the guests lost).
 */
export function operationShares(result: DesignResult): OperationShare[] {
  const total = result.costBreakdown.reduce((sum, e) => sum + e.cycles, 0);
  if (total <= 0) return [];
  return result.costBreakdown
    .map((e) => ({
      parameter: e.parameter,
      count: e.count,
      overheadPoints: (result.overheadPercent * e.cycles) / total,
    }))
    .sort((a, b) => b.overheadPoints - a.overheadPoints || a.parameter.localeCompare(b.parameter));
}

/** One row per published figure, in the scenario's order; empty without published figures. */
export function likeForLike(report: SimulationReport): LikeForLikeRow[] {
  const published = report.published?.overheadPercent ?? {};
  const resultOf = (d: VpmuDesignName) => report.results.find((r) => r.design === d);
  const rows: LikeForLikeRow[] = [];
  for (const [key, figure] of Object.entries(published)) {
    if (figure === undefined) continue;
    const design = key as VpmuDesignName;
    const linux70Design = linux70Counterpart(design);
    const row: LikeForLikeRow = { design, published: figure, linux70Design };
    const result = resultOf(design);
    const linux70 = resultOf(linux70Design);
    if (linux70) row.linux70Simulated = linux70.overheadPercent;
    if (result) {
      row.simulated = result.overheadPercent;
      if (figure > 0) {
        row.ratio = result.overheadPercent / figure;
        row.agrees = row.ratio <= LIKE_FOR_LIKE_FACTOR && row.ratio >= 1 / LIKE_FOR_LIKE_FACTOR;
        const top = operationShares(result)[0];
        if (!row.agrees && top) row.dominant = top;
      }
    }
    rows.push(row);
  }
  return rows;
}

/** A row as one line: 'rfc-v1: published 6.21%, simulated 8.02% (1.29x, within 1.5x); Linux 7.0 (mediated) 19.60%'. */
export function likeForLikeSentence(row: LikeForLikeRow): string {
  const pct = (v: number) => `${v.toFixed(2)}%`;
  let text = `${row.design}: published ${pct(row.published)}, simulated `;
  if (row.simulated === undefined) text += 'not run';
  else {
    text += pct(row.simulated);
    if (row.ratio !== undefined)
      text += ` (${row.ratio.toFixed(2)}x, ${row.agrees ? 'within' : 'outside'} ${LIKE_FOR_LIKE_FACTOR}x)`;
  }
  if (row.linux70Design !== row.design) {
    text += `; Linux 7.0 (${row.linux70Design}) ${row.linux70Simulated === undefined ? 'not run' : pct(row.linux70Simulated)}`;
  }
  if (row.dominant) {
    text += `; largest priced operation: ${row.dominant.parameter} (${row.dominant.overheadPoints.toFixed(2)} pp of the simulated overhead, ${row.dominant.count.toLocaleString('en-US')} times)`;
  }
  return text;
}
