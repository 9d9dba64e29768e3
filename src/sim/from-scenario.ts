/**
 * A validated scenario (src/sim/scenario.ts) as the simulator's input.
 */
import { checkScenario, type Scenario } from './scenario.ts';
import type { SimulationInput } from './simulator.ts';
import { CPU_MODELS, type Vendor } from '../hw/cpu-models.ts';
import { filterEventEncoding, type GuestEventFilter } from './guest-event-filter.ts';
import type { GuestSpec } from './scenario-schema.ts';

export function scenarioToInput(scenario: Scenario): SimulationInput {
  const s = checkScenario(scenario, 'scenarioToInput');
  const vendor = CPU_MODELS[s.machine.cpu].vendor;
  return {
    name: s.name,
    description: s.description,
    ...(s.published
      ? {
          published: {
            test: s.published.test,
            source: s.published.source,
            overheadPercent: { ...s.published.overheadPercent },
          },
        }
      : {}),
    machine: { ...s.machine },
    costModel: s.costModel,
    costs: { ...s.costs },
    duration: s.duration,
    seed: s.seed,
    designs: [...s.designs],
    guests: s.guests.map((g) => ({
      name: g.name,
      hostCpu: g.hostCpu,
      hz: g.hz,
      startAt: g.startAt,
      ...(g.pmu ? { pmu: { ...g.pmu } } : {}),
      workload: { ...g.workload },
      ...(g.perf ? { perf: { ...g.perf, events: [...g.perf.events] } } : {}),
      ...(g.eventFilter ? { eventFilter: guestEventFilter(g.eventFilter, vendor) } : {}),
    })),
    host: {
      perf: s.host.perf.map((h) => ({
        ...h,
        events: [...h.events],
        ...(h.cpus ? { cpus: [...h.cpus] } : {}),
      })),
      tasks: s.host.tasks.map((t) => ({ ...t, workload: { ...t.workload } })),
    },
  };
}

/** A guest's filter as written (event names) to the simulator's terms (this vendor's encodings). */
function guestEventFilter(
  filter: NonNullable<GuestSpec['eventFilter']>,
  vendor: Vendor,
): GuestEventFilter {
  return {
    action: filter.action,
    fixedCounterBitmap: filter.fixedCounterBitmap,
    ...(filter.masked
      ? { masked: filter.masked.map((m) => ({ ...m })) }
      : {
          events: filter.events.map((e) => {
            const encoding = filterEventEncoding(e, vendor);
            // checkScenario refused any name this vendor has no encoding of.
            if (encoding === null) throw new Error(`internal: no ${vendor} encoding of '${e}'`);
            return encoding;
          }),
        }),
  };
}
