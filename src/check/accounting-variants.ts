/**
 * The accounting variants the explorer knows: the two real ones (UPSTREAM as
 * merged, V6 as posted) and mutants, each a small plausible mistake in the
 * shape of the real code, that the explorer must catch with a counterexample.
 *
 * Mutants are written with the same assembler as the real protocol
 * (accountingOperation), so every executor runs them unchanged.
 */
import { ERRNO } from '../common/errors.ts';
import {
  ACCOUNTING_MUTEX as MUTEX,
  accountingOperation,
  accountingShape,
  EVENTS_CELL as EVENTS,
  UPSTREAM,
  V6,
  VMS_CELL as VMS,
  type AccountingOperation,
  type AccountingProtocol,
} from '../perf/mediated-protocol.ts';
import type { Operation, OperationBuilder } from '../common/protocol.ts';

interface SideNames {
  name: string;
  mine: string;
  other: string;
  refusal: number;
  errno: string;
}
const CREATE: SideNames = {
  name: 'perf_create_mediated_pmu',
  mine: VMS,
  other: EVENTS,
  refusal: -ERRNO.EBUSY,
  errno: 'EBUSY',
};
const ACCOUNT: SideNames = {
  name: 'mediated_pmu_account_event',
  mine: EVENTS,
  other: VMS,
  refusal: -ERRNO.EOPNOTSUPP,
  errno: 'EOPNOTSUPP',
};

/** Upstream's fast path, which most mutants keep: atomic_inc_not_zero(mine) succeeds to `done`. */
function fastPath(s: SideNames): OperationBuilder {
  return accountingOperation(s.name).incNotZero(s.mine, 'done');
}

/**
 * Every mutant's tail but the retry's: `done: return 0`, then `refuse:`
 * (with `mutex_unlock()` unless the mutant refuses without the mutex or
 * forgets it) returning -EBUSY / -EOPNOTSUPP.
 */
function doneOrRefuse(b: OperationBuilder, s: SideNames, unlock: boolean, note = ''): Operation {
  b.label('done').ret(0).label('refuse');
  if (unlock) b.unlock(MUTEX);
  return b.ret(s.refusal, `return -${s.errno}${note}`).build();
}

/** Fast path as atomic_read() then atomic_inc(): the counter can drop to 0 between them. */
function readThenInc(s: SideNames): Operation {
  const b = accountingOperation(s.name)
    .jumpIfZero(s.mine, 'slow')
    .inc(s.mine)
    .ret(0)
    .label('slow')
    .lock(MUTEX)
    .jumpIfNonZero(s.other, 'refuse')
    .inc(s.mine)
    .unlock(MUTEX);
  return doneOrRefuse(b, s, true);
}

/** The other side's check before mutex_lock(): two 0 -> 1 transitions can both pass it. */
function checkOutsideMutex(s: SideNames): Operation {
  const b = fastPath(s).jumpIfNonZero(s.other, 'refuse').lock(MUTEX).inc(s.mine).unlock(MUTEX);
  return doneOrRefuse(b, s, false);
}

/** No mutex at all on this side: its check and increment race with the other side's. */
function noMutex(s: SideNames): Operation {
  return doneOrRefuse(fastPath(s).jumpIfNonZero(s.other, 'refuse').inc(s.mine), s, false);
}

/** mutex_unlock() before atomic_inc(): the check and the increment are no longer one critical section. */
function unlockBeforeInc(s: SideNames): Operation {
  const b = fastPath(s).lock(MUTEX).jumpIfNonZero(s.other, 'refuse').unlock(MUTEX).inc(s.mine);
  return doneOrRefuse(b, s, true);
}

/**
 * A copy-paste slip: under the mutex, the check reads this side's own counter
 * instead of the other side's. It refuses while the other side is empty (an
 * unjustified refusal) and admits while the other side holds (the invariant).
 */
function checksOwnCounter(s: SideNames): Operation {
  const b = fastPath(s).lock(MUTEX).jumpIfNonZero(s.mine, 'refuse').inc(s.mine).unlock(MUTEX);
  return doneOrRefuse(b, s, true);
}

/** The refusal path forgets mutex_unlock(): the next 0 -> 1 transition blocks forever. */
function leakMutexOnRefusal(s: SideNames): Operation {
  const b = fastPath(s).lock(MUTEX).jumpIfNonZero(s.other, 'refuse').inc(s.mine).unlock(MUTEX);
  return doneOrRefuse(b, s, false, ' (mutex still held)');
}

