// Workers cannot start from a .ts file under tsx: register the loader in the
// worker, then load the real worker module.
import { register } from 'tsx/esm/api';

register();
await import('./stress-worker.ts');
