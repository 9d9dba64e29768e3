/**
 * The bounds of a simulated run, shared by the scenario schema, the CLI and
 * the simulator's API so that each refuses the same values with its own
 * kind of message. Kept apart from the simulator so that the CLI can check
 * its arguments without loading the model.
 */

/**
 * The shortest run: 1 ms, a few guest ticks. A shorter one measures nothing
 * but set-up (frequency mode's first periods), and a duration that rounds to
 * zero cycles would report every design at 100 % overhead.
 */
export const MIN_DURATION_S = 0.001;
/** The longest run: an hour of simulated time. */
export const MAX_DURATION_S = 3600;
/**
 * Seeds are 32-bit: the generator (sim/random.ts, mulberry32) mixes the seed
 * as a 32-bit integer, so two seeds 2^32 apart would give the same run.
 */
export const MAX_SEED = 2 ** 32 - 1;
