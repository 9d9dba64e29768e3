import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runCheck, runReplay } from '../../src/check/check.ts';
import { createProtocolMemory, runOperation, StepKind } from '../../src/common/protocol.ts';
import { ERRNO } from '../../src/common/errors.ts';
import { vmLifecycleProtocol } from '../../src/kvm/vm-lifecycle-protocol.ts';

const lifecycle = (variant: string, params = { vms: 1, vcpus: 2, events: 1, rounds: 1 }) =>
  runCheck({ model: 'vm-lifecycle', variant, params });

test('the inlined protocol runs sequentially: first vCPU creates once, destroy releases once', () => {
  const p = vmLifecycleProtocol(1);
  const memory = createProtocolMemory(p);
  const create = p.operations['create_vcpu@0']!;
  assert.equal(runOperation(create, memory), 0);
  assert.equal(runOperation(create, memory), 0);
  assert.deepEqual([...memory.cells], [1, 0, 1, 2]);
  assert.equal(runOperation(p.operations['destroy_vm@0']!, memory), 0);
  assert.deepEqual([...memory.cells.slice(0, 2)], [0, 0]);
});

test('with an include-guest event, the first vCPU creation fails with -EBUSY and leaves nothing to release', () => {
  const p = vmLifecycleProtocol(1);
  const warnings: number[] = [];
  const memory = createProtocolMemory(p, (site) => warnings.push(site));
  assert.equal(runOperation(p.perf.operations.account, memory), 0);
  assert.equal(runOperation(p.operations['create_vcpu@0']!, memory), -ERRNO.EBUSY);
  assert.equal(runOperation(p.operations['destroy_vm@0']!, memory), 0);
  assert.deepEqual([...memory.cells], [0, 1, 0, 0]);
  assert.deepEqual(warnings, []);
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
