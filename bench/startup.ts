/**
 * CLI start-up: wall time of `vpmu --version`, `vpmu --help` and
 * `vpmu scenarios` (bin/vpmu.mjs running the compiled dist/, as an installed
 * package does), beside `node -e 0`, the floor any Node program pays. The
 * target (issue 10 §3) is under 0.3 s each on a 2-core machine; the figures
 * are the median and the fastest of RUNS starts, after two warm-up starts.
 */
import { spawnSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const BIN = fileURLToPath(new URL('../bin/vpmu.mjs', import.meta.url));
const RUNS = 15;

const COMMANDS: [string, string[]][] = [
  ['node -e 0', ['-e', '0']],
  ['vpmu --version', [BIN, '--version']],
  ['vpmu --help', [BIN, '--help']],
  ['vpmu scenarios', [BIN, 'scenarios']],
];

function start(args: string[]): number {
  const begun = performance.now();
  const r = spawnSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8' });
  const ms = performance.now() - begun;
  if (r.status !== 0) throw new Error(`node ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  // bin/vpmu.mjs says so when it falls back to the sources: that is not start-up from dist/.
  if (r.stderr.includes('through tsx')) throw new Error(`dist/ is stale: ${r.stderr.trim()}`);
  return ms;
}

function main(): void {
  // The compiled CLI is what is measured: bring dist/ up to date first.
  const build = spawnSync(process.execPath, ['scripts/build.mjs', '--if-stale'], {
    cwd: ROOT,
    stdio: 'inherit',
  });
  if (build.status !== 0) process.exit(build.status ?? 1);

  console.log(`\n== CLI start-up: wall ms over ${RUNS} starts each (target: under 300 ms) ==`);
  console.log('command              median   fastest   over node -e 0');
  let floor = 0;
  for (const [name, args] of COMMANDS) {
    start(args);
    start(args);
    const times = Array.from({ length: RUNS }, () => start(args)).sort((a, b) => a - b);
    const median = times[Math.floor(RUNS / 2)]!;
    if (name === 'node -e 0') floor = median;
    const over = name === 'node -e 0' ? '' : `+${(median - floor).toFixed(0)}`;
    console.log(
      `${name.padEnd(18)} ${median.toFixed(0).padStart(8)} ${times[0]!.toFixed(0).padStart(9)}   ${over.padStart(14)}`,
    );
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main();
