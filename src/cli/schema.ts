/**
 * `vpmu schema`: the scenario format as JSON Schema (draft 2020-12), for
 * editors: `vpmu schema > scenario.schema.json`, then point the YAML language
 * server at it (docs/scenarios.md).
 */
import type { Command } from 'commander';
import { runCommand } from './errors.ts';

export function registerSchema(program: Command): void {
  program
    .command('schema')
    .description('print the JSON Schema of scenario files')
    .action(async () => {
      await runCommand(program.opts().debug === true, async () => {
        const { scenarioJsonSchema } = await import('../sim/scenario.ts');
        process.stdout.write(`${JSON.stringify(scenarioJsonSchema(), null, 2)}\n`);
        return 0;
      });
    });
}
