/**
 * The perf entry points only KVM calls (src/perf/kvm-exports.ts): the guest
 * context switch of docs/mediated-vpmu.md 3.2 (EVENT_GUEST), the guest
 * LVTPC and the 0xF5 PMI of 3.3, and the kernel counters the legacy vPMU
 * backs guest counters with.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from '../common/fc.ts';
import { EVTSEL, LVT, MSR } from '../../src/hw/msr.ts';
import { PERF_GUEST_MEDIATED_PMI_VECTOR } from '../../src/perf/kvm-exports.ts';
import { counterOf, cyclesFor, machine, MsrSpy } from './helpers.ts';

/** Retire work in guest mode on CPU 0, as a vCPU would between VM-entry and VM-exit. */
function guestRetire(
  host: ReturnType<typeof machine>,
  work: Parameters<ReturnType<typeof machine>['cpus'][0]['retire']>[0],
) {
  const cpu = host.cpus[0]!;
  cpu.guestMode = true;
  try {
    cpu.retire(work);
  } finally {
    cpu.guestMode = false;
  }
}

describe('capabilities KVM reads', () => {
  it('mediatedKconfig and coreMediatedCapable follow the Kconfig and the hardware', () => {
    assert.deepEqual(
      [machine().perfExports.mediatedKconfig, machine().perfExports.coreMediatedCapable],
      [true, true],
    );
    assert.equal(machine({ cpu: 'amd-zen4' }).perfExports.coreMediatedCapable, true);
    // intel_pmu_init marks every Intel core PMU; KVM's v4+ check is its own.
    assert.equal(machine({ cpu: 'intel-haswell' }).perfExports.coreMediatedCapable, true);
    assert.equal(machine({ cpu: 'amd-zen3' }).perfExports.coreMediatedCapable, false);
    const off = machine({ kconfig: { PERF_GUEST_MEDIATED_PMU: false } });
    assert.deepEqual(
      [off.perfExports.mediatedKconfig, off.perfExports.coreMediatedCapable],
      [false, false],
    );
  });

  it('create / release return 0 or -EBUSY as the kernel functions do', () => {
    const host = machine();
    assert.equal(host.perfExports.createMediatedPmu(), 0);
    host.perfExports.releaseMediatedPmu();
    host.perf.open({ config: 'cycles' }, { cpu: 0 });
    assert.equal(host.perfExports.createMediatedPmu(), -16);
  });
});

