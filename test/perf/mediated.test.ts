/**
 * The mediated-PMU accounting (docs/mediated-vpmu.md 3.1) as the perf core
 * runs it (src/perf/mediated.ts): the two counters, EBUSY / EOPNOTSUPP,
 * exempt PMUs, WARN_ON_ONCE on underflow, the v6 variant, the Kconfig, the
 * NMI watchdog, and a model-based property over random open / close /
 * create / release sequences.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from '../common/fc.ts';
import { KvmError, PerfError, type Errno } from '../../src/common/errors.ts';
import type { CpuModelName } from '../../src/hw/cpu-models.ts';
import { MEDIATED_PMU_EBUSY_MESSAGE } from '../../src/kvm/vm-pmu-lifecycle.ts';
import { MediatedAccounting } from '../../src/perf/mediated.ts';
import { UPSTREAM, V6 } from '../../src/perf/mediated-protocol.ts';
import type { PerfEvent } from '../../src/perf/perf.ts';
import { WATCHDOG_THRESH_S } from '../../src/sim/host.ts';
import { counterOf, errnoOf, kernelOf, machine, throwsErrno } from './helpers.ts';

const warnings = (dmesg: readonly string[]) => dmesg.filter((l) => l.startsWith('WARNING:'));

describe('MediatedAccounting', () => {
  it('runs the protocol on its counters and splats each WARN site once, ever', () => {
    const log: string[] = [];
    const acc = new MediatedAccounting(
      UPSTREAM,
      (l) => log.push(l),
      () => 3,
    );
    assert.equal(acc.run('release'), 0);
    assert.equal(acc.run('release'), 0);
    assert.equal(acc.nrMediatedPmuVms, 0, 'no decrement below zero');
    assert.equal(warnings(log).length, 1);
    assert.match(
      log[0]!,
      /^WARNING: CPU: 3 PID: \d+ at kernel\/events\/core\.c perf_release_mediated_pmu\+/,
    );
    assert.equal(acc.run('unaccount'), 0);
    assert.equal(acc.run('unaccount'), 0);
    assert.equal(acc.nrIncludeGuestEvents, 0);
    assert.equal(warnings(log).length, 2, 'the other site splats once too');
    assert.match(warnings(log)[1]!, /mediated_pmu_unaccount_event/);
    assert.equal(acc.run('create'), 0);
    assert.equal(acc.run('account'), -95);
    assert.equal(acc.run('release'), 0);
    assert.equal(acc.run('account'), 0);
    assert.equal(acc.run('create'), -16);
    assert.deepEqual([acc.nrMediatedPmuVms, acc.nrIncludeGuestEvents], [0, 1]);
    assert.equal(acc.protocol, UPSTREAM);
  });
});

describe('accounting in the perf core', () => {
  it('counts include-guest events on the capable core PMU; exclude_guest, software and uncore events are not counted', () => {
    const host = machine();
    const counted = host.perf.open({ config: 'cycles' }, { cpu: 0 });
    host.perf.open({ config: 'instructions' }, { pid: 2 });
    host.perf.open({ config: 'branches', excludeGuest: true }, { cpu: 0 });
    host.perf.open({ pmu: 'software', config: 'cpu-clock' }, { cpu: 0 });
    host.perf.open({ pmu: 'uncore_imc', config: 'data_reads' }, { cpu: 0 });
    assert.equal(host.perf.nrIncludeGuestEvents, 2);
    assert.equal(kernelOf(counted).accountedIncludeGuest, true);
    counted.close();
    assert.equal(host.perf.nrIncludeGuestEvents, 1);
    counted.close();
    assert.equal(host.perf.nrIncludeGuestEvents, 1, 'a second close does not unaccount again');
  });

  it('create / release count mediated VMs', () => {
    const host = machine();
    host.perf.createMediatedPmu!();
    host.perf.createMediatedPmu!();
    assert.equal(host.perf.nrMediatedPmuVms, 2);
    host.perf.releaseMediatedPmu!();
    assert.equal(host.perf.nrMediatedPmuVms, 1);
    assert.equal(host.perfExports.createMediatedPmu(), 0);
    assert.equal(host.perf.nrMediatedPmuVms, 2);
  });

  it('EBUSY: no mediated PMU while include-guest events exist; it works once they are closed', () => {
    const host = machine();
    const e = host.perf.open({ config: 'cycles' }, { cpu: 0 });
    throwsErrno(() => host.perf.createMediatedPmu!(), 'EBUSY', PerfError);
    assert.equal(host.perfExports.createMediatedPmu(), -16);
    assert.equal(host.perf.nrMediatedPmuVms, 0);
    e.close();
    host.perf.createMediatedPmu!();
    assert.equal(host.perf.nrMediatedPmuVms, 1);
  });

  it('EOPNOTSUPP: no include-guest event on the capable PMU while a mediated VM exists; exclude_guest and exempt PMUs open', () => {
    const host = machine();
    host.perf.createMediatedPmu!();
    throwsErrno(() => host.perf.open({ config: 'cycles' }, { cpu: 0 }), 'EOPNOTSUPP', PerfError);
    throwsErrno(() => host.perf.open({ config: 'cycles' }, { pid: 5 }), 'EOPNOTSUPP', PerfError);
    const leader = host.perf.open({ config: 'cycles', excludeGuest: true }, { cpu: 0 });
    throwsErrno(
      () => host.perf.open({ config: 'branches' }, { cpu: 0 }, leader),
      'EOPNOTSUPP',
      PerfError,
    );
    host.perf.open({ pmu: 'software', config: 'task-clock' }, { pid: 5 });
    host.perf.open({ pmu: 'uncore_imc', config: 'data_reads' }, { cpu: 0 });
    assert.equal(host.perf.nrIncludeGuestEvents, 0);
    const before = host.perfCore.openEvents;
    throwsErrno(() => host.perf.open({ config: 'cycles' }, { cpu: 0 }), 'EOPNOTSUPP');
    assert.equal(host.perfCore.openEvents, before, 'a refused event is not left behind');
    host.perf.releaseMediatedPmu!();
    host.perf.open({ config: 'cycles' }, { cpu: 0 });
    assert.equal(host.perf.nrIncludeGuestEvents, 1);
  });

  it('an open refused before accounting (ENOENT, EINVAL) accounts nothing', () => {
    const host = machine();
    throwsErrno(() => host.perf.open({ config: 'nope' }, { cpu: 0 }), 'ENOENT');
    throwsErrno(() => host.perf.open({ config: 'cycles' }, { cpu: 9 }), 'EINVAL');
    assert.equal(host.perf.nrIncludeGuestEvents, 0);
  });

  // perf_event_open (kernel/events/core.c): perf_event_alloc, which ends in
  // mediated_pmu_account_event, runs before the group checks (leader,
  // cpu, ctx, pinned, mixed PMUs: -EINVAL), and a failure after it frees the
  // event through _free_event -> mediated_pmu_unaccount_event (fidelity).
  it('the accounting refusal comes before the group checks; a group refusal unaccounts', () => {
    const host = machine({ cpus: 2 });
    const leader = host.perf.open({ config: 'cycles', excludeGuest: true }, { cpu: 0 });
    // A pinned member of a group is EINVAL, but only once the event is allocated and accounted:
    throwsErrno(
      () => host.perf.open({ config: 'branches', pinned: true }, { cpu: 0 }, leader),
      'EINVAL',
    );
    throwsErrno(() => host.perf.open({ config: 'branches' }, { cpu: 1 }, leader), 'EINVAL');
    assert.equal(host.perf.nrIncludeGuestEvents, 0, 'the refused members were unaccounted');
    host.perf.createMediatedPmu!();
    throwsErrno(
      () => host.perf.open({ config: 'branches', pinned: true }, { cpu: 0 }, leader),
      'EOPNOTSUPP',
      PerfError,
    );
    throwsErrno(() => host.perf.open({ config: 'branches' }, { cpu: 1 }, leader), 'EOPNOTSUPP');
    // exclude_guest members are not accounted, so they get the group's EINVAL.
    throwsErrno(
      () => host.perf.open({ config: 'branches', excludeGuest: true }, { cpu: 1 }, leader),
      'EINVAL',
    );
  });

  // amd_core_pmu_init marks the core PMU only with PerfMonV2 (intel_pmu_init marks every Intel one).
  it('a core PMU without the capability is exempt (Zen 3: no PerfMonV2)', () => {
    for (const cpu of ['amd-zen3'] as const) {
      const host = machine({ cpu });
      assert.deepEqual(host.perf.pmus.find((p) => p.name === 'cpu')!.capabilities, []);
      host.perf.open({ config: 'instructions' }, { cpu: 0 });
      assert.equal(host.perf.nrIncludeGuestEvents, 0);
      host.perf.createMediatedPmu!();
      host.perf.open({ config: 'instructions' }, { cpu: 0 });
      assert.equal(host.perf.nrMediatedPmuVms, 1);
    }
  });

  it('underflow of either counter: one WARN splat per call site ever, and no decrement', () => {
    const host = machine();
    host.perf.releaseMediatedPmu!();
    host.perf.releaseMediatedPmu!();
    assert.equal(host.perf.nrMediatedPmuVms, 0);
    assert.equal(warnings(host.dmesg).length, 1);
    assert.match(host.dmesg.join('\n'), /perf_release_mediated_pmu/);
    // Unaccount underflow is unreachable through the API: drive the accounting directly.
    host.perfCore.accounting!.run('unaccount');
    host.perfCore.accounting!.run('unaccount');
    assert.equal(host.perf.nrIncludeGuestEvents, 0);
    assert.equal(warnings(host.dmesg).length, 2);
    assert.match(warnings(host.dmesg)[1]!, /mediated_pmu_unaccount_event/);
    // The counters still work normally afterwards.
    host.perf.createMediatedPmu!();
    host.perf.releaseMediatedPmu!();
    host.perf.releaseMediatedPmu!();
    assert.equal(warnings(host.dmesg).length, 2);
  });

  it('the v6 variant: same refusals; release warns on underflow; unaccount has no check and goes negative', () => {
    const host = machine({ accountingVariant: 'v6' });
    assert.equal(host.perfCore.accounting!.protocol, V6);
    const e = host.perf.open({ config: 'cycles' }, { cpu: 0 });
    throwsErrno(() => host.perf.createMediatedPmu!(), 'EBUSY');
    e.close();
    host.perf.createMediatedPmu!();
    throwsErrno(() => host.perf.open({ config: 'cycles' }, { cpu: 0 }), 'EOPNOTSUPP');
    host.perf.releaseMediatedPmu!();
    host.perf.releaseMediatedPmu!();
    assert.equal(host.perf.nrMediatedPmuVms, 0);
    assert.equal(warnings(host.dmesg).length, 1);
    host.perfCore.accounting!.run('unaccount');
    assert.equal(host.perf.nrIncludeGuestEvents, -1, 'v6: atomic_dec with no underflow check');
    assert.equal(warnings(host.dmesg).length, 1, 'and no splat');
  });
});

describe('CONFIG_PERF_GUEST_MEDIATED_PMU=n', () => {
  it('the mediated APIs are absent, nothing is accounted, include-guest events open freely', () => {
    const host = machine({ kconfig: { PERF_GUEST_MEDIATED_PMU: false } });
    assert.equal(typeof host.perf.createMediatedPmu, 'undefined');
    assert.equal(typeof host.perf.releaseMediatedPmu, 'undefined');
    assert.equal('createMediatedPmu' in host.perf, false);
    assert.equal(host.perfCore.accounting, null);
    for (let i = 0; i < 3; i++) host.perf.open({ config: 'cycles' }, { cpu: 0 });
    assert.deepEqual([host.perf.nrIncludeGuestEvents, host.perf.nrMediatedPmuVms], [0, 0]);
    assert.deepEqual(
      host.perf.pmus.find((p) => p.name === 'cpu')!.capabilities,
      [],
      'no PERF_PMU_CAP_MEDIATED_VPMU either',
    );
    assert.throws(() => host.perfCore.createMediatedPmu(), /CONFIG_PERF_GUEST_MEDIATED_PMU is off/);
    assert.throws(
      () => host.perfCore.releaseMediatedPmu(),
      /CONFIG_PERF_GUEST_MEDIATED_PMU is off/,
    );
  });

  it("KVM's enable_mediated_pmu is forced off, with a dmesg line", () => {
    const host = machine({
      kconfig: { PERF_GUEST_MEDIATED_PMU: false },
      kvm: { enableMediatedPmu: true },
    });
    assert.equal(host.kvm.params.enableMediatedPmu, false);
    assert.ok(
      host.dmesg.some((l) =>
        /enable_mediated_pmu forced off.*CONFIG_PERF_GUEST_MEDIATED_PMU/.test(l),
      ),
      host.dmesg.join('\n'),
    );
    const on = machine({ kvm: { enableMediatedPmu: true } });
    assert.equal(on.kvm.params.enableMediatedPmu, true);
    assert.deepEqual(on.dmesg, []);
  });
});

describe('the NMI watchdog', () => {
  it('is a pinned include-guest cycles event per CPU, accounted, on a counter of its own', () => {
    const host = machine({ nmiWatchdog: true, cpus: 4 });
    assert.equal(host.watchdogEvents.length, 4);
    assert.equal(host.perf.nrIncludeGuestEvents, 4);
    host.watchdogEvents.forEach((w, cpu) => {
      const k = kernelOf(w);
      assert.deepEqual(
        [k.attr.config, k.attr.pinned, k.attr.excludeGuest ?? false, k.cpu],
        ['cycles', true, false, cpu],
      );
      assert.equal(k.samplePeriod, host.model.tscHz * WATCHDOG_THRESH_S);
      assert.equal(w.state, 'active');
      assert.equal(counterOf(w), 33, 'fixed counter 1 (core cycles)');
    });
    assert.ok(host.dmesg.some((l) => /NMI watchdog: Enabled/.test(l)));
    // It consumes the counter: a user cycles event goes to a GP counter.
    assert.ok(counterOf(host.perf.open({ config: 'cycles', excludeGuest: true }, { cpu: 0 })) < 8);
    // On a 4-GP part with the watchdog, 4 GP events still fit but the fixed cycles counter is gone.
    const skl = machine({ cpu: 'intel-skylake', nmiWatchdog: true });
    assert.equal(counterOf(skl.watchdogEvents[0]!), 33);
  });

  it("makes KVM's mediated VM creation fail with EBUSY and the dmesg advice, until the watchdog is stopped", () => {
    const host = machine({ nmiWatchdog: true, kvm: { enableMediatedPmu: true } });
    throwsErrno(() => host.perf.createMediatedPmu!(), 'EBUSY');
    const vm = host.kvm.createVm();
    throwsErrno(() => vm.createVcpu(), 'EBUSY', KvmError);
    assert.ok(host.dmesg.includes(MEDIATED_PMU_EBUSY_MESSAGE));
    assert.match(MEDIATED_PMU_EBUSY_MESSAGE, /nmi_watchdog/);
    assert.equal(vm.mediatedPmu, false);
    assert.equal(host.perf.nrMediatedPmuVms, 0);
    for (const w of host.watchdogEvents) w.close();
    assert.equal(host.perf.nrIncludeGuestEvents, 0);
    const vm2 = host.kvm.createVm();
    vm2.createVcpu();
    assert.equal(vm2.mediatedPmu, true);
    assert.equal(host.perf.nrMediatedPmuVms, 1);
    vm2.destroy();
    vm2.destroy();
    assert.equal(host.perf.nrMediatedPmuVms, 0, 'released once');
  });
});

describe('property: the accounting against a reference model', () => {
  type Pmu = 'cpu' | 'software' | 'uncore';
  type Action =
    | { kind: 'open'; pmu: Pmu; excludeGuest: boolean; cpuTarget: boolean }
    | { kind: 'close'; pick: number }
    | { kind: 'create' }
    | { kind: 'release' };
  const action: fc.Arbitrary<Action> = fc.oneof(
    {
      weight: 4,
      arbitrary: fc.record({
        kind: fc.constant('open' as const),
        pmu: fc.constantFrom<Pmu>('cpu', 'software', 'uncore'),
        excludeGuest: fc.boolean(),
        cpuTarget: fc.boolean(),
      }),
    },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('close' as const), pick: fc.nat() }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('create' as const) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('release' as const) }) },
  );
  const CONFIG: Record<Pmu, string> = {
    cpu: 'cycles',
    software: 'cpu-clock',
    uncore: 'data_reads',
  };

  function check(variant: 'upstream' | 'v6', cpu: CpuModelName, actions: Action[]) {
    const host = machine({ accountingVariant: variant, cpu });
    const capable = host.perf.pmus
      .find((p) => p.name === 'cpu')!
      .capabilities.includes('MEDIATED_VPMU');
    const uncore = host.perf.pmus.find(
      (p) => p.name.startsWith('uncore') || p.name === 'amd_df',
    )!.name;
    const ref = { vms: 0, includeGuest: 0, releaseUnderflow: false };
    const open: { event: PerfEvent; accounted: boolean }[] = [];
    for (const a of actions) {
      if (a.kind === 'open') {
        const target = a.cpuTarget || a.pmu === 'uncore' ? { cpu: 0 } : { pid: 2 };
        const counts = a.pmu === 'cpu' && capable && !a.excludeGuest;
        let expected: Errno | null = null;
        if (a.pmu === 'uncore' && a.excludeGuest)
          expected = 'EINVAL'; // PERF_PMU_CAP_NO_EXCLUDE
        else if (counts && ref.vms > 0) expected = 'EOPNOTSUPP';
        let event: PerfEvent | undefined;
        const got = errnoOf(() => {
          event = host.perf.open(
            {
              pmu: a.pmu === 'uncore' ? uncore : a.pmu,
              config: CONFIG[a.pmu],
              excludeGuest: a.excludeGuest,
            },
            target,
          );
        });
        assert.equal(
          got,
          expected,
          `open ${a.pmu} excludeGuest=${a.excludeGuest} with ${ref.vms} VMs`,
        );
        if (event) {
          open.push({ event, accounted: counts });
          if (counts) ref.includeGuest++;
        }
      } else if (a.kind === 'close') {
        if (open.length === 0) continue;
        const [{ event, accounted }] = open.splice(a.pick % open.length, 1) as [
          (typeof open)[number],
        ];
        event.close();
        if (accounted) ref.includeGuest--;
      } else if (a.kind === 'create') {
        const got = errnoOf(() => host.perf.createMediatedPmu!());
        assert.equal(
          got,
          ref.includeGuest > 0 ? 'EBUSY' : null,
          `create with ${ref.includeGuest} include-guest events`,
        );
        if (got === null) ref.vms++;
      } else {
        host.perf.releaseMediatedPmu!();
        if (ref.vms > 0) ref.vms--;
        else ref.releaseUnderflow = true;
      }
      assert.equal(host.perf.nrMediatedPmuVms, ref.vms);
      assert.equal(host.perf.nrIncludeGuestEvents, ref.includeGuest);
      assert.ok(host.perf.nrMediatedPmuVms >= 0 && host.perf.nrIncludeGuestEvents >= 0);
      assert.ok(
        !(ref.vms > 0 && ref.includeGuest > 0),
        'never a mediated VM and an include-guest event at once',
      );
    }
    // WARN_ON_ONCE: one splat iff some release underflowed, never more.
    assert.equal(warnings(host.dmesg).length, ref.releaseUnderflow ? 1 : 0);
  }

  for (const variant of ['upstream', 'v6'] as const) {
    it(`${variant}: counters equal the reference, never negative, exclusive, and every refusal has the right errno`, () => {
      fc.assert(
        fc.property(
          fc.constantFrom<CpuModelName>('intel-sapphire-rapids', 'amd-zen4', 'intel-haswell'),
          fc.array(action, { maxLength: 40 }),
          (cpu, actions) => check(variant, cpu, actions),
        ),
        { numRuns: 250 },
      );
    });
  }
});
