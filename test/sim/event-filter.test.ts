/**
 * A guest's event filter in scenarios (guests[].eventFilter): the schema, its
 * resolution to this CPU's encodings, and what the guest's perf then counts
 * under both designs.
 *
 * Expected counts come from upstream's rules (arch/x86/kvm/pmu.c):
 * - is_gp_event_allowed(): a general-purpose counter's event is matched by
 *   the list; ALLOW lets only matched events count, DENY only unmatched ones.
 * - is_fixed_event_allowed(): a fixed counter is judged by
 *   fixed_counter_bitmap alone: DENY stops the counters whose bit is set,
 *   ALLOW lets only those count. The event list is not consulted.
 * A counter the filter stops counts nothing, and the guest is not told
 * (reprogram_counter creates no perf event; the mediated vPMU clears ENABLE
 * in eventsel_hw / fixed_ctr_ctrl_hw); the report marks the event filtered.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CpuModelName } from '../../src/hw/cpu-models.ts';
import { scenarioToInput } from '../../src/sim/from-scenario.ts';
import type { GuestEventResult } from '../../src/sim/results.ts';
import { parseScenario, ScenarioError } from '../../src/sim/scenario.ts';
import { simulate, type SimulationInput } from '../../src/sim/simulator.ts';

/** A one-guest scenario counting `events` with perf stat under `filter` (YAML flow text). */
function yaml(cpu: CpuModelName, events: string[], filter: string): string {
  return [
    'name: filter-test',
    'description: a guest under an event filter',
    `machine: { cpu: ${cpu}, cpus: 1, nmiWatchdog: false }`,
    'duration: 0.02',
    'designs: [emulated, mediated]',
    'guests:',
    '  - name: vm0',
    '    workload: { kind: specint }',
    `    perf: { mode: stat, events: [${events.join(', ')}] }`,
    `    eventFilter: ${filter}`,
  ].join('\n');
}

function problems(text: string): string[] {
  try {
    parseScenario(text, 'f.yaml');
  } catch (error) {
    assert.ok(error instanceof ScenarioError, String(error));
    return error.problems.map((p) => `${p.path}: ${p.message}`);
  }
  assert.fail('the scenario was accepted');
}

/** Each design's guest events, by event name. */
function counts(text: string): Map<string, Map<string, GuestEventResult>> {
  const report = simulate(scenarioToInput(parseScenario(text, 'f.yaml')));
  return new Map(
    report.results.map((r) => [r.design, new Map(r.guestEvents.map((e) => [e.event, e]))]),
  );
}

/** Counted nothing while the workload retired plenty. */
function stopped(e: GuestEventResult | undefined, what: string): void {
  assert.ok(e, what);
  assert.ok(e.truth > 1000, `${what}: truth ${e.truth}`);
  assert.equal(e.counted, 0, what);
  assert.equal(e.filtered, true, `${what}: the report says the filter stopped it`);
}

/** Counted what the workload retired (within the guest's own few instructions). */
function counting(e: GuestEventResult | undefined, what: string): void {
  assert.ok(e, what);
  assert.ok(e.truth > 1000, `${what}: truth ${e.truth}`);
  assert.ok(Math.abs(e.errorPercent) < 0.1, `${what}: counted ${e.counted} of ${e.truth}`);
  assert.equal(e.filtered, undefined, `${what}: not marked filtered`);
}

describe('guests[].eventFilter: the schema', () => {
  it('names and raw rUUEE resolve to this CPU’s plain entries; defaults are an empty list and bitmap 0', () => {
    const intel = scenarioToInput(
      parseScenario(
        yaml('intel-sapphire-rapids', ['cycles'], '{ action: deny, events: [branches, r01c2] }'),
        'f.yaml',
      ),
    );
    // NAMED_EVENTS: branches is 0x00c4 on Intel, 0x00c2 on AMD.
    assert.deepEqual(intel.guests[0]!.eventFilter, {
      action: 'deny',
      fixedCounterBitmap: 0,
      events: [0x00c4, 0x01c2],
    });
    const amd = scenarioToInput(
      parseScenario(
        yaml('amd-zen4', ['cycles'], '{ action: allow, events: [branches] }'),
        'f.yaml',
      ),
    );
    assert.deepEqual(amd.guests[0]!.eventFilter?.events, [0x00c2]);
    const masked = scenarioToInput(
      parseScenario(
        yaml(
          'amd-zen4',
          ['cycles'],
          '{ action: deny, masked: [{ eventSelect: 0x1c2, mask: 0xf0, match: 0x10 }] }',
        ),
        'f.yaml',
      ),
    );
    assert.deepEqual(masked.guests[0]!.eventFilter?.masked, [
      { eventSelect: 0x1c2, mask: 0xf0, match: 0x10, exclude: false },
    ]);
  });

  it('refuses events and masked together, an unknown or suffixed event, an event the CPU lacks, a bad field', () => {
    const both = problems(
      yaml(
        'intel-sapphire-rapids',
        ['cycles'],
        '{ action: deny, events: [branches], masked: [{ eventSelect: 0xc4, mask: 0, match: 0 }] }',
      ),
    );
    assert.equal(both.length, 1);
    assert.match(
      both[0]!,
      /^guests\[0\]\.eventFilter\.masked: expected events or masked entries, not both/,
    );
    assert.match(
      problems(
        yaml('intel-sapphire-rapids', ['cycles'], '{ action: deny, events: [brancehs] }'),
      ).join('\n'),
      /eventFilter\.events\[0\]: expected an event: .*got 'brancehs'/,
    );
    assert.match(
      problems(
        yaml('intel-sapphire-rapids', ['cycles'], '{ action: deny, events: ["branches:u"] }'),
      ).join('\n'),
      /without :u or :k/,
    );
    // NAMED_EVENTS has no AMD encoding of cache-misses.
    assert.match(
      problems(
        yaml('amd-zen4', ['cycles'], '{ action: deny, events: [cycles, cache-misses] }'),
      ).join('\n'),
      /eventFilter\.events\[1\]: expected an event amd-zen4 has an encoding of/,
    );
    assert.match(
      problems(yaml('intel-sapphire-rapids', ['cycles'], '{ action: block, events: [] }')).join(
        '\n',
      ),
      /eventFilter\.action/,
    );
    assert.match(
      problems(
        yaml(
          'intel-sapphire-rapids',
          ['cycles'],
          '{ action: deny, masked: [{ eventSelect: 0x1000, mask: 0, match: 0 }] }',
        ),
      ).join('\n'),
      /eventFilter\.masked\[0\]\.eventSelect/,
    );
    assert.match(
      problems(
        yaml('intel-sapphire-rapids', ['cycles'], '{ action: deny, fixedCounterBitMap: 1 }'),
      ).join('\n'),
      /fixedCounterBitmap/,
    );
    // KVM_PMU_EVENT_FILTER_MAX_EVENTS is 300.
    const many = `{ action: deny, events: [${Array.from({ length: 301 }, () => 'r00c4').join(', ')}] }`;
    assert.match(problems(yaml('intel-sapphire-rapids', ['cycles'], many)).join('\n'), /300/);
  });
});

