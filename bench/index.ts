/**
 * `npm run bench`: each benchmark module in its own Node process, so one
 * module's JIT state (inline caches made polymorphic by other CPU models,
 * a heap grown by a long run) cannot skew another's figures.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

for (const module of [
  './startup.ts',
  './check.ts',
  './sim.ts',
  './sim-long.ts',
  './exits.ts',
  './html.ts',
  './speed.ts',
]) {
  const file = fileURLToPath(new URL(module, import.meta.url));
  const result = spawnSync(process.execPath, ['--import', 'tsx', file], { stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status ?? 1);
}
