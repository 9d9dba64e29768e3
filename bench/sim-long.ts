/**
 * The 10-simulated-second specint-sampling run (each design in turn), in a
 * process of its own. Target (issue 5): under 5 wall seconds, under 200 MB.
 */
import { fmt, measure } from './sim.ts';

const ten = measure('specint-sampling', 10);
console.log(
  `\nspecint-sampling, 10 simulated seconds per design: ${fmt(ten.wallSeconds, 2)} wall s, ` +
    `${fmt(ten.exitsPerWallSecond)} exits/wall s, peak RSS ${fmt(ten.peakRssMb, 1)} MB ` +
    `(targets: < 5 s, < 200 MB; the exits target is bench/exits.ts)`,
);
