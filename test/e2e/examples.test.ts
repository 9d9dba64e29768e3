/**
 * The programs in examples/ run (through tsx, as the README says) and print
 * what upstream's rules say they must; the README's copy of guest-loop's
 * output is what it prints.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT, runChild } from './cli-child.ts';

async function example(name: string): Promise<string> {
  const r = await runChild(
    process.execPath,
    ['--import', 'tsx', join('examples', `${name}.ts`)],
    {},
    60_000,
  );
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  return r.stdout;
}

test('examples/guest-loop.ts prints what the README shows', async () => {
  const out = await example('guest-loop');
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const shown = /\$ node --import tsx examples\/guest-loop\.ts\n([\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(shown, 'the README shows its output');
  assert.equal(out, shown);
  // Under contention the emulated design's branches (a GP event) find no
  // counter and count nothing; the mediated design's guest owns the PMU.
  assert.match(out, /host pinned events[^\n]*\n {2}emulated +instructions=\d+ branches=0 /);
});

test('examples/event-filter.ts: the list stops GP counters, the bitmap the fixed one, and the guest cannot tell', async () => {
  const out = await example('event-filter');
  // arch/x86/kvm/pmu.c: is_gp_event_allowed() by the list, is_fixed_event_allowed()
  // by fixed_counter_bitmap alone; KVM keeps the guest's selector as written.
  const rows = [
    ...out.matchAll(
      /^ {2}(emulated|mediated) +gp instructions=(\d+) gp branches=(\d+) fixed instructions=(\d+) selector as written=(true|false)$/gm,
    ),
  ];
  assert.equal(rows.length, 4, out);
  rows.forEach(([, design, gpInstructions, gpBranches, fixed, asWritten], i) => {
    const bitmap = i < 2 ? 0 : 1;
    assert.equal(design, i % 2 === 0 ? 'emulated' : 'mediated');
    assert.equal(gpInstructions, '0', `${design}, bitmap ${bitmap}`);
    assert.equal(gpBranches, '0', `${design}, bitmap ${bitmap}`);
    if (bitmap === 0) assert.ok(Number(fixed) >= 1_000_000, `${design}: fixed ${fixed}`);
    else assert.equal(fixed, '0', `${design}, bitmap 1`);
    assert.equal(asWritten, 'true');
  });
});
