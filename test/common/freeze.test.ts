/**
 * deepFreeze freezes a table all the way down, and the tables the project
 * shares are frozen that way: changing a CPU model, an MSR index or a
 * protocol step through a shared reference must fail, not change later runs.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ERRNO } from '../../src/common/errors.ts';
import { deepFreeze, isDeepFrozen } from '../../src/common/freeze.ts';
import { CPU_MODELS } from '../../src/hw/cpu-models.ts';
import { NAMED_EVENTS, QUANTITY_NAMES, WORK_KEYS } from '../../src/hw/events.ts';
import { EVTSEL, FIXED_CTRL, GLOBAL, LVT, MSR, PERF_CAP, RDPMC } from '../../src/hw/msr.ts';
import { KVM_PMU_MASKED_ENTRY } from '../../src/kvm/event-filter.ts';
import { ACCOUNTING_VARIANTS } from '../../src/perf/mediated-protocol.ts';
import { COST_MODELS } from '../../src/sim/cost-model.ts';

describe('deepFreeze', () => {
  it('freezes nested objects and arrays, leaves functions callable, survives cycles', () => {
    const f = () => 7;
    const table = { a: { b: [1, { c: 2 }] }, f, self: null as unknown };
    table.self = table;
    const frozen = deepFreeze(table);
    assert.equal(Object.isFrozen(table.a), true);
    assert.equal(Object.isFrozen(table.a.b), true);
    assert.equal(Object.isFrozen(table.a.b[1]), true);
    assert.equal(Object.isFrozen(f), false);
    assert.equal(frozen.f(), 7);
    assert.equal(isDeepFrozen(table), true);
    assert.throws(() => {
      (table.a.b[1] as { c: number }).c = 3;
    }, TypeError);
  });

  it('isDeepFrozen sees a shallow freeze for what it is', () => {
    assert.equal(isDeepFrozen(Object.freeze({ inner: { x: 1 } })), false);
    assert.equal(isDeepFrozen(Object.freeze({ inner: Object.freeze({ x: 1 }) })), true);
  });
});

describe('shared tables are frozen all the way down', () => {
  const tables = {
    ERRNO,
    CPU_MODELS,
    NAMED_EVENTS,
    QUANTITY_NAMES,
    WORK_KEYS,
    MSR,
    EVTSEL,
    FIXED_CTRL,
    GLOBAL,
    PERF_CAP,
    LVT,
    RDPMC,
    KVM_PMU_MASKED_ENTRY,
    ACCOUNTING_VARIANTS,
    COST_MODELS,
  };
  for (const [name, table] of Object.entries(tables)) {
    it(name, () => assert.equal(isDeepFrozen(table), true));
  }
});
