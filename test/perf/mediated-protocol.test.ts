/**
 * The mediated-PMU accounting as protocol data (src/perf/mediated-protocol.ts):
 * the shape of each operation as merged upstream and as posted in v6, and
 * their outcomes on every small state of the two counters, run by the
 * sequential executor.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ERRNO } from '../../src/common/errors.ts';
import {
  createProtocolMemory,
  isSharedStep,
  runOperation,
  StepKind,
  type Operation,
} from '../../src/common/protocol.ts';
import {
  ACCOUNTING_VARIANTS,
  accountingOperation,
  accountingShape,
  NR_INCLUDE_GUEST_EVENTS,
  NR_MEDIATED_PMU_VMS,
  UPSTREAM,
  V6,
  WARN_SITES,
  type AccountingOperation,
  type AccountingProtocol,
} from '../../src/perf/mediated-protocol.ts';

const EBUSY = -ERRNO.EBUSY;
const EOPNOTSUPP = -ERRNO.EOPNOTSUPP;
const OPS: readonly AccountingOperation[] = ['create', 'release', 'account', 'unaccount'];

function kinds(op: Operation): StepKind[] {
  return op.steps.map((s) => s.kind);
}

/** Run one operation from (vms, events); the result, the new state and the WARN sites hit. */
function run(
  protocol: AccountingProtocol,
  op: AccountingOperation,
  vms: number,
  events: number,
  mutexHolder = 0,
) {
  const warned: number[] = [];
  const memory = createProtocolMemory(protocol, (site) => warned.push(site));
  memory.cells[NR_MEDIATED_PMU_VMS] = vms;
  memory.cells[NR_INCLUDE_GUEST_EVENTS] = events;
  memory.mutexes[0] = mutexHolder;
  const result = runOperation(protocol.operations[op], memory);
  return {
    result,
    vms: memory.cells[NR_MEDIATED_PMU_VMS],
    events: memory.cells[NR_INCLUDE_GUEST_EVENTS],
    warned,
    mutex: memory.mutexes[0],
  };
}

describe('protocol shape', () => {
  it('both variants share the cells, the mutex and the two WARN sites', () => {
    for (const p of [UPSTREAM, V6]) {
      assert.deepEqual(p.cells, ['nr_mediated_pmu_vms', 'nr_include_guest_events']);
      assert.deepEqual(p.mutexes, ['perf_mediated_pmu_mutex']);
      assert.deepEqual(p.warnSites, WARN_SITES);
      assert.deepEqual(Object.keys(p.operations).sort(), [...OPS].sort());
    }
    assert.deepEqual(ACCOUNTING_VARIANTS, { upstream: UPSTREAM, v6: V6 });
    assert.ok(
      Object.isFrozen(UPSTREAM) && Object.isFrozen(V6) && Object.isFrozen(UPSTREAM.operations),
    );
    assert.deepEqual(accountingShape.cells, UPSTREAM.cells);
  });

  it('upstream: create and account share the fast-path shape (inc_not_zero outside the mutex)', () => {
    const acquire = [
      StepKind.IncNotZero,
      StepKind.Lock,
      StepKind.JumpIfNonZero,
      StepKind.Inc,
      StepKind.Unlock,
      StepKind.Return,
      StepKind.Unlock,
      StepKind.Return,
    ];
    assert.deepEqual(kinds(UPSTREAM.operations.create), acquire);
    assert.deepEqual(kinds(UPSTREAM.operations.account), acquire);
    assert.equal(UPSTREAM.operations.create.name, 'perf_create_mediated_pmu');
    assert.equal(UPSTREAM.operations.account.name, 'mediated_pmu_account_event');
    // create increments the VM count and checks the events; account the reverse.
    const c = UPSTREAM.operations.create.steps;
    assert.deepEqual(
      [c[0]!.cell, c[2]!.cell, c[3]!.cell, c.at(-1)!.value],
      [NR_MEDIATED_PMU_VMS, NR_INCLUDE_GUEST_EVENTS, NR_MEDIATED_PMU_VMS, EBUSY],
    );
    const a = UPSTREAM.operations.account.steps;
    assert.deepEqual(
      [a[0]!.cell, a[2]!.cell, a[3]!.cell, a.at(-1)!.value],
      [NR_INCLUDE_GUEST_EVENTS, NR_MEDIATED_PMU_VMS, NR_INCLUDE_GUEST_EVENTS, EOPNOTSUPP],
    );
  });

  it('upstream: both releases check for underflow (WARN_ON_ONCE, then return without decrementing)', () => {
    const release = [
      StepKind.JumpIfNonZero,
      StepKind.WarnOnce,
      StepKind.Return,
      StepKind.Dec,
      StepKind.Return,
    ];
    assert.deepEqual(kinds(UPSTREAM.operations.release), release);
    assert.deepEqual(kinds(UPSTREAM.operations.unaccount), release);
    assert.equal(
      UPSTREAM.operations.release.steps[1]!.value,
      WARN_SITES.indexOf('perf_release_mediated_pmu'),
    );
    assert.equal(
      UPSTREAM.operations.unaccount.steps[1]!.value,
      WARN_SITES.indexOf('mediated_pmu_unaccount_event'),
    );
  });

  it('v6: create locks before its fast path, account always locks, unaccount has no underflow check', () => {
    assert.deepEqual(kinds(V6.operations.create), [
      StepKind.Lock,
      StepKind.IncNotZero,
      StepKind.JumpIfNonZero,
      StepKind.Inc,
      StepKind.Unlock,
      StepKind.Return,
      StepKind.Unlock,
      StepKind.Return,
    ]);
    assert.deepEqual(kinds(V6.operations.account), [
      StepKind.Lock,
      StepKind.JumpIfNonZero,
      StepKind.Inc,
      StepKind.Unlock,
      StepKind.Return,
      StepKind.Unlock,
      StepKind.Return,
    ]);
    assert.deepEqual(kinds(V6.operations.unaccount), [StepKind.Dec, StepKind.Return]);
    assert.deepEqual(V6.operations.release, UPSTREAM.operations.release);
  });

  it('every step names the kernel source it stands for, and shared steps are the memory ones', () => {
    for (const p of [UPSTREAM, V6]) {
      for (const op of Object.values(p.operations)) {
        for (const s of op.steps) {
          assert.ok(s.text.length > 0);
          assert.equal(
            isSharedStep(s.kind),
            ![StepKind.WarnOnce, StepKind.Return, StepKind.Jump].includes(s.kind),
          );
        }
      }
    }
    assert.match(UPSTREAM.operations.create.steps.at(-1)!.text, /EBUSY/);
    assert.match(UPSTREAM.operations.account.steps.at(-1)!.text, /EOPNOTSUPP/);
  });

  it('accountingOperation builds operations of the same shape (for mutants)', () => {
    const op = accountingOperation('mutant').inc('nr_mediated_pmu_vms').ret(0).build();
    assert.equal(
      run({ ...UPSTREAM, operations: { ...UPSTREAM.operations, create: op } }, 'create', 0, 3).vms,
      1,
    );
    assert.throws(() => accountingOperation('bad').inc('nr_bogus').ret(0).build(), /unknown cell/);
  });
});

