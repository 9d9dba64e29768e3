/**
 * Hostile YAML (src/sim/yaml-file.ts): an alias bomb and nesting thousands
 * of levels deep are one problem each, at once, in words about the file.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ScenarioError } from '../../src/sim/scenario-errors.ts';
import { parseYamlFile } from '../../src/sim/yaml-file.ts';

const problem = (text: string) => {
  try {
    parseYamlFile(text, 'f.yaml', 'a mapping');
  } catch (error) {
    assert.ok(error instanceof ScenarioError, String(error));
    assert.equal(error.problems.length, 1, error.message);
    return error.message;
  }
  return assert.fail('refused');
};

describe('hostile YAML', () => {
  it('an alias bomb (9^12 leaves) is refused, not expanded', () => {
    let text = 'a0: &a0 [x, x, x, x, x, x, x, x, x]\n';
    for (let i = 1; i <= 12; i++)
      text += `a${i}: &a${i} [${Array.from({ length: 9 }, () => `*a${i - 1}`).join(', ')}]\n`;
    assert.match(
      problem(text),
      /^f\.yaml:1:1: \(yaml\): expected valid YAML: excessive alias count/,
    );
  });

  it('nesting deeper than the parser recurses is one line saying so', () => {
    for (const text of [
      `a: ${'['.repeat(20_000)}${']'.repeat(20_000)}\n`,
      `a: ${'{b: '.repeat(20_000)}1${'}'.repeat(20_000)}\n`,
    ])
      assert.match(
        problem(text),
        /^f\.yaml:\d+:\d+: \(yaml\): expected valid YAML: nesting too deep for the parser \(a scenario is a few levels deep\)$/,
      );
  });
});
