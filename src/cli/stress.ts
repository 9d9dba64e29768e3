/**
 * `vpmu stress`: the accounting protocol on real threads (src/shm/), with the
 * invariant checked as they run. Exit 0 with no violation, 1 with some, 2 on
 * bad input.
 */
import { showValue } from '../common/printable.ts';
import type { Command } from 'commander';
import type { StressResult } from '../shm/stress.ts';
import { STRESS_MIXES, type StressMix } from '../shm/stress-layout.ts';
import { STRESS_VARIANTS } from '../shm/variants.ts';
import { parseInteger, runCommand, UsageError } from './errors.ts';

/**
 * Each worker thread loads the model through its own module graph, about
 * 30 MB (64 threads took 1.9 GB): 16 keep a stress run under 0.5 GB, and a
 * race needs two threads on two cores, not dozens.
 */
const MAX_STRESS_THREADS = 16;

interface StressFlags {
  variant: string;
  threads: string;
  seconds: string;
  seed: string;
  mix: string;
  json?: boolean;
  untilViolation?: boolean;
}

export function registerStress(program: Command): void {
  program
    .command('stress')
    .description('run the accounting protocol on real threads over SharedArrayBuffer and Atomics')
    .option('--variant <name>', `one of ${STRESS_VARIANTS.join(', ')}`, 'upstream')
    .option('--threads <n>', `worker threads, 1 to ${MAX_STRESS_THREADS}`, '2')
    .option('--seconds <s>', 'how long to run', '2')
    .option('--seed <n>', 'seed of the workers\u2019 random choices', '1')
    .option(
      '--mix <m>',
      `operations: ${STRESS_MIXES.join(' | ')} (events: account/unaccount only)`,
      'mixed',
    )
    .option(
      '--until-violation',
      'stop as soon as both the workers and the sampler have seen the invariant broken (--seconds bounds the run)',
    )
    .option('--json', 'print one JSON object')
    .action(async (flags: StressFlags) => {
      const debug = program.opts<{ debug?: boolean }>().debug === true;
      await runCommand(debug, async () => {
        if (!STRESS_VARIANTS.includes(flags.variant)) {
          throw new UsageError(
            `--variant: expected one of ${STRESS_VARIANTS.join(', ')}, got ${showValue(flags.variant)}`,
          );
        }
        if (!(STRESS_MIXES as readonly string[]).includes(flags.mix)) {
          throw new UsageError(
            `--mix: expected one of ${STRESS_MIXES.join(', ')}, got ${showValue(flags.mix)}`,
          );
        }
        const seconds = Number(flags.seconds);
        if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 3600) {
          throw new UsageError(
            `--seconds: expected a number of seconds above 0 and at most 3600, got ${showValue(flags.seconds)}`,
          );
        }
        // The worker pool is loaded when a stress run starts, not at start-up.
        const { runStress } = await import('../shm/stress.ts');
        const result = await runStress({
          variant: flags.variant,
          threads: parseInteger('--threads', flags.threads, 1, MAX_STRESS_THREADS),
          seconds,
          seed: parseInteger('--seed', flags.seed, 0, 2 ** 31 - 1),
          mix: flags.mix as StressMix,
          untilViolation: flags.untilViolation === true,
        });
        process.stdout.write(flags.json ? `${JSON.stringify(result)}\n` : report(result));
        const v = result.violations;
        return v.invariant + v.invariantSampled + v.negative === 0 ? 0 : 1;
      });
    });
}

const fmt = (n: number) => n.toLocaleString('en-US');

function report(r: StressResult): string {
  const o = r.opsPerSecond;
  const c = r.counts;
  const v = r.violations;
  const broken = v.invariant + v.invariantSampled + v.negative;
  return [
    `stress      variant ${r.variant}, ${r.threads} threads, mix ${r.mix}, ${r.seconds.toFixed(2)} s`,
    `create      ${fmt(o.create).padStart(12)} /s   (${fmt(c.create)} ok, ${fmt(c.createRefused)} -EBUSY)`,
    `release     ${fmt(o.release).padStart(12)} /s`,
    `account     ${fmt(o.account).padStart(12)} /s   (${fmt(c.account)} ok, ${fmt(c.accountRefused)} -EOPNOTSUPP)`,
    `unaccount   ${fmt(o.unaccount).padStart(12)} /s`,
    `total       ${fmt(o.total).padStart(12)} /s`,
    `violations  ${broken === 0 ? 'none' : `${fmt(v.invariant)} acquisitions saw the other side held, ${fmt(v.invariantSampled)} samples saw both held, ${fmt(v.negative)} negative counters`}` +
      (v.warnings > 0 ? `; ${fmt(v.warnings)} WARNs` : ''),
    `end         nr_mediated_pmu_vms=${r.finalCounters[0]} nr_include_guest_events=${r.finalCounters[1]}`,
    '',
  ].join('\n');
}
