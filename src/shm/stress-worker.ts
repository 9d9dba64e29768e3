/**
 * One stress thread: loops through random accounting calls until told to
 * stop, keeping its own holdings balanced (at most one VM, two events), and
 * keeping the ghost holder counts around its calls: +1 after a successful
 * acquisition returns, -1 before the release is called. Right after each
 * acquisition it checks the other side's holder count: non-zero means both
 * were held at once, the invariant of docs/mediated-vpmu.md 3.1 broken.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { Operation } from '../common/protocol.ts';
import { accountingVariant } from './variants.ts';
import { runShared } from './shared-executor.ts';
import {
  bothHeld,
  EVENT_HOLDER,
  stressLayout,
  VM_HOLDER,
  type OperationCounts,
  zeroCounts,
  type WorkerInput,
  type WorkerOutput,
} from './stress-layout.ts';

const input = workerData as WorkerInput;
const protocol = accountingVariant(input.variant);
const { create, release, account, unaccount } = protocol.operations;
const layout = stressLayout(protocol);
const memory = new Int32Array(input.buffer);

let seed = input.seed | 0;
function random(n: number): number {
  // xorshift32
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) % n;
}

const counts: OperationCounts = zeroCounts();
let vms = 0;
let events = 0;

/**
 * Runs an acquiring operation; on success counts this thread as a holder of
 * `holder`'s side and checks that the other side holds nothing.
 */
function acquired(op: Operation, holder: number): boolean {
  if (runShared(op, memory, layout) !== 0) return false;
  if (bothHeld(Atomics.add(memory, layout.holders, holder) + holder))
    Atomics.add(memory, layout.workerViolations, 1);
  return true;
}
/** Ends a holding, then calls the release (the holding ends when the release is called). */
function released(op: Operation, holder: number): void {
  Atomics.sub(memory, layout.holders, holder);
  runShared(op, memory, layout);
}

function createVm(): void {
  if (acquired(create, VM_HOLDER)) {
    vms++;
    counts.create++;
  } else counts.createRefused++;
}
function releaseVm(): void {
  released(release, VM_HOLDER);
  vms--;
  counts.release++;
}
function accountEvent(): void {
  if (acquired(account, EVENT_HOLDER)) {
    events++;
    counts.account++;
  } else counts.accountRefused++;
}
function unaccountEvent(): void {
  released(unaccount, EVENT_HOLDER);
  events--;
  counts.unaccount++;
}

const useVms = input.mix !== 'events';
const useEvents = input.mix !== 'vms';

Atomics.add(memory, layout.ready, 1);
while (Atomics.load(memory, layout.go) === 0) Atomics.wait(memory, layout.go, 0, 50);
const started = performance.now();
while (Atomics.load(memory, layout.stop) === 0) {
  for (let i = 0; i < 64; i++) {
    const choice = random(useVms && useEvents ? 4 : 2) + (useVms ? 0 : 2);
    // Acquire or release, whichever keeps this thread's holdings within bounds.
    const acquireVm = choice === 0 ? vms < 1 : choice === 1 ? vms === 0 : false;
    const acquireEvent = choice === 2 ? events < 2 : choice === 3 ? events === 0 : false;
    if (choice < 2) {
      if (acquireVm) createVm();
      else releaseVm();
    } else if (acquireEvent) accountEvent();
    else unaccountEvent();
  }
}
const seconds = (performance.now() - started) / 1000;
while (vms > 0) releaseVm();
while (events > 0) unaccountEvent();
const output: WorkerOutput = { counts, seconds };
// Loaded only by new Worker() (stress.ts), where parentPort is set.
if (!parentPort) throw new Error('stress-worker.ts runs only as a worker thread (new Worker)');
parentPort.postMessage(output);