/** Instead of refusing, wait for the other side to go away by retrying: a busy loop that need not end. */
function retryInsteadOfRefusing(s: SideNames): Operation {
  return accountingOperation(s.name)
    .label('again')
    .incNotZero(s.mine, 'done')
    .lock(MUTEX)
    .jumpIfNonZero(s.other, 'busy')
    .inc(s.mine)
    .unlock(MUTEX)
    .label('done')
    .ret(0)
    .label('busy')
    .unlock(MUTEX)
    .jump('again')
    .build();
}

/**
 * Release as atomic_dec_return() first, then WARN if it went negative: the
 * counter is -1 from then on (no restore), and atomic_inc_not_zero() "succeeds"
 * on -1, taking it to 0 while the caller believes it holds a reference.
 */
function decBeforeCheck(name: string, cell: string, site: string): Operation {
  return accountingOperation(name)
    .decJumpIfNegative(cell, 'underflow')
    .ret(0)
    .label('underflow')
    .warnOnce(site)
    .ret(0, 'return (counter left at -1)')
    .build();
}

function variant(
  name: string,
  ops: Partial<Record<AccountingOperation, Operation>>,
  base: AccountingProtocol = UPSTREAM,
): AccountingProtocol {
  return Object.freeze({
    name,
    ...accountingShape,
    operations: Object.freeze({ ...base.operations, ...ops }),
  });
}

export interface AccountingVariant {
  readonly protocol: AccountingProtocol;
  /** One line: what differs from upstream, or why it is correct. */
  readonly summary: string;
  /** Whether the explorer must find the properties to hold (the real variants). */
  readonly correct: boolean;
  /** Model options the bug needs to show (e.g. a stray release for dec-before-check). */
  readonly needs?: { strayRelease?: boolean };
}

/**
 * The accounting variants the explorer checks: the real protocols (upstream,
 * v6) and the mutants it must catch, each with its verdict. Not to be confused
 * with perf/mediated-protocol.ts's ACCOUNTING_VARIANTS, the protocols the perf
 * core can run (public API).
 */
export const CHECKED_ACCOUNTING_VARIANTS: Readonly<Record<string, AccountingVariant>> = {
  upstream: {
    protocol: UPSTREAM,
    correct: true,
    summary:
      'as merged for Linux 7.0: inc-not-zero fast path on both sides, mutex only around 0 -> 1',
  },
  v6: {
    protocol: V6,
    correct: true,
    summary:
      'as posted in v6: create locks first, account always locks, unaccount has no underflow check',
  },
  'read-then-inc': {
    protocol: variant('read-then-inc', {
      create: readThenInc(CREATE),
      account: readThenInc(ACCOUNT),
    }),
    correct: false,
    summary: 'fast path as atomic_read() then atomic_inc() instead of atomic_inc_not_zero()',
  },
  'check-outside-mutex': {
    protocol: variant('check-outside-mutex', {
      create: checkOutsideMutex(CREATE),
      account: checkOutsideMutex(ACCOUNT),
    }),
    correct: false,
    summary: "the other side's counter is checked before mutex_lock()",
  },
  'no-mutex': {
    protocol: variant('no-mutex', { account: noMutex(ACCOUNT) }),
    correct: false,
    summary: 'accounting an event takes no mutex (create still does)',
  },
  'unlock-before-inc': {
    protocol: variant('unlock-before-inc', {
      create: unlockBeforeInc(CREATE),
      account: unlockBeforeInc(ACCOUNT),
    }),
    correct: false,
    summary: 'mutex_unlock() between the check and atomic_inc()',
  },
  'dec-before-check': {
    protocol: variant('dec-before-check', {
      release: decBeforeCheck('perf_release_mediated_pmu', VMS, 'perf_release_mediated_pmu'),
      unaccount: decBeforeCheck(
        'mediated_pmu_unaccount_event',
        EVENTS,
        'mediated_pmu_unaccount_event',
      ),
    }),
    correct: false,
    needs: { strayRelease: true },
    summary: 'releases do atomic_dec_return() first and WARN if it went negative (no restore)',
  },
  'checks-own-counter': {
    protocol: variant('checks-own-counter', { account: checksOwnCounter(ACCOUNT) }),
    correct: false,
    summary:
      "account's check under the mutex reads nr_include_guest_events, its own counter, not the VMs'",
  },
  'leak-mutex-on-refusal': {
    protocol: variant('leak-mutex-on-refusal', { account: leakMutexOnRefusal(ACCOUNT) }),
    correct: false,
    summary: 'the -EOPNOTSUPP path of account returns without mutex_unlock()',
  },
  'retry-instead-of-refusing': {
    protocol: variant('retry-instead-of-refusing', { account: retryInsteadOfRefusing(ACCOUNT) }),
    correct: false,
    summary:
      'account retries until no VM is left instead of returning -EOPNOTSUPP (may spin forever)',
  },
};
