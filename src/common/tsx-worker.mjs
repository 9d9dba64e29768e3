// A worker thread started from the TypeScript sources (worker-thread.ts):
// register tsx in this thread, then run the module whose URL is the worker's
// first argument (process.argv is [node, this file, ...the worker's argv]).
import { register } from 'tsx/esm/api';

register();
await import(process.argv[2]);
