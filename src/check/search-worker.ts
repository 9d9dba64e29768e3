/**
 * A worker thread of the parallel search (parallel-search.ts): it builds the
 * same engine as the main thread, says it is ready, takes its share of a
 * level, and expands its shares level by level between barriers until the
 * search ends. Everything it finds it writes into the shared words; an error
 * after it said it was ready is posted on its port and flagged, so the other
 * participants stop instead of waiting at a barrier for it.
 */
import { receiveMessageOnPort, workerData } from 'node:worker_threads';
import {
  C_EXITED,
  C_FAILED,
  C_GENERATION,
  C_READY,
  C_START,
  GO,
  LevelSearch,
} from './level-search.ts';
import { engineFor, type WorkerBrief, type WorkerMessage } from './parallel-search.ts';
import { SharedFingerprintTable } from './shared-fingerprint-table.ts';

// Loaded only by new Worker() (parallel-search.ts), with a brief as workerData.
const brief = workerData as WorkerBrief | null;
if (brief === null) throw new Error('search-worker.ts runs only as a worker thread (new Worker)');

const { spec, port } = brief;
const control = new Int32Array(brief.control);
const engine = engineFor(spec);
/** The next message the main thread posted (it posts before it lets this thread go on). */
const nextMessage = (): WorkerMessage => {
  const received = receiveMessageOnPort(port);
  if (received === undefined) throw new Error('no message from the main thread');
  return received.message as WorkerMessage;
};

Atomics.add(control, C_READY, 1);
Atomics.notify(control, C_READY);
try {
  while (Atomics.load(control, C_START) === 0) Atomics.wait(control, C_START, 0);
  if (Atomics.load(control, C_START) === GO) {
    const share = nextMessage();
    if (share.kind !== 'share') throw new Error(`expected a share, got a ${share.kind}`);
    const search = new LevelSearch(
      engine,
      spec.reductions,
      {
        table: new SharedFingerprintTable(share.table),
        control,
        tally: new Float64Array(brief.tally),
        maxStates: brief.maxStates,
        reserved: new Int32Array(brief.reserved),
      },
      brief.index,
      {
        receive(current) {
          const grown = nextMessage();
          if (grown.kind !== 'table') throw new Error(`expected a table, got a ${grown.kind}`);
          return current.over(grown.table);
        },
      },
    );
    search.adopt(share.states, share.level, share.participants);
    while (search.step());
  }
} catch (error) {
  port.postMessage(error instanceof Error ? (error.stack ?? error.message) : String(error));
  Atomics.store(control, C_FAILED, 1);
  Atomics.notify(control, C_GENERATION);
} finally {
  port.close();
  Atomics.add(control, C_EXITED, 1);
  Atomics.notify(control, C_GENERATION);
}
