/**
 * Event groups as perf_event_open checks them (kernel/events/core.c): the
 * group fd must name a live event (EBADF, at fdget, before the event is
 * allocated); the rest is checked after perf_event_alloc, so a PMU's
 * event_init error or the mediated-PMU accounting's EOPNOTSUPP comes first:
 * the fd must name the group leader, on the same CPU and in the same context,
 * the new member must not be pinned, and hardware events of two PMUs cannot
 * share a group (all EINVAL).
 */
import { PerfError } from '../common/errors.ts';
import type { PerfEventAttr, PerfTarget } from './attr.ts';
import { EventState, type KernelEvent } from './event.ts';
import type { PerfPmu } from './pmu.ts';

/** The PMU a group is scheduled on: its hardware PMU if any member has one. */
export function groupPmu(leader: KernelEvent): PerfPmu {
  if (leader.pmu.hasCounters) return leader.pmu;
  for (const e of leader.siblings) if (e.pmu.hasCounters) return e.pmu;
  return leader.pmu;
}

/** perf_fget_light on the group fd: a closed leader is a closed file. */
export function checkGroupFd(group: KernelEvent): void {
  if (group.state === EventState.Dead) throw new PerfError('EBADF', 'group leader is closed');
}

/** perf_event_open's group checks after perf_event_alloc (all EINVAL). */
export function checkGroupMember(
  attr: PerfEventAttr,
  target: Required<PerfTarget>,
  pmu: PerfPmu,
  group: KernelEvent,
): void {
  const leader = group.groupLeader;
  if (leader !== group) throw new PerfError('EINVAL', 'group must name the group leader');
  if (leader.cpu !== target.cpu)
    throw new PerfError('EINVAL', 'a group lives on one CPU: the leader is on another');
  const leaderOwner = leader.ctx.kind === 'task' ? leader.ctx.owner : -1;
  if (leaderOwner !== target.pid)
    throw new PerfError(
      'EINVAL',
      'a group lives in one context: the leader follows another target',
    );
  if (attr.pinned) throw new PerfError('EINVAL', 'only a group leader can be pinned');
  const shared = groupPmu(leader);
  if (pmu.hasCounters && shared.hasCounters && pmu !== shared) {
    throw new PerfError(
      'EINVAL',
      `a group cannot mix hardware PMUs (${shared.name} and ${pmu.name})`,
    );
  }
}
