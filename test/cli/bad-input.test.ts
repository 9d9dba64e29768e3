/**
 * Bad input to the CLI is refused before any simulation, one line naming
 * the flag or file (issue: reliability part 2, items 6 and 10). Exit codes
 * are checked end to end in test/e2e; here, the UsageError / ScenarioError
 * each refusal raises and what it names.
 */
import assert from 'node:assert/strict';
import { linkSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from '../common/fc.ts';
import { parseInteger, UsageError } from '../../src/cli/errors.ts';
import { checkOutputPath, writeOutputFile } from '../../src/cli/output-files.ts';
import { run } from '../../src/cli/run.ts';
import { abbreviateLines, printable } from '../../src/common/printable.ts';
import { ScenarioError } from '../../src/sim/scenario-errors.ts';
import { loadScenario } from '../../src/sim/scenario.ts';

const usage = (flag: string, pattern?: RegExp) => (e: unknown) =>
  e instanceof UsageError &&
  e.message.startsWith(`${flag}: `) &&
  (!pattern || pattern.test(e.message));

let dir = '';
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'vpmu-bad-input-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('output files are checked before the run', () => {
  it('empty name, missing directory, a directory, a non-directory parent', () => {
    assert.throws(() => checkOutputPath('--html', ''), usage('--html', /expected a file name/));
    assert.throws(
      () => checkOutputPath('--html', join(dir, 'missing', 'r.html')),
      usage('--html', /does not exist/),
    );
    assert.throws(() => checkOutputPath('--trace', dir), usage('--trace', /is a directory/));
    const file = join(dir, 'plain');
    writeFileSync(file, '');
    assert.throws(
      () => checkOutputPath('--html', join(file, 'r.html')),
      usage('--html', /is not a directory/),
    );
  });

  it('the input scenario is never overwritten, by any spelling of its path', () => {
    const scenario = join(dir, 's.yaml');
    writeFileSync(scenario, 'x');
    for (const spelling of [
      scenario,
      join(dir, '.', 's.yaml'),
      join(dir, '..', dir.split('/').pop()!, 's.yaml'),
    ]) {
      assert.throws(
        () => checkOutputPath('--html', spelling, [{ path: scenario, is: 'the input scenario' }]),
        usage('--html', /input scenario/),
      );
    }
    checkOutputPath('--html', join(dir, 'other.html'), [
      { path: scenario, is: 'the input scenario' },
    ]);
  });

  it('nor through a symbolic or a hard link to it', () => {
    const scenario = join(dir, 'linked.yaml');
    writeFileSync(scenario, 'x');
    symlinkSync(scenario, join(dir, 'soft.html'));
    linkSync(scenario, join(dir, 'hard.html'));
    for (const name of ['soft.html', 'hard.html'])
      assert.throws(
        () =>
          checkOutputPath('--html', join(dir, name), [
            { path: scenario, is: 'the input scenario' },
          ]),
        usage('--html', /is the input scenario; refusing to overwrite it/),
        name,
      );
  });

  it('a flag where the file name goes (--html --json) is refused, not written as ./--json', () => {
    for (const flag of ['--json', '--seed', '-h'])
      assert.throws(
        () => checkOutputPath('--html', flag),
        (e: unknown) =>
          e instanceof UsageError &&
          e.message ===
            `--html: expected a file name, got '${flag}', a flag (for a file of that name, write ./${flag})`,
      );
  });

  it('vpmu run never writes its report over the --costs file, nor --trace over --html', async () => {
    const costs = join(dir, 'my-host.yaml');
    const text = 'parameters:\n  exit.roundtrip: 1480\n';
    writeFileSync(costs, text);
    let wrote = '';
    for (const flag of ['html', 'trace'] as const)
      await assert.rejects(
        run(undefined, { costs, [flag]: costs, duration: '0.01' }, (s) => (wrote += s)),
        usage(`--${flag}`, /is the --costs file; refusing to overwrite it/),
      );
    const both = join(dir, 'both.html');
    await assert.rejects(
      run(undefined, { html: both, trace: both, duration: '0.01' }, (s) => (wrote += s)),
      usage('--trace', /is the --html file too/),
    );
    assert.equal(wrote, '');
    assert.equal(readFileSync(costs, 'utf8'), text);
  });

  it('a full device is bad output, with no partial file left behind', () => {
    assert.throws(() => writeOutputFile('--html', '/dev/full', 'x'), usage('--html', /ENOSPC/));
  });

  it('vpmu run refuses before simulating: nothing is written, the scenario is intact', async () => {
    const scenario = join(dir, 'sampling.yaml');
    const text = readFileSync(
      new URL('../../scenarios/specint-sampling.yaml', import.meta.url),
      'utf8',
    );
    writeFileSync(scenario, text);
    let wrote = '';
    await assert.rejects(
      run(scenario, { html: scenario, duration: '0.01' }, (s) => (wrote += s)),
      usage('--html', /input scenario/),
    );
    await assert.rejects(
      run(undefined, { trace: join(dir, 'nope', 't.json'), duration: '0.01' }, (s) => (wrote += s)),
      usage('--trace', /does not exist/),
    );
    assert.equal(wrote, '');
    assert.equal(readFileSync(scenario, 'utf8'), text);
  });
});

