/**
 * `npm run bench`: runs each benchmark module in turn. A module does its
 * work when imported; add one line per module.
 */
await import('./check.ts');
await import('./sim.ts');
