/**
 * The built-in scenarios: the YAML files in the package's scenarios/ folder.
 * Listing them (name and description) needs only the YAML parser, not the
 * schema: `vpmu scenarios` starts without loading zod. Loading and
 * validating one is scenario.ts's job.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';

/**
 * The package root (holds scenarios/), found from this module's place: two
 * levels up from src/sim/ in a checkout and from dist/sim/ once compiled.
 */
const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const BUILTIN_DIR = resolve(PACKAGE_ROOT, 'scenarios');

/** Built-in scenario names (the files in scenarios/), sorted. */
export function builtinScenarioNames(): string[] {
  if (!existsSync(BUILTIN_DIR)) return [];
  return readdirSync(BUILTIN_DIR)
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => f.slice(0, -'.yaml'.length))
    .sort();
}

/**
 * Name and description of each built-in, sorted by name, read without
 * validating the rest of the file (the tests validate every built-in).
 */
export function describeBuiltinScenarios(): { name: string; description: string; file: string }[] {
  return builtinScenarioNames().map((name) => {
    const file = resolve(BUILTIN_DIR, `${name}.yaml`);
    const data = parseYaml(readFileSync(file, 'utf8')) as Record<string, unknown> | null;
    return {
      name: typeof data?.name === 'string' ? data.name : name,
      description: typeof data?.description === 'string' ? data.description : '',
      file,
    };
  });
}
