/**
 * `vpmu scenarios`: the built-in scenarios (scenarios/*.yaml), name and
 * description; a table on a terminal, `name  description` lines otherwise,
 * or JSON with --json. With arguments, it validates those scenario files
 * (or built-in names) instead: every problem on its own line, exit 2.
 */
import type { Command } from 'commander';
import pc from 'picocolors';
import type { ScenarioError } from '../sim/scenario.ts';
import { runCommand } from './errors.ts';

type Print = (line: string) => void;

interface Listing {
  name: string;
  description: string;
  file: string;
}

/** Validate each scenario; all problems of all files in one ScenarioError. */
async function checkScenarios(names: string[]): Promise<Listing[]> {
  // The schema (zod) is loaded only to validate: listing needs just the YAML.
  const { loadScenario, ScenarioError } = await import('../sim/scenario.ts');
  const found: Listing[] = [];
  const problems: ScenarioError['problems'] = [];
  for (const name of names) {
    try {
      const { scenario, file } = loadScenario(name);
      found.push({ name: scenario.name, description: scenario.description, file });
    } catch (error) {
      if (!(error instanceof ScenarioError)) throw error;
      problems.push(...error.problems);
    }
  }
  if (problems.length > 0) throw new ScenarioError(problems);
  return found;
}

export async function runScenarios(
  print: Print,
  options: { json?: boolean; tty?: boolean; columns?: number; check?: string[] },
): Promise<number> {
  const toCheck = options.check ?? [];
  const checking = toCheck.length > 0;
  // Imported here, not at start-up: `vpmu --help` needs neither the YAML parser nor the table.
  const scenarios = checking
    ? await checkScenarios(toCheck)
    : (await import('../sim/builtin-scenarios.ts')).describeBuiltinScenarios();
  if (options.json) {
    print(JSON.stringify(scenarios, null, 2));
    return 0;
  }
  if (checking) {
    for (const s of scenarios) print(`${s.file}: ok (${s.name})`);
    return 0;
  }
  const pad = Math.max(...scenarios.map((s) => s.name.length)) + 2;
  if (options.tty) {
    const width = Math.max(40, (options.columns ?? 100) - pad - 7);
    const { default: Table } = await import('cli-table3');
    const table = new Table({
      head: [pc.bold('scenario'), pc.bold('description')],
      colWidths: [pad, width],
      wordWrap: true,
      style: { head: [], border: [] },
    });
    for (const s of scenarios) table.push([s.name, s.description]);
    print(table.toString());
    print(`run one with: vpmu run <scenario>   (the files are in ${pc.dim('scenarios/')})`);
    return 0;
  }
  for (const s of scenarios) print(`${s.name.padEnd(pad)}${s.description}`);
  return 0;
}

export function registerScenarios(program: Command): void {
  program
    .command('scenarios')
    .description('list the built-in scenarios, or validate scenario files')
    .argument('[scenario...]', 'scenario files or built-in names to validate instead of listing')
    .option('--json', 'print them as JSON: name, description, file')
    .action(async (check: string[], flags: { json?: boolean }) => {
      await runCommand(program.opts().debug === true, () =>
        runScenarios((line) => process.stdout.write(`${line}\n`), {
          json: flags.json === true,
          tty: process.stdout.isTTY === true,
          columns: process.stdout.columns,
          check,
        }),
      );
    });
}
