/**
 * No host activity changes what a guest reads (issue: reliability part 2, 1).
 *
 * Under the perf-emulated vPMU a guest counter is a pinned task event of the
 * vCPU thread. CPU-pinned host events are scheduled first, so KVM's event
 * can land in the error state. Upstream KVM reads its backing event with
 * perf_event_read_value() (arch/x86/kvm/pmu.h, pmc_read_counter), whose
 * __perf_event_read_value() adds perf_event_count() whatever the event's
 * state (kernel/events/core.c): an errored event still yields the count it
 * accumulated. The guest's counter therefore stands still while the host
 * holds the counters; it never jumps.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MSR, createHost, type GuestCpu, type PerfEvent } from '../../src/index.ts';

const ENABLE_OS_USR = (1n << 22n) | (1n << 16n) | (1n << 17n);
const BRANCHES_RETIRED = 0xc4n; // Intel architectural event "branch instructions retired"
const WORK = { instructions: 100_000, branches: 20_000 } as const;

function programBranchesOnPmc0(g: GuestCpu): void {
  g.wrmsr(MSR.IA32_PERF_GLOBAL_CTRL, 0n);
  g.wrmsr(MSR.IA32_PMC0, 0n);
  g.wrmsr(MSR.IA32_PERFEVTSEL0, ENABLE_OS_USR | BRANCHES_RETIRED);
  g.wrmsr(MSR.IA32_PERF_GLOBAL_CTRL, 1n);
}

describe('emulated vPMU: host pinned events never change a guest counter', () => {
  for (const cpu of ['intel-sapphire-rapids', 'intel-skylake'] as const) {
    it(`${cpu}: the guest's PMC0 stands still while host pinned events hold every GP counter`, () => {
      const host = createHost({ cpu });
      const vcpu = host.kvm.createVm().createVcpu();
      const before = vcpu.run((g) => {
        programBranchesOnPmc0(g);
        g.exec(WORK);
        return g.rdpmc(0);
      });
      assert.equal(before, BigInt(WORK.branches));

      const hostEvents: PerfEvent[] = [];
      for (let i = 0; i < host.model.gpCounters; i++) {
        hostEvents.push(
          host.perf.open({ config: 'branches', excludeGuest: true, pinned: true }, { cpu: 0 }),
        );
      }
      // The guest runs no branch while the host holds the counters: reads only.
      const during = vcpu.run((g) => [g.rdpmc(0), g.rdmsr(MSR.IA32_PMC0), g.rdpmc(0)]);
      for (const value of during) assert.equal(value, before);

      for (const e of hostEvents) e.close();
      // A pinned event in the error state stays there until it is enabled
      // again (kernel/events/core.c, merge_sched_in); KVM enables it only
      // when it reprograms the counter, so the guest's counter still stands.
      const stillErrored = vcpu.run((g) => {
        g.exec(WORK);
        return g.rdpmc(0);
      });
      assert.equal(stillErrored, before);
      // A GLOBAL_CTRL change makes KVM reprogram the counter
      // (reprogram_counters -> pmc_resume_counter -> perf_event_enable):
      // counting resumes from where it stood, with no jump.
      const after = vcpu.run((g) => {
        g.wrmsr(MSR.IA32_PERF_GLOBAL_CTRL, 0n);
        g.wrmsr(MSR.IA32_PERF_GLOBAL_CTRL, 1n);
        g.exec(WORK);
        return g.rdpmc(0);
      });
      assert.equal(after, before + BigInt(WORK.branches));
    });
  }
});