describe('the guest context switch (3.2)', () => {
  it('load schedules out the capable PMU events: INACTIVE, selectors disabled, not counting guest work', () => {
    const host = machine();
    const spy = new MsrSpy(host.cpus[0]!);
    const gp = host.perf.open({ config: 'branches', excludeGuest: true }, { cpu: 0 });
    const fixed = host.perf.open({ config: 'instructions', excludeGuest: true }, { cpu: 0 });
    const task = host.perf.open({ config: 'branch-misses', excludeGuest: true }, { pid: 1 });
    host.exec({ instructions: 1000, branches: 100, branchMisses: 10 });
    const idx = counterOf(gp);
    spy.reset();
    host.perfExports.loadGuestContext(0);
    assert.equal(host.perfCore.isGuestContextLoaded(0), true);
    assert.deepEqual([gp.state, fixed.state, task.state], ['inactive', 'inactive', 'inactive']);
    // The counters as perf left them: selector without EN, fixed control cleared, counts folded.
    assert.equal(spy.writes(MSR.IA32_PERFEVTSEL0 + idx).at(-1)! & EVTSEL.EN, 0n);
    assert.deepEqual(spy.writes(MSR.IA32_FIXED_CTR_CTRL), [0n]);
    assert.equal(spy.count('rdpmc'), 3);
    assert.equal(host.perfCore.x86!.activeEvents(0).length, 0);
    guestRetire(host, { instructions: 5000, branches: 500, branchMisses: 50, cpl: 0 });
    guestRetire(host, { instructions: 5000, branches: 500, branchMisses: 50, cpl: 3 });
    host.perfExports.putGuestContext(0);
    assert.deepEqual([gp.state, fixed.state, task.state], ['active', 'active', 'active']);
    assert.deepEqual([gp.read().value, fixed.read().value, task.read().value], [100n, 1000n, 10n]);
    host.exec({ instructions: 1000, branches: 100, branchMisses: 10 });
    assert.deepEqual([gp.read().value, fixed.read().value, task.read().value], [200n, 2000n, 20n]);
  });

  it('uncore and software events keep counting through guest time', () => {
    const host = machine();
    const uncore = host.perf.open({ pmu: 'uncore_imc', config: 'data_reads' }, { cpu: 0 });
    const clock = host.perf.open({ pmu: 'software', config: 'cpu-clock' }, { cpu: 0 });
    host.exec({ instructions: 2000, llcMisses: 3 });
    host.perfExports.loadGuestContext(0);
    assert.deepEqual([uncore.state, clock.state], ['active', 'active']);
    guestRetire(host, { instructions: 4000, llcMisses: 40 });
    host.perfExports.putGuestContext(0);
    assert.equal(uncore.read().value, 43n);
    assert.equal(clock.read().value, 3000n, 'cpu-clock includes the 2000 ns of guest time');
  });

  it('an exclude_guest clock counts through guest time, but its times leave it out', () => {
    // perf_skip_pmu_ctx() keeps a PMU without PERF_PMU_CAP_MEDIATED_VPMU on at
    // perf_load_guest_context(), so cpu-clock stays on and
    // cpu_clock_event_update() keeps adding local_clock() deltas; its
    // time_enabled / time_running are context time minus T_GUEST
    // (__perf_event_time_ctx(), kernel/events/core.c).
    const host = machine();
    const clock = host.perf.open(
      { pmu: 'software', config: 'cpu-clock', excludeGuest: true },
      { cpu: 0 },
    );
    host.exec({ instructions: 2000 });
    host.perfExports.loadGuestContext(0);
    guestRetire(host, { instructions: 4000 });
    host.perfExports.putGuestContext(0);
    assert.deepEqual(clock.read(), { value: 3000n, timeEnabled: 1000n, timeRunning: 1000n });
    host.exec({ instructions: 2000 });
    assert.deepEqual(clock.read(), { value: 4000n, timeEnabled: 2000n, timeRunning: 2000n });
  });

  it('no new host event goes onto the capable PMU while a guest is loaded; it becomes active after the put', () => {
    const host = machine();
    host.perfExports.loadGuestContext(0);
    const e = host.perf.open({ config: 'branches', excludeGuest: true }, { cpu: 0 });
    const t = host.perf.open({ config: 'cycles', excludeGuest: true }, { pid: 1 });
    const u = host.perf.open({ pmu: 'uncore_imc', config: 'data_reads' }, { cpu: 0 });
    assert.deepEqual([e.state, t.state, u.state], ['inactive', 'inactive', 'active']);
    guestRetire(host, { instructions: 100, branches: 10 });
    host.perfExports.putGuestContext(0);
    assert.deepEqual([e.state, t.state], ['active', 'active']);
    assert.equal(e.read().value, 0n);
    assert.equal(host.perfCore.rotations, 0, 'skipped for the guest, not multiplexed');
  });

  // perf_put_guest_context clears the guest flag of every context on the CPU
  // (ctx->... via perf_ctx_enable and the EVENT_GUEST time): an event opened
  // after the put goes onto the PMU at once, as on a CPU that never ran a guest.
  it('after the put, a newly opened exclude_guest event is scheduled in and counts at once', () => {
    const host = machine();
    host.perfExports.loadGuestContext(0);
    host.perfExports.putGuestContext(0);
    const e = host.perf.open({ config: 'branches', excludeGuest: true }, { cpu: 0 });
    assert.equal(e.state, 'active');
    host.exec({ instructions: 100, branches: 10 });
    assert.equal(e.read().value, 10n);
  });

  it('a task switched in while the guest is loaded waits for the put too', () => {
    const host = machine();
    const t = host.perf.open({ config: 'branches', excludeGuest: true }, { pid: 7 });
    host.perfExports.loadGuestContext(0);
    host.perfExports.switchTask(0, 7);
    assert.equal(t.state, 'inactive');
    host.perfExports.putGuestContext(0);
    assert.equal(t.state, 'active');
  });

  it('load and put are strictly paired per CPU', () => {
    const host = machine({ cpus: 2 });
    host.perfExports.loadGuestContext(0);
    assert.throws(() => host.perfExports.loadGuestContext(0), /already loaded/);
    host.perfExports.loadGuestContext(1);
    host.perfExports.putGuestContext(1);
    assert.throws(() => host.perfExports.putGuestContext(1), /no guest loaded/);
    host.perfExports.putGuestContext(0);
  });

  it('a PMU without the capability is left alone (its events keep counting in the guest)', () => {
    const host = machine({ cpu: 'amd-zen3' });
    const e = host.perf.open({ config: 'branches' }, { cpu: 0 });
    host.perfExports.loadGuestContext(0);
    assert.equal(e.state, 'active');
    guestRetire(host, { instructions: 100, branches: 10 });
    host.perfExports.putGuestContext(0);
    assert.equal(e.read().value, 10n);
  });

  it('time: an exclude_guest event never multiplexed has time_enabled == time_running, minus the guest time exactly', () => {
    const host = machine();
    const e = host.perf.open({ config: 'branches', excludeGuest: true }, { cpu: 0 });
    const task = host.perf.open({ config: 'instructions', excludeGuest: true }, { pid: 1 });
    const uncore = host.perf.open({ pmu: 'uncore_imc', config: 'data_reads' }, { cpu: 0 });
    host.exec({ instructions: cyclesFor(host, 3_000_000) }); // 3 ms host
    host.perfExports.loadGuestContext(0);
    guestRetire(host, { instructions: cyclesFor(host, 50_000_000) }); // 50 ms guest
    host.cpus[0]!.stall(cyclesFor(host, 7_000_000)); // 7 ms more guest time (e.g. halted)
    host.perfExports.putGuestContext(0);
    host.exec({ instructions: cyclesFor(host, 2_000_000) }); // 2 ms host
    for (const ev of [e, task]) {
      const r = ev.read();
      assert.equal(r.timeEnabled, r.timeRunning);
      assert.equal(r.timeEnabled, 5_000_000n, 'host time only');
    }
    assert.equal(uncore.read().timeEnabled, 62_000_000n, 'the uncore clock includes guest time');
  });

  it('property: over any interleaving of host work, guest work and loads, enabled == running == host time, exactly', () => {
    fc.assert(
      fc.property(
        // Phases of whole microseconds: the host time is an exact number of ns,
        // and the event's enabled time must be that number (no tolerance).
        fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 2_000 })), { maxLength: 20 }),
        (phases) => {
          const host = machine();
          const e = host.perf.open({ config: 'cycles', excludeGuest: true }, { cpu: 0 });
          let hostNs = 0;
          for (const [guest, us] of phases) {
            const cycles = cyclesFor(host, us * 1000);
            if (guest) {
              host.perfExports.loadGuestContext(0);
              guestRetire(host, { instructions: cycles });
              host.perfExports.putGuestContext(0);
            } else {
              host.exec({ instructions: cycles });
              hostNs += us * 1000;
            }
          }
          const r = e.read();
          assert.equal(r.timeEnabled, r.timeRunning);
          assert.equal(r.timeEnabled, BigInt(hostNs));
        },
      ),
      { seed: 0x7e57, numRuns: 60 },
    );
  });
});

