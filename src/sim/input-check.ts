/**
 * The shape of what `simulate` is given, checked before a machine is built:
 * a JavaScript caller (no types) who builds a SimulationInput by hand gets a
 * TypeError or RangeError naming the field, not one from deep inside the
 * model, and a misspelt design is refused instead of silently running as
 * the perf-emulated one (kvmOptionsFor treats any name without a mediated
 * series so). The values inside (CPU model, cpus, costs) are checked where
 * they are used: createHost, CostModel.
 */
import { mediatedDesignOf } from '../kvm/vpmu-design.ts';
import { showValue as shown } from '../common/printable.ts';

const isObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

/** A design simulate can run: the perf-emulated one or a mediated series' design. */
export const isSimulatedDesign = (name: unknown): boolean =>
  name === 'emulated' || (typeof name === 'string' && mediatedDesignOf(name) !== null);

export function checkSimulationInput(input: unknown, options: unknown): void {
  if (!isObject(input))
    throw new TypeError(
      `simulate: expected a SimulationInput object (e.g. scenarioToInput(loadScenario(name).scenario)), got ${shown(input)}`,
    );
  if (options !== undefined && !isObject(options))
    throw new TypeError(`simulate: expected an options object or nothing, got ${shown(options)}`);
  if (!isObject(input.machine))
    throw new TypeError(`simulate: input.machine: expected an object, got ${shown(input.machine)}`);
  if (input.costs !== undefined && !isObject(input.costs))
    throw new TypeError(`simulate: input.costs: expected an object, got ${shown(input.costs)}`);
  for (const list of ['designs', 'guests'] as const) {
    const value = input[list];
    if (!Array.isArray(value) || value.length === 0)
      throw new TypeError(
        `simulate: input.${list}: expected a non-empty list, got ${shown(value)}`,
      );
  }
  (input.designs as unknown[]).forEach((design, i) => {
    if (!isSimulatedDesign(design))
      throw new RangeError(
        `simulate: input.designs[${i}]: expected 'emulated' or a mediated design (mediated, passthrough-all, mediated-topdown, rfc-v1, ...), got ${shown(design)}`,
      );
  });
  (input.guests as unknown[]).forEach((guest, i) => {
    if (!isObject(guest))
      throw new TypeError(`simulate: input.guests[${i}]: expected an object, got ${shown(guest)}`);
  });
}
