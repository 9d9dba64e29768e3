/**
 * `vpmu rn` and `vpmu help chek` (src/cli/command-typo.ts): a near miss of a
 * command's name is refused naming the command meant; a word the default
 * command can run (a file, a built-in scenario) or that is far from every
 * command is left to it.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { commandTypo } from '../../src/cli/command-typo.ts';

const COMMANDS = ['run', 'merge', 'scenarios', 'check', 'help'];
const typo = (args: string[], scenarios: string[] = []) =>
  commandTypo(args, COMMANDS, (word) => Promise.resolve(scenarios.includes(word)));

describe('a command name misspelt', () => {
  it('alone, or after --debug: the command meant', async () => {
    assert.match(
      (await typo(['rn']))!,
      /^vpmu: unknown command 'rn', did you mean 'run'\? \(to run a scenario of that name: vpmu run rn\)$/,
    );
    assert.match(
      (await typo(['--debug', 'chek', '--json']))!,
      /unknown command 'chek', did you mean 'check'\?/,
    );
    assert.match((await typo(['scenario']))!, /did you mean 'scenarios'\?/);
  });

  it('after help: the command meant, or the list of commands', async () => {
    assert.match(
      (await typo(['help', 'mrege']))!,
      /^vpmu help: unknown command 'mrege', did you mean 'merge'\? \(commands: run, merge, scenarios, check, help\)$/,
    );
    assert.equal(
      await typo(['help', 'zzzzzz']),
      "vpmu help: unknown command 'zzzzzz' (commands: run, merge, scenarios, check, help)",
    );
  });

  it('a command, a flag, a scenario, a file or a word far from every command: left to the parser', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vpmu-typo-'));
    try {
      const file = join(dir, 'rn');
      writeFileSync(file, '');
      for (const args of [
        [],
        ['run'],
        ['help'],
        ['help', 'run'],
        ['--json'],
        ['specint-sampling'],
        [file],
        ['bogus-scenario'],
      ])
        assert.equal(await typo(args), undefined, args.join(' '));
      // A built-in scenario whose name is near a command's runs.
      assert.equal(await typo(['chek'], ['chek']), undefined);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
