/**
 * Starting a worker thread on one of the project's modules, compiled or not.
 * Compiled (dist/, what users run), the worker runs `<name>.js` beside the
 * calling module. From the TypeScript sources under tsx (unit tests, bench),
 * a worker cannot start from a .ts file, since the loader is registered per
 * thread: tsx-worker.mjs registers tsx in the new thread, then imports
 * `<name>.ts`.
 */
import { Worker, type WorkerOptions } from 'node:worker_threads';

/** A worker on module `name` (no extension) beside the module whose import.meta.url is `from`. */
export function startWorker(from: string, name: string, options: WorkerOptions = {}): Worker {
  const fromSources = from.endsWith('.ts');
  const entry = new URL(`./${name}.${fromSources ? 'ts' : 'js'}`, from);
  if (!fromSources) return new Worker(entry, options);
  return new Worker(new URL('./tsx-worker.mjs', import.meta.url), {
    ...options,
    argv: [entry.href, ...((options.argv ?? []) as unknown[])],
  });
}
