import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runCheck, runReplay } from '../../src/check/check.ts';
import { createProtocolMemory, runOperation, StepKind } from '../../src/common/protocol.ts';
import { ERRNO } from '../../src/common/errors.ts';
import {
  createdFlag,
  enablePmuFlag,
  irqchipInKernel,
  vmLifecycleProtocol,
  type VmLifecycleProtocol,
} from '../../src/kvm/vm-lifecycle-protocol.ts';
import { DEFAULT_LIFECYCLE_PARAMS, lifecycleModel } from '../../src/check/lifecycle-model.ts';

/** Memory for VM 0 of `p`: kvm->arch.enable_pmu on, and an in-kernel irqchip unless told otherwise. */
function vmMemory(p: VmLifecycleProtocol, irqchip = true, warn?: (site: number) => void) {
  const memory = createProtocolMemory(p, warn);
  memory.cells[p.cells.indexOf(enablePmuFlag(0))] = 1;
  memory.cells[p.cells.indexOf(irqchipInKernel(0))] = irqchip ? 1 : 0;
  return memory;
}

const lifecycle = (variant: string, params = { vms: 1, vcpus: 2, events: 1, rounds: 1 }) =>
  runCheck({ model: 'vm-lifecycle', variant, params });

test('the model has one thread per vCPU, one destroyer per VM and one per event, each event doing its rounds', () => {
  const model = lifecycleModel('upstream', {
    ...DEFAULT_LIFECYCLE_PARAMS,
    vms: 2,
    vcpus: 2,
    events: 3,
    rounds: 2,
  });
  assert.deepEqual(
    model.threads.map((t) => t.name),
    [
      'vcpu0.0',
      'vcpu0.1',
      'destroy0',
      'vcpu1.0',
      'vcpu1.1',
      'destroy1',
      'event0',
      'event1',
      'event2',
    ],
  );
  // Each round is one account and one unaccount of an include-guest event.
  assert.deepEqual(
    model.threads.filter((t) => t.symmetryClass === 'event').map((t) => t.calls.length),
    [4, 4, 4],
  );
});

test('the inlined protocol runs sequentially: first vCPU creates once, destroy releases once', () => {
  const p = vmLifecycleProtocol(1);
  const memory = vmMemory(p);
  const create = p.operations['create_vcpu@0']!;
  assert.equal(runOperation(create, memory), 0);
  assert.equal(runOperation(create, memory), 0);
  // nr_mediated_pmu_vms, nr_include_guest_events, created, created_vcpus, enable_pmu, irqchip
  assert.deepEqual([...memory.cells], [1, 0, 1, 2, 1, 1]);
  assert.equal(runOperation(p.operations['destroy_vm@0']!, memory), 0);
  assert.deepEqual([...memory.cells.slice(0, 2)], [0, 0]);
});

test('with an include-guest event, the first vCPU creation fails with -EBUSY and leaves nothing to release', () => {
  const p = vmLifecycleProtocol(1);
  const warnings: number[] = [];
  const memory = vmMemory(p, true, (site) => warnings.push(site));
  assert.equal(runOperation(p.perf.operations.account, memory), 0);
  assert.equal(runOperation(p.operations['create_vcpu@0']!, memory), -ERRNO.EBUSY);
  assert.equal(runOperation(p.operations['destroy_vm@0']!, memory), 0);
  assert.deepEqual([...memory.cells], [0, 1, 0, 0, 1, 1]);
  assert.deepEqual(warnings, []);
});

// arch/x86/kvm/x86.c, kvm_arch_vcpu_precreate() (Linux 7.0): with
// enable_mediated_pmu and kvm->arch.enable_pmu but !irqchip_in_kernel(kvm),
// "kvm->arch.enable_pmu = false" instead of perf_create_mediated_pmu().
test('without an in-kernel LAPIC the first vCPU turns the PMU off: no mediated PMU, events unaffected', () => {
  const p = vmLifecycleProtocol(1);
  const memory = vmMemory(p, false);
  const create = p.operations['create_vcpu@0']!;
  assert.equal(runOperation(create, memory), 0);
  assert.equal(memory.cells[p.cells.indexOf(enablePmuFlag(0))], 0);
  assert.equal(memory.cells[p.cells.indexOf(createdFlag(0))], 0);
  assert.equal(runOperation(create, memory), 0);
  assert.equal(runOperation(p.perf.operations.account, memory), 0); // no VM holds: admitted
  assert.deepEqual([...memory.cells], [0, 1, 0, 2, 0, 0]);
  assert.equal(runOperation(p.operations['destroy_vm@0']!, memory), 0);
  assert.deepEqual([...memory.cells.slice(0, 3)], [0, 1, 0]); // nothing to release
});

