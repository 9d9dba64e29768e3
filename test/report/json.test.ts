import assert from 'node:assert/strict';
import { test } from 'node:test';
import { toJson, toSweepJson } from '../../src/report/json.ts';
import { reportFixture, sweepFixture } from './fixtures.ts';

const decimals = (x: number): number => (Number.isInteger(x) ? 0 : String(x).split('.')[1]!.length);

test('toJson: the SimulationReport itself, keys in a stable order', () => {
  const json = toJson(
    reportFixture({ refusal: true, sweep: { parameter: 'host.pinnedEvents', value: '1' } }),
  );
  assert.deepEqual(Object.keys(json), [
    'scenario',
    'description',
    'seed',
    'duration',
    'cpu',
    'costModel',
    'sweep',
    'published',
    'results',
    'costParameters',
    'likeForLike',
  ]);
  assert.equal(json.scenario, 'basic-sampling');
  assert.equal(json.seed, 42);
  assert.deepEqual(
    json.results.map((r) => r.design),
    ['emulated', 'mediated', 'passthrough-all'],
  );
  const mediated = json.results[1]!;
  assert.deepEqual(Object.keys(mediated), [
    'design',
    'overheadPercent',
    'exits',
    'totalExits',
    'guestPmis',
    'guestEvents',
    'hostEvents',
    'refusals',
    'elapsedCycles',
    'workCycles',
    'costBreakdown',
    'timeline',
    'msrAccesses',
  ]);
  assert.deepEqual(Object.keys(mediated.guestEvents[0]!), [
    'guest',
    'event',
    'truth',
    'counted',
    'errorPercent',
    'operationInstructions',
    'raw',
    'timeEnabledNs',
    'timeRunningNs',
    'samples',
    'expectedSamples',
  ]);
  // Optional fields are absent, not null.
  assert.deepEqual(Object.keys(mediated.guestEvents[1]!).includes('samples'), false);
  assert.deepEqual(mediated.hostEvents[0], {
    name: 'nmi-watchdog',
    event: 'cycles:P',
    refused: 'EOPNOTSUPP',
  });
  assert.equal(mediated.refusals[0]!.errno, 'EBUSY');
  assert.deepEqual(Object.keys(mediated.exits), [
    'CPUID',
    'EXTERNAL_INTERRUPT',
    'HLT',
    'MSR_WRITE',
  ]);
  assert.equal(mediated.timeline.length, 50);
  assert.deepEqual(json.published?.overheadPercent, {
    emulated: 33.62,
    mediated: 6.21,
    'passthrough-all': 4.24,
  });
  assert.equal(json.costParameters.length, reportFixture().costParameters.length);
});

test('toJson rounds: overhead and error % to 4 decimals, counts to integers', () => {
  const report = reportFixture();
  report.results[1]!.overheadPercent = 6.054321987;
  report.results[1]!.guestEvents[0]!.errorPercent = -0.0130567;
  report.results[1]!.guestEvents[0]!.counted = 1_878_669_340.6;
  report.results[1]!.guestEvents[0]!.expectedSamples = 939.456789;
  const json = toJson(report);
  const mediated = json.results[1]!;
  assert.equal(mediated.overheadPercent, 6.0543);
  assert.equal(mediated.guestEvents[0]!.errorPercent, -0.0131);
  assert.equal(mediated.guestEvents[0]!.counted, 1_878_669_341);
  assert.equal(mediated.guestEvents[0]!.expectedSamples, 939.46);
  for (const r of json.results) {
    assert.ok(decimals(r.overheadPercent) <= 4);
    for (const e of r.guestEvents) {
      assert.ok(decimals(e.errorPercent) <= 4, `${e.errorPercent}`);
      assert.ok(
        Number.isInteger(e.counted) && Number.isInteger(e.truth) && Number.isInteger(e.raw),
      );
    }
    for (const h of r.hostEvents)
      if (h.counted !== undefined) assert.ok(Number.isInteger(h.counted));
  }
  // The input is left alone.
  assert.equal(report.results[1]!.overheadPercent, 6.054321987);
});

test('toJson survives JSON: equal after a round trip; a non-finite error becomes null', () => {
  const report = reportFixture();
  const json = toJson(report);
  assert.deepEqual(JSON.parse(JSON.stringify(json)), json);
  report.results[0]!.guestEvents[0]!.errorPercent = Infinity;
  const parsed = JSON.parse(JSON.stringify(toJson(report))) as {
    results: { guestEvents: { errorPercent: unknown }[] }[];
  };
  assert.equal(parsed.results[0]!.guestEvents[0]!.errorPercent, null);
});

test('toSweepJson: the parameter, one summary row per value, and every run', () => {
  const json = toSweepJson(sweepFixture(['0', '1']));
  assert.deepEqual(Object.keys(json), ['scenario', 'parameter', 'summary', 'runs']);
  assert.equal(json.parameter, 'host.pinnedEvents');
  assert.deepEqual(json.summary[0], {
    value: '0',
    overheadPercent: { emulated: 31.8731, mediated: 6.0543, 'passthrough-all': 4.3987 },
    meanAbsErrorPercent: { emulated: 15.15, mediated: 0.0162, 'passthrough-all': 0 },
  });
  assert.equal(json.runs.length, 2);
  assert.deepEqual(json.runs[1]!.sweep, { parameter: 'host.pinnedEvents', value: '1' });
  assert.deepEqual(toSweepJson([]), { scenario: '', parameter: 'sweep', summary: [], runs: [] });
});
