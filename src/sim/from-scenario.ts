/**
 * A validated scenario (src/sim/scenario.ts) as the simulator's input.
 */
import { checkScenario, type Scenario } from './scenario.ts';
import type { SimulationInput } from './simulator.ts';

export function scenarioToInput(scenario: Scenario): SimulationInput {
  const s = checkScenario(scenario, 'scenarioToInput');
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
