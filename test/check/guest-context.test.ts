/**
 * The guest-context model (src/perf/guest-context-protocol.ts): upstream's
 * load / put hold against installs, removals, rotations and PMIs; each mutant
 * is caught with a counterexample that replays to the same trace.
 *
 * Upstream facts the expectations rest on: vcpu_enter_guest()
 * (arch/x86/kvm/x86.c) calls kvm_mediated_pmu_load() after
 * local_irq_disable() and kvm_mediated_pmu_put() before interrupts are
 * enabled again; kvm_mediated_pmu_put() calls perf_put_guest_lvtpc() before
 * perf_put_guest_context() (arch/x86/kvm/pmu.c); IPIs and the hrtimer run
 * only while interrupts are on. So the two checks of merge_sched_in()
 * (kernel/events/core.c) are never reached with a guest loaded unless a
 * caller takes interrupts while it is loaded (--irq-window).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runCheck, runReplay, type CheckOptions } from '../../src/check/check.ts';
import { createProtocolMemory, runOperation } from '../../src/common/protocol.ts';
import {
  GUEST_CTX_LOADED,
  PERF_GUEST_CONTEXT,
  TIMEGUEST_OPEN,
} from '../../src/perf/guest-context-protocol.ts';

const check = (
  variant: string,
  params: CheckOptions['params'] = {},
  extra: Partial<CheckOptions> = {},
) => runCheck({ model: 'guest-context', variant, params, ...extra });

const wide = { rounds: 2, events: 2, rotations: 1, pmis: 1 };

for (const irqWindow of [false, true]) {
  const flow = irqWindow ? 'with an interrupt window while loaded' : 'as upstream (interrupts off)';
  test(`upstream holds ${flow}, 2 entries x 2 host events x a rotation x PMIs, with and without reductions`, () => {
    const params = irqWindow ? { ...wide, 'irq-window': true } : wide;
    const reduced = check('upstream', params);
    const plain = check('upstream', params, { symmetry: false, por: false });
    for (const r of [reduced, plain]) {
      assert.equal(r.verdict, 'holds', JSON.stringify(r.violation));
      assert.equal(r.complete, true);
    }
    assert.ok(reduced.states <= plain.states);
  });
}

/** Each mutant: the property it breaks, in which flows, and what its trace must show. */
const MUTANTS: { variant: string; property: string; needsIrqWindow: boolean; shows: RegExp }[] = [
  {
    variant: 'load-irqs-on',
    property: 'half-switched',
    needsIrqWindow: false,
    shows: /__perf_install_in_context[\s\S]*ghost assertion fails: half-switched/,
  },
  {
    variant: 'lvtpc-after-host-events',
    property: 'pmi-routing',
    needsIrqWindow: false,
    shows: /host counter overflow[\s\S]*if \(atomic_read\(&lvtpc_guest_vector\)\)/,
  },
  {
    variant: 'rotation-ignores-guest',
    property: 'host-off-in-guest',
    needsIrqWindow: true,
    shows: /perf_rotate_context[\s\S]*atomic_set\(&event0_active, 1\)/,
  },
  {
    variant: 'install-skips-guest-check',
    property: 'host-off-in-guest',
    needsIrqWindow: true,
    shows: /__perf_install_in_context[\s\S]*atomic_set\(&event0_active, 1\)/,
  },
];

for (const m of MUTANTS) {
  test(`mutant ${m.variant} is caught: ${m.property}${m.needsIrqWindow ? ' (with --irq-window)' : ''}; the schedule replays`, () => {
    const r = check(m.variant, m.needsIrqWindow ? { 'irq-window': true } : {});
    assert.equal(r.verdict, 'violated');
    assert.equal(r.violation!.property, m.property);
    assert.equal(r.minimal, true);
    const text = r.trace!.map((s) => `${s.operation}\n${s.step}`).join('\n');
    assert.match(text, m.shows);
    const again = runReplay(r.schedule!);
    assert.deepEqual(again.violation, r.violation);
    assert.deepEqual(again.trace, r.trace);
  });
}

test('the checks that only an interrupt window reaches: without one, those two mutants hold (upstream never takes interrupts while loaded)', () => {
  for (const variant of ['rotation-ignores-guest', 'install-skips-guest-check']) {
    const r = check(variant, wide);
    assert.equal(r.verdict, 'holds', variant);
    assert.equal(r.complete, true);
  }
});

test('load-irqs-on also deadlocks: an IPI that interrupts the load spins on perf_ctx_lock', () => {
  const r = check('load-irqs-on', {}, { properties: ['deadlock'] });
  assert.equal(r.verdict, 'violated');
  assert.equal(r.violation!.property, 'deadlock');
  // The handler holds the CPU (it interrupted the load) and waits for the
  // lock the interrupted load holds.
  assert.match(r.finalMemory!, /cpu=(event0|rotation) perf_ctx_lock=vcpu/);
});

test("perf's sequential executor runs the same load / put: the flag, the guest time's stamp, the WARNs", () => {
  const warned: number[] = [];
  const memory = createProtocolMemory(PERF_GUEST_CONTEXT, (site) => warned.push(site));
  const ops = PERF_GUEST_CONTEXT.ops;
  assert.equal(runOperation(ops.perfLoadGuestContext, memory), 0);
  assert.equal(memory.cells[GUEST_CTX_LOADED], 1);
  assert.equal(memory.cells[TIMEGUEST_OPEN], 1);
  // A second load: WARN_ON_ONCE(guest_ctx_loaded) in perf_load_guest_context (site 0).
  runOperation(ops.perfLoadGuestContext, memory);
  assert.deepEqual(warned, [0]);
  runOperation(ops.perfPutGuestContext, memory);
  assert.equal(memory.cells[GUEST_CTX_LOADED], 0);
  assert.equal(memory.cells[TIMEGUEST_OPEN], 0);
  // A put without a load: WARN_ON_ONCE(!guest_ctx_loaded) in perf_put_guest_context (site 1).
  runOperation(ops.perfPutGuestContext, memory);
  assert.deepEqual(warned, [0, 1]);
  assert.deepEqual([...memory.mutexes], [0, 0]);
});
