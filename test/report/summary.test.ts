import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  exitReasons,
  meanAbsErrorPercent,
  orderingCheck,
  orderingText,
  refusalMessage,
  relation,
  sweepSummary,
} from '../../src/report/summary.ts';
import { designFixture, reportFixture, sweepFixture } from './fixtures.ts';

test('relation: >> for at least twice and a point apart, > when apart, ~ when equal at 0.01 %', () => {
  assert.equal(relation(33.62, 6.21), '>>');
  assert.equal(relation(6.21, 4.24), '>');
  assert.equal(relation(1.5, 0.7), '>');
  assert.equal(relation(4.241, 4.24), '~');
});

test('orderingText: highest first, stated as it came out', () => {
  assert.equal(
    orderingText([
      { design: 'mediated', overheadPercent: 6.21 },
      { design: 'emulated', overheadPercent: 33.62 },
      { design: 'passthrough-all', overheadPercent: 4.24 },
    ]),
    'emulated 33.62% >> mediated 6.21% > passthrough-all 4.24%',
  );
});

test('orderingCheck: consistent with the published table, or the pairs that came out inverted', () => {
  const report = reportFixture();
  const check = orderingCheck(report);
  assert.equal(check.simulated, 'emulated 31.87% >> mediated 6.05% > passthrough-all 4.40%');
  assert.equal(check.published, 'emulated 33.62% >> mediated 6.21% > passthrough-all 4.24%');
  assert.equal(check.consistent, true);

  report.results.find((r) => r.design === 'passthrough-all')!.overheadPercent = 7;
  const inverted = orderingCheck(report);
  assert.equal(inverted.consistent, false);
  assert.deepEqual(inverted.inversions, ['passthrough-all above mediated']);

  // Any inversion counts, as for vpmu run's exit code; a published tie is not judged.
  report.results.find((r) => r.design === 'passthrough-all')!.overheadPercent = 6.0544;
  assert.deepEqual(orderingCheck(report).inversions, ['passthrough-all above mediated']);
  report.published!.overheadPercent['passthrough-all'] = 6.21;
  assert.equal(orderingCheck(report).consistent, true);

  const unpublished = orderingCheck(reportFixture({ published: false }));
  assert.equal(unpublished.published, undefined);
  assert.equal(unpublished.consistent, undefined);
});

test('meanAbsErrorPercent: over finite errors only; undefined without events', () => {
  const r = designFixture('mediated');
  r.guestEvents = r.guestEvents.slice(0, 2);
  r.guestEvents[0]!.errorPercent = -2;
  r.guestEvents[1]!.errorPercent = 4;
  assert.equal(meanAbsErrorPercent(r), 3);
  r.guestEvents[1]!.errorPercent = Infinity;
  assert.equal(meanAbsErrorPercent(r), 2);
  // An event the guest's perf refused (ENOENT: no usable PMU) measured nothing.
  r.guestEvents[1]!.errorPercent = -100;
  r.guestEvents[1]!.refused = 'ENOENT';
  assert.equal(meanAbsErrorPercent(r), 2);
  assert.equal(meanAbsErrorPercent(designFixture('mediated', { noGuestEvents: true })), undefined);
});

test('exitReasons: union over designs, most frequent first', () => {
  const reasons = exitReasons(reportFixture().results);
  assert.equal(reasons[0], 'MSR_WRITE');
  assert.ok(reasons.includes('CPUID') && reasons.includes('EXCEPTION_NMI'));
  assert.equal(new Set(reasons).size, reasons.length);
});

test('sweepSummary: one row per report, the parameter from the reports', () => {
  const summary = sweepSummary(sweepFixture(['0', '2']));
  assert.equal(summary.parameter, 'host.pinnedEvents');
  assert.deepEqual(summary.designs, ['emulated', 'mediated', 'passthrough-all']);
  assert.deepEqual(
    summary.rows.map((r) => r.value),
    ['0', '2'],
  );
  assert.ok(
    summary.rows[1]!.overheadPercent.emulated! > summary.rows[0]!.overheadPercent.emulated!,
  );
  assert.equal(sweepSummary([]).rows.length, 0);
});

test('refusalMessage: the errno the message may start with is printed apart', () => {
  const refusal = { guest: 'vm0', errno: 'EBUSY', message: 'EBUSY: perf refused the mediated PMU' };
  assert.equal(refusalMessage(refusal), 'perf refused the mediated PMU');
  assert.equal(
    refusalMessage({ ...refusal, message: 'KVM_CREATE_VCPU failed' }),
    'KVM_CREATE_VCPU failed',
  );
});
