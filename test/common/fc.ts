/**
 * fast-check as the tests use it: every run draws a fresh seed, so the
 * properties meet new cases run after run instead of the same ones forever.
 * A failure's report starts with its `{ seed: ..., path: ... }`; to replay it,
 *   VPMU_FC_SEED=<seed> node scripts/run-tests.mjs <test file>
 * (a fixed seed in a test is for a regression it must keep replaying, and
 * says so beside it).
 */
import fc from 'fast-check';

const replay = process.env.VPMU_FC_SEED;
const seed =
  replay !== undefined && replay !== '' ? Number(replay) : Math.floor(Math.random() * 0x7fffffff);
if (!Number.isSafeInteger(seed)) throw new RangeError(`VPMU_FC_SEED=${replay}: not an integer`);
fc.configureGlobal({ seed });

export default fc;