describe('guests[].eventFilter: what the guest counts, both designs', () => {
  it('deny [instructions, branches]: general-purpose counters stop; instructions on fixed counter 0 counts on', () => {
    const results = counts(
      yaml(
        'intel-sapphire-rapids',
        ['cycles', 'instructions', 'r00c0', 'branches', 'branch-misses'],
        '{ action: deny, events: [instructions, branches] }',
      ),
    );
    assert.deepEqual([...results.keys()], ['emulated', 'mediated']);
    for (const [design, events] of results) {
      counting(events.get('instructions'), `${design} instructions (fixed counter 0)`);
      counting(events.get('cycles'), `${design} cycles (fixed counter 1)`);
      counting(events.get('branch-misses'), `${design} branch-misses (not listed)`);
      stopped(events.get('r00c0'), `${design} r00c0 (instructions on a GP counter)`);
      stopped(events.get('branches'), `${design} branches`);
    }
  });

  it('deny with fixedCounterBitmap 1: fixed counter 0 stops too, fixed counter 1 does not', () => {
    for (const [design, events] of counts(
      yaml(
        'intel-sapphire-rapids',
        ['cycles', 'instructions'],
        '{ action: deny, events: [], fixedCounterBitmap: 1 }',
      ),
    )) {
      stopped(events.get('instructions'), `${design} instructions`);
      counting(events.get('cycles'), `${design} cycles`);
    }
  });

  it('allow [branches] without a bitmap: only branches counts; the fixed counters stop as well', () => {
    for (const [design, events] of counts(
      yaml(
        'intel-sapphire-rapids',
        ['cycles', 'instructions', 'branches', 'branch-misses'],
        '{ action: allow, events: [branches] }',
      ),
    )) {
      counting(events.get('branches'), `${design} branches`);
      stopped(events.get('branch-misses'), `${design} branch-misses`);
      stopped(events.get('instructions'), `${design} instructions`);
      stopped(events.get('cycles'), `${design} cycles`);
    }
  });

  it('AMD (no fixed counters): deny [instructions] stops instructions, on its general-purpose counter', () => {
    for (const [design, events] of counts(
      yaml(
        'amd-zen4',
        ['cycles', 'instructions', 'branches'],
        '{ action: deny, events: [instructions] }',
      ),
    )) {
      stopped(events.get('instructions'), `${design} instructions`);
      counting(events.get('cycles'), `${design} cycles`);
      counting(events.get('branches'), `${design} branches`);
    }
  });

  it('a masked entry: select 0xC4 with mask 0 matches every umask, so branches and r01c4 stop', () => {
    for (const [design, events] of counts(
      yaml(
        'intel-sapphire-rapids',
        ['branches', 'r01c4', 'branch-misses'],
        '{ action: deny, masked: [{ eventSelect: 0xc4, mask: 0, match: 0 }] }',
      ),
    )) {
      stopped(events.get('branches'), `${design} branches`);
      stopped(events.get('r01c4'), `${design} r01c4`);
      counting(events.get('branch-misses'), `${design} branch-misses`);
    }
  });
});

describe('simulate() given a filter KVM refuses', () => {
  it('is the caller’s input error, naming the guest, not a refusal in the report', () => {
    const input = scenarioToInput(
      parseScenario(yaml('intel-sapphire-rapids', ['cycles'], '{ action: deny }'), 'f.yaml'),
    );
    const bad: SimulationInput = {
      ...input,
      guests: [{ ...input.guests[0]!, eventFilter: { action: 'block' as 'deny' } }],
    };
    assert.throws(
      () => simulate(bad),
      /^RangeError: simulate: input\.guests\[0\]\.eventFilter: EINVAL: KVM_SET_PMU_EVENT_FILTER: bad action 'block'/,
    );
  });
});
