/**
 * How large a trace may grow (`vpmu run --trace-max-events`), apart from the
 * recorder so that the CLI's help can state the default without loading the
 * model the recorder attaches to.
 */

/** About 15 MB of JSON per design: a size Perfetto's JSON import opens in seconds. */
export const DEFAULT_MAX_TRACE_EVENTS = 100_000;