describe('outcomes on every state up to 3 VMs and 3 events', () => {
  /** The merged semantics of docs/mediated-vpmu.md 3.1. */
  function expectedUpstream(op: AccountingOperation, vms: number, events: number) {
    switch (op) {
      case 'create':
        if (vms > 0) return { result: 0, vms: vms + 1, events, warned: [] };
        return events > 0
          ? { result: EBUSY, vms, events, warned: [] }
          : { result: 0, vms: 1, events, warned: [] };
      case 'account':
        if (events > 0) return { result: 0, vms, events: events + 1, warned: [] };
        return vms > 0
          ? { result: EOPNOTSUPP, vms, events, warned: [] }
          : { result: 0, vms, events: 1, warned: [] };
      case 'release':
        return vms > 0
          ? { result: 0, vms: vms - 1, events, warned: [] }
          : { result: 0, vms, events, warned: [0] };
      case 'unaccount':
        return events > 0
          ? { result: 0, vms, events: events - 1, warned: [] }
          : { result: 0, vms, events, warned: [1] };
    }
  }

  function expectedV6(op: AccountingOperation, vms: number, events: number) {
    // Account has no fast path: a VM refuses it even in the (unreachable) state with events already counted.
    if (op === 'account')
      return vms > 0
        ? { result: EOPNOTSUPP, vms, events, warned: [] }
        : { result: 0, vms, events: events + 1, warned: [] };
    if (op === 'unaccount') return { result: 0, vms, events: events - 1, warned: [] };
    return expectedUpstream(op, vms, events);
  }

  for (const [protocol, expected] of [
    [UPSTREAM, expectedUpstream],
    [V6, expectedV6],
  ] as const) {
    it(`${protocol.name}: result, counters and WARNs match the reference; the mutex is free afterwards`, () => {
      for (const op of OPS) {
        for (let vms = 0; vms <= 3; vms++) {
          for (let events = 0; events <= 3; events++) {
            const got = run(protocol, op, vms, events);
            assert.deepEqual(
              { result: got.result, vms: got.vms, events: got.events, warned: got.warned },
              expected(op, vms, events),
              `${protocol.name} ${op} from (${vms}, ${events})`,
            );
            assert.equal(got.mutex, 0);
          }
        }
      }
    });
  }

  it('upstream fast paths do not touch the mutex; v6 create and account would block on it', () => {
    const held = 7; // thread 6 holds perf_mediated_pmu_mutex
    assert.equal(run(UPSTREAM, 'create', 1, 0, held).vms, 2);
    assert.equal(run(UPSTREAM, 'account', 0, 1, held).events, 2);
    assert.equal(run(UPSTREAM, 'release', 1, 0, held).vms, 0);
    assert.equal(run(UPSTREAM, 'unaccount', 0, 1, held).events, 0);
    assert.throws(() => run(V6, 'create', 1, 0, held), /would block/);
    assert.throws(() => run(V6, 'account', 0, 1, held), /would block/);
    // The slow path needs the mutex in both.
    assert.throws(() => run(UPSTREAM, 'create', 0, 0, held), /would block/);
  });
});