describe('vpmu run arguments', () => {
  it('--duration below a millisecond, zero, empty or not a number is refused', async () => {
    for (const d of ['1e-300', '0', '0.0009', '', 'NaN', '1e9', '-1']) {
      await assert.rejects(
        run(undefined, { duration: d }, () => {}),
        usage('--duration'),
      );
    }
  });

  it('--seed beyond 32 bits is refused, not aliased', async () => {
    await assert.rejects(
      run(undefined, { seed: '4294967296' }, () => {}),
      usage('--seed'),
    );
  });

  it('--set costs.NAME beyond 10^9 cycles is refused before the run', async () => {
    await assert.rejects(
      run(undefined, { set: ['costs.exit.roundtrip=1e15'], duration: '0.01' }, () => {}),
      (e: unknown) =>
        e instanceof ScenarioError &&
        e.message ===
          '--set: costs["exit.roundtrip"]: expected at most 1000000000 (got 1000000000000000)',
    );
  });

  it('a directory or a device as the scenario says so', () => {
    assert.throws(
      () => loadScenario(dir),
      (e: unknown) => e instanceof ScenarioError && /a directory/.test(e.message),
    );
    assert.throws(
      () => loadScenario('/dev/null'),
      (e: unknown) => e instanceof ScenarioError && /not a regular file/.test(e.message),
    );
  });

  it('a scenario or cost file that is not UTF-8 is refused where the bad byte is, not read with U+FFFD', async () => {
    const latin1 = join(dir, 'latin1.yaml');
    writeFileSync(latin1, Buffer.from('name: t\ndescription: caf\xe9 au lait\n', 'latin1'));
    const message = `${latin1}:2:17: (text): expected UTF-8 text (got the byte 0xe9)`;
    assert.throws(
      () => loadScenario(latin1),
      (e: unknown) => e instanceof ScenarioError && e.message === message,
    );
    await assert.rejects(
      run(undefined, { costs: latin1, duration: '0.01' }, () => {}),
      (e: unknown) => e instanceof ScenarioError && e.message === message,
    );
  });

  it('a device as the cost file is refused, not read until memory runs out', async () => {
    await assert.rejects(
      run(undefined, { costs: '/dev/zero', duration: '0.01' }, () => {}),
      (e: unknown) =>
        e instanceof ScenarioError &&
        e.message === '/dev/zero: expected a cost file (got a device or pipe, not a regular file)',
    );
  });
});

