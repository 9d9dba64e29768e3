/**
 * vpmu/scenarios: the second entry point of the package, for programs that
 * start from the files the CLI reads. It loads scenario files and calibration
 * (cost) files with the CLI's validation (every problem a ScenarioError line
 * placed at file:line:column) and turns a scenario into the SimulationInput
 * that `simulate` and `runUncertainty` from the package root take.
 *
 * It is apart from the root (src/index.ts) because it brings the YAML parser
 * and the schema library with it; a program that only builds hosts and VMs
 * through the root loads neither. docs/api.md lists its exports.
 */
export {
  listBuiltinScenarios,
  loadScenario,
  parseScenario,
  scenarioJsonSchema,
  ScenarioError,
  formatProblem,
  type Scenario,
  type ScenarioProblem,
} from './sim/scenario.ts';
export { scenarioToInput } from './sim/from-scenario.ts';
export { loadCostFile, parseCostFile, withCostFile, type CostFile } from './sim/cost-file.ts';
