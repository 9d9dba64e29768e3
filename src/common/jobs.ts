/**
 * How many threads a `--jobs` option means by default (vpmu run, vpmu check):
 * one per core this process may use. A module of its own, so that the public
 * API's declarations do not pull in worker_threads' types.
 */
import { availableParallelism } from 'node:os';

export function defaultJobs(): number {
  return availableParallelism();
}
