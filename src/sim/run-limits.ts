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

/**
 * The largest scenario or cost file read: 1 MiB, checked before the file is
 * read, so that a huge file is refused instead of parsed (400,000 host perf
 * sessions took 2.9 GB to parse and validate). The built-in scenarios are
 * 1-3 KB.
 */
export const MAX_INPUT_FILE_BYTES = 1024 * 1024;
/**
 * The largest cost of one operation, in cycles, in a scenario's `costs`, a
 * calibration file or a cost range: 10^9 cycles, a quarter of a second or
 * more on every modelled CPU, 2,000 times the highest default range (500,000
 * cycles). A larger value is a unit mistake, and the host timers step a tick
 * at a time over the time one operation takes (perf/timers.ts), so 10^15
 * cycles made a 10 ms run spin for minutes.
 */
export const MAX_COST_CYCLES = 1e9;
/**
 * The most samples of an uncertainty analysis (`--samples`, runUncertainty,
 * a shard file's options): the plan draws n points per parameter before any
 * run, so a shard file edited to 10^7 samples held the merge for minutes
 * before it could say anything.
 */
export const MAX_SAMPLES = 100_000;
/** Host perf sessions in a scenario. */
export const MAX_HOST_PERF_SESSIONS = 64;
/** Host tasks in a scenario. */
export const MAX_HOST_TASKS = 64;
/**
 * Host perf events counting on any one CPU (sessions times their events):
 * every tick rotates and reprograms them, so the cost of a simulated second
 * grows faster than their number. 16 sessions of 32 events on one CPU (512)
 * simulate at about 30 wall seconds per simulated second; 200 of 32 did not
 * finish.
 */
export const MAX_HOST_EVENTS_PER_CPU = 512;
