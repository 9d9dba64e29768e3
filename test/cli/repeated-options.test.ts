/**
 * A single-value flag given twice is refused (src/cli/repeated-options.ts):
 * commander keeps the last value and would drop the first without a word.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Command } from 'commander';
import { repeatedOption } from '../../src/cli/repeated-options.ts';

const run = new Command('run')
  .option('--seed <n>')
  .option('--html <file>')
  .option('--set <path=value...>')
  .option('--json')
  .option('--no-progress');

const problem = (...args: string[]) => repeatedOption(args, run.options);

describe('repeatedOption', () => {
  it('a value flag twice, in either spelling, is named with both values', () => {
    const expected = "error: option '--seed <n>' given twice ('1', then '2'): it takes one value";
    assert.equal(problem('run', '--seed', '1', '--seed', '2'), expected);
    assert.equal(problem('--seed=1', 'x.yaml', '--seed', '2'), expected);
    assert.equal(
      problem('--seed', '-1', '--seed=-2'),
      "error: option '--seed <n>' given twice ('-1', then '-2'): it takes one value",
    );
  });

  it('list flags, switches, one of each, and words after -- may repeat', () => {
    assert.equal(problem('--set', 'a=1', '--set', 'b=2', 'c=3'), undefined);
    assert.equal(problem('--json', '--json', '--no-progress', '--no-progress'), undefined);
    assert.equal(problem('--seed', '1', '--html', 'r.html'), undefined);
    assert.equal(problem('--seed', '1', '--', '--seed', '2'), undefined);
  });

  it("a flag's value is its value, even when it looks like a flag", () => {
    // --html takes '--seed' as its file name (checkOutputPath refuses that).
    assert.equal(problem('--html', '--seed', '--seed', '3'), undefined);
    assert.match(
      problem('--html', '--seed', '--html', 'r.html') ?? '',
      /'--html <file>' given twice/,
    );
  });
});
