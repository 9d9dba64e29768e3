/**
 * `vpmu schema`: the scenario format as JSON Schema (draft 2020-12), for
 * editors: `vpmu schema > scenario.schema.json`, then point the YAML language
 * server at it (docs/scenarios.md).
 */
import type { Command } from 'commander';
import { scenarioJsonSchema } from '../sim/scenario.ts';
import { runCommand } from './errors.ts';

export function registerSchema(program: Command): void {
  program
    .command('schema')
    .description('print the JSON Schema of scenario files')
    .action(async () => {
      await runCommand(program.opts().debug === true, () => {
        process.stdout.write(`${JSON.stringify(scenarioJsonSchema(), null, 2)}\n`);
        return 0;
      });
    });
}
