/**
 * Ctrl-C during long synchronous work. A JavaScript signal handler runs only
 * when the event loop is free, so while one long simulation runs on this
 * thread a handler would hold Ctrl-C back until the run ends (minutes, for a
 * long scenario). During such work SIGINT and SIGTERM get their default
 * action instead: the process ends at once (exit status 130 or 143 in the
 * shell), writing nothing, as it writes its output only at the end. The
 * handlers are put back when the work returns.
 */
const SIGNALS = ['SIGINT', 'SIGTERM'] as const;

export function withDefaultSignals<T>(work: () => T): T {
  const saved = SIGNALS.map((signal) => [signal, process.rawListeners(signal)] as const);
  for (const [signal, listeners] of saved)
    for (const listener of listeners) process.off(signal, listener as () => void);
  try {
    return work();
  } finally {
    for (const [signal, listeners] of saved)
      for (const listener of listeners) process.on(signal, listener as () => void);
  }
}