test('--no-lapic: every property holds, no vCPU of VM 0 ever calls perf, and VM 1 still does', () => {
  const params = { vms: 2, vcpus: 2, events: 1, rounds: 1, 'no-lapic': true };
  const r = runCheck({ model: 'vm-lifecycle', variant: 'upstream', params });
  assert.equal(r.verdict, 'holds');
  // VM 0 cannot refuse an event, so a no-mutex-like race cannot involve it: the
  // mutant that creates twice is still caught on VM 1 alone.
  const twice = runCheck({
    model: 'vm-lifecycle',
    variant: 'precreate-outside-lock',
    params,
  });
  assert.equal(twice.violation?.property, 'once');
  assert.ok(
    twice.trace!.every((s) => !s.thread.startsWith('vcpu0.') || !/perf_create/.test(s.step)),
  );
});

test('the inlined perf steps keep their kernel text and their targets stay inside the operation', () => {
  const { op, perfCalls } = vmLifecycleProtocol(2).createVcpu[1]!;
  assert.ok(op.steps.some((s) => s.text === 'atomic_inc_not_zero(&nr_mediated_pmu_vms)'));
  for (const s of op.steps)
    if (s.target >= 0 && s.kind !== StepKind.Store) assert.ok(s.target < op.steps.length);
  assert.equal(perfCalls.createReturnedOk.length, 1); // the fast and slow paths share one return 0
  assert.equal(perfCalls.createRefused.length, 1);
});

test('upstream KVM: every property holds for racing first vCPUs, events and destroy', () => {
  for (const params of [
    { vms: 1, vcpus: 3, events: 1, rounds: 2 },
    { vms: 2, vcpus: 2, events: 2, rounds: 1 },
  ]) {
    const r = lifecycle('upstream', params);
    assert.equal(r.verdict, 'holds', JSON.stringify(params));
    assert.equal(r.complete, true);
  }
});

test('precreate outside kvm->lock: two first vCPUs both create the mediated PMU', () => {
  const r = lifecycle('precreate-outside-lock');
  assert.equal(r.violation!.property, 'once');
  assert.match(r.violation!.description, /twice/);
  const creates = r.trace!.filter((s) =>
    s.step.startsWith('return 0 (from perf_create_mediated_pmu)'),
  );
  assert.equal(new Set(creates.map((s) => s.thread)).size, 2);
  assert.deepEqual(runReplay(r.schedule!).trace, r.trace);
});

test('flag set before the create: a failed creation leaves destroy a release it never earned', () => {
  const r = lifecycle('flag-before-create');
  assert.equal(r.violation!.property, 'once');
  assert.equal(r.violation!.thread, 'destroy0');
  assert.ok(r.trace!.some((s) => s.step.startsWith('return -EBUSY')));
  assert.equal(r.minimal, true);
});

test('reductions never change a lifecycle verdict, property or schedule', () => {
  for (const variant of ['upstream', 'precreate-outside-lock', 'flag-before-create']) {
    const params = { vms: 2, vcpus: 2, events: 1, rounds: 1 };
    const reduced = runCheck({ model: 'vm-lifecycle', variant, params });
    const plain = runCheck({ model: 'vm-lifecycle', variant, params, symmetry: false, por: false });
    assert.equal(reduced.verdict, plain.verdict, variant);
    assert.equal(reduced.violation?.property, plain.violation?.property, variant);
    assert.equal(reduced.schedule, plain.schedule, variant);
    assert.ok(reduced.states <= plain.states);
  }
});
