import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { createProtocolMemory, runOperation } from '../../src/common/protocol.ts';
import { UPSTREAM, V6 } from '../../src/perf/mediated-protocol.ts';
import { atomicIncNotZero, runShared, sharedLayout } from '../../src/shm/shared-executor.ts';
import { mutexLock, mutexUnlock } from '../../src/shm/futex-mutex.ts';

test('atomic_inc_not_zero leaves 0 alone and increments anything else', () => {
  const m = new Int32Array(new SharedArrayBuffer(8));
  assert.equal(atomicIncNotZero(m, 0), false);
  assert.equal(m[0], 0);
  m[0] = 2;
  assert.equal(atomicIncNotZero(m, 0), true);
  assert.equal(m[0], 3);
});

test('the futex mutex goes 0 -> 1 -> 0 uncontended and wakes from 2', () => {
  const m = new Int32Array(new SharedArrayBuffer(4));
  mutexLock(m, 0);
  assert.equal(m[0], 1);
  mutexUnlock(m, 0);
  assert.equal(m[0], 0);
  m[0] = 2; // locked with waiters
  mutexUnlock(m, 0);
  assert.equal(m[0], 0);
});

test('on one thread the shared executor agrees with the sequential one', () => {
  const ops = ['create', 'release', 'account', 'unaccount'] as const;
  fc.assert(
    fc.property(
      fc.constantFrom(UPSTREAM, V6),
      fc.array(fc.constantFrom(...ops), { maxLength: 30 }),
      (protocol, calls) => {
        const layout = sharedLayout(protocol, 0);
        const shared = new Int32Array(new SharedArrayBuffer(layout.words * 4));
        const sequential = createProtocolMemory(protocol);
        for (const name of calls) {
          const op = protocol.operations[name];
          assert.equal(runShared(op, shared, layout), runOperation(op, sequential));
          assert.deepEqual([...shared.subarray(0, 2)], [...sequential.cells]);
        }
      },
    ),
  );
});