describe('vpmu merge of a file that is not JSON', () => {
  it('a device or a file that is not UTF-8: one line naming it, nothing read forever', async () => {
    const { merge } = await import('../../src/cli/merge.ts');
    const latin1 = join(dir, 'latin1.json');
    writeFileSync(latin1, Buffer.from('{"format": "caf\xe9"}', 'latin1'));
    for (const [file, message] of [
      ['/dev/zero', '/dev/zero: expected a shard file (got a device or pipe, not a regular file)'],
      [latin1, `${latin1}:1:16: expected UTF-8 text (got the byte 0xe9)`],
    ] as const)
      await assert.rejects(
        merge([file], {}, () => {}),
        (e: unknown) => e instanceof UsageError && e.message === message,
      );
  });

  it("one line naming the file and what it should be, the file's bytes made printable", async () => {
    const { merge } = await import('../../src/cli/merge.ts');
    const file = join(dir, 'garbage.json');
    writeFileSync(file, Buffer.from([0x1b, 0x5b, 0x32, 0x4a, 0x00, 0x7b]));
    await assert.rejects(
      merge([file], {}, () => {}),
      (e: unknown) =>
        e instanceof UsageError &&
        e.message.startsWith(`${file}: expected a shard file of vpmu run --samples N`) &&
        e.message.includes('(got text that is not JSON: ') &&
        // eslint-disable-next-line no-control-regex
        !/[\x00-\x08\x0b-\x1f\x7f-\x9f]/.test(e.message),
    );
  });
});

describe('numbers are spelled the same everywhere', () => {
  it('property: parseInteger reads decimal and 0x-hex as YAML does, and refuses the rest', () => {
    fc.assert(
      fc.property(fc.nat({ max: 2 ** 40 }), (n) => {
        assert.equal(parseInteger('--n', String(n), 0), n);
        assert.equal(parseInteger('--n', `0x${n.toString(16)}`, 0), n);
        assert.equal(parseInteger('--n', `0X${n.toString(16).toUpperCase()}`, 0), n);
      }),
    );
    for (const bad of ['1e3', '0b101', '0o7', '1.5', ' ', '0x', '12abc', '--1'])
      assert.throws(() => parseInteger('--n', bad, 0), usage('--n'));
  });
});

describe('terminal text', () => {
  it('property: printable leaves no control character but newline and tab, and keeps the rest', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 60 }), (s) => {
        const out = printable(s);
        // eslint-disable-next-line no-control-regex
        assert.doesNotMatch(out, /[\x00-\x08\x0b-\x1f\x7f-\x9f]/);
        // Printable text passes unchanged.
        // eslint-disable-next-line no-control-regex
        if (!/[\x00-\x08\x0b-\x1f\x7f-\x9f]/.test(s)) assert.equal(out, s);
      }),
    );
    assert.equal(printable('a\x1b[31mb\tc\n'), 'a\\x1b[31mb\tc\n');
  });
});

describe('error lines', () => {
  it('property: abbreviateLines keeps short lines, and shortens long ones keeping both ends, more of the end', () => {
    fc.assert(
      fc.property(
        fc.array(fc.string({ maxLength: 1200 }), { maxLength: 4 }),
        fc.integer({ min: 60, max: 500 }),
        (lines, max) => {
          const out = abbreviateLines(lines.join('\n'), max).split('\n');
          assert.equal(out.length, Math.max(lines.length, 1));
          lines.forEach((line, i) => {
            const shown = out[i]!;
            assert.ok(shown.length <= max, `${shown.length} > ${max}`);
            if (line.length <= max) assert.equal(shown, line);
            else {
              // The beginning, a marker with how much is left out, and the
              // end, longer than the beginning (the message is at the end).
              const m = /^([\s\S]*) \[\.\.\. (\d+) characters \.\.\.\] ([\s\S]*)$/.exec(shown);
              assert.ok(m, shown);
              const [, head = '', omitted = '', tail = ''] = m;
              assert.equal(head.length + Number(omitted) + tail.length, line.length);
              assert.ok(line.startsWith(head) && line.endsWith(tail));
              assert.ok(head.length >= (max - 40) / 4, `beginning ${head.length}`);
              assert.ok(
                tail.length >= (max - 40) / 2 && tail.length > head.length,
                `end ${tail.length}`,
              );
            }
          });
        },
      ),
    );
  });

  it('a huge value in a flag is shown short in the message itself', () => {
    assert.throws(
      () => parseInteger('--seed', '9'.repeat(100_000), 0),
      (e: unknown) => e instanceof UsageError && e.message.length < 200,
    );
  });
});
