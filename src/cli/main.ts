/**
 * The `vpmu` command: one line per subcommand, each registered from its own
 * file. Exit codes: 0 ok, 1 a check failed, 2 bad input.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { abbreviateLines } from '../common/printable.ts';
import { registerCheck } from './check.ts';
import { registerDemo } from './demo.ts';
import { registerMerge } from './merge.ts';
import { registerRun } from './run.ts';
import { registerScenarios } from './scenarios.ts';
import { registerSchema } from './schema.ts';
import { registerStress } from './stress.ts';
import { repeatedOption } from './repeated-options.ts';
import { commandTypo } from './command-typo.ts';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

// `vpmu ... | head`: a closed pipe ends the output, quietly.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

const program = new Command('vpmu')
  .description(
    'see, measure and verify how Linux shares the x86 PMU between the host and KVM guests',
  )
  .version(pkg.version)
  .option('--debug', 'print stack traces on errors')
  .showHelpAfterError('(run vpmu --help for usage)')
  // A flag or argument the user got wrong is quoted in the message: keep it one readable line.
  .configureOutput({ outputError: (message, write) => write(abbreviateLines(message)) })
  .exitOverride();

// `--seed 1 --seed 2`: refused, rather than the first value dropped.
program.hook('preAction', (_, command) => {
  const problem = repeatedOption(process.argv.slice(2), [...program.options, ...command.options]);
  if (problem !== undefined) command.error(problem, { exitCode: 2 });
});

registerRun(program, { isDefault: true });
registerMerge(program);
registerDemo(program);
registerScenarios(program);
registerSchema(program);
registerCheck(program);
registerStress(program);

try {
  const typo = await commandTypo(
    process.argv.slice(2),
    [...program.commands.map((c) => c.name()), 'help'],
    // Loaded only for a near miss: the other commands start without the YAML parser.
    async (word) =>
      (await import('../sim/builtin-scenarios.ts')).builtinScenarioNames().includes(word),
  );
  if (typo !== undefined) program.error(typo, { exitCode: 2 });
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    // --help and --version exit 0; usage errors were already printed in one line.
    process.exit(error.exitCode === 0 ? 0 : 2);
  }
  throw error;
}
