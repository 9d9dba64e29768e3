/**
 * The model catalogue behind `vpmu check --list`: every variant a model kind
 * lists is described from that kind's own variant table.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MODEL_KINDS, variantInfo, variantNames } from '../../src/check/model-catalogue.ts';

test('every listed variant of every model kind has its description', () => {
  for (const kind of MODEL_KINDS)
    for (const name of variantNames(kind))
      assert.ok(variantInfo(kind, name), `${kind} variant ${name} has no description`);
});

test('a variant name two kinds share is described by the kind asked for', () => {
  // 'upstream' is in all three tables: the guest-context one alone is about
  // kvm_mediated_pmu_load() and interrupts (the perf/KVM context switch).
  const guest = variantInfo('guest-context', 'upstream')!.summary;
  for (const kind of MODEL_KINDS.filter((k) => k !== 'guest-context'))
    assert.notEqual(variantInfo(kind, 'upstream')!.summary, guest, kind);
  assert.equal(variantInfo('accounting', 'no-mutex')!.correct, false);
  assert.equal(variantInfo('vm-lifecycle', 'upstream')!.correct, true);
});