describe('the guest LVTPC and the mediated PMI (3.3)', () => {
  it('load: fixed delivery of 0xF5 keeping only the guest mask bit; put: NMI delivery again', () => {
    const host = machine();
    const cpu = host.cpus[0]!;
    assert.equal(PERF_GUEST_MEDIATED_PMI_VECTOR, 0xf5);
    host.perfExports.loadGuestLvtpc(0, LVT.MASKED | LVT.DM_NMI | 0x20);
    assert.equal(cpu.lapic.lvtpc, LVT.DM_FIXED | 0xf5 | LVT.MASKED);
    host.perfExports.loadGuestLvtpc(0, 0x4ee);
    assert.equal(cpu.lapic.lvtpc, 0xf5);
    assert.equal(host.perfCore.x86!.isGuestLvtpcLoaded(0), true);
    host.perfExports.putGuestLvtpc(0);
    assert.equal(cpu.lapic.lvtpc, 0x400);
    assert.equal(host.perfCore.x86!.isGuestLvtpcLoaded(0), false);
  });

  it("while the guest LVTPC is loaded perf's NMI handler ignores NMIs and touches no MSR", () => {
    const host = machine();
    const e = host.perf.open({ config: 'branches', samplePeriod: 10 }, { cpu: 0 });
    host.exec({ instructions: 100, branches: 9 });
    host.perfExports.loadGuestLvtpc(0, 0);
    // A stray NMI (another source) while the guest owns the PMU.
    const spy = new MsrSpy(host.cpus[0]!);
    assert.equal(host.perfCore.handleNmi(0), false);
    assert.equal(spy.total, 0);
    host.perfExports.putGuestLvtpc(0);
    host.exec({ instructions: 100, branches: 1 });
    assert.equal(e.samples, 1, 'NMIs are handled again after the put');
    assert.equal(host.perfCore.handleNmi(0), false, 'nothing pending: NMI_DONE');
  });

  it('a guest counter overflow arrives on 0xF5: acked (EOI) and handed to the registered KVM handler', () => {
    const host = machine();
    const cpu = host.cpus[0]!;
    const seen: number[] = [];
    host.perfExports.registerMediatedPmiHandler((c) => seen.push(c));
    host.perfExports.loadGuestContext(0);
    host.perfExports.loadGuestLvtpc(0, 0);
    // What KVM loads for the guest: a counter 5 events from wrapping, interrupt enabled.
    cpu.wrmsr(MSR.IA32_PMC0, 2n ** 48n - 5n);
    cpu.wrmsr(MSR.IA32_PERFEVTSEL0, 0xc4n | EVTSEL.EN | EVTSEL.INT | EVTSEL.USR | EVTSEL.OS);
    cpu.wrmsr(MSR.IA32_PERF_GLOBAL_CTRL, 1n);
    const eois = cpu.lapic.eois;
    guestRetire(host, { instructions: 100, branches: 8 });
    assert.deepEqual(seen, [0]);
    assert.equal(host.perfExports.mediatedPmis[0], 1);
    assert.equal(cpu.lapic.eois, eois + 1);
    assert.equal(cpu.interruptsDelivered.vectored, 1);
    assert.equal(cpu.interruptsDelivered.nmi, 0);
    host.perfExports.registerMediatedPmiHandler(null);
    cpu.wrmsr(MSR.IA32_PMC0, 2n ** 48n - 1n);
    cpu.lapic.writeLvtpc(0xf5);
    guestRetire(host, { instructions: 10, branches: 2 });
    assert.equal(host.perfExports.mediatedPmis[0], 2, 'acked even with no handler registered');
    host.perfExports.putGuestLvtpc(0);
    host.perfExports.putGuestContext(0);
  });
});

