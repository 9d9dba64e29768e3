/**
 * The built-in scenarios (scenarios/*.yaml) the tests expect, sorted by name:
 * one list for the tests that check the listing and those that run each one.
 * A new built-in is added here.
 */
export const BUILTIN_SCENARIOS = [
  'event-filter',
  'fio-exits',
  'host-contention',
  'mediated-refused',
  'specint-multiplex',
  'specint-sampling',
] as const;
