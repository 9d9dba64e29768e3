/**
 * The mediated-PMU accounting of kernel/events/core.c (docs/mediated-vpmu.md
 * section 3.1), as protocol data: one definition that the perf core runs
 * sequentially, the explorer interleaves, and src/shm/ runs on real threads.
 *
 * Two counters and one mutex keep mediated VMs and include-guest events on
 * capable PMUs mutually exclusive. The mutex guards only the 0 -> 1
 * transitions: once a counter is non-zero it may be incremented further
 * without it (atomic_inc_not_zero), because the other side cannot be non-zero
 * at the same time.
 */
import { ERRNO } from '../common/errors.ts';
import { OperationBuilder, type Protocol } from '../common/protocol.ts';
import { deepFreeze } from '../common/freeze.ts';

/** Shared cells, by index into CELLS (the one place their names are spelled). */
export const NR_MEDIATED_PMU_VMS = 0;
export const NR_INCLUDE_GUEST_EVENTS = 1;

const CELLS = ['nr_mediated_pmu_vms', 'nr_include_guest_events'] as const;
const MUTEXES = ['perf_mediated_pmu_mutex'] as const;
/** The counters' and the mutex's names, for operations (and mutants) that name them. */
export const VMS_CELL = CELLS[NR_MEDIATED_PMU_VMS];
export const EVENTS_CELL = CELLS[NR_INCLUDE_GUEST_EVENTS];
export const ACCOUNTING_MUTEX = MUTEXES[0];
/** The two WARN_ON_ONCE call sites: one splat each, ever. */
export const WARN_SITES = ['perf_release_mediated_pmu', 'mediated_pmu_unaccount_event'] as const;

/** The operations every accounting variant defines. */
export type AccountingOperation = 'create' | 'release' | 'account' | 'unaccount';
export interface AccountingProtocol extends Protocol {
  readonly operations: Readonly<Record<AccountingOperation, Protocol['operations'][string]>>;
}

const shape = { cells: CELLS, mutexes: MUTEXES, warnSites: WARN_SITES };
export const accountingShape: Pick<Protocol, 'cells' | 'mutexes' | 'warnSites'> = shape;

/** Builds an operation of the accounting protocol's shape (mutants use this too). */
export function accountingOperation(name: string): OperationBuilder {
  return new OperationBuilder(shape, name);
}

const VMS = VMS_CELL;
const EVENTS = EVENTS_CELL;
const MUTEX = ACCOUNTING_MUTEX;

/**
 * The 0 -> 1 side of either counter, as merged ("perf: Clean up mediated vPMU
 * accounting", 3cb3c2f6886f): fast path outside the mutex, then the other
 * side's check and the increment under it.
 */
function acquireUpstream(name: string, mine: string, other: string, refusal: number) {
  return accountingOperation(name)
    .incNotZero(mine, 'done')
    .lock(MUTEX)
    .jumpIfNonZero(other, 'refuse')
    .inc(mine)
    .unlock(MUTEX)
    .label('done')
    .ret(0)
    .label('refuse')
    .unlock(MUTEX)
    .ret(refusal, `return -${refusal === -ERRNO.EBUSY ? 'EBUSY' : 'EOPNOTSUPP'}`)
    .build();
}

/** Release with the underflow check: WARN_ON_ONCE(!atomic_read()) then atomic_dec(). */
function releaseChecked(name: string, cell: string, site: string) {
  return accountingOperation(name)
    .jumpIfNonZero(cell, 'dec')
    .warnOnce(site)
    .ret(0, 'return (underflow refused)')
    .label('dec')
    .dec(cell)
    .ret(0)
    .build();
}

/** As merged for Linux 7.0. */
export const UPSTREAM: AccountingProtocol = deepFreeze({
  name: 'upstream',
  ...shape,
  operations: Object.freeze({
    create: acquireUpstream('perf_create_mediated_pmu', VMS, EVENTS, -ERRNO.EBUSY),
    release: releaseChecked('perf_release_mediated_pmu', VMS, 'perf_release_mediated_pmu'),
    account: acquireUpstream('mediated_pmu_account_event', EVENTS, VMS, -ERRNO.EOPNOTSUPP),
    unaccount: releaseChecked(
      'mediated_pmu_unaccount_event',
      EVENTS,
      'mediated_pmu_unaccount_event',
    ),
  }),
});

/**
 * As posted in v6 of the series (Dec 2025): create takes the mutex before its
 * fast path, account always takes the mutex (no fast path), and only the VM
 * release checks for underflow. Peter Zijlstra's review asked for the shape of
 * UPSTREAM instead.
 */
export const V6: AccountingProtocol = deepFreeze({
  name: 'v6',
  ...shape,
  operations: Object.freeze({
    create: accountingOperation('perf_create_mediated_pmu')
      .lock(MUTEX)
      .incNotZero(VMS, 'done')
      .jumpIfNonZero(EVENTS, 'refuse')
      .inc(VMS)
      .label('done')
      .unlock(MUTEX)
      .ret(0)
      .label('refuse')
      .unlock(MUTEX)
      .ret(-ERRNO.EBUSY, 'return -EBUSY')
      .build(),
    release: releaseChecked('perf_release_mediated_pmu', VMS, 'perf_release_mediated_pmu'),
    account: accountingOperation('mediated_pmu_account_event')
      .lock(MUTEX)
      .jumpIfNonZero(VMS, 'refuse')
      .inc(EVENTS)
      .unlock(MUTEX)
      .ret(0)
      .label('refuse')
      .unlock(MUTEX)
      .ret(-ERRNO.EOPNOTSUPP, 'return -EOPNOTSUPP')
      .build(),
    unaccount: accountingOperation('mediated_pmu_unaccount_event').dec(EVENTS).ret(0).build(),
  }),
});

/** The variants the perf core can run (`HostOptions.accountingVariant`). */
export const ACCOUNTING_VARIANTS: Readonly<Record<'upstream' | 'v6', AccountingProtocol>> =
  deepFreeze({
    upstream: UPSTREAM,
    v6: V6,
  });
