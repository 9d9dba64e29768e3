/*
 * The mediated-PMU accounting as merged for Linux 7.0 (docs/mediated-vpmu.md
 * section 3.1), written for Spin to compare with `vpmu check accounting
 * --variant upstream` (bench/check.ts). Same model, same granularity: one
 * atomic step per shared-memory access; ghost bookkeeping (holders, the
 * refusal-justification bits) rides inside the step it belongs to, as it does
 * in the explorer, and so do the local steps after it.
 *
 *   VM process     ROUNDS x: perf_create_mediated_pmu(); if 0, perf_release_mediated_pmu()
 *   event process  ROUNDS x: account an include-guest event; if 0, unaccount it
 *
 * Checked: the invariant (never a VM and an event held together), counters
 * never negative, no WARN, every refusal justified (the other side's counter
 * was non-zero in some state of the call), no deadlock (Spin's invalid end
 * states), and balance at the end. Parameters: spin -DVMS=3 -DEVENTS=3 -DROUNDS=2;
 * -DNO_JUSTIFICATION leaves out the refusal check and its ghost bits.
 */
#ifndef VMS
#define VMS 3
#endif
#ifndef EVENTS
#define EVENTS 3
#endif
#ifndef ROUNDS
#define ROUNDS 2
#endif

short nr_mediated_pmu_vms = 0;
short nr_include_guest_events = 0;
byte mutex = 0;             /* perf_mediated_pmu_mutex: owner _pid + 1, 0 = free */

/* Ghost state. */
byte vm_holders = 0;
byte event_holders = 0;
int in_create = 0;          /* bit per process: inside perf_create_mediated_pmu() */
int in_account = 0;         /* bit per process: inside mediated_pmu_account_event() */
int saw = 0;                /* bit per process: the other side's counter seen non-zero during the call */

#define ME (1 << _pid)
#ifndef NO_JUSTIFICATION
/* A write to one counter is observed by every call of the other side in progress. */
#define OBSERVE_VMS    if :: nr_mediated_pmu_vms != 0 -> saw = saw | in_account :: else -> skip fi
#define OBSERVE_EVENTS if :: nr_include_guest_events != 0 -> saw = saw | in_create :: else -> skip fi
#define START_CREATE   in_create = in_create | ME; \
                       if :: nr_include_guest_events != 0 -> saw = saw | ME :: else -> saw = saw & ~ME fi
#define START_ACCOUNT  in_account = in_account | ME; \
                       if :: nr_mediated_pmu_vms != 0 -> saw = saw | ME :: else -> saw = saw & ~ME fi
#define END_CREATE     in_create = in_create & ~ME
#define END_ACCOUNT    in_account = in_account & ~ME
#define JUSTIFIED      assert(saw & ME)
#else
/* -DNO_JUSTIFICATION: without the refusal-justification ghost (vpmu check --properties without refusals). */
#define OBSERVE_VMS    skip
#define OBSERVE_EVENTS skip
#define START_CREATE   skip
#define START_ACCOUNT  skip
#define END_CREATE     skip
#define END_ACCOUNT    skip
#define JUSTIFIED      skip
#endif
#define NEXT_CREATE    r++; if :: r < ROUNDS -> START_CREATE :: else -> skip fi
#define NEXT_ACCOUNT   r++; if :: r < ROUNDS -> START_ACCOUNT :: else -> skip fi

proctype Vm() {
  byte r = 0;
  atomic { START_CREATE };
create:
  /* atomic_inc_not_zero(&nr_mediated_pmu_vms): the fast path */
  if
  :: atomic { nr_mediated_pmu_vms != 0 -> nr_mediated_pmu_vms++;
              END_CREATE; assert(event_holders == 0); vm_holders++ };
     goto release
  :: atomic { nr_mediated_pmu_vms == 0 -> skip }
  fi;
  atomic { mutex == 0 -> mutex = _pid + 1 };
  /* if (atomic_read(&nr_include_guest_events)) */
  if
  :: atomic { nr_include_guest_events != 0 -> skip };
     /* mutex_unlock(); return -EBUSY */
     atomic { mutex = 0; JUSTIFIED; END_CREATE; NEXT_CREATE };
     goto next
  :: atomic { nr_include_guest_events == 0 -> skip }
  fi;
  atomic { nr_mediated_pmu_vms++; OBSERVE_VMS };
  /* mutex_unlock(); return 0 */
  atomic { mutex = 0; END_CREATE; assert(event_holders == 0); vm_holders++ };
release:
  /* perf_release_mediated_pmu(): WARN_ON_ONCE(!atomic_read()) must not fire */
  atomic { vm_holders--; assert(nr_mediated_pmu_vms != 0) };
  atomic { nr_mediated_pmu_vms--; assert(nr_mediated_pmu_vms >= 0); OBSERVE_VMS; NEXT_CREATE };
next:
  if
  :: r < ROUNDS -> goto create
  :: else -> skip
  fi
}

proctype Event() {
  byte r = 0;
  atomic { START_ACCOUNT };
account:
  if
  :: atomic { nr_include_guest_events != 0 -> nr_include_guest_events++;
              END_ACCOUNT; assert(vm_holders == 0); event_holders++ };
     goto unaccount
  :: atomic { nr_include_guest_events == 0 -> skip }
  fi;
  atomic { mutex == 0 -> mutex = _pid + 1 };
  if
  :: atomic { nr_mediated_pmu_vms != 0 -> skip };
     /* mutex_unlock(); return -EOPNOTSUPP */
     atomic { mutex = 0; JUSTIFIED; END_ACCOUNT; NEXT_ACCOUNT };
     goto next
  :: atomic { nr_mediated_pmu_vms == 0 -> skip }
  fi;
  atomic { nr_include_guest_events++; OBSERVE_EVENTS };
  atomic { mutex = 0; END_ACCOUNT; assert(vm_holders == 0); event_holders++ };
unaccount:
  atomic { event_holders--; assert(nr_include_guest_events != 0) };
  atomic { nr_include_guest_events--; assert(nr_include_guest_events >= 0); OBSERVE_EVENTS; NEXT_ACCOUNT };
next:
  if
  :: r < ROUNDS -> goto account
  :: else -> skip
  fi
}

init {
  byte i;
  atomic {
    i = 0;
    do :: i < VMS -> run Vm(); i++ :: else -> break od;
    i = 0;
    do :: i < EVENTS -> run Event(); i++ :: else -> break od
  };
  /* Balance once everyone has finished. */
  (_nr_pr == 1) -> assert(nr_mediated_pmu_vms == 0 && nr_include_guest_events == 0 &&
                          vm_holders == 0 && event_holders == 0)
}
