/**
 * The accounting model: VM threads and event threads racing through the
 * mediated-PMU accounting of docs/mediated-vpmu.md section 3.1.
 *
 *   VM thread     R rounds of: perf_create_mediated_pmu(); if it returned 0,
 *                 perf_release_mediated_pmu().
 *   event thread  R rounds of: account an include-guest event on a capable
 *                 PMU; if it returned 0, unaccount it.
 *   exempt thread R rounds of the same for an event on a PMU without
 *                 PERF_PMU_CAP_MEDIATED_VPMU (uncore): perf_event_alloc()
 *                 returns before touching the counters, so it has no shared
 *                 step and can never be refused.
 *   stray release (option) the single VM thread first calls
 *                 perf_release_mediated_pmu() without holding anything (a
 *                 buggy caller): the WARN path. That WARN is expected, and the
 *                 invariant must still hold afterwards.
 */
import { OperationBuilder, type Operation } from '../common/protocol.ts';
import {
  accountingShape,
  NR_INCLUDE_GUEST_EVENTS,
  NR_MEDIATED_PMU_VMS,
} from '../perf/mediated-protocol.ts';
import { CHECKED_ACCOUNTING_VARIANTS } from './accounting-variants.ts';
import {
  Side,
  threadAcquire,
  threadRelease,
  type Call,
  type Model,
  type ThreadSpec,
} from './model-definition.ts';

export interface AccountingParams {
  vms: number;
  events: number;
  rounds: number;
  /** Threads with an exclude_guest=0 event on a PMU that is not mediated-capable. */
  exempt: number;
  strayRelease: boolean;
}

export const DEFAULT_ACCOUNTING_PARAMS: AccountingParams = {
  vms: 1,
  events: 1,
  rounds: 1,
  exempt: 0,
  strayRelease: false,
};

/** perf_event_alloc() for an event on a PMU without the capability: nothing to account. */
const EXEMPT_ACCOUNT: Operation = new OperationBuilder(
  accountingShape,
  'mediated_pmu_account_event',
)
  .ret(0, 'return 0 (PMU not mediated-capable: exempt)')
  .build();
const EXEMPT_UNACCOUNT: Operation = new OperationBuilder(
  accountingShape,
  'mediated_pmu_unaccount_event',
)
  .ret(0, 'return (PMU not mediated-capable: exempt)')
  .build();

export function accountingModel(variantName: string, params: AccountingParams): Model {
  const variant = CHECKED_ACCOUNTING_VARIANTS[variantName];
  if (!variant) throw new RangeError(`unknown accounting variant '${variantName}'`);
  if (params.strayRelease && params.vms !== 1) {
    throw new RangeError('--stray-release needs exactly one VM thread (--vms 1)');
  }
  const ops = variant.protocol.operations;

  const create = threadAcquire(ops.create, Side.MediatedVm, NR_INCLUDE_GUEST_EVENTS);
  const release = threadRelease(ops.release, Side.MediatedVm);
  const account = threadAcquire(ops.account, Side.IncludeGuestEvent, NR_MEDIATED_PMU_VMS);
  const unaccount = threadRelease(ops.unaccount, Side.IncludeGuestEvent);
  const strayRelease: Call = { op: ops.release, expectWarn: true };

  const rounds = (acquire: Call, rel: Call): Call[] =>
    Array.from({ length: params.rounds }, () => [acquire, rel]).flat();

  const threads: ThreadSpec[] = [];
  for (let i = 0; i < params.vms; i++) {
    const calls = rounds(create, release);
    threads.push({
      name: `vm${i}`,
      symmetryClass: 'vm',
      calls: params.strayRelease ? [strayRelease, ...calls] : calls,
    });
  }
  for (let i = 0; i < params.events; i++) {
    threads.push({ name: `event${i}`, symmetryClass: 'event', calls: rounds(account, unaccount) });
  }
  const exemptCalls = rounds({ op: EXEMPT_ACCOUNT }, { op: EXEMPT_UNACCOUNT });
  for (let i = 0; i < params.exempt; i++) {
    threads.push({ name: `exempt${i}`, symmetryClass: 'exempt', calls: exemptCalls });
  }

  const modelParams: Record<string, number | boolean> = {
    vms: params.vms,
    events: params.events,
    rounds: params.rounds,
  };
  if (params.exempt > 0) modelParams.exempt = params.exempt;
  if (params.strayRelease) modelParams['stray-release'] = true;

  return {
    kind: 'accounting',
    variant: variantName,
    params: modelParams,
    protocol: variant.protocol,
    cellLabels: ['vms', 'events'],
    initialCells: [0, 0],
    counterCells: [NR_MEDIATED_PMU_VMS, NR_INCLUDE_GUEST_EVENTS],
    holderSlots: 0,
    threads,
    // create / release and account / unaccount are one code over swapped counters in upstream.
    mirror: { cells: [NR_MEDIATED_PMU_VMS, NR_INCLUDE_GUEST_EVENTS], classes: ['vm', 'event'] },
  };
}
