/**
 * How many worker threads a `--jobs` option (vpmu run, vpmu check) or the
 * API's `jobs` may mean. A module of its own, so that the public API's
 * declarations do not pull in worker_threads' types.
 */
import { availableParallelism } from 'node:os';

/**
 * The most threads any `jobs` may ask for. Each costs memory: a simulation
 * worker about 20 MB (64 workers of `vpmu run fio-exits --samples 64
 * --duration 0.01` peaked at 1.3 GB), a search worker some 40 MB (its engine,
 * an 8 MB cache of recent fingerprints, its share of every level). Past the
 * cores they only take turns, and a thousand of them would need 20-40 GB.
 */
export const MAX_JOBS = 64;

/** One thread per core this process may use, up to MAX_JOBS. */
export function defaultJobs(): number {
  return Math.min(availableParallelism(), MAX_JOBS);
}
