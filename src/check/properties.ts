/**
 * What the explorer checks, and how a violation is named.
 *
 * Every property is checked as an assertion *inside a transition*, reading
 * only what that transition's own footprint includes (see engine.ts), or on a
 * state with no enabled thread (deadlock, end of run). That is what keeps the
 * reductions sound: see docs/verification.md.
 */

/** A property the user can select with --properties. */
export const PROPERTIES = {
  invariant: 'never a mediated VM held while an include-guest event is held (3.1)',
  'non-negative': 'the counters never go below zero',
  'no-warn': 'no WARN_ON_ONCE fires in correct usage; a stray release must WARN',
  refusals:
    "every -EBUSY / -EOPNOTSUPP is justified: the other side's counter was non-zero during the call",
  mutex: 'a mutex is unlocked only by its owner, and no call returns holding one',
  deadlock: 'whenever some thread has not finished, some thread can step',
  termination: 'no cycle in the state graph: every call returns after a bounded number of steps',
  balance: 'once every thread has finished, the counters are 0 and nothing is held',
  once: 'a VM creates its mediated PMU at most once, and destroy releases only one it created',
  'host-off-in-guest':
    "(guest-context) no exclude_guest host event counts while the guest's counters are in the hardware",
  'host-back-at-put':
    '(guest-context) every installed host event is scheduled back in at put; no guest context outlives its vCPU',
  'guest-time':
    '(guest-context) guest time advances only over an interval its load stamped: no interval counted twice',
  'pmi-routing':
    "(guest-context) a guest counter's PMI never reaches perf's handler, a host counter's never KVM's (or is dropped)",
  'half-switched':
    '(guest-context) no event is installed while KVM is half way through load or put',
} as const;

export type PropertyName = keyof typeof PROPERTIES;
export const PROPERTY_NAMES = Object.keys(PROPERTIES) as PropertyName[];

export const enum Violation {
  None = 0,
  Invariant,
  Negative,
  UnexpectedWarn,
  MissingWarn,
  UnjustifiedRefusal,
  UnlockNotOwner,
  LockHeldAtReturn,
  Deadlock,
  NonTermination,
  Unbalanced,
  DoubleCreate,
  ReleaseNotCreated,
  HostInGuest,
  HostNotBack,
  GuestTime,
  PmiRouting,
  HalfSwitched,
}

/** The property each violation breaks, by Violation code. */
export const VIOLATED_PROPERTY: readonly PropertyName[] = [
  'invariant', // None (unused)
  'invariant',
  'non-negative',
  'no-warn',
  'no-warn',
  'refusals',
  'mutex',
  'mutex',
  'deadlock',
  'termination',
  'balance',
  'once',
  'once',
  'host-off-in-guest',
  'host-back-at-put',
  'guest-time',
  'pmi-routing',
  'half-switched',
];

export const VIOLATION_TEXT: readonly string[] = [
  '',
  'a mediated VM and an include-guest event are held at the same time',
  'a counter went negative',
  'WARN_ON_ONCE fired',
  'the stray release returned without a WARN',
  "a refusal while the other side's counter stayed zero for the whole call",
  'mutex_unlock() by a thread that does not own the mutex',
  'a call returned holding a mutex',
  'deadlock: threads remain but none can step',
  'non-termination: a cycle in the state graph (a call can run forever)',
  'unbalanced at the end: a counter is not 0, or something is still held',
  'a VM created its mediated PMU twice',
  'destroy released a mediated PMU the VM never created',
  "an exclude_guest host event counts while the guest's counters are in the hardware",
  'a host event is left scheduled out after put, or a guest context outlives its vCPU',
  'guest time advanced over an interval no load stamped (host time counted as guest time)',
  "a PMI went to the wrong handler: a guest counter's to perf, or a host counter's to KVM or nowhere",
  'an event was installed while KVM was half way through switching the PMU',
];

/** The violation a ghost assertion site (a WARN site named after its property) reports. */
export function assertionViolation(property: PropertyName): Violation {
  const v = VIOLATED_PROPERTY.lastIndexOf(property);
  if (v <= 0) throw new RangeError(`no violation code for property '${property}'`);
  return v;
}

/** The bit mask of selected properties. */
export function propertyMask(names: readonly PropertyName[]): number {
  let mask = 0;
  for (const name of names) mask |= 1 << PROPERTY_NAMES.indexOf(name);
  return mask;
}

export const ALL_PROPERTIES = propertyMask(PROPERTY_NAMES);
