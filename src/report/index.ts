/**
 * The reports of a simulation run (src/sim/results.ts): text for a terminal,
 * JSON for machines, a self-contained HTML page with SVG charts. Only cli/
 * imports this. docs/reports.md describes each output.
 */
export { renderText, renderSweepText, type TextOptions } from './text.ts';
export { toJson, toSweepJson, type SweepJson } from './json.ts';
export { renderHtml, renderSweepHtml } from './html.ts';
