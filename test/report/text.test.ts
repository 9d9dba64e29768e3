import assert from 'node:assert/strict';
import { test } from 'node:test';
import { renderSweepText, renderText } from '../../src/report/text.ts';
import { designFixture, reportFixture, sweepFixture } from './fixtures.ts';

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[/;

/** The lines of the block for one design, up to the next design or the exits table. */
function section(text: string, design: string): string {
  const start = text.indexOf(`== ${design}:`);
  assert.ok(start >= 0, `no section for ${design}`);
  const rest = text.slice(start + 3);
  const end = rest.search(/\n== |\nVM-exits by reason/);
  return rest.slice(0, end < 0 ? undefined : end);
}

test('renderText with color false: no ANSI escape anywhere; with color true: coloured', () => {
  const report = reportFixture({ refusal: true });
  const plain = renderText(report, { color: false });
  assert.doesNotMatch(plain, ANSI);
  assert.match(renderText(report, { color: true }), ANSI);
  assert.ok(plain.endsWith('\n'));
  for (const line of plain.split('\n'))
    assert.equal(line, line.trimEnd(), `trailing blanks: ${line}`);
});

test('a perf stat block per guest: count with separators, truth, error, and (xx.xx%) when multiplexed', () => {
  const report = reportFixture();
  const text = renderText(report, { color: false });
  const emulated = section(text, 'emulated');
  assert.match(emulated, /Performance counter stats for guest 'vm0':/);
  const instructions = report.results[0]!.guestEvents.find((e) => e.event === 'instructions')!;
  const line = emulated.split('\n').find((l) => / instructions /.test(l))!;
  assert.match(line, /^ +2,044,347,132 +instructions +2,358,825,786 +-13\.33% +\(62\.50%\)$/);
  assert.equal(instructions.timeRunningNs / instructions.timeEnabledNs, 0.625);
  // The mediated guest ran all the time it was enabled: no (xx.xx%).
  const mediated = section(text, 'mediated');
  assert.doesNotMatch(mediated.split('Host events')[0]!, /\(\d+\.\d\d%\)/);
  assert.match(mediated, / instructions +3,252,775,224 +-0\.01%/);
});

test('perf record: samples taken against the expected number', () => {
  const text = renderText(reportFixture(), { color: false });
  const cycles = section(text, 'emulated')
    .split('\n')
    .find((l) => / cycles /.test(l))!;
  assert.match(cycles, /\(62\.50%\) +485 +681 +-28\.\d\d%$/);
  assert.match(section(text, 'emulated'), /samples +expected +error/);
});

test('host events: counted with their error, or <refused: errno>; guest refusals with their errno', () => {
  const text = renderText(reportFixture({ refusal: true }), { color: false });
  const mediated = section(text, 'mediated');
  assert.match(mediated, /nmi-watchdog +cycles:P +<refused: EOPNOTSUPP>/);
  assert.match(mediated, /host-profile +instructions:H +91,377,210 +91,377,210 +0\.00%/);
  assert.match(
    mediated,
    /Guests refused:\s+vm9 +EBUSY +KVM_CREATE_VCPU: perf_create_mediated_pmu\(\) failed/,
  );
  assert.match(
    section(text, 'emulated'),
    /host-profile +instructions:H +89,549,666 +91,377,210 +-2\.00% +\(80\.00%\)/,
  );
  assert.doesNotMatch(section(text, 'emulated'), /refused/i);
});

test('<not counted> for an event enabled but never running', () => {
  const report = reportFixture({ designs: ['emulated'] });
  const event = report.results[0]!.guestEvents[1]!;
  Object.assign(event, { timeRunningNs: 0, counted: 0, raw: 0, errorPercent: -100 });
  assert.match(
    renderText(report, { color: false }),
    /<not counted> +instructions +[\d,]+ +-100\.00%/,
  );
});

test('the overhead summary: simulated beside published, the difference, and the ordering as it came out', () => {
  const text = renderText(reportFixture(), { color: false });
  assert.match(text, /design +simulated +published +difference +exits +PMIs +mean \|error\|/);
  assert.match(text, /emulated +31\.87% +33\.62% +-1\.75 pp +750,273 +712 +15\.15%/);
  assert.match(text, /mediated +6\.05% +6\.21% +-0\.16 pp/);
  assert.match(text, /passthrough-all +4\.40% +4\.24% +\+0\.16 pp/);
  assert.match(text, /ordering: +emulated 31\.87% >> mediated 6\.05% > passthrough-all 4\.40%/);
  assert.match(
    text,
    /published: emulated 33\.62% >> mediated 6\.21% > passthrough-all 4\.24% +\(basic-sampling; RFC v1/,
  );
  assert.match(text, /the simulated ordering matches the published one/);
});

test('an ordering that differs from the published one says so', () => {
  const report = reportFixture();
  report.results[1]!.overheadPercent = 40; // mediated above emulated
  const text = renderText(report, { color: false });
  assert.match(text, /ordering: +mediated 40\.00% > emulated 31\.87% >> passthrough-all 4\.40%/);
  assert.match(text, /differs from the published one: mediated above emulated/);
});

test('without a published figure: no published column, no comparison', () => {
  const text = renderText(reportFixture({ published: false }), { color: false });
  assert.doesNotMatch(text, /published/);
  assert.match(text, /design +simulated +exits +PMIs/);
  assert.match(text, /ordering: +emulated/);
});

test('exits by reason per design, PMIs injected and MSR accesses', () => {
  const text = renderText(reportFixture(), { color: false });
  const exits = text.slice(text.indexOf('VM-exits by reason'));
  assert.match(exits, /reason +emulated +mediated +passthrough-all/);
  assert.match(exits, /MSR_WRITE +482,113 +12,006 +0/);
  assert.match(exits, /MSR_READ +261,077 +0 +0/);
  assert.match(exits, /total +750,273 +17,260 +5,252/);
  assert.match(exits, /PMIs injected +712 +998 +1,000/);
  assert.match(exits, /rdmsr +5,200 +98,000 +98,000/);
  assert.match(exits, /wrmsr +31,000 +214,000/);
  assert.match(exits, /rdpmc +2,048/);
});

test('no guest events and no designs render without failing', () => {
  const report = reportFixture({ noGuestEvents: true });
  assert.match(renderText(report, { color: false }), /no guest events/);
  report.results = [];
  const text = renderText(report, { color: false });
  assert.match(text, /no design was simulated/);
  assert.doesNotMatch(text, /VM-exits by reason/);
});

test('the header: scenario, description, cpu, cost model, duration, seed, sweep value', () => {
  const text = renderText(
    reportFixture({ sweep: { parameter: 'host.pinnedEvents', value: '2' } }),
    {
      color: false,
    },
  );
  const [title, description, facts] = text.split('\n');
  assert.equal(title, 'vpmu: basic-sampling');
  assert.match(description!, /perf record -F 1000/);
  assert.equal(
    facts,
    '  cpu intel-sapphire-rapids, cost model default, 1 s simulated, seed 42, host.pinnedEvents=2',
  );
});

test('renderSweepText: one row per swept value with each design overhead and mean |error|', () => {
  const text = renderSweepText(sweepFixture());
  assert.doesNotMatch(text, ANSI);
  const lines = text.trimEnd().split('\n');
  assert.match(lines[0]!, /sweep of host\.pinnedEvents \(4 runs, seed 42\)/);
  assert.match(text, /host\.pinnedEvents +overhead +mean \|error\| +overhead/);
  assert.match(text, /\n {2}0 +31\.87% +15\.15% +6\.05% +0\.02% +4\.40% +0\.00%\n/);
  assert.match(text, /\n {2}4 +55\.78% +15\.15% +10\.60%/);
  assert.equal(lines.filter((l) => /^ {2}\d /.test(l)).length, 4);
  assert.equal(renderSweepText([]), 'no sweep results\n');
});

test('a run without guest events shows - for mean |error| in a sweep', () => {
  const report = reportFixture({ sweep: { parameter: 'x', value: 'a' } });
  report.results = [designFixture('mediated', { noGuestEvents: true })];
  assert.match(renderSweepText([report]), /\n {2}a +6\.05% +-\n/);
});

test('a throttled guest event is named under its table, with why it under-counts', () => {
  const report = reportFixture();
  const plain = renderText(report, { color: false });
  assert.doesNotMatch(plain, /throttled:/);
  const event = report.results[0]!.guestEvents[0]!;
  event.throttled = 3;
  const noted = renderText(report, { color: false });
  assert.match(
    noted,
    new RegExp(`throttled: ${event.event} 3x \\(the guest kernel lowered its sample rate`),
  );
  assert.equal(noted.match(/throttled:/g)!.length, 1, 'only the design whose event was throttled');
});

test('an event the VM’s filter stops is named under its table, with what that means', () => {
  const report = reportFixture();
  const plain = renderText(report, { color: false });
  assert.doesNotMatch(plain, /filtered:/);
  const [first, second] = report.results[0]!.guestEvents;
  first!.filtered = true;
  second!.filtered = true;
  const noted = renderText(report, { color: false });
  assert.match(
    noted,
    new RegExp(
      `\\n {4}filtered: ${first!.event}, ${second!.event} \\(the VM's event filter stops the counter each is on`,
    ),
  );
  assert.equal(noted.match(/filtered:/g)!.length, 1, 'only the design whose events were filtered');
});
