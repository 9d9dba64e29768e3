/**
 * A worker thread of the run pool (run-pool.ts): it simulates what it is sent
 * and posts the result back. A `plan` message sets the uncertainty plan the
 * following `run` messages refer to; `simulate` runs a whole scenario (a
 * sweep point).
 */
import { parentPort } from 'node:worker_threads';
import { simulate } from './simulator.ts';
import { executeRun, type UncertaintyPlan } from './uncertainty.ts';
import type { PoolRequest, PoolResponse } from './run-pool.ts';

let plan: UncertaintyPlan | null = null;

// Loaded only by new Worker() (run-pool.ts), where parentPort is set.
const port = parentPort;
if (!port) throw new Error('run-worker.ts runs only as a worker thread (new Worker)');

port.on('message', (request: PoolRequest) => {
  let response: PoolResponse;
  try {
    if (request.kind === 'plan') {
      plan = request.plan;
      response = { id: request.id, ok: true, value: null };
    } else if (request.kind === 'run') {
      if (!plan) throw new Error('run before plan');
      response = { id: request.id, ok: true, value: executeRun(plan, request.run) };
    } else {
      response = { id: request.id, ok: true, value: simulate(request.input, request.options) };
    }
  } catch (error) {
    response = {
      id: request.id,
      ok: false,
      error: error instanceof Error ? (error.stack ?? error.message) : String(error),
    };
  }
  port.postMessage(response);
});