describe('kernel counters (the perf-emulated vPMU)', () => {
  // An observer's peek (for traces) sees what the running counter has counted
  // so far, as perf_event_read_value would, without reading it for KVM.
  it('peekCount of a running counter includes what its hardware counter counted since the last read', () => {
    const host = machine();
    const k = host.perfExports.createKernelCounter(
      { config: 'branches', pinned: true },
      -1,
      1,
      () => {},
    );
    host.exec({ instructions: 100, branches: 80 });
    assert.equal(host.perfExports.peekCount(k), 80);
    assert.equal(host.perfExports.readCounter(k), 80);
  });

  it('create, read, period, pause, enable and release a pinned exclude_host task counter with an overflow handler', () => {
    const host = machine();
    const overflows: number[] = [];
    const k = host.perfExports.createKernelCounter(
      { config: 'branches', pinned: true, excludeHost: true, samplePeriod: 50 },
      -1,
      1,
      (ev) => overflows.push(ev.id),
    );
    assert.equal(k.ctx.kind, 'task');
    assert.equal(
      host.perf.nrIncludeGuestEvents,
      1,
      'exclude_host is still include-guest: accounted',
    );
    // Intel: exclude_host keeps the counter off in the host; guest GLOBAL_CTRL includes it.
    const bit = 1n << BigInt(k.idx);
    const sw = host.perfExports.guestSwitchGlobalCtrl(0)!;
    assert.deepEqual([sw.host & bit, sw.guest & bit], [0n, bit]);
    host.exec({ instructions: 100, branches: 80 });
    assert.equal(host.perfExports.readCounter(k), 0);
    // In the guest: GLOBAL_CTRL switched to the guest value at VM-entry and to
    // the host value at VM-exit, as the VMCS does; a PMI in guest mode exits first.
    const cpu = host.cpus[0]!;
    const ctrl = MSR.IA32_PERF_GLOBAL_CTRL;
    cpu.guestModeExit = (delivery) => {
      cpu.guestMode = false;
      cpu.wrmsr(ctrl, host.perfExports.guestSwitchGlobalCtrl(0)!.host);
      cpu.hostInterrupt(delivery);
      cpu.wrmsr(ctrl, host.perfExports.guestSwitchGlobalCtrl(0)!.guest);
      cpu.guestMode = true;
    };
    cpu.wrmsr(ctrl, sw.guest);
    guestRetire(host, { instructions: 100, branches: 120 });
    cpu.wrmsr(ctrl, sw.host);
    cpu.guestModeExit = null;
    assert.equal(host.perfExports.readCounter(k), 120);
    assert.equal(overflows.length, 2);
    assert.equal(host.perfExports.pauseCounter(k), 120);
    assert.equal(k.state, -1, 'paused: off');
    assert.equal(host.perfExports.readCounter(k), 0, 'the pause reset the count');
    host.perfExports.enableCounter(k);
    assert.equal(host.perfExports.counterInError(k), false);
    host.perfExports.releaseKernelCounter(k);
    assert.equal(host.perf.nrIncludeGuestEvents, 0);
  });

  it('a pinned kernel counter that cannot get a counter is in error', () => {
    const host = machine({ cpu: 'intel-skylake' });
    for (let i = 0; i < 4; i++)
      host.perf.open({ config: 'branches', pinned: true, excludeGuest: true }, { cpu: 0 });
    const k = host.perfExports.createKernelCounter(
      { config: 'branch-misses', pinned: true, excludeHost: true, samplePeriod: 10 },
      0,
      -1,
      () => {},
    );
    assert.equal(host.perfExports.counterInError(k), true);
  });

  // intel_set_masks / intel_guest_get_msrs (arch/x86/events/intel/core.c): an
  // exclude_guest event's counter is set in cpuc->intel_ctrl_host_mask, so the
  // guest GLOBAL_CTRL the legacy vPMU loads at VM-entry leaves it off; when
  // the event is gone its bit comes back.
  it('an exclude_guest host event is off in the guest GLOBAL_CTRL of the legacy switch, and back once it closes', () => {
    const host = machine();
    const e = host.perf.open({ config: 'branches', excludeGuest: true }, { cpu: 0 });
    const bit = 1n << BigInt(counterOf(e));
    const open = host.perfExports.guestSwitchGlobalCtrl(0)!;
    assert.deepEqual([open.host & bit, open.guest & bit], [bit, 0n]);
    e.close();
    const closed = host.perfExports.guestSwitchGlobalCtrl(0)!;
    assert.deepEqual([closed.host & bit, closed.guest & bit], [bit, bit]);
  });

  it('guestSwitchGlobalCtrl is Intel-only', () => {
    assert.equal(machine({ cpu: 'amd-zen4' }).perfExports.guestSwitchGlobalCtrl(0), null);
    assert.deepEqual(machine().perfExports.guestSwitchGlobalCtrl(0), {
      host: 0xf000000ffn,
      guest: 0xf000000ffn,
    });
  });
});
